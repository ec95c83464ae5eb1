import { describe, expect, it } from "vitest";
import { call, expectError, json, openCustomerWindow, seedKey, seedTenant, send } from "../helpers";
import { rowsOf } from "../routes/inbound-support";

const NUMBER = "+5511987653333";

async function suppressionOf(key: string, channel = "sms", address = NUMBER) {
  const res = await call("POST", "/v1/suppressions", { key, body: { channel, address } });
  expect([200, 201]).toContain(res.status);
  return json(res);
}

describe("suppressions and lookups: scopes", () => {
  it("a key without a contacts scope gets 403 on every route; contacts:read may read but not write", async () => {
    const owner = await seedTenant();
    const row = await suppressionOf(owner.secret);
    const sender = await seedKey(owner.tenantId, { scopes: ["messages:send", "messages:read"] });
    const reader = await seedKey(owner.tenantId, { scopes: ["contacts:read"] });

    const attempts = (key: string) => [
      call("GET", "/v1/suppressions", { key }),
      call("GET", `/v1/suppressions/${row.id}`, { key }),
      call("POST", "/v1/suppressions", { key, body: { channel: "sms", address: "+5511987654444" } }),
      call("DELETE", `/v1/suppressions/${row.id}`, { key }),
      call("POST", "/v1/lookups/phone-numbers", { key, body: { phone_numbers: [NUMBER] } }),
    ];
    for (const res of await Promise.all(attempts(sender.secret))) {
      await expectError(res, 403, "insufficient_scope");
    }
    const [list, get, create, remove, lookup] = await Promise.all(attempts(reader.secret));
    expect(list?.status).toBe(200);
    expect(get?.status).toBe(200);
    await expectError(create as Response, 403, "insufficient_scope");
    await expectError(remove as Response, 403, "insufficient_scope");
    expect(lookup?.status).toBe(200);
    // Nothing was written or removed by the refused calls.
    expect(await rowsOf("SELECT address FROM suppressions WHERE tenant_id = ?", owner.tenantId)).toEqual([
      { address: NUMBER },
    ]);
  });
});

describe("suppressions: tenant and environment isolation", () => {
  it("another tenant's or the other environment's suppression is a 404 and is never listed", async () => {
    const owner = await seedTenant();
    const row = await suppressionOf(owner.secret);
    const stranger = await seedTenant();
    const ownLive = await seedKey(owner.tenantId, { environment: "live" });
    for (const key of [stranger.secret, ownLive.secret]) {
      await expectError(await call("GET", `/v1/suppressions/${row.id}`, { key }), 404, "resource_not_found");
      await expectError(
        await call("DELETE", `/v1/suppressions/${row.id}`, { key }),
        404,
        "resource_not_found",
      );
      const list = await json(
        await call("GET", `/v1/suppressions?address=${encodeURIComponent(NUMBER)}`, { key }),
      );
      expect(list.data).toEqual([]);
    }
    // Still there for its owner.
    expect((await call("GET", `/v1/suppressions/${row.id}`, { key: owner.secret })).status).toBe(200);
  });

  it("a suppression blocks sends only in its own tenant and environment", async () => {
    const owner = await seedTenant();
    await suppressionOf(owner.secret);
    const ownLive = await seedKey(owner.tenantId, { environment: "live" });
    await suppressionOf(ownLive.secret, "whatsapp");
    // The owner's test environment: sms is suppressed, whatsapp (suppressed only in live) is not.
    await expectError(
      await send(owner.secret, { channel: "sms", to: NUMBER, text: { body: "x" } }),
      422,
      "recipient_suppressed",
    );
    await openCustomerWindow(owner.tenantId, NUMBER);
    expect((await send(owner.secret, { channel: "whatsapp", to: NUMBER, text: { body: "x" } })).status).toBe(
      202,
    );
    // Another tenant sends to the same number freely.
    const stranger = await seedTenant();
    expect((await send(stranger.secret, { channel: "sms", to: NUMBER, text: { body: "x" } })).status).toBe(
      202,
    );
  });
});

describe("suppressions and lookups: hostile input", () => {
  it("oversized or malformed fields are 4xx, never 5xx, and store nothing", async () => {
    const tenant = await seedTenant();
    const bodies: unknown[] = [
      { channel: "sms", address: "+".padEnd(10_000, "1") },
      { channel: "email", address: `${"a".repeat(300)}@example.com` },
      { channel: "sms", address: "'; DROP TABLE suppressions; --" },
      { channel: "fax", address: NUMBER },
      { channel: "sms", address: NUMBER, note: "n".repeat(501) },
      { channel: "sms", address: NUMBER, reason: "opt_out", extra: 1 },
      { channel: "sms", address: ["+5511987653333"] },
      { channel: "sms" },
      [],
      "STOP",
    ];
    for (const body of bodies) {
      const res = await call("POST", "/v1/suppressions", { key: tenant.secret, body });
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
    }
    expect(await rowsOf("SELECT 1 FROM suppressions WHERE tenant_id = ?", tenant.tenantId)).toEqual([]);

    const lookups: unknown[] = [
      { phone_numbers: Array.from({ length: 1001 }, () => NUMBER) },
      { phone_numbers: ["x".repeat(257)] },
      { phone_numbers: [null] },
      { phone_numbers: "+5511987653333" },
      {},
    ];
    for (const body of lookups) {
      const res = await call("POST", "/v1/lookups/phone-numbers", { key: tenant.secret, body });
      expect(res.status).toBe(400);
    }
    const ids = ["sup_' OR 1=1 --", "x".repeat(65), "%00"];
    for (const id of ids) {
      const res = await call("GET", `/v1/suppressions/${encodeURIComponent(id)}`, { key: tenant.secret });
      expect([400, 404]).toContain(res.status);
    }
  });

  it("a message body that spells the refusal marker is sent normally", async () => {
    const tenant = await seedTenant();
    const res = await send(tenant.secret, {
      channel: "sms",
      to: NUMBER,
      text: { body: "bad JSON path: '!suppressed:sms'" },
    });
    expect(res.status).toBe(202);
  });
});
