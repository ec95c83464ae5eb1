import type { Environment } from "../env";
import { sha256Hex } from "./encoding";

/** Every scope a key can hold. A route names exactly one of these. */
export const SCOPES = [
  "messages:send",
  "messages:read",
  "templates:manage",
  "templates:read",
  "broadcasts:manage",
  "contacts:manage",
  "contacts:read",
  "webhooks:manage",
  "analytics:read",
  "audit:read",
  "keys:manage",
] as const;

export type Scope = (typeof SCOPES)[number];

export const ENVIRONMENTS = ["live", "test"] as const satisfies readonly Environment[];

const SECRET_BYTES = 32;
/** `sw_live_` / `sw_test_` then 43 base64url characters (32 random bytes). */
const KEY_PATTERN = /^sw_(live|test)_[A-Za-z0-9_-]{43}$/;
/** How many characters of the random part are kept as the display prefix. */
const DISPLAY_CHARS = 6;

export const DEFAULT_ROTATION_OVERLAP_SECONDS = 86_400;
export const MAX_ROTATION_OVERLAP_SECONDS = 30 * 86_400;

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function generateKeySecret(environment: Environment): { secret: string; prefix: string } {
  const random = base64url(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
  const secret = `sw_${environment}_${random}`;
  return { secret, prefix: displayPrefix(secret) };
}

export function displayPrefix(secret: string): string {
  return secret.slice(0, "sw_test_".length + DISPLAY_CHARS);
}

/** The environment a well-formed key belongs to, or null when it is not shaped like a Sendwire key. */
export function parseKeyEnvironment(secret: string): Environment | null {
  const match = KEY_PATTERN.exec(secret);
  return match ? (match[1] as Environment) : null;
}

/** SHA-256 of the whole secret, hex. The only form in which a secret is stored. */
export function hashKeySecret(secret: string): Promise<string> {
  return sha256Hex(secret);
}

/** Scopes in `requested` that `held` does not include (a key can only grant what it has). */
export function missingScopes(held: readonly string[], requested: readonly string[]): string[] {
  return requested.filter((scope) => !held.includes(scope));
}

export type KeyStatus = "active" | "expired" | "revoked";

export function keyStatus(key: { revokedAt: Date | null; expiresAt: Date | null }, now: Date): KeyStatus {
  if (key.revokedAt) return "revoked";
  if (key.expiresAt && key.expiresAt.getTime() <= now.getTime()) return "expired";
  return "active";
}

/** Per-key limits when a key sets none (issue: 6,000 per minute, bursts of 1,200 per second). */
export const DEFAULT_RATE_LIMIT = { requestsPerMinute: 6_000, burst: 1_200 } as const;

/** The longest lifetime a key may be created with. */
export const MAX_KEY_TTL_SECONDS = 5 * 365 * 86_400;

export interface KeyAuthority {
  scopes: readonly string[];
  expiresAt: Date | null;
  rateLimit: { requestsPerMinute: number; burst: number };
}

export interface AuthorityExcess {
  /** The request field (at creation) or key property (at rotation) that exceeds the caller. */
  path: string;
  message: string;
}

/**
 * Where `target` (a key being created or rotated) would reach further than `caller`: a later expiry (or
 * none, when the caller has one) or a higher rate limit. A key can never mint a key that outlives or
 * outruns itself, so a short-lived key cannot be turned into a permanent one.
 */
export function authorityExcess(
  caller: KeyAuthority,
  target: Omit<KeyAuthority, "scopes">,
  fields: { expiresAt: string; requestsPerMinute: string; burst: string },
): AuthorityExcess[] {
  const excess: AuthorityExcess[] = [];
  if (caller.expiresAt) {
    const callerEnd = caller.expiresAt.toISOString();
    if (!target.expiresAt) {
      excess.push({ path: fields.expiresAt, message: `must be set, at or before ${callerEnd}` });
    } else if (target.expiresAt.getTime() > caller.expiresAt.getTime()) {
      excess.push({
        path: fields.expiresAt,
        message: `${target.expiresAt.toISOString()} is after the calling key's own expiry (${callerEnd})`,
      });
    }
  }
  if (target.rateLimit.requestsPerMinute > caller.rateLimit.requestsPerMinute) {
    excess.push({
      path: fields.requestsPerMinute,
      message: `${target.rateLimit.requestsPerMinute} is above the calling key's ${caller.rateLimit.requestsPerMinute}`,
    });
  }
  if (target.rateLimit.burst > caller.rateLimit.burst) {
    excess.push({
      path: fields.burst,
      message: `${target.rateLimit.burst} is above the calling key's ${caller.rateLimit.burst}`,
    });
  }
  return excess;
}
