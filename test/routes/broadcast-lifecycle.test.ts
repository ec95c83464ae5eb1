import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, expectError, json, openCustomerWindow, runCron, seedTenant } from "../helpers";
import { broadcast, createContacts, phones, waitForBroadcast } from "./broadcast-support";

/** Messages of a broadcast per contact, read straight from D1 (test sends excluded). */
async function messagesPerContact(broadcastId: string) {
  const rows = await env.DB.prepare(
    "SELECT contact_id, count(*) AS n FROM messages WHERE broadcast_id = ? AND test = 0 GROUP BY contact_id",
  )
    .bind(broadcastId)
    .all<{ contact_id: string; n: number }>();
  return rows.results;
}

async function eventTypes(subjectId: string) {
  const rows = await env.DB.prepare("SELECT type FROM events WHERE subject_id = ? ORDER BY sequence")
    .bind(subjectId)
    .all<{ type: string }>();
  return rows.results.map((r) => r.type);
}

const sentOf = (b: any) => b.counts.sent + b.counts.failed;

describe("broadcast lifecycle", () => {
  it("pause stops new sends within a second and resume continues: nobody twice, nobody skipped", async () => {
    const { secret } = await seedTenant();
    const ids = await createContacts(secret, phones(10, 700));
    // 120/min: jobs of 2 recipients every second.
    const bc = await json(
      await broadcast(secret, {
        name: "Slow",
        channel: "sms",
        text: { body: "Hi {{contact.name}}" },
        audience: { contact_ids: ids },
        rate_limit_per_minute: 120,
      }),
    );
    await waitForBroadcast(secret, bc.id, (b) => sentOf(b) >= 2);
    const paused = await json(await call("POST", `/v1/broadcasts/${bc.id}/pause`, { key: secret }));
    expect(paused.status).toBe("paused");
    // Idempotent: pausing a paused broadcast answers it unchanged.
    const again = await call("POST", `/v1/broadcasts/${bc.id}/pause`, { key: secret });
    expect(again.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1000));
    const settled = await json(await call("GET", `/v1/broadcasts/${bc.id}`, { key: secret }));
    await new Promise((r) => setTimeout(r, 2500));
    const later = await json(await call("GET", `/v1/broadcasts/${bc.id}`, { key: secret }));
    expect(sentOf(later)).toBe(sentOf(settled));
    expect(later.counts.pending).toBeGreaterThan(0);
    expect(later.pause_reason).toBe("requested");

    const resumed = await json(await call("POST", `/v1/broadcasts/${bc.id}/resume`, { key: secret }));
    expect(resumed.status).toBe("running");
    const done = await waitForBroadcast(secret, bc.id, (b) => b.status === "completed");
    expect(done.counts).toMatchObject({ total: 10, sent: 10, pending: 0, queued: 0 });
    const per = await messagesPerContact(bc.id);
    expect(per).toHaveLength(10);
    expect(per.every((r) => r.n === 1)).toBe(true);
    expect(await eventTypes(bc.id)).toEqual(
      expect.arrayContaining([
        "broadcast.started",
        "broadcast.progress",
        "broadcast.paused",
        "broadcast.resumed",
        "broadcast.completed",
      ]),
    );
  });

  it("cancel mid-run sends nothing more and refunds what was held and not sent", async () => {
    const { secret, tenantId } = await seedTenant();
    const ids = await createContacts(secret, phones(8, 720));
    const before = await json(await call("GET", "/v1/balance", { key: secret }));
    const bc = await json(
      await broadcast(secret, {
        name: "Cancel me",
        channel: "sms",
        text: { body: "Hi" },
        audience: { contact_ids: ids },
        rate_limit_per_minute: 120,
      }),
    );
    await waitForBroadcast(secret, bc.id, (b) => sentOf(b) >= 2);
    const canceled = await json(await call("POST", `/v1/broadcasts/${bc.id}/cancel`, { key: secret }));
    expect(canceled.status).toBe("canceled");
    expect((await call("POST", `/v1/broadcasts/${bc.id}/cancel`, { key: secret })).status).toBe(200);
    await expectError(
      await call("POST", `/v1/broadcasts/${bc.id}/resume`, { key: secret }),
      409,
      "broadcast_state_conflict",
    );
    await new Promise((r) => setTimeout(r, 2500));
    const after = await json(await call("GET", `/v1/broadcasts/${bc.id}`, { key: secret }));
    expect(after.counts.sent).toBe(canceled.counts.sent + canceled.counts.queued - after.counts.canceled);
    expect(after.counts.sent).toBeLessThan(8);
    expect(after.counts.queued).toBe(0);
    // What left the wallet is exactly what the sent messages cost: holds of unsent ones came back.
    const balance = await json(await call("GET", "/v1/balance", { key: secret }));
    const costs = await env.DB.prepare(
      `SELECT coalesce(sum(json_extract(hops, '$[0].costMicros')), 0) AS micros FROM messages
       WHERE broadcast_id = ? AND tenant_id = ?`,
    )
      .bind(bc.id, tenantId)
      .first<{ micros: number }>();
    expect(Number(before.balance) - Number(balance.balance)).toBeCloseTo((costs?.micros ?? 0) / 1e6, 4);
    expect(await eventTypes(bc.id)).toContain("broadcast.canceled");
  });

  it("pauses with insufficient_balance when the money runs out, and resumes after a top-up", async () => {
    const { secret, tenantId } = await seedTenant();
    const ids = await createContacts(secret, phones(5, 740));
    await call("GET", "/v1/balance", { key: secret }); // creates the sandbox wallet
    // Enough for exactly three BR SMS: the fourth job (one recipient each at 120/min) cannot be held.
    const preview = await json(
      await call("POST", "/v1/broadcasts/preview", {
        key: secret,
        body: { name: "p", channel: "sms", text: { body: "Hi" }, audience: { contact_ids: ids } },
      }),
    );
    const each = Math.round((Number(preview.cost_estimate) / 5) * 1e6);
    await env.DB.prepare("UPDATE wallets SET balance_micros = ? WHERE tenant_id = ? AND environment = 'test'")
      .bind(each * 3, tenantId)
      .run();
    const bc = await json(
      await broadcast(secret, {
        name: "Budget",
        channel: "sms",
        text: { body: "Hi" },
        audience: { contact_ids: ids },
        rate_limit_per_minute: 120,
      }),
    );
    const paused = await waitForBroadcast(secret, bc.id, (b) => b.status === "paused");
    expect(paused.pause_reason).toBe("insufficient_balance");
    expect(paused.counts.sent).toBe(3); // jobs of one recipient at 120/min: three held, the fourth could not be
    expect(await eventTypes(bc.id)).toContain("broadcast.paused");
    const topUp = await call("POST", "/v1/balance/top-ups", {
      key: secret,
      body: { amount: "5.00" },
      headers: { "idempotency-key": `top-${bc.id}` },
    });
    expect(topUp.status).toBe(201);
    await call("POST", `/v1/broadcasts/${bc.id}/resume`, { key: secret });
    const done = await waitForBroadcast(secret, bc.id, (b) => b.status === "completed");
    expect(done.counts.sent).toBe(5);
    expect((await messagesPerContact(bc.id)).every((r) => r.n === 1)).toBe(true);
  });

  it("a scheduled broadcast is started by the cron, not before its time", async () => {
    const { secret } = await seedTenant();
    const ids = await createContacts(secret, phones(2, 760));
    const at = new Date(Date.now() + 30 * 60_000);
    const bc = await json(
      await broadcast(secret, {
        name: "Later",
        channel: "sms",
        text: { body: "Hi" },
        audience: { contact_ids: ids },
        schedule_at: at.toISOString(),
      }),
    );
    expect(bc.status).toBe("scheduled");
    await runCron(Date.now());
    expect((await json(await call("GET", `/v1/broadcasts/${bc.id}`, { key: secret }))).status).toBe(
      "scheduled",
    );
    await runCron(at.getTime() + 1000);
    const done = await waitForBroadcast(secret, bc.id, (b) => b.status === "completed");
    expect(done.counts.sent).toBe(2);
  });

  it("a job delivered twice, a lost job and a lost alarm end with everyone sent exactly once", async () => {
    const { secret } = await seedTenant();
    const ids = await createContacts(secret, phones(6, 780));
    const bc = await json(
      await broadcast(secret, {
        name: "Crashy",
        channel: "sms",
        text: { body: "Hi" },
        audience: { contact_ids: ids },
        start: false,
      }),
    );
    // Start it, then make its runner forget everything but a released, never-delivered batch 0 and no alarm:
    // what a crash right after releasing (queue message and alarm both lost) leaves behind.
    await call("POST", `/v1/broadcasts/${bc.id}/start`, { key: secret });
    await waitForBroadcast(secret, bc.id, (b) => b.status === "completed");
    await env.DB.prepare("DELETE FROM messages WHERE broadcast_id = ?").bind(bc.id).run();
    await env.DB.prepare("DELETE FROM ledger_entries WHERE message_id = ?").bind(bc.id).run();
    await env.DB.prepare("UPDATE broadcasts SET status = 'running', completed_at = NULL WHERE id = ?")
      .bind(bc.id)
      .run();
    const stub = env.BROADCAST_RUNNER.get(env.BROADCAST_RUNNER.idFromName(bc.id));
    await runInDurableObject(stub, async (_instance, state) => {
      const saved = (await state.storage.get<Record<string, unknown>>("state")) ?? {};
      await state.storage.put("state", {
        ...saved,
        status: "running",
        nextSeq: 6,
        nextBatch: 1,
        inflight: { "0": { from: 0, to: 6, releasedAt: Date.now() - 120_000 } },
      });
      await state.storage.deleteAlarm();
    });
    await runCron(Date.now());
    const done = await waitForBroadcast(secret, bc.id, (b) => b.status === "completed");
    expect(done.counts.sent).toBe(6);
    // The same job again (a redelivery): nothing new is sent or held.
    const ledgerBefore = await env.DB.prepare("SELECT count(*) AS n FROM ledger_entries WHERE message_id = ?")
      .bind(bc.id)
      .first<{ n: number }>();
    await env.SENDS_QUEUE.send({
      outboxId: "",
      kind: "broadcast_batch",
      subjectId: bc.id,
      payload: { batch: 0, from: 0, to: 6 },
      priority: 1,
    });
    await new Promise((r) => setTimeout(r, 2000));
    const per = await messagesPerContact(bc.id);
    expect(per).toHaveLength(6);
    expect(per.every((r) => r.n === 1)).toBe(true);
    const ledgerAfter = await env.DB.prepare("SELECT count(*) AS n FROM ledger_entries WHERE message_id = ?")
      .bind(bc.id)
      .first<{ n: number }>();
    expect(ledgerAfter?.n).toBe(ledgerBefore?.n);
  });
});

describe("broadcast pacing and fallback", () => {
  it("running broadcasts share the tenant's rate: higher priority first, then the rest", async () => {
    const { secret, tenantId } = await seedTenant();
    await env.DB.prepare(
      "INSERT INTO tenant_broadcast_settings (tenant_id, environment, rate_per_minute, updated_at) VALUES (?, 'test', 120, ?)",
    )
      .bind(tenantId, Date.now())
      .run();
    const ids = await createContacts(secret, phones(30, 800));
    const make = (name: string, priority: string) =>
      broadcast(secret, {
        name,
        channel: "sms",
        text: { body: "Hi" },
        audience: { contact_ids: ids },
        rate_limit_per_minute: 100,
        priority,
      }).then(json);
    const high = await make("High", "high");
    const low = await make("Low", "default");
    await waitForBroadcast(secret, low.id, (b) => b.counts.total === 30);
    const allocation = async (id: string) =>
      (await env.BROADCAST_RUNNER.get(env.BROADCAST_RUNNER.idFromName(id)).snapshot())?.allocation.perMinute;
    // Allocations are recomputed every 5 s: wait for both runners to have seen both broadcasts running.
    const deadline = Date.now() + 15_000;
    let shares: (number | undefined)[] = [];
    while (Date.now() < deadline) {
      shares = [await allocation(high.id), await allocation(low.id)];
      if (shares[0] === 100 && shares[1] === 20) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(shares).toEqual([100, 20]);
    await call("POST", `/v1/broadcasts/${high.id}/cancel`, { key: secret });
    await call("POST", `/v1/broadcasts/${low.id}/cancel`, { key: secret });
  });

  it("a recipient whose WhatsApp message is undelivered falls back to SMS, as a single send would", async () => {
    const { secret, tenantId } = await seedTenant();
    // …0002: the sandbox reports WhatsApp `failed` (undeliverable) after sending.
    const ids = await createContacts(secret, [{ name: "Fallback", phone: "+5511987650002" }]);
    await openCustomerWindow(tenantId, "+5511987650002");
    const bc = await json(
      await broadcast(secret, {
        name: "Fallback",
        channel: "whatsapp",
        text: { body: "Hi {{contact.name}}" },
        audience: { contact_ids: ids },
        fallback: [{ channel: "sms", after_seconds: 60 }],
      }),
    );
    const deadline = Date.now() + 20_000;
    let message: any;
    while (Date.now() < deadline) {
      const page = await json(await call("GET", `/v1/messages?broadcast_id=${bc.id}`, { key: secret }));
      message = page.data[0];
      if (message?.hops?.length === 2 && message.hops[1].status !== "queued") break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(message.hops.map((h: any) => h.channel)).toEqual(["whatsapp", "sms"]);
    expect(message.channel).toBe("sms");
    expect(message.content.text.body).toBe("Hi Fallback");
  });
});
