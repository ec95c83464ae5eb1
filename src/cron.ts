import { and, asc, desc, inArray, isNotNull, isNull, lt, lte, or, sql } from "drizzle-orm";
import { createDb, type Db } from "./db/client";
import { apiKeySecrets, auditLogs, type OutboxRow, outbox } from "./db/schema";
import type { Env } from "./env";
import { describeError } from "./errors";
import { sweepBroadcasts } from "./queues/broadcast-lifecycle";
import {
  deleteOutboxRow,
  enqueue,
  idSliceRows,
  isKnownKind,
  JOB_IDS_LIMIT,
  JOB_LEASE_MS,
  jobOf,
  type QueuedJob,
  type SendJob,
  sendJobs,
  unqueueable,
} from "./queues/jobs";
import { expireAndPurgeInbound, sweepHeldInbound } from "./queues/process-inbound";
import { purgeWebhooks, sweepWebhooks } from "./webhooks/sweeper";

/** Outbox rows re-driven per tick; the rest wait for the next minute (the queue is the fast path anyway). */
const SWEEP_LIMIT = 500;
/** A row that cannot be queued is leased this far ahead: looked at again hourly, never every minute. */
const SET_ASIDE_MS = 3_600_000;

/** A due row as the sweeper reads it: the payload as stored text, parsed row by row. */
type RawOutboxRow = Omit<OutboxRow, "payload"> & { payload: string };

/** The row's job, or why it cannot be one (unreadable payload, unknown kind, too large). */
function readJob(row: RawOutboxRow): { job: SendJob; problem: string | null } {
  let payload: unknown;
  try {
    payload = JSON.parse(row.payload);
  } catch {
    payload = undefined;
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    return { job: jobOf({ ...row, payload: {} }), problem: "payload is not a JSON object" };
  }
  const job = jobOf({ ...row, payload: payload as Record<string, unknown> });
  return { job, problem: unqueueable(job) };
}

/** A job naming more ids than one job may (written before jobs were sliced): its slices, else null. */
function slicesOf(row: RawOutboxRow, job: SendJob, now: Date): OutboxRow[] | null {
  const ids = job.payload.ids;
  if (
    !isKnownKind(row.kind) ||
    !Array.isArray(ids) ||
    ids.length <= JOB_IDS_LIMIT ||
    !ids.every((id) => typeof id === "string")
  ) {
    return null;
  }
  return idSliceRows(row.kind, row.subjectId, ids, now, row.priority);
}

/** Replaces an over-long job by its slices in one batch (atomic), then queues them. */
async function split(env: Env, db: Db, row: RawOutboxRow, slices: OutboxRow[], now: Date) {
  await db.batch([deleteOutboxRow(db, row.id), ...slices.map((slice) => db.insert(outbox).values(slice))]);
  console.warn("outbox job split", { id: row.id, kind: row.kind, into: slices.length });
  await enqueue(env, slices, now);
}

/**
 * Hands every due outbox row whose lease ran out (never queued, or queued and lost) to the sends queue,
 * highest priority first, leasing it again so the next tick does not double it. One bad row never stops
 * the others: a job naming too many ids is split into slices; one that cannot be queued at all (payload not
 * JSON, unknown kind, over MAX_JOB_BYTES) is logged and set aside for an hour; the rest go in batches within
 * the queue's limits, and a batch the queue refuses waits for its lease like a lost one.
 */
export async function sweepOutbox(env: Env, now: Date) {
  const db = createDb(env.DB);
  const expiredOrNone = or(isNull(outbox.leaseUntil), lt(outbox.leaseUntil, now));
  // Select and lease in one statement (no id list to bind: D1 takes at most 100 values per statement).
  const claimed: RawOutboxRow[] = await db
    .update(outbox)
    .set({ leaseUntil: new Date(now.getTime() + JOB_LEASE_MS) })
    .where(
      inArray(
        outbox.id,
        db
          .select({ id: outbox.id })
          .from(outbox)
          .where(and(lte(outbox.availableAt, now), expiredOrNone))
          .orderBy(desc(outbox.priority), asc(outbox.availableAt))
          .limit(SWEEP_LIMIT),
      ),
    )
    .returning({
      id: outbox.id,
      kind: outbox.kind,
      subjectId: outbox.subjectId,
      payload: sql<string>`${outbox.payload}`,
      priority: outbox.priority,
      availableAt: outbox.availableAt,
      leaseUntil: outbox.leaseUntil,
      attempts: outbox.attempts,
      createdAt: outbox.createdAt,
    });
  claimed.sort((a, b) => b.priority - a.priority || a.availableAt.getTime() - b.availableAt.getTime());
  const jobs: QueuedJob[] = [];
  const setAside: string[] = [];
  let splitRows = 0;
  for (const row of claimed) {
    const { job, problem } = readJob(row);
    const slices = slicesOf(row, job, now);
    if (slices) {
      try {
        await split(env, db, row, slices, now);
        splitRows++;
      } catch (error) {
        // Still leased: tried again once the lease runs out.
        console.error("outbox job could not be split", { id: row.id, error: describeError(error) });
      }
    } else if (problem) {
      console.error("outbox row cannot be queued", { id: row.id, kind: row.kind, reason: problem });
      setAside.push(row.id);
    } else {
      jobs.push({ body: job });
    }
  }
  const redriven = await sendJobs(env, jobs);
  if (setAside.length > 0) {
    await db
      .update(outbox)
      .set({ leaseUntil: new Date(now.getTime() + SET_ASIDE_MS) })
      .where(sql`${outbox.id} IN (SELECT value FROM json_each(${JSON.stringify(setAside)}))`);
  }
  return { redriven, setAside: setAside.length, split: splitRows };
}

const DAY_MS = 86_400_000;
/** Rotated-out secrets are kept this long past their overlap so a late caller hears "expired", not "invalid". */
const EXPIRED_SECRET_GRACE_MS = 7 * DAY_MS;

async function purgeAuditAndSecrets(env: Env, now: Date) {
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
  return { auditLogsPurged: audit.meta.changes, secretsPurged: secrets.meta.changes };
}

/**
 * The minute tick: the outbox sweeper (due schedules, lost queue messages), the webhooks sweeper, held
 * provider receipts whose message has appeared, then retention purges. Each phase runs on its own: one
 * that throws is logged (`cron phase failed`, the error without bound values) and named in `failedPhases`,
 * and the next phases still run, so one tenant's bad data can never stop every tenant's scheduled work.
 */
export async function runScheduled(env: Env, now: Date) {
  const failedPhases: string[] = [];
  async function phase<T>(name: string, run: () => Promise<T>): Promise<Partial<T>> {
    try {
      return await run();
    } catch (error) {
      failedPhases.push(name);
      console.error("cron phase failed", { phase: name, error: describeError(error) });
      return {};
    }
  }
  const swept = await phase("outbox", () => sweepOutbox(env, now));
  const broadcastsSwept = await phase("broadcasts", () => sweepBroadcasts(env, now));
  const webhooks = await phase("webhooks", () => sweepWebhooks(env, now));
  const held = await phase("held_inbound", () => sweepHeldInbound(env, now));
  const inboundPurge = await phase("inbound_purge", () => expireAndPurgeInbound(env, now));
  const webhookPurge = await phase("webhooks_purge", () => purgeWebhooks(env, now));
  const purged = await phase("audit_purge", () => purgeAuditAndSecrets(env, now));
  return {
    outboxRedriven: swept.redriven ?? 0,
    outboxSetAside: swept.setAside ?? 0,
    outboxSplit: swept.split ?? 0,
    broadcastsStarted: broadcastsSwept.broadcastsStarted ?? 0,
    broadcastsChecked: broadcastsSwept.broadcastsChecked ?? 0,
    ...webhooks,
    ...webhookPurge,
    heldReceiptsApplied: held.applied ?? 0,
    heldReceiptsExpired: inboundPurge.expired ?? 0,
    inboundItemsPurged: inboundPurge.purged ?? 0,
    ...purged,
    failedPhases,
  };
}
