import { describe, expect, it } from "vitest";
import { MAX_FILTER_CONDITIONS, MAX_FILTER_DEPTH, parseSegmentFilter } from "../../src/domain/segments";

function issuesOf(input: unknown) {
  const result = parseSegmentFilter(input);
  if (result.ok) throw new Error(`expected issues for ${JSON.stringify(input)}`);
  return result.issues;
}

describe("segment filter grammar", () => {
  it("accepts every field/op and normalises values", () => {
    const result = parseSegmentFilter({
      all: [
        { field: "tags", op: "contains", value: " VIP " },
        { field: "tags", op: "not_contains", value: "churned" },
        { field: "attributes.plan", op: "eq", value: "pro" },
        { field: "attributes.plan", op: "neq", value: false },
        { field: "attributes.orders", op: "in", value: [1, 2, 2, "3"] },
        { field: "attributes.orders", op: "gt", value: 3 },
        { field: "attributes.since", op: "lte", value: "2026-01-01" },
        { field: "attributes.beta", op: "exists" },
        { field: "attributes.gone", op: "exists", value: false },
        {
          any: [
            { field: "list_id", op: "in", value: ["lst_01jd3x6n2m8q4v7w9y0z1a2b3c"] },
            { field: "channel", op: "has", value: "email" },
            { field: "country", op: "in", value: ["gb", "US"] },
            { field: "line_type", op: "in", value: ["mobile", "mobile_or_landline"] },
            { field: "created_at", op: "gte", value: "2026-01-31T02:00:00+02:00" },
          ],
        },
      ],
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const all = (result.filter as { all: any[] }).all;
    expect(all[0]).toEqual({ field: "tags", op: "contains", value: "vip" });
    expect(all[4].value).toEqual([1, 2, "3"]);
    expect(all[7]).toEqual({ field: "attributes.beta", op: "exists", value: true });
    expect(all[9].any[2].value).toEqual(["GB", "US"]);
    expect(all[9].any[4].value).toBe("2026-01-31T00:00:00.000Z");
  });

  it("names the path of each bad part", () => {
    expect(
      issuesOf({
        all: [
          { field: "tags", op: "contains", value: "a" },
          { field: "nope", op: "eq" },
        ],
      }),
    ).toEqual([{ path: "filter.all[1].field", message: expect.stringContaining("Unknown field `nope`") }]);
    const op = issuesOf({ any: [{ all: [{ field: "tags", op: "eq", value: "x" }] }] });
    expect(op[0]?.path).toBe("filter.any[0].all[0].op");
    expect(op[0]?.message).toContain("contains, not_contains");
    expect(issuesOf({ all: [{}, { field: "channel", op: "has", value: "fax" }] }).map((i) => i.path)).toEqual(
      ["filter.all[0].field", "filter.all[1].value"],
    );
    expect(issuesOf({ all: [{ field: "country", op: "in", value: ["GB", "GBR"] }] })[0]?.path).toBe(
      "filter.all[0].value[1]",
    );
    expect(issuesOf({ all: [{ field: "line_type", op: "in", value: ["cellular"] }] })[0]?.path).toBe(
      "filter.all[0].value[0]",
    );
    expect(issuesOf({ all: [{ field: "created_at", op: "gte", value: "yesterday" }] })[0]?.path).toBe(
      "filter.all[0].value",
    );
    expect(
      issuesOf({ all: [{ field: "created_at", op: "gt", value: "2026-01-01T00:00:00Z" }] })[0]?.path,
    ).toBe("filter.all[0].op");
    expect(issuesOf({ all: [{ field: "attributes.n", op: "gt", value: { $gt: 1 } }] })[0]?.path).toBe(
      "filter.all[0].value",
    );
    expect(issuesOf({ all: [{ field: "attributes.n", op: "exists", value: "yes" }] })[0]?.path).toBe(
      "filter.all[0].value",
    );
    expect(issuesOf({ all: [{ field: "tags", op: "contains", value: "x", extra: 1 }] })[0]?.path).toBe(
      "filter.all[0]",
    );
  });

  it("refuses malformed groups", () => {
    for (const [input, path] of [
      [null, "filter"],
      [[], "filter"],
      [{}, "filter"],
      [{ all: [], any: [] }, "filter"],
      [{ all: [] }, "filter.all"],
      [{ all: "tags" }, "filter.all"],
      [{ every: [] }, "filter"],
      [{ all: [7] }, "filter.all[0]"],
    ] as const) {
      expect(issuesOf(input)[0]?.path).toBe(path);
    }
  });

  it("refuses attribute names that are not keys (no JSON path or SQL gets through)", () => {
    for (const field of [
      'attributes.a"] OR 1=1 --',
      "attributes.$.x[0]",
      "attributes.",
      "attributes.a b",
      `attributes.${"x".repeat(65)}`,
    ]) {
      expect(issuesOf({ all: [{ field, op: "exists" }] })[0]?.path).toBe("filter.all[0].field");
    }
  });

  it("caps depth, conditions and list sizes", () => {
    let nested: unknown = { field: "tags", op: "contains", value: "x" };
    for (let i = 0; i < MAX_FILTER_DEPTH; i++) nested = { all: [nested] };
    expect(parseSegmentFilter(nested).ok).toBe(true);
    expect(issuesOf({ any: [nested] })[0]?.message).toContain(`at most ${MAX_FILTER_DEPTH} deep`);

    const condition = { field: "tags", op: "contains", value: "x" };
    const half = Array.from({ length: MAX_FILTER_CONDITIONS / 2 }, () => condition);
    expect(parseSegmentFilter({ all: [{ all: half }, { any: half }] }).ok).toBe(true);
    expect(issuesOf({ all: [{ all: half }, { any: half }, condition] })[0]?.message).toContain(
      `at most ${MAX_FILTER_CONDITIONS} conditions`,
    );
    expect(issuesOf({ all: [{ field: "list_id", op: "in", value: [] }] })[0]?.path).toBe(
      "filter.all[0].value",
    );
    expect(
      issuesOf({
        all: [{ field: "list_id", op: "in", value: Array.from({ length: 101 }, (_, i) => `l${i}`) }],
      })[0]?.path,
    ).toBe("filter.all[0].value");
    expect(issuesOf({ all: [{ field: "attributes.a", op: "eq", value: "x".repeat(1001) }] })[0]?.path).toBe(
      "filter.all[0].value",
    );
  });
});
