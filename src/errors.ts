import type { ContentfulStatusCode } from "hono/utils/http-status";

/**
 * The closed list of error codes. Each code maps to exactly one HTTP status and error type; the list is
 * exported into the OpenAPI document and rendered at /docs/errors.
 */
export const ERROR_CODES = {
  validation_error: {
    status: 400,
    type: "invalid_request",
    description: "A field is missing or invalid; `details` lists each bad field.",
  },
  invalid_json: {
    status: 400,
    type: "invalid_request",
    description: "The body is not valid JSON, or was sent without `Content-Type: application/json`.",
  },
  invalid_cursor: {
    status: 400,
    type: "invalid_request",
    description: "The `cursor` query parameter was not produced by this list endpoint.",
  },
  idempotency_key_required: {
    status: 400,
    type: "invalid_request",
    description: "This operation needs an `Idempotency-Key` header (or `idempotency_key` body field).",
  },
  idempotency_key_invalid: {
    status: 400,
    type: "invalid_request",
    description:
      "The idempotency key must be 1–255 printable ASCII characters, and header and body field must agree.",
  },
  webhook_url_refused: {
    status: 400,
    type: "invalid_request",
    description:
      "The webhook URL is not allowed: it must be https, without userinfo, on a host that is and resolves to a public address.",
  },
  inbound_payload_invalid: {
    status: 400,
    type: "invalid_request",
    description: "The provider webhook body is not in that provider's format.",
  },
  api_key_missing: {
    status: 401,
    type: "authentication_error",
    description: "No API key was sent. Use `Authorization: Bearer sw_…` or `X-API-Key: sw_…`.",
  },
  api_key_invalid: {
    status: 401,
    type: "authentication_error",
    description: "The API key is malformed, unknown or revoked.",
  },
  api_key_expired: {
    status: 401,
    type: "authentication_error",
    description: "The API key (or a rotated secret's overlap window) has expired.",
  },
  inbound_signature_invalid: {
    status: 401,
    type: "authentication_error",
    description:
      "The provider webhook is unsigned or its signature does not match the channel's secret; nothing was stored.",
  },
  inbound_verify_token_mismatch: {
    status: 403,
    type: "permission_error",
    description: "The webhook verification handshake named another verify token than the channel's.",
  },
  test_mode_only: {
    status: 403,
    type: "permission_error",
    description:
      "This route only works with test (`sw_test_…`) keys: it simulates provider traffic or adds sandbox credit.",
  },
  insufficient_scope: {
    status: 403,
    type: "permission_error",
    description: "The API key lacks the scope this operation needs; the message names it.",
  },
  environment_not_permitted: {
    status: 403,
    type: "permission_error",
    description: "A key can only act within its own environment (live or test).",
  },
  insufficient_balance: {
    status: 402,
    type: "invalid_request",
    description: "The balance does not cover this message's cost; top up, or check GET /v1/balance.",
  },
  resource_not_found: {
    status: 404,
    type: "invalid_request",
    description: "No object with that id exists for this tenant and environment.",
  },
  api_key_revoked: {
    status: 409,
    type: "invalid_request",
    description: "The API key is revoked and cannot be rotated; create a new key instead.",
  },
  idempotency_key_in_use: {
    status: 409,
    type: "idempotency_error",
    description: "A request with this idempotency key is still being processed; retry after `Retry-After`.",
  },
  template_exists: {
    status: 409,
    type: "invalid_request",
    description: "A template with this name and language already exists in this environment.",
  },
  template_not_approved: {
    status: 409,
    type: "invalid_request",
    description: "The template is pending review or was rejected; only approved templates can be sent.",
  },
  contact_exists: {
    status: 409,
    type: "invalid_request",
    description: "Another contact already has this external_id or channel address; the message names it.",
  },
  webhook_endpoint_disabled: {
    status: 409,
    type: "invalid_request",
    description: "The webhook endpoint is disabled; enable it with PATCH (`enabled: true`) first.",
  },
  webhook_endpoint_limit_reached: {
    status: 409,
    type: "invalid_request",
    description:
      "This environment already has the maximum number of webhook endpoints (20); delete one first.",
  },
  message_not_cancelable: {
    status: 409,
    type: "invalid_request",
    description: "Only scheduled or not-yet-dispatched messages can be canceled.",
  },
  broadcast_state_conflict: {
    status: 409,
    type: "invalid_request",
    description:
      "The broadcast's status does not allow this action (e.g. resuming a completed broadcast, or starting a canceled one).",
  },
  template_not_found: {
    status: 404,
    type: "invalid_request",
    description: "No template with that name in that language exists in this environment.",
  },
  route_not_found: {
    status: 404,
    type: "invalid_request",
    description: "No route matches this path.",
  },
  method_not_allowed: {
    status: 405,
    type: "invalid_request",
    description: "The path exists but does not accept this method; see the `Allow` header.",
  },
  payload_too_large: {
    status: 413,
    type: "invalid_request",
    description:
      "The request body is larger than the route takes (1 MiB for JSON; 10 MB for a contact import file; a media upload's channel limit).",
  },
  idempotency_key_mismatch: {
    status: 422,
    type: "idempotency_error",
    description: "This idempotency key was already used with a different request; use a new key.",
  },
  template_variables_invalid: {
    status: 422,
    type: "invalid_request",
    description:
      "The variables do not match the template's placeholders; `details` lists missing and unexpected names.",
  },
  outside_customer_window: {
    status: 422,
    type: "invalid_request",
    description:
      "Free-form WhatsApp content needs the 24-hour customer-service window; send a template instead.",
  },
  recipient_not_mobile: {
    status: 422,
    type: "invalid_request",
    description:
      "The numbering plan says the recipient is a landline, which cannot receive SMS or WhatsApp; see POST /v1/lookups/phone-numbers.",
  },
  recipient_suppressed: {
    status: 422,
    type: "invalid_request",
    description:
      "The recipient opted out, bounced or complained on this channel (or was suppressed by hand); nothing was sent or charged. See GET /v1/suppressions.",
  },
  media_not_ready: {
    status: 409,
    type: "invalid_request",
    description: "The media is still being fetched, or failed; send it once GET /v1/media/{id} says `ready`.",
  },
  unsupported_media_type: {
    status: 415,
    type: "invalid_request",
    description:
      "The body's content type is not one this route takes, or an uploaded file's bytes are not a type it accepts; the message says which.",
  },
  channel_not_configured: {
    status: 422,
    type: "invalid_request",
    description: "No sender is connected for this channel in live mode; connect one with POST /v1/channels.",
  },
  provider_error: {
    status: 502,
    type: "api_error",
    description: "The provider refused or failed the request; the message quotes its code and reason.",
  },
  rate_limited: {
    status: 429,
    type: "rate_limit_error",
    description: "Too many requests for this API key; retry after `Retry-After` seconds.",
  },
  internal_error: {
    status: 500,
    type: "api_error",
    description:
      "Something went wrong on our side. Retry with the same idempotency key; quote the request id.",
  },
  service_unavailable: {
    status: 503,
    type: "api_error",
    description: "A dependency is temporarily unavailable. Retry with backoff.",
  },
  misconfigured: {
    status: 503,
    type: "api_error",
    description:
      "The server lacks a setting this operation needs, or the setting is invalid; the message names it (never its value). The request was not carried out; retry once the operator has fixed the setting.",
  },
} as const satisfies Record<string, { status: ContentfulStatusCode; type: string; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
/** All codes, ordered by HTTP status (stable within a status). */
export const ERROR_CODE_LIST = (Object.keys(ERROR_CODES) as ErrorCode[]).sort(
  (a, b) => ERROR_CODES[a].status - ERROR_CODES[b].status,
);

export interface ErrorDetail {
  path: string;
  message: string;
}

/** Thrown anywhere in request handling; app.onError renders it as the error envelope. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetail[];
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: ErrorDetail[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.details = options.details ?? [];
    this.headers = options.headers ?? {};
  }

  get status(): ContentfulStatusCode {
    return ERROR_CODES[this.code].status;
  }
}

export interface ErrorEnvelope {
  error: {
    type: string;
    code: ErrorCode;
    message: string;
    request_id: string;
    doc_url: string;
    details: ErrorDetail[];
  };
}

export function errorEnvelope(
  code: ErrorCode,
  message: string,
  requestId: string,
  origin: string,
  details: ErrorDetail[] = [],
): ErrorEnvelope {
  return {
    error: {
      type: ERROR_CODES[code].type,
      code,
      message,
      request_id: requestId,
      doc_url: `${origin}/docs/errors#${code}`,
      details,
    },
  };
}

/**
 * What a log line may say about an error: drizzle's wrapper names the query's bound values (message content,
 * ciphertexts, addresses), so only its cause, and never more than 500 characters.
 */
export function describeError(error: unknown): string {
  const cause = error instanceof Error && error.message.startsWith("Failed query:") ? error.cause : error;
  const text = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause ?? error);
  return text.slice(0, 500);
}
