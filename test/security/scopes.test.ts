import { beforeAll, describe, expect, it } from "vitest";
import { ALL_SCOPES, call, expectError, type SeededKey, seedKey, seedTenant } from "../helpers";
import { described, documentOperations, fillPath, isPublicPath, type Operation, sink } from "./support";

/**
 * Generated from the served OpenAPI document: every authenticated operation names its scope
 * (`x-required-scope` and both security schemes); a key holding every scope but that one gets 403
 * insufficient_scope naming it, before the body is validated; no key gets 401; a key holding only that scope
 * gets past the check.
 */

/** A body each operation accepts; an operation with a body that is missing here fails the coverage test. */
function validBodies(sinkUrl: string): Record<string, () => unknown> {
  return {
    "POST /v1/api-keys": () => ({ name: "scope-check", scopes: ["keys:manage"] }),
    "POST /v1/api-keys/{id}/rotate": () => ({ overlap_seconds: 60 }),
    "POST /v1/channels": () => ({
      type: "sms",
      name: "Scope check",
      account_sid: `AC${"0".repeat(32)}`,
      auth_token: "token-12345678",
      from: "+14155550123",
    }),
    "PATCH /v1/channels/{id}": () => ({ name: "renamed" }),
    "POST /v1/templates": () => ({
      name: `scope_check_${crypto.randomUUID().slice(0, 8)}`,
      language: "en_US",
      category: "utility",
      body: "Hello {{1}}, welcome.",
    }),
    "POST /v1/messages": () => ({ channel: "sms", to: "+5511987654321", text: { body: "scope check" } }),
    "POST /v1/webhook-endpoints": () => ({ url: sinkUrl, events: ["message.delivered"] }),
    "PATCH /v1/webhook-endpoints/{id}": () => ({ description: "renamed" }),
    "POST /v1/webhook-endpoints/{id}/rotate-secret": () => ({ overlap_seconds: 60 }),
    "POST /v1/webhook-endpoints/{id}/replay": () => ({ since: new Date(Date.now() - 60_000).toISOString() }),
    "POST /v1/events/{id}/replay": () => ({}),
    "POST /v1/contacts": () => ({ name: "Scope Check", external_id: crypto.randomUUID() }),
    "PATCH /v1/contacts/{id}": () => ({ name: "Renamed" }),
    "POST /v1/sandbox/inbound": () => ({ from: "+5511987650000", text: "scope check" }),
    "POST /v1/lists": () => ({ name: "Scope check" }),
    "PATCH /v1/lists/{id}": () => ({ name: "Renamed" }),
    "POST /v1/lists/{id}/contacts": () => ({ contact_ids: ["con_01jd3x6n2m8q4v7w9y0z1a2b3c"] }),
    "POST /v1/segments": () => ({
      name: "Scope check",
      filter: { all: [{ field: "tags", op: "contains", value: "vip" }] },
    }),
    "PATCH /v1/segments/{id}": () => ({ name: "Renamed" }),
    "POST /v1/segments/preview": () => ({ filter: { any: [{ field: "channel", op: "has", value: "sms" }] } }),
    "POST /v1/suppressions": () => ({ channel: "sms", address: "+5511987654999" }),
    "POST /v1/lookups/phone-numbers": () => ({ phone_numbers: ["+5511987654321"] }),
    "POST /v1/contact-imports": () => ({ url: "https://files.example.com/contacts.csv", format: "csv" }),
    "POST /v1/media": () => ({ url: "https://files.example.com/logo.png" }),
    "POST /v1/balance/top-ups": () => ({ amount: "1.00" }),
    "POST /v1/broadcasts": () => ({ ...BROADCAST_BODY, dry_run: true }),
    "POST /v1/broadcasts/preview": () => BROADCAST_BODY,
    "POST /v1/broadcasts/{id}/test": () => ({ to: ["+5511987654321"] }),
  };
}

const BROADCAST_BODY = {
  name: "Scope check",
  channel: "sms",
  text: { body: "Hi {{contact.name|there}}" },
  audience: { contact_ids: ["con_01jd3x6n2m8q4v7w9y0z1a2b3c"] },
};

/** Valid JSON that no operation's schema accepts (every body schema is strict). */
const INVALID_BODY = { __not_a_field__: [1] };

type Scheme = "bearer" | "x-api-key";

function request(op: Operation, options: { key?: string; scheme?: Scheme; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (op.headers.has("idempotency-key")) headers["idempotency-key"] = crypto.randomUUID();
  if (options.key !== undefined) {
    if (options.scheme === "x-api-key") headers["x-api-key"] = options.key;
    else headers.authorization = `Bearer ${options.key}`;
  }
  const path = fillPath(op.path, Object.fromEntries(op.pathParams.map((p) => [p.name, p.example])));
  return call(op.method, path, { headers, body: options.body });
}

describe("promise: every operation needs exactly the scope the OpenAPI document names", () => {
  let operations: Operation[];
  let scoped: Operation[];
  let bodies: Record<string, () => unknown>;
  /** Per set of accepted scopes: a key holding every other scope; per scope: a key holding only that one. */
  const allBut = new Map<string, SeededKey>();
  const only = new Map<string, SeededKey>();

  beforeAll(async () => {
    operations = await documentOperations();
    scoped = operations.filter((op) => !isPublicPath(op.path));
    bodies = validBodies((await sink()).url);
    const tenant = await seedTenant();
    for (const scope of ALL_SCOPES) only.set(scope, await seedKey(tenant.tenantId, { scopes: [scope] }));
    for (const accepted of new Set(scoped.map((op) => op.accepted.join(",")))) {
      const scopes = ALL_SCOPES.filter((s) => !accepted.split(",").includes(s));
      allBut.set(accepted, await seedKey(tenant.tenantId, { scopes }));
    }
  });

  /** The key for `scope` from `keys`, failing loudly for a scope the test does not know. */
  function keyFor(keys: Map<string, SeededKey>, op: Operation): string {
    const key = op.scope ? keys.get(op.scope) : undefined;
    if (!key) throw new Error(`${op.label}: unknown scope ${op.scope}`);
    return key.secret;
  }
  /** A key holding every scope but those the operation accepts. */
  function keyWithout(op: Operation): string {
    const key = allBut.get(op.accepted.join(","));
    if (!key) throw new Error(`${op.label}: no key without ${op.accepted.join(", ")}`);
    return key.secret;
  }

  it("names one known scope in x-required-scope and in both security schemes; public operations need none", () => {
    expect(scoped.length).toBeGreaterThan(30);
    for (const op of scoped) {
      expect(ALL_SCOPES, op.label).toContain(op.scope);
      expect(op.accepted[0], op.label).toBe(op.scope);
      for (const scope of op.accepted) expect(ALL_SCOPES, op.label).toContain(scope);
      expect(op.security, op.label).toEqual(
        op.accepted.flatMap((s) => [{ bearerAuth: [s] }, { apiKeyHeader: [s] }]),
      );
    }
    for (const op of operations.filter((o) => isPublicPath(o.path))) {
      expect(op.security, op.label).toEqual([]);
      expect(op.scope, op.label).toBeNull();
    }
    const withBody = scoped.filter((op) => op.hasBody).map((op) => op.label);
    expect(Object.keys(bodies).sort(), "validBodies must cover every operation with a body").toEqual(
      withBody.sort(),
    );
  });

  it("answers 401 without a key and 403 insufficient_scope, naming the scope, to a key with every other scope", async () => {
    const visited = new Set<string>();
    for (const op of scoped) {
      const body = bodies[op.label]?.();
      await expectError(await request(op, { body }), 401, "api_key_missing");
      for (const scheme of ["bearer", "x-api-key"] as const) {
        const error = await expectError(
          await request(op, { key: keyWithout(op), scheme, body }),
          403,
          "insufficient_scope",
        );
        expect(error.details, op.label).toEqual([{ path: "scope", message: op.scope }]);
        expect(error.message, op.label).toContain(`\`${op.scope}\``);
      }
      if (op.hasBody) {
        // The scope is checked before the body: a body the route would refuse still gets the 403 (and
        // the 401 without a key).
        await expectError(await request(op, { body: INVALID_BODY }), 401, "api_key_missing");
        await expectError(
          await request(op, { key: keyWithout(op), body: INVALID_BODY }),
          403,
          "insufficient_scope",
        );
      }
      visited.add(op.label);
    }
    const expected = operations.filter((op) => !isPublicPath(op.path)).map((op) => op.label);
    expect([...visited].sort(), "every non-public operation of the document was visited").toEqual(
      expected.sort(),
    );
  });

  it("lets a key holding only that scope past the check; the same key's invalid body is a validation 400", async () => {
    const visited = new Set<string>();
    for (const op of scoped) {
      const key = keyFor(only, op);
      const { status, text } = await described(await request(op, { key, body: bodies[op.label]?.() }));
      expect([401, 403], `${op.label} with only ${op.scope}: ${text}`).not.toContain(status);
      // A body from validBodies really is valid (so the 403s above were not validation answers in disguise).
      expect(text, op.label).not.toMatch(/"code":"(validation_error|invalid_json)"/);
      if (op.hasBody) {
        await expectError(await request(op, { key, body: INVALID_BODY }), 400, "validation_error");
      }
      // A broader scope the route accepts (e.g. contacts:manage on a contacts:read route) passes too.
      for (const broader of op.accepted.slice(1)) {
        const alone = only.get(broader)?.secret;
        const answer = await described(await request(op, { key: alone, body: bodies[op.label]?.() }));
        expect([401, 403], `${op.label} with only ${broader}: ${answer.text}`).not.toContain(answer.status);
      }
      visited.add(op.label);
    }
    expect(visited.size).toBe(scoped.length);
  });

  it("public operations answer without a key, never with api_key_missing", async () => {
    for (const op of operations.filter((o) => isPublicPath(o.path))) {
      const { status, text } = await described(await request(op, { body: op.hasBody ? {} : undefined }));
      expect(status, `${op.label}: ${text}`).not.toBe(401);
      expect(text, op.label).not.toContain("api_key_missing");
    }
  });
});
