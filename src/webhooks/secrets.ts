/**
 * Webhook signing secrets, in the Standard Webhooks format: `whsec_` + base64 of random bytes. The same
 * string keys both signature schemes (see sign.ts), so it is the only thing an endpoint owner copies.
 */

export const SECRET_PREFIX = "whsec_";

const SECRET_BYTES = 32;
/** Standard Webhooks allows 24–64 byte keys; shorter ones are too weak, longer ones are not interoperable. */
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** `whsec_` + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + toBase64(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
}

/**
 * The Standard Webhooks HMAC key: the base64-decoded part after `whsec_`. Throws on anything else, so a
 * pasted API key or a truncated secret fails loudly instead of signing with a wrong key.
 */
export function webhookSecretKey(secret: string): Uint8Array {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : "";
  // atob alone is lenient (whitespace, missing padding); the pattern keeps the format strict.
  const bytes = BASE64.test(encoded) ? Uint8Array.from(atob(encoded), (ch) => ch.charCodeAt(0)) : null;
  if (!bytes || bytes.length < MIN_SECRET_BYTES || bytes.length > MAX_SECRET_BYTES) {
    throw new Error(
      `Webhook secret must be "${SECRET_PREFIX}" followed by base64 of ${MIN_SECRET_BYTES}–${MAX_SECRET_BYTES} bytes.`,
    );
  }
  return bytes;
}
