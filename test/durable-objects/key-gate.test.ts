import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, expectError, json, seedTenant } from "../helpers";

afterEach(() => vi.useRealTimers());

async function keyWithLimit(adminSecret: string, requestsPerMinute: number, burst: number) {
  return json(
    await call("POST", "/v1/api-keys", {
      key: adminSecret,
      body: {
        name: "limited",
        scopes: ["keys:manage"],
        rate_limit: { requests_per_minute: requestsPerMinute, burst },
      },
    }),
  );
}

async function keyCount(tenantId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT count(*) AS n FROM api_keys WHERE tenant_id = ?")
    .bind(tenantId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

describe("rate limit", () => {
  it("every authenticated response carries the rate-limit headers", async () => {
    const admin = await seedTenant();
    const res = await call("GET", "/v1/api-keys", { key: admin.secret });
    expect(res.headers.get("ratelimit-policy")).toBe('"per-key";q=6000;w=60');
    expect(res.headers.get("ratelimit")).toMatch(/^"per-key";r=5999;t=\d+$/);
    expect(res.headers.get("x-ratelimit-limit")).toBe("6000");
    expect(res.headers.get("x-ratelimit-remaining")).toBe("5999");
    expect(Number(res.headers.get("x-ratelimit-reset"))).toBeGreaterThanOrEqual(
      Math.floor(Date.now() / 1000),
    );
    expect(res.headers.get("x-ratelimit-warning")).toBeNull();
    const error = await call("GET", "/v1/api-keys/key_00000000000000000000000000", { key: admin.secret });
    expect(error.status).toBe(404);
    expect(error.headers.get("x-ratelimit-remaining")).toBe("5998");
  });

  it("admits no more than the quota under concurrency, warns past 80 %, and other keys are unaffected", async () => {
    const admin = await seedTenant();
    const limited = await keyWithLimit(admin.secret, 10, 10);
    const answers = await Promise.all(
      Array.from({ length: 30 }, () => call("GET", "/v1/api-keys", { key: limited.secret })),
    );
    const ok = answers.filter((r) => r.status === 200);
    const refused = answers.filter((r) => r.status === 429);
    expect(ok.length).toBe(10);
    expect(refused.length).toBe(20);
    const error = await expectError(refused[0] as Response, 429, "rate_limited");
    expect(error.type).toBe("rate_limit_error");
    expect(Number(refused[0]?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(refused[0]?.headers.get("x-ratelimit-remaining")).toBe("0");
    const remaining = ok.map((r) => Number(r.headers.get("x-ratelimit-remaining"))).sort((a, b) => a - b);
    expect(remaining).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const warned = ok.filter((r) => r.headers.get("x-ratelimit-warning") !== null).length;
    expect(warned).toBe(3); // remaining 2, 1, 0: 80 % and more used

    // The admin key (and any other key) has its own limit.
    expect((await call("GET", "/v1/api-keys", { key: admin.secret })).status).toBe(200);
    // A minute later the limited key is admitted again.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 61_000);
    expect((await call("GET", "/v1/api-keys", { key: limited.secret })).status).toBe(200);
  });

  it("applies the per-second burst", async () => {
    const admin = await seedTenant();
    const limited = await keyWithLimit(admin.secret, 1000, 3);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Math.floor(Date.now() / 1000) * 1000 + 100); // stay within one second
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => call("GET", "/v1/api-keys", { key: limited.secret })),
    );
    expect(answers.filter((r) => r.status === 200).length).toBe(3);
    const refused = answers.find((r) => r.status === 429);
    expect(refused?.headers.get("retry-after")).toBe("1");
  });

  it("keeps the limit across rotation (one gate per key id)", async () => {
    const admin = await seedTenant();
    const limited = await keyWithLimit(admin.secret, 3, 3);
    const rotated = await json(
      await call("POST", `/v1/api-keys/${limited.id}/rotate`, { key: limited.secret }),
    );
    expect((await call("GET", "/v1/api-keys", { key: rotated.secret })).status).toBe(200);
    expect((await call("GET", "/v1/api-keys", { key: rotated.secret })).status).toBe(200);
    await expectError(await call("GET", "/v1/api-keys", { key: rotated.secret }), 429, "rate_limited");
  });
});

describe("idempotency", () => {
  const body = { name: "idem", scopes: ["messages:read"] };

  it("replays the stored response with Idempotent-Replayed and creates nothing twice", async () => {
    const admin = await seedTenant();
    const headers = { "idempotency-key": "create-key-1" };
    const first = await call("POST", "/v1/api-keys", { key: admin.secret, body, headers });
    expect(first.status).toBe(201);
    const created = await json(first);
    await vi.waitFor(async () => {
      const again = await call("POST", "/v1/api-keys", {
        key: admin.secret,
        body: { scopes: body.scopes, name: body.name },
        headers,
      });
      expect(again.status).toBe(201);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      // The same object, but a secret is shown once: the replay carries null (issue 12, point 3).
      expect(await json(again)).toEqual({ ...created, secret: null });
    });
    // The body field works too and must agree with the header.
    const viaField = await call("POST", "/v1/api-keys", {
      key: admin.secret,
      body: { ...body, idempotency_key: "create-key-1" },
    });
    expect(viaField.headers.get("idempotent-replayed")).toBe("true");
    expect(await keyCount(admin.tenantId)).toBe(2);
  });

  it("same key, different payload → 422; header and body disagreeing or malformed → 400", async () => {
    const admin = await seedTenant();
    const headers = { "idempotency-key": "k-mismatch" };
    expect((await call("POST", "/v1/api-keys", { key: admin.secret, body, headers })).status).toBe(201);
    await vi.waitFor(async () =>
      expectError(
        await call("POST", "/v1/api-keys", { key: admin.secret, body: { ...body, name: "other" }, headers }),
        422,
        "idempotency_key_mismatch",
      ),
    );
    await expectError(
      await call("POST", "/v1/api-keys", {
        key: admin.secret,
        body: { ...body, idempotency_key: "b" },
        headers: { "idempotency-key": "a" },
      }),
      400,
      "idempotency_key_invalid",
    );
    for (const bad of ["x".repeat(256), "tab\there", "ünïcode"]) {
      await expectError(
        await call("POST", "/v1/api-keys", { key: admin.secret, body: { ...body, idempotency_key: bad } }),
        400,
        "idempotency_key_invalid",
      );
    }
    await expectError(
      await call("POST", "/v1/api-keys", { key: admin.secret, body: { ...body, idempotency_key: 42 } }),
      400,
      "idempotency_key_invalid",
    );
  });

  it("a validation failure is not stored: the key can be used again", async () => {
    const admin = await seedTenant();
    const headers = { "idempotency-key": "k-validation" };
    await expectError(
      await call("POST", "/v1/api-keys", { key: admin.secret, body: { name: "" }, headers }),
      400,
      "validation_error",
    );
    await vi.waitFor(async () => {
      const res = await call("POST", "/v1/api-keys", { key: admin.secret, body, headers });
      expect(res.status).toBe(201);
      expect(res.headers.get("idempotent-replayed")).toBeNull();
    });
  });

  it("50 concurrent identical requests create one object; every answer is it or a 409", async () => {
    const admin = await seedTenant();
    const headers = { "idempotency-key": "k-concurrent" };
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => call("POST", "/v1/api-keys", { key: admin.secret, body, headers })),
    );
    const ids = new Set<string>();
    let conflicts = 0;
    for (const res of answers) {
      if (res.status === 409) {
        const error = await expectError(res, 409, "idempotency_key_in_use");
        expect(error.type).toBe("idempotency_error");
        expect(res.headers.get("retry-after")).toBe("1");
        conflicts++;
      } else {
        expect(res.status).toBe(201);
        ids.add((await json(res)).id);
      }
    }
    expect(ids.size).toBe(1);
    expect(conflicts).toBeLessThan(50);
    expect(await keyCount(admin.tenantId)).toBe(2);
  });

  it("replays do not consume quota", async () => {
    const admin = await seedTenant();
    const limited = await keyWithLimit(admin.secret, 3, 3);
    const create = { name: "q", scopes: ["keys:manage"] };
    const first = await call("POST", "/v1/api-keys", {
      key: limited.secret,
      body: create,
      headers: { "idempotency-key": "k-quota-2" },
    });
    expect(first.status).toBe(201);
    await vi.waitFor(async () => {
      const replay = await call("POST", "/v1/api-keys", {
        key: limited.secret,
        body: create,
        headers: { "idempotency-key": "k-quota-2" },
      });
      expect(
        replay.headers.get("idempotent-replayed"),
        `${replay.status} ${await replay.clone().text()}`,
      ).toBe("true");
    });
    for (let i = 0; i < 5; i++) {
      const replay = await call("POST", "/v1/api-keys", {
        key: limited.secret,
        body: create,
        headers: { "idempotency-key": "k-quota-2" },
      });
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
    }
    // Only the create used quota (replays and in-flight answers do not): 2 more are admitted, then 429.
    expect((await call("GET", "/v1/api-keys", { key: limited.secret })).status).toBe(200);
    expect((await call("GET", "/v1/api-keys", { key: limited.secret })).status).toBe(200);
    await expectError(await call("GET", "/v1/api-keys", { key: limited.secret }), 429, "rate_limited");
  });

  it("records expire after 7 days and the alarm purges them", async () => {
    const admin = await seedTenant();
    const headers = { "idempotency-key": "k-expiry" };
    const first = await json(await call("POST", "/v1/api-keys", { key: admin.secret, body, headers }));
    const gate = env.KEY_GATE.get(env.KEY_GATE.idFromName(admin.keyId));
    await vi.waitFor(async () => expect(await gate.recordCount()).toBe(1));
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 7 * 86_400_000 + 1000);
    expect(await runDurableObjectAlarm(gate)).toBe(true);
    expect(await gate.recordCount()).toBe(0);
    const again = await call("POST", "/v1/api-keys", { key: admin.secret, body, headers });
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBeNull();
    expect((await json(again)).id).not.toBe(first.id);
  });
});
