import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { fakeDns, fakeReceiver } from "../fakes/receiver-client";
import { call, expectError, fetchWorker, json, seedKey, seedTenant } from "../helpers";

const ENDPOINT = "https://hooks.example.com/sendwire";

async function create(key: string, body: Record<string, unknown>) {
  return call("POST", "/v1/webhook-endpoints", { key, body });
}

async function createOk(key: string, body: Record<string, unknown> = {}) {
  const res = await create(key, { url: ENDPOINT, events: ["*"], ...body });
  expect(res.status, await res.clone().text()).toBe(201);
  return json(res);
}

/** The worker as deployed: ALLOW_LOCAL_WEBHOOKS unset, so only public https hosts pass. */
function deployedCall(method: string, path: string, key: string, body?: unknown) {
  return fetchWorker(
    new Request(`https://api.sendwire.test${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    { ...env, ALLOW_LOCAL_WEBHOOKS: undefined },
  );
}

describe("webhook endpoints", () => {
  it("creates an endpoint, shows its whsec_ secret once and stores only ciphertext", async () => {
    const tenant = await seedTenant();
    const created = await createOk(tenant.secret, {
      events: ["message.delivered", "message.failed"],
      description: "orders service",
      rate_limit_per_second: 25,
    });
    expect(created).toMatchObject({
      object: "webhook_endpoint",
      url: ENDPOINT,
      events: ["message.delivered", "message.failed"],
      description: "orders service",
      enabled: true,
      disabled_reason: null,
      rate_limit_per_second: 25,
      previous_secret_expires_at: null,
    });
    expect(created.id).toMatch(/^whe_[0-9a-z]{26}$/);
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
    expect(atob(created.secret.slice(6)).length).toBeGreaterThanOrEqual(24);

    const shown = await json(
      await call("GET", `/v1/webhook-endpoints/${created.id}`, { key: tenant.secret }),
    );
    expect(shown.secret).toBeUndefined();
    expect(shown.url).toBe(ENDPOINT);
    const listed = await json(await call("GET", "/v1/webhook-endpoints", { key: tenant.secret }));
    expect(JSON.stringify(listed)).not.toContain(created.secret);
    const dump = JSON.stringify((await env.DB.prepare("SELECT * FROM webhook_endpoints").all()).results);
    expect(dump).not.toContain(created.secret);
    expect(dump).not.toContain(created.secret.slice(6));
  });

  it("validates the body: event types, duplicates, unknown fields, rate limits", async () => {
    const tenant = await seedTenant();
    for (const body of [
      { url: ENDPOINT },
      { url: ENDPOINT, events: [] },
      { url: ENDPOINT, events: ["message.exploded"] },
      { url: ENDPOINT, events: ["message.sent", "message.sent"] },
      { url: ENDPOINT, events: ["*"], rate_limit_per_second: 0 },
      { url: ENDPOINT, events: ["*"], secret: "whsec_mine" },
      { url: "x".repeat(3000), events: ["*"] },
      { events: ["*"] },
    ]) {
      await expectError(await create(tenant.secret, body), 400, "validation_error");
    }
  });

  it("lists newest first with a cursor, and caps endpoints per environment at 20", async () => {
    const tenant = await seedTenant();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await createOk(tenant.secret, { description: `n${i}` })).id);
    await expectError(
      await create(tenant.secret, { url: ENDPOINT, events: ["*"] }),
      409,
      "webhook_endpoint_limit_reached",
    );
    const first = await json(await call("GET", "/v1/webhook-endpoints?limit=15", { key: tenant.secret }));
    expect(first.data).toHaveLength(15);
    const second = await json(
      await call("GET", `/v1/webhook-endpoints?limit=15&cursor=${first.next_cursor}`, { key: tenant.secret }),
    );
    expect(second.next_cursor).toBeNull();
    expect([...first.data, ...second.data].map((e: { id: string }) => e.id)).toEqual([...ids].reverse());
    // The live environment of the same tenant has its own 20.
    const live = await seedKey(tenant.tenantId, { environment: "live" });
    await createOk(live.secret);
  });

  it("PATCH changes fields, re-checks the URL, and disabling fails pending deliveries", async () => {
    const tenant = await seedTenant();
    const receiver = fakeReceiver();
    const sink = await receiver.createSink();
    await receiver.script(sink.id, [], { status: 500 });
    const created = await createOk(tenant.secret, { url: sink.url, events: ["message.queued"] });
    await call("POST", "/v1/messages", {
      key: tenant.secret,
      headers: { "idempotency-key": crypto.randomUUID() },
      body: { channel: "sms", to: "+5511987654321", text: { body: "hi" } },
    });
    await receiver.waitForRequests(sink.id, 1);

    const patched = await call("PATCH", `/v1/webhook-endpoints/${created.id}`, {
      key: tenant.secret,
      body: { enabled: false, events: ["message.sent"], description: "paused" },
    });
    expect(patched.status).toBe(200);
    expect(await json(patched)).toMatchObject({
      enabled: false,
      events: ["message.sent"],
      description: "paused",
      disabled_reason: "Disabled by the API.",
    });
    const deliveries = await json(
      await call("GET", `/v1/webhook-endpoints/${created.id}/deliveries`, { key: tenant.secret }),
    );
    expect(deliveries.data[0]).toMatchObject({ status: "failed", next_attempt_at: null });
    await expectError(
      await call("POST", `/v1/webhook-endpoints/${created.id}/test`, { key: tenant.secret }),
      409,
      "webhook_endpoint_disabled",
    );

    const enabled = await json(
      await call("PATCH", `/v1/webhook-endpoints/${created.id}`, {
        key: tenant.secret,
        body: { enabled: true },
      }),
    );
    expect(enabled).toMatchObject({ enabled: true, disabled_reason: null, disabled_at: null });
    await expectError(
      await call("PATCH", `/v1/webhook-endpoints/${created.id}`, { key: tenant.secret, body: {} }),
      400,
      "validation_error",
    );
    await expectError(
      await call("PATCH", `/v1/webhook-endpoints/${created.id}`, {
        key: tenant.secret,
        body: { url: "https://169.254.169.254/latest" },
      }),
      400,
      "webhook_url_refused",
    );
  });

  it("DELETE removes it at once: 404 afterwards, its pending deliveries end", async () => {
    const tenant = await seedTenant();
    const created = await createOk(tenant.secret);
    const res = await call("DELETE", `/v1/webhook-endpoints/${created.id}`, { key: tenant.secret });
    expect(await json(res)).toEqual({ object: "webhook_endpoint", id: created.id, deleted: true });
    for (const [method, path] of [
      ["GET", `/v1/webhook-endpoints/${created.id}`],
      ["DELETE", `/v1/webhook-endpoints/${created.id}`],
      ["GET", `/v1/webhook-endpoints/${created.id}/deliveries`],
      ["POST", `/v1/webhook-endpoints/${created.id}/test`],
    ] as const) {
      await expectError(await call(method, path, { key: tenant.secret }), 404, "resource_not_found");
    }
  });

  it("rotate-secret returns a new secret; the old one overlaps for overlap_seconds (default a day)", async () => {
    const tenant = await seedTenant();
    const created = await createOk(tenant.secret);
    const before = Date.now();
    const rotated = await json(
      await call("POST", `/v1/webhook-endpoints/${created.id}/rotate-secret`, { key: tenant.secret }),
    );
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(created.secret);
    const expires = Date.parse(rotated.previous_secret_expires_at);
    expect(expires - before).toBeGreaterThanOrEqual(86_400_000 - 1000);
    expect(expires - before).toBeLessThanOrEqual(86_400_000 + 5000);
    const now = await json(
      await call("POST", `/v1/webhook-endpoints/${created.id}/rotate-secret`, {
        key: tenant.secret,
        body: { overlap_seconds: 0 },
      }),
    );
    expect(now.previous_secret_expires_at).toBeNull();
    await expectError(
      await call("POST", `/v1/webhook-endpoints/${created.id}/rotate-secret`, {
        key: tenant.secret,
        body: { overlap_seconds: -1 },
      }),
      400,
      "validation_error",
    );
  });

  it("needs webhooks:manage, and another tenant's or environment's endpoint is a 404", async () => {
    const tenant = await seedTenant();
    const created = await createOk(tenant.secret);
    const reader = await seedKey(tenant.tenantId, { scopes: ["messages:read"] });
    const denied = await call("GET", "/v1/webhook-endpoints", { key: reader.secret });
    expect(denied.status).toBe(403);
    expect((await json(denied)).error.message).toContain("webhooks:manage");
    await expectError(
      await create(reader.secret, { url: ENDPOINT, events: ["*"] }),
      403,
      "insufficient_scope",
    );

    const stranger = await seedTenant();
    const live = await seedKey(tenant.tenantId, { environment: "live" });
    for (const key of [stranger.secret, live.secret]) {
      for (const [method, path] of [
        ["GET", `/v1/webhook-endpoints/${created.id}`],
        ["PATCH", `/v1/webhook-endpoints/${created.id}`],
        ["DELETE", `/v1/webhook-endpoints/${created.id}`],
        ["POST", `/v1/webhook-endpoints/${created.id}/rotate-secret`],
        ["POST", `/v1/webhook-endpoints/${created.id}/test`],
        ["GET", `/v1/webhook-endpoints/${created.id}/deliveries`],
      ] as const) {
        const body = method === "PATCH" ? { description: "mine now" } : undefined;
        await expectError(await call(method, path, { key, body }), 404, "resource_not_found");
      }
      const list = await json(await call("GET", "/v1/webhook-endpoints", { key }));
      expect(list.data.map((e: { id: string }) => e.id)).not.toContain(created.id);
    }
  });

  it("lists deliveries filtered by status, event type and time, with one delivery retrievable", async () => {
    const tenant = await seedTenant();
    const receiver = fakeReceiver();
    const sink = await receiver.createSink();
    const created = await createOk(tenant.secret, { url: sink.url, events: ["*"] });
    const sent = await json(
      await call("POST", "/v1/messages", {
        key: tenant.secret,
        headers: { "idempotency-key": crypto.randomUUID() },
        body: { channel: "sms", to: "+5511987654321", text: { body: "hi" } },
      }),
    );
    await receiver.waitForRequests(sink.id, 3); // queued, sent, delivered
    const base = `/v1/webhook-endpoints/${created.id}/deliveries`;
    const list = async (query: string) =>
      (await json(await call("GET", `${base}?${query}`, { key: tenant.secret }))).data;
    const queued = await list("event_type=message.queued");
    expect(queued).toHaveLength(1);
    expect(queued[0]).toMatchObject({ event_type: "message.queued", subject_id: sent.id, sequence: 1 });
    const succeeded = await list("status=succeeded&limit=100");
    expect(succeeded.length).toBeGreaterThanOrEqual(3);
    expect(succeeded.every((d: { status: string }) => d.status === "succeeded")).toBe(true);
    expect(await list("status=failed")).toEqual([]);
    expect(await list(`since=${new Date(Date.now() + 60_000).toISOString()}`)).toEqual([]);
    const one = await json(await call("GET", `${base}/${queued[0].id}`, { key: tenant.secret }));
    expect(one).toEqual(queued[0]);
    expect(one.attempt_log[0]).toMatchObject({ status_code: 200, error: null, response_excerpt: "ok" });
    await expectError(
      await call("GET", `${base}/whd_01jd3x6n2m8q4v7w9y0z1a2b3c`, { key: tenant.secret }),
      404,
      "resource_not_found",
    );
    for (const query of ["status=exploded", "event_type=nope", "since=yesterday", "limit=500"]) {
      await expectError(
        await call("GET", `${base}?${query}`, { key: tenant.secret }),
        400,
        "validation_error",
      );
    }
  });

  it("range replay validates its window, and reports progress", async () => {
    const tenant = await seedTenant();
    const created = await createOk(tenant.secret);
    const path = `/v1/webhook-endpoints/${created.id}/replay`;
    const old = new Date(Date.now() - 31 * 86_400_000).toISOString();
    await expectError(
      await call("POST", path, { key: tenant.secret, body: { since: old } }),
      400,
      "validation_error",
    );
    const since = new Date(Date.now() - 60_000).toISOString();
    await expectError(
      await call("POST", path, { key: tenant.secret, body: { since, until: since } }),
      400,
      "validation_error",
    );
    await expectError(
      await call("POST", path, { key: tenant.secret, body: { since: "yesterday" } }),
      400,
      "validation_error",
    );
    const res = await call("POST", path, { key: tenant.secret, body: { since, only_failed: false } });
    expect(res.status).toBe(202);
    const replay = await json(res);
    expect(replay).toMatchObject({ object: "webhook_replay", only_failed: false, endpoint_id: created.id });
    const deadline = Date.now() + 10_000;
    let shown = replay;
    while (shown.status !== "completed" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      shown = await json(
        await call("GET", `/v1/webhook-endpoints/${created.id}/replays/${replay.id}`, { key: tenant.secret }),
      );
    }
    expect(shown).toMatchObject({ status: "completed", replayed: 0, scanned: 0 });
    await expectError(
      await call("GET", `/v1/webhook-endpoints/${created.id}/replays/whr_01jd3x6n2m8q4v7w9y0z1a2b3c`, {
        key: tenant.secret,
      }),
      404,
      "resource_not_found",
    );
  });
});

describe("the URL guard at registration (as deployed: ALLOW_LOCAL_WEBHOOKS unset)", () => {
  const refused = [
    "http://hooks.example.com/in", // not https
    "ftp://hooks.example.com/in",
    "https://user:secret@hooks.example.com/in", // userinfo
    "https://localhost/in",
    "https://app.localhost/in",
    "https://127.0.0.1/in",
    "https://127.1/in", // short
    "https://2130706433/in", // decimal
    "https://0x7f000001/in", // hex
    "https://0x7f.0.0.1/in",
    "https://0177.0.0.1/in", // octal
    "https://10.0.0.1/in",
    "https://172.16.5.4/in",
    "https://192.168.1.10/in",
    "https://169.254.169.254/latest/meta-data", // metadata
    "https://169.254.10.1/in", // link-local
    "https://100.64.0.1/in", // CGNAT
    "https://224.0.0.1/in", // multicast
    "https://0.0.0.0/in", // unspecified
    "https://[::1]/in",
    "https://[::]/in",
    "https://[::ffff:127.0.0.1]/in", // IPv4-mapped
    "https://[::ffff:7f00:1]/in",
    "https://[fe80::1]/in",
    "https://[fc00::1]/in",
    "https://[ff02::1]/in",
    "not a url",
  ];

  it.each(refused)("refuses %s with webhook_url_refused and a reason", async (url) => {
    const tenant = await seedTenant();
    const res = await deployedCall("POST", "/v1/webhook-endpoints", tenant.secret, { url, events: ["*"] });
    await expectError(res, 400, "webhook_url_refused");
  });

  it("judges what a hostname resolves to: private or unknown is refused, public is accepted", async () => {
    const tenant = await seedTenant();
    const dns = fakeDns();
    await dns.setRecords("internal.acme-hooks.test", { a: ["93.184.216.34", "10.1.2.3"] });
    await dns.setRecords("v6.acme-hooks.test", { aaaa: ["fd12:3456::1"] });
    await dns.setRecords("ok.acme-hooks.test", { a: ["93.184.216.34"], aaaa: ["2606:2800:220:1::"] });
    for (const url of ["https://internal.acme-hooks.test/in", "https://v6.acme-hooks.test/in"]) {
      const res = await deployedCall("POST", "/v1/webhook-endpoints", tenant.secret, { url, events: ["*"] });
      const body = await json(res);
      expect(res.status).toBe(400);
      expect(body.error.code).toBe("webhook_url_refused");
      expect(body.error.message).toMatch(/resolve/);
    }
    const unknown = await deployedCall("POST", "/v1/webhook-endpoints", tenant.secret, {
      url: "https://nowhere.acme-hooks.test/in",
      events: ["*"],
    });
    await expectError(unknown, 400, "webhook_url_refused");
    const ok = await deployedCall("POST", "/v1/webhook-endpoints", tenant.secret, {
      url: "https://OK.acme-hooks.test:8443/in?x=1",
      events: ["*"],
    });
    expect(ok.status).toBe(201);
    expect((await json(ok)).url).toBe("https://ok.acme-hooks.test:8443/in?x=1");
  });

  it("in local development (ALLOW_LOCAL_WEBHOOKS=true) accepts http and loopback, never metadata", async () => {
    const tenant = await seedTenant();
    await createOk(tenant.secret, { url: "http://127.0.0.1:9000/hooks" });
    await createOk(tenant.secret, { url: "http://localhost:3000/hooks" });
    await expectError(
      await create(tenant.secret, { url: "http://169.254.169.254/latest", events: ["*"] }),
      400,
      "webhook_url_refused",
    );
    await expectError(
      await create(tenant.secret, { url: "https://user:pw@localhost/hooks", events: ["*"] }),
      400,
      "webhook_url_refused",
    );
  });
});
