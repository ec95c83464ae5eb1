import { describe, expect, it } from "vitest";
import type { Environment } from "../../src/env";
import {
  call,
  json,
  liveTenant,
  type SeededKey,
  seedKey,
  seedTenant,
  send,
  waitForMessage,
} from "../helpers";
import { smsChannel } from "../routes/inbound-support";
import { count, described, fundWallet, micros, rows } from "./support";

/**
 * Concurrent wallet drain: a wallet holding exactly k sends, hit by 3k concurrent sends (distinct
 * idempotency keys, spread over several keys of the tenant so no single KeyGate serialises them), accepts
 * exactly k. The rest are 402 insufficient_balance; the balance never goes below zero and the ledger sums
 * to it, entry by entry.
 */

const TO = "+5511987654321";
const SMS = { channel: "sms", to: TO, text: { body: "drain" } };

/** A tenant of `environment` that can send SMS (live: through a channel on the fake Twilio). */
async function sender(environment: Environment): Promise<SeededKey> {
  const key = await seedTenant({ environment });
  if (environment === "live") await smsChannel(key);
  return key;
}

/** What one SMS to TO costs in `environment`, measured on a throwaway tenant. */
async function priceOfOneSms(environment: Environment): Promise<number> {
  const probe = environment === "live" ? await liveTenant() : await seedTenant();
  if (environment === "live") await smsChannel(probe);
  const { status, text } = await described(await send(probe.secret, SMS));
  expect(status, text).toBe(202);
  const price = micros(JSON.parse(text).cost_estimate);
  expect(price).toBeGreaterThan(0);
  return price;
}

/** The wallet's balance and the sum of its ledger, straight from D1. */
async function walletAndLedger(tenantId: string, environment: Environment) {
  const [sums] = await rows<{ balance: number; ledger: number }>(
    `SELECT (SELECT balance_micros FROM wallets WHERE tenant_id = ?1 AND environment = ?2) AS balance,
            (SELECT sum(amount_micros) FROM ledger_entries WHERE tenant_id = ?1 AND environment = ?2) AS ledger`,
    tenantId,
    environment,
  );
  return { balance: sums?.balance, ledger: sums?.ledger };
}

describe("promise: concurrent sends never spend more than the wallet holds", () => {
  for (const [environment, k] of [
    ["test", 5],
    ["live", 4],
  ] as const) {
    it(`${environment}: a wallet for exactly ${k} sends accepts exactly ${k} of ${3 * k} concurrent sends`, async () => {
      const price = await priceOfOneSms(environment);
      const owner = await sender(environment);
      const keys = [
        owner,
        ...(await Promise.all([1, 2].map(() => seedKey(owner.tenantId, { environment })))),
      ];
      await fundWallet(owner.tenantId, environment, owner.secret, k * price);

      const answers = await Promise.all(
        Array.from({ length: 3 * k }, (_, i) =>
          send((keys[i % keys.length] as SeededKey).secret, SMS, `drain-${i}`).then(described),
        ),
      );
      const accepted = answers.filter((a) => a.status === 202);
      expect(accepted, JSON.stringify(answers.map((a) => a.status))).toHaveLength(k);
      for (const refused of answers.filter((a) => a.status !== 202)) {
        expect(refused.status, refused.text).toBe(402);
        expect(JSON.parse(refused.text).error.code).toBe("insufficient_balance");
      }

      const wallet = await json(await call("GET", "/v1/balance", { key: owner.secret }));
      expect(wallet.balance).toBe("0.0000");
      // The ledger, oldest first: the grant, then one debit per accepted send, each balance_after the
      // running sum and never negative.
      const ledger = [...wallet.recent_entries].reverse() as {
        kind: string;
        amount: string;
        balance_after: string;
        message_id: string | null;
      }[];
      expect(ledger.map((e) => e.kind)).toEqual(["grant", ...Array(k).fill("debit")]);
      let running = 0;
      for (const entry of ledger) {
        running += micros(entry.amount);
        expect(micros(entry.balance_after)).toBe(running);
        expect(running).toBeGreaterThanOrEqual(0);
      }
      expect(running).toBe(micros(wallet.balance));
      const acceptedIds = accepted.map((a) => JSON.parse(a.text).id).sort();
      expect(ledger.flatMap((e) => (e.message_id ? [e.message_id] : [])).sort()).toEqual(acceptedIds);

      // The same in D1: nothing but the accepted messages exists, and the ledger sums to the balance.
      const messages = await json(await call("GET", "/v1/messages?limit=100", { key: owner.secret }));
      expect(messages.data.map((m: { id: string }) => m.id).sort()).toEqual(acceptedIds);
      expect(await walletAndLedger(owner.tenantId, environment)).toEqual({ balance: 0, ledger: 0 });

      // Once the accepted sends have gone out, the wallet still matches its ledger and never went negative.
      for (const id of acceptedIds) {
        await waitForMessage(owner.secret, id, (m) => !["queued", "sending"].includes(m.status));
      }
      const after = await walletAndLedger(owner.tenantId, environment);
      expect(after.balance).toBe(after.ledger);
      expect(
        await count(
          "SELECT count(*) AS n FROM ledger_entries WHERE tenant_id = ? AND balance_after_micros < 0",
          owner.tenantId,
        ),
      ).toBe(0);
    });
  }
});
