import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, expectError, json, seedTenant } from "../helpers";

afterEach(() => vi.useRealTimers());

async function createKey(secret: string, body: Record<string, unknown>) {
  return call("POST", "/v1/api-keys", { key: secret, body });
}

describe("POST /v1/api-keys", () => {
  it("creates a key, returns the secret once, and the secret works", async () => {
    const admin = await seedTenant();
    const res = await createKey(admin.secret, {
      name: "checkout",
      scopes: ["messages:send", "messages:read"],
    });
    expect(res.status).toBe(201);
    const key = await json(res);
    expect(key).toMatchObject({
      object: "api_key",
      name: "checkout",
      environment: "test",
      scopes: ["messages:send", "messages:read"],
      status: "active",
      expires_at: null,
      revoked_at: null,
      rate_limit: { requests_per_minute: 6000, burst: 1200 },
      created_by_key_id: admin.keyId,
    });
    expect(key.id).toMatch(/^key_[0-9a-z]{26}$/);
    expect(key.secret).toMatch(/^sw_test_[A-Za-z0-9_-]{43}$/);
    expect(key.secret.startsWith(key.prefix)).toBe(true);
    expect(new Date(key.created_at).toISOString()).toBe(key.created_at);

    // The new key authenticates, and holds only its scopes.
    await expectError(await call("GET", "/v1/api-keys", { key: key.secret }), 403, "insufficient_scope");

    // Retrieval never shows the secret again.
    const fetched = await json(await call("GET", `/v1/api-keys/${key.id}`, { key: admin.secret }));
    expect(fetched.secret).toBeUndefined();
    expect(fetched.prefix).toBe(key.prefix);
    const listed = await json(await call("GET", "/v1/api-keys", { key: admin.secret }));
    expect(JSON.stringify(listed)).not.toContain(key.secret);
  });

  it("stores no plaintext secret, only a SHA-256 hash", async () => {
    const admin = await seedTenant();
    const created = await json(await createKey(admin.secret, { name: "k", scopes: ["messages:read"] }));
    const rotated = await json(
      await call("POST", `/v1/api-keys/${created.id}/rotate`, { key: admin.secret }),
    );
    const dump = JSON.stringify([
      (await env.DB.prepare("SELECT * FROM api_keys").all()).results,
      (await env.DB.prepare("SELECT * FROM api_key_secrets").all()).results,
      (await env.DB.prepare("SELECT * FROM audit_logs").all()).results,
    ]);
    for (const secret of [created.secret, rotated.secret, admin.secret]) {
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(secret.slice(14)); // not even the random part
    }
    const hashes = await env.DB.prepare("SELECT secret_hash FROM api_key_secrets WHERE key_id = ?")
      .bind(created.id)
      .all();
    expect(hashes.results.length).toBe(2);
    for (const row of hashes.results) expect(row.secret_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("cannot grant scopes or an environment the caller lacks", async () => {
    const narrow = await seedTenant({ scopes: ["keys:manage", "messages:read"] });
    const error = await expectError(
      await createKey(narrow.secret, { name: "x", scopes: ["messages:read", "messages:send", "audit:read"] }),
      403,
      "insufficient_scope",
    );
    expect(error.message).toContain("messages:send");
    expect(error.message).toContain("audit:read");
    expect(error.message).not.toContain("messages:read,");
    await expectError(
      await createKey(narrow.secret, { name: "x", scopes: ["messages:read"], environment: "live" }),
      403,
      "environment_not_permitted",
    );
    const live = await seedTenant({ environment: "live" });
    const liveKey = await json(await createKey(live.secret, { name: "x", scopes: ["messages:read"] }));
    expect(liveKey.secret).toMatch(/^sw_live_/);
    expect(liveKey.environment).toBe("live");
    await expectError(
      await createKey(live.secret, { name: "x", scopes: ["messages:read"], environment: "test" }),
      403,
      "environment_not_permitted",
    );
  });

  it("validates the body with one detail per bad field", async () => {
    const admin = await seedTenant();
    const error = await expectError(
      await createKey(admin.secret, { name: "", scopes: ["messages:fly"], ttl_seconds: 5, surprise: 1 }),
      400,
      "validation_error",
    );
    const paths = error.details.map((d: { path: string }) => d.path);
    expect(paths).toEqual(expect.arrayContaining(["name", "scopes[0]", "ttl_seconds"]));
    expect(error.details.some((d: { message: string }) => d.message.includes("surprise"))).toBe(true);
    const missing = await expectError(await createKey(admin.secret, {}), 400, "validation_error");
    expect(missing.details).toEqual(
      expect.arrayContaining([
        { path: "name", message: "Required field is missing." },
        { path: "scopes", message: "Required field is missing." },
      ]),
    );
    const both = await expectError(
      await createKey(admin.secret, {
        name: "x",
        scopes: ["messages:read"],
        ttl_seconds: 3600,
        expires_at: "2099-01-01T00:00:00Z",
      }),
      400,
      "validation_error",
    );
    expect(both.message).toContain("not both");
    const past = await expectError(
      await createKey(admin.secret, {
        name: "x",
        scopes: ["messages:read"],
        expires_at: "2001-01-01T00:00:00+02:00",
      }),
      400,
      "validation_error",
    );
    expect(past.message).toContain("future");
  });

  it("honours ttl_seconds, expires_at and a custom rate limit", async () => {
    const admin = await seedTenant();
    const before = Date.now();
    const ttl = await json(
      await createKey(admin.secret, {
        name: "ttl",
        scopes: ["messages:read"],
        ttl_seconds: 3600,
        rate_limit: { requests_per_minute: 60, burst: 10 },
      }),
    );
    const expiresAt = new Date(ttl.expires_at).getTime();
    expect(expiresAt).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3_600_000);
    expect(ttl.rate_limit).toEqual({ requests_per_minute: 60, burst: 10 });
    const at = await json(
      await createKey(admin.secret, {
        name: "at",
        scopes: ["messages:read"],
        expires_at: "2099-06-01T12:00:00+02:00",
      }),
    );
    expect(at.expires_at).toBe("2099-06-01T10:00:00.000Z");

    // The ttl key stops working once its time has passed.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(before + 3_601_000);
    await expectError(await call("GET", "/v1/audit-logs", { key: ttl.secret }), 401, "api_key_expired");
    const listed = await json(await call("GET", `/v1/api-keys/${ttl.id}`, { key: admin.secret }));
    expect(listed.status).toBe("expired");
  });
});

describe("GET /v1/api-keys", () => {
  it("paginates newest first with a stable cursor", async () => {
    const admin = await seedTenant();
    const ids: string[] = [admin.keyId];
    for (let i = 0; i < 6; i++) {
      ids.push((await json(await createKey(admin.secret, { name: `k${i}`, scopes: ["messages:read"] }))).id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `?limit=4&cursor=${encodeURIComponent(cursor)}` : "?limit=4";
      const body = await json(await call("GET", `/v1/api-keys${query}`, { key: admin.secret }));
      expect(body.object).toBe("list");
      seen.push(...body.data.map((k: any) => k.id));
      cursor = body.next_cursor;
      pages++;
      // A key created mid-walk is newer than the cursor, so it never shifts later pages.
      if (pages === 1) await createKey(admin.secret, { name: "late", scopes: ["messages:read"] });
    } while (cursor && pages < 10);
    expect(pages).toBe(2);
    expect(seen).toEqual([...ids].reverse());
  });

  it("rejects bad limits and cursors", async () => {
    const admin = await seedTenant();
    for (const limit of ["0", "101", "abc", "1.5"]) {
      const error = await expectError(
        await call("GET", `/v1/api-keys?limit=${limit}`, { key: admin.secret }),
        400,
        "validation_error",
      );
      expect(error.details[0].path).toBe("limit");
    }
    await expectError(
      await call("GET", "/v1/api-keys?cursor=nonsense", { key: admin.secret }),
      400,
      "invalid_cursor",
    );
    const defaults = await json(await call("GET", "/v1/api-keys", { key: admin.secret }));
    expect(defaults.next_cursor).toBeNull();
  });
});

describe("rotation", () => {
  it("keeps the id, accepts the old secret inside the overlap and refuses it after", async () => {
    const admin = await seedTenant();
    const key = await json(await createKey(admin.secret, { name: "svc", scopes: ["keys:manage"] }));
    const start = Date.now();
    const rotated = await json(
      await call("POST", `/v1/api-keys/${key.id}/rotate`, {
        key: admin.secret,
        body: { overlap_seconds: 3600 },
      }),
    );
    expect(rotated.id).toBe(key.id);
    expect(rotated.secret).not.toBe(key.secret);
    expect(rotated.prefix).not.toBe(key.prefix);
    expect(rotated.rotated_at).not.toBeNull();
    expect(new Date(rotated.previous_secret_expires_at).getTime()).toBeGreaterThanOrEqual(start + 3_600_000);
    // The list shows the same overlap (its own query: one row per key with its secrets' latest expiry).
    const listed = await json(await call("GET", "/v1/api-keys", { key: admin.secret }));
    const inList = listed.data.find((k: { id: string }) => k.id === key.id);
    expect(inList.previous_secret_expires_at).toBe(rotated.previous_secret_expires_at);
    expect(inList.expires_at).toBeNull();
    expect(
      listed.data.find((k: { id: string }) => k.id === admin.keyId).previous_secret_expires_at,
    ).toBeNull();

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(start + 3_599_000);
    expect((await call("GET", "/v1/api-keys", { key: key.secret })).status).toBe(200);
    expect((await call("GET", "/v1/api-keys", { key: rotated.secret })).status).toBe(200);
    vi.setSystemTime(start + 3_601_000);
    await expectError(await call("GET", "/v1/api-keys", { key: key.secret }), 401, "api_key_expired");
    expect((await call("GET", "/v1/api-keys", { key: rotated.secret })).status).toBe(200);
    const after = await json(await call("GET", `/v1/api-keys/${key.id}`, { key: admin.secret }));
    expect(after.previous_secret_expires_at).toBeNull();
    const listedAfter = await json(await call("GET", "/v1/api-keys", { key: admin.secret }));
    expect(
      listedAfter.data.find((k: { id: string }) => k.id === key.id).previous_secret_expires_at,
    ).toBeNull();
  });

  it("defaults to a 24 h overlap, and 0 revokes the old secret at once", async () => {
    const admin = await seedTenant();
    const key = await json(await createKey(admin.secret, { name: "svc", scopes: ["keys:manage"] }));
    const start = Date.now();
    const rotated = await json(await call("POST", `/v1/api-keys/${key.id}/rotate`, { key: admin.secret }));
    const overlapMs = new Date(rotated.previous_secret_expires_at).getTime() - start;
    expect(overlapMs).toBeGreaterThanOrEqual(86_400_000 - 1000);
    expect(overlapMs).toBeLessThanOrEqual(86_400_000 + 1000);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(start + 86_000_000);
    expect((await call("GET", "/v1/api-keys", { key: key.secret })).status).toBe(200);
    vi.useRealTimers();

    const again = await json(
      await call("POST", `/v1/api-keys/${key.id}/rotate`, {
        key: rotated.secret,
        body: { overlap_seconds: 0 },
      }),
    );
    await expectError(await call("GET", "/v1/api-keys", { key: rotated.secret }), 401, "api_key_invalid");
    expect((await call("GET", "/v1/api-keys", { key: again.secret })).status).toBe(200);
  });

  it("rejects a bad overlap and rotating a revoked key", async () => {
    const admin = await seedTenant();
    const key = await json(await createKey(admin.secret, { name: "svc", scopes: ["keys:manage"] }));
    for (const overlap of [-1, 1.5, "60", 40 * 86_400]) {
      await expectError(
        await call("POST", `/v1/api-keys/${key.id}/rotate`, {
          key: admin.secret,
          body: { overlap_seconds: overlap },
        }),
        400,
        "validation_error",
      );
    }
    await call("DELETE", `/v1/api-keys/${key.id}`, { key: admin.secret });
    await expectError(
      await call("POST", `/v1/api-keys/${key.id}/rotate`, { key: admin.secret }),
      409,
      "api_key_revoked",
    );
  });
});

describe("DELETE /v1/api-keys/{id}", () => {
  it("revokes at once, including secrets in a rotation overlap, and repeats harmlessly", async () => {
    const admin = await seedTenant();
    const key = await json(await createKey(admin.secret, { name: "svc", scopes: ["keys:manage"] }));
    const rotated = await json(await call("POST", `/v1/api-keys/${key.id}/rotate`, { key: admin.secret }));
    const revoked = await json(await call("DELETE", `/v1/api-keys/${key.id}`, { key: admin.secret }));
    expect(revoked).toMatchObject({ id: key.id, status: "revoked" });
    expect(revoked.revoked_at).not.toBeNull();
    for (const secret of [key.secret, rotated.secret]) {
      await expectError(await call("GET", "/v1/api-keys", { key: secret }), 401, "api_key_invalid");
    }
    const again = await json(await call("DELETE", `/v1/api-keys/${key.id}`, { key: admin.secret }));
    expect(again.revoked_at).toBe(revoked.revoked_at);
    await expectError(
      await call("GET", "/v1/api-keys/key_00000000000000000000000000", { key: admin.secret }),
      404,
      "resource_not_found",
    );
  });

  it("a key can revoke itself", async () => {
    const admin = await seedTenant();
    expect((await call("DELETE", `/v1/api-keys/${admin.keyId}`, { key: admin.secret })).status).toBe(200);
    await expectError(await call("GET", "/v1/api-keys", { key: admin.secret }), 401, "api_key_invalid");
  });
});
