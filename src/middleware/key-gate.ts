import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { sha256Hex } from "../domain/encoding";
import { rateLimitHeaders } from "../domain/rate-limit";
import type { GateAnswer } from "../durable-objects/key-gate";
import { keyGateOf } from "../durable-objects/key-gate-client";
import type { AppBindings } from "../env";
import { ApiError, describeError } from "../errors";
import { principalOf } from "./auth";
import { isRawUpload } from "./json-body";

export type IdempotencyMode = "required" | "optional" | "none";

const PRINTABLE_ASCII = /^[\x20-\x7e]{1,255}$/;

/** The idempotency key from the header or the `idempotency_key` body field (they must agree). */
async function readIdempotencyKey(
  c: Context<AppBindings>,
  mode: IdempotencyMode,
): Promise<string | undefined> {
  if (mode === "none") return undefined;
  const header = c.req.header("idempotency-key");
  // A raw file upload has no body field to look at (and must not be read here: it is streamed later).
  const body = isRawUpload(c) ? {} : ((await c.req.json().catch(() => ({}))) as Record<string, unknown>);
  const field = body.idempotency_key;
  if (field !== undefined && typeof field !== "string") {
    throw new ApiError(
      "idempotency_key_invalid",
      "idempotency_key must be a string of 1–255 printable ASCII characters.",
    );
  }
  if (header !== undefined && field !== undefined && header !== field) {
    throw new ApiError(
      "idempotency_key_invalid",
      "The Idempotency-Key header and the idempotency_key body field differ; send one, or the same value in both.",
    );
  }
  const key = header ?? field;
  if (key === undefined) {
    if (mode === "required") {
      throw new ApiError(
        "idempotency_key_required",
        "This operation needs an Idempotency-Key header (e.g. a UUID you generate per logical operation) so retries are safe.",
      );
    }
    return undefined;
  }
  if (!PRINTABLE_ASCII.test(key)) {
    throw new ApiError(
      "idempotency_key_invalid",
      "Idempotency keys must be 1–255 printable ASCII characters.",
    );
  }
  return key;
}

/** Key order must not change the fingerprint. Depth is bounded by the JSON body middleware. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** The payload a key is bound to: the body without its own top-level `idempotency_key` (nested ones count). */
function fingerprintMaterial(body: unknown): unknown {
  if (!body || typeof body !== "object" || Array.isArray(body)) return body;
  const { idempotency_key: _ignored, ...payload } = body as Record<string, unknown>;
  return payload;
}

async function requestFingerprint(c: Context<AppBindings>): Promise<string> {
  if (isRawUpload(c)) {
    // The file is streamed, never buffered for hashing: its type, length and the query options stand in.
    const query = new URL(c.req.url).search;
    return sha256Hex(
      `${c.req.method} ${c.req.path}${query}\n${c.req.header("content-type")}\n${c.req.header("content-length") ?? "?"}`,
    );
  }
  const body = await c.req.json().catch(() => ({}));
  return sha256Hex(`${c.req.method} ${c.req.path}\n${canonicalJson(fingerprintMaterial(body))}`);
}

/** Response fields shown once (key and signing secrets): never stored for replay, replayed as null. */
export const SHOWN_ONCE_FIELDS = ["secret"] as const;

/** The response body as it may be stored and replayed: every shown-once field set to null. */
export function withoutSecrets(body: string): string {
  // Most stored bodies (every send) hold no such field: skip the parse.
  if (!SHOWN_ONCE_FIELDS.some((field) => body.includes(`"${field}"`))) return body;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return body;
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return body;
  const record = parsed as Record<string, unknown>;
  if (!SHOWN_ONCE_FIELDS.some((field) => field in record)) return body;
  for (const field of SHOWN_ONCE_FIELDS) if (field in record) record[field] = null;
  return JSON.stringify(record);
}

/**
 * The request's one KeyGate round trip: per-key rate limit and idempotency claim together, after auth and
 * scope, before validation and any outbound I/O. The finished response is stored (2xx only) after it is sent.
 */
export function keyGate(mode: IdempotencyMode) {
  return createMiddleware<AppBindings>(async (c, next) => {
    const principal = principalOf(c);
    const idempotencyKey = await readIdempotencyKey(c, mode);
    const idempotency = idempotencyKey
      ? { key: idempotencyKey, fingerprint: await requestFingerprint(c) }
      : undefined;
    if (idempotency) c.set("idempotency", idempotency);
    const gate = keyGateOf(c.env, principal.keyId);

    let answer: GateAnswer;
    try {
      answer = await gate.admit({ limits: principal.rateLimit, idempotency });
    } catch (error) {
      console.error("KeyGate unavailable", { requestId: c.get("requestId"), error: describeError(error) });
      throw new ApiError(
        "service_unavailable",
        "Rate limiting is temporarily unavailable; retry in a few seconds.",
        {
          headers: { "Retry-After": "2" },
        },
      );
    }
    const headers = rateLimitHeaders(answer.rateLimit, Date.now());

    switch (answer.outcome) {
      case "rate_limited":
        throw new ApiError(
          "rate_limited",
          `Rate limit of ${answer.rateLimit.limit} requests per minute reached for this key; retry in ${answer.retryAfterSeconds} s.`,
          { headers: { ...headers, "Retry-After": String(answer.retryAfterSeconds) } },
        );
      case "mismatch":
        throw new ApiError(
          "idempotency_key_mismatch",
          "This idempotency key was already used with a different request body or path. Use a new key for a new request.",
          { headers },
        );
      case "in_flight":
        throw new ApiError(
          "idempotency_key_in_use",
          "A request with this idempotency key is still in progress; retry shortly to get its result.",
          { headers: { ...headers, "Retry-After": "1" } },
        );
      case "replay":
        return c.body(answer.response.body, answer.response.status as 200, {
          ...headers,
          "Content-Type": "application/json",
          "Idempotent-Replayed": "true",
        });
      case "proceed":
        break;
    }

    await next();
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
    if (!idempotency) return;
    const { status } = c.res;
    // Only successes are remembered; anything else created nothing, so the same key may be retried.
    // The body is buffered here rather than cloned: a tee'd body only drains as fast as the caller reads.
    let settle: Promise<void>;
    if (status >= 200 && status < 300) {
      const body = await c.res.text();
      c.res = new Response(body, c.res);
      settle = gate.complete(idempotency.key, idempotency.fingerprint, {
        status,
        body: withoutSecrets(body),
      });
    } else {
      settle = gate.release(idempotency.key, idempotency.fingerprint);
    }
    c.executionCtx.waitUntil(
      settle.catch((error: unknown) =>
        console.error("KeyGate settle failed", {
          requestId: c.get("requestId"),
          error: describeError(error),
        }),
      ),
    );
  });
}
