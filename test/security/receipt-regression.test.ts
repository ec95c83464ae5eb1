/**
 * Attack class: a provider receipt that contradicts the message's state (issue 12, point 4). A `failed` after
 * `read` (a replayed or forged-by-provider-bug status) must not refund a message the recipient read, start a
 * fallback hop, or emit an event. The refund, the fallback's debit and its job apply only together with the
 * status change they belong to, so even a receipt judged on a stale copy of the message moves nothing.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { applyReceipt, loadMessage } from "../../src/queues/message-lifecycle";
import { failedStatus, messagesWebhook, readStatus } from "../domain/inbound/meta.fixtures";
import { call, json, liveTenant, type SeededKey, send, waitForMessage } from "../helpers";
import { eventually, postMeta, rowsOf, smsChannel, whatsAppChannel } from "../routes/inbound-support";

const TO = "+5511987654321";

/** A live WhatsApp template message with an SMS fallback, sent through the fake Meta: id and wamid. */
async function sentWithFallback(live: SeededKey) {
  await call("POST", "/v1/templates", {
    key: live.secret,
    body: { name: "order_ready", language: "en_US", category: "utility", body: "Your order is ready." },
  });
  const accepted = await json(
    await send(live.secret, {
      channel: "whatsapp",
      to: TO,
      template: { name: "order_ready", language: "en_US", variables: {} },
      fallback: [{ channel: "sms", after_seconds: 3600 }],
    }),
  );
  expect(accepted.id, JSON.stringify(accepted)).toMatch(/^msg_/);
  const sent = await waitForMessage(live.secret, accepted.id, (m) => m.status === "sent");
  return { id: accepted.id as string, wamid: sent.provider_message_id as string };
}

/** What a refund or fallback would change: balance, ledger, events, hops and pending jobs. */
async function moneyAndWork(live: SeededKey, id: string) {
  const balance = await json(await call("GET", "/v1/balance", { key: live.secret }));
  const message = await json(await call("GET", `/v1/messages/${id}`, { key: live.secret }));
  return {
    balance: balance.balance,
    ledger: await rowsOf("SELECT kind, amount_micros, hop FROM ledger_entries WHERE message_id = ?", id),
    events: (await rowsOf<{ type: string }>("SELECT type FROM events WHERE subject_id = ?", id)).map(
      (e) => e.type,
    ),
    status: message.status,
    hops: message.hops?.length ?? message.hop,
    dispatchJobs: await rowsOf("SELECT id FROM outbox WHERE subject_id = ? AND kind = 'dispatch'", id),
  };
}

describe("promise: a receipt that cannot move a message forward changes nothing (no refund, no fallback, no event)", () => {
  it("a failed status after read", async () => {
    const live = await liveTenant();
    const { account, channel } = await whatsAppChannel(live);
    const sms = await smsChannel(live);
    const { id, wamid } = await sentWithFallback(live);

    await postMeta(
      channel.id,
      account.appSecret,
      messagesWebhook({ statuses: [{ ...readStatus, id: wamid }] }),
    );
    await waitForMessage(live.secret, id, (m) => m.status === "read");
    const before = await moneyAndWork(live, id);

    await postMeta(
      channel.id,
      account.appSecret,
      messagesWebhook({ statuses: [{ ...failedStatus, id: wamid }] }),
    );
    await eventually(
      () => rowsOf<{ state: string }>("SELECT state FROM inbound_events WHERE channel_id = ?", channel.id),
      (rows) => rows.length === 2 && rows.every((row) => row.state !== "pending"),
      "both receipts processed",
    );
    const after = await moneyAndWork(live, id);
    expect(after).toEqual(before);
    expect(after.status).toBe("read");
    expect(after.ledger.filter((e: Record<string, unknown>) => e.kind === "refund")).toEqual([]);
    expect(after.events).not.toContain("message.failed");
    expect(await sms.twilio.requests(sms.account.scope)).toEqual([]);
  });

  it("a failed status judged on a stale copy (read applied in between) still refunds and falls back nothing", async () => {
    const live = await liveTenant();
    await whatsAppChannel(live);
    const sms = await smsChannel(live);
    const { id } = await sentWithFallback(live);
    const db = createDb(env.DB);
    const ctx = { env, db, now: new Date() };
    const stale = await loadMessage(db, id);
    expect(stale?.status).toBe("sent");
    if (!stale) return;

    // The read receipt wins the race; the failed one was already judged against the `sent` copy.
    await applyReceipt(ctx, stale, { status: "read", occurredAt: new Date() });
    const before = await moneyAndWork(live, id);
    await applyReceipt({ ...ctx, now: new Date(Date.now() + 1) }, stale, {
      status: "failed",
      occurredAt: new Date(),
      code: "131026",
      reason: "Message undeliverable",
    });
    const after = await moneyAndWork(live, id);
    expect(after).toEqual(before);
    expect(after.status).toBe("read");
    expect(await sms.twilio.requests(sms.account.scope)).toEqual([]);
  });
});
