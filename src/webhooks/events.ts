import { type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { encodeTime } from "ulidx";
import type { Db } from "../db/client";
import { compiled } from "../db/compiled";
import { events, webhookDeliveries } from "../db/schema";
import type { Env, Environment } from "../env";
import { newId } from "../ids";
import { type DueDelivery, enqueueDeliveries } from "./queue";

/** Every event type an endpoint can subscribe to (or `*` for all of them). */
export const EVENT_TYPES = [
  "message.queued",
  "message.sent",
  "message.delivered",
  "message.read",
  "message.failed",
  "message.undelivered",
  "message.canceled",
  "message.opened",
  "message.clicked",
  "message.complained",
  "message.received",
  "contact.identified",
  "contact.opted_out",
  "contact.opted_in",
  "contact_import.completed",
  "contact_import.failed",
  "template.approved",
  "template.rejected",
  "broadcast.started",
  "broadcast.progress",
  "broadcast.paused",
  "broadcast.resumed",
  "broadcast.completed",
  "broadcast.canceled",
  "broadcast.failed",
  "link.clicked",
] as const;

/** `webhook.test` is sent only by the test route, to the one endpoint it names. */
export type EventType = (typeof EVENT_TYPES)[number] | "webhook.test";

export interface EventInput {
  tenantId: string;
  environment: Environment;
  type: EventType;
  subjectId: string;
  data: Record<string, unknown>;
}

/** `sequence` is computed inside the statement (max + 1 for the subject), so it rises per subject even
 * when writers race; the unique (subject, sequence) index turns a lost race into a failed batch. */
const nextSequence = (subjectId: unknown) =>
  sql`(SELECT coalesce(max(${events.sequence}), 0) + 1 FROM ${events} WHERE ${events.subjectId} = ${subjectId})`;

/** What fan-out and release statements return, so the caller can wake those deliveries. */
export const WOKEN = {
  wokenDeliveryId: webhookDeliveries.id,
  wokenDeliveryAt: webhookDeliveries.nextAttemptAt,
};

/**
 * Fans one event out to every enabled endpoint of its tenant and environment that subscribes to its
 * type, in the same batch as the event itself, so an event can never exist without its deliveries.
 * Delivery ids are made inside SQL (one per subscribed endpoint, a count only SQLite knows): the ULID
 * time part from our clock (`idTime`), then 16 random hex digits, which are Crockford base-32 digits too,
 * so they sort by creation time and pass `isIdOf("webhookDelivery", …)` like every other id.
 * Compiled once per isolate; returns the new deliveries, which {@link commit} hands to the queue.
 */
/**
 * The deliveries of the events `which` selects (a condition on `e`), one per enabled endpoint of their tenant
 * and environment subscribed to their type. insert().select(sql) fills every column in table order (drizzle's
 * rule), hence the explicit NULLs.
 */
function insertDeliveries(db: Db, idTime: unknown, nowMs: unknown, which: SQL) {
  return db
    .insert(webhookDeliveries)
    .select(sql`
      SELECT 'whd_' || ${idTime} || lower(hex(randomblob(8))), e.tenant_id, e.environment, w.id, e.id,
        e.type, e.subject_id, e.sequence, 1, NULL, 'pending', 0, ${nowMs}, NULL, NULL, NULL, NULL, NULL, ${nowMs}
      FROM events e
      JOIN webhook_endpoints w
        ON w.tenant_id = e.tenant_id AND w.environment = e.environment AND w.enabled = 1
      WHERE ${which}
        AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE json_each.value IN (e.type, '*'))`)
    .returning(WOKEN);
}

const compiledFanOut = compiled(
  (db, p) => insertDeliveries(db, p("idTime"), p("nowMs"), sql`e.id = ${p("eventId")}`),
  (result) =>
    (result.results as { id: string; next_attempt_at: number }[]).map((row) => ({
      wokenDeliveryId: row.id,
      wokenDeliveryAt: new Date(row.next_attempt_at),
    })),
);

function fanOut(db: Db, eventId: string, now: Date) {
  return compiledFanOut(db, {
    eventId,
    idTime: encodeTime(now.getTime(), 10).toLowerCase(),
    nowMs: now.getTime(),
  });
}

/** The insert of one event row, without fan-out (the test route delivers its event to one endpoint only). */
export function recordEvent(db: Db, event: EventInput, now: Date) {
  const id = newId("event");
  const statement = db.insert(events).values({
    id,
    tenantId: event.tenantId,
    environment: event.environment,
    type: event.type,
    subjectId: event.subjectId,
    sequence: nextSequence(event.subjectId),
    data: event.data,
    createdAt: now,
  });
  return { id, statement };
}

/** The statements that record an event and fan it out; put them in the batch of the change they describe. */
export function emitEvent(db: Db, event: EventInput, now: Date): BatchItem<"sqlite">[] {
  const { id, statement } = recordEvent(db, event, now);
  return [statement, fanOut(db, id, now)];
}

/**
 * Guard for an event that reports an UPDATE: SQLite's `changes()` is the row count of the previous
 * statement of the batch, so the event must directly follow that update. A repeated or late call whose
 * update matched nothing then records (and delivers) nothing.
 */
export const UPDATE_APPLIED = sql`changes() > 0`;

function guardedEventQuery(db: Db, v: Record<keyof GuardedEventValues, unknown>, guard: SQL) {
  return db.insert(events).select(sql`
    SELECT ${v.id}, ${v.tenantId}, ${v.environment}, ${v.type}, ${v.subjectId}, ${nextSequence(v.subjectId)},
      ${v.data}, ${v.nowMs}
    WHERE ${guard}`);
}
interface GuardedEventValues {
  id: string;
  tenantId: string;
  environment: Environment;
  type: EventType;
  subjectId: string;
  data: string;
  nowMs: number;
}
/** The event guarded by UPDATE_APPLIED (every status change of the send path), compiled once per isolate. */
const compiledEventAfterUpdate = compiled<GuardedEventValues>((db, p) =>
  guardedEventQuery(
    db,
    {
      id: p("id"),
      tenantId: p("tenantId"),
      environment: p("environment"),
      type: p("type"),
      subjectId: p("subjectId"),
      data: p("data"),
      nowMs: p("nowMs"),
    },
    UPDATE_APPLIED,
  ),
);

/** The same event, recorded only when `guard` (e.g. {@link UPDATE_APPLIED}) holds at that point of the batch. */
export function emitGuardedEvent(db: Db, event: EventInput, now: Date, guard: SQL): BatchItem<"sqlite">[] {
  const values: GuardedEventValues = {
    id: newId("event"),
    tenantId: event.tenantId,
    environment: event.environment,
    type: event.type,
    subjectId: event.subjectId,
    data: JSON.stringify(event.data),
    nowMs: now.getTime(),
  };
  return [
    guard === UPDATE_APPLIED ? compiledEventAfterUpdate(db, values) : guardedEventQuery(db, values, guard),
    fanOut(db, values.id, now),
  ];
}

/** One event of a bulk emit: its id (made by the caller, so the fan-out can name it), subject and data. */
export interface BulkEvent {
  id: string;
  subjectId: string;
  data: Record<string, unknown>;
}

/**
 * Many events of one type in two statements, whatever their number (a broadcast batch emits hundreds): the
 * rows travel as one JSON parameter. `guard` is a condition on each row's subject id (an SQL expression)
 * that must hold for its event to be recorded, e.g. "this message is now sent"; the fan-out then delivers
 * exactly the events that were recorded.
 */
export function emitBulkEvents(
  db: Db,
  scope: { tenantId: string; environment: Environment },
  type: EventType,
  rows: BulkEvent[],
  now: Date,
  guard: (subjectId: SQL) => SQL,
): BatchItem<"sqlite">[] {
  const json = JSON.stringify(rows.map((row) => ({ e: row.id, s: row.subjectId, d: row.data })));
  const subject = sql`json_extract(x.value, '$.s')`;
  const record = db.insert(events).select(sql`
    SELECT json_extract(x.value, '$.e'), ${scope.tenantId}, ${scope.environment}, ${type}, ${subject},
      (SELECT coalesce(max(${events.sequence}), 0) + 1 FROM ${events} WHERE ${events.subjectId} = ${subject}),
      json_extract(x.value, '$.d'), ${now.getTime()}
    FROM json_each(${json}) x
    WHERE ${guard(subject)}`);
  const fanOutAll = insertDeliveries(
    db,
    encodeTime(now.getTime(), 10).toLowerCase(),
    now.getTime(),
    sql`e.id IN (SELECT json_extract(value, '$.e') FROM json_each(${json}))`,
  );
  return [record, fanOutAll];
}

/** The deliveries that fan-out (or release) statements of a batch returned, to wake through the queue. */
export function newDeliveries(results: readonly unknown[]): DueDelivery[] {
  const found: DueDelivery[] = [];
  for (const result of results) {
    if (!Array.isArray(result)) continue;
    for (const row of result as { wokenDeliveryId?: unknown; wokenDeliveryAt?: unknown }[]) {
      if (typeof row?.wokenDeliveryId === "string" && row.wokenDeliveryAt instanceof Date) {
        found.push({ id: row.wokenDeliveryId, at: row.wokenDeliveryAt.getTime() });
      }
    }
  }
  return found;
}

/**
 * Runs a batch that may contain events, then wakes their deliveries through the webhooks queue. The
 * deliveries are already durable: if the queue send fails, the sweeper finds them due and sends them.
 */
export async function commit<T extends [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]>(
  env: Env,
  db: Db,
  items: T,
) {
  const results = await db.batch(items);
  await enqueueDeliveries(env, newDeliveries(results as unknown as unknown[]));
  return results;
}
