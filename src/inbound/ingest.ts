import { sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { inboundEvents, outbox } from "../db/schema";
import type { InboundItem } from "../domain/inbound/types";
import type { Env, Environment } from "../env";
import { newId } from "../ids";
import type { Channel } from "../providers/types";
import { enqueue, idSliceRows } from "../queues/jobs";

/** Where inbound items came from: a tenant's connected channel, or the sandbox of a test environment. */
export interface InboundSource {
  tenantId: string;
  environment: Environment;
  /** `chn_…`, or `sandbox`. */
  channelId: string;
  channel: Channel;
}

export const SANDBOX_CHANNEL_ID = "sandbox";

/** One D1 statement holds at most 100 bound values, so an id list is read in slices below that. */
export const ID_SLICE = 90;

/**
 * Items one INSERT stores. They travel as ONE bound JSON value (D1 binds at most 100 values per statement)
 * expanded by `json_each`, so a 4,500-item webhook is about ten statements rather than 4,500; each value is
 * kept far below D1's 2 MB limit for a string.
 */
const INSERT_MAX_ITEMS = 1_000;
const INSERT_MAX_CHARS = 250_000;

/** One inbound job: its outbox row and the item ids it names. */
export interface InboundJob {
  outboxId: string;
  ids: string[];
}

export interface PersistedInbound {
  /** The ids of the items that were new (a redelivered callback's items are already stored: none). */
  newIds: string[];
  /** The jobs written for them, one per slice of at most JOB_IDS_LIMIT items (none for a redelivery). */
  jobs: InboundJob[];
}

/** Consecutive groups of at most `maxItems` whose `size`s add up to at most `maxSize` (one item at least). */
function groups<T>(items: T[], maxItems: number, maxSize: number, size: (item: T) => number): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let total = 0;
  for (const item of items) {
    const n = size(item);
    if (current.length > 0 && (current.length === maxItems || total + n > maxSize)) {
      out.push(current);
      current = [];
      total = 0;
    }
    current.push(item);
    total += n;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * Stores each parsed item once (the unique provider event identity turns a redelivery into a no-op) with
 * outbox jobs that process the new ones, in ONE D1 batch (one round trip, atomic), then hands the jobs to
 * the queue. This is all a provider webhook request waits for; processing happens off the request path, and
 * the sweeper re-drives a job if the queue loses it. Jobs carry at most JOB_IDS_LIMIT ids each, so a
 * 4,500-status webhook makes 50 jobs of about 3 KB, never one larger than a queue message may be.
 */
export async function persistInbound(
  env: Env,
  db: Db,
  source: InboundSource,
  items: InboundItem[],
  now: Date,
  options: { enqueue: boolean } = { enqueue: true },
): Promise<PersistedInbound> {
  if (items.length === 0) return { newIds: [], jobs: [] };
  // The columns that repeat the item (provider, kind, dedupe key, provider message id) are read from it.
  const rows = items.map((item) => ({ id: newId("inboundEvent"), at: item.occurredAt.getTime(), item }));
  const inserts = groups(
    rows.map((row) => JSON.stringify(row)),
    INSERT_MAX_ITEMS,
    INSERT_MAX_CHARS,
    (text) => text.length,
  ).map((slice) =>
    db
      .insert(inboundEvents)
      .select(sql`
        SELECT json_extract(value, '$.id'), ${source.tenantId}, ${source.environment}, ${source.channelId},
          json_extract(value, '$.item.provider'), json_extract(value, '$.item.kind'),
          json_extract(value, '$.item.dedupeKey'), json_extract(value, '$.item.providerMessageId'),
          json_extract(value, '$.item'), 'pending', NULL, json_extract(value, '$.at'), ${now.getTime()}, NULL, NULL
        FROM json_each(${`[${slice.join(",")}]`}) WHERE true`)
      .onConflictDoNothing()
      .returning({ id: inboundEvents.id }),
  );
  const jobs = idSliceRows(
    "inbound",
    source.channelId,
    rows.map((row) => row.id),
    now,
    2,
  );
  const results = await db.batch([
    ...inserts,
    // A job only for a slice with some new item: a redelivered callback writes none (the ids are fresh, so
    // any of them that exists now was inserted just above).
    db
      .insert(outbox)
      .select(sql`
        SELECT json_extract(j.value, '$.id'), 'inbound', ${source.channelId}, json_extract(j.value, '$.payload'),
          2, ${now.getTime()}, ${jobs[0]?.leaseUntil?.getTime() ?? null}, 0, ${now.getTime()}
        FROM json_each(${JSON.stringify(jobs.map((job) => ({ id: job.id, payload: job.payload })))}) AS j
        WHERE EXISTS (SELECT 1 FROM inbound_events
          WHERE id IN (SELECT value FROM json_each(j.value, '$.payload.ids')))`)
      .returning({ id: outbox.id }),
  ] as unknown as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  const newIds = (results.slice(0, inserts.length) as { id: string }[][]).flatMap((r) => r.map((x) => x.id));
  const written = new Set((results.at(-1) as { id: string }[]).map((r) => r.id));
  const queued = jobs.filter((job) => written.has(job.id));
  if (options.enqueue) await enqueue(env, queued, now);
  return {
    newIds,
    jobs: queued.map((job) => ({ outboxId: job.id, ids: job.payload.ids as string[] })),
  };
}
