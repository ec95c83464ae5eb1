import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { call, expectError, json, seedKey, seedTenant } from "./helpers";

async function auditCount(tenantId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT count(*) AS n FROM audit_logs WHERE tenant_id = ?")
    .bind(tenantId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

describe("audit log", () => {
  it("records every authenticated call, reads and failures included, without secrets or bodies", async () => {
    const admin = await seedTenant();
    const reader = await seedKey(admin.tenantId, { scopes: ["messages:read"] });
    const created = await json(
      await call("POST", "/v1/api-keys", {
        key: admin.secret,
        body: { name: "body-marker-7781", scopes: ["messages:read"] },
        headers: {
          "user-agent": "tour/1.0",
          "idempotency-key": "idem-123",
          "cf-connecting-ip": "203.0.113.9",
        },
      }),
    );
    await call("GET", `/v1/api-keys/${created.id}?limit=5`, { key: admin.secret });
    await call("GET", "/v1/api-keys", { key: reader.secret }); // 403
    await call("GET", "/v1/api-keys"); // 401: no key, nothing to attribute
    await vi.waitFor(async () => expect(await auditCount(admin.tenantId)).toBe(3));

    const page = await json(await call("GET", "/v1/audit-logs", { key: admin.secret }));
    expect(page.data.length).toBe(3);
    const [denied, read, create] = page.data;
    expect(create).toMatchObject({
      object: "audit_log",
      key_id: admin.keyId,
      environment: "test",
      method: "POST",
      route: "/v1/api-keys",
      status: 201,
      idempotency_key: "idem-123",
      ip: "203.0.113.9",
      user_agent: "tour/1.0",
    });
    expect(create.request_id).toMatch(/^req_/);
    expect(create.latency_ms).toBeGreaterThanOrEqual(0);
    expect(create.key_prefix).toMatch(/^sw_test_/);
    expect(read).toMatchObject({ method: "GET", route: "/v1/api-keys/:id", status: 200 });
    expect(denied).toMatchObject({ key_id: reader.keyId, status: 403, route: "/v1/api-keys" });

    const rows = JSON.stringify((await env.DB.prepare("SELECT * FROM audit_logs").all()).results);
    expect(rows).not.toContain("body-marker-7781");
    expect(rows).not.toContain(created.secret);
    expect(rows).not.toContain(admin.secret);
    expect(rows).not.toContain("limit=5");
  });

  it("filters by key_id, status, from/to and paginates", async () => {
    const admin = await seedTenant();
    const other = await seedKey(admin.tenantId);
    for (let i = 0; i < 3; i++) await call("GET", "/v1/api-keys", { key: other.secret });
    await call("GET", "/v1/api-keys/key_00000000000000000000000000", { key: admin.secret });
    await vi.waitFor(async () => expect(await auditCount(admin.tenantId)).toBe(4));

    const byKey = await json(
      await call("GET", `/v1/audit-logs?key_id=${other.keyId}`, { key: admin.secret }),
    );
    expect(byKey.data.length).toBe(3);
    const byStatus = await json(await call("GET", "/v1/audit-logs?status=404", { key: admin.secret }));
    expect(byStatus.data.map((e: any) => e.route)).toEqual(["/v1/api-keys/:id"]);
    const future = await json(
      await call("GET", "/v1/audit-logs?from=2999-01-01T00:00:00Z", { key: admin.secret }),
    );
    expect(future.data).toEqual([]);
    const past = await json(
      await call("GET", "/v1/audit-logs?to=2000-01-01T00:00:00Z", { key: admin.secret }),
    );
    expect(past.data).toEqual([]);

    // Listing is itself audited, so page through the other key's three entries, two at a time.
    const filter = `key_id=${other.keyId}&limit=2`;
    const first = await json(await call("GET", `/v1/audit-logs?${filter}`, { key: admin.secret }));
    expect(first.data.length).toBe(2);
    const second = await json(
      await call("GET", `/v1/audit-logs?${filter}&cursor=${first.next_cursor}`, { key: admin.secret }),
    );
    expect(second.data.length).toBe(1);
    expect(second.next_cursor).toBeNull();
    const ids = [...first.data, ...second.data].map((e: any) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([...ids].sort().reverse());
  });

  it("rejects bad filters", async () => {
    const admin = await seedTenant();
    for (const query of ["status=99", "status=abc", "from=yesterday", "to=2024-13-01", "limit=0"]) {
      await expectError(
        await call("GET", `/v1/audit-logs?${query}`, { key: admin.secret }),
        400,
        "validation_error",
      );
    }
  });
});
