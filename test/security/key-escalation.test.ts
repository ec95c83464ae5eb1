/**
 * Attack class: a weaker API key reaching a stronger one (issue 12, points 1, 2 and 6).
 * A `keys:manage` key must not be a master key: it may only act on keys it could have created itself.
 */
import { describe, expect, it } from "vitest";
import { ALL_SCOPES, call, expectError, json, seedKey, seedTenant } from "../helpers";

const HOUR_MS = 3_600_000;

async function createKey(secret: string, body: Record<string, unknown>) {
  return call("POST", "/v1/api-keys", { key: secret, body });
}

/** A tenant with an all-scope key and a key holding only `keys:manage`, made through the API. */
async function adminAndKeyManager() {
  const admin = await seedTenant();
  const manager = await json(await createKey(admin.secret, { name: "key-manager", scopes: ["keys:manage"] }));
  return { admin, manager };
}

describe("promise: a key can never rotate or revoke a key holding scopes it lacks", () => {
  it("a keys:manage-only key cannot rotate an all-scope key and receive its secret (403, scopes named)", async () => {
    const { admin, manager } = await adminAndKeyManager();
    const error = await expectError(
      await call("POST", `/v1/api-keys/${admin.keyId}/rotate`, { key: manager.secret }),
      403,
      "insufficient_scope",
    );
    expect(error.message).toContain("messages:send");
    expect(error.details.map((d: { message: string }) => d.message)).toEqual(
      ALL_SCOPES.filter((scope) => scope !== "keys:manage"),
    );
    // The admin's secret still works: nothing was rotated.
    expect((await call("GET", "/v1/api-keys", { key: admin.secret })).status).toBe(200);
  });

  it("a keys:manage-only key cannot revoke an all-scope key", async () => {
    const { admin, manager } = await adminAndKeyManager();
    await expectError(
      await call("DELETE", `/v1/api-keys/${admin.keyId}`, { key: manager.secret }),
      403,
      "insufficient_scope",
    );
    const fetched = await json(await call("GET", `/v1/api-keys/${admin.keyId}`, { key: admin.secret }));
    expect(fetched.status).toBe("active");
  });

  it("a key may always rotate and revoke itself", async () => {
    const { manager } = await adminAndKeyManager();
    const rotated = await call("POST", `/v1/api-keys/${manager.id}/rotate`, {
      key: manager.secret,
      body: { overlap_seconds: 0 },
    });
    expect(rotated.status).toBe(200);
    const { secret } = await json(rotated);
    const revoked = await call("DELETE", `/v1/api-keys/${manager.id}`, { key: secret });
    expect(revoked.status).toBe(200);
    expect((await json(revoked)).status).toBe("revoked");
  });

  it("a key holding every scope of the target may rotate and revoke it", async () => {
    const { admin, manager } = await adminAndKeyManager();
    const reader = await json(
      await createKey(admin.secret, { name: "reader", scopes: ["keys:manage", "messages:read"] }),
    );
    const sender = await json(await createKey(admin.secret, { name: "sender", scopes: ["keys:manage"] }));
    // reader holds keys:manage, the sender's only scope; the manager lacks messages:read, the reader's.
    expect((await call("POST", `/v1/api-keys/${sender.id}/rotate`, { key: reader.secret })).status).toBe(200);
    await expectError(
      await call("POST", `/v1/api-keys/${reader.id}/rotate`, { key: manager.secret }),
      403,
      "insufficient_scope",
    );
    expect((await call("DELETE", `/v1/api-keys/${sender.id}`, { key: reader.secret })).status).toBe(200);
  });
});

describe("promise: a key never creates or rotates a key that outlives or outruns it", () => {
  it("refuses a child expiring after the caller, naming the field", async () => {
    const tenant = await seedTenant();
    const shortLived = await seedKey(tenant.tenantId, { expiresAt: new Date(Date.now() + HOUR_MS) });
    const later = new Date(Date.now() + 2 * HOUR_MS).toISOString();
    const error = await expectError(
      await createKey(shortLived.secret, { name: "x", scopes: ["messages:read"], expires_at: later }),
      400,
      "validation_error",
    );
    expect(error.details.map((d: { path: string }) => d.path)).toEqual(["expires_at"]);
    const ttl = await expectError(
      await createKey(shortLived.secret, { name: "x", scopes: ["messages:read"], ttl_seconds: 7200 }),
      400,
      "validation_error",
    );
    expect(ttl.details[0].path).toBe("ttl_seconds");
  });

  it("a child of an expiring key without expires_at inherits the caller's expiry", async () => {
    const tenant = await seedTenant();
    const expiresAt = new Date(Date.now() + HOUR_MS);
    const shortLived = await seedKey(tenant.tenantId, { expiresAt });
    const child = await json(await createKey(shortLived.secret, { name: "x", scopes: ["messages:read"] }));
    expect(child.expires_at).toBe(expiresAt.toISOString());
    const sooner = new Date(Date.now() + HOUR_MS / 2).toISOString();
    const ok = await createKey(shortLived.secret, {
      name: "y",
      scopes: ["messages:read"],
      expires_at: sooner,
    });
    expect(ok.status).toBe(201);
  });

  it("refuses a child rate limit above the caller's; an unset one inherits the caller's lower limit", async () => {
    const { admin } = await adminAndKeyManager();
    const slow = await json(
      await createKey(admin.secret, {
        name: "slow",
        scopes: ["keys:manage", "messages:read"],
        rate_limit: { requests_per_minute: 60, burst: 10 },
      }),
    );
    const error = await expectError(
      await createKey(slow.secret, {
        name: "fast",
        scopes: ["messages:read"],
        rate_limit: { requests_per_minute: 6000, burst: 5 },
      }),
      400,
      "validation_error",
    );
    expect(error.details.map((d: { path: string }) => d.path)).toEqual(["rate_limit.requests_per_minute"]);
    const inherited = await json(
      await createKey(slow.secret, { name: "inherits", scopes: ["messages:read"] }),
    );
    expect(inherited.rate_limit).toEqual({ requests_per_minute: 60, burst: 10 });
  });

  it("refuses to rotate (and hand out the secret of) a key that outlives or outruns the caller", async () => {
    const { admin } = await adminAndKeyManager();
    const permanent = await json(
      await createKey(admin.secret, { name: "permanent", scopes: ["keys:manage"] }),
    );
    const shortLived = await json(
      await createKey(admin.secret, { name: "short", scopes: ["keys:manage"], ttl_seconds: 3600 }),
    );
    const error = await expectError(
      await call("POST", `/v1/api-keys/${permanent.id}/rotate`, { key: shortLived.secret }),
      400,
      "validation_error",
    );
    expect(error.details[0].path).toBe("expires_at");

    const slow = await json(
      await createKey(admin.secret, {
        name: "slow",
        scopes: ["keys:manage"],
        rate_limit: { requests_per_minute: 60, burst: 10 },
      }),
    );
    const fast = await expectError(
      await call("POST", `/v1/api-keys/${permanent.id}/rotate`, { key: slow.secret }),
      400,
      "validation_error",
    );
    expect(fast.details.map((d: { path: string }) => d.path)).toEqual([
      "rate_limit.requests_per_minute",
      "rate_limit.burst",
    ]);
    // Revoking does not hand anything out: the scope rule is the only one.
    expect((await call("DELETE", `/v1/api-keys/${permanent.id}`, { key: slow.secret })).status).toBe(200);
  });
});

describe("promise: overlap_seconds 0 ends every older secret of the key at once", () => {
  it("a secret still inside an earlier overlap stops working too", async () => {
    const { admin } = await adminAndKeyManager();
    const key = await json(await createKey(admin.secret, { name: "k", scopes: ["keys:manage"] }));
    const first = key.secret as string;
    const second = (await json(await call("POST", `/v1/api-keys/${key.id}/rotate`, { key: admin.secret })))
      .secret as string;
    // The first secret is in its 24 h overlap and still works.
    expect((await call("GET", "/v1/api-keys", { key: first })).status).toBe(200);
    const third = (
      await json(
        await call("POST", `/v1/api-keys/${key.id}/rotate`, {
          key: admin.secret,
          body: { overlap_seconds: 0 },
        }),
      )
    ).secret as string;
    for (const old of [first, second]) {
      const res = await call("GET", "/v1/api-keys", { key: old });
      expect(res.status).toBe(401);
    }
    expect((await call("GET", "/v1/api-keys", { key: third })).status).toBe(200);
    const fetched = await json(await call("GET", `/v1/api-keys/${key.id}`, { key: admin.secret }));
    expect(fetched.previous_secret_expires_at).toBeNull();
  });

  it("a shorter overlap also shortens an earlier, longer one", async () => {
    const { admin } = await adminAndKeyManager();
    const key = await json(await createKey(admin.secret, { name: "k", scopes: ["keys:manage"] }));
    await call("POST", `/v1/api-keys/${key.id}/rotate`, {
      key: admin.secret,
      body: { overlap_seconds: 86_400 },
    });
    const before = Date.now();
    await call("POST", `/v1/api-keys/${key.id}/rotate`, { key: admin.secret, body: { overlap_seconds: 60 } });
    const fetched = await json(await call("GET", `/v1/api-keys/${key.id}`, { key: admin.secret }));
    expect(new Date(fetched.previous_secret_expires_at).getTime()).toBeLessThanOrEqual(before + 61_000);
  });
});
