/**
 * Verification of the webhooks providers send us (Meta WhatsApp Cloud API, Twilio, Resend/Svix), on the exact
 * bytes received: any re-serialisation (JSON.parse + stringify, form re-encoding) changes what was signed.
 * WebCrypto only, so it runs unchanged in workerd and in Node.
 *
 * A missing, malformed or wrong signature is an answer (false / `ok: false`), never an exception. A missing
 * or malformed *secret* is a configuration error and throws: an empty key would make signatures forgeable,
 * and a misconfiguration should fail loudly rather than look like a stream of bad requests.
 */

import {
  timingSafeEqual,
  type VerifyOptions,
  verifyStandardWebhook,
  WebhookVerificationError,
} from "../webhooks/sign";

const encoder = new TextEncoder();

function requireSecret(secret: unknown, what: string): asserts secret is string {
  // An unset binding arrives as undefined; encoding it would key the HMAC with the string "undefined".
  if (typeof secret !== "string" || secret.length === 0)
    throw new Error(`${what} must be a non-empty string.`);
}

function hmacKey(secret: string, hash: "SHA-1" | "SHA-256", usage: "sign" | "verify"): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash }, false, [usage]);
}

function toBase64(bytes: ArrayBuffer): string {
  let binary = "";
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

// ---------------------------------------------------------------------------------------------------------
// Meta (WhatsApp Cloud API)

export const META_SIGNATURE_HEADER = "X-Hub-Signature-256";
const META_SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;

/**
 * Checks Meta's `X-Hub-Signature-256: sha256=<hex>` header: HMAC-SHA256 of the raw request body keyed with
 * the app secret. Resolves false for a missing header, another prefix, non-hex or a wrong length; throws
 * only when `appSecret` is empty. The comparison is `crypto.subtle.verify`, which is constant-time.
 */
export async function verifyMetaSignature(
  rawBody: Uint8Array,
  header: string | null | undefined,
  appSecret: string,
): Promise<boolean> {
  requireSecret(appSecret, "Meta app secret");
  const match = typeof header === "string" ? META_SIGNATURE.exec(header) : null;
  if (!match?.[1] || !ArrayBuffer.isView(rawBody)) return false;
  const hex = match[1];
  const signature = new Uint8Array(32);
  for (let i = 0; i < 32; i++) signature[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  const key = await hmacKey(appSecret, "SHA-256", "verify");
  return crypto.subtle.verify("HMAC", key, signature, rawBody);
}

// ---------------------------------------------------------------------------------------------------------
// Twilio

export const TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature";

/**
 * The POST parameters Twilio sent: the decoded form fields in order (e.g. `[...new URLSearchParams(body)]`,
 * repeated keys kept as separate entries), or a record whose repeated keys are arrays (as Express parses).
 */
export type TwilioParams =
  | ReadonlyArray<readonly [string, string]>
  | Readonly<Record<string, string | readonly string[]>>;

/**
 * The string Twilio signs, as twilio-node's `getExpectedTwilioSignature` builds it: the URL, then for each
 * parameter name in default (UTF-16 code unit) sort order, `name + value`; a name with several values
 * contributes each *distinct* value once, values sorted the same way.
 */
function twilioSignedString(url: string, params: TwilioParams): string {
  const grouped = new Map<string, string[]>();
  const entries: Iterable<readonly [string, string | readonly string[]]> = Array.isArray(params)
    ? (params as ReadonlyArray<readonly [string, string]>)
    : Object.entries(params);
  for (const [name, value] of entries) {
    const values = grouped.get(name) ?? [];
    if (typeof value === "string") values.push(value);
    else values.push(...value);
    grouped.set(name, values);
  }
  let data = url;
  for (const name of [...grouped.keys()].sort()) {
    for (const value of [...new Set(grouped.get(name))].sort()) data += name + value;
  }
  return data;
}

/**
 * The `X-Twilio-Signature` value Twilio sends for a request to `url` (the full URL Twilio requested, query
 * string included) with these POST parameters: base64(HMAC-SHA1(authToken, signed string)). Matches
 * twilio-node's `getExpectedTwilioSignature` for the default (Auth Token, HMAC_SHA1) scheme.
 */
export async function twilioSignature(url: string, params: TwilioParams, authToken: string): Promise<string> {
  requireSecret(authToken, "Twilio auth token");
  const key = await hmacKey(authToken, "SHA-1", "sign");
  return toBase64(await crypto.subtle.sign("HMAC", key, encoder.encode(twilioSignedString(url, params))));
}

/** twilio-node's splitUrl: the URL's parts without normalising it, so the path and query stay as signed. */
function splitUrl(url: string) {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)/i.exec(url);
  if (!match) return null;
  const [prefix, scheme = "", authority = ""] = match;
  const userInfoEnd = authority.lastIndexOf("@");
  const hostAndPort = authority.slice(userInfoEnd + 1);
  // A colon only starts the port after the closing bracket of an IPv6 literal.
  const portStart = hostAndPort.indexOf(":", hostAndPort.lastIndexOf("]") + 1);
  return {
    scheme,
    userInfo: authority.slice(0, userInfoEnd + 1),
    host: portStart === -1 ? hostAndPort : hostAndPort.slice(0, portStart),
    port: portStart === -1 ? "" : hostAndPort.slice(portStart),
    rest: url.slice(prefix.length),
  };
}

/** The URL without any port, and with the scheme's default port when it had none (twilio-node's pair). */
function portVariants(url: string): string[] {
  const parts = splitUrl(url);
  if (!parts) return [url];
  const withoutPort = parts.scheme + parts.userInfo + parts.host + parts.rest;
  const defaultPort = parts.scheme.toLowerCase() === "https://" ? ":443" : ":80";
  const withPort = parts.port ? url : parts.scheme + parts.userInfo + parts.host + defaultPort + parts.rest;
  return [withoutPort, withPort];
}

/**
 * Checks an `X-Twilio-Signature` header (constant-time). Like twilio-node's `validateRequest`, it accepts a
 * signature over the URL as given or as normalised by `new URL()`, each with and without the port (Twilio
 * may sign `https://host/…` or `https://host:443/…`). Not copied: its last fallback, which re-encodes the
 * query with Node's legacy `querystring`.
 *
 * Pass the URL Twilio was configured with when it may differ from `request.url`: workerd normalises the
 * request URL (e.g. `'` becomes `%27` in the query), and Twilio signed its own spelling. For a GET webhook
 * the parameters are in the URL and `params` is empty.
 */
export async function verifyTwilioSignature(
  url: string,
  params: TwilioParams,
  header: string | null | undefined,
  authToken: string,
): Promise<boolean> {
  requireSecret(authToken, "Twilio auth token");
  if (typeof header !== "string" || header === "" || typeof url !== "string") return false;
  const candidates = portVariants(url);
  try {
    candidates.push(...portVariants(new URL(url).toString()));
  } catch {
    // Not a parseable URL: only the as-received variants apply.
  }
  const key = await hmacKey(authToken, "SHA-1", "sign");
  let valid = false;
  // Every candidate is computed and compared, so the time does not reveal which variant matched.
  for (const candidate of new Set(candidates)) {
    const data = encoder.encode(twilioSignedString(candidate, params));
    const expected = toBase64(await crypto.subtle.sign("HMAC", key, data));
    valid = timingSafeEqual(header, expected) || valid;
  }
  return valid;
}

// ---------------------------------------------------------------------------------------------------------
// Resend (Svix)

export type SvixResult = { ok: true; id: string } | { ok: false; reason: string };

type HeaderSource = Headers | Record<string, string | undefined>;

/** Case-insensitive lookup of the first of `names` present, as svix's `Webhook.verify` does. */
function firstHeader(headers: HeaderSource, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value =
      headers instanceof Headers
        ? headers.get(name)
        : Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
    if (value !== undefined && value !== null) return value;
  }
  return undefined;
}

/**
 * Checks a Svix-signed webhook (Resend): `svix-id`, `svix-timestamp` and `svix-signature` (space-separated
 * `v1,<base64>`), HMAC-SHA256 of `${id}.${timestamp}.${body}` keyed with the base64 part of `whsec_…`, and
 * a timestamp within `toleranceSeconds` (default 300) of `now` either way. As svix does, the unbranded
 * `webhook-*` headers are read when the `svix-*` ones are absent. `rawBody` is the body text as received
 * (`await request.text()`). Throws only for a malformed secret.
 */
export async function verifySvixSignature(
  rawBody: string,
  headers: HeaderSource,
  secret: string,
  options: VerifyOptions = {},
): Promise<SvixResult> {
  requireSecret(secret, "Svix signing secret");
  const id = firstHeader(headers, ["svix-id", "webhook-id"]);
  // Svix is Standard Webhooks with its own header names, so the existing verifier does the work.
  const standard: Record<string, string | undefined> = {
    "webhook-id": id,
    "webhook-timestamp": firstHeader(headers, ["svix-timestamp", "webhook-timestamp"]),
    "webhook-signature": firstHeader(headers, ["svix-signature", "webhook-signature"]),
  };
  try {
    await verifyStandardWebhook(standard, rawBody, secret, options);
    return { ok: true, id: id ?? "" };
  } catch (error) {
    // Anything else (a malformed secret) is configuration, not a bad request.
    if (error instanceof WebhookVerificationError) return { ok: false, reason: error.message };
    throw error;
  }
}
