import { describe, expect, it } from "vitest";
import { call, expectError, json, seedKey, seedTenant } from "../helpers";

async function createContact(key: string, body: Record<string, unknown>) {
  const res = await call("POST", "/v1/contacts", { key, body });
  expect(res.status, await res.clone().text()).toBe(201);
  return json(res);
}

describe("contacts", () => {
  it("creates a contact with normalised addresses, lower-case tags and attributes", async () => {
    const tenant = await seedTenant();
    const contact = await createContact(tenant.secret, {
      external_id: "user_4815",
      name: "Maria Silva",
      addresses: [
        { channel: "whatsapp", address: "+55 (11) 98765-4321" },
        { channel: "sms", address: "0055 11 98765 4321" },
        { channel: "email", address: "Maria@Example.COM" },
      ],
      tags: ["VIP", "vip", "newsletter"],
      attributes: { plan: "pro", orders: 12, beta: true },
    });
    expect(contact).toMatchObject({
      object: "contact",
      external_id: "user_4815",
      name: "Maria Silva",
      addresses: [
        { channel: "whatsapp", address: "+5511987654321" },
        { channel: "sms", address: "+5511987654321" },
        { channel: "email", address: "Maria@example.com" },
      ],
      tags: ["vip", "newsletter"],
      attributes: { plan: "pro", orders: 12, beta: true },
    });
    expect(contact.id).toMatch(/^con_[0-9a-z]{26}$/);
    const shown = await json(await call("GET", `/v1/contacts/${contact.id}`, { key: tenant.secret }));
    expect(shown).toEqual(contact);
  });

  it("refuses bad input with a detail per field", async () => {
    const tenant = await seedTenant();
    const res = await call("POST", "/v1/contacts", {
      key: tenant.secret,
      body: {
        addresses: [
          { channel: "sms", address: "98765-4321" },
          { channel: "email", address: "nope" },
        ],
      },
    });
    const body = await json(res);
    expect(res.status).toBe(400);
    expect(body.error.details.map((d: { path: string }) => d.path)).toEqual([
      "addresses[0].address",
      "addresses[1].address",
    ]);
    for (const bad of [
      { name: "" },
      { tags: Array.from({ length: 51 }, (_, i) => `t${i}`) },
      { attributes: { "bad key": "x" } },
      { attributes: { nested: { a: 1 } } },
      { addresses: [{ channel: "fax", address: "+5511987654321" }] },
      { external_id: "x".repeat(256) },
      { surprise: true },
      { attributes: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i])) },
    ]) {
      await expectError(
        await call("POST", "/v1/contacts", { key: tenant.secret, body: bad }),
        400,
        "validation_error",
      );
    }
  });

  it("an external_id or address belongs to one contact: 409 naming the holder", async () => {
    const tenant = await seedTenant();
    const first = await createContact(tenant.secret, {
      external_id: "u1",
      addresses: [{ channel: "whatsapp", address: "+5511987654321" }],
    });
    const byExternal = await call("POST", "/v1/contacts", {
      key: tenant.secret,
      body: { external_id: "u1" },
    });
    await expectError(byExternal.clone(), 409, "contact_exists");
    expect((await json(byExternal)).error.message).toContain(first.id);
    const byAddress = await call("POST", "/v1/contacts", {
      key: tenant.secret,
      body: { addresses: [{ channel: "whatsapp", address: "+55 11 98765 4321" }] },
    });
    await expectError(byAddress.clone(), 409, "contact_exists");
    expect((await json(byAddress)).error.message).toContain(first.id);
    // The same number on another channel, or in the other environment, is free.
    await createContact(tenant.secret, { addresses: [{ channel: "sms", address: "+5511987654321" }] });
    const live = await seedKey(tenant.tenantId, { environment: "live" });
    await createContact(live.secret, { external_id: "u1" });
  });

  it("PATCH replaces addresses and tags, merges attributes, and clears with null", async () => {
    const tenant = await seedTenant();
    const contact = await createContact(tenant.secret, {
      external_id: "u2",
      name: "Ana",
      addresses: [{ channel: "sms", address: "+5511987650000" }],
      tags: ["a"],
      attributes: { plan: "free", orders: 1 },
    });
    const res = await call("PATCH", `/v1/contacts/${contact.id}`, {
      key: tenant.secret,
      body: {
        name: null,
        addresses: [{ channel: "email", address: "ana@example.com" }],
        tags: ["B"],
        attributes: { plan: "pro", orders: null, since: 2024 },
      },
    });
    expect(res.status).toBe(200);
    const updated = await json(res);
    expect(updated).toMatchObject({
      external_id: "u2",
      name: null,
      addresses: [{ channel: "email", address: "ana@example.com" }],
      tags: ["b"],
      attributes: { plan: "pro", since: 2024 },
    });
    expect(await json(await call("GET", `/v1/contacts/${contact.id}`, { key: tenant.secret }))).toEqual(
      updated,
    );
    // The old number is free again.
    await createContact(tenant.secret, { addresses: [{ channel: "sms", address: "+5511987650000" }] });
    // Keeping its own external_id and address is not a conflict.
    const same = await call("PATCH", `/v1/contacts/${contact.id}`, {
      key: tenant.secret,
      body: { external_id: "u2", addresses: [{ channel: "email", address: "ana@example.com" }] },
    });
    expect(same.status).toBe(200);
    await expectError(
      await call("PATCH", `/v1/contacts/${contact.id}`, { key: tenant.secret, body: {} }),
      400,
      "validation_error",
    );
  });

  it("lists newest first with filters by external_id, tag and address, and pages with a cursor", async () => {
    const tenant = await seedTenant();
    const a = await createContact(tenant.secret, {
      external_id: "list-a",
      tags: ["VIP"],
      addresses: [{ channel: "whatsapp", address: "+5511911110000" }],
    });
    const b = await createContact(tenant.secret, { external_id: "list-b", tags: ["other"] });
    const c = await createContact(tenant.secret, {
      addresses: [{ channel: "email", address: "c@example.com" }],
    });
    const ids = async (query: string) =>
      (await json(await call("GET", `/v1/contacts?${query}`, { key: tenant.secret }))).data.map(
        (x: { id: string }) => x.id,
      );
    expect(await ids("limit=100")).toEqual([c.id, b.id, a.id]);
    expect(await ids("external_id=list-b")).toEqual([b.id]);
    expect(await ids("tag=vip")).toEqual([a.id]);
    expect(await ids(`address=${encodeURIComponent("+55 11 91111-0000")}`)).toEqual([a.id]);
    expect(await ids("address=C%40EXAMPLE.com")).toEqual([]); // the local part is case-sensitive
    expect(await ids("address=c%40example.COM")).toEqual([c.id]);
    const first = await json(await call("GET", "/v1/contacts?limit=2", { key: tenant.secret }));
    const second = await json(
      await call("GET", `/v1/contacts?limit=2&cursor=${first.next_cursor}`, { key: tenant.secret }),
    );
    expect([...first.data, ...second.data].map((x: { id: string }) => x.id)).toEqual([c.id, b.id, a.id]);
    await expectError(
      await call("GET", "/v1/contacts?address=12", { key: tenant.secret }),
      400,
      "validation_error",
    );
  });

  it("DELETE frees the addresses; scope and tenant isolation hold", async () => {
    const tenant = await seedTenant();
    const contact = await createContact(tenant.secret, {
      addresses: [{ channel: "whatsapp", address: "+5511922220000" }],
    });
    const stranger = await seedTenant();
    const live = await seedKey(tenant.tenantId, { environment: "live" });
    for (const key of [stranger.secret, live.secret]) {
      await expectError(await call("GET", `/v1/contacts/${contact.id}`, { key }), 404, "resource_not_found");
      await expectError(
        await call("PATCH", `/v1/contacts/${contact.id}`, { key, body: { name: "x" } }),
        404,
        "resource_not_found",
      );
      await expectError(
        await call("DELETE", `/v1/contacts/${contact.id}`, { key }),
        404,
        "resource_not_found",
      );
    }
    const reader = await seedKey(tenant.tenantId, { scopes: ["messages:read"] });
    await expectError(await call("GET", "/v1/contacts", { key: reader.secret }), 403, "insufficient_scope");

    const deleted = await json(await call("DELETE", `/v1/contacts/${contact.id}`, { key: tenant.secret }));
    expect(deleted).toEqual({ object: "contact", id: contact.id, deleted: true });
    await expectError(
      await call("GET", `/v1/contacts/${contact.id}`, { key: tenant.secret }),
      404,
      "resource_not_found",
    );
    await createContact(tenant.secret, { addresses: [{ channel: "whatsapp", address: "+5511922220000" }] });
  });
});
