import { and, asc, desc, inArray, isNotNull, isNull, lt, lte, or } from "drizzle-orm";
import { createDb } from "./db/client";
import { apiKeySecrets, auditLogs, outbox } from "./db/schema";
import type { Env } from "./env";
import { JOB_LEASE_MS, jobOf } from "./queues/jobs";
import { sweepHeldInbound } from "./queues/process-inbound";
import { sweepWebhooks } from "./webhooks/sweeper";

/** Outbox rows re-driven per tick; the rest wait for the next minute (the queue is the fast path anyway). */
const SWEEP_LIMIT = 500;

/**
 * Hands every due outbox row whose lease ran out (never queued, or queued and lost) to the sends queue,
 * highest priority first, leasing it again so the next tick does not double it.
 */
export async function sweepOutbox(env: Env, now: Date): Promise<number> {
  const db = createDb(env.DB);
  const expiredOrNone = or(isNull(outbox.leaseUntil), lt(outbox.leaseUntil, now));
  const due = await db
    .select()
    .from(outbox)
    .where(and(lte(outbox.availableAt, now), expiredOrNone))
    .orderBy(desc(outbox.priority), asc(outbox.availableAt))
    .limit(SWEEP_LIMIT);
  if (due.length === 0) return 0;
  const claimed = await db
    .update(outbox)
    .set({ leaseUntil: new Date(now.getTime() + JOB_LEASE_MS) })
    .where(
      and(
        inArray(
          outbox.id,
          due.map((row) => row.id),
        ),
        expiredOrNone,
      ),
    )
    .returning();
  for (let i = 0; i < claimed.length; i += 100) {
    await env.SENDS_QUEUE.sendBatch(claimed.slice(i, i + 100).map((row) => ({ body: jobOf(row) })));
  }
  return claimed.length;
}

const DAY_MS = 86_400_000;
/** Rotated-out secrets are kept this long past their overlap so a late caller hears "expired", not "invalid". */
const EXPIRED_SECRET_GRACE_MS = 7 * DAY_MS;

/**
 * The minute tick: the outbox sweeper (due schedules, lost queue messages), the webhooks sweeper, held
 * provider receipts whose message has appeared, then
 * retention purges.
 */
export async function runScheduled(env: Env, now: Date) {
  const outboxRedriven = await sweepOutbox(env, now);
  const webhooks = await sweepWebhooks(env, now);
  const heldReceipts = await sweepHeldInbound(env, now);
  const db = createDb(env.DB);
  const retentionDays = Number(env.AUDIT_RETENTION_DAYS ?? "90") || 90;
  const [audit, secrets] = await db.batch([
    db.delete(auditLogs).where(lt(auditLogs.createdAt, new Date(now.getTime() - retentionDays * DAY_MS))),
    db
      .delete(apiKeySecrets)
      .where(
        and(
          isNotNull(apiKeySecrets.expiresAt),
          lt(apiKeySecrets.expiresAt, new Date(now.getTime() - EXPIRED_SECRET_GRACE_MS)),
        ),
      ),
  ]);
  return {
    outboxRedriven,
    ...webhooks,
    heldReceiptsApplied: heldReceipts.applied,
    heldReceiptsExpired: heldReceipts.expired,
    inboundItemsPurged: heldReceipts.purged,
    auditLogsPurged: audit.meta.changes,
    secretsPurged: secrets.meta.changes,
  };
}
