import { and, eq, inArray, sql } from "drizzle-orm";
import { createDb, type Db } from "../db/client";
import { rawStatement } from "../db/raw";
import { type BroadcastRow, broadcasts, ledgerEntries, messages, outbox } from "../db/schema";
import { formatAmount } from "../domain/money";
import type { Env } from "../env";
import { newId } from "../ids";
import {
  type Audience,
  audienceCondition,
  snapshotPage,
  snapshotTotals,
} from "../services/broadcast-audience";
import { commit, emitBulkEvents } from "../webhooks/events";
import {
  broadcastCounts,
  broadcastEvent,
  eventDataOf,
  loadBroadcast,
  runnerOf,
  scopeOf,
  transition,
} from "./broadcast-state";
import { deleteOutboxRow, enqueue, type JobOutcome, newOutboxRow, type SendJob, sendJobs } from "./jobs";
import type { LifecycleContext } from "./message-lifecycle";

/**
 * A broadcast's life after it was created: start (snapshot the audience, then hand it to its runner),
 * pause, resume, cancel and completion. Each status change is one guarded D1 update with its webhook event
 * (a repeated call changes nothing), followed by a call to the BroadcastRunner that paces it.
 */

/** A snapshot job hands over to a fresh job after this long, so one queue invocation stays short. */
const SNAPSHOT_BUDGET_MS = 5_000;

/**
 * draft/scheduled → running: records the start and queues the snapshot job (an outbox row, so a lost queue
 * message is re-driven by the sweeper). Returns the running row, or null when it was not startable.
 */
export async function startBroadcast(env: Env, db: Db, row: BroadcastRow, now: Date) {
  const job = newOutboxRow("broadcast_start", row.id, {}, now, now, row.priority);
  const started = await transition(
    env,
    db,
    row,
    ["draft", "scheduled"],
    { status: "running", startedAt: now, pauseReason: null },
    "broadcast.started",
    now,
    {},
    [
      db.insert(outbox).select(sql`
      SELECT ${job.id}, ${job.kind}, ${job.subjectId}, '{}', ${job.priority}, ${job.availableAt.getTime()},
        ${job.leaseUntil?.getTime() ?? null}, 0, ${now.getTime()}
      WHERE EXISTS (SELECT 1 FROM ${broadcasts} WHERE id = ${row.id} AND status = 'running'
        AND updated_at = ${now.getTime()})`),
    ],
  );
  if (started) await enqueue(env, [job], now);
  return started;
}

/**
 * The snapshot job: resolves the audience into `broadcast_recipients` page by page (each page continues
 * after the last contact taken, so a redelivered or resumed job never adds anyone twice), records the totals,
 * then starts the runner. Long audiences hand over to a fresh job every SNAPSHOT_BUDGET_MS.
 */
export async function runSnapshotJob(ctx: LifecycleContext, job: SendJob): Promise<JobOutcome> {
  const { env, db, now } = ctx;
  const row = await loadBroadcast(db, job.subjectId);
  if (!row || !["running", "paused"].includes(row.status)) {
    if (job.outboxId) await deleteOutboxRow(db, job.outboxId);
    return { ack: true };
  }
  let current = row;
  if (row.total === null) {
    const condition = await audienceCondition(db, row, row.audience as Audience);
    if (!condition) {
      await transition(
        env,
        db,
        row,
        ["running", "paused"],
        {
          status: "failed",
          failureReason: "The audience's segment or list was deleted before the broadcast started.",
          completedAt: now,
        },
        "broadcast.failed",
        now,
      );
      if (job.outboxId) await deleteOutboxRow(db, job.outboxId);
      return { ack: true };
    }
    const hopChannels = [row.channel, ...row.fallback.map((hop) => hop.channel)];
    const began = Date.now();
    for (;;) {
      const written = await snapshotPage(db, row.id, condition, row.channel, hopChannels);
      if (written < 5_000) break;
      if (Date.now() - began > SNAPSHOT_BUDGET_MS) {
        // Hand over: the next job continues after the last contact taken.
        await sendJobs(env, [{ body: job }]);
        return { ack: true };
      }
    }
    const totals = await snapshotTotals(db, row.id);
    await db
      .update(broadcasts)
      .set({ total: totals.total, skipped: totals.skipped, updatedAt: now })
      .where(and(eq(broadcasts.id, row.id), sql`${broadcasts.total} IS NULL`));
    current = (await loadBroadcast(db, row.id)) ?? row;
  }
  const end = (await snapshotTotals(db, row.id)).end;
  await runnerOf(env, row.id).start({
    broadcastId: row.id,
    tenantId: row.tenantId,
    environment: row.environment,
    priority: row.priority,
    requestedPerMinute: row.rateLimitPerMinute,
    end,
    paused: current.status === "paused",
  });
  if (job.outboxId) await deleteOutboxRow(db, job.outboxId);
  return { ack: true };
}

/** The snapshot job kept failing (dead-lettered): the broadcast ends `failed` with a reason, nothing sent. */
export async function failBroadcastStart(ctx: LifecycleContext, broadcastId: string) {
  const row = await loadBroadcast(ctx.db, broadcastId);
  if (!row || row.total !== null) return;
  await transition(
    ctx.env,
    ctx.db,
    row,
    ["running", "paused"],
    {
      status: "failed",
      failureReason: "Resolving the audience kept failing; nothing was sent. Create the broadcast again.",
      completedAt: ctx.now,
    },
    "broadcast.failed",
    ctx.now,
  );
}

export async function pauseBroadcast(env: Env, db: Db, row: BroadcastRow, reason: string | null, now: Date) {
  const paused = await recordPause(env, db, row, reason, now);
  await runnerOf(env, row.id).pause();
  return paused;
}

/** running → paused in D1 with its event, without telling the runner (the runner itself calls this). */
export function recordPause(env: Env, db: Db, row: BroadcastRow, reason: string | null, now: Date) {
  return transition(
    env,
    db,
    row,
    ["running"],
    { status: "paused", pauseReason: reason },
    "broadcast.paused",
    now,
    { pause_reason: reason },
  );
}

export async function resumeBroadcast(env: Env, db: Db, row: BroadcastRow, now: Date) {
  const resumed = await transition(
    env,
    db,
    row,
    ["paused"],
    { status: "running", pauseReason: null },
    "broadcast.resumed",
    now,
  );
  if (resumed) await runnerOf(env, row.id).resume();
  return resumed;
}

/** Messages canceled per statement batch (each one JSON parameter of ids). */
const CANCEL_PAGE = 500;

/**
 * Cancels the broadcast, then every message of it not yet handed to a provider (scheduled or queued), page by
 * page, refunding exactly what those messages held: the refund is computed in SQL from the rows that batch
 * moved to `canceled`, so a message claimed for sending in the meantime is neither canceled nor refunded.
 */
export async function cancelBroadcast(env: Env, db: Db, row: BroadcastRow, now: Date) {
  const canceled = await transition(
    env,
    db,
    row,
    ["draft", "scheduled", "running", "paused"],
    { status: "canceled", completedAt: now, pauseReason: null },
    "broadcast.canceled",
    now,
  );
  await runnerOf(env, row.id).cancel();
  await cancelHeldMessages(env, db, row, now);
  return canceled;
}

/** Cancels and refunds the broadcast's messages that have not gone out (idempotent: none left, nothing done). */
export async function cancelHeldMessages(env: Env, db: Db, row: BroadcastRow, now: Date) {
  for (let page = 0; page < 1_000; page++) {
    const ids = await db
      .select({ id: messages.id })
      .from(messages)
      .where(
        and(
          eq(messages.broadcastId, row.id),
          eq(messages.test, false),
          inArray(messages.status, ["scheduled", "queued"]),
        ),
      )
      .limit(CANCEL_PAGE);
    if (ids.length === 0) return;
    const at = now.getTime() + page; // each page's rows are told apart by their updated_at
    const iso = new Date(at).toISOString();
    const list = JSON.stringify(ids.map((r) => r.id));
    const inPage = sql`id IN (SELECT value FROM json_each(${list}))`;
    const canceledHere = sql`${inPage} AND status = 'canceled' AND updated_at = ${at}`;
    const amount = sql`(SELECT coalesce(sum(json_extract(hops, '$[' || hop || '].costMicros')), 0)
      FROM messages WHERE ${canceledHere})`;
    const ledgerKey = { messageId: row.id, hop: -at };
    await commit(env, db, [
      rawStatement(
        db,
        sql`UPDATE messages SET status = 'canceled',
          hops = json_set(hops, '$[' || hop || '].status', 'canceled', '$[' || hop || '].costMicros', 0,
            '$[' || hop || '].endedAt', ${iso}),
          timestamps = json_set(timestamps, '$.canceled', ${iso}), updated_at = ${at}
        WHERE ${inPage} AND broadcast_id = ${row.id} AND status IN ('scheduled', 'queued')`,
      ),
      db.insert(ledgerEntries).select(sql`
        SELECT ${newId("ledgerEntry")}, tenant_id, environment, 'refund', ${amount}, balance_micros + ${amount},
          ${ledgerKey.messageId}, ${ledgerKey.hop}, 'Broadcast canceled: held cost of unsent messages', ${at}
        FROM wallets WHERE tenant_id = ${row.tenantId} AND environment = ${row.environment} AND ${amount} > 0`),
      rawStatement(
        db,
        sql`UPDATE wallets SET balance_micros = balance_micros + ${amount}, updated_at = ${at}
        WHERE tenant_id = ${row.tenantId} AND environment = ${row.environment} AND ${amount} > 0`,
      ),
      ...emitBulkEvents(
        db,
        scopeOf(row),
        "message.canceled",
        ids.map((r) => ({
          id: newId("event"),
          subjectId: r.id,
          data: { id: r.id, status: "canceled", broadcast_id: row.id },
        })),
        now,
        (subject) =>
          sql`EXISTS (SELECT 1 FROM messages m WHERE m.id = ${subject} AND m.status = 'canceled' AND m.updated_at = ${at})`,
      ),
    ]);
  }
}

/**
 * running → completed once every recipient is through: all batches released and done (the runner's side)
 * and no message of the broadcast still waiting (scheduled by quiet hours, queued or sending).
 */
export async function finishIfDone(
  env: Env,
  broadcastId: string,
  now: Date,
): Promise<"done" | "sending" | "held"> {
  const db = createDb(env.DB);
  const row = await loadBroadcast(db, broadcastId);
  if (!row) return "done";
  if (row.status !== "running") return row.status === "paused" ? "held" : "done";
  const counts = await broadcastCounts(db, row);
  if (row.total === null || counts.pending > 0) return "sending";
  if (counts.queued > 0) {
    // Only quiet-hours messages left: they go out through the dispatch path, checked now and then.
    const [due] = await db.all<{ n: number }>(sql`
      SELECT count(*) AS n FROM messages WHERE broadcast_id = ${row.id} AND test = 0
        AND status IN ('queued', 'sending')`);
    return Number(due?.n ?? 0) > 0 ? "sending" : "held";
  }
  const [cost] = await db.all<{ micros: number | null }>(sql`
    SELECT sum((SELECT sum(json_extract(h.value, '$.costMicros')) FROM json_each(m.hops) h)) AS micros
    FROM messages m WHERE m.broadcast_id = ${row.id} AND m.test = 0`);
  const done = await transition(
    env,
    db,
    row,
    ["running"],
    { status: "completed", completedAt: now },
    "broadcast.completed",
    now,
    { total_cost: formatAmount(Number(cost?.micros ?? 0)), currency: row.currency },
  );
  return done ? "done" : "sending";
}

/** Emits `broadcast.progress` when the counts changed since `lastKey`; returns the key of the counts now. */
export async function emitProgressIfChanged(env: Env, broadcastId: string, lastKey: string, now: Date) {
  const db = createDb(env.DB);
  const row = await loadBroadcast(db, broadcastId);
  if (row?.status !== "running") return lastKey;
  const counts = await broadcastCounts(db, row);
  const key = JSON.stringify(counts);
  if (key === lastKey) return key;
  await commit(env, db, [
    db
      .update(broadcasts)
      .set({ updatedAt: row.updatedAt })
      .where(and(eq(broadcasts.id, row.id), eq(broadcasts.status, "running"))),
    ...broadcastEvent(db, row, "broadcast.progress", eventDataOf(row, counts), now),
  ]);
  return key;
}

/** Scheduled broadcasts started per tick, and running ones checked per tick. */
const DUE_PER_TICK = 50;
const RUNNING_PER_TICK = 500;

/**
 * The minute cron: starts every scheduled broadcast whose time has come, and checks every running or paused
 * one against its runner (an alarm lost in a crash is set again; a runner left paused by a race with resume is
 * resumed; one that finished its releases completes the broadcast).
 */
export async function sweepBroadcasts(env: Env, now: Date) {
  const db = createDb(env.DB);
  const due = await db
    .select()
    .from(broadcasts)
    .where(and(eq(broadcasts.status, "scheduled"), sql`${broadcasts.scheduleAt} <= ${now.getTime()}`))
    .limit(DUE_PER_TICK);
  let started = 0;
  for (const row of due) if (await startBroadcast(env, db, row, now)) started++;
  const active = await db
    .select({ id: broadcasts.id, status: broadcasts.status, total: broadcasts.total })
    .from(broadcasts)
    .where(inArray(broadcasts.status, ["running", "paused"]))
    .limit(RUNNING_PER_TICK);
  let checked = 0;
  for (const row of active) {
    if (row.total === null) continue; // the snapshot job is an outbox row: the outbox sweeper re-drives it
    const runner = runnerOf(env, row.id);
    const state = await runner.poke();
    if (row.status === "running" && state === "paused") await runner.resume();
    if (row.status === "running" && state === "finished") await finishIfDone(env, row.id, now);
    checked++;
  }
  return { broadcastsStarted: started, broadcastsChecked: checked };
}
