import { signedUrlMaterial } from "../domain/media";
import type { Env } from "../env";
import { ApiError } from "../errors";

/**
 * Signed, expiring media URLs: `${base}/media/{id}?exp=…&sig=…`, the signature an HMAC-SHA256 of the id and
 * expiry under a key derived from SECRETS_ENCRYPTION_KEY. Whoever holds one may read that file until `exp`.
 */

const signingKeys = new Map<string, Promise<CryptoKey>>();

/**
 * The HMAC-SHA256 key of media URLs, derived (HKDF) from SECRETS_ENCRYPTION_KEY with its own label, so the
 * encryption key itself never signs anything. Missing or malformed: 503 `misconfigured`.
 */
function signingKey(env: Env): Promise<CryptoKey> {
  const secret = env.SECRETS_ENCRYPTION_KEY?.trim() ?? "";
  let raw: Uint8Array | null = null;
  try {
    raw = Uint8Array.from(atob(secret), (ch) => ch.charCodeAt(0));
  } catch {
    raw = null;
  }
  if (raw?.length !== 32) {
    return Promise.reject(
      new ApiError(
        "misconfigured",
        "Sendwire is misconfigured: SECRETS_ENCRYPTION_KEY is not set to base64 of 32 bytes, and media URLs are signed with a key derived from it.",
      ),
    );
  }
  let key = signingKeys.get(secret);
  if (!key) {
    const material = raw;
    key = crypto.subtle.importKey("raw", material, "HKDF", false, ["deriveKey"]).then((base) =>
      crypto.subtle.deriveKey(
        {
          name: "HKDF",
          hash: "SHA-256",
          salt: new Uint8Array(),
          info: new TextEncoder().encode("sendwire media url v1"),
        },
        base,
        { name: "HMAC", hash: "SHA-256", length: 256 },
        false,
        ["sign", "verify"],
      ),
    );
    signingKeys.set(secret, key);
  }
  return key;
}

const base64url = (bytes: Uint8Array) => {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
};

function fromBase64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]{43}$/.test(text)) return null;
  try {
    const bytes = Uint8Array.from(atob(text.replaceAll("-", "+").replaceAll("_", "/")), (ch) =>
      ch.charCodeAt(0),
    );
    // The 43rd character carries 2 unused bits: only the canonical spelling counts, so no other string passes.
    return base64url(bytes) === text ? bytes : null;
  } catch {
    return null;
  }
}

/** `${base}/media/{id}?exp=…&sig=…`: anyone holding it may read the file until `exp` (unix seconds). */
export async function signedMediaUrl(
  env: Env,
  baseUrl: string,
  id: string,
  ttlSeconds: number,
  now: Date,
): Promise<{ url: string; expiresAt: Date }> {
  const exp = Math.floor(now.getTime() / 1000) + ttlSeconds;
  const mac = await crypto.subtle.sign(
    "HMAC",
    await signingKey(env),
    new TextEncoder().encode(signedUrlMaterial(id, exp)),
  );
  const url = `${baseUrl.replace(/\/+$/, "")}/media/${id}?exp=${exp}&sig=${base64url(new Uint8Array(mac))}`;
  return { url, expiresAt: new Date(exp * 1000) };
}

/** Whether `sig` signs this id and expiry and the expiry has not passed (constant-time comparison). */
export async function verifyMediaSignature(
  env: Env,
  id: string,
  exp: string | undefined,
  sig: string | undefined,
  now: Date,
): Promise<boolean> {
  if (!exp || !sig || !/^\d{1,12}$/.test(exp)) return false;
  if (Number(exp) * 1000 <= now.getTime()) return false;
  const mac = fromBase64url(sig);
  if (!mac) return false;
  return crypto.subtle.verify(
    "HMAC",
    await signingKey(env),
    mac,
    new TextEncoder().encode(signedUrlMaterial(id, Number(exp))),
  );
}
