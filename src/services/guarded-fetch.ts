import type { Env } from "../env";
import { checkEndpointUrl } from "../webhooks/guard";

/**
 * Fetching a URL a tenant gave us (a presigned import file, a media URL) is the same risk as delivering a
 * webhook: the URL may point at our own network. The same guard runs first (scheme, every private-address
 * spelling, what the name resolves to now); redirects are not followed (a 3xx is a failure, since its target
 * was never checked); and the body is handed back as a stream that errors once it passes `maxBytes`, so a
 * lying Content-Length or an endless body never fills memory.
 */
export type GuardedFetch =
  | { ok: true; body: ReadableStream<Uint8Array>; contentType: string | null; contentLength: number | null }
  | { ok: false; reason: string; retryable: boolean };

export async function guardedFetch(
  env: Env,
  url: string,
  options: { maxBytes: number; timeoutMs?: number },
): Promise<GuardedFetch> {
  const checked = await checkEndpointUrl(env, url);
  if (!checked.ok) return { ok: false, reason: checked.reason, retryable: checked.unresolvable === true };
  let res: Response;
  try {
    res = await fetch(checked.url, {
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
  } catch (error) {
    const why = error instanceof Error ? error.message : "the request failed";
    return { ok: false, reason: `Could not fetch the URL: ${why}.`, retryable: true };
  }
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel();
    return {
      ok: false,
      reason: `The URL answered a redirect (${res.status}), which is not followed.`,
      retryable: false,
    };
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    return {
      ok: false,
      reason: `The URL answered HTTP ${res.status}.`,
      retryable: res.status >= 500 || res.status === 429,
    };
  }
  const declared = res.headers.get("content-length");
  const contentLength = declared !== null && /^\d+$/.test(declared) ? Number(declared) : null;
  if (contentLength !== null && contentLength > options.maxBytes) {
    await res.body.cancel();
    return {
      ok: false,
      reason: `The file is ${contentLength} bytes, over the ${options.maxBytes}-byte limit.`,
      retryable: false,
    };
  }
  return {
    ok: true,
    body: res.body.pipeThrough(byteLimit(options.maxBytes)),
    contentType: res.headers.get("content-type"),
    contentLength,
  };
}

/** A pass-through stream that errors once more than `maxBytes` went through it. */
export function byteLimit(maxBytes: number): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > maxBytes) controller.error(new ByteLimitError(maxBytes));
      else controller.enqueue(chunk);
    },
  });
}

export class ByteLimitError extends Error {
  override name = "ByteLimitError";
  constructor(readonly maxBytes: number) {
    super(`The body is larger than ${maxBytes} bytes.`);
  }
}
