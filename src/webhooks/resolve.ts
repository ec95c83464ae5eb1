import type { Env } from "../env";

/**
 * Resolves a webhook hostname over DNS-over-HTTPS (JSON API), because Workers have no resolver of their
 * own and the URL guard must see the addresses before we connect. Answers are cached per isolate for
 * their TTL (at most 5 minutes).
 */

const DEFAULT_RESOLVER = "https://cloudflare-dns.com/dns-query";
const MAX_TTL_SECONDS = 300;
const MAX_CACHED = 1_000;
const RESOLVE_TIMEOUT_MS = 5_000;

const cache = new Map<string, { addresses: string[]; expiresAt: number }>();

interface DohAnswer {
  Status?: number;
  Answer?: { type?: number; TTL?: number; data?: string }[];
}

/** The resolver's origin, for messages (its path and query say nothing useful). */
function resolverName(resolver: string): string {
  try {
    return new URL(resolver).origin;
  } catch {
    return "the configured resolver (WEBHOOK_DNS_RESOLVER is not a URL)";
  }
}

async function query(resolver: string, hostname: string, type: "A" | "AAAA") {
  const url = `${resolver}?name=${encodeURIComponent(hostname)}&type=${type}`;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { accept: "application/dns-json" },
      signal: AbortSignal.timeout(RESOLVE_TIMEOUT_MS),
    });
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    const why = timedOut
      ? `no answer within ${RESOLVE_TIMEOUT_MS / 1000} s`
      : error instanceof Error
        ? error.message
        : String(error);
    throw new Error(`DNS-over-HTTPS resolver ${resolverName(resolver)} unreachable: ${why}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`DNS resolver answered ${res.status}`);
  }
  const body = (await res.json()) as DohAnswer;
  // 0 NOERROR, 3 NXDOMAIN (no addresses); anything else (SERVFAIL, REFUSED) is a failed lookup.
  if (body.Status !== 0 && body.Status !== 3) throw new Error(`DNS lookup failed (status ${body.Status})`);
  const wanted = type === "A" ? 1 : 28;
  const answers = (body.Answer ?? []).filter((a) => a.type === wanted && typeof a.data === "string");
  return {
    addresses: answers.map((a) => a.data as string),
    ttl: Math.min(MAX_TTL_SECONDS, ...answers.map((a) => a.TTL ?? MAX_TTL_SECONDS)),
  };
}

/** Every A and AAAA address of `hostname` (empty when it does not exist). Throws when the lookup fails. */
export async function resolveHostname(env: Env, hostname: string, now = Date.now()): Promise<string[]> {
  const cached = cache.get(hostname);
  if (cached && cached.expiresAt > now) return cached.addresses;
  const resolver = env.WEBHOOK_DNS_RESOLVER ?? DEFAULT_RESOLVER;
  const [a, aaaa] = await Promise.all([query(resolver, hostname, "A"), query(resolver, hostname, "AAAA")]);
  const addresses = [...a.addresses, ...aaaa.addresses];
  if (addresses.length === 0) return addresses; // not cached: a name may appear any moment
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(hostname, { addresses, expiresAt: now + Math.min(a.ttl, aaaa.ttl) * 1000 });
  return addresses;
}
