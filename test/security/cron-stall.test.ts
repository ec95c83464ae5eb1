import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { runScheduled } from "../../src/cron";
import type { Env } from "../../src/env";
import { newId } from "../../src/ids";
import { json, liveTenant, runCron, send, waitForMessage } from "../helpers";
import {
  manyStatusesWebhook,
  postMeta,
  rowsOf,
  sentWhatsAppTexts,
  smsChannel,
  whatsAppChannel,
} from "../routes/inbound-support";

/**
 * Issue 12, point 8: the minute cron must never stall. One tenant's oversized webhook (or one bad outbox
 * row, or one failing phase) must not stop every other tenant's scheduled sends, retries and sweeps.
 */

/** Cloudflare Queues' limit for one message, as workerd counts it. */
const QUEUE_MESSAGE_LIMIT = 128_000;
const STATUSES = 4_500;

/** Another live tenant's SMS, scheduled beyond the queue's 12-hour delay and then made due: only the cron sends it. */
async function dueScheduledSms() {
  const live = await liveTenant();
  const { twilio, account } = await smsChannel(live);
  const at = new Date(Date.now() + 20 * 3600_000).toISOString();
  const accepted = await json(
    await send(live.secret, {
      channel: "sms",
      to: "+5511987654321",
      text: { body: "later" },
      schedule_at: at,
    }),
  );
  expect(accepted.status).toBe("scheduled");
  await rowsOf("UPDATE messages SET scheduled_at = ? WHERE id = ?", Date.now() - 1000, accepted.id);
  await rowsOf("UPDATE outbox SET available_at = ? WHERE subject_id = ?", Date.now() - 1000, accepted.id);
  return { secret: live.secret, id: accepted.id as string, twilio, scope: account.scope };
}

/** The size of the job the sweeper would put on the queue for each inbound outbox row of a channel (JSON bytes). */
async function jobSizes(channelId: string) {
  const rows = await rowsOf<{
    id: string;
    kind: string;
    subject_id: string;
    payload: string;
    priority: number;
  }>(
    "SELECT id, kind, subject_id, payload, priority FROM outbox WHERE kind = 'inbound' AND subject_id = ?",
    channelId,
  );
  return rows.map(
    (row) =>
      new TextEncoder().encode(
        JSON.stringify({
          outboxId: row.id,
          kind: row.kind,
          subjectId: row.subject_id,
          payload: JSON.parse(row.payload),
          priority: row.priority,
        }),
      ).length,
  );
}

const countByState = async (channelId: string) =>
  Object.fromEntries(
    (
      await rowsOf<{ state: string; n: number }>(
        "SELECT state, count(*) AS n FROM inbound_events WHERE channel_id = ? GROUP BY state",
        channelId,
      )
    ).map((r) => [r.state, r.n]),
  ) as Record<string, number>;

afterEach(() => {
  vi.restoreAllMocks();
});

describe("promise: no job, row or phase can stall the minute cron for every tenant", () => {
  it("a signed 4,500-status webhook is stored and processed completely, and another tenant's scheduled send in the same minute goes out", async () => {
    const other = await dueScheduledSms();
    const live = await liveTenant();
    const { account, channel } = await whatsAppChannel(live);
    const sent = await sentWhatsAppTexts(live, ["+5511987650001", "+5511987650002", "+5511987650003"]);
    const body = JSON.stringify(
      manyStatusesWebhook(
        STATUSES,
        sent.map((m) => m.wamid),
      ),
    );
    expect(body.length).toBeGreaterThan(400_000);
    expect(body.length).toBeLessThan(1024 * 1024);

    const res = await postMeta(channel.id, account.appSecret, body);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await json(res)).toEqual({ received: true, stored: STATUSES });

    // Every job written for it fits on the queue, with room to spare.
    const sizes = await jobSizes(channel.id);
    expect(sizes.length).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThan(QUEUE_MESSAGE_LIMIT / 4);

    // The same minute, after the jobs' leases ran out (as if the queue had lost them): one cron tick
    // re-drives the inbound jobs AND the other tenant's due scheduled send.
    await runCron(Date.now() + 3 * 60_000);
    await waitForMessage(other.secret, other.id, (m) => m.status === "sent");
    expect((await other.twilio.requests(other.scope)).length).toBe(1);

    // Processed completely: the three receipts of real sends applied, the 4,497 unknown ones held.
    await vi.waitFor(
      async () => {
        const states = await countByState(channel.id);
        if (states.pending) throw new Error(`still pending: ${JSON.stringify(states)}`);
        return states;
      },
      { timeout: 60_000, interval: 250 },
    );
    expect(await countByState(channel.id)).toEqual({ applied: 3, held: STATUSES - 3 });
    for (const m of sent) await waitForMessage(live.secret, m.id, (x) => x.status === "delivered");
    await vi.waitFor(
      async () => expect(await rowsOf("SELECT id FROM outbox WHERE subject_id = ?", channel.id)).toEqual([]),
      { timeout: 10_000, interval: 100 },
    );
  }, 110_000);

  it("an oversized, unknown-kind or unreadable outbox row is set aside and logged; the rest of the sweep goes on", async () => {
    const other = await dueScheduledSms();
    const errors = vi.spyOn(console, "error");
    const due = Date.now() - 60_000;
    const insert = (id: string, kind: string, payload: string) =>
      rowsOf(
        "INSERT INTO outbox (id, kind, subject_id, payload, priority, available_at, lease_until, attempts, created_at) VALUES (?, ?, ?, ?, 3, ?, NULL, 0, ?)",
        id,
        kind,
        `msg_${id}`,
        payload,
        due,
        due,
      );
    const huge = newId("outbox");
    const bogus = newId("outbox");
    const garbled = newId("outbox");
    const legacy = newId("outbox");
    await insert(huge, "dispatch", JSON.stringify({ blob: "x".repeat(200_000) }));
    await insert(bogus, "no_such_kind", "{}");
    await insert(garbled, "dispatch", "{not json");
    // A job written before jobs were sliced: every id of a 4,500-item webhook in one payload.
    const ids = Array.from({ length: STATUSES }, () => newId("inboundEvent"));
    await insert(legacy, "inbound", JSON.stringify({ ids }));

    const now = new Date();
    const result = await runScheduled(env, now);
    expect(result.failedPhases).toEqual([]);
    await waitForMessage(other.secret, other.id, (m) => m.status === "sent");

    // Each bad row is left in the outbox, leased far ahead (not re-driven every minute), and named in a log.
    const setAside = await rowsOf<{ id: string; lease_until: number }>(
      "SELECT id, lease_until FROM outbox WHERE id IN (?, ?, ?)",
      huge,
      bogus,
      garbled,
    );
    expect(setAside.map((r) => r.id).sort()).toEqual([huge, bogus, garbled].sort());
    for (const row of setAside) expect(row.lease_until).toBeGreaterThan(now.getTime() + 30 * 60_000);
    const logged = errors.mock.calls.filter(([message]) => message === "outbox row cannot be queued");
    expect(logged.map(([, details]) => (details as { id: string }).id).sort()).toEqual(
      [huge, bogus, garbled].sort(),
    );
    expect(JSON.stringify(logged)).not.toContain("xxxxxxxx");
    // The legacy job is split into jobs that fit, which the queue then runs (the ids are gone: nothing to do).
    expect(await rowsOf("SELECT id FROM outbox WHERE id = ?", legacy)).toEqual([]);
    await vi.waitFor(
      async () =>
        expect(
          await rowsOf("SELECT id FROM outbox WHERE kind = 'inbound' AND subject_id = ?", `msg_${legacy}`),
        ).toEqual([]),
      { timeout: 10_000, interval: 100 },
    );
  });

  it("a held receipt whose stored item is unreadable or of an unknown kind does not stop the others", async () => {
    const live = await liveTenant();
    const { channel } = await whatsAppChannel(live);
    const [message] = await sentWhatsAppTexts(live, ["+5511987650009"]);
    const { id, wamid } = message as { id: string; wamid: string };
    const now = Date.now();
    const held = (kind: string, item: string) => {
      const rowId = newId("inboundEvent");
      return rowsOf(
        `INSERT INTO inbound_events (id, tenant_id, environment, channel_id, provider, kind, dedupe_key,
           provider_message_id, item, state, note, occurred_at, received_at, processed_at, hold_until)
         VALUES (?, ?, 'live', ?, 'meta', ?, ?, ?, ?, 'held', NULL, ?, ?, ?, ?)`,
        rowId,
        live.tenantId,
        channel.id,
        kind,
        `test:${rowId}`,
        wamid,
        item,
        now,
        now,
        now - 1000,
        now + 3_600_000,
      ).then(() => rowId);
    };
    const garbled = await held("status", "{oops");
    const mystery = await held("mystery", JSON.stringify({ kind: "mystery", provider: "meta" }));
    const good = await held(
      "status",
      JSON.stringify({
        kind: "status",
        provider: "meta",
        providerMessageId: wamid,
        status: "delivered",
        occurredAt: new Date(now).toISOString(),
        dedupeKey: "test:delivered",
      }),
    );
    const errors = vi.spyOn(console, "error");
    const result = await runScheduled(env, new Date());
    expect(result.failedPhases).toEqual([]);
    await waitForMessage(live.secret, id, (m) => m.status === "delivered");
    const states = await rowsOf<{ id: string; state: string }>(
      "SELECT id, state FROM inbound_events WHERE id IN (?, ?, ?)",
      garbled,
      mystery,
      good,
    );
    expect(Object.fromEntries(states.map((r) => [r.id, r.state]))).toEqual({
      [garbled]: "ignored",
      [mystery]: "ignored",
      [good]: "applied",
    });
    expect(
      errors.mock.calls.some(
        ([m, d]) => m === "inbound item unreadable; set aside" && (d as { id: string }).id === garbled,
      ),
    ).toBe(true);
  });

  it("a phase that throws is logged and the other phases still run", async () => {
    const other = await dueScheduledSms();
    const errors = vi.spyOn(console, "error");
    // The webhooks tables cannot be read this tick (a D1 error, a bad migration, …).
    const broken: D1Database = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "prepare") {
          return (query: string) => {
            if (query.includes("webhook_replays"))
              throw new Error("D1_ERROR: no such table: webhook_replays");
            return target.prepare(query);
          };
        }
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const result = await runScheduled({ ...env, DB: broken } as Env, new Date());
    expect(result.failedPhases).toEqual(["webhooks"]);
    expect(result.outboxRedriven).toBeGreaterThanOrEqual(1);
    await waitForMessage(other.secret, other.id, (m) => m.status === "sent");
    const failed = errors.mock.calls.filter(([message]) => message === "cron phase failed");
    expect(failed.map(([, details]) => details)).toEqual([
      { phase: "webhooks", error: expect.stringContaining("no such table: webhook_replays") },
    ]);
  });
});
