import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import { fakeDns } from "../fakes/receiver-client";
import { call, expectError, json, type SeededKey, seedTenant } from "../helpers";
import { callWith, DEPLOYED, described, until } from "./support";

/**
 * SSRF through webhook endpoints: a URL is tenant input that Sendwire fetches from its own network. As
 * deployed, every spelling of a loopback, private, link-local, CGNAT, unique-local or metadata address, every
 * local-only name, credentials in the URL and plain http are refused at registration (POST and PATCH) with
 * 400 webhook_url_refused; a name that resolves to such an address is refused too; and a name that was public
 * at registration but points at the metadata service by delivery time is not delivered to.
 */

const REFUSED_SPELLINGS = [
  // Loopback, in every IPv4 spelling the WHATWG parser accepts.
  "https://127.0.0.1/in",
  "https://127.1/in",
  "https://2130706433/in",
  "http://2130706433/",
  "https://0x7f.1/in",
  "https://0x7f000001/in",
  "https://017700000001/in",
  "https://0177.0.0.1/in",
  "https://127.000.000.001/in",
  "https://１２７.０.０.１/in", // fullwidth digits
  "https://[::1]/in",
  "https://[0:0:0:0:0:0:0:1]/in",
  "https://[::ffff:127.0.0.1]/in", // IPv4-mapped IPv6
  "https://[::ffff:7f00:1]/in",
  "https://[64:ff9b::7f00:1]/in", // NAT64
  "https://[2002:7f00:1::]/in", // 6to4
  // Unspecified ("this host").
  "https://0.0.0.0/in",
  "https://0/in",
  "https://[::]/in",
  // Cloud metadata.
  "https://169.254.169.254/latest/meta-data/",
  "https://[::ffff:a9fe:a9fe]/latest/meta-data/",
  "https://[fd00:ec2::254]/latest/meta-data/",
  "https://metadata.google.internal/computeMetadata/v1/",
  "https://metadata/computeMetadata/v1/",
  "https://instance-data.ec2.internal/latest/",
  // Private, CGNAT, link-local, unique-local.
  "https://10.0.0.1/in",
  "https://10.255.255.255/in",
  "https://192.168.0.1/in",
  "https://172.16.0.1/in",
  "https://172.31.255.254/in",
  "https://100.64.0.1/in",
  "https://100.127.255.254/in",
  "https://169.254.10.1/in",
  "https://[fc00::1]/in",
  "https://[fd12:3456::1]/in",
  "https://[fe80::1]/in",
  // Local-only names.
  "https://localhost/in",
  "https://localhost./in",
  "https://LOCALHOST/in",
  "https://app.localhost/in",
  "https://printer.local/in",
  "https://intranet/in",
  // Credentials in the URL, and a host that is not the one it looks like.
  "https://good.com@127.0.0.1/in",
  "https://user:secret@hooks.example.com/in",
  // Not https.
  "http://hooks.example.com/in",
  "ftp://hooks.example.com/in",
  "file:///etc/passwd",
];

/** Refused even in local development (ALLOW_LOCAL_WEBHOOKS=true with a local PUBLIC_BASE_URL). */
const NEVER_ALLOWED = [
  "http://169.254.169.254/latest/meta-data/",
  "http://[::ffff:a9fe:a9fe]/",
  "http://metadata.google.internal/",
  "http://0.0.0.0:8080/",
  "http://[fe80::1]/",
  "https://user:pw@localhost/hooks",
];

const PUBLIC_V4 = "93.184.216.34";

/** A fresh name under the fake resolver, answering `records`. */
async function name(label: string, records: { a?: string[]; aaaa?: string[] }) {
  const host = `${label}-${crypto.randomUUID().slice(0, 8)}.acme-hooks.test`;
  await fakeDns().setRecords(host, records);
  return host;
}

function register(bindings: Env, key: string, url: string) {
  return callWith(bindings, "POST", "/v1/webhook-endpoints", { key, body: { url, events: ["*"] } });
}

async function expectRefused(res: Response, url: string) {
  const { status, text } = await described(res);
  expect(status, `${url}: ${text}`).toBe(400);
  const error = JSON.parse(text).error;
  expect(error.code, url).toBe("webhook_url_refused");
  expect(error.details, url).toEqual([{ path: "url", message: expect.any(String) }]);
}

describe("promise: a webhook URL that reaches an internal address is refused at registration", () => {
  let tenant: SeededKey;
  let endpointId: string;

  beforeAll(async () => {
    tenant = await seedTenant();
    const host = await name("public", { a: [PUBLIC_V4] });
    const res = await register(DEPLOYED, tenant.secret, `https://${host}/in`);
    expect(res.status, await res.clone().text()).toBe(201);
    endpointId = (await json(res)).id;
  });

  it.each(REFUSED_SPELLINGS)("refuses %s on POST and PATCH, as deployed", async (url) => {
    await expectRefused(await register(DEPLOYED, tenant.secret, url), url);
    await expectRefused(
      await callWith(DEPLOYED, "PATCH", `/v1/webhook-endpoints/${endpointId}`, {
        key: tenant.secret,
        body: { url },
      }),
      url,
    );
  });

  it("the PATCHes above changed nothing: the endpoint keeps its public URL", async () => {
    const shown = await json(
      await call("GET", `/v1/webhook-endpoints/${endpointId}`, { key: tenant.secret }),
    );
    expect(shown.url).toMatch(/^https:\/\/public-[0-9a-f]{8}\.acme-hooks\.test\/in$/);
  });

  it("refuses a name that resolves to an internal address, even among public ones, or to nothing", async () => {
    const cases: [string, { a?: string[]; aaaa?: string[] }][] = [
      ["loopback", { a: ["127.0.0.1"] }],
      ["private", { a: ["10.1.2.3"] }],
      ["mixed", { a: [PUBLIC_V4, "192.168.0.10"] }],
      ["cgnat", { a: ["100.64.1.1"] }],
      ["metadata", { a: ["169.254.169.254"] }],
      ["unspecified", { a: ["0.0.0.0"] }],
      ["v6-loopback", { aaaa: ["::1"] }],
      ["v6-ula", { a: [PUBLIC_V4], aaaa: ["fd00::1"] }],
      ["v6-link-local", { aaaa: ["fe80::1"] }],
      ["v6-mapped", { aaaa: ["::ffff:127.0.0.1"] }],
      ["nothing", {}],
    ];
    for (const [label, records] of cases) {
      const url = `https://${await name(label, records)}/in`;
      await expectRefused(await register(DEPLOYED, tenant.secret, url), url);
    }
  });

  it("ALLOW_LOCAL_WEBHOOKS is ignored unless exactly true and Sendwire itself runs on a loopback URL", async () => {
    const url = "http://127.0.0.1:9000/hooks";
    for (const bindings of [
      { ...env, ALLOW_LOCAL_WEBHOOKS: "true", PUBLIC_BASE_URL: "https://api.example.com" },
      { ...env, ALLOW_LOCAL_WEBHOOKS: "true", PUBLIC_BASE_URL: "https://localhost.example.com" },
      { ...env, ALLOW_LOCAL_WEBHOOKS: "true", PUBLIC_BASE_URL: undefined },
      { ...env, ALLOW_LOCAL_WEBHOOKS: "TRUE", PUBLIC_BASE_URL: "http://localhost:8787" },
      { ...env, ALLOW_LOCAL_WEBHOOKS: "1", PUBLIC_BASE_URL: "http://localhost:8787" },
    ]) {
      await expectRefused(
        await register(bindings, tenant.secret, url),
        JSON.stringify(bindings.PUBLIC_BASE_URL),
      );
    }
  });

  it.each(NEVER_ALLOWED)("refuses %s even in local development", async (url) => {
    expect(env.ALLOW_LOCAL_WEBHOOKS).toBe("true");
    await expectRefused(await register(env, tenant.secret, url), url);
  });
});

describe("promise: a name rebound to an internal address after registration is not delivered to", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("public at registration, the metadata address at delivery: the attempt is refused, nothing is sent", async () => {
    const tenant = await seedTenant();
    const dns = fakeDns();
    const host = await name("rebind", { a: [PUBLIC_V4] });
    const res = await register(DEPLOYED, tenant.secret, `https://${host}/hooks`);
    expect(res.status, await res.clone().text()).toBe(201);
    const endpoint = await json(res);

    await dns.setRecords(host, { a: ["169.254.169.254"] });
    const queriesBefore = await dns.queryCount(host);
    // The fake resolver answers with a 60 s TTL and the guard caches answers for their TTL; a rebinding
    // attacker answers with TTL 0. Move the clock past the TTL (Date only, still ticking) so the cached public
    // answer has expired, as it would have at once for the attacker's.
    vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
    vi.setSystemTime(Date.now() + 10 * 60_000);

    // The delivery runs in the queue consumer with the harness's bindings (local webhooks on): the metadata
    // address is refused there too, as it is in every configuration.
    const test = await call("POST", `/v1/webhook-endpoints/${endpoint.id}/test`, { key: tenant.secret });
    expect(test.status, await test.clone().text()).toBe(202);
    const deliveryId = (await json(test)).delivery.id;
    const delivery = await until(
      async () =>
        json(
          await call("GET", `/v1/webhook-endpoints/${endpoint.id}/deliveries/${deliveryId}`, {
            key: tenant.secret,
          }),
        ),
      (d) => d.attempts >= 1,
      "the first delivery attempt",
    );
    expect(delivery.attempt_log.at(-1)).toMatchObject({ status_code: null, response_excerpt: null });
    expect(delivery.attempt_log.at(-1).error).toMatch(/URL guard.*169\.254\.169\.254/);
    expect(delivery.status).not.toBe("succeeded");
    // It was looked up again at delivery time, not judged by the registration's answer.
    expect(await dns.queryCount(host)).toBeGreaterThan(queriesBefore);
    await expectError(
      await callWith(DEPLOYED, "PATCH", `/v1/webhook-endpoints/${endpoint.id}`, {
        key: tenant.secret,
        body: { url: `https://${host}/hooks` },
      }),
      400,
      "webhook_url_refused",
    );
    await call("DELETE", `/v1/webhook-endpoints/${endpoint.id}`, { key: tenant.secret });
  });
});
