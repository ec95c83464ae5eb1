/**
 * Outbound webhook signatures. Every delivery is signed twice over the same body bytes so a receiver can
 * use the library it already has: Standard Webhooks (`webhook-*` headers, key = the base64-decoded part
 * of `whsec_…`) and Stripe-style `Sendwire-Signature` (key = the whole `whsec_…` string, as Stripe does).
 * During a rotation the current and previous secrets both sign, so receivers holding either one verify.
 */

import { toHex } from "../domain/encoding";
import { generateWebhookSecret, SECRET_PREFIX, toBase64, webhookSecretKey } from "./secrets";

export { generateWebhookSecret, SECRET_PREFIX };

export const SENDWIRE_SIGNATURE_HEADER = "Sendwire-Signature";
/** Standard Webhooks' tolerance, also Stripe's default: replays older (or newer) than this are refused. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

export class WebhookVerificationError extends Error {
  override name = "WebhookVerificationError";
}

async function hmacSha256(key: Uint8Array, message: string): Promise<Uint8Array> {
  const cryptoKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, new TextEncoder().encode(message)));
}

const standardSignature = async (secret: string, id: string, timestamp: number, body: string) =>
  toBase64(await hmacSha256(webhookSecretKey(secret), `${id}.${timestamp}.${body}`));

/** Keyed with the whole secret string (UTF-8), which is what Stripe's `constructEvent` does with it. */
const sendwireSignature = async (secret: string, timestamp: number, body: string) => {
  webhookSecretKey(secret); // same validation, so both schemes refuse the same malformed secrets
  return toHex(await hmacSha256(new TextEncoder().encode(secret), `${timestamp}.${body}`));
};

export interface SignInput {
  /** Event id (`evt_…`); the same across retries so receivers can deduplicate. */
  id: string;
  /** Unix seconds of this attempt. */
  timestamp: number;
  /** The exact body string sent; any re-serialisation breaks the signature. */
  body: string;
  /** Current secret first, then the previous one while a rotation overlaps. */
  secrets: readonly string[];
}

/** The signature headers for one delivery attempt. */
export async function signWebhook({
  id,
  timestamp,
  body,
  secrets,
}: SignInput): Promise<Record<string, string>> {
  // The id travels as a header value, so whitespace (CR/LF) could split headers.
  if (!id || /\s/.test(id)) throw new Error("Webhook id must be non-empty and without whitespace.");
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new Error("Timestamp must be unix seconds.");
  if (secrets.length === 0) throw new Error("At least one webhook secret is required.");
  const standard = await Promise.all(secrets.map((s) => standardSignature(s, id, timestamp, body)));
  const sendwire = await Promise.all(secrets.map((s) => sendwireSignature(s, timestamp, body)));
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": standard.map((sig) => `v1,${sig}`).join(" "),
    [SENDWIRE_SIGNATURE_HEADER]: [`t=${timestamp}`, ...sendwire.map((sig) => `v1=${sig}`)].join(","),
  };
}

/** Equal-length byte comparison whose time does not depend on where the first difference is. */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  if (x.length !== y.length) return false;
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

export interface VerifyOptions {
  /** How far the signed timestamp may be from `now`, either way. Default 300. */
  toleranceSeconds?: number;
  /** The receiver's clock; defaults to the current time. */
  now?: Date;
}

/** Strict unix seconds (parseInt would accept "12abc"), within the tolerance on either side of now. */
function checkTimestamp(raw: string | undefined, { toleranceSeconds, now }: VerifyOptions): number {
  if (!raw || !/^\d{1,15}$/.test(raw)) throw new WebhookVerificationError("Missing or malformed timestamp.");
  const timestamp = Number(raw);
  const age = Math.floor((now ?? new Date()).getTime() / 1000) - timestamp;
  const tolerance = toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (age > tolerance) throw new WebhookVerificationError("Webhook timestamp is too old (possible replay).");
  if (age < -tolerance) throw new WebhookVerificationError("Webhook timestamp is too far in the future.");
  return timestamp;
}

type HeaderSource = Headers | Record<string, string | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

/** Verifies the Standard Webhooks headers. Resolves true or throws WebhookVerificationError. */
export async function verifyStandardWebhook(
  headers: HeaderSource,
  body: string,
  secret: string,
  options: VerifyOptions = {},
): Promise<true> {
  const id = header(headers, "webhook-id");
  const signatures = header(headers, "webhook-signature");
  if (!id || !signatures)
    throw new WebhookVerificationError("Missing webhook-id or webhook-signature header.");
  const timestamp = checkTimestamp(header(headers, "webhook-timestamp"), options);
  const expected = await standardSignature(secret, id, timestamp, body);
  const candidates = signatures.split(" ").filter((s) => s.startsWith("v1,"));
  if (candidates.some((s) => timingSafeEqual(s.slice(3), expected))) return true;
  throw new WebhookVerificationError("No webhook-signature matches this body and secret.");
}

/** Verifies a `Sendwire-Signature: t=…,v1=…[,v1=…]` value. Resolves true or throws WebhookVerificationError. */
export async function verifySendwireSignature(
  headerValue: string | null | undefined,
  body: string,
  secret: string,
  options: VerifyOptions = {},
): Promise<true> {
  const pairs = (headerValue ?? "").split(",").map((part) => part.split("=", 2));
  const times = pairs.filter(([k]) => k === "t");
  const candidates = pairs.filter(([k]) => k === "v1").map(([, v]) => v ?? "");
  if (times.length !== 1 || candidates.length === 0) {
    throw new WebhookVerificationError(`Malformed ${SENDWIRE_SIGNATURE_HEADER} header: expected t=…,v1=….`);
  }
  const timestamp = checkTimestamp(times[0]?.[1], options);
  const expected = await sendwireSignature(secret, timestamp, body);
  if (candidates.some((c) => timingSafeEqual(c, expected))) return true;
  throw new WebhookVerificationError(
    `No ${SENDWIRE_SIGNATURE_HEADER} v1 value matches this body and secret.`,
  );
}
