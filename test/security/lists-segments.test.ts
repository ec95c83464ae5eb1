import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, expectError, json, type SeededKey, seedKey, seedTenant } from "../helpers";

/**
 * Attack class: reaching another tenant's (or the other environment's) lists, segments and contacts through
 * the audience routes, writing with a read-only key, and hostile filters. Every foreign id answers 404 as if
 * it did not exist; a foreign contact is never added to a list; a filter only ever sees the caller's contacts.
 */

let owner: SeededKey;
let stranger: SeededKey;
let otherEnv: SeededKey;
let reader: SeededKey;
let outsider: SeededKey;
let listId: string;
let segmentId: string;
let contactId: string;
let strangerContactId: string;
let liveContactId: string;

const filter = { all: [{ field: "tags", op: "contains", value: "vip" }] };

beforeAll(async () => {
  owner = await seedTenant();
  stranger = await seedTenant();
  otherEnv = await seedKey(owner.tenantId, { environment: "live" });
  reader = await seedKey(owner.tenantId, { scopes: ["contacts:read"] });
  outsider = await seedKey(owner.tenantId, { scopes: ["messages:send", "templates:read"] });
  const body = { tags: ["vip"] };
  contactId = (await json(await call("POST", "/v1/contacts", { key: owner.secret, body }))).id;
  strangerContactId = (await json(await call("POST", "/v1/contacts", { key: stranger.secret, body }))).id;
  liveContactId = (await json(await call("POST", "/v1/contacts", { key: otherEnv.secret, body }))).id;
  listId = (await json(await call("POST", "/v1/lists", { key: owner.secret, body: { name: "mine" } }))).id;
  await call("POST", `/v1/lists/${listId}/contacts`, {
    key: owner.secret,
    body: { contact_ids: [contactId] },
  });
  segmentId = (
    await json(await call("POST", "/v1/segments", { key: owner.secret, body: { name: "s", filter } }))
  ).id;
});

const byId = (): Array<[string, string, unknown?]> => [
  ["GET", `/v1/lists/${listId}`],
  ["PATCH", `/v1/lists/${listId}`, { name: "hijacked" }],
  ["GET", `/v1/lists/${listId}/contacts`],
  ["POST", `/v1/lists/${listId}/contacts`, { contact_ids: [contactId] }],
  ["DELETE", `/v1/lists/${listId}/contacts/${contactId}`],
  ["GET", `/v1/segments/${segmentId}`],
  ["GET", `/v1/segments/${segmentId}/contacts`],
  ["PATCH", `/v1/segments/${segmentId}`, { name: "hijacked" }],
  ["DELETE", `/v1/segments/${segmentId}`],
  ["DELETE", `/v1/lists/${listId}`],
];

describe("isolation: another tenant's or environment's list or segment is not found", () => {
  for (const who of ["another tenant", "the other environment"] as const) {
    it(`${who}: 404 on every id route, and nothing changed`, async () => {
      const key = who === "another tenant" ? stranger.secret : otherEnv.secret;
      for (const [method, path, body] of byId()) {
        await expectError(await call(method, path, { key, body }), 404, "resource_not_found");
      }
      const list = await json(await call("GET", `/v1/lists/${listId}`, { key: owner.secret }));
      expect(list).toMatchObject({ name: "mine", contact_count: 1 });
      const segment = await json(await call("GET", `/v1/segments/${segmentId}`, { key: owner.secret }));
      expect(segment).toMatchObject({ name: "s", contact_count: 1 });
      for (const path of ["/v1/lists", "/v1/segments"]) {
        const page = await json(await call("GET", path, { key }));
        expect(page.data.map((x: { id: string }) => x.id)).not.toContain(
          path.endsWith("lists") ? listId : segmentId,
        );
      }
    });
  }

  it("a foreign or other-environment contact is never added to a list", async () => {
    for (const foreign of [strangerContactId, liveContactId]) {
      const error = await expectError(
        await call("POST", `/v1/lists/${listId}/contacts`, {
          key: owner.secret,
          body: { contact_ids: [contactId, foreign] },
        }),
        404,
        "resource_not_found",
      );
      expect(error.details).toEqual([{ path: "contact_ids[1]", message: expect.any(String) }]);
    }
    const rows = await env.DB.prepare("SELECT contact_id FROM list_members WHERE list_id = ?")
      .bind(listId)
      .all();
    expect(rows.results.map((r) => r.contact_id)).toEqual([contactId]);
  });

  it("filters see only the caller's contacts, even naming another tenant's list", async () => {
    const theirList = await json(
      await call("POST", "/v1/lists", { key: stranger.secret, body: { name: "theirs" } }),
    );
    await call("POST", `/v1/lists/${theirList.id}/contacts`, {
      key: stranger.secret,
      body: { contact_ids: [strangerContactId] },
    });
    const preview = async (key: string, f: unknown) =>
      json(await call("POST", "/v1/segments/preview", { key, body: { filter: f } }));
    expect(
      await preview(owner.secret, { all: [{ field: "list_id", op: "in", value: [theirList.id] }] }),
    ).toMatchObject({ contact_count: 0, contacts: [] });
    const mine = await preview(owner.secret, filter);
    expect(mine.contacts.map((c: { id: string }) => c.id)).toEqual([contactId]);
    const live = await preview(otherEnv.secret, filter);
    expect(live.contacts.map((c: { id: string }) => c.id)).toEqual([liveContactId]);
  });
});

describe("scopes", () => {
  it("contacts:read reads lists and segments but cannot write them", async () => {
    for (const path of [
      "/v1/lists",
      `/v1/lists/${listId}`,
      `/v1/lists/${listId}/contacts`,
      "/v1/segments",
      `/v1/segments/${segmentId}`,
      `/v1/segments/${segmentId}/contacts`,
    ]) {
      expect((await call("GET", path, { key: reader.secret })).status, path).toBe(200);
    }
    expect(
      (await call("POST", "/v1/segments/preview", { key: reader.secret, body: { filter } })).status,
    ).toBe(200);
    const writes: Array<[string, string, unknown?]> = [
      ["POST", "/v1/lists", { name: "x" }],
      ["PATCH", `/v1/lists/${listId}`, { name: "x" }],
      ["DELETE", `/v1/lists/${listId}`],
      ["POST", `/v1/lists/${listId}/contacts`, { contact_ids: [contactId] }],
      ["DELETE", `/v1/lists/${listId}/contacts/${contactId}`],
      ["POST", "/v1/segments", { name: "x", filter }],
      ["PATCH", `/v1/segments/${segmentId}`, { name: "x" }],
      ["DELETE", `/v1/segments/${segmentId}`],
    ];
    for (const [method, path, body] of writes) {
      await expectError(await call(method, path, { key: reader.secret, body }), 403, "insufficient_scope");
    }
    expect(await json(await call("GET", `/v1/lists/${listId}`, { key: owner.secret }))).toMatchObject({
      name: "mine",
      contact_count: 1,
    });
  });

  it("a key without a contacts scope cannot even read", async () => {
    for (const [method, path, body] of [
      ["GET", "/v1/lists"],
      ["GET", `/v1/lists/${listId}/contacts`],
      ["GET", `/v1/segments/${segmentId}`],
      ["POST", "/v1/segments/preview", { filter }],
    ] as Array<[string, string, unknown?]>) {
      await expectError(await call(method, path, { key: outsider.secret, body }), 403, "insufficient_scope");
    }
  });
});

describe("hostile input is a 4xx, never a 5xx", () => {
  it("deeply nested, oversized and injection-shaped filters", async () => {
    let deep: unknown = { field: "tags", op: "contains", value: "x" };
    for (let i = 0; i < 500; i++) deep = { all: [deep] };
    const wide = { any: Array.from({ length: 5000 }, () => ({ field: "tags", op: "contains", value: "x" })) };
    const hostile: unknown[] = [
      deep,
      wide,
      { all: [{ field: "attributes.x') OR 1=1 --", op: "exists" }] },
      { all: [{ field: "attributes.$.a", op: "eq", value: 1 }] },
      { all: [{ field: "tags", op: "contains", value: { $ne: null } }] },
      { all: [{ field: "list_id", op: "in", value: Array.from({ length: 101 }, (_, i) => `lst_${i}`) }] },
      { all: [{ field: "__proto__", op: "eq", value: 1 }] },
      { all: [{ field: "constructor", op: "eq", value: 1 }] },
      { all: [{ field: "tags", op: "toString", value: "x" }] },
      { all: [{ field: "created_at", op: "gte", value: "2026-13-45T99:99:99Z" }] },
      "SELECT * FROM contacts",
    ];
    for (const f of hostile) {
      const res = await call("POST", "/v1/segments/preview", { key: owner.secret, body: { filter: f } });
      expect(res.status, JSON.stringify(f).slice(0, 100)).toBe(400);
    }
  });

  it("too many contact ids or a huge body", async () => {
    await expectError(
      await call("POST", `/v1/lists/${listId}/contacts`, {
        key: owner.secret,
        body: { contact_ids: Array.from({ length: 1001 }, (_, i) => `con_${i}`) },
      }),
      400,
      "validation_error",
    );
    const huge = await call("POST", "/v1/lists", {
      key: owner.secret,
      body: { name: "x", description: "d".repeat(2_000_000) },
    });
    expect(huge.status).toBe(413);
    await expectError(
      await call("GET", `/v1/lists/${"x".repeat(500)}`, { key: owner.secret }),
      400,
      "validation_error",
    );
  });

  it("adding the same members twice does not double anything", async () => {
    const again = await json(
      await call("POST", `/v1/lists/${listId}/contacts`, {
        key: owner.secret,
        body: { contact_ids: [contactId] },
      }),
    );
    expect(again).toMatchObject({ added: 0, already_members: 1, contact_count: 1 });
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM list_members WHERE list_id = ?")
      .bind(listId)
      .first<{ n: number }>();
    expect(rows?.n).toBe(1);
  });
});
