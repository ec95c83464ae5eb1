import type { Env } from "../env";
import { resolveHostname } from "./resolve";
import { allowLocalWebhooks, checkResolvedAddresses, checkWebhookUrl, isLoopbackHost } from "./url-guard";

export type EndpointUrlCheck =
  | { ok: true; url: string }
  /** `unresolvable`: the lookup itself failed (resolver down), which says nothing about the URL. */
  | { ok: false; reason: string; unresolvable?: boolean };

/**
 * The whole URL guard, at registration and again before every delivery: the URL itself, then what its
 * hostname resolves to now (DNS can change after registration). IP literals are judged as they are, and
 * with ALLOW_LOCAL_WEBHOOKS loopback names (`localhost`, `*.localhost`) are never looked up. With it a name
 * the resolver does not know, or cannot be asked about, is let through (it may live in the developer's
 * /etc/hosts); addresses it does return are still judged.
 */
export async function checkEndpointUrl(env: Env, input: string): Promise<EndpointUrlCheck> {
  const allowLocal = allowLocalWebhooks(env.ALLOW_LOCAL_WEBHOOKS, env.PUBLIC_BASE_URL);
  const checked = checkWebhookUrl(input, { allowLocal });
  if (!checked.ok) return checked;
  const url = checked.url.href;
  const hostname = checked.url.hostname;
  // IP literals were judged above (the URL parser canonicalises every spelling).
  if (hostname.startsWith("[") || /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname)) return { ok: true, url };
  // checkWebhookUrl refuses loopback names unless local webhooks are allowed; then they need no resolver.
  if (allowLocal && isLoopbackHost(hostname)) return { ok: true, url };
  let addresses: string[];
  try {
    addresses = await resolveHostname(env, hostname);
  } catch (error) {
    const why = error instanceof Error ? error.message : "lookup failed";
    if (allowLocal) {
      console.warn(
        `Webhook URL guard: could not look up ${hostname} (${why}). ALLOW_LOCAL_WEBHOOKS is on, so the URL is accepted without checking its addresses.`,
      );
      return { ok: true, url };
    }
    console.warn(
      `Webhook URL guard: could not look up ${hostname} (${why}), so its addresses cannot be checked and the URL is not used for now: a registration answers 503 service_unavailable, a delivery counts as a failed attempt and is retried on the usual schedule.`,
    );
    return { ok: false, reason: `Could not resolve ${hostname}: ${why}.`, unresolvable: true };
  }
  if (addresses.length === 0 && allowLocal) return { ok: true, url };
  const resolved = checkResolvedAddresses(addresses, { allowLocal, hostname });
  return resolved.ok ? { ok: true, url } : resolved;
}
