/**
 * Shared plumbing for the provider adapters: one fetch with a hard timeout, Retry-After parsing, credential
 * redaction for failure reasons, and the channel/content compatibility rules every adapter (and the sandbox)
 * applies before talking to anyone.
 */
import { type Channel, type MessageContent, PROVIDER_TIMEOUT_MS, type SendResult } from "./types";

export type SendFailure = Extract<SendResult, { ok: false }>;

/** How an adapter reaches its provider. Base URLs come from configuration so tests can point them at fakes. */
export interface ProviderHttpConfig {
  /** The provider's API origin without a trailing path, e.g. `https://graph.facebook.com`. */
  baseUrl: string;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** Defaults to PROVIDER_TIMEOUT_MS (15 s); covers connecting, the response headers and reading the body. */
  timeoutMs?: number;
}

export interface ProviderResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

const MAX_REASON_LENGTH = 500;
const MAX_RETRY_AFTER_SECONDS = 86_400;

export function failure(
  code: string,
  reason: string,
  retryable: boolean,
  retryAfterSeconds?: number,
): SendFailure {
  const result: SendFailure = { ok: false, retryable, code, reason };
  if (retryAfterSeconds !== undefined) result.retryAfterSeconds = retryAfterSeconds;
  return result;
}

/** Joins a base URL and a path without doubling or dropping the slash. */
export function joinUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/${path.replace(/^\/+/, "")}`;
}

/**
 * Replaces every credential (and the Basic-auth encoding of pairs of them) in `text` with `[redacted]`, and
 * caps its length. Every failure reason goes through this, so a provider echoing a token cannot leak it.
 */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  const all = secrets.filter((s) => s.length >= 4);
  for (const secret of [...all].sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join("[redacted]");
  }
  if (out.length > MAX_REASON_LENGTH) out = `${out.slice(0, MAX_REASON_LENGTH - 1)}…`;
  return out;
}

/** `Retry-After` as whole seconds: delta-seconds or an HTTP date; undefined when absent or unparsable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (trimmed === "") return undefined;
  let seconds: number;
  if (/^\d+$/.test(trimmed)) {
    seconds = Number(trimmed);
  } else {
    // An HTTP date names its day and month; V8's Date.parse would also read "-5" or "1.5" as years.
    if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(trimmed)) return undefined;
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return undefined;
    seconds = Math.ceil((at - now) / 1000);
  }
  return Math.min(Math.max(seconds, 0), MAX_RETRY_AFTER_SECONDS);
}

/**
 * One HTTP round trip to a provider, bounded by the timeout (connect + headers + body). Network failures and
 * timeouts come back as retryable failures (`network_error`, `timeout`); every other outcome is a response for
 * the adapter to interpret. `provider` names the provider in reasons; `secrets` are scrubbed from them.
 */
export async function providerFetch(
  provider: string,
  url: string,
  init: RequestInit,
  config: ProviderHttpConfig,
  secrets: readonly string[],
): Promise<ProviderResponse | SendFailure> {
  const timeoutMs = config.timeoutMs ?? PROVIDER_TIMEOUT_MS;
  const doFetch =
    config.fetch ?? ((input: RequestInfo | URL, options?: RequestInit) => fetch(input, options));
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const TIMED_OUT = Symbol("timeout");
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve(TIMED_OUT);
    }, timeoutMs);
  });
  const exchange = (async (): Promise<ProviderResponse> => {
    const res = await doFetch(url, { ...init, signal: controller.signal });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: parseJson(text) };
  })();
  try {
    // Racing (rather than trusting the signal alone) also bounds a custom fetch that ignores the signal.
    const outcome = await Promise.race([exchange, timeout]);
    if (outcome === TIMED_OUT) {
      exchange.catch(() => {});
      return failure("timeout", `${provider} did not answer within ${timeoutMs} ms`, true);
    }
    return outcome;
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return failure("network_error", redact(`Could not reach ${provider}: ${detail}`, secrets), true);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

export function isFailure(value: ProviderResponse | SendFailure): value is SendFailure {
  return "ok" in value && value.ok === false;
}

function parseJson(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** HTTP statuses we retry whatever the body says: throttling and provider-side failures. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * Whether `content` can go over `channel` at all. SMS carries text (templates as their rendered body, media as
 * MediaUrl + caption); email carries email content (and templates as plain text); WhatsApp carries everything
 * but email content. Anything else is a permanent `unsupported_content` failure, decided without a network call.
 */
export function unsupportedContent(channel: Channel, content: MessageContent): SendFailure | null {
  const allowed: Record<Channel, ReadonlyArray<MessageContent["kind"]>> = {
    whatsapp: ["template", "text", "media", "interactive"],
    sms: ["template", "text", "media"],
    email: ["email", "template"],
  };
  if (allowed[channel].includes(content.kind)) return null;
  return failure(
    "unsupported_content",
    `${content.kind} content cannot be sent over ${channel}; ${channel} accepts ${allowed[channel].join(", ")}`,
    false,
  );
}

/** A short, credential-free description of an unexpected (non-JSON or unknown-shaped) provider answer. */
export function describeBody(text: string, secrets: readonly string[]): string {
  const compact = text.replace(/\s+/g, " ").trim();
  return redact(compact === "" ? "(empty body)" : compact.slice(0, 200), secrets);
}
