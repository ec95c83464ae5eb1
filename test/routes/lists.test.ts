import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newId } from "../../src/ids";
import { call, expectError, json, type SeededKey, seedTenant } from "../helpers";

async function createList(key: string, body: Record<string, unknown> = { name: "Customers" }) {
  const res = await call("POST", "/v1/lists", { key, body });
  expect(res.status, await res.clone().text()).toBe(201);
  return json(res);
}

async function createContact(key: string, body: Record<string, unknown> = {}) {
  const res = await call("POST", "/v1/contacts", { key, body });
  expect(res.status, await res.clone().text()).toBe(201);
  return json(res);
}

const addMembers = (key: string, listId: string, contactIds: string[]) =>
  call("POST", `/v1/lists/${listId}/contacts`, { key, body: { contact_ids: contactIds } });

async function memberRows(listId: string) {
  const row = await env.DB.prepare("SELECT count(*) AS n FROM list_members WHERE list_id = ?")
    .bind(listId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** `count` contacts of the tenant written straight into D1 (seeding 1,000 through the API is slow). */
async function seedContacts(tenant: SeededKey, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => newId("contact"));
  await env.DB.prepare(
    `INSERT INTO contacts (id, tenant_id, environment, external_id, name, tags, attributes, created_at, updated_at)
     SELECT value, ?, ?, NULL, NULL, '[]', '{}', ?, ? FROM json_each(?)`,
  )
    .bind(tenant.tenantId, tenant.environment, Date.now(), Date.now(), JSON.stringify(ids))
    .run();
  return ids;
}

describe("lists", () => {
  it("create, retrieve, update, list and delete", async () => {
    const tenant = await seedTenant();
    const list = await createList(tenant.secret, { name: "VIPs", description: "Top buyers" });
    expect(list).toMatchObject({
      object: "list",
      name: "VIPs",
      description: "Top buyers",
      contact_count: 0,
    });
    expect(list.id).toMatch(/^lst_[0-9a-z]{26}$/);
    expect(await json(await call("GET", `/v1/lists/${list.id}`, { key: tenant.secret }))).toEqual(list);

    const patched = await json(
      await call("PATCH", `/v1/lists/${list.id}`, { key: tenant.secret, body: { description: null } }),
    );
    expect(patched).toMatchObject({ name: "VIPs", description: null });
    const renamed = await json(
      await call("PATCH", `/v1/lists/${list.id}`, { key: tenant.secret, body: { name: "Top" } }),
    );
    expect(renamed).toMatchObject({ name: "Top", description: null });

    const other = await createList(tenant.secret, { name: "Second" });
    const third = await createList(tenant.secret, { name: "Third" });
    const first = await json(await call("GET", "/v1/lists?limit=2", { key: tenant.secret }));
    expect(first.data.map((l: { id: string }) => l.id)).toEqual([third.id, other.id]);
    const next = await json(
      await call("GET", `/v1/lists?limit=2&cursor=${first.next_cursor}`, { key: tenant.secret }),
    );
    expect(next.data.map((l: { id: string }) => l.id)).toEqual([list.id]);
    expect(next.next_cursor).toBeNull();

    expect(await json(await call("DELETE", `/v1/lists/${other.id}`, { key: tenant.secret }))).toEqual({
      object: "list",
      id: other.id,
      deleted: true,
    });
    await expectError(
      await call("GET", `/v1/lists/${other.id}`, { key: tenant.secret }),
      404,
      "resource_not_found",
    );
    await expectError(
      await call("DELETE", `/v1/lists/${other.id}`, { key: tenant.secret }),
      404,
      "resource_not_found",
    );
  });

  it("refuses bad input", async () => {
    const tenant = await seedTenant();
    const list = await createList(tenant.secret);
    for (const body of [
      {},
      { name: "" },
      { name: "   " },
      { name: "x".repeat(201) },
      { name: "ok", description: "d".repeat(1001) },
      { name: "ok", extra: true },
    ]) {
      await expectError(
        await call("POST", "/v1/lists", { key: tenant.secret, body }),
        400,
        "validation_error",
      );
    }
    await expectError(
      await call("PATCH", `/v1/lists/${list.id}`, { key: tenant.secret, body: {} }),
      400,
      "validation_error",
    );
    for (const body of [
      { contact_ids: [] },
      { contact_ids: "con_x" },
      { contact_ids: [""] },
      { contact_ids: Array.from({ length: 1001 }, (_, i) => `con_${i}`) },
      {},
    ]) {
      await expectError(
        await call("POST", `/v1/lists/${list.id}/contacts`, { key: tenant.secret, body }),
        400,
        "validation_error",
      );
    }
    await expectError(
      await call("GET", "/v1/lists?cursor=abc", { key: tenant.secret }),
      400,
      "invalid_cursor",
    );
  });

  it("adding members is idempotent and counts what changed", async () => {
    const tenant = await seedTenant();
    const list = await createList(tenant.secret);
    const [a, b, c] = [
      await createContact(tenant.secret),
      await createContact(tenant.secret),
      await createContact(tenant.secret),
    ];
    const first = await addMembers(tenant.secret, list.id, [a.id, b.id, a.id]);
    expect(first.status, await first.clone().text()).toBe(200);
    expect(await json(first)).toEqual({
      object: "list_membership_update",
      list_id: list.id,
      added: 2,
      already_members: 0,
      contact_count: 2,
    });
    expect(await json(await addMembers(tenant.secret, list.id, [a.id, b.id, c.id]))).toMatchObject({
      added: 1,
      already_members: 2,
      contact_count: 3,
    });
    expect(await json(await addMembers(tenant.secret, list.id, [c.id]))).toMatchObject({
      added: 0,
      already_members: 1,
      contact_count: 3,
    });
    expect(await memberRows(list.id)).toBe(3);
    expect(
      (await json(await call("GET", `/v1/lists/${list.id}`, { key: tenant.secret }))).contact_count,
    ).toBe(3);
  });

  it("an unknown contact id adds nothing and is named in the 404", async () => {
    const tenant = await seedTenant();
    const list = await createList(tenant.secret);
    const a = await createContact(tenant.secret);
    const missing = newId("contact");
    const error = await expectError(
      await addMembers(tenant.secret, list.id, [a.id, missing, "con_nope"]),
      404,
      "resource_not_found",
    );
    expect(error.details.map((d) => d.path)).toEqual(["contact_ids[1]", "contact_ids[2]"]);
    expect(error.message).toContain("contact_ids[1]");
    expect(await memberRows(list.id)).toBe(0);
    await expectError(await addMembers(tenant.secret, newId("list"), [a.id]), 404, "resource_not_found");
  });

  it("adds 1,000 contacts in one call (one JSON parameter, not 1,000)", async () => {
    const tenant = await seedTenant();
    const list = await createList(tenant.secret);
    const ids = await seedContacts(tenant, 1000);
    const res = await addMembers(tenant.secret, list.id, ids);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await json(res)).toMatchObject({ added: 1000, already_members: 0, contact_count: 1000 });
    expect(await memberRows(list.id)).toBe(1000);
    expect(await json(await addMembers(tenant.secret, list.id, ids))).toMatchObject({
      added: 0,
      already_members: 1000,
    });
  });

  it("pages its contacts newest first, rendered as GET /v1/contacts does", async () => {
    const tenant = await seedTenant();
    const list = await createList(tenant.secret);
    const contacts = [];
    for (let i = 0; i < 5; i++) {
      contacts.push(
        await createContact(tenant.secret, {
          name: `p${i}`,
          addresses: [{ channel: "email", address: `p${i}@example.com` }],
          tags: ["t"],
        }),
      );
    }
    const outsider = await createContact(tenant.secret, { name: "not a member" });
    await addMembers(
      tenant.secret,
      list.id,
      contacts.map((c) => c.id),
    );
    const seen: any[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 10; i++) {
      const q: string = cursor ? `&cursor=${cursor}` : "";
      const page = await json(
        await call("GET", `/v1/lists/${list.id}/contacts?limit=2${q}`, { key: tenant.secret }),
      );
      expect(page.object).toBe("list");
      seen.push(...page.data);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    expect(seen.map((c) => c.name)).toEqual(["p4", "p3", "p2", "p1", "p0"]);
    expect(seen.map((c) => c.id)).not.toContain(outsider.id);
    const direct = await json(await call("GET", `/v1/contacts/${contacts[4].id}`, { key: tenant.secret }));
    expect(seen[0]).toEqual(direct);
  });

  it("removes a member; the contact stays", async () => {
    const tenant = await seedTenant();
    const list = await createList(tenant.secret);
    const a = await createContact(tenant.secret);
    await addMembers(tenant.secret, list.id, [a.id]);
    expect(
      await json(await call("DELETE", `/v1/lists/${list.id}/contacts/${a.id}`, { key: tenant.secret })),
    ).toEqual({ object: "list_membership", list_id: list.id, contact_id: a.id, deleted: true });
    await expectError(
      await call("DELETE", `/v1/lists/${list.id}/contacts/${a.id}`, { key: tenant.secret }),
      404,
      "resource_not_found",
    );
    expect((await call("GET", `/v1/contacts/${a.id}`, { key: tenant.secret })).status).toBe(200);
    expect(
      (await json(await call("GET", `/v1/lists/${list.id}`, { key: tenant.secret }))).contact_count,
    ).toBe(0);
  });

  it("deleting a list removes its memberships, not its contacts", async () => {
    const tenant = await seedTenant();
    const list = await createList(tenant.secret);
    const kept = await createList(tenant.secret, { name: "kept" });
    const a = await createContact(tenant.secret);
    await addMembers(tenant.secret, list.id, [a.id]);
    await addMembers(tenant.secret, kept.id, [a.id]);
    expect((await call("DELETE", `/v1/lists/${list.id}`, { key: tenant.secret })).status).toBe(200);
    expect(await memberRows(list.id)).toBe(0);
    expect(await memberRows(kept.id)).toBe(1);
    expect((await call("GET", `/v1/contacts/${a.id}`, { key: tenant.secret })).status).toBe(200);
  });

  it("deleting a contact removes it from its lists", async () => {
    const tenant = await seedTenant();
    const list = await createList(tenant.secret);
    const a = await createContact(tenant.secret);
    const b = await createContact(tenant.secret);
    await addMembers(tenant.secret, list.id, [a.id, b.id]);
    expect((await call("DELETE", `/v1/contacts/${a.id}`, { key: tenant.secret })).status).toBe(200);
    expect(await memberRows(list.id)).toBe(1);
    const shown = await json(await call("GET", `/v1/lists/${list.id}`, { key: tenant.secret }));
    expect(shown.contact_count).toBe(1);
  });
});
