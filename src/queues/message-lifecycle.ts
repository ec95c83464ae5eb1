import { and, eq, inArray, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import {
  type HopRecord,
  type MessageRow,
  type MessageStatus,
  messages,
  type OutboxRow,
  outbox,
} from "../db/schema";
import { isOverdraft, walletMovement } from "../db/wallet";
import type { ReceiptStatus } from "../domain/inbound/types";
import { canAdvance } from "../domain/message-status";
import { estimateCost, type WhatsAppCategory } from "../domain/pricing";
import type { Env } from "../env";
import { newId } from "../ids";
import type { Channel, MessageContent } from "../providers/types";
import { commit, type EventType, emitGuardedEvent, UPDATE_APPLIED } from "../webhooks/events";
import { enqueue, JOB_LEASE_MS, newOutboxRow } from "./jobs";

/**
 * Every state change of a message after it was accepted: each one is one D1 batch (message row + event +
 * wallet movement + outbox rows), guarded so a repeated or late call changes nothing.
 */

export interface LifecycleContext {
  env: Env;
  db: Db;
  now: Date;
}

const EVENT_FOR: Partial<Record<MessageStatus, EventType>> = {
  queued: "message.queued",
  sent: "message.sent",
  delivered: "message.delivered",
  read: "message.read",
  failed: "message.failed",
  undelivered: "message.undelivered",
  canceled: "message.canceled",
};

export async function loadMessage(db: Db, id: string): Promise<MessageRow | null> {
  const [row] = await db.select().from(messages).where(eq(messages.id, id)).limit(1);
  return row ?? null;
}

export function eventData(row: MessageRow, status: MessageStatus, extra: Record<string, unknown> = {}) {
  return {
    id: row.id,
    status,
    channel: row.hops[row.hop]?.channel ?? row.channel,
    to: row.to,
    hop: row.hop,
    metadata: row.metadata,
    // A broadcast recipient's events name the broadcast and the contact.
    ...(row.broadcastId ? { broadcast_id: row.broadcastId, contact_id: row.contactId } : {}),
    ...extra,
  };
}

/** The event of a status change; place it directly after the update it reports (see UPDATE_APPLIED). */
export function messageEvent(
  ctx: LifecycleContext,
  row: MessageRow,
  status: MessageStatus,
  extra?: Record<string, unknown>,
) {
  const type = EVENT_FOR[status];
  if (!type) return [];
  return emitGuardedEvent(
    ctx.db,
    {
      tenantId: row.tenantId,
      environment: row.environment,
      type,
      subjectId: row.id,
      data: eventData(row, status, extra),
    },
    ctx.now,
    UPDATE_APPLIED,
  );
}

function withHop(row: MessageRow, patch: Partial<HopRecord>): HopRecord[] {
  return row.hops.map((hop, index) => (index === row.hop ? { ...hop, ...patch } : hop));
}

const stamp = (row: MessageRow, status: MessageStatus, now: Date) => ({
  ...row.timestamps,
  [status]: now.toISOString(),
});

/** Guard for every update: the message is still on this hop and in one of `statuses`. */
const onHopIn = (row: MessageRow, statuses: MessageStatus[]) =>
  and(eq(messages.id, row.id), eq(messages.hop, row.hop), inArray(messages.status, statuses));

const scopeOf = (row: MessageRow) => ({ tenantId: row.tenantId, environment: row.environment });

/**
 * Holds once this batch's own update has put the message on `hop` in `status` (stamped `now`). The
 * statements after that update (refund, fallback debit, outbox changes) carry it, so a transition that
 * lost a race or was refused (a late `failed` after `read`) moves no money and starts no hop.
 */
const transitionApplied = (row: MessageRow, hop: number, status: MessageStatus, now: Date) =>
  sql`EXISTS (SELECT 1 FROM ${messages} WHERE ${messages.id} = ${row.id} AND ${messages.hop} = ${hop}
    AND ${messages.status} = ${status} AND ${messages.updatedAt} = ${now.getTime()})`;

/** Inserts an outbox row only when `guard` holds at that point of the batch. */
function insertOutboxIf(db: Db, job: OutboxRow, guard: SQL) {
  return db.insert(outbox).select(sql`
    SELECT ${job.id}, ${job.kind}, ${job.subjectId}, ${JSON.stringify(job.payload)}, ${job.priority},
      ${job.availableAt.getTime()}, ${job.leaseUntil?.getTime() ?? null}, ${job.attempts}, ${job.createdAt.getTime()}
    WHERE ${guard}`);
}

/** The category a hop is priced under: a template's own, else WhatsApp's free-form `service`. */
export function costOfHop(
  row: Pick<MessageRow, "category" | "country" | "content">,
  channel: Channel,
): number {
  const content = row.content as unknown as MessageContent;
  const text =
    content.kind === "text"
      ? content.text.body
      : content.kind === "template"
        ? content.template.renderedBody
        : content.kind === "media"
          ? (content.media.caption ?? "")
          : "";
  return estimateCost({ channel, category: row.category as WhatsAppCategory, country: row.country, text })
    .amountMicros;
}

/**
 * Receipts that overtook this send (the provider's webhook can arrive before we record its id) wait as
 * `held` items; now that the id is known, one job processes them at once instead of at the next cron tick.
 * An INSERT … SELECT in the send's own batch: no job (and no extra round trip) when there are none.
 */
function heldReceiptsJob(ctx: LifecycleContext, row: MessageRow, providerMessageId: string) {
  const now = ctx.now.getTime();
  return ctx.db
    .insert(outbox)
    .select(sql`
      SELECT ${newId("outbox")}, 'inbound', ${row.id}, json_object('ids', json_group_array(id)), 2, ${now},
        ${now + JOB_LEASE_MS}, 0, ${now}
      FROM inbound_events
      WHERE state = 'held' AND provider_message_id = ${providerMessageId}
        AND tenant_id = ${row.tenantId} AND environment = ${row.environment}
      HAVING count(*) > 0`)
    .returning();
}

/** The provider accepted the hop: `sent`, plus whatever follows it (simulated receipts, a fallback deadline). */
export async function markSent(
  ctx: LifecycleContext,
  row: MessageRow,
  providerMessageId: string,
  follow: ReturnType<typeof newOutboxRow>[],
) {
  const hops = withHop(row, { status: "sent", providerMessageId });
  const updated = { ...row, hops, providerMessageId, status: "sent" as const };
  const held = row.environment === "live" ? [heldReceiptsJob(ctx, row, providerMessageId)] : [];
  const results = await commit(ctx.env, ctx.db, [
    ctx.db
      .update(messages)
      .set({
        status: "sent",
        providerMessageId,
        hops,
        timestamps: stamp(row, "sent", ctx.now),
        updatedAt: ctx.now,
        errorCode: null,
        errorReason: null,
      })
      .where(onHopIn(row, ["sending"])),
    ...messageEvent(ctx, updated, "sent", { provider_message_id: providerMessageId }),
    ctx.db.delete(outbox).where(and(eq(outbox.subjectId, row.id), eq(outbox.kind, "dispatch"))),
    ...follow.map((job) => ctx.db.insert(outbox).values(job)),
    ...held,
  ] as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  const heldJobs = held.length > 0 ? ((results.at(-1) ?? []) as OutboxRow[]) : [];
  await enqueue(ctx.env, [...follow, ...heldJobs], ctx.now);
}

/** A retryable provider error: back to `queued` until the queue redelivers the job. */
export async function markRetrying(ctx: LifecycleContext, row: MessageRow, code: string, reason: string) {
  await ctx.db
    .update(messages)
    .set({ status: "queued", errorCode: code, errorReason: reason, updatedAt: ctx.now })
    .where(onHopIn(row, ["sending"]));
}

/**
 * The current hop failed (refused by the provider, undeliverable, or not delivered in time). With a
 * fallback left, the same content goes out on the next channel under the same id, charged for that hop;
 * otherwise the message ends `failed`/`undelivered`. A hop the provider never sent is refunded.
 */
export async function endHop(
  ctx: LifecycleContext,
  row: MessageRow,
  outcome: {
    status: "failed" | "undelivered" | "sent";
    code: string;
    reason: string;
    refund: boolean;
    from: MessageStatus[];
  },
): Promise<void> {
  const next = row.fallback[row.hop];
  const refundStatements = (guard: SQL) =>
    outcome.refund && (row.hops[row.hop]?.costMicros ?? 0) > 0
      ? walletMovement(
          ctx.db,
          scopeOf(row),
          {
            kind: "refund",
            amountMicros: row.hops[row.hop]?.costMicros ?? 0,
            messageId: row.id,
            hop: row.hop,
            description: `Refund: ${row.hops[row.hop]?.channel} hop not sent (${outcome.code})`,
          },
          ctx.now,
          guard,
        )
      : [];
  const endedHops = withHop(row, {
    status: outcome.status,
    errorCode: outcome.code,
    errorReason: outcome.reason,
    endedAt: ctx.now.toISOString(),
    costMicros: outcome.refund ? 0 : (row.hops[row.hop]?.costMicros ?? 0),
  });

  if (next) {
    const cost = costOfHop(row, next.channel);
    const hops: HopRecord[] = [
      ...endedHops,
      {
        channel: next.channel,
        status: "queued",
        costMicros: cost,
        providerMessageId: null,
        errorCode: null,
        errorReason: null,
        startedAt: ctx.now.toISOString(),
        endedAt: null,
      },
    ];
    const dispatch = newOutboxRow("dispatch", row.id, {}, ctx.now, ctx.now, row.priority + 1);
    const movedOn = transitionApplied(row, row.hop + 1, "queued", ctx.now);
    try {
      await ctx.db.batch([
        ctx.db
          .update(messages)
          .set({
            hop: row.hop + 1,
            hops,
            status: "queued",
            providerMessageId: null,
            errorCode: outcome.code,
            errorReason: outcome.reason,
            updatedAt: ctx.now,
          })
          .where(onHopIn(row, outcome.from)),
        ...refundStatements(movedOn),
        ...walletMovement(
          ctx.db,
          scopeOf(row),
          {
            kind: "debit",
            amountMicros: -cost,
            messageId: row.id,
            hop: row.hop + 1,
            description: `Fallback to ${next.channel}`,
          },
          ctx.now,
          movedOn,
        ),
        ctx.db.delete(outbox).where(and(eq(outbox.subjectId, row.id), movedOn)),
        insertOutboxIf(ctx.db, dispatch, movedOn),
      ] as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
      await enqueue(ctx.env, [dispatch], ctx.now);
      return;
    } catch (error) {
      if (!isOverdraft(error)) throw error;
      outcome = {
        ...outcome,
        code: "insufficient_balance",
        reason: `Fallback to ${next.channel} skipped: the balance does not cover it.`,
      };
    }
  }

  const finalStatus = outcome.status === "sent" ? "undelivered" : outcome.status;
  const ended = { ...row, hops: endedHops, status: finalStatus };
  const endedNow = transitionApplied(row, row.hop, finalStatus, ctx.now);
  await commit(ctx.env, ctx.db, [
    ctx.db
      .update(messages)
      .set({
        status: finalStatus,
        hops: endedHops,
        errorCode: outcome.code,
        errorReason: outcome.reason,
        timestamps: stamp(row, finalStatus, ctx.now),
        updatedAt: ctx.now,
      })
      .where(onHopIn(row, outcome.from)),
    ...messageEvent(ctx, ended, finalStatus, { error: { code: outcome.code, reason: outcome.reason } }),
    ...refundStatements(endedNow),
    ctx.db.delete(outbox).where(and(eq(outbox.subjectId, row.id), endedNow)),
  ] as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
}

export interface Receipt {
  status: ReceiptStatus;
  /** When the provider says it happened: the message's timestamp for that status. */
  occurredAt: Date;
  code?: string;
  reason?: string;
}

/**
 * A provider's delivery receipt for the message's current hop (live webhooks and the sandbox's simulated
 * ones alike). Statuses only move forward; a late receipt changes nothing but its timestamp, which is kept.
 * Timestamps and the hop status are set inside SQL (json_set), so two receipts applied at once cannot
 * overwrite each other's. Returns why nothing moved, or null when the receipt was applied.
 */
export async function applyReceipt(
  ctx: LifecycleContext,
  row: MessageRow,
  receipt: Receipt,
): Promise<string | null> {
  const at = receipt.occurredAt.toISOString();
  if (!canAdvance(row.status, receipt.status)) {
    const progression =
      receipt.status === "sent" || receipt.status === "delivered" || receipt.status === "read";
    if (progression && row.timestamps[receipt.status] !== at) {
      await ctx.db
        .update(messages)
        .set({ timestamps: sql`json_set(${messages.timestamps}, ${`$.${receipt.status}`}, ${at})` })
        .where(and(eq(messages.id, row.id), eq(messages.hop, row.hop)));
    }
    return `The message is ${row.status}; a ${receipt.status} receipt does not move it (timestamp kept).`;
  }
  if (receipt.status === "failed" || receipt.status === "undelivered" || receipt.status === "canceled") {
    await endHop(ctx, row, {
      status: receipt.status === "undelivered" ? "undelivered" : "failed",
      code: receipt.code ?? receipt.status,
      reason: receipt.reason ?? `The provider reported the message ${receipt.status}.`,
      // Meta does not charge for failed messages; carriers do charge for undelivered SMS.
      refund: receipt.status !== "undelivered",
      from: ["sending", "sent", "delivered"],
    });
    return null;
  }
  const hops = withHop(row, { status: receipt.status });
  const from = (["sending", "sent", "delivered", "read"] as MessageStatus[]).filter((s) =>
    canAdvance(s, receipt.status),
  );
  await commit(ctx.env, ctx.db, [
    ctx.db
      .update(messages)
      .set({
        status: receipt.status,
        hops: sql`json_set(${messages.hops}, ${`$[${row.hop}].status`}, ${receipt.status})`,
        timestamps: sql`json_set(${messages.timestamps}, ${`$.${receipt.status}`}, ${at})`,
        updatedAt: ctx.now,
      })
      .where(onHopIn(row, from)),
    ...messageEvent(ctx, { ...row, hops }, receipt.status),
  ]);
  return null;
}

/** The fallback deadline of a hop passed: if it is still not delivered, move on to the next channel. */
export async function checkFallbackDeadline(
  ctx: LifecycleContext,
  messageId: string,
  hop: number,
): Promise<void> {
  const row = await loadMessage(ctx.db, messageId);
  if (!row || row.hop !== hop || !["sending", "sent"].includes(row.status)) return;
  const after = row.fallback[hop]?.afterSeconds ?? 0;
  await endHop(ctx, row, {
    status: "sent",
    code: "not_delivered_in_time",
    reason: `Not delivered within ${after} s; falling back.`,
    refund: false,
    from: ["sending", "sent"],
  });
}
