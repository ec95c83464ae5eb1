import { and, eq, inArray, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { createDb, type Db } from "../db/client";
import { rawStatement } from "../db/raw";
import {
  type BroadcastRow,
  type BroadcastStatus,
  broadcasts,
  ledgerEntries,
  messages,
  tenantBroadcastSettings,
  wallets,
} from "../db/schema";
import { DEFAULT_TENANT_BROADCAST_RATE } from "../domain/broadcast-pacing";
import type { Env, Environment } from "../env";
import { newId } from "../ids";
import { commit, type EventType, emitGuardedEvent, UPDATE_APPLIED } from "../webhooks/events";
import type { SendJob } from "./jobs";

/**
 * What the broadcast code shares: the row and its counts, the runner's address and job shape, the guarded
 * status change with its webhook event, the tenant's rate shares and a job's hold on the wallet.
 */

/** Recipients per fan-out job at most (the runner releases a quarter second's worth per job, up to this). */
export const BATCH_SIZE = 500;

export const runnerOf = (env: Pick<Env, "BROADCAST_RUNNER">, broadcastId: string) =>
  env.BROADCAST_RUNNER.get(env.BROADCAST_RUNNER.idFromName(broadcastId));

export function batchJob(
  broadcastId: string,
  priority: number,
  batch: number,
  from: number,
  to: number,
): SendJob {
  // No outbox row: the runner keeps released batches until their job reports back (see broadcast-runner.ts).
  return {
    outboxId: "",
    kind: "broadcast_batch",
    subjectId: broadcastId,
    payload: { batch, from, to },
    priority,
  };
}

export async function loadBroadcast(db: Db, id: string): Promise<BroadcastRow | null> {
  const [row] = await db.select().from(broadcasts).where(eq(broadcasts.id, id)).limit(1);
  return row ?? null;
}

export interface BroadcastCounts {
  total: number;
  pending: number;
  queued: number;
  sent: number;
  delivered: number;
  read: number;
  failed: number;
  canceled: number;
  skipped: number;
}

const sumSkipped = (row: Pick<BroadcastRow, "skipped">) =>
  Object.values(row.skipped ?? {}).reduce((sum, n) => sum + n, 0);

/** Counts from the broadcast's messages (one GROUP BY over an index), never kept twice. */
export async function broadcastCounts(
  db: Db,
  row: Pick<BroadcastRow, "id" | "total" | "skipped">,
): Promise<BroadcastCounts> {
  return (await broadcastCountsOf(db, [row])).get(row.id) as BroadcastCounts;
}

/** The counts of several broadcasts (a page of the list) in one query. */
export async function broadcastCountsOf(
  db: Db,
  rows: Pick<BroadcastRow, "id" | "total" | "skipped">[],
): Promise<Map<string, BroadcastCounts>> {
  const found =
    rows.length === 0
      ? []
      : await db
          .select({ id: messages.broadcastId, status: messages.status, n: sql<number>`count(*)` })
          .from(messages)
          .where(
            and(
              sql`${messages.broadcastId} IN (SELECT value FROM json_each(${JSON.stringify(rows.map((r) => r.id))}))`,
              eq(messages.test, false),
            ),
          )
          .groupBy(messages.broadcastId, messages.status);
  const byBroadcast = new Map<string, Record<string, number>>();
  for (const r of found) {
    const by = byBroadcast.get(r.id ?? "") ?? {};
    by[r.status] = Number(r.n);
    byBroadcast.set(r.id ?? "", by);
  }
  return new Map(rows.map((row) => [row.id, countsFrom(row, byBroadcast.get(row.id) ?? {})]));
}

function countsFrom(
  row: Pick<BroadcastRow, "total" | "skipped">,
  by: Record<string, number>,
): BroadcastCounts {
  const n = (...statuses: string[]) => statuses.reduce((sum, s) => sum + (by[s] ?? 0), 0);
  const made = Object.values(by).reduce((sum, v) => sum + v, 0);
  const total = row.total ?? 0;
  const skipped = sumSkipped(row);
  return {
    total,
    pending: Math.max(0, total - skipped - made),
    queued: n("scheduled", "queued", "sending"),
    sent: n("sent", "delivered", "read"),
    delivered: n("delivered", "read"),
    read: n("read"),
    failed: n("failed", "undelivered"),
    canceled: n("canceled"),
    skipped,
  };
}

/** What a broadcast webhook event carries. */
export function eventDataOf(row: BroadcastRow, counts: BroadcastCounts, extra: Record<string, unknown> = {}) {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    channel: row.channel,
    counts,
    metadata: row.metadata,
    ...extra,
  };
}

export const scopeOf = (row: Pick<BroadcastRow, "tenantId" | "environment">) => ({
  tenantId: row.tenantId,
  environment: row.environment,
});

export function broadcastEvent(
  db: Db,
  row: BroadcastRow,
  type: EventType,
  data: Record<string, unknown>,
  now: Date,
): BatchItem<"sqlite">[] {
  return emitGuardedEvent(db, { ...scopeOf(row), type, subjectId: row.id, data }, now, UPDATE_APPLIED);
}

/** The guarded status change and its event, as one batch; returns the row after it (or null: not applied). */
export async function transition(
  env: Env,
  db: Db,
  row: BroadcastRow,
  from: BroadcastStatus[],
  patch: Partial<BroadcastRow> & { status: BroadcastStatus },
  type: EventType,
  now: Date,
  extra: Record<string, unknown> = {},
  more: BatchItem<"sqlite">[] = [],
): Promise<BroadcastRow | null> {
  const next = { ...row, ...patch, updatedAt: now };
  const counts = await broadcastCounts(db, next);
  const results = await commit(env, db, [
    db
      .update(broadcasts)
      .set({ ...patch, updatedAt: now })
      .where(and(eq(broadcasts.id, row.id), inArray(broadcasts.status, from))),
    ...broadcastEvent(db, next, type, eventDataOf(next, counts, extra), now),
    ...more,
  ]);
  const changed = (results[0] as { meta?: { changes?: number } }).meta?.changes ?? 0;
  return changed > 0 ? next : null;
}

/** The tenant's broadcast rate and its running broadcasts (what the runner's share is computed from). */
export async function runningRatesOf(env: Env, scope: { tenantId: string; environment: Environment }) {
  const db = createDb(env.DB);
  const [settings, running] = await db.batch([
    db
      .select({ rate: tenantBroadcastSettings.ratePerMinute })
      .from(tenantBroadcastSettings)
      .where(
        and(
          eq(tenantBroadcastSettings.tenantId, scope.tenantId),
          eq(tenantBroadcastSettings.environment, scope.environment),
        ),
      ),
    db
      .select({
        id: broadcasts.id,
        priority: broadcasts.priority,
        requestedPerMinute: broadcasts.rateLimitPerMinute,
      })
      .from(broadcasts)
      .where(
        and(
          eq(broadcasts.tenantId, scope.tenantId),
          eq(broadcasts.environment, scope.environment),
          eq(broadcasts.status, "running"),
        ),
      ),
  ]);
  return { tenantRate: settings[0]?.rate ?? DEFAULT_TENANT_BROADCAST_RATE, running };
}

/** Holds a job's cost: one debit per (broadcast, batch), so a redelivered job never holds twice. */
export function holdStatements(
  db: Db,
  row: BroadcastRow,
  batch: number,
  amountMicros: number,
  now: Date,
  guard: SQL,
): BatchItem<"sqlite">[] {
  const at = now.getTime();
  const notYet = sql`NOT EXISTS (SELECT 1 FROM ${ledgerEntries} WHERE message_id = ${row.id} AND hop = ${batch}
    AND kind = 'debit')`;
  return [
    db.insert(ledgerEntries).select(sql`
      SELECT ${newId("ledgerEntry")}, tenant_id, environment, 'debit', ${-amountMicros},
        balance_micros - ${amountMicros}, ${row.id}, ${batch}, ${`Broadcast ${row.id} batch ${batch}`}, ${at}
      FROM ${wallets} WHERE tenant_id = ${row.tenantId} AND environment = ${row.environment} AND ${notYet}
        AND ${guard} AND ${amountMicros} > 0`),
    rawStatement(
      db,
      sql`UPDATE ${wallets} SET balance_micros = balance_micros - ${amountMicros}, updated_at = ${at}
      WHERE tenant_id = ${row.tenantId} AND environment = ${row.environment} AND ${amountMicros} > 0
        AND ${guard} AND EXISTS (SELECT 1 FROM ${ledgerEntries} WHERE message_id = ${row.id} AND hop = ${batch}
          AND kind = 'debit' AND created_at = ${at})`,
    ),
  ];
}
