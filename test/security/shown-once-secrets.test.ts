/**
 * Attack class: getting a secret a second time (issue 12, point 3). Key secrets and webhook signing secrets are
 * shown in the one response that creates them. An idempotent replay of that call answers the same object with
 * `secret: null`, and the KeyGate's stored response, which the replay is served from, never holds the secret.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, json, seedTenant } from "../helpers";

/** Every stored idempotent response body of a key's KeyGate. */
async function storedResponses(keyId: string): Promise<string> {
  const gate = env.KEY_GATE.get(env.KEY_GATE.idFromName(keyId));
  return runInDurableObject(gate, (_instance, state) =>
    JSON.stringify(state.storage.sql.exec("SELECT body FROM idempotency").toArray()),
  );
}

/** The call twice with one idempotency key: the original answer, then the replay. */
async function callTwice(key: string, method: string, path: string, body?: Record<string, unknown>) {
  const headers = { "idempotency-key": `once-${crypto.randomUUID()}` };
  const first = await call(method, path, { key, body, headers });
  const replay = await call(method, path, { key, body, headers });
  return { first, replay };
}

async function expectShownOnce(
  keyId: string,
  calls: { first: Response; replay: Response },
  status: number,
  secretPattern: RegExp,
) {
  expect(calls.first.status).toBe(status);
  expect(calls.replay.status).toBe(status);
  expect(calls.first.headers.get("idempotent-replayed")).toBeNull();
  expect(calls.replay.headers.get("idempotent-replayed")).toBe("true");
  const original = await json(calls.first);
  const replayed = await json(calls.replay);
  expect(original.secret).toMatch(secretPattern);
  expect(replayed.secret).toBeNull();
  // Everything else is the same object.
  expect({ ...replayed, secret: original.secret }).toEqual(original);
  const stored = await storedResponses(keyId);
  expect(stored).toContain(original.id);
  expect(stored).not.toContain(original.secret);
  return original;
}

describe("promise: a secret is shown once; an idempotent replay answers secret: null and the KeyGate never stores it", () => {
  it("POST /v1/api-keys", async () => {
    const admin = await seedTenant();
    const calls = await callTwice(admin.secret, "POST", "/v1/api-keys", {
      name: "replayed",
      scopes: ["messages:read"],
    });
    await expectShownOnce(admin.keyId, calls, 201, /^sw_test_/);
  });

  it("POST /v1/api-keys/{id}/rotate", async () => {
    const admin = await seedTenant();
    const key = await json(
      await call("POST", "/v1/api-keys", {
        key: admin.secret,
        body: { name: "k", scopes: ["messages:read"] },
      }),
    );
    const calls = await callTwice(admin.secret, "POST", `/v1/api-keys/${key.id}/rotate`, {
      overlap_seconds: 60,
    });
    const rotated = await expectShownOnce(admin.keyId, calls, 200, /^sw_test_/);
    // The replay rotated nothing: the secret the first call returned is still the current one.
    expect((await call("GET", "/v1/messages", { key: rotated.secret })).status).toBe(200);
    const current = await json(await call("GET", `/v1/api-keys/${key.id}`, { key: admin.secret }));
    expect(current.prefix).toBe(rotated.prefix);
  });

  it("POST /v1/webhook-endpoints", async () => {
    const tenant = await seedTenant();
    const calls = await callTwice(tenant.secret, "POST", "/v1/webhook-endpoints", {
      url: "https://hooks.example.com/once",
      events: ["*"],
    });
    await expectShownOnce(tenant.keyId, calls, 201, /^whsec_/);
  });

  it("POST /v1/webhook-endpoints/{id}/rotate-secret", async () => {
    const tenant = await seedTenant();
    const endpoint = await json(
      await call("POST", "/v1/webhook-endpoints", {
        key: tenant.secret,
        body: { url: "https://hooks.example.com/rotate", events: ["*"] },
      }),
    );
    const calls = await callTwice(
      tenant.secret,
      "POST",
      `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`,
      {
        overlap_seconds: 0,
      },
    );
    await expectShownOnce(tenant.keyId, calls, 200, /^whsec_/);
  });

  it("the OpenAPI document says so on every secret field", async () => {
    const doc = await json(await call("GET", "/openapi.json"));
    for (const name of ["ApiKeyWithSecret", "WebhookEndpointWithSecret"]) {
      const schema = doc.components.schemas[name];
      // An extended schema is rendered as allOf [base, { properties: { secret } }].
      const secret = [schema, ...(schema.allOf ?? [])].find((part) => part.properties?.secret)?.properties
        .secret;
      expect(secret.description, name).toMatch(/replay/i);
      expect(JSON.stringify(secret), name).toContain("null");
    }
  });
});
