import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, expectError, json, seedKey, seedTenant } from "../helpers";

afterEach(() => vi.useRealTimers());

/** Everything but the request id must be identical across the failure causes of one class. */
function shape(error: { type: string; code: string; message: string; details: unknown[] }) {
  return {
    type: error.type,
    message: error.message,
    details: error.details,
    keys: Object.keys(error).sort(),
  };
}

describe("authentication", () => {
  it("accepts a key as Bearer token and as X-API-Key", async () => {
    const { secret } = await seedTenant();
    expect((await call("GET", "/v1/api-keys", { key: secret })).status).toBe(200);
    expect((await call("GET", "/v1/api-keys", { headers: { "x-api-key": secret } })).status).toBe(200);
    expect(
      (await call("GET", "/v1/api-keys", { headers: { authorization: `bearer ${secret}` } })).status,
    ).toBe(200);
  });

  it("401 api_key_missing without a key", async () => {
    const error = await expectError(await call("GET", "/v1/api-keys"), 401, "api_key_missing");
    expect(error.type).toBe("authentication_error");
    expect(error.message).toMatch(/Authorization: Bearer/);
  });

  it("malformed, unknown and revoked keys answer the same body", async () => {
    const { secret, keyId } = await seedTenant();
    const unknown = `sw_test_${"A".repeat(43)}`;
    const malformed = ["garbage", "sw_test_short", `sw_prod_${"A".repeat(43)}`, `${secret}x`, ""];
    const bodies = [];
    for (const key of [unknown, ...malformed]) {
      bodies.push(
        shape(await expectError(await call("GET", "/v1/api-keys", { key }), 401, "api_key_invalid")),
      );
    }
    bodies.push(
      shape(
        await expectError(
          await call("GET", "/v1/api-keys", { headers: { authorization: "Basic abc" } }),
          401,
          "api_key_invalid",
        ),
      ),
    );
    // Revoke through the API, then the very next request is refused.
    const other = await seedKey((await seedTenant()).tenantId);
    expect(other.keyId).not.toBe(keyId);
    const { secret: revokedSecret, keyId: revokedId, tenantId } = await seedTenant();
    const admin = await seedKey(tenantId);
    expect((await call("DELETE", `/v1/api-keys/${revokedId}`, { key: admin.secret })).status).toBe(200);
    bodies.push(
      shape(
        await expectError(await call("GET", "/v1/api-keys", { key: revokedSecret }), 401, "api_key_invalid"),
      ),
    );
    for (const body of bodies) expect(body).toEqual(bodies[0]);
  });

  it("an expired key is refused with api_key_expired in the same shape", async () => {
    const { secret } = await seedTenant({ expiresAt: new Date(Date.now() + 60_000) });
    expect((await call("GET", "/v1/api-keys", { key: secret })).status).toBe(200);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 61_000);
    const error = await expectError(
      await call("GET", "/v1/api-keys", { key: secret }),
      401,
      "api_key_expired",
    );
    expect(Object.keys(error).sort()).toEqual([
      "code",
      "details",
      "doc_url",
      "message",
      "request_id",
      "type",
    ]);
    expect(error.type).toBe("authentication_error");
  });

  it("403 insufficient_scope names the missing scope", async () => {
    const { secret } = await seedTenant({ scopes: ["messages:read"] });
    const error = await expectError(
      await call("GET", "/v1/api-keys", { key: secret }),
      403,
      "insufficient_scope",
    );
    expect(error.message).toContain("keys:manage");
    const audit = await expectError(
      await call("GET", "/v1/audit-logs", { key: secret }),
      403,
      "insufficient_scope",
    );
    expect(audit.message).toContain("audit:read");
  });

  it("checks scope before validating the body", async () => {
    const { secret } = await seedTenant({ scopes: ["messages:read"] });
    await expectError(
      await call("POST", "/v1/api-keys", { key: secret, body: { nonsense: true } }),
      403,
      "insufficient_scope",
    );
  });

  it("never echoes the presented key", async () => {
    const probe = `sw_test_${"Z".repeat(43)}`;
    const res = await call("GET", "/v1/api-keys", { key: probe });
    expect(await res.text()).not.toContain(probe);
  });
});

describe("data plane isolation", () => {
  it("a sandbox key cannot read live data and vice versa; another tenant's id is a 404", async () => {
    const live = await seedTenant({ environment: "live" });
    const sandbox = await seedKey(live.tenantId, { environment: "test" });
    const stranger = await seedTenant({ environment: "live" });

    // Lists only show the caller's environment.
    const liveList = await json(await call("GET", "/v1/api-keys", { key: live.secret }));
    expect(liveList.data.map((k: any) => k.id)).toEqual([live.keyId]);
    const testList = await json(await call("GET", "/v1/api-keys", { key: sandbox.secret }));
    expect(testList.data.map((k: any) => k.id)).toEqual([sandbox.keyId]);

    // Cross-environment and cross-tenant ids are not found, for reads and writes alike.
    for (const [caller, target] of [
      [sandbox, live],
      [live, sandbox],
      [stranger, live],
    ] as const) {
      await expectError(
        await call("GET", `/v1/api-keys/${target.keyId}`, { key: caller.secret }),
        404,
        "resource_not_found",
      );
      await expectError(
        await call("POST", `/v1/api-keys/${target.keyId}/rotate`, { key: caller.secret }),
        404,
        "resource_not_found",
      );
      await expectError(
        await call("DELETE", `/v1/api-keys/${target.keyId}`, { key: caller.secret }),
        404,
        "resource_not_found",
      );
    }
    // The target keys still work: nothing was revoked or rotated by the foreign calls.
    expect((await call("GET", "/v1/api-keys", { key: live.secret })).status).toBe(200);
    expect((await call("GET", "/v1/api-keys", { key: sandbox.secret })).status).toBe(200);
  });

  it("audit logs are scoped to tenant and environment", async () => {
    const live = await seedTenant({ environment: "live" });
    const sandbox = await seedKey(live.tenantId, { environment: "test" });
    await call("GET", "/v1/api-keys", { key: live.secret });
    await call("GET", "/v1/api-keys", { key: sandbox.secret });
    await vi.waitFor(async () => {
      const rows = await env.DB.prepare("SELECT count(*) AS n FROM audit_logs WHERE tenant_id = ?")
        .bind(live.tenantId)
        .first<{ n: number }>();
      expect(rows?.n).toBeGreaterThanOrEqual(2);
    });
    const seen = await json(await call("GET", "/v1/audit-logs", { key: sandbox.secret }));
    expect(seen.data.length).toBeGreaterThan(0);
    for (const entry of seen.data) {
      expect(entry.environment).toBe("test");
      expect(entry.key_id).toBe(sandbox.keyId);
    }
  });
});
