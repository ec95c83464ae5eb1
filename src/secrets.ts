/**
 * Provider credentials at rest: AES-256-GCM under SECRETS_ENCRYPTION_KEY (base64 of 32 bytes, a Worker
 * secret). The stored form is `v1.<base64 iv>.<base64 ciphertext+tag>`; the tenant id is bound as
 * additional data so a ciphertext copied to another tenant's row does not decrypt.
 *
 * A missing or malformed key, or one that cannot open what is stored, is the operator's mistake, not the
 * caller's: it is thrown as a 503 `misconfigured` ApiError that names the setting and never shows its value
 * (queue consumers log that message and retry).
 */

import { ApiError } from "./errors";

const VERSION = "v1";
const SETTING = "SECRETS_ENCRYPTION_KEY";
const HOW_TO_SET =
  "set it to base64 of 32 random bytes (`wrangler secret put SECRETS_ENCRYPTION_KEY` when deployed, `.dev.vars` locally)";

function misconfigured(problem: string): ApiError {
  return new ApiError("misconfigured", `Sendwire is misconfigured: ${problem}`);
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
}

async function importKey(keyBase64: string | undefined): Promise<CryptoKey> {
  if (keyBase64 === undefined || keyBase64.trim() === "") {
    throw misconfigured(`${SETTING} is not set; ${HOW_TO_SET}.`);
  }
  let raw: Uint8Array;
  try {
    raw = fromBase64(keyBase64.trim());
  } catch {
    raw = new Uint8Array();
  }
  if (raw.length !== 32) {
    // Neither the value nor its decoded length is shown: the message may reach an API caller.
    throw misconfigured(`${SETTING} is not base64 of 32 bytes; ${HOW_TO_SET}.`);
  }
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

export async function encryptSecrets(
  secrets: Record<string, string>,
  keyBase64: string | undefined,
  tenantId: string,
): Promise<string> {
  const key = await importKey(keyBase64);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plaintext = new TextEncoder().encode(JSON.stringify(secrets));
  const ciphertext = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(tenantId) },
    key,
    plaintext,
  );
  return `${VERSION}.${toBase64(iv)}.${toBase64(new Uint8Array(ciphertext))}`;
}

export async function decryptSecrets(
  stored: string,
  keyBase64: string | undefined,
  tenantId: string,
): Promise<Record<string, string>> {
  const [version, iv, ciphertext] = stored.split(".");
  if (version !== VERSION || !iv || !ciphertext) throw new Error("unrecognised secrets ciphertext");
  const key = await importKey(keyBase64);
  let plaintext: ArrayBuffer;
  try {
    plaintext = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: fromBase64(iv), additionalData: new TextEncoder().encode(tenantId) },
      key,
      fromBase64(ciphertext),
    );
  } catch {
    // The key is well-formed but does not open what it sealed: it was replaced after the secrets were
    // stored (or the stored value was altered). Only the operator can fix either.
    throw misconfigured(
      `stored secrets cannot be decrypted with the configured ${SETTING}; it was changed after they were stored, or the stored value is damaged. Restore the key they were stored with.`,
    );
  }
  return JSON.parse(new TextDecoder().decode(plaintext)) as Record<string, string>;
}
