import { eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { type OutboxRow, outbox } from "../db/schema";
import type { Env } from "../env";
import { newId } from "../ids";

/** What travels on the `sends` queue: a pointer to an outbox row, whose row is the durable truth. */
export interface SendJob {
  outboxId: string;
  kind: OutboxRow["kind"];
  subjectId: string;
  payload: Record<string, unknown>;
  priority: number;
}

/** How long a job handed to the queue is left alone by the sweeper before it is assumed lost. */
export const JOB_LEASE_MS = 120_000;
/** Cloudflare Queues delays messages by at most 12 hours; later work waits for the sweeper. */
export const MAX_QUEUE_DELAY_SECONDS = 43_200;

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
 * Sends the jobs of freshly committed outbox rows to the queue (the accelerator). A failure here loses
 * nothing: the rows stay in the outbox and the sweeper re-drives them once their lease expires.
 */
export async function enqueue(env: Env, rows: OutboxRow[], now: Date): Promise<void> {
  const queued = rows.filter((row) => row.leaseUntil !== null);
  if (queued.length === 0) return;
  try {
    await env.SENDS_QUEUE.sendBatch(
      queued.map((row) => ({
        body: jobOf(row),
        delaySeconds: Math.ceil(Math.max(0, row.availableAt.getTime() - now.getTime()) / 1000),
      })),
    );
  } catch (error) {
    console.error("sends queue unavailable; the sweeper will re-drive", {
      count: queued.length,
      error: String(error),
    });
  }
}

export const deleteOutboxRow = (db: Db, id: string) => db.delete(outbox).where(eq(outbox.id, id));
