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

/**
 * Keys recently found by their secret hash, per isolate, so a busy key costs one D1 read per second rather
 * than one per request. An entry is trusted for at most KEY_CACHE_MS: a revocation, rotation or expiry made
 * elsewhere takes effect within that time, and at once in the isolate that made it ({@link forgetKey}).
 * Expiry is checked against the cached times on every request. Unknown secrets are never cached.
 */
export const KEY_CACHE_MS = 1_000;
const MAX_CACHED_KEYS = 512;
type FoundKey = NonNullable<Awaited<ReturnType<typeof findKeyBySecretHash>>>;
const keyCache = new Map<string, { found: FoundKey; cachedAt: number }>();

async function lookupKey(db: D1Database, secretHash: string, now: number): Promise<FoundKey | null> {
  const cached = keyCache.get(secretHash);
  // A clock that moved backwards (cachedAt in the future) also invalidates the entry.
  if (cached && now - cached.cachedAt < KEY_CACHE_MS && now >= cached.cachedAt) return cached.found;
  const found = await findKeyBySecretHash(createDb(db), secretHash);
  if (cached) keyCache.delete(secretHash);
  if (found && !found.key.revokedAt) {
    if (keyCache.size >= MAX_CACHED_KEYS) {
      const oldest = keyCache.keys().next().value;
      if (oldest !== undefined) keyCache.delete(oldest);
    }
    keyCache.set(secretHash, { found, cachedAt: now });
  }
  return found;
}

/** Drops a key's cached secrets in this isolate (after it was revoked or rotated here). */
export function forgetKey(keyId: string): void {
  for (const [hash, entry] of keyCache) if (entry.found.key.id === keyId) keyCache.delete(hash);
}

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
  const now = Date.now();
  const found = await lookupKey(c.env.DB, await hashKeySecret(secret), now);
  const wellFormed = parseKeyEnvironment(secret) !== null;
  if (!found || !wellFormed || found.key.revokedAt) throw new ApiError("api_key_invalid", INVALID_MESSAGE);

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

/**
 * Route-level guard: the caller's key must hold `scope`, or one of `alternatives` (a broader scope that
 * includes it, e.g. `contacts:manage` for a `contacts:read` route). Runs before body validation.
 */
export function requireScope(scope: Scope, alternatives: readonly Scope[] = []) {
  const accepted = [scope, ...alternatives];
  const named =
    alternatives.length === 0
      ? `the \`${scope}\` scope`
      : `the \`${scope}\` scope (or ${alternatives.map((s) => `\`${s}\``).join(", ")})`;
  return createMiddleware<AppBindings>(async (c, next) => {
    const principal = c.get("principal");
    if (!principal) throw new ApiError("api_key_missing", "This route needs an API key.");
    if (!accepted.some((s) => principal.scopes.includes(s))) {
      throw new ApiError("insufficient_scope", `This API key lacks ${named} needed for this operation.`, {
        details: [{ path: "scope", message: scope }],
      });
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
