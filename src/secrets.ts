/**
 * Provider credentials at rest: AES-256-GCM under SECRETS_ENCRYPTION_KEY (base64 of 32 bytes, a Worker
 * secret). The stored form is `v1.<base64 iv>.<base64 ciphertext+tag>`; the tenant id is bound as
 * additional data so a ciphertext copied to another tenant's row does not decrypt.
 */

const VERSION = "v1";

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
}

async function importKey(keyBase64: string | undefined): Promise<CryptoKey> {
  let raw: Uint8Array;
  try {
    raw = fromBase64(keyBase64 ?? "");
  } catch {
    raw = new Uint8Array();
  }
  if (raw.length !== 32) {
    throw new Error(
      "SECRETS_ENCRYPTION_KEY must be set to base64 of 32 random bytes (see .dev.vars.example).",
    );
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
  const plaintext = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64(iv), additionalData: new TextEncoder().encode(tenantId) },
    key,
    fromBase64(ciphertext),
  );
  return JSON.parse(new TextDecoder().decode(plaintext)) as Record<string, string>;
}
