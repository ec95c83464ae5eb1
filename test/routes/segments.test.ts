import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_FILTER_CONDITIONS } from "../../src/domain/segments";
import { call, expectError, json, type SeededKey, seedTenant } from "../helpers";

/**
 * Segment filters against a hand-computed expectation: fifteen contacts whose tags, attributes, addresses,
 * lists and creation dates are chosen so each operator includes some and excludes others (including the
 * near misses: "12" vs 12, true vs 1, "PRO" vs "pro", a missing attribute).
 */

const JAN = Date.parse("2026-01-01T00:00:00Z");
const MAR = Date.parse("2026-03-01T00:00:00Z");
const MAY = Date.parse("2026-05-01T00:00:00Z");

const SEED: Array<{ name: string; body: Record<string, unknown>; createdAt: number }> = [
  {
    name: "c1",
    createdAt: JAN,
    body: {
      addresses: [{ channel: "sms", address: "+442071838750" }],
      tags: ["vip"],
      attributes: { plan: "pro", orders: 12, beta: true },
    },
  },
  {
    name: "c2",
    createdAt: JAN,
    body: {
      addresses: [{ channel: "whatsapp", address: "+447400123456" }],
      tags: ["VIP", "newsletter"],
      attributes: { plan: "free", orders: 3 },
    },
  },
  {
    name: "c3",
    createdAt: JAN,
    body: {
      addresses: [{ channel: "sms", address: "+12015550123" }],
      tags: ["newsletter"],
      attributes: { plan: "pro", orders: "12" },
    },
  },
  {
    name: "c4",
    createdAt: JAN,
    body: {
      addresses: [{ channel: "email", address: "a@example.com" }],
      attributes: { orders: 7.5, beta: false },
    },
  },
  {
    name: "c5",
    createdAt: JAN,
    body: {
      addresses: [{ channel: "whatsapp", address: "+5511987654321" }],
      tags: ["vip"],
      attributes: { plan: "enterprise", orders: 40, since: "2025-06-01" },
    },
  },
  { name: "c6", createdAt: MAR, body: { tags: ["churned"] } },
  {
    name: "c7",
    createdAt: MAR,
    body: {
      addresses: [
        { channel: "email", address: "b@example.com" },
        { channel: "sms", address: "+447400123457" },
      ],
      tags: ["newsletter", "churned"],
      attributes: { plan: "pro", orders: 0, since: "2026-02-01" },
    },
  },
  {
    name: "c8",
    createdAt: MAR,
    body: {
      addresses: [{ channel: "whatsapp", address: "+12015550124" }],
      tags: ["vip"],
      attributes: { orders: -1, "a.b": "dotted" },
    },
  },
  { name: "c9", createdAt: MAR, body: { tags: ["vip"], attributes: { plan: "PRO" } } },
  { name: "c10", createdAt: MAR, body: { attributes: { beta: 1 } } },
  ...["b1", "b2", "b3", "b4", "b5"].map((name) => ({ name, createdAt: MAY, body: { tags: ["bulk"] } })),
];

const ALL = SEED.map((s) => s.name);
const BULK = ["b1", "b2", "b3", "b4", "b5"];
const except = (...names: string[]) => ALL.filter((n) => !names.includes(n));

let tenant: SeededKey;
const idOf = new Map<string, string>();
const nameOf = new Map<string, string>();
let listOne: string;
let listTwo: string;

beforeAll(async () => {
  tenant = await seedTenant();
  for (const seed of SEED) {
    const res = await call("POST", "/v1/contacts", {
      key: tenant.secret,
      body: { ...seed.body, name: seed.name },
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const contact = await json(res);
    idOf.set(seed.name, contact.id);
    nameOf.set(contact.id, seed.name);
    await env.DB.prepare("UPDATE contacts SET created_at = ? WHERE id = ?")
      .bind(seed.createdAt, contact.id)
      .run();
  }
  listOne = await makeList("one", ["c1", "c5"]);
  listTwo = await makeList("two", ["c3"]);
});

async function makeList(name: string, members: string[]) {
  const list = await json(await call("POST", "/v1/lists", { key: tenant.secret, body: { name } }));
  const res = await call("POST", `/v1/lists/${list.id}/contacts`, {
    key: tenant.secret,
    body: { contact_ids: members.map((m) => idOf.get(m)) },
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return list.id as string;
}

async function matches(filter: unknown): Promise<string[]> {
  const res = await call("POST", "/v1/segments/preview", { key: tenant.secret, body: { filter } });
  expect(res.status, await res.clone().text()).toBe(200);
  const body = await json(res);
  expect(body.object).toBe("segment_preview");
  const names = body.contacts.map((c: { id: string }) => nameOf.get(c.id));
  expect(body.contact_count).toBe(names.length);
  return names.sort();
}

const one = (field: string, op: string, value?: unknown) => ({
  all: [value === undefined ? { field, op } : { field, op, value }],
});
const sorted = (names: string[]) => [...names].sort();

describe("segment filters, evaluated in D1", () => {
  it("tags: contains and not_contains, case-insensitively", async () => {
    expect(await matches(one("tags", "contains", "vip"))).toEqual(sorted(["c1", "c2", "c5", "c8", "c9"]));
    expect(await matches(one("tags", "contains", "VIP"))).toEqual(sorted(["c1", "c2", "c5", "c8", "c9"]));
    expect(await matches(one("tags", "not_contains", "vip"))).toEqual(
      sorted(except("c1", "c2", "c5", "c8", "c9")),
    );
  });

  it("attributes: eq and neq by type and case", async () => {
    expect(await matches(one("attributes.plan", "eq", "pro"))).toEqual(sorted(["c1", "c3", "c7"]));
    expect(await matches(one("attributes.plan", "neq", "pro"))).toEqual(sorted(except("c1", "c3", "c7")));
    expect(await matches(one("attributes.beta", "eq", true))).toEqual(["c1"]);
    expect(await matches(one("attributes.beta", "eq", false))).toEqual(["c4"]);
    expect(await matches(one("attributes.beta", "eq", 1))).toEqual(["c10"]);
    expect(await matches(one("attributes.orders", "eq", 12))).toEqual(["c1"]);
    expect(await matches(one("attributes.orders", "eq", "12"))).toEqual(["c3"]);
    expect(await matches(one("attributes.orders", "eq", 7.5))).toEqual(["c4"]);
    expect(await matches(one("attributes.a.b", "eq", "dotted"))).toEqual(["c8"]);
  });

  it("attributes: in, exists and comparisons", async () => {
    expect(await matches(one("attributes.orders", "in", [12, 3]))).toEqual(sorted(["c1", "c2"]));
    expect(await matches(one("attributes.orders", "in", ["12", 40, true]))).toEqual(sorted(["c3", "c5"]));
    expect(await matches(one("attributes.orders", "gt", 3))).toEqual(sorted(["c1", "c4", "c5"]));
    expect(await matches(one("attributes.orders", "gte", 3))).toEqual(sorted(["c1", "c2", "c4", "c5"]));
    expect(await matches(one("attributes.orders", "lt", 0))).toEqual(["c8"]);
    expect(await matches(one("attributes.orders", "lte", 0))).toEqual(sorted(["c7", "c8"]));
    expect(await matches(one("attributes.since", "lt", "2026-01-01"))).toEqual(["c5"]);
    expect(await matches(one("attributes.since", "gte", "2026"))).toEqual(["c7"]);
    expect(await matches(one("attributes.beta", "exists"))).toEqual(sorted(["c1", "c4", "c10"]));
    expect(await matches(one("attributes.beta", "exists", false))).toEqual(sorted(except("c1", "c4", "c10")));
  });

  it("lists, channels, countries, line types and creation dates", async () => {
    expect(await matches(one("list_id", "in", [listOne]))).toEqual(sorted(["c1", "c5"]));
    expect(await matches(one("list_id", "in", [listOne, listTwo]))).toEqual(sorted(["c1", "c3", "c5"]));
    expect(await matches(one("list_id", "in", ["lst_01jd3x6n2m8q4v7w9y0z1a2b3c"]))).toEqual([]);
    expect(await matches(one("channel", "has", "email"))).toEqual(sorted(["c4", "c7"]));
    expect(await matches(one("channel", "has", "whatsapp"))).toEqual(sorted(["c2", "c5", "c8"]));
    expect(await matches(one("channel", "has", "sms"))).toEqual(sorted(["c1", "c3", "c7"]));
    expect(await matches(one("country", "in", ["GB"]))).toEqual(sorted(["c1", "c2", "c7"]));
    expect(await matches(one("country", "in", ["gb", "BR"]))).toEqual(sorted(["c1", "c2", "c5", "c7"]));
    expect(await matches(one("country", "in", ["US"]))).toEqual(sorted(["c3", "c8"]));
    expect(await matches(one("line_type", "in", ["landline"]))).toEqual(["c1"]);
    expect(await matches(one("line_type", "in", ["mobile"]))).toEqual(sorted(["c2", "c5", "c7"]));
    expect(await matches(one("line_type", "in", ["mobile_or_landline"]))).toEqual(sorted(["c3", "c8"]));
    expect(await matches(one("created_at", "gte", "2026-03-01T00:00:00Z"))).toEqual(
      sorted(except("c1", "c2", "c3", "c4", "c5")),
    );
    expect(await matches(one("created_at", "lte", "2026-01-01T00:00:00Z"))).toEqual(
      sorted(["c1", "c2", "c3", "c4", "c5"]),
    );
    expect(await matches(one("created_at", "lte", "2026-03-01T01:00:00+02:00"))).toEqual(
      sorted(["c1", "c2", "c3", "c4", "c5"]),
    );
  });

  it("all/any nest", async () => {
    expect(
      await matches({
        all: [
          { field: "tags", op: "contains", value: "vip" },
          {
            any: [
              { field: "country", op: "in", value: ["GB"] },
              { field: "channel", op: "has", value: "whatsapp" },
            ],
          },
        ],
      }),
    ).toEqual(sorted(["c1", "c2", "c5", "c8"]));
    expect(
      await matches({
        any: [
          {
            all: [
              { field: "tags", op: "contains", value: "vip" },
              { field: "line_type", op: "in", value: ["landline"] },
            ],
          },
          { field: "attributes.plan", op: "eq", value: "enterprise" },
          { all: [{ any: [{ field: "tags", op: "contains", value: "bulk" }] }] },
        ],
      }),
    ).toEqual(sorted(["c1", "c5", ...BULK]));
  });

  it("the largest filter allowed runs within D1's bound-parameter limit", async () => {
    const conditions = Array.from({ length: MAX_FILTER_CONDITIONS }, (_, i) => ({
      field: "attributes.orders",
      op: i % 2 ? "gt" : "in",
      value: i % 2 ? 1000 + i : [1000 + i, `x${i}`],
    }));
    conditions[0] = { field: "attributes.orders", op: "gte", value: 40 };
    expect(await matches({ any: conditions })).toEqual(["c5"]);
  });

  it("SQL in values is data, not SQL", async () => {
    for (const value of ["' OR 1=1 --", '") OR 1=1 --', "x'); DROP TABLE contacts; --"]) {
      expect(await matches(one("tags", "contains", value))).toEqual([]);
      expect(await matches(one("attributes.plan", "eq", value))).toEqual([]);
      // A text comparison, nothing more: exactly the plans that sort before the string.
      const plans = SEED.filter((s) => typeof (s.body.attributes as any)?.plan === "string");
      const before = plans.filter((s) => (s.body.attributes as any).plan < value).map((s) => s.name);
      expect(await matches(one("attributes.plan", "lt", value))).toEqual(sorted(before));
      expect(await matches(one("list_id", "in", [value]))).toEqual([]);
    }
    expect(await matches(one("tags", "contains", "vip"))).toHaveLength(5);
  });

  it("a bad field, operator or value is a 400 naming its path", async () => {
    const cases: Array<[unknown, string]> = [
      [{ all: [{ field: "phone", op: "eq", value: "x" }] }, "filter.all[0].field"],
      [
        {
          all: [
            { field: "tags", op: "contains", value: "a" },
            { field: "tags", op: "eq", value: "b" },
          ],
        },
        "filter.all[1].op",
      ],
      [{ any: [{ all: [{ field: "channel", op: "has", value: "fax" }] }] }, "filter.any[0].all[0].value"],
      [{ all: [{ field: 'attributes.x") OR 1=1 --', op: "exists" }] }, "filter.all[0].field"],
      [{ both: [] }, "filter"],
    ];
    for (const [filter, path] of cases) {
      for (const [url, body] of [
        ["/v1/segments/preview", { filter }],
        ["/v1/segments", { name: "s", filter }],
      ] as const) {
        const error = await expectError(
          await call("POST", url, { key: tenant.secret, body }),
          400,
          "validation_error",
        );
        expect(error.details[0].path).toBe(path);
        expect(error.message).toContain(path);
      }
    }
  });
});

describe("saved segments", () => {
  it("create, retrieve with a count computed now, update, list, page members and delete", async () => {
    const created = await call("POST", "/v1/segments", {
      key: tenant.secret,
      body: { name: "VIPs", filter: one("tags", "contains", " VIP ") },
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const segment = await json(created);
    expect(segment).toMatchObject({
      object: "segment",
      name: "VIPs",
      description: null,
      filter: { all: [{ field: "tags", op: "contains", value: "vip" }] },
      contact_count: 5,
    });
    expect(segment.id).toMatch(/^seg_[0-9a-z]{26}$/);

    // The count follows the contacts: a new VIP is counted on the next read.
    const extra = await json(
      await call("POST", "/v1/contacts", { key: tenant.secret, body: { name: "late", tags: ["vip"] } }),
    );
    const shown = await json(await call("GET", `/v1/segments/${segment.id}`, { key: tenant.secret }));
    expect(shown.contact_count).toBe(6);
    await call("DELETE", `/v1/contacts/${extra.id}`, { key: tenant.secret });

    const patched = await call("PATCH", `/v1/segments/${segment.id}`, {
      key: tenant.secret,
      body: { description: "bulk ones", filter: one("tags", "contains", "bulk") },
    });
    expect(patched.status, await patched.clone().text()).toBe(200);
    expect(await json(patched)).toMatchObject({ name: "VIPs", description: "bulk ones", contact_count: 5 });
    await expectError(
      await call("PATCH", `/v1/segments/${segment.id}`, {
        key: tenant.secret,
        body: { filter: one("tags", "has", "x") },
      }),
      400,
      "validation_error",
    );

    // Members, two at a time, newest first, each once.
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 10; i++) {
      const q: string = cursor ? `&cursor=${cursor}` : "";
      const res = await call("GET", `/v1/segments/${segment.id}/contacts?limit=2${q}`, {
        key: tenant.secret,
      });
      expect(res.status).toBe(200);
      const body = await json(res);
      expect(body.data.length).toBeLessThanOrEqual(2);
      seen.push(...body.data.map((c: { id: string }) => nameOf.get(c.id)));
      cursor = body.next_cursor;
      if (!cursor) break;
    }
    expect(seen).toEqual(["b5", "b4", "b3", "b2", "b1"]);

    const listed = await json(await call("GET", "/v1/segments?limit=100", { key: tenant.secret }));
    expect(listed.data.find((s: { id: string }) => s.id === segment.id)).toMatchObject({
      contact_count: null,
    });

    expect((await call("DELETE", `/v1/segments/${segment.id}`, { key: tenant.secret })).status).toBe(200);
    await expectError(
      await call("GET", `/v1/segments/${segment.id}`, { key: tenant.secret }),
      404,
      "resource_not_found",
    );
    await expectError(
      await call("GET", `/v1/segments/${segment.id}/contacts`, { key: tenant.secret }),
      404,
      "resource_not_found",
    );
  });

  it("segment members render like GET /v1/contacts", async () => {
    const seg = await json(
      await call("POST", "/v1/segments", {
        key: tenant.secret,
        body: { name: "c7", filter: one("attributes.since", "eq", "2026-02-01") },
      }),
    );
    const page = await json(await call("GET", `/v1/segments/${seg.id}/contacts`, { key: tenant.secret }));
    const contact = await json(await call("GET", `/v1/contacts/${idOf.get("c7")}`, { key: tenant.secret }));
    expect(page).toEqual({ object: "list", data: [contact], next_cursor: null });
  });

  it("segment lists page and refuse bad input", async () => {
    const fresh = await seedTenant();
    for (let i = 0; i < 3; i++) {
      await call("POST", "/v1/segments", {
        key: fresh.secret,
        body: { name: `s${i}`, filter: one("tags", "contains", "x") },
      });
    }
    const first = await json(await call("GET", "/v1/segments?limit=2", { key: fresh.secret }));
    expect(first.data.map((s: { name: string }) => s.name)).toEqual(["s2", "s1"]);
    const second = await json(
      await call("GET", `/v1/segments?limit=2&cursor=${first.next_cursor}`, { key: fresh.secret }),
    );
    expect(second).toMatchObject({ data: [{ name: "s0" }], next_cursor: null });
    await expectError(
      await call("GET", "/v1/segments?cursor=nope", { key: fresh.secret }),
      400,
      "invalid_cursor",
    );
    for (const body of [
      { filter: one("tags", "contains", "x") },
      { name: "", filter: one("tags", "contains", "x") },
      { name: "x".repeat(201), filter: one("tags", "contains", "x") },
      { name: "s" },
      { name: "s", filter: one("tags", "contains", "x"), extra: 1 },
    ]) {
      await expectError(
        await call("POST", "/v1/segments", { key: fresh.secret, body }),
        400,
        "validation_error",
      );
    }
  });
});

describe("contract", () => {
  it("documents every list and segment route with its scope and errors", async () => {
    const doc = await json(await call("GET", "/openapi.json"));
    const expected: Array<[string, string, string, string[]]> = [
      ["/v1/lists", "post", "contacts:manage", ["400"]],
      ["/v1/lists", "get", "contacts:read", ["400"]],
      ["/v1/lists/{id}", "get", "contacts:read", ["404"]],
      ["/v1/lists/{id}", "patch", "contacts:manage", ["400", "404"]],
      ["/v1/lists/{id}", "delete", "contacts:manage", ["404"]],
      ["/v1/lists/{id}/contacts", "post", "contacts:manage", ["400", "404"]],
      ["/v1/lists/{id}/contacts", "get", "contacts:read", ["400", "404"]],
      ["/v1/lists/{id}/contacts/{contact_id}", "delete", "contacts:manage", ["404"]],
      ["/v1/segments", "post", "contacts:manage", ["400"]],
      ["/v1/segments", "get", "contacts:read", ["400"]],
      ["/v1/segments/preview", "post", "contacts:read", ["400"]],
      ["/v1/segments/{id}", "get", "contacts:read", ["404"]],
      ["/v1/segments/{id}", "patch", "contacts:manage", ["400", "404"]],
      ["/v1/segments/{id}", "delete", "contacts:manage", ["404"]],
      ["/v1/segments/{id}/contacts", "get", "contacts:read", ["400", "404"]],
    ];
    for (const [path, method, scope, statuses] of expected) {
      const op = doc.paths?.[path]?.[method];
      expect(op, `${method} ${path}`).toBeDefined();
      expect(op.summary).toBeTruthy();
      expect(op["x-required-scope"]).toBe(scope);
      for (const status of ["200", "201", "403", ...statuses].filter((s) => s in op.responses)) {
        expect(op.responses[status].description).toBeTruthy();
      }
      for (const status of statuses) expect(Object.keys(op.responses)).toContain(status);
    }
    expect(doc.components.schemas.SegmentFilter.description).toContain("attributes.<name>");
    expect(doc.components.schemas.SegmentFilter.example).toBeDefined();
  });
});
