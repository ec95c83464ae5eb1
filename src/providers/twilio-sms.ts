/**
 * Twilio Programmable Messaging adapter (SMS/MMS).
 *
 * Send: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic auth `AccountSid:AuthToken`,
 * `application/x-www-form-urlencoded` fields `To`, `Body`, `MediaUrl`, `From` or `MessagingServiceSid`,
 * `StatusCallback`. Success is 201 with the Message resource (`sid` = `SM…`). Errors are
 * `{ code, message, more_info, status }`.
 *
 * Content: text → Body; template → its rendered body; media → MediaUrl with the caption as Body. Interactive
 * and email content cannot go over SMS: a permanent `unsupported_content` failure, without calling Twilio.
 */
import {
  describeBody,
  failure,
  isFailure,
  isRetryableStatus,
  joinUrl,
  type ProviderHttpConfig,
  type ProviderResponse,
  parseRetryAfter,
  providerFetch,
  redact,
  type SendFailure,
  unsupportedContent,
} from "./http";
import type { OutboundMessage, ProviderAdapter, SendResult, TwilioCredentials } from "./types";

export const TWILIO_DEFAULT_BASE_URL = "https://api.twilio.com";

export interface TwilioConfig extends ProviderHttpConfig {
  /** Where Twilio posts status callbacks for this message (our inbound receipts endpoint). */
  statusCallbackUrl?: string;
}

/** Twilio codes worth retrying: 20429 too many requests, 21611 the sender's queue is full. */
const RETRYABLE_TWILIO_CODES = new Set([20429, 21611]);

/**
 * Twilio codes that are the request's fault (documentation; any other 4xx is permanent too):
 * 20003 authentication, 21211 invalid To, 21408 no permission for the region, 21606 invalid From,
 * 21610 recipient unsubscribed (STOP), 21614 To is not a mobile number.
 */
const PERMANENT_TWILIO_CODES = new Set([
  20003, 20404, 21211, 21408, 21602, 21603, 21604, 21606, 21610, 21614, 21617,
]);

/** The form fields Twilio expects for this message (exported for tests). */
export function buildTwilioForm(
  message: OutboundMessage,
  creds: TwilioCredentials,
  config: Pick<TwilioConfig, "statusCallbackUrl">,
): URLSearchParams {
  const form = new URLSearchParams();
  form.set("To", message.to);
  if (creds.messagingServiceSid) form.set("MessagingServiceSid", creds.messagingServiceSid);
  else if (creds.from) form.set("From", creds.from);
  const content = message.content;
  switch (content.kind) {
    case "text":
      form.set("Body", content.text.body);
      break;
    case "template":
      form.set("Body", content.template.renderedBody);
      break;
    case "media":
      form.append("MediaUrl", content.media.url);
      if (content.media.caption !== undefined) form.set("Body", content.media.caption);
      break;
    default:
      throw new Error(`${content.kind} content cannot be sent over SMS`);
  }
  if (config.statusCallbackUrl) form.set("StatusCallback", config.statusCallbackUrl);
  return form;
}

interface TwilioErrorBody {
  code?: unknown;
  message?: unknown;
  more_info?: unknown;
  status?: unknown;
}

export function mapTwilioError(res: ProviderResponse, secrets: readonly string[]): SendFailure {
  const retryAfter = parseRetryAfter(res.headers.get("retry-after"));
  const body = res.json as TwilioErrorBody | undefined;
  const code = typeof body?.code === "number" ? body.code : Number(body?.code);
  if (!body || !Number.isFinite(code) || body.code === null) {
    return failure(
      `http_${res.status}`,
      redact(`Twilio answered HTTP ${res.status}: ${describeBody(res.text, secrets)}`, secrets),
      isRetryableStatus(res.status),
      retryAfter,
    );
  }
  const message = typeof body.message === "string" ? body.message : "Twilio error";
  const reason = typeof body.more_info === "string" ? `${message} (${body.more_info})` : message;
  let retryable: boolean;
  if (RETRYABLE_TWILIO_CODES.has(code)) retryable = true;
  else if (PERMANENT_TWILIO_CODES.has(code)) retryable = false;
  else retryable = isRetryableStatus(res.status);
  return failure(String(code), redact(reason, secrets), retryable, retryAfter);
}

/** Standard base64 of an ASCII/UTF-8 string (Basic auth credentials). */
function base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function createTwilioSmsAdapter(creds: TwilioCredentials, config: TwilioConfig): ProviderAdapter {
  const basic = base64(`${creds.accountSid}:${creds.authToken}`);
  const secrets = [creds.authToken, basic];
  return {
    async send(message: OutboundMessage): Promise<SendResult> {
      const unsupported = unsupportedContent("sms", message.content);
      if (unsupported) return unsupported;
      const res = await providerFetch(
        "Twilio",
        joinUrl(config.baseUrl, `2010-04-01/Accounts/${encodeURIComponent(creds.accountSid)}/Messages.json`),
        {
          method: "POST",
          headers: {
            authorization: `Basic ${basic}`,
            "content-type": "application/x-www-form-urlencoded",
            accept: "application/json",
          },
          body: buildTwilioForm(message, creds, config).toString(),
        },
        config,
        secrets,
      );
      if (isFailure(res)) return res;
      if (res.status < 200 || res.status >= 300) return mapTwilioError(res, secrets);
      const sid = (res.json as { sid?: unknown } | undefined)?.sid;
      if (typeof sid !== "string" || sid === "") {
        // Twilio took the request; retrying could send it twice, so this is not retryable.
        return failure(
          "invalid_response",
          `Twilio answered HTTP ${res.status} without a message sid: ${describeBody(res.text, secrets)}`,
          false,
        );
      }
      return { ok: true, providerMessageId: sid };
    },
  };
}
