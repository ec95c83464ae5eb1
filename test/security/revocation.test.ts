/**
 * Attack class: a revoked or rotated-out key that keeps working (issue 13, point 3). Keys found by their hash
 * are cached per isolate for speed; the cache may never stretch revocation beyond one second.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { KEY_CACHE_MS } from "../../src/middleware/auth";
import { call, json, seedTenant } from "../helpers";

afterEach(() => vi.useRealTimers());

const listKeys = (secret: string) => call("GET", "/v1/api-keys", { key: secret });

describe("promise: a revoked key stops working at once where it was revoked and within one second everywhere", () => {
  it("revoked through the API: the next request is refused", async () => {
    const admin = await seedTenant();
    const key = await json(
      await call("POST", "/v1/api-keys", { key: admin.secret, body: { name: "k", scopes: ["keys:manage"] } }),
    );
    expect((await listKeys(key.secret)).status).toBe(200); // now cached
    await call("DELETE", `/v1/api-keys/${key.id}`, { key: admin.secret });
    expect((await listKeys(key.secret)).status).toBe(401);
  });

  it("rotated with overlap 0 through the API: the old secret is refused on the next request", async () => {
    const admin = await seedTenant();
    const key = await json(
      await call("POST", "/v1/api-keys", { key: admin.secret, body: { name: "k", scopes: ["keys:manage"] } }),
    );
    expect((await listKeys(key.secret)).status).toBe(200);
    await call("POST", `/v1/api-keys/${key.id}/rotate`, { key: admin.secret, body: { overlap_seconds: 0 } });
    expect((await listKeys(key.secret)).status).toBe(401);
  });

  it("revoked by another isolate (straight in D1): refused once the cache's second has passed", async () => {
    expect(KEY_CACHE_MS).toBeLessThanOrEqual(1_000);
    const admin = await seedTenant();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now());
    expect((await listKeys(admin.secret)).status).toBe(200);
    // What DELETE /v1/api-keys/{id} does, as seen from an isolate that did not run it.
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ?")
      .bind(Date.now(), admin.keyId)
      .run();
    vi.setSystemTime(Date.now() + KEY_CACHE_MS);
    expect((await listKeys(admin.secret)).status).toBe(401);
  });

  it("an expiring key is refused the moment it expires, cached or not", async () => {
    const admin = await seedTenant();
    const key = await json(
      await call("POST", "/v1/api-keys", {
        key: admin.secret,
        body: { name: "k", scopes: ["keys:manage"], ttl_seconds: 60 },
      }),
    );
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now());
    expect((await listKeys(key.secret)).status).toBe(200);
    vi.setSystemTime(new Date(key.expires_at).getTime() + 1);
    expect((await listKeys(key.secret)).status).toBe(401);
  });
});
