import { sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { type InboundEventRow, inboundEvents, outbox } from "../db/schema";
import type { InboundItem } from "../domain/inbound/types";
import type { Env, Environment } from "../env";
import { newId } from "../ids";
import type { Channel } from "../providers/types";
import { enqueue, newOutboxRow } from "../queues/jobs";

/** Where inbound items came from: a tenant's connected channel, or the sandbox of a test environment. */
export interface InboundSource {
  tenantId: string;
  environment: Environment;
  /** `chn_…`, or `sandbox`. */
  channelId: string;
  channel: Channel;
}

export const SANDBOX_CHANNEL_ID = "sandbox";

const providerMessageIdOf = (item: InboundItem): string | null =>
  "providerMessageId" in item ? item.providerMessageId : null;

/** One D1 statement holds at most 100 bound values, so an id list is read in slices below that. */
export const ID_SLICE = 90;

export interface PersistedInbound {
  /** The ids of the items that were new (a redelivered callback's items are already stored: none). */
  newIds: string[];
  outboxId: string | null;
}

/**
 * Stores each parsed item once (the unique provider event identity turns a redelivery into a no-op) with
 * one outbox job that processes the new ones, in one D1 batch, then hands the job to the queue. This is all a
 * provider webhook request waits for; processing happens off the request path, and the sweeper re-drives
 * the job if the queue loses it.
 */
export async function persistInbound(
  env: Env,
  db: Db,
  source: InboundSource,
  items: InboundItem[],
  now: Date,
  options: { enqueue: boolean } = { enqueue: true },
): Promise<PersistedInbound> {
  if (items.length === 0) return { newIds: [], outboxId: null };
  const rows: InboundEventRow[] = items.map((item) => ({
    id: newId("inboundEvent"),
    tenantId: source.tenantId,
    environment: source.environment,
    channelId: source.channelId,
    provider: item.provider,
    kind: item.kind,
    dedupeKey: item.dedupeKey,
    providerMessageId: providerMessageIdOf(item),
    item,
    state: "pending",
    note: null,
    occurredAt: item.occurredAt,
    receivedAt: now,
    processedAt: null,
    holdUntil: null,
  }));
  const ids = rows.map((row) => row.id);
  const job = newOutboxRow("inbound", source.channelId, { ids }, now, now, 2);
  const results = await db.batch([
    ...rows.map((row) =>
      db.insert(inboundEvents).values(row).onConflictDoNothing().returning({ id: inboundEvents.id }),
    ),
    // Only when some item was new: a redelivered callback writes no job (the ids are fresh, so any that
    // exists now was inserted just above).
    db.insert(outbox).select(sql`
      SELECT ${job.id}, ${job.kind}, ${job.subjectId}, ${JSON.stringify(job.payload)}, ${job.priority},
        ${job.availableAt.getTime()}, ${job.leaseUntil?.getTime() ?? null}, 0, ${now.getTime()}
      WHERE EXISTS (SELECT 1 FROM inbound_events WHERE id IN (SELECT value FROM json_each(${JSON.stringify(ids)})))`),
  ] as unknown as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  const newIds = (results.slice(0, rows.length) as { id: string }[][]).flatMap((r) => r.map((x) => x.id));
  if (newIds.length === 0) return { newIds, outboxId: null };
  if (options.enqueue) await enqueue(env, [job], now);
  return { newIds, outboxId: job.id };
}
