import { eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { type OutboxRow, outbox } from "../db/schema";
import type { Env } from "../env";
import { describeError } from "../errors";
import { newId } from "../ids";

/** What travels on the `sends` queue: a pointer to an outbox row, whose row is the durable truth. */
export interface SendJob {
  outboxId: string;
  kind: OutboxRow["kind"];
  subjectId: string;
  payload: Record<string, unknown>;
  priority: number;
}

/** What handling one job ends in: done (acknowledged), or "try again after this many seconds". */
export type JobOutcome = { ack: true } | { retryAfterSeconds: number };

/** How long a job handed to the queue is left alone by the sweeper before it is assumed lost. */
export const JOB_LEASE_MS = 120_000;
/** Cloudflare Queues delays messages by at most 12 hours; later work waits for the sweeper. */
export const MAX_QUEUE_DELAY_SECONDS = 43_200;

/**
 * Jobs carry ids, never unbounded payloads. A queue message is at most 128 KB (workerd counts 128,000
 * bytes) and one `sendBatch` at most 100 messages and 256 KB; a job over this ceiling is a bug or a row
 * written before jobs were sliced, and is never sent (see `unqueueable`), so it cannot fail a whole batch.
 * Half the queue's limit leaves room for the queue's own metadata and for V8's two-byte strings.
 */
export const MAX_JOB_BYTES = 64_000;
const BATCH_MAX_MESSAGES = 100;
const BATCH_MAX_BYTES = 240_000;
/** Ids one job names (`payload.ids`): one D1 `IN` slice, so bounded work per queue message and ~3 KB. */
export const JOB_IDS_LIMIT = 90;

const KINDS: readonly string[] = outbox.kind.enumValues;
/** Whether this build has a consumer for the kind (a row may hold another: a newer build, an edit). */
export const isKnownKind = (kind: string): boolean => KINDS.includes(kind);

export function newOutboxRow(
  kind: OutboxRow["kind"],
  subjectId: string,
  payload: Record<string, unknown>,
  availableAt: Date,
  now: Date,
  priority = 1,
): OutboxRow {
  const delayMs = Math.max(0, availableAt.getTime() - now.getTime());
  const queued = delayMs <= MAX_QUEUE_DELAY_SECONDS * 1000;
  return {
    id: newId("outbox"),
    kind,
    subjectId,
    payload,
    priority,
    availableAt,
    // Handed to the queue right after the batch commits, so the sweeper waits out the lease first.
    leaseUntil: queued ? new Date(availableAt.getTime() + JOB_LEASE_MS) : null,
    attempts: 0,
    createdAt: now,
  };
}

/** One row per slice of `ids` (at most JOB_IDS_LIMIT each), so no job names an unbounded list. */
export function idSliceRows(
  kind: OutboxRow["kind"],
  subjectId: string,
  ids: string[],
  now: Date,
  priority: number,
): OutboxRow[] {
  const rows: OutboxRow[] = [];
  for (let i = 0; i < ids.length; i += JOB_IDS_LIMIT) {
    rows.push(newOutboxRow(kind, subjectId, { ids: ids.slice(i, i + JOB_IDS_LIMIT) }, now, now, priority));
  }
  return rows;
}

export function jobOf(row: OutboxRow): SendJob {
  return {
    outboxId: row.id,
    kind: row.kind,
    subjectId: row.subjectId,
    payload: row.payload,
    priority: row.priority,
  };
}

/**
 * The size of a job on the queue, as JSON bytes. UTF-8 takes at most 3 bytes per UTF-16 unit, so a short
 * job (every send's) is sized by its length alone; only a long one is encoded to count exactly.
 */
export function jobBytes(job: SendJob): number {
  const json = JSON.stringify(job);
  return json.length * 3 <= MAX_JOB_BYTES ? json.length * 3 : new TextEncoder().encode(json).length;
}

/** Why a job must not go on the queue as it is (null: it may). */
export function unqueueable(job: SendJob): string | null {
  if (!isKnownKind(job.kind)) return "unknown kind";
  const bytes = jobBytes(job);
  return bytes > MAX_JOB_BYTES ? `${bytes} bytes, over the ${MAX_JOB_BYTES}-byte job limit` : null;
}

export interface QueuedJob {
  body: SendJob;
  delaySeconds?: number;
}

/**
 * Hands jobs to the sends queue in batches within `sendBatch`'s limits (count and bytes). A batch the queue
 * refuses is logged and the next one still goes: its rows stay leased in the outbox and the sweeper
 * re-drives them once the lease runs out. Returns how many jobs the queue took.
 */
export async function sendJobs(env: Env, jobs: QueuedJob[]): Promise<number> {
  let sent = 0;
  let batch: QueuedJob[] = [];
  let bytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const current = batch;
    batch = [];
    bytes = 0;
    try {
      await env.SENDS_QUEUE.sendBatch(current);
      sent += current.length;
    } catch (error) {
      console.error("sends queue refused a batch; the sweeper will re-drive it", {
        count: current.length,
        error: describeError(error),
      });
    }
  };
  for (const job of jobs) {
    const size = jobBytes(job.body);
    if (batch.length === BATCH_MAX_MESSAGES || bytes + size > BATCH_MAX_BYTES) await flush();
    batch.push(job);
    bytes += size;
  }
  await flush();
  return sent;
}

/**
 * Sends the jobs of freshly committed outbox rows to the queue (the accelerator). A failure here loses
 * nothing: the rows stay in the outbox and the sweeper re-drives them once their lease expires (and sets
 * aside or splits one that cannot be queued).
 */
export async function enqueue(env: Env, rows: OutboxRow[], now: Date): Promise<void> {
  const jobs: QueuedJob[] = [];
  for (const row of rows) {
    if (row.leaseUntil === null) continue;
    const body = jobOf(row);
    const reason = unqueueable(body);
    if (reason) {
      console.error("outbox row cannot be queued", { id: row.id, kind: row.kind, reason });
      continue;
    }
    jobs.push({
      body,
      delaySeconds: Math.ceil(Math.max(0, row.availableAt.getTime() - now.getTime()) / 1000),
    });
  }
  await sendJobs(env, jobs);
}

export const deleteOutboxRow = (db: Db, id: string) => db.delete(outbox).where(eq(outbox.id, id));
