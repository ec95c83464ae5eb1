/**
 * Resend email adapter.
 *
 * Send: `POST {base}/emails`, `Authorization: Bearer {api_key}`, `Idempotency-Key: {our message id}` (Resend
 * replays the first answer for 24 h, so a retried send never mails twice), JSON `{ from, to: [email], subject,
 * html?, text? }`. Success answers `{ id }` (a UUID). Errors are `{ statusCode, name, message }`.
 *
 * Content: email content maps one to one. A template on the email channel is sent as plain text — its rendered
 * body — with the template's name as the subject: email needs a subject and a WhatsApp-style template has none,
 * so the name (which the tenant chose and sees in its own dashboard) is the least surprising stand-in. Tenants
 * who want a real subject send `email` content instead. Text, media and interactive content are rejected as
 * `unsupported_content` without calling Resend.
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
import type { OutboundMessage, ProviderAdapter, ResendCredentials, SendResult } from "./types";

export const RESEND_DEFAULT_BASE_URL = "https://api.resend.com";

export type ResendConfig = ProviderHttpConfig;

/**
 * Resend error names worth retrying: throttling, a concurrent request with the same idempotency key still in
 * flight (retrying later replays its answer), and Resend-side failures. Quota exhaustion
 * (`daily_quota_exceeded`, `monthly_quota_exceeded`) is not retryable: it lasts until the quota resets.
 */
const RETRYABLE_RESEND_NAMES = new Set([
  "rate_limit_exceeded",
  "concurrent_idempotent_requests",
  "application_error",
  "internal_server_error",
]);

const PERMANENT_RESEND_NAMES = new Set([
  "validation_error",
  "missing_required_field",
  "invalid_from_address",
  "invalid_idempotency_key",
  "invalid_idempotent_request",
  "missing_api_key",
  "restricted_api_key",
  "invalid_api_key",
  "daily_quota_exceeded",
  "monthly_quota_exceeded",
  "security_error",
  "invalid_attachment",
  "not_found",
  "method_not_allowed",
]);

/** The JSON body Resend expects for this message (exported for tests). */
export function buildResendPayload(
  message: OutboundMessage,
  creds: ResendCredentials,
): Record<string, unknown> {
  const content = message.content;
  const base = { from: creds.from, to: [message.to] };
  switch (content.kind) {
    case "email": {
      const out: Record<string, unknown> = { ...base, subject: content.email.subject };
      if (content.email.html !== undefined) out.html = content.email.html;
      if (content.email.text !== undefined) out.text = content.email.text;
      return out;
    }
    case "template":
      return { ...base, subject: content.template.name, text: content.template.renderedBody };
    default:
      throw new Error(`${content.kind} content cannot be sent by email`);
  }
}

interface ResendErrorBody {
  statusCode?: unknown;
  name?: unknown;
  message?: unknown;
}

export function mapResendError(res: ProviderResponse, secrets: readonly string[]): SendFailure {
  const retryAfter = parseRetryAfter(res.headers.get("retry-after"));
  const body = res.json as ResendErrorBody | undefined;
  if (typeof body?.name !== "string" || body.name === "") {
    return failure(
      `http_${res.status}`,
      redact(`Resend answered HTTP ${res.status}: ${describeBody(res.text, secrets)}`, secrets),
      isRetryableStatus(res.status),
      retryAfter,
    );
  }
  const name = body.name;
  const message = typeof body.message === "string" ? body.message : "Resend error";
  let retryable: boolean;
  if (RETRYABLE_RESEND_NAMES.has(name)) retryable = true;
  else if (PERMANENT_RESEND_NAMES.has(name)) retryable = false;
  else retryable = isRetryableStatus(res.status);
  return failure(name, redact(message, secrets), retryable, retryAfter);
}

export function createResendEmailAdapter(creds: ResendCredentials, config: ResendConfig): ProviderAdapter {
  const secrets = [creds.apiKey];
  return {
    async send(message: OutboundMessage): Promise<SendResult> {
      const unsupported = unsupportedContent("email", message.content);
      if (unsupported) return unsupported;
      const res = await providerFetch(
        "Resend",
        joinUrl(config.baseUrl, "emails"),
        {
          method: "POST",
          headers: {
            authorization: `Bearer ${creds.apiKey}`,
            "content-type": "application/json",
            "idempotency-key": message.id,
          },
          body: JSON.stringify(buildResendPayload(message, creds)),
        },
        config,
        secrets,
      );
      if (isFailure(res)) return res;
      if (res.status < 200 || res.status >= 300) return mapResendError(res, secrets);
      const id = (res.json as { id?: unknown } | undefined)?.id;
      if (typeof id !== "string" || id === "") {
        // Safe to retry: the Idempotency-Key makes Resend replay instead of sending again.
        return failure(
          "invalid_response",
          `Resend answered HTTP ${res.status} without an email id: ${describeBody(res.text, secrets)}`,
          true,
        );
      }
      return { ok: true, providerMessageId: id };
    },
  };
}
