import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Environment } from "../../src/env";
import { ALL_SCOPES, call, expectError, json, seedKey, seedTenant } from "../helpers";
import { described, rows } from "./support";

/**
 * Sandbox top-ups add money, so: only a key that may spend (messages:send) can add it, only to its own
 * tenant's test wallet, never past the cap however many arrive at once, and never twice for one retried
 * request, even when the retries race.
 */

const CAP_MICROS = 1_000_000_000_000;

const topUp = (key: string, body: unknown, headers: Record<string, string> = {}) =>
  call("POST", "/v1/balance/top-ups", { key, body, headers });

/** Balance, ledger sum and top-up count of one wallet, straight from D1. */
async function wallet(tenantId: string, environment: Environment = "test") {
  const [row] = await rows<{ balance: number | null; ledger: number | null; top_ups: number }>(
    `SELECT (SELECT balance_micros FROM wallets WHERE tenant_id = ?1 AND environment = ?2) AS balance,
            (SELECT sum(amount_micros) FROM ledger_entries WHERE tenant_id = ?1 AND environment = ?2) AS ledger,
            (SELECT count(*) FROM ledger_entries WHERE tenant_id = ?1 AND environment = ?2 AND kind = 'top_up') AS top_ups`,
    tenantId,
    environment,
  );
  return { balance: row?.balance ?? null, ledger: row?.ledger ?? null, topUps: row?.top_ups ?? 0 };
}

describe("promise: only a spending key adds sandbox credit, and only to its own test wallet", () => {
  it("answers 401 without a key and 403 insufficient_scope (naming messages:send) without the scope", async () => {
    const { tenantId, secret } = await seedTenant();
    await call("GET", "/v1/balance", { key: secret }); // creates the wallet
    await expectError(
      await call("POST", "/v1/balance/top-ups", { body: { amount: "5.00" } }),
      401,
      "api_key_missing",
    );
    const everythingElse = await seedKey(tenantId, {
      scopes: ALL_SCOPES.filter((scope) => scope !== "messages:send"),
    });
    const readOnly = await seedKey(tenantId, { scopes: ["messages:read"] });
    for (const key of [everythingElse, readOnly]) {
      const error = await expectError(await topUp(key.secret, { amount: "5.00" }), 403, "insufficient_scope");
      expect(error.details).toEqual([{ path: "scope", message: "messages:send" }]);
      // The scope is checked before the body: an invalid one gets the same 403.
      await expectError(await topUp(key.secret, { amount: "abc" }), 403, "insufficient_scope");
    }
    expect(await wallet(tenantId)).toEqual({ balance: 10_000_000, ledger: 10_000_000, topUps: 0 });
  });

  it("a live key is refused, whatever scopes it holds, and nothing is written", async () => {
    const live = await seedTenant({ environment: "live" });
    await expectError(await topUp(live.secret, { amount: "5.00" }), 403, "test_mode_only");
    // No wallet was even created for the live environment (nor for test) by the refused call.
    expect(await wallet(live.tenantId, "live")).toEqual({ balance: null, ledger: null, topUps: 0 });
    expect(await wallet(live.tenantId, "test")).toEqual({ balance: null, ledger: null, topUps: 0 });
  });

  it("a top-up of tenant A never changes tenant B, nor A's live wallet", async () => {
    const a = await seedTenant({ name: "Tenant A" });
    const b = await seedTenant({ name: "Tenant B" });
    const aLive = await seedKey(a.tenantId, { environment: "live" });
    for (const key of [a, b, aLive]) await call("GET", "/v1/balance", { key: key.secret });
    const before = { b: await wallet(b.tenantId), aLive: await wallet(a.tenantId, "live") };

    const { status, text } = await described(await topUp(a.secret, { amount: "500.00" }));
    expect(status, text).toBe(201);

    expect(await wallet(a.tenantId)).toEqual({ balance: 510_000_000, ledger: 510_000_000, topUps: 1 });
    expect(await wallet(b.tenantId)).toEqual(before.b);
    expect(await wallet(a.tenantId, "live")).toEqual(before.aLive);
    const seenByB = await json(await call("GET", "/v1/balance", { key: b.secret }));
    expect(seenByB.balance).toBe("10.0000");
    expect(seenByB.recent_entries.map((e: any) => e.kind)).toEqual(["grant"]);
    const seenByALive = await json(await call("GET", "/v1/balance", { key: aLive.secret }));
    expect(seenByALive.recent_entries).toEqual([]);
  });
});

describe("promise: top-ups never pass the cap nor credit twice, even concurrently", () => {
  it("of 10 concurrent top-ups with room for 3, exactly 3 are credited and the ledger sums to the balance", async () => {
    const { secret, tenantId } = await seedTenant();
    await call("GET", "/v1/balance", { key: secret });
    // The grant stays the only earlier entry, so the ledger sums to the balance from here on.
    await env.DB.batch([
      env.DB.prepare(
        "UPDATE wallets SET balance_micros = ? WHERE tenant_id = ? AND environment = 'test'",
      ).bind(CAP_MICROS - 30_000_000, tenantId),
      env.DB.prepare(
        "UPDATE ledger_entries SET amount_micros = ?, balance_after_micros = ? WHERE tenant_id = ? AND environment = 'test'",
      ).bind(CAP_MICROS - 30_000_000, CAP_MICROS - 30_000_000, tenantId),
    ]);
    const answers = await Promise.all(
      Array.from({ length: 10 }, async () => described(await topUp(secret, { amount: "10.00" }))),
    );
    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses, JSON.stringify(answers)).toEqual([201, 201, 201, 400, 400, 400, 400, 400, 400, 400]);
    for (const answer of answers.filter((a) => a.status === 400)) {
      expect(JSON.parse(answer.text).error.code).toBe("validation_error");
    }
    expect(await wallet(tenantId)).toEqual({ balance: CAP_MICROS, ledger: CAP_MICROS, topUps: 3 });
  });

  it("5 concurrent retries of one top-up (same Idempotency-Key) credit it once", async () => {
    const { secret, tenantId } = await seedTenant();
    const headers = { "idempotency-key": `race-${crypto.randomUUID()}` };
    const answers = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const res = await topUp(secret, { amount: "7.00" }, headers);
        return { ...(await described(res)), replayed: res.headers.get("idempotent-replayed") };
      }),
    );
    // Each answer is the one top-up (first or replayed) or "still in flight, retry": never a second credit.
    const created = answers.filter((a) => a.status === 201);
    expect(created.length).toBeGreaterThan(0);
    for (const a of answers.filter((x) => x.status !== 201)) {
      expect(a.status, a.text).toBe(409);
      expect(JSON.parse(a.text).error.code).toBe("idempotency_key_in_use");
    }
    expect(new Set(created.map((a) => JSON.parse(a.text).id)).size).toBe(1);
    expect(created.filter((a) => a.replayed !== "true")).toHaveLength(1);
    // A later retry replays it too.
    const later = await topUp(secret, { amount: "7.00" }, headers);
    expect(later.headers.get("idempotent-replayed")).toBe("true");
    expect((await json(later)).id).toBe(JSON.parse(created[0]?.text ?? "{}").id);
    expect(await wallet(tenantId)).toEqual({ balance: 17_000_000, ledger: 17_000_000, topUps: 1 });
  });
});
