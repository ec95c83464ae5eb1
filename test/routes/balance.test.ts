import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, expectError, json, seedKey, seedTenant } from "../helpers";

/** POST /v1/balance/top-ups: sandbox credit, recorded in the ledger, capped, idempotent, test keys only. */

const topUp = (key: string, body: unknown, headers: Record<string, string> = {}) =>
  call("POST", "/v1/balance/top-ups", { key, body, headers });

const balanceOf = async (key: string) => json(await call("GET", "/v1/balance", { key }));

/** The (test) wallet and its ledger straight from D1: the balance, the ledger's sum and its top-ups. */
async function walletRows(tenantId: string, environment = "test") {
  const wallet = await env.DB.prepare(
    "SELECT balance_micros AS balance FROM wallets WHERE tenant_id = ? AND environment = ?",
  )
    .bind(tenantId, environment)
    .first<{ balance: number }>();
  const ledger = await env.DB.prepare(
    "SELECT kind, amount_micros AS amount, balance_after_micros AS after FROM ledger_entries WHERE tenant_id = ? AND environment = ? ORDER BY id",
  )
    .bind(tenantId, environment)
    .all<{ kind: string; amount: number; after: number }>();
  return {
    balance: wallet?.balance ?? null,
    ledgerSum: ledger.results.reduce((sum, entry) => sum + entry.amount, 0),
    topUps: ledger.results.filter((entry) => entry.kind === "top_up"),
  };
}

const CAP_MICROS = 1_000_000_000_000;

describe("POST /v1/balance/top-ups", () => {
  it("credits the sandbox wallet, creating it first, and lists the entry in GET /v1/balance", async () => {
    const { secret, tenantId } = await seedTenant();
    // No GET /v1/balance first: the top-up creates the wallet (with its 10.00 starting credit) itself.
    const res = await topUp(secret, { amount: "25.00" });
    expect(res.status).toBe(201);
    const entry = await json(res);
    expect(entry).toEqual({
      object: "ledger_entry",
      id: expect.stringMatching(/^led_[0-9a-z]{26}$/),
      kind: "top_up",
      amount: "25.0000",
      balance_after: "35.0000",
      message_id: null,
      hop: null,
      description: "Sandbox top-up",
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      balance: "35.0000",
    });

    const balance = await balanceOf(secret);
    expect(balance.balance).toBe("35.0000");
    const { balance: _newBalance, ...listed } = entry;
    expect(balance.recent_entries[0]).toEqual(listed);
    expect(balance.recent_entries.map((e: any) => e.kind)).toEqual(["top_up", "grant"]);

    const rows = await walletRows(tenantId);
    expect(rows.balance).toBe(35_000_000);
    expect(rows.ledgerSum).toBe(rows.balance);
    expect(rows.topUps).toEqual([{ kind: "top_up", amount: 25_000_000, after: 35_000_000 }]);
  });

  it("takes a number or a string with up to 6 decimals, exactly, and adds up successive top-ups", async () => {
    const { secret, tenantId } = await seedTenant();
    expect((await json(await topUp(secret, { amount: 12.5 }))).balance).toBe("22.5000");
    const tiny = await json(await topUp(secret, { amount: "0.000001" }));
    expect(tiny.kind).toBe("top_up");
    // Exactly 10,000.00 is the per-call limit, and allowed.
    const largest = await json(await topUp(secret, { amount: "10000.00" }));
    expect(largest.amount).toBe("10000.0000");
    expect(largest.balance).toBe("10022.5000");
    const rows = await walletRows(tenantId);
    expect(rows.topUps.map((t) => t.amount)).toEqual([12_500_000, 1, 10_000_000_000]);
    expect(rows.balance).toBe(10_000_000 + 12_500_000 + 1 + 10_000_000_000);
    expect(rows.ledgerSum).toBe(rows.balance);
  });

  it("refuses a live key with 403 test_mode_only and leaves the live wallet alone", async () => {
    const live = await seedTenant({ environment: "live" });
    await balanceOf(live.secret); // creates the (empty) live wallet
    const error = await expectError(await topUp(live.secret, { amount: "25.00" }), 403, "test_mode_only");
    expect(error.message).toContain("test key");
    expect(await walletRows(live.tenantId, "live")).toEqual({ balance: 0, ledgerSum: 0, topUps: [] });
    expect((await balanceOf(live.secret)).balance).toBe("0.0000");
  });

  const BAD_AMOUNTS: [string, unknown, RegExp][] = [
    ["zero", 0, /greater than 0/],
    ["zero as a string", "0.00", /greater than 0/],
    ["negative", -5, /greater than 0/],
    ["negative string", "-5.00", /greater than 0/],
    ["seven decimals", "1.0000001", /more than 6 decimal places/],
    ["a word", "abc", /decimal string/],
    ["empty", "", /decimal string/],
    ["an exponent", "1e3", /no exponent/],
    ["a tiny number printed with an exponent", 1e-7, /no exponent/],
    ["over the per-call limit", 10000.01, /at most 10000\.00 per top-up/],
    ["over the per-call limit as a string", "10000.01", /at most 10000\.00 per top-up/],
    ["huge", "99999999999999999999", /too large/],
    ["huge number", 1e21, /decimal string/],
    ["a boolean", true, /decimal string such as "25\.00" or a number/],
    ["null", null, /decimal string such as "25\.00" or a number/],
    ["an object", { value: "5" }, /decimal string such as "25\.00" or a number/],
  ];

  for (const [name, amount, message] of BAD_AMOUNTS) {
    it(`refuses ${name} (${JSON.stringify(amount)}) with 400 validation_error naming amount`, async () => {
      const { secret, tenantId } = await seedTenant();
      const error = await expectError(await topUp(secret, { amount }), 400, "validation_error");
      expect(error.details).toHaveLength(1);
      expect(error.details[0].path).toBe("amount");
      expect(error.details[0].message).toMatch(message);
      expect(error.message).toContain("amount");
      expect((await walletRows(tenantId)).topUps).toEqual([]);
    });
  }

  it("refuses a missing amount, unknown fields and a non-JSON body", async () => {
    const { secret, tenantId } = await seedTenant();
    const missing = await expectError(await topUp(secret, {}), 400, "validation_error");
    expect(missing.details).toEqual([{ path: "amount", message: "Required field is missing." }]);
    const extra = await expectError(
      await topUp(secret, { amount: "5.00", tenant_id: "ten_01jd3x6n2m8q4v7w9y0z1a2b3c" }),
      400,
      "validation_error",
    );
    expect(extra.message).toContain("tenant_id");
    await expectError(
      await call("POST", "/v1/balance/top-ups", {
        key: secret,
        rawBody: "amount=5",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      }),
      400,
      "invalid_json",
    );
    expect((await walletRows(tenantId)).topUps).toEqual([]);
  });

  it("caps the sandbox balance at 1,000,000.00: reaching it is fine, passing it is refused whole", async () => {
    const { secret, tenantId } = await seedTenant();
    await balanceOf(secret); // creates the wallet
    await env.DB.prepare("UPDATE wallets SET balance_micros = ? WHERE tenant_id = ? AND environment = 'test'")
      .bind(CAP_MICROS - 5_000_000, tenantId)
      .run();

    const over = await expectError(await topUp(secret, { amount: "5.000001" }), 400, "validation_error");
    expect(over.message).toContain("1000000.00");
    expect(over.message).toContain("at most 5.00 can be added");
    expect(over.details).toEqual([{ path: "amount", message: over.message }]);
    expect((await walletRows(tenantId)).balance).toBe(CAP_MICROS - 5_000_000);

    const exact = await json(await topUp(secret, { amount: "5.00" }));
    expect(exact.balance).toBe("1000000.0000");
    const full = await expectError(await topUp(secret, { amount: "0.000001" }), 400, "validation_error");
    expect(full.message).toContain("at most 0.00 can be added");
    const rows = await walletRows(tenantId);
    expect(rows.balance).toBe(CAP_MICROS);
    expect(rows.topUps.map((t) => t.amount)).toEqual([5_000_000]);
  });

  it("replays a retried top-up (same Idempotency-Key) without crediting twice", async () => {
    const { secret, tenantId } = await seedTenant();
    const headers = { "idempotency-key": `top-up-${crypto.randomUUID()}` };
    const first = await topUp(secret, { amount: "40.00" }, headers);
    expect(first.status).toBe(201);
    const firstBody = await first.text();
    const again = await topUp(secret, { amount: "40.00" }, headers);
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.text()).toBe(firstBody);
    // The same key with another amount is a different request: refused, never credited.
    await expectError(await topUp(secret, { amount: "41.00" }, headers), 422, "idempotency_key_mismatch");

    const rows = await walletRows(tenantId);
    expect(rows.topUps).toHaveLength(1);
    expect(rows.balance).toBe(50_000_000);
    expect((await balanceOf(secret)).balance).toBe("50.0000");
  });

  it("replays by the idempotency_key body field too, while calls without a key each credit", async () => {
    const { secret, tenantId } = await seedTenant();
    const body = { amount: "1.00", idempotency_key: `body-${crypto.randomUUID()}` };
    const first = await json(await topUp(secret, body));
    const again = await topUp(secret, body);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect((await json(again)).id).toBe(first.id);
    // Without a key, two calls are two top-ups: the replay above is the key's doing.
    const a = await json(await topUp(secret, { amount: "1.00" }));
    const b = await json(await topUp(secret, { amount: "1.00" }));
    expect(a.id).not.toBe(b.id);
    const rows = await walletRows(tenantId);
    expect(rows.topUps).toHaveLength(3);
    expect(rows.balance).toBe(13_000_000);
  });

  it("works for a key holding only messages:send", async () => {
    const { tenantId } = await seedTenant();
    const sender = await seedKey(tenantId, { scopes: ["messages:send"] });
    expect((await topUp(sender.secret, { amount: "2.00" })).status).toBe(201);
    expect((await walletRows(tenantId)).balance).toBe(12_000_000);
  });

  it("is documented: scope, example, limits and its errors", async () => {
    const doc = await json(await call("GET", "/openapi.json"));
    const op = doc.paths["/v1/balance/top-ups"]?.post;
    expect(op).toBeDefined();
    expect(op["x-required-scope"]).toBe("messages:send");
    expect(op.summary).toBeTruthy();
    expect(op.description).toContain("10000.00");
    expect(op.description).toContain("1000000.00");
    expect(op.description).toContain("test_mode_only");
    const request = doc.components.schemas.TopUpRequest;
    expect(request.example).toEqual({ amount: "25.00" });
    expect(request.required).toEqual(["amount"]);
    expect(op.responses["201"].content["application/json"].schema.$ref).toBe("#/components/schemas/TopUp");
    expect(doc.components.schemas.TopUp.example.kind).toBe("top_up");
    expect(Object.keys(op.responses["403"].content["application/json"].examples)).toEqual(
      expect.arrayContaining(["test_mode_only", "insufficient_scope"]),
    );
    expect(Object.keys(op.responses["400"].content["application/json"].examples)).toContain(
      "validation_error",
    );
    expect(doc.components.schemas.LedgerEntry.properties.kind.enum).toContain("top_up");
  });
});
