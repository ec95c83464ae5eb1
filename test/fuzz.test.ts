import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { call, json, seedTenant } from "./helpers";

// Malformed input of every kind must get a 4xx with the envelope: never a 5xx, never a stack trace.
const RUNS = 100;
/** Path ids and query strings are cheaper to cover: fewer runs per route keep the suite within budget. */
const PARAM_RUNS = 25;

let secret = "";
let doc: any;

beforeAll(async () => {
  secret = (await seedTenant()).secret;
  doc = await json(await call("GET", "/openapi.json"));
});

function operations(filter: (op: any) => boolean) {
  const ops: Array<{ method: string; path: string; op: any }> = [];
  for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      if (path.startsWith("/v1/") && filter(op)) ops.push({ method: method.toUpperCase(), path, op });
    }
  }
  return ops;
}

/** Fills path parameters with ids that exist nowhere (well-formed or not). */
const pathWithId = (path: string, id: string) => path.replace(/\{\w+\}/g, encodeURIComponent(id));

async function expect4xx(res: Response, label: string) {
  const text = await res.text();
  expect(res.status, `${label} → ${res.status} ${text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  expect(res.status, `${label} → ${res.status} ${text.slice(0, 300)}`).toBeLessThan(500);
  const body = JSON.parse(text);
  expect(typeof body.error.code).toBe("string");
  expect(text).not.toMatch(/\bat \S+\.(ts|js):\d+/);
}

function bodyFields(op: any): string[] {
  const schema = op.requestBody?.content?.["application/json"]?.schema;
  const ref = schema?.$ref?.split("/").pop();
  const resolved = ref ? doc.components.schemas[ref] : schema;
  return Object.keys(resolved?.properties ?? {});
}

/** Bodies that cannot be valid: not JSON, not an object, or known fields holding random JSON values. */
function malformedBodies(fields: string[]) {
  const wrongTypedObject = fc
    .record(Object.fromEntries(fields.map((f) => [f, fc.jsonValue()])), { requiredKeys: [] })
    .chain((obj) =>
      fc
        .dictionary(fc.string({ maxLength: 12 }), fc.jsonValue(), { maxKeys: 3 })
        .map((extra) => ({ ...extra, ...obj })),
    )
    .filter((obj) => Object.keys(obj).length > 0)
    .map((obj) => JSON.stringify(obj));
  return fc.oneof(
    fc.string({ minLength: 1 }).filter((s) => s.trim() !== ""),
    fc
      .jsonValue()
      .filter((v) => v === null || typeof v !== "object" || Array.isArray(v))
      .map((v) => JSON.stringify(v)),
    wrongTypedObject,
  );
}

describe("malformed input never causes a 5xx", { timeout: 300_000 }, () => {
  it("random bodies on every route that takes one", async () => {
    const ops = operations((op) => op.requestBody);
    expect(ops.length).toBeGreaterThan(0);
    await Promise.all(
      ops.map(({ method, path, op }) =>
        fc.assert(
          fc.asyncProperty(malformedBodies(bodyFields(op)), async (raw) => {
            const url = pathWithId(path, "key_00000000000000000000000000");
            const res = await call(method, url, {
              key: secret,
              rawBody: raw,
              headers: { "content-type": "application/json" },
            });
            // A random body is almost never valid; when it is ({"name":"}"} makes a list), it is accepted.
            if (res.status < 300) return;
            await expect4xx(res, `${method} ${path} ${raw.slice(0, 80)}`);
          }),
          { numRuns: RUNS },
        ),
      ),
    );
  });

  it("random path ids on every route with one", async () => {
    await Promise.all(
      operations(() => true)
        .filter((o) => o.path.includes("{"))
        .map(({ method, path }) =>
          fc.assert(
            fc.asyncProperty(fc.string({ minLength: 1, maxLength: 120 }), async (id) => {
              const res = await call(method, pathWithId(path, id), { key: secret });
              await expect4xx(res, `${method} ${path} id=${id}`);
            }),
            { numRuns: PARAM_RUNS },
          ),
        ),
    );
  });

  it("random query strings on every list route", async () => {
    const lists = operations((op) => (op.parameters ?? []).some((p: any) => p.in === "query"));
    await Promise.all(
      lists.map(({ method, path, op }) => {
        const names: string[] = op.parameters.filter((p: any) => p.in === "query").map((p: any) => p.name);
        return fc.assert(
          fc.asyncProperty(
            fc.dictionary(fc.constantFrom(...names), fc.string({ maxLength: 40 }), { minKeys: 1 }),
            async (query) => {
              const qs = new URLSearchParams(query).toString();
              const res = await call(method, `${path}?${qs}`, { key: secret });
              expect(res.status, `${path}?${qs}`).toBeLessThan(500);
              if (res.status >= 400) await expect4xx(res, `${path}?${qs}`);
            },
          ),
          { numRuns: PARAM_RUNS },
        );
      }),
    );
  });
});
