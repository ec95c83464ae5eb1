/**
 * The one interface every provider adapter implements. An adapter turns an outbound message into the
 * provider's own wire format, calls it, and maps the answer to a SendResult; it never touches D1 or queues.
 */

export type Channel = "whatsapp" | "sms" | "email";

export type MediaType = "image" | "video" | "audio" | "document";

export type MessageContent =
  | {
      kind: "template";
      template: {
        name: string;
        /** e.g. `pt_BR` */
        language: string;
        /** Variables exactly as the template's placeholders name them (`"1"`, `"2"` or `"first_name"`). */
        variables: Record<string, string>;
        /** `numbered` → positional parameters in order 1..n; `named` → Meta `parameter_name` parameters. */
        placeholderStyle: "numbered" | "named" | "none";
        /** The body with variables substituted: what SMS and email send as text. */
        renderedBody: string;
      };
    }
  | { kind: "text"; text: { body: string; previewUrl?: boolean } }
  | { kind: "media"; media: { type: MediaType; url: string; caption?: string; filename?: string } }
  | {
      kind: "interactive";
      interactive:
        | {
            type: "button";
            body: string;
            header?: string;
            footer?: string;
            buttons: Array<{ id: string; title: string }>;
          }
        | {
            type: "list";
            body: string;
            header?: string;
            footer?: string;
            button: string;
            sections: Array<{
              title: string;
              rows: Array<{ id: string; title: string; description?: string }>;
            }>;
          };
    }
  | { kind: "email"; email: { subject: string; html?: string; text?: string } };

export interface OutboundMessage {
  /** Our message id (`msg_…`): passed to the provider as its idempotency key where it supports one. */
  id: string;
  channel: Channel;
  /** E.164 phone number (`+5511987654321`) or an email address. */
  to: string;
  content: MessageContent;
  /** 1 for the first try; adapters that simulate flaky behaviour (sandbox) use it. */
  attempt: number;
}

export type SendResult =
  | { ok: true; providerMessageId: string }
  | {
      ok: false;
      /** Timeouts, 429 and 5xx are retryable; anything the provider says is wrong with the request is not. */
      retryable: boolean;
      /** The provider's own error code as a string (`131026`, `21211`, `validation_error`, `timeout`). */
      code: string;
      /** A human-readable reason, from the provider where it gives one. Never contains credentials. */
      reason: string;
      /** From a provider's Retry-After, when it sends one. */
      retryAfterSeconds?: number;
    };

export interface ProviderAdapter {
  send(message: OutboundMessage): Promise<SendResult>;
}

export interface WhatsAppCredentials {
  phoneNumberId: string;
  wabaId: string;
  accessToken: string;
  appSecret: string;
}

export interface TwilioCredentials {
  accountSid: string;
  authToken: string;
  /** Exactly one of from / messagingServiceSid. */
  from?: string;
  messagingServiceSid?: string;
}

export interface ResendCredentials {
  apiKey: string;
  /** e.g. `Acme <notifications@acme.com>` */
  from: string;
}

/** How long an adapter waits for a provider before calling it a (retryable) timeout. */
export const PROVIDER_TIMEOUT_MS = 15_000;
