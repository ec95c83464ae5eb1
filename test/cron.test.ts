import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it, vi } from "vitest";
import { runScheduled } from "../src/cron";
import { newId } from "../src/ids";
import worker from "../src/index";
import { call, expectError, json, seedTenant } from "./helpers";

it("the minute tick purges old audit rows and long-expired rotated secrets", async () => {
  const admin = await seedTenant();
  const rotated = await json(
    await call("POST", `/v1/api-keys/${admin.keyId}/rotate`, {
      key: admin.secret,
      body: { overlap_seconds: 60 },
    }),
  );
  await vi.waitFor(async () => {
    const row = await env.DB.prepare("SELECT count(*) AS n FROM audit_logs WHERE tenant_id = ?")
      .bind(admin.tenantId)
      .first<{ n: number }>();
    expect(row?.n).toBe(1);
  });

  const ninetyOneDaysLater = Date.now() + 91 * 86_400_000;
  const ctx = createExecutionContext();
  await worker.scheduled(
    createScheduledController({ scheduledTime: ninetyOneDaysLater, cron: "* * * * *" }),
    env,
    ctx,
  );
  await waitOnExecutionContext(ctx);

  const audit = await env.DB.prepare("SELECT count(*) AS n FROM audit_logs WHERE tenant_id = ?")
    .bind(admin.tenantId)
    .first<{ n: number }>();
  expect(audit?.n).toBe(0);
  const secrets = await env.DB.prepare("SELECT count(*) AS n FROM api_key_secrets WHERE key_id = ?")
    .bind(admin.keyId)
    .first<{ n: number }>();
  expect(secrets?.n).toBe(1);
  // The current secret survives; the purged one is simply unknown now.
  expect((await call("GET", "/v1/api-keys", { key: rotated.secret })).status).toBe(200);
  await expectError(await call("GET", "/v1/api-keys", { key: admin.secret }), 401, "api_key_invalid");
});

/**
 * Due inbound jobs naming no items (with `pad` bytes of filler): the consumer has nothing to do but drop each
 * row. Returns a wait until all of them are gone.
 */
async function dueEmptyJobs(subject: string, count: number, pad = 0) {
  const due = Date.now() - 60_000;
  const payload = JSON.stringify({ ids: [], ...(pad ? { pad: "x".repeat(pad) } : {}) });
  await env.DB.batch(
    Array.from({ length: count }, () =>
      env.DB.prepare(
        "INSERT INTO outbox (id, kind, subject_id, payload, priority, available_at, lease_until, attempts, created_at) VALUES (?, 'inbound', ?, ?, 1, ?, NULL, 0, ?)",
      ).bind(newId("outbox"), subject, payload, due, due),
    ),
  );
  return () =>
    vi.waitFor(
      async () => {
        const left = await env.DB.prepare("SELECT count(*) AS n FROM outbox WHERE subject_id = ?")
          .bind(subject)
          .first<{ n: number }>();
        expect(left?.n).toBe(0);
      },
      { timeout: 10_000, interval: 100 },
    );
}

it("one tick re-drives more due outbox rows than D1 binds values in one statement (100)", async () => {
  const drained = await dueEmptyJobs("chn_none", 150);
  const result = await runScheduled(env, new Date());
  expect(result.failedPhases).toEqual([]);
  expect(result.outboxRedriven).toBeGreaterThanOrEqual(150);
  await drained();
});

it("the sweeper hands jobs to the queue in batches within sendBatch's limits (100 messages, 256 KB)", async () => {
  // 10 KB each: one batch of all of them would be 1.2 MB.
  const drained = await dueEmptyJobs("chn_wide", 120, 10_000);
  const batches: { count: number; bytes: number }[] = [];
  const queue = {
    send: (body: unknown, options?: QueueSendOptions) => env.SENDS_QUEUE.send(body, options),
    sendBatch: (messages: MessageSendRequest[]) => {
      batches.push({
        count: messages.length,
        bytes: messages.reduce((n, m) => n + new TextEncoder().encode(JSON.stringify(m.body)).length, 0),
      });
      return env.SENDS_QUEUE.sendBatch(messages);
    },
  } as unknown as Queue<unknown>;
  const result = await runScheduled({ ...env, SENDS_QUEUE: queue }, new Date());
  expect(result.failedPhases).toEqual([]);
  expect(result.outboxRedriven).toBeGreaterThanOrEqual(120);
  expect(batches.length).toBeGreaterThanOrEqual(5);
  for (const batch of batches) {
    expect(batch.count).toBeLessThanOrEqual(100);
    expect(batch.bytes).toBeLessThanOrEqual(256_000);
  }
  await drained();
});
