import { and, eq, isNull, lt, lte, or, sql } from "drizzle-orm";
import { createDb } from "../db/client";
import { events, webhookAttempts, webhookDeliveries, webhookReplays } from "../db/schema";
import type { Env } from "../env";
import { newDeliveries, WOKEN } from "./events";
import { enqueueDeliveries, enqueueWebhookJobs } from "./queue";
import { EVENT_RETENTION_MS } from "./replay";

/** A due delivery this late was missed by the queue (lost message, crashed attempt): re-drive it. */
const OVERDUE_GRACE_MS = 30_000;
const SWEEP_LIMIT = 500;
/** Rows purged per table and tick, so one tick stays short; the backlog shrinks minute by minute. */
const PURGE_LIMIT = 5_000;

/**
 * The webhooks half of the minute tick: re-drives overdue deliveries and stalled replays, and releases
 * deliveries held behind an event that is no longer pending (a safety net: the deliverer releases them
 * itself). The retention purge is its own cron phase (purgeWebhooks), so a failure of one never skips the other.
 */
export async function sweepWebhooks(env: Env, now: Date) {
  const db = createDb(env.DB);
  const overdue = await db
    .select({ id: webhookDeliveries.id, at: webhookDeliveries.nextAttemptAt })
    .from(webhookDeliveries)
    .where(
      and(
        eq(webhookDeliveries.status, "pending"),
        lte(webhookDeliveries.nextAttemptAt, new Date(now.getTime() - OVERDUE_GRACE_MS)),
      ),
    )
    .limit(SWEEP_LIMIT);
  const released = await db
    .update(webhookDeliveries)
    .set({ nextAttemptAt: now })
    .where(
      sql`${webhookDeliveries.id} IN (SELECT d.id FROM webhook_deliveries d
        WHERE d.status = 'pending' AND d.next_attempt_at IS NULL
          AND d.created_at < ${now.getTime() - OVERDUE_GRACE_MS}
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
            WHERE p.endpoint_id = d.endpoint_id AND p.subject_id = d.subject_id AND p.ordered = 1
              AND p.status = 'pending' AND p.sequence < d.sequence)
        LIMIT ${SWEEP_LIMIT})`,
    )
    .returning(WOKEN);
  await enqueueDeliveries(
    env,
    [
      ...overdue.flatMap((row) => (row.at ? [{ id: row.id, at: row.at.getTime() }] : [])),
      ...newDeliveries([released]),
    ],
    now,
  );

  const stalledReplays = await db
    .select({ id: webhookReplays.id })
    .from(webhookReplays)
    .where(
      and(
        eq(webhookReplays.status, "running"),
        or(isNull(webhookReplays.leaseUntil), lt(webhookReplays.leaseUntil, now)),
        lt(webhookReplays.updatedAt, new Date(now.getTime() - OVERDUE_GRACE_MS)),
      ),
    )
    .limit(SWEEP_LIMIT);
  await enqueueWebhookJobs(
    env,
    stalledReplays.map((row) => ({ job: { kind: "replay" as const, replayId: row.id } })),
  );

  return {
    deliveriesRedriven: overdue.length + released.length,
    replaysRedriven: stalledReplays.length,
  };
}

/** Purges events, deliveries and attempts past the 30-day retention, a bounded number per table and tick. */
export async function purgeWebhooks(env: Env, now: Date) {
  const db = createDb(env.DB);
  const cutoff = now.getTime() - EVENT_RETENTION_MS;
  const oldest = (table: string, column: string) =>
    sql.raw(`SELECT rowid FROM ${table} WHERE ${column} < ${cutoff} LIMIT ${PURGE_LIMIT}`);
  const [purgedEvents, purgedDeliveries, purgedAttempts] = await db.batch([
    db.delete(events).where(sql`rowid IN (${oldest("events", "created_at")})`),
    db.delete(webhookDeliveries).where(sql`rowid IN (${oldest("webhook_deliveries", "created_at")})`),
    db.delete(webhookAttempts).where(sql`rowid IN (${oldest("webhook_attempts", "attempted_at")})`),
  ]);
  return {
    eventsPurged: purgedEvents.meta.changes,
    deliveriesPurged: purgedDeliveries.meta.changes,
    attemptsPurged: purgedAttempts.meta.changes,
  };
}
