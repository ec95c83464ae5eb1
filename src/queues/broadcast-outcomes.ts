import { and, eq, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { rawStatement } from "../db/raw";
import { type BroadcastRow, type MessageRow, messages, type OutboxRow } from "../db/schema";
import { newId } from "../ids";
import { sandboxReceiptPlan } from "../providers/sandbox";
import type { OutboundMessage, SendResult } from "../providers/types";
import { commit, emitBulkEvents } from "../webhooks/events";
import { BATCH_SIZE, loadBroadcast } from "./broadcast-state";
import { deleteOutboxRow, enqueue, type JobOutcome, newOutboxRow, type SendJob } from "./jobs";
import { endHop, type LifecycleContext } from "./message-lifecycle";

/**
 * What a fan-out job does after the provider answered, in bulk: accepted messages become `sent` (with their
 * events, sandbox receipts and fallback deadlines) in one batch; the rare refusals take the single-send path.
 * Also the sandbox's bulk delivered/read receipts for broadcast messages.
 */

/**
 * Outbox rows of many kinds in one statement (dispatches, receipts, fallback deadlines). With `madeAt`, a
 * row goes in only if its message was created in this batch (concurrent runs of a job leave no orphan job).
 */
export function insertOutboxRows(db: Db, rows: OutboxRow[], madeAt?: number): BatchItem<"sqlite"> {
  const json = JSON.stringify(
    rows.map((r) => [
      r.id,
      r.kind,
      r.subjectId,
      JSON.stringify(r.payload),
      r.priority,
      r.availableAt.getTime(),
      r.leaseUntil?.getTime() ?? null,
      r.createdAt.getTime(),
    ]),
  );
  const v = (i: number) => sql.raw(`json_extract(x.value, '$[${i}]')`);
  return rawStatement(
    db,
    sql`
    INSERT INTO outbox (id, kind, subject_id, payload, priority, available_at, lease_until, attempts, created_at)
    SELECT ${v(0)}, ${v(1)}, ${v(2)}, ${v(3)}, ${v(4)}, ${v(5)}, ${v(6)}, 0, ${v(7)} FROM json_each(${json}) x
    WHERE ${madeAt === undefined ? sql`1` : sql`EXISTS (SELECT 1 FROM messages m WHERE m.id = ${v(2)} AND m.created_at = ${madeAt})`}`,
  );
}

export function messageEventData(
  m: Pick<MessageRow, "id" | "channel" | "to" | "metadata" | "broadcastId" | "contactId">,
  status: string,
) {
  return {
    id: m.id,
    status,
    channel: m.channel,
    to: m.to,
    hop: 0,
    metadata: m.metadata,
    broadcast_id: m.broadcastId,
    contact_id: m.contactId,
  };
}

/** Accepted ones become `sent` in one batch (with events and follow-up jobs); the rest take the single path. */
export async function recordOutcomes(
  ctx: LifecycleContext,
  row: BroadcastRow,
  results: { message: MessageRow; outbound: OutboundMessage; result: SendResult }[],
) {
  const { env, db, now } = ctx;
  const at = now.getTime() + 1; // apart from the claim's updated_at, so the events' guard sees this update
  const iso = new Date(at).toISOString();
  const accepted = results.filter((r) => r.result.ok);
  const follow: OutboxRow[] = [];
  if (accepted.length > 0) {
    const bulkReceipts = new Map<string, { status: string; at: number; ids: string[] }>();
    for (const { message, outbound, result } of accepted) {
      if (!result.ok) continue;
      if (row.environment === "test") {
        for (const receipt of sandboxReceiptPlan(outbound)) {
          if (receipt.status === "sent") continue;
          if (receipt.status === "delivered" || receipt.status === "read") {
            const key = `${receipt.status}:${receipt.atSeconds}`;
            const group = bulkReceipts.get(key) ?? { status: receipt.status, at: receipt.atSeconds, ids: [] };
            group.ids.push(message.id);
            bulkReceipts.set(key, group);
          } else {
            follow.push(
              newOutboxRow(
                "sandbox_receipt",
                message.id,
                {
                  hop: 0,
                  status: receipt.status,
                  providerStatus: receipt.providerStatus,
                  code: receipt.errorCode,
                  reason: receipt.reason,
                },
                new Date(at + receipt.atSeconds * 1000),
                now,
              ),
            );
          }
        }
      }
      const next = message.fallback[0];
      if (next) {
        follow.push(
          newOutboxRow(
            "fallback_check",
            message.id,
            { hop: 0 },
            new Date(at + next.afterSeconds * 1000),
            now,
          ),
        );
      }
    }
    // One receipts job per status and job (≤ BATCH_SIZE ids, ~15 KB): not `ids`, which the sweeper would
    // slice into JOB_IDS_LIMIT pieces meant for jobs that do per-id work.
    for (const group of bulkReceipts.values()) {
      follow.push(
        newOutboxRow(
          "broadcast_receipts",
          row.id,
          { status: group.status, messageIds: group.ids },
          new Date(at + group.at * 1000),
          now,
        ),
      );
    }
    const sentJson = JSON.stringify(
      accepted.map(({ message, result }) => [message.id, result.ok ? result.providerMessageId : null]),
    );
    await commit(env, db, [
      rawStatement(
        db,
        sql`
        UPDATE messages SET status = 'sent', provider_message_id = json_extract(x.value, '$[1]'),
          hops = json_set(hops, '$[0].status', 'sent', '$[0].providerMessageId', json_extract(x.value, '$[1]')),
          timestamps = json_set(timestamps, '$.sent', ${iso}), updated_at = ${at}, error_code = NULL,
          error_reason = NULL
        FROM json_each(${sentJson}) x
        WHERE messages.id = json_extract(x.value, '$[0]') AND messages.status = 'sending' AND messages.hop = 0`,
      ),
      ...emitBulkEvents(
        db,
        { tenantId: row.tenantId, environment: row.environment },
        "message.sent",
        accepted.map(({ message, result }) => ({
          id: newId("event"),
          subjectId: message.id,
          data: {
            ...messageEventData(message, "sent"),
            provider_message_id: result.ok ? result.providerMessageId : null,
          },
        })),
        now,
        (subject) =>
          sql`EXISTS (SELECT 1 FROM messages m WHERE m.id = ${subject} AND m.status = 'sent' AND m.updated_at = ${at})`,
      ),
      ...(follow.length > 0 ? [insertOutboxRows(db, follow)] : []),
    ] as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
    await enqueue(env, follow, now);
  }
  // Rare paths, one message at a time, exactly as single sends: retry later, or fail (refund, fall back).
  const retry: OutboxRow[] = [];
  for (const { message, result } of results) {
    if (result.ok) continue;
    if (result.retryable) {
      await db
        .update(messages)
        .set({ status: "queued", errorCode: result.code, errorReason: result.reason, updatedAt: now })
        .where(and(eq(messages.id, message.id), eq(messages.status, "sending")));
      const delay = Math.max(1, result.retryAfterSeconds ?? 2);
      retry.push(
        newOutboxRow("dispatch", message.id, {}, new Date(at + delay * 1000), now, message.priority),
      );
    } else {
      await endHop(ctx, message, {
        status: "failed",
        code: result.code,
        reason: result.reason,
        refund: true,
        from: ["sending"],
      });
    }
  }
  if (retry.length > 0) {
    await db.batch([insertOutboxRows(db, retry)]);
    await enqueue(env, retry, now);
  }
}

/** Simulated delivered/read receipts for a slice of a sandbox broadcast's messages, applied in bulk. */
export async function runBroadcastReceipts(ctx: LifecycleContext, job: SendJob): Promise<JobOutcome> {
  const { env, db, now } = ctx;
  const status = job.payload.status === "read" ? "read" : "delivered";
  const listed = job.payload.messageIds;
  const ids = Array.isArray(listed)
    ? (listed as unknown[]).filter((id) => typeof id === "string").slice(0, BATCH_SIZE)
    : [];
  const row = await loadBroadcast(db, job.subjectId);
  if (row && ids.length > 0) {
    const at = now.getTime();
    const iso = now.toISOString();
    const from = status === "read" ? sql`('sent', 'delivered')` : sql`('sent')`;
    const list = JSON.stringify(ids);
    const found = await db.all<{
      id: string;
      to: string;
      contact_id: string | null;
      channel: MessageRow["channel"];
      metadata: string;
    }>(sql`
      SELECT id, "to", contact_id, channel, metadata FROM messages
      WHERE id IN (SELECT value FROM json_each(${list})) AND hop = 0 AND status IN ${from}
        AND tenant_id = ${row.tenantId} AND environment = ${row.environment}`);
    if (found.length > 0) {
      // The update and its events in one batch: each event is recorded only if its message moved now.
      await commit(env, db, [
        rawStatement(
          db,
          sql`
          UPDATE messages SET status = ${status}, hops = json_set(hops, '$[0].status', ${status}),
            timestamps = json_set(timestamps, ${`$.${status}`}, ${iso}), updated_at = ${at}
          WHERE id IN (SELECT value FROM json_each(${list})) AND hop = 0 AND status IN ${from}
            AND tenant_id = ${row.tenantId} AND environment = ${row.environment}`,
        ),
        ...emitBulkEvents(
          db,
          { tenantId: row.tenantId, environment: row.environment },
          status === "read" ? "message.read" : "message.delivered",
          found.map((m) => ({
            id: newId("event"),
            subjectId: m.id,
            data: messageEventData(
              {
                id: m.id,
                channel: m.channel,
                to: m.to,
                metadata: JSON.parse(m.metadata),
                broadcastId: row.id,
                contactId: m.contact_id,
              },
              status,
            ),
          })),
          now,
          (subject) =>
            sql`EXISTS (SELECT 1 FROM messages m WHERE m.id = ${subject} AND m.status = ${status} AND m.updated_at = ${at})`,
        ),
      ] as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
    }
  }
  if (job.outboxId) await deleteOutboxRow(db, job.outboxId);
  return { ack: true };
}
