import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  allowLocalWebhooks,
  checkResolvedAddresses,
  checkWebhookUrl,
  FORBIDDEN_RANGES,
  isLoopbackHost,
} from "../../src/webhooks/url-guard";

const PROD = { allowLocal: false } as const;
const LOCAL = { allowLocal: true } as const;

function refused(input: string, options: { allowLocal: boolean } = PROD): string {
  const result = checkWebhookUrl(input, options);
  if (result.ok) throw new Error(`expected ${input} to be refused, got ${result.url.href}`);
  return result.reason;
}

function accepted(input: string, options: { allowLocal: boolean } = PROD): URL {
  const result = checkWebhookUrl(input, options);
  if (!result.ok) throw new Error(`expected ${input} to be accepted, got: ${result.reason}`);
  return result.url;
}

// ---- Independent IPv4 arithmetic (not the code under test) for building inputs and oracles. ----

const toInt = (dotted: string) => dotted.split(".").reduce((n, part) => n * 256 + Number(part), 0);
const toDotted = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");

function v4Cidr(cidr: string): { base: number; size: number } {
  const [net = "", bits = ""] = cidr.split("/");
  const size = 2 ** (32 - Number(bits));
  return { base: toInt(net), size };
}

const V4_RANGES = FORBIDDEN_RANGES.filter((r) => !r.cidr.includes(":")).map((r) => ({
  ...r,
  ...v4Cidr(r.cidr),
}));
const V6_RANGES = FORBIDDEN_RANGES.filter((r) => r.cidr.includes(":"));
const inForbiddenV4 = (n: number) => V4_RANGES.some((r) => n >= r.base && n < r.base + r.size);

type Radix = "dec" | "hex" | "oct";
function spellPart(value: number, radix: Radix, upper: boolean, zeros: number): string {
  if (radix === "dec") return String(value);
  if (radix === "hex") {
    const digits = "0".repeat(zeros) + value.toString(16);
    return `0${upper ? "X" : "x"}${upper ? digits.toUpperCase() : digits}`;
  }
  return `0${"0".repeat(zeros)}${value.toString(8)}`;
}

/** An arbitrary spelling of the IPv4 address `n` that inet_aton (and the WHATWG parser) accepts. */
const ipv4Spelling = (n: number) =>
  fc
    .record({
      parts: fc.constantFrom(1, 2, 3, 4),
      radixes: fc.array(fc.constantFrom<Radix>("dec", "hex", "oct"), { minLength: 4, maxLength: 4 }),
      upper: fc.boolean(),
      zeros: fc.nat(2),
      trailingDot: fc.boolean(),
    })
    .map(({ parts, radixes, upper, zeros, trailingDot }) => {
      const bytes = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
      // The last part carries all remaining bytes: a.b.c.d, a.b.(c·256+d), a.(b·65536+…), or one integer.
      const values = [
        ...bytes.slice(0, parts - 1),
        bytes.slice(parts - 1).reduce((acc, b) => acc * 256 + b, 0),
      ];
      const text = values.map((v, i) => spellPart(v, radixes[i] ?? "dec", upper, zeros)).join(".");
      return trailingDot ? `${text}.` : text;
    });

// ---- IPv6 helpers (BigInt), for random addresses inside v6 ranges and odd spellings. ----

function v6ToBigInt(text: string): bigint {
  const [head = "", tail] = text.split("::");
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
}

/** Eight zero-padded groups, optionally uppercased: a spelling the URL parser must canonicalise. */
function v6Full(value: bigint, upper: boolean): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--)
    groups.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16).padStart(4, "0"));
  const text = groups.join(":");
  return upper ? text.toUpperCase() : text;
}

const random128 = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
  .map((words) => words.reduce((acc, w) => (acc << 16n) | BigInt(w), 0n));

function inV6Cidr(value: bigint, cidr: string): boolean {
  const [net = "", bits = ""] = cidr.split("/");
  const shift = BigInt(128 - Number(bits));
  return value >> shift === v6ToBigInt(net) >> shift;
}

describe("checkWebhookUrl: schemes, credentials and malformed input", () => {
  it("accepts public https URLs and returns the normalised URL", () => {
    expect(accepted("https://example.com/hook").href).toBe("https://example.com/hook");
    expect(accepted("https://93.184.216.34/x").href).toBe("https://93.184.216.34/x");
    expect(accepted("https://[2606:4700::1111]/").href).toBe("https://[2606:4700::1111]/");
    expect(accepted("https://[2606:4700:0:0:0:0:0:1111]/").hostname).toBe("[2606:4700::1111]");
    expect(accepted("https://Hooks.Example.COM:8443/a/b?c=d#f").href).toBe(
      "https://hooks.example.com:8443/a/b?c=d#f",
    );
    expect(accepted("  https://example.com/hook\n").href).toBe("https://example.com/hook");
    // Public IPv4 inside IPv6 wrappers is judged as that public IPv4 address.
    expect(accepted("https://[::ffff:93.184.216.34]/").hostname).toBe("[::ffff:5db8:d822]");
    expect(accepted("https://[64:ff9b::8.8.8.8]/").hostname).toBe("[64:ff9b::808:808]");
    // Hostnames that are public by name pass here; their DNS answers are checked at delivery.
    expect(accepted("https://hooks.example.co.uk./in").hostname).toBe("hooks.example.co.uk.");
    expect(accepted("https://xn--bcher-kva.example/").hostname).toBe("xn--bcher-kva.example");
    expect(accepted("https://bücher.example/").hostname).toBe("xn--bcher-kva.example");
  });

  it("refuses http:// unless local webhooks are allowed", () => {
    expect(refused("http://example.com/hook")).toBe('Webhook URLs must use https://; got "http:".');
    expect(refused("HTTP://example.com/hook")).toMatch(/must use https:\/\//);
    expect(accepted("http://example.com/hook", LOCAL).href).toBe("http://example.com/hook");
  });

  it("refuses every other scheme, even with local webhooks allowed", () => {
    for (const input of [
      "ftp://example.com/hook",
      "javascript:alert(1)",
      "JavaScript://example.com/%0aalert(1)",
      "file:///etc/passwd",
      "data:text/plain,hi",
      "ws://example.com/",
      "wss://example.com/",
      "gopher://127.0.0.1:6379/_INFO",
      "blob:https://example.com/uuid",
      "mailto:ops@example.com",
    ]) {
      expect(refused(input), input).toMatch(/^Webhook URLs must use https:\/\/; got "[a-z]+:"\.$/);
      expect(refused(input, LOCAL), input).toMatch(
        /must use https:\/\/ \(or http:\/\/ in local development\)/,
      );
    }
  });

  it("refuses userinfo in any form, even with local webhooks allowed", () => {
    for (const input of [
      "https://user:pass@example.com/hook",
      "https://user@example.com/hook",
      "https://:pass@example.com/hook",
      "https://example.com@127.0.0.1/",
      "https://127.0.0.1@example.com/",
      "https://us%40er:p%3Ass@example.com/",
    ]) {
      expect(refused(input), input).toMatch(/must not contain credentials/);
      expect(refused(input, LOCAL), input).toMatch(/must not contain credentials/);
    }
    expect(refused("http://user:pass@localhost:3000/", LOCAL)).toMatch(/must not contain credentials/);
  });

  it("refuses input that is not an absolute URL or whose host cannot be an address", () => {
    for (const input of [
      "",
      "example.com/hook",
      "/hooks/in",
      "https://",
      "https://[::1/",
      "https://1.2.3.4.5/",
      "https://256.0.0.1/",
      "https://0x100000000/",
      "https://4294967296/",
      "https://[fe80::1%25eth0]/",
      "https://exa mple.com/",
    ]) {
      expect(refused(input), JSON.stringify(input)).toMatch(/not a valid absolute URL/);
    }
    expect(refused("https://example..com/")).toMatch(/is not a valid hostname/);
    expect(refused("https://example.com:0/")).toMatch(/port 0/);
  });

  it("accepts any non-zero port on a public host", () => {
    expect(accepted("https://example.com:1/").port).toBe("1");
    expect(accepted("https://example.com:65535/").port).toBe("65535");
    expect(accepted("https://example.com:443/").href).toBe("https://example.com/");
  });
});

describe("checkWebhookUrl: IPv4 spellings", () => {
  // [input, the dotted form the URL parser must produce, the range the reason must name]
  const cases: [string, string, string][] = [
    ["https://127.0.0.1/", "127.0.0.1", "127.0.0.0/8"],
    ["https://2130706433/", "127.0.0.1", "127.0.0.0/8"],
    ["https://0177.0.0.1/", "127.0.0.1", "127.0.0.0/8"],
    ["https://017700000001/", "127.0.0.1", "127.0.0.0/8"],
    ["https://0x7f.0.0.1/", "127.0.0.1", "127.0.0.0/8"],
    ["https://0x7f000001/", "127.0.0.1", "127.0.0.0/8"],
    ["https://0X7F000001/", "127.0.0.1", "127.0.0.0/8"],
    ["https://127.1/", "127.0.0.1", "127.0.0.0/8"],
    ["https://0x7f.1/", "127.0.0.1", "127.0.0.0/8"],
    ["https://127.0.1/", "127.0.0.1", "127.0.0.0/8"],
    ["https://0x7f.0.0x0.01/", "127.0.0.1", "127.0.0.0/8"],
    ["https://0177.0x0.1/", "127.0.0.1", "127.0.0.0/8"],
    ["https://00000177.0.0.1/", "127.0.0.1", "127.0.0.0/8"],
    ["https://127.0.0.1./", "127.0.0.1", "127.0.0.0/8"],
    ["https://127.254.3.9:8443/", "127.254.3.9", "127.0.0.0/8"],
    ["https://１２７.０.０.１/", "127.0.0.1", "127.0.0.0/8"],
    ["https://127。0。0。1/", "127.0.0.1", "127.0.0.0/8"],
    ["https://10.1/", "10.0.0.1", "10.0.0.0/8"],
    ["https://167772161/", "10.0.0.1", "10.0.0.0/8"],
    ["https://0xa.0.0.1/", "10.0.0.1", "10.0.0.0/8"],
    ["https://012.0.0.1/", "10.0.0.1", "10.0.0.0/8"],
    ["https://172.16.0.1/", "172.16.0.1", "172.16.0.0/12"],
    ["https://172.31.255.255/", "172.31.255.255", "172.16.0.0/12"],
    ["https://192.168.1.1/", "192.168.1.1", "192.168.0.0/16"],
    ["https://0xc0a80101/", "192.168.1.1", "192.168.0.0/16"],
    ["https://0.0.0.0/", "0.0.0.0", "0.0.0.0/8"],
    ["https://0/", "0.0.0.0", "0.0.0.0/8"],
    ["https://0x0/", "0.0.0.0", "0.0.0.0/8"],
    ["https://0.1.2.3/", "0.1.2.3", "0.0.0.0/8"],
    ["https://100.64.0.1/", "100.64.0.1", "100.64.0.0/10"],
    ["https://100.127.255.254/", "100.127.255.254", "100.64.0.0/10"],
    ["https://169.254.169.254/", "169.254.169.254", "169.254.169.254/32"],
    ["https://2852039166/", "169.254.169.254", "169.254.169.254/32"],
    ["https://0xa9fea9fe/", "169.254.169.254", "169.254.169.254/32"],
    ["https://0251.0376.0251.0376/", "169.254.169.254", "169.254.169.254/32"],
    ["https://169.254.43518/", "169.254.169.254", "169.254.169.254/32"],
    ["https://169.254.1.1/", "169.254.1.1", "169.254.0.0/16"],
    ["https://100.100.100.200/", "100.100.100.200", "100.100.100.200/32"],
    ["https://192.0.0.192/", "192.0.0.192", "192.0.0.0/24"],
    ["https://192.0.2.10/", "192.0.2.10", "192.0.2.0/24"],
    ["https://198.18.0.1/", "198.18.0.1", "198.18.0.0/15"],
    ["https://198.19.255.255/", "198.19.255.255", "198.18.0.0/15"],
    ["https://198.51.100.7/", "198.51.100.7", "198.51.100.0/24"],
    ["https://203.0.113.9/", "203.0.113.9", "203.0.113.0/24"],
    ["https://224.0.0.1/", "224.0.0.1", "224.0.0.0/4"],
    ["https://239.255.255.250/", "239.255.255.250", "224.0.0.0/4"],
    ["https://240.0.0.1/", "240.0.0.1", "240.0.0.0/4"],
    ["https://255.255.255.255/", "255.255.255.255", "255.255.255.255/32"],
    ["https://4294967295/", "255.255.255.255", "255.255.255.255/32"],
  ];

  it.each(cases)("%s is refused as %s in %s", (input, dotted, cidr) => {
    // The premise: workerd's WHATWG URL parser canonicalises every spelling to the dotted quad.
    expect(new URL(input).hostname).toBe(dotted);
    const reason = refused(input);
    expect(reason).toContain(`host ${dotted} is a`);
    expect(reason).toContain(`(${cidr})`);
  });

  it("gives actionable reasons", () => {
    expect(refused("https://10.0.0.5/hook")).toBe(
      "Webhook URL host 10.0.0.5 is a private address (10.0.0.0/8); webhooks can only be delivered to public internet addresses.",
    );
    expect(refused("https://169.254.169.254/latest/meta-data/", LOCAL)).toBe(
      "Webhook URL host 169.254.169.254 is a cloud metadata address (169.254.169.254/32); this range is never allowed, even with ALLOW_LOCAL_WEBHOOKS=true.",
    );
  });

  it("accepts the public neighbours of each private range", () => {
    for (const host of [
      "9.255.255.255",
      "11.0.0.0",
      "100.63.255.255",
      "100.128.0.0",
      "126.255.255.255",
      "128.0.0.0",
      "169.253.255.255",
      "169.255.0.0",
      "172.15.255.255",
      "172.32.0.0",
      "192.0.1.0",
      "192.0.3.0",
      "192.167.255.255",
      "192.169.0.0",
      "198.17.255.255",
      "198.20.0.0",
      "223.255.255.255",
      "1.1.1.1",
      "8.8.8.8",
    ]) {
      expect(accepted(`https://${host}/`).hostname, host).toBe(host);
    }
  });
});

describe("checkWebhookUrl: IPv6 literals", () => {
  // [input, text the reason must contain]
  const cases: [string, string][] = [
    ["https://[::1]/", "loopback address (::1/128)"],
    ["https://[0:0:0:0:0:0:0:1]/", "loopback address (::1/128)"],
    ["https://[0000:0000:0000:0000:0000:0000:0000:0001]:8443/", "loopback address (::1/128)"],
    ["https://[::]/", "unspecified address (::/128)"],
    ["https://[::ffff:127.0.0.1]/", "IPv4-mapped address for 127.0.0.1, a loopback address (127.0.0.0/8)"],
    ["https://[::ffff:7f00:1]/", "IPv4-mapped address for 127.0.0.1, a loopback address (127.0.0.0/8)"],
    ["https://[0:0:0:0:0:FFFF:7F00:0001]/", "IPv4-mapped address for 127.0.0.1"],
    ["https://[::ffff:a9fe:a9fe]/", "IPv4-mapped address for 169.254.169.254, a cloud metadata address"],
    ["https://[::ffff:10.0.0.1]/", "IPv4-mapped address for 10.0.0.1, a private address (10.0.0.0/8)"],
    ["https://[::ffff:0.0.0.0]/", "IPv4-mapped address for 0.0.0.0"],
    ["https://[fe80::1]/", "link-local address (fe80::/10)"],
    ["https://[febf:ffff::1]/", "link-local address (fe80::/10)"],
    ["https://[fc00::1]/", "private (unique local) address (fc00::/7)"],
    ["https://[fd12:3456:789a::1]/", "private (unique local) address (fc00::/7)"],
    ["https://[fd00:ec2::254]/", "cloud metadata address (AWS IPv6) (fd00:ec2::254/128)"],
    ["https://[ff02::1]/", "multicast address (ff00::/8)"],
    ["https://[ff05::1:3]/", "multicast address (ff00::/8)"],
    ["https://[64:ff9b::a00:1]/", "NAT64 address for 10.0.0.1, a private address (10.0.0.0/8)"],
    ["https://[64:ff9b::127.0.0.1]/", "NAT64 address for 127.0.0.1, a loopback address"],
    ["https://[64:ff9b::a9fe:a9fe]/", "NAT64 address for 169.254.169.254, a cloud metadata address"],
    ["https://[64:ff9b:1::1]/", "local-use NAT64 address (64:ff9b:1::/48)"],
    ["https://[2002:7f00:1::]/", "6to4 address for 127.0.0.1, a loopback address"],
    ["https://[2002:a9fe:a9fe::1]/", "6to4 address for 169.254.169.254"],
    ["https://[2001:db8::1]/", "documentation address (2001:db8::/32)"],
    ["https://[3fff::1]/", "documentation address (3fff::/20)"],
    ["https://[2001::1]/", "Teredo tunnel address (2001::/32)"],
    ["https://[100::1]/", "discard-only address (100::/64)"],
    ["https://[fec0::1]/", "site-local address (fec0::/10)"],
    // IPv4-compatible (deprecated) and IPv4-translated forms: not global unicast, so refused outright.
    ["https://[::127.0.0.1]/", "non-global IPv6 address (outside 2000::/3)"],
    ["https://[::8.8.8.8]/", "non-global IPv6 address (outside 2000::/3)"],
    ["https://[::ffff:0:7f00:1]/", "non-global IPv6 address (outside 2000::/3)"],
    ["https://[4000::1]/", "non-global IPv6 address (outside 2000::/3)"],
  ];

  it.each(cases)("%s is refused (%s)", (input, expected) => {
    const reason = refused(input);
    expect(reason).toContain(expected);
    expect(reason).toContain(`host ${new URL(input).hostname} is `);
  });

  it("accepts global unicast IPv6", () => {
    for (const host of ["[2606:4700::1111]", "[2a00:1450:4001:80b::200e]", "[2001:4860:4860::8888]"]) {
      expect(accepted(`https://${host}/`).hostname).toBe(host);
    }
  });
});

describe("checkWebhookUrl: hostnames", () => {
  it("refuses localhost in every spelling", () => {
    for (const input of [
      "https://localhost/",
      "https://localhost./",
      "https://localhost../",
      "https://LOCALHOST/",
      "https://LocalHost.:8443/",
      "https://api.localhost/",
      "https://a.b.LOCALHOST./",
      "https://ｌｏｃａｌｈｏｓｔ/",
    ]) {
      expect(refused(input), input).toMatch(/is a (local-only name \(\.localhost\)|single-label name)/);
    }
  });

  it("refuses local-only names and single-label hosts", () => {
    expect(refused("https://printer.local/")).toContain("local-only name (.local)");
    expect(refused("https://db.internal/")).toContain("local-only name (.internal)");
    expect(refused("https://host.docker.internal:3000/")).toContain("local-only name (.internal)");
    expect(refused("https://router.home.arpa/")).toContain("local-only name (.home.arpa)");
    expect(refused("https://nas.lan/")).toContain("local-only name (.lan)");
    expect(refused("https://intranet/")).toContain("single-label name");
    expect(refused("https://receiver:3000/hook")).toContain("single-label name");
    expect(refused("https://com./")).toContain("single-label name");
  });

  it("refuses metadata service names, even with local webhooks allowed", () => {
    for (const input of [
      "https://metadata.google.internal/computeMetadata/v1/",
      "https://METADATA.google.internal./",
      "https://metadata/",
      "https://metadata.goog/",
      "https://instance-data.ec2.internal/",
    ]) {
      expect(refused(input), input).toMatch(/cloud metadata service and is never allowed/);
      expect(refused(input.replace("https:", "http:"), LOCAL), input).toMatch(
        /metadata service and is never/,
      );
    }
  });

  it("does not mistake public names that merely contain local words", () => {
    for (const host of [
      "localhost.example.com",
      "local.example.com",
      "internal.example.org",
      "mylocal.dev",
    ]) {
      expect(accepted(`https://${host}/`).hostname).toBe(host);
    }
  });
});

describe("checkWebhookUrl with allowLocal (ALLOW_LOCAL_WEBHOOKS=true)", () => {
  it("accepts http and loopback, private and local-only hosts", () => {
    for (const input of [
      "http://localhost:3000/hook",
      "http://LOCALHOST./hook",
      "http://api.localhost:8787/",
      "http://127.0.0.1:8787/",
      "http://127.1:8787/",
      "http://2130706433/",
      "http://[::1]:8787/",
      "http://[::ffff:127.0.0.1]/",
      "http://10.0.0.5/",
      "http://192.168.1.20:8080/",
      "http://172.20.0.3/",
      "http://100.101.102.103/",
      "http://[fd12::1]/",
      "http://host.docker.internal:3000/",
      "http://printer.local/",
      "http://receiver:3000/hook",
      "https://localhost/",
      "https://example.com/hook",
    ]) {
      expect(accepted(input, LOCAL).protocol, input).toMatch(/^https?:$/);
    }
  });

  it("still refuses link-local, metadata, unspecified, multicast and reserved addresses", () => {
    for (const input of [
      "http://169.254.169.254/",
      "http://0xa9fea9fe/",
      "http://169.254.10.10/",
      "http://100.100.100.200/",
      "http://[fd00:ec2::254]/",
      "http://[::ffff:169.254.169.254]/",
      "http://[fe80::1]/",
      "http://0.0.0.0:3000/",
      "http://0/",
      "http://[::]/",
      "http://224.0.0.251/",
      "http://[ff02::1]/",
      "http://255.255.255.255/",
      "http://240.0.0.1/",
      "http://192.0.2.1/",
      "http://[2001:db8::1]/",
    ]) {
      expect(refused(input, LOCAL), input).toMatch(/never allowed, even with ALLOW_LOCAL_WEBHOOKS=true\.$/);
    }
  });
});

describe("checkResolvedAddresses", () => {
  it("accepts public answers", () => {
    expect(checkResolvedAddresses(["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"], PROD)).toEqual({
      ok: true,
    });
    expect(checkResolvedAddresses(["::ffff:93.184.216.34", "64:ff9b::808:808"], PROD)).toEqual({ ok: true });
  });

  it("refuses when any answer is forbidden, naming the host, address and range", () => {
    expect(
      checkResolvedAddresses(["93.184.216.34", "10.1.2.3"], { ...PROD, hostname: "hooks.example.com" }),
    ).toEqual({
      ok: false,
      reason:
        "Webhook host hooks.example.com resolves to 10.1.2.3, which is a private address (10.0.0.0/8); webhooks can only be delivered to public internet addresses.",
    });
    for (const address of [
      "127.0.0.1",
      "0.0.0.0",
      "169.254.169.254",
      "100.64.0.1",
      "::1",
      "::",
      "fe80::1",
      "fd00:ec2::254",
      "FD00:EC2:0:0:0:0:0:254",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "64:ff9b::a00:1",
      "ff02::1",
    ]) {
      const result = checkResolvedAddresses(["1.1.1.1", address], PROD);
      expect(result.ok, address).toBe(false);
      if (!result.ok) expect(result.reason).toMatch(/^Webhook host resolves to \S+, which is /);
    }
  });

  it("refuses an empty answer and anything that is not a canonical address", () => {
    expect(checkResolvedAddresses([], { ...PROD, hostname: "gone.example.com" })).toEqual({
      ok: false,
      reason: "Webhook host gone.example.com did not resolve to any address.",
    });
    for (const garbage of [
      "",
      "localhost",
      "0x7f000001",
      "2130706433",
      "127.1",
      "0177.0.0.1",
      "010.0.0.1",
      "1.2.3.4/32",
      "fe80::1%eth0",
      "[::1]",
      "::ffff:010.0.0.1",
      "::ffff:127.1",
      "1::2::3",
      "http://[::1]/",
    ]) {
      const result = checkResolvedAddresses([garbage], PROD);
      expect(result.ok, garbage).toBe(false);
      if (!result.ok) expect(result.reason).toContain("which is not an IP address");
    }
  });

  it("with allowLocal accepts loopback and private answers but never metadata", () => {
    expect(checkResolvedAddresses(["127.0.0.1", "::1", "192.168.0.2"], LOCAL)).toEqual({ ok: true });
    const result = checkResolvedAddresses(["127.0.0.1", "169.254.169.254"], LOCAL);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain("never allowed, even with ALLOW_LOCAL_WEBHOOKS=true");
  });
});

describe("FORBIDDEN_RANGES", () => {
  it("lists every range the issue names, each as an aligned CIDR", () => {
    const cidrs = FORBIDDEN_RANGES.map((r) => r.cidr);
    for (const required of [
      "0.0.0.0/8",
      "10.0.0.0/8",
      "100.64.0.0/10",
      "127.0.0.0/8",
      "169.254.0.0/16",
      "172.16.0.0/12",
      "192.0.0.0/24",
      "192.0.2.0/24",
      "192.168.0.0/16",
      "198.18.0.0/15",
      "198.51.100.0/24",
      "203.0.113.0/24",
      "224.0.0.0/4",
      "240.0.0.0/4",
      "255.255.255.255/32",
      "::/128",
      "::1/128",
      "fc00::/7",
      "fe80::/10",
      "ff00::/8",
      "2001:db8::/32",
      "fd00:ec2::254/128",
    ]) {
      expect(cidrs).toContain(required);
    }
    for (const range of V4_RANGES) expect(range.base % range.size, range.cidr).toBe(0);
    for (const range of V6_RANGES) {
      const [net = "", bits = ""] = range.cidr.split("/");
      const value = v6ToBigInt(net);
      expect(value & ((1n << BigInt(128 - Number(bits))) - 1n), range.cidr).toBe(0n);
    }
    // Only loopback and private-network ranges are lifted by allowLocal.
    expect(FORBIDDEN_RANGES.filter((r) => r.allowedLocally).map((r) => r.cidr)).toEqual([
      "10.0.0.0/8",
      "100.64.0.0/10",
      "127.0.0.0/8",
      "172.16.0.0/12",
      "192.168.0.0/16",
      "::1/128",
      "fc00::/7",
    ]);
  });
});

describe("properties", () => {
  it("every IPv4 address in every forbidden range is refused, in any spelling", () => {
    for (const range of V4_RANGES) {
      const address = fc.integer({ min: range.base, max: range.base + range.size - 1 });
      fc.assert(
        fc.property(
          address.chain((n) => fc.tuple(fc.constant(n), ipv4Spelling(n))),
          ([n, spelling]) => {
            const input = `https://${spelling}/hook`;
            expect(new URL(input).hostname).toBe(toDotted(n));
            expect(refused(input)).toContain(`host ${toDotted(n)} is a`);
            if (!range.allowedLocally)
              expect(refused(input.replace("https", "http"), LOCAL)).toContain("never");
          },
        ),
        { numRuns: 60 },
      );
    }
  });

  it("every IPv4 address outside the forbidden ranges is accepted, in any spelling", () => {
    const publicAddress = fc.integer({ min: 0, max: 0xffffffff }).filter((n) => !inForbiddenV4(n));
    fc.assert(
      fc.property(
        publicAddress.chain((n) => fc.tuple(fc.constant(n), ipv4Spelling(n))),
        ([n, spelling]) => {
          expect(accepted(`https://${spelling}/hook`).hostname).toBe(toDotted(n));
          expect(checkResolvedAddresses([toDotted(n)], PROD)).toEqual({ ok: true });
        },
      ),
      { numRuns: 500 },
    );
  });

  it("forbidden IPv4 addresses stay refused inside IPv4-mapped, NAT64 and 6to4 IPv6 addresses", () => {
    const forbidden = fc
      .constantFrom(...V4_RANGES)
      .chain((r) => fc.integer({ min: r.base, max: r.base + r.size - 1 }));
    const wrap = fc.constantFrom(
      (n: number) => `::ffff:${toDotted(n)}`,
      (n: number) => `::ffff:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`,
      (n: number) => `0:0:0:0:0:FFFF:${toDotted(n)}`,
      (n: number) => `64:ff9b::${toDotted(n)}`,
      (n: number) => `64:ff9b:0:0:0:0:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`,
      (n: number) => `2002:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}::1`,
    );
    fc.assert(
      fc.property(forbidden, wrap, (n, spell) => {
        expect(refused(`https://[${spell(n)}]/`)).toContain(`address for ${toDotted(n)}, a`);
        expect(checkResolvedAddresses([spell(n)], PROD).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it("every IPv6 address in every forbidden IPv6 range is refused, in full or compressed form", () => {
    const embeddings = ["::ffff:0:0/96", "64:ff9b::/96", "2002::/16"];
    for (const range of V6_RANGES) {
      const [net = "", bits = ""] = range.cidr.split("/");
      const hostBits = BigInt(128 - Number(bits));
      const inRange = random128
        .map((r) => (v6ToBigInt(net) & ~((1n << hostBits) - 1n)) | (r & ((1n << hostBits) - 1n)))
        // Embedded IPv4 is judged by the IPv4 rules (its own property above), and a more specific
        // row may name the refusal; here only "refused" matters.
        .filter((v) => !embeddings.some((cidr) => inV6Cidr(v, cidr)));
      fc.assert(
        fc.property(inRange, fc.boolean(), (value, upper) => {
          const full = v6Full(value, upper);
          const canonical = new URL(`https://[${full}]/`).hostname;
          expect(refused(`https://[${full}]/`)).toContain(`host ${canonical} is a`);
          expect(refused(`https://${canonical}/`)).toContain(`host ${canonical} is a`);
          expect(checkResolvedAddresses([full], PROD).ok).toBe(false);
        }),
        { numRuns: 40 },
      );
    }
  });

  it("a single forbidden answer among public ones is always refused", () => {
    const publicV4 = fc
      .integer({ min: 0, max: 0xffffffff })
      .filter((n) => !inForbiddenV4(n))
      .map(toDotted);
    const forbiddenV4 = fc
      .constantFrom(...V4_RANGES)
      .chain((r) => fc.integer({ min: r.base, max: r.base + r.size - 1 }))
      .map(toDotted);
    fc.assert(
      fc.property(fc.array(publicV4, { maxLength: 6 }), forbiddenV4, fc.nat(), (publics, bad, at) => {
        const answers = [...publics];
        answers.splice(at % (publics.length + 1), 0, bad);
        const result = checkResolvedAddresses(answers, PROD);
        expect(result).toEqual({
          ok: false,
          reason: expect.stringContaining(`resolves to ${bad}, which is a`),
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe("allowLocalWebhooks", () => {
  it("is enabled only by the exact string true", () => {
    expect(allowLocalWebhooks("true", "http://localhost:8787")).toBe(true);
    for (const value of [undefined, "", "false", "TRUE", "1", "yes", " true"]) {
      expect(allowLocalWebhooks(value, "http://localhost:8787"), String(value)).toBe(false);
    }
  });

  it("is honoured only while Sendwire's own public URL is a loopback URL", () => {
    for (const local of [
      "http://localhost:8787",
      "http://LOCALHOST:9000/",
      "http://sendwire.localhost",
      "http://127.0.0.1:8787",
      "http://127.8.9.10",
      "http://[::1]:8787",
      "https://localhost",
    ]) {
      expect(allowLocalWebhooks("true", local), local).toBe(true);
    }
    // Unset or empty is what a deployment that forgot PUBLIC_BASE_URL looks like: not local.
    for (const other of [
      undefined,
      "",
      "https://api.example.com",
      "http://localhost.example.com",
      "http://10.0.0.5:8787",
      "http://[::ffff:127.0.0.1]",
      "http://0.0.0.0:8787",
      "not a url",
    ]) {
      expect(allowLocalWebhooks("true", other), String(other)).toBe(false);
    }
  });
});

describe("isLoopbackHost", () => {
  it("knows localhost, *.localhost, 127.0.0.0/8 and [::1] as URL.hostname spells them", () => {
    for (const host of [
      "localhost",
      "LocalHost",
      "localhost.",
      "a.b.localhost",
      "127.0.0.1",
      "127.255.0.9",
      "[::1]",
    ]) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of [
      "localhost.com",
      "notlocalhost",
      "128.0.0.1",
      "10.0.0.1",
      "[::2]",
      "::1",
      "0.0.0.0",
      "",
    ]) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });
});
