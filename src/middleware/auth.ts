import { createMiddleware } from "hono/factory";
import { findKeyBySecretHash } from "../db/api-keys";
import { createDb } from "../db/client";
import { DEFAULT_RATE_LIMIT, hashKeySecret, parseKeyEnvironment, type Scope } from "../domain/api-keys";
import type { AppBindings, Principal } from "../env";
import { ApiError } from "../errors";

const INVALID_MESSAGE =
  "The API key is not valid. Check that you copied the whole key and that it was not revoked.";
const EXPIRED_MESSAGE =
  "The API key has expired. Create a new key, or use the secret issued by the last rotation.";

/** The presented key from `Authorization: Bearer …` or `X-API-Key: …`, or null when neither is sent. */
function presentedKey(authorization: string | undefined, apiKeyHeader: string | undefined): string | null {
  if (apiKeyHeader !== undefined) return apiKeyHeader.trim();
  if (authorization === undefined) return null;
  const match = /^Bearer\s+(.*)$/i.exec(authorization.trim());
  // Some other auth scheme: treat it as a malformed key, not as a missing one.
  return match ? (match[1] ?? "").trim() : authorization;
}

/**
 * Resolves the caller. The secret is hashed and looked up even when it is malformed, so the work done
 * (and the time taken) does not depend on how much of a real key was guessed right.
 */
export const authenticate = createMiddleware<AppBindings>(async (c, next) => {
  const secret = presentedKey(c.req.header("authorization"), c.req.header("x-api-key"));
  if (secret === null) {
    throw new ApiError(
      "api_key_missing",
      "No API key provided. Send `Authorization: Bearer sw_test_…` or `X-API-Key: sw_test_…`.",
    );
  }
  const found = await findKeyBySecretHash(createDb(c.env.DB), await hashKeySecret(secret));
  const wellFormed = parseKeyEnvironment(secret) !== null;
  if (!found || !wellFormed || found.key.revokedAt) throw new ApiError("api_key_invalid", INVALID_MESSAGE);

  const now = Date.now();
  const secretExpired = found.secretExpiresAt !== null && found.secretExpiresAt.getTime() <= now;
  const keyExpired = found.key.expiresAt !== null && found.key.expiresAt.getTime() <= now;
  if (secretExpired || keyExpired) throw new ApiError("api_key_expired", EXPIRED_MESSAGE);

  const principal: Principal = {
    tenantId: found.key.tenantId,
    keyId: found.key.id,
    keyPrefix: found.key.prefix,
    environment: found.key.environment,
    scopes: found.key.scopes,
    rateLimit: {
      requestsPerMinute: found.key.rateLimitPerMinute ?? DEFAULT_RATE_LIMIT.requestsPerMinute,
      burst: found.key.rateLimitBurst ?? DEFAULT_RATE_LIMIT.burst,
    },
    expiresAt: found.key.expiresAt,
  };
  c.set("principal", principal);
  await next();
});

/** Route-level guard: the caller's key must hold `scope`. Runs before body validation. */
export function requireScope(scope: Scope) {
  return createMiddleware<AppBindings>(async (c, next) => {
    const principal = c.get("principal");
    if (!principal) throw new ApiError("api_key_missing", "This route needs an API key.");
    if (!principal.scopes.includes(scope)) {
      throw new ApiError(
        "insufficient_scope",
        `This API key lacks the \`${scope}\` scope needed for this operation.`,
        {
          details: [{ path: "scope", message: scope }],
        },
      );
    }
    await next();
  });
}

/** The authenticated caller; only call from routes mounted behind `authenticate`. */
export function principalOf(c: { get(key: "principal"): Principal | undefined }): Principal {
  const principal = c.get("principal");
  if (!principal) throw new ApiError("api_key_missing", "This route needs an API key.");
  return principal;
}
