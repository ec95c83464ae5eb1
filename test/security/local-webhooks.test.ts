/**
 * ALLOW_LOCAL_WEBHOOKS opens the URL guard to loopback and private networks, so it must only ever take
 * effect while Sendwire itself runs locally (PUBLIC_BASE_URL on localhost/loopback). And while it does,
 * loopback names never go to the DNS-over-HTTPS resolver, and a lookup that fails is a warning that says
 * what happens next.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import { fakeDns, fakeReceiver } from "../fakes/receiver-client";
import { expectError, fetchWorker, json, seedTenant } from "../helpers";

function createEndpoint(bindings: Env, key: string, url: string) {
  return fetchWorker(
    new Request("http://localhost/v1/webhook-endpoints", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ url, events: ["*"] }),
    }),
    bindings,
  );
}

const unique = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

afterEach(() => {
  vi.restoreAllMocks();
});

describe("promise: local webhook addresses are only ever allowed while Sendwire itself runs on loopback", () => {
  it("is ignored unless PUBLIC_BASE_URL is a loopback URL: a loopback endpoint is then refused", async () => {
    const tenant = await seedTenant();
    for (const publicBaseUrl of [
      undefined,
      "",
      "https://api.example.com",
      "http://localhost.example.com",
      "http://10.0.0.5:8787",
      "not a url",
    ]) {
      const bindings: Env = { ...env, ALLOW_LOCAL_WEBHOOKS: "true", PUBLIC_BASE_URL: publicBaseUrl };
      const error = await expectError(
        await createEndpoint(bindings, tenant.secret, "http://127.0.0.1/hooks"),
        400,
        "webhook_url_refused",
      );
      expect(error.details[0]?.path, String(publicBaseUrl)).toBe("url");
    }
    for (const publicBaseUrl of ["http://localhost:8787", "http://127.0.0.1:9000", "http://[::1]:8787"]) {
      const bindings: Env = { ...env, ALLOW_LOCAL_WEBHOOKS: "true", PUBLIC_BASE_URL: publicBaseUrl };
      const res = await createEndpoint(bindings, tenant.secret, "http://127.0.0.1/hooks");
      expect(res.status, `${publicBaseUrl}: ${await res.clone().text()}`).toBe(201);
      const { id } = await json<{ id: string }>(res);
      await fetchWorker(
        new Request(`http://localhost/v1/webhook-endpoints/${id}`, {
          method: "DELETE",
          headers: { authorization: `Bearer ${tenant.secret}` },
        }),
      );
    }
  });

  it("never sends loopback names to the DNS resolver (other local names still are)", async () => {
    const tenant = await seedTenant();
    const dns = fakeDns();
    const loopback = `${unique("hooks")}.localhost`;
    const res = await createEndpoint(env, tenant.secret, `http://${loopback}:8080/in`);
    expect(res.status, await res.clone().text()).toBe(201);
    expect(await dns.queryCount(loopback)).toBe(0);
    expect(await dns.queryCount("localhost")).toBe(0);
    // The counter does count: a LAN name allowed in development is still looked up (A and AAAA).
    const lan = `${unique("hooks")}.example`;
    const other = await createEndpoint(env, tenant.secret, `http://${lan}/in`);
    expect(other.status, await other.clone().text()).toBe(201);
    expect(await dns.queryCount(lan)).toBe(2);
  });

  it("delivers to http://localhost without a DNS lookup", async () => {
    const tenant = await seedTenant();
    const receiver = fakeReceiver();
    const sink = await receiver.createSink();
    const url = sink.url.replace("//127.0.0.1:", "//localhost:");
    expect(url).toContain("//localhost:");
    const created = await createEndpoint(env, tenant.secret, url);
    expect(created.status, await created.clone().text()).toBe(201);
    const endpoint = await json<{ id: string }>(created);
    const res = await fetchWorker(
      new Request(`http://localhost/v1/webhook-endpoints/${endpoint.id}/test`, {
        method: "POST",
        headers: { authorization: `Bearer ${tenant.secret}` },
      }),
    );
    expect(res.status).toBe(202);
    const [request] = await receiver.waitForRequests(sink.id, 1);
    expect(JSON.parse(request?.body ?? "{}").type).toBe("webhook.test");
    expect(await fakeDns().queryCount("localhost")).toBe(0);
  });

  it("a failed lookup is a warning that says what happens to the URL, not an error", async () => {
    const tenant = await seedTenant();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const error = vi.spyOn(console, "error");
    // Nothing listens on port 1: the resolver cannot be reached.
    const unreachable: Env = { ...env, WEBHOOK_DNS_RESOLVER: "http://127.0.0.1:1/dns-query" };

    const local = `${unique("hooks")}.example.com`;
    const accepted = await createEndpoint(unreachable, tenant.secret, `https://${local}/in`);
    expect(accepted.status, await accepted.clone().text()).toBe(201);
    const localWarning = warn.mock.calls.map((args) => args.join(" ")).find((line) => line.includes(local));
    expect(localWarning).toMatch(/could not look up/);
    expect(localWarning).toMatch(/accepted without checking its addresses/);

    const deployed = `${unique("hooks")}.example.com`;
    const refused = await createEndpoint(
      { ...unreachable, ALLOW_LOCAL_WEBHOOKS: undefined },
      tenant.secret,
      `https://${deployed}/in`,
    );
    const body = await expectError(refused, 503, "service_unavailable");
    expect(body.message).toContain(deployed);
    const deployedWarning = warn.mock.calls
      .map((args) => args.join(" "))
      .find((line) => line.includes(deployed));
    expect(deployedWarning).toMatch(/cannot be checked/);
    expect(deployedWarning).toMatch(/retried/);
    expect(error).not.toHaveBeenCalled();
  });
});
