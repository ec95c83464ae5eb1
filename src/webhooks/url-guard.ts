/**
 * SSRF guard for tenant webhook endpoints. A webhook URL is tenant input that we fetch from our own
 * network, so it is checked at registration and again before every delivery (DNS answers change):
 * https only, no userinfo, and no host that is or resolves to a non-public address (loopback, private,
 * link-local, CGNAT, multicast, unspecified, reserved, documentation or cloud-metadata ranges).
 *
 * IP spellings are not re-parsed here: the WHATWG URL parser already turns `0x7f.1`, `2130706433`,
 * `0177.0.0.1`, `127.1`, fullwidth digits and `[0:0::1]` into one canonical form, and we judge that form
 * (and hand back the parsed `URL`, whose `href` is what callers must store and fetch, never the raw
 * input). Hostnames are only judged by name here; what they resolve to is judged at delivery time with
 * {@link checkResolvedAddresses}. Redirects are never followed by the deliverer (a 3xx is a failure),
 * so a public URL cannot bounce a delivery to an internal one.
 *
 * Any port is accepted: the host decides what is reachable, and receivers often listen on 8443 etc.
 */

import ipaddr from "ipaddr.js";

export interface UrlGuardOptions {
  /**
   * Local development only (`ALLOW_LOCAL_WEBHOOKS=true`): also accept http://, loopback, private
   * (RFC 1918, fc00::/7, CGNAT) addresses and local-only names such as `localhost`, `*.local`,
   * `host.docker.internal` or single-label hosts, so a receiver on the developer's machine or LAN works.
   * Userinfo, other schemes, link-local, metadata, multicast and reserved ranges stay refused.
   */
  allowLocal: boolean;
}

export interface ResolvedAddressOptions extends UrlGuardOptions {
  /** Named in refusal reasons so a tenant sees which host resolved where. */
  hostname?: string;
}

export type UrlCheckResult = { ok: true; url: URL } | { ok: false; reason: string };
export type AddressCheckResult = { ok: true } | { ok: false; reason: string };

export interface ForbiddenRange {
  readonly cidr: string;
  /** Reads after "a"/"an" in a refusal: "is a private address (10.0.0.0/8)". */
  readonly name: string;
  /** Whether `allowLocal` lifts this range (true only for loopback and private-network ranges). */
  readonly allowedLocally: boolean;
}

/**
 * Every range a webhook host may not be or resolve to; the first match names the refusal, so the
 * metadata addresses come before the ranges that contain them. IPv6 addresses that carry an IPv4
 * address (IPv4-mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by that IPv4
 * address first; any other IPv6 address outside global unicast (2000::/3) is refused by the last rows.
 */
export const FORBIDDEN_RANGES: readonly ForbiddenRange[] = [
  // Cloud metadata services: credentials live here, so never reachable, not even locally.
  { cidr: "169.254.169.254/32", name: "cloud metadata address", allowedLocally: false },
  { cidr: "100.100.100.200/32", name: "cloud metadata address (Alibaba)", allowedLocally: false },
  { cidr: "168.63.129.16/32", name: "cloud platform address (Azure WireServer)", allowedLocally: false },
  { cidr: "fd00:ec2::254/128", name: "cloud metadata address (AWS IPv6)", allowedLocally: false },
  // IPv4
  { cidr: "0.0.0.0/8", name: "unspecified (“this network”) address", allowedLocally: false },
  { cidr: "10.0.0.0/8", name: "private address", allowedLocally: true },
  { cidr: "100.64.0.0/10", name: "carrier-grade NAT (shared) address", allowedLocally: true },
  { cidr: "127.0.0.0/8", name: "loopback address", allowedLocally: true },
  { cidr: "169.254.0.0/16", name: "link-local address", allowedLocally: false },
  { cidr: "172.16.0.0/12", name: "private address", allowedLocally: true },
  { cidr: "192.0.0.0/24", name: "IETF protocol assignment address", allowedLocally: false },
  { cidr: "192.0.2.0/24", name: "documentation address (TEST-NET-1)", allowedLocally: false },
  { cidr: "192.88.99.0/24", name: "6to4 relay anycast address", allowedLocally: false },
  { cidr: "192.168.0.0/16", name: "private address", allowedLocally: true },
  { cidr: "198.18.0.0/15", name: "benchmarking address", allowedLocally: false },
  { cidr: "198.51.100.0/24", name: "documentation address (TEST-NET-2)", allowedLocally: false },
  { cidr: "203.0.113.0/24", name: "documentation address (TEST-NET-3)", allowedLocally: false },
  { cidr: "224.0.0.0/4", name: "multicast address", allowedLocally: false },
  { cidr: "255.255.255.255/32", name: "broadcast address", allowedLocally: false },
  { cidr: "240.0.0.0/4", name: "reserved address", allowedLocally: false },
  // IPv6
  { cidr: "::/128", name: "unspecified address", allowedLocally: false },
  { cidr: "::1/128", name: "loopback address", allowedLocally: true },
  { cidr: "fc00::/7", name: "private (unique local) address", allowedLocally: true },
  { cidr: "fe80::/10", name: "link-local address", allowedLocally: false },
  { cidr: "fec0::/10", name: "site-local address", allowedLocally: false },
  { cidr: "ff00::/8", name: "multicast address", allowedLocally: false },
  { cidr: "100::/64", name: "discard-only address", allowedLocally: false },
  { cidr: "64:ff9b:1::/48", name: "local-use NAT64 address", allowedLocally: false },
  { cidr: "2001::/32", name: "Teredo tunnel address", allowedLocally: false },
  { cidr: "2001:db8::/32", name: "documentation address", allowedLocally: false },
  { cidr: "3fff::/20", name: "documentation address", allowedLocally: false },
  // Not global unicast: IPv4-compatible `::a.b.c.d`, IPv4-translated, reserved and unassigned space.
  { cidr: "::/3", name: "non-global IPv6 address (outside 2000::/3)", allowedLocally: false },
  { cidr: "4000::/2", name: "non-global IPv6 address (outside 2000::/3)", allowedLocally: false },
  { cidr: "8000::/1", name: "non-global IPv6 address (outside 2000::/3)", allowedLocally: false },
];

type IPAddress = ipaddr.IPv4 | ipaddr.IPv6;

const PARSED_RANGES = FORBIDDEN_RANGES.map((range) => ({ range, cidr: ipaddr.parseCIDR(range.cidr) }));

/** IPv6 prefixes that carry an IPv4 address, and where: a packet to one of these reaches that IPv4 host. */
const IPV4_EMBEDDINGS: readonly { cidr: [ipaddr.IPv6, number]; name: string; at: number }[] = [
  { cidr: ipaddr.IPv6.parseCIDR("::ffff:0:0/96"), name: "an IPv4-mapped address", at: 6 },
  { cidr: ipaddr.IPv6.parseCIDR("64:ff9b::/96"), name: "a NAT64 address", at: 6 },
  { cidr: ipaddr.IPv6.parseCIDR("2002::/16"), name: "a 6to4 address", at: 1 },
];

/** Names that only mean something on a local network: `localhost`, mDNS `.local`, undelegated TLDs. */
const LOCAL_SUFFIXES = [
  "localhost",
  "local",
  "internal",
  "localdomain",
  "home.arpa",
  "lan",
  "home",
  "corp",
  "intranet",
  "private",
];

/** Metadata service names, refused even locally (they resolve to the metadata addresses above). */
const METADATA_HOSTNAMES = new Set([
  "metadata",
  "metadata.google.internal",
  "metadata.goog",
  "instance-data",
  "instance-data.ec2.internal",
]);

/** A last label that an IP parser would read as a number (decimal, octal or 0x-hex). */
const NUMERIC_LABEL = /^(?:0x[0-9a-f]*|[0-9]+)$/i;
const DOTTED_QUAD = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

interface Classified {
  range: ForbiddenRange;
  /** The IPv4 address an IPv6 one carries, when that is what matched. */
  embedded?: { name: string; ipv4: string };
}

function matchRange(address: IPAddress): ForbiddenRange | null {
  for (const { range, cidr } of PARSED_RANGES) {
    if (cidr[0].kind() === address.kind() && address.match(cidr)) return range;
  }
  return null;
}

/** The forbidden range an address falls in, judging embedded IPv4 addresses by the IPv4 rules. */
function classify(address: IPAddress): Classified | null {
  if (address.kind() === "ipv6") {
    const v6 = address as ipaddr.IPv6;
    for (const embedding of IPV4_EMBEDDINGS) {
      if (!v6.match(embedding.cidr)) continue;
      const high = v6.parts[embedding.at] ?? 0;
      const low = v6.parts[embedding.at + 1] ?? 0;
      const v4 = new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
      const range = matchRange(v4);
      return range ? { range, embedded: { name: embedding.name, ipv4: v4.toString() } } : null;
    }
  }
  const range = matchRange(address);
  return range ? { range } : null;
}

const article = (word: string) => (/^[aeiou]/i.test(word) ? "an" : "a");

/** "is a private address (10.0.0.0/8)", or "is an IPv4-mapped address for 10.0.0.1, a private address (…)". */
function describe(found: Classified): string {
  const { range, embedded } = found;
  const what = `${article(range.name)} ${range.name} (${range.cidr})`;
  return embedded ? `is ${embedded.name} for ${embedded.ipv4}, ${what}` : `is ${what}`;
}

/** With `allowLocal` only never-allowed ranges are refused, so say that the flag does not help. */
const refusalSuffix = (options: UrlGuardOptions) =>
  options.allowLocal
    ? "; this range is never allowed, even with ALLOW_LOCAL_WEBHOOKS=true."
    : "; webhooks can only be delivered to public internet addresses.";

function judgeAddress(address: IPAddress, options: UrlGuardOptions): { reasonPart: string } | null {
  const found = classify(address);
  if (!found) return null;
  if (options.allowLocal && found.range.allowedLocally) return null;
  return { reasonPart: `${describe(found)}${refusalSuffix(options)}` };
}

/** Refusal for a hostname that is not an IP literal, or null when only DNS can tell. */
function judgeHostname(hostname: string, options: UrlGuardOptions): string | null {
  // `localhost.` and `localhost` are the same name to a resolver.
  const name = hostname.replace(/\.+$/, "");
  if (name === "" || name.split(".").some((label) => label === "")) {
    return `Webhook URL host "${hostname}" is not a valid hostname.`;
  }
  const labels = name.split(".");
  if (NUMERIC_LABEL.test(labels[labels.length - 1] ?? "")) {
    // The WHATWG parser turns every numeric spelling into a dotted quad or refuses the URL; anything
    // else numeric means a parser that disagrees with the one that will connect, so refuse it.
    return `Webhook URL host "${hostname}" looks like an IP address in a non-standard spelling; use a hostname.`;
  }
  if (METADATA_HOSTNAMES.has(name)) {
    return `Webhook URL host "${hostname}" is a cloud metadata service and is never allowed.`;
  }
  if (options.allowLocal) return null;
  if (labels.length === 1) {
    return `Webhook URL host "${hostname}" is a single-label name that only resolves on a local network; use a public fully qualified domain name.`;
  }
  const suffix = LOCAL_SUFFIXES.find((tld) => name === tld || name.endsWith(`.${tld}`));
  if (suffix) {
    return `Webhook URL host "${hostname}" is a local-only name (.${suffix}); use a public domain name.`;
  }
  return null;
}

/**
 * Whether `input` may be registered as (or delivered to as) a webhook endpoint. Pure and synchronous:
 * hostnames are judged by name only, so deliveries must also run {@link checkResolvedAddresses} on what
 * the hostname resolves to. On success use `url.href` (normalised), not `input`.
 */
export function checkWebhookUrl(input: string, options: UrlGuardOptions): UrlCheckResult {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return { ok: false, reason: "Webhook URL is not a valid absolute URL (expected https://host/path)." };
  }

  if (url.protocol !== "https:" && !(options.allowLocal && url.protocol === "http:")) {
    const allowed = options.allowLocal ? "https:// (or http:// in local development)" : "https://";
    return { ok: false, reason: `Webhook URLs must use ${allowed}; got "${url.protocol}".` };
  }
  if (url.username !== "" || url.password !== "") {
    return {
      ok: false,
      reason:
        "Webhook URLs must not contain credentials (user:password@); verify the Sendwire signature instead.",
    };
  }
  const host = url.hostname;
  if (host === "") return { ok: false, reason: "Webhook URL has no host." };
  if (url.port === "0") return { ok: false, reason: "Webhook URL port 0 is not a usable port." };

  if (host.startsWith("[")) {
    const literal = host.slice(1, -1);
    if (!ipaddr.IPv6.isValid(literal)) {
      return { ok: false, reason: `Webhook URL host ${host} is not a valid IPv6 address.` };
    }
    const refused = judgeAddress(ipaddr.IPv6.parse(literal), options);
    return refused
      ? { ok: false, reason: `Webhook URL host ${host} ${refused.reasonPart}` }
      : { ok: true, url };
  }
  if (DOTTED_QUAD.test(host) && ipaddr.IPv4.isValidFourPartDecimal(host)) {
    const refused = judgeAddress(ipaddr.IPv4.parse(host), options);
    return refused
      ? { ok: false, reason: `Webhook URL host ${host} ${refused.reasonPart}` }
      : { ok: true, url };
  }
  const refused = judgeHostname(host, options);
  return refused ? { ok: false, reason: refused } : { ok: true, url };
}

const IPV6_CHARS = /^[0-9a-f:.]*:[0-9a-f:.]*$/i;

/**
 * The WHATWG parser's form of an IPv6 answer, or "" if it refuses it: the same strict parser as for URL
 * hosts, so `::ffff:010.0.0.1` or zone ids are refused instead of read one way here and another elsewhere.
 */
function canonicalIPv6(text: string): string {
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return "";
  }
}

/**
 * Delivery-time check of the A/AAAA answers for a webhook hostname: refused when there are none or when
 * ANY of them is forbidden (the connection may use any one of them). Addresses must be canonical DNS
 * answers: dotted-quad IPv4 or IPv6 without a zone; anything else is refused rather than guessed at.
 */
export function checkResolvedAddresses(
  addresses: readonly string[],
  options: ResolvedAddressOptions,
): AddressCheckResult {
  const subject = options.hostname ? `Webhook host ${options.hostname}` : "Webhook host";
  if (addresses.length === 0) return { ok: false, reason: `${subject} did not resolve to any address.` };
  for (const raw of addresses) {
    const text = raw.trim();
    const v6 = IPV6_CHARS.test(text) ? canonicalIPv6(text) : "";
    let address: IPAddress;
    if (DOTTED_QUAD.test(text) && ipaddr.IPv4.isValidFourPartDecimal(text)) {
      address = ipaddr.IPv4.parse(text);
    } else if (v6 !== "" && ipaddr.IPv6.isValid(v6)) {
      address = ipaddr.IPv6.parse(v6);
    } else {
      return { ok: false, reason: `${subject} resolved to "${raw}", which is not an IP address.` };
    }
    const refused = judgeAddress(address, options);
    if (refused) return { ok: false, reason: `${subject} resolves to ${text}, which ${refused.reasonPart}` };
  }
  return { ok: true };
}

/**
 * Whether a URL hostname (as `URL.hostname` gives it) always means this machine: `localhost`,
 * `*.localhost` (RFC 6761 reserves both for loopback), an address in 127.0.0.0/8 or `[::1]`. Such names
 * are never looked up in DNS: a resolver has nothing to say about them.
 */
export function isLoopbackHost(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.+$/, "");
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (name === "[::1]") return true;
  return DOTTED_QUAD.test(name) && ipaddr.IPv4.isValidFourPartDecimal(name) && name.startsWith("127.");
}

/**
 * The `ALLOW_LOCAL_WEBHOOKS` setting: only the exact string "true" enables it (typos stay safe), and only
 * while Sendwire itself runs locally, i.e. its `publicBaseUrl` (PUBLIC_BASE_URL) is a loopback URL
 * ({@link isLoopbackHost}). Unset, empty, malformed or any other host (a deployed configuration) switches
 * it off whatever the flag says.
 */
export function allowLocalWebhooks(setting: string | undefined, publicBaseUrl?: string): boolean {
  if (setting !== "true" || !publicBaseUrl) return false;
  try {
    return isLoopbackHost(new URL(publicBaseUrl).hostname);
  } catch {
    return false;
  }
}
