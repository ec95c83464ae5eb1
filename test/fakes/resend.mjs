// @ts-check
/**
 * Fake Resend API: `POST /emails` with `Authorization: Bearer {api_key}` per registered key, payload checks,
 * Idempotency-Key semantics (same key + same payload replays the first answer; same key + another payload is
 * 409 `invalid_idempotent_request`), Resend-shaped errors `{ statusCode, name, message }`, and `{ id }` on
 * success.
 *
 * Register a key: POST /__control/accounts  { api_key, domains?: string[] } (domains: verified sender domains;
 * when given, a `from` on any other domain is refused as on an unverified domain).
 * Scope: the API key (for unauthenticated calls: the presented bearer token, or `anonymous`).
 */
import { BoundedMap, isObject, LIMITS, randomUuid } from "./core.mjs";

/**
 * @typedef {{ apiKey: string, domains: Set<string> | null }} ResendAccount
 * @typedef {import("./core.mjs").FakeResponse} FakeResponse
 */

/**
 * @param {number} statusCode
 * @param {string} name
 * @param {string} message
 * @returns {FakeResponse}
 */
export function resendError(statusCode, name, message) {
  return { status: statusCode, body: { statusCode, name, message } };
}

const EMAIL = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/;
const NAMED_EMAIL = /^[^<>]*<([^\s@<>]+@[^\s@<>]+\.[^\s@<>]+)>$/;

/** @param {string} value @returns {string | null} the bare address */
function address(value) {
  const trimmed = value.trim();
  if (EMAIL.test(trimmed)) return trimmed;
  return NAMED_EMAIL.exec(trimmed)?.[1] ?? null;
}

/** @returns {import("./core.mjs").FakeProvider} */
export function createResendFake() {
  /** @type {BoundedMap} api key → ResendAccount */
  const accounts = new BoundedMap(LIMITS.maxAccounts);
  /** @type {BoundedMap} `${apiKey}\n${idempotencyKey}` → { payload: string, response: FakeResponse } */
  const idempotency = new BoundedMap(LIMITS.maxAccounts);

  /** @param {import("./core.mjs").FakeRequest} req */
  const bearer = (req) => /^Bearer (.+)$/i.exec(String(req.headers.authorization ?? ""))?.[1];

  return {
    name: "resend",
    register(input) {
      if (typeof input.api_key !== "string" || input.api_key === "") return { error: "api_key is required" };
      const domains = Array.isArray(input.domains)
        ? new Set(input.domains.map((d) => String(d).toLowerCase()))
        : null;
      accounts.set(input.api_key, { apiKey: input.api_key, domains });
      return { scope: input.api_key };
    },
    forget(scope) {
      accounts.delete(scope);
    },
    scopeOf(req) {
      return bearer(req) ?? "anonymous";
    },
    recipientOf(req) {
      if (!isObject(req.body)) return undefined;
      const to = req.body.to;
      return typeof to === "string" ? to : Array.isArray(to) && typeof to[0] === "string" ? to[0] : undefined;
    },
    handle(req) {
      if (req.path !== "/emails")
        return resendError(404, "not_found", "The requested endpoint does not exist.");
      if (req.method !== "POST")
        return resendError(405, "method_not_allowed", "Method is not allowed for the requested path.");
      const key = bearer(req);
      if (!key) {
        return resendError(
          401,
          "missing_api_key",
          "Missing API key in the authorization header. Include the following header in the request: Authorization: Bearer YOUR_API_KEY",
        );
      }
      /** @type {ResendAccount | undefined} */
      const account = accounts.get(key);
      if (!account) return resendError(403, "invalid_api_key", "API key is invalid");

      const idemHeader = req.headers["idempotency-key"];
      const idemKey = Array.isArray(idemHeader) ? idemHeader[0] : idemHeader;
      if (idemKey !== undefined && (idemKey.length < 1 || idemKey.length > 256)) {
        return resendError(400, "invalid_idempotency_key", "The key must be between 1-256 chars.");
      }
      const slot = idemKey === undefined ? undefined : `${key}\n${idemKey}`;
      const previous = slot === undefined ? undefined : idempotency.get(slot);
      if (previous) {
        if (previous.payload !== req.rawBody) {
          return resendError(
            409,
            "invalid_idempotent_request",
            "Same idempotency key used with a different request payload.",
          );
        }
        return previous.response;
      }

      const body = req.body;
      if (!isObject(body) || !req.contentType.includes("application/json")) {
        return resendError(
          422,
          "validation_error",
          "Invalid JSON body. Send a JSON object with Content-Type: application/json.",
        );
      }
      if (body.from === undefined || body.from === "")
        return resendError(422, "missing_required_field", "Missing `from` field.");
      const fromAddress = typeof body.from === "string" ? address(body.from) : null;
      if (!fromAddress) {
        return resendError(
          422,
          "invalid_from_address",
          "Invalid `from` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.",
        );
      }
      const domain = fromAddress.split("@")[1]?.toLowerCase() ?? "";
      if (account.domains && !account.domains.has(domain)) {
        return resendError(
          403,
          "validation_error",
          `The ${domain} domain is not verified. Please, add and verify your domain on https://resend.com/domains`,
        );
      }
      if (body.to === undefined || body.to === "" || (Array.isArray(body.to) && body.to.length === 0)) {
        return resendError(422, "missing_required_field", "Missing `to` field.");
      }
      const recipients = typeof body.to === "string" ? [body.to] : Array.isArray(body.to) ? body.to : null;
      if (
        !recipients ||
        recipients.length > 50 ||
        recipients.some((r) => typeof r !== "string" || address(r) === null)
      ) {
        return resendError(
          422,
          "validation_error",
          "Invalid `to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.",
        );
      }
      if (typeof body.subject !== "string" || body.subject === "") {
        return resendError(422, "missing_required_field", "Missing `subject` field.");
      }
      for (const f of ["html", "text"]) {
        if (body[f] !== undefined && typeof body[f] !== "string") {
          return resendError(422, "validation_error", `Invalid \`${f}\` field. It must be a string.`);
        }
      }
      /** @type {FakeResponse} */
      const response = {
        status: 200,
        body: { id: randomUuid() },
        headers: { "ratelimit-limit": "2", "ratelimit-remaining": "1", "ratelimit-reset": "1" },
      };
      if (slot !== undefined) idempotency.set(slot, { payload: req.rawBody, response });
      return response;
    },
  };
}
