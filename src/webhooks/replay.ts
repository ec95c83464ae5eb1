import { and, asc, eq, gt, gte, lt, sql } from "drizzle-orm";
import { createDb, type Db } from "../db/client";
import {
  type EventRow,
  events,
  type WebhookDeliveryRow,
  type WebhookEndpointRow,
  type WebhookReplayRow,
  webhookDeliveries,
  webhookEndpoints,
  webhookReplays,
} from "../db/schema";
import type { Env, Environment } from "../env";
import { newId } from "../ids";
import { recordEvent } from "./events";
import { enqueueDeliveries, enqueueWebhookJobs } from "./queue";

/** Events looked at per background step of a range replay. */
export const REPLAY_PAGE_SIZE = 100;
/** How long one replay step may hold the replay before the sweeper hands it to another worker. */
export const REPLAY_LEASE_MS = 60_000;
/** Events (and so replays) reach back this far; older ones are purged. */
export const EVENT_RETENTION_MS = 30 * 86_400_000;

/** Whether an endpoint's `events` list covers `type` (`webhook.test` is never subscribed to). */
export const subscribes = (endpoint: Pick<WebhookEndpointRow, "events">, type: string) =>
  type !== "webhook.test" && (endpoint.events.includes("*") || endpoint.events.includes(type));

/** An unordered delivery row (replays and test pings do not wait behind, or hold up, other events). */
function unorderedDelivery(
  event: EventRow,
  endpoint: WebhookEndpointRow,
  replayId: string | null,
  now: Date,
): WebhookDeliveryRow {
  return {
    id: newId("webhookDelivery"),
    tenantId: event.tenantId,
    environment: event.environment,
    endpointId: endpoint.id,
    eventId: event.id,
    eventType: event.type,
    subjectId: event.subjectId,
    sequence: event.sequence,
    ordered: false,
    replayId,
    status: "pending",
    attempts: 0,
    nextAttemptAt: now,
    firstAttemptAt: null,
    lastAttemptAt: null,
    lastStatusCode: null,
    lastError: null,
    completedAt: null,
    createdAt: now,
  };
}

async function insertAndWake(env: Env, db: Db, rows: WebhookDeliveryRow[], now: Date) {
  if (rows.length === 0) return;
  // D1 caps bound parameters per statement (100): 19 columns a row, so a few rows per insert.
  const inserts = [];
  for (let i = 0; i < rows.length; i += 5)
    inserts.push(db.insert(webhookDeliveries).values(rows.slice(i, i + 5)));
  await db.batch(inserts as [(typeof inserts)[number], ...(typeof inserts)[number][]]);
  await enqueueDeliveries(
    env,
    rows.map((row) => ({ id: row.id, at: now.getTime() })),
    now,
  );
}

/**
 * `POST /v1/webhook-endpoints/{id}/test`: a `webhook.test` event (subject: the endpoint) delivered to
 * that endpoint only, through the same signing, guard, retry and logging as any other delivery.
 */
export async function sendTestEvent(
  env: Env,
  db: Db,
  endpoint: WebhookEndpointRow,
  now: Date,
): Promise<{ event: EventRow; delivery: WebhookDeliveryRow }> {
  const { id, statement } = recordEvent(
    db,
    {
      tenantId: endpoint.tenantId,
      environment: endpoint.environment,
      type: "webhook.test",
      subjectId: endpoint.id,
      data: { endpoint_id: endpoint.id, message: "This is a test event from Sendwire." },
    },
    now,
  );
  await statement;
  const [event] = await db.select().from(events).where(eq(events.id, id));
  if (!event) throw new Error("test event vanished after insert");
  const delivery = unorderedDelivery(event, endpoint, null, now);
  await insertAndWake(env, db, [delivery], now);
  return { event, delivery };
}

/**
 * `POST /v1/events/{id}/replay`: one new delivery of the event to each given endpoint (the route passes
 * the one named, or every enabled endpoint that subscribes to the type). Replays keep the event id, so
 * `webhook-id` is the same and receivers that deduplicate on it still can.
 */
export async function replayEvent(
  env: Env,
  db: Db,
  event: EventRow,
  endpoints: WebhookEndpointRow[],
  now: Date,
): Promise<WebhookDeliveryRow[]> {
  const rows = endpoints.map((endpoint) => unorderedDelivery(event, endpoint, "event", now));
  await insertAndWake(env, db, rows, now);
  return rows;
}

export interface RangeReplayInput {
  tenantId: string;
  environment: Environment;
  endpointId: string;
  since: Date;
  until: Date;
  onlyFailed: boolean;
}

/** `POST /v1/webhook-endpoints/{id}/replay`: records the replay and starts it in the background. */
export async function startRangeReplay(env: Env, db: Db, input: RangeReplayInput, now: Date) {
  const row: WebhookReplayRow = {
    id: newId("webhookReplay"),
    ...input,
    status: "running",
    scanned: 0,
    replayed: 0,
    cursor: null,
    leaseUntil: null,
    createdAt: now,
    updatedAt: now,
    completedAt: null,
  };
  await db.insert(webhookReplays).values(row);
  await enqueueWebhookJobs(env, [{ job: { kind: "replay", replayId: row.id } }]);
  return row;
}

/** Events of one replay page: in range, after the cursor, and (for only_failed) whose delivery to the
 * endpoint failed with no later success or pending retry. */
function replayPage(db: Db, replay: WebhookReplayRow) {
  const deliveryTo = (status: string) => sql`EXISTS (SELECT 1 FROM ${webhookDeliveries} d
      WHERE d.event_id = ${events.id} AND d.endpoint_id = ${replay.endpointId} AND d.status IN (${sql.raw(status)}))`;
  return db
    .select()
    .from(events)
    .where(
      and(
        eq(events.tenantId, replay.tenantId),
        eq(events.environment, replay.environment),
        gte(events.createdAt, replay.since),
        lt(events.createdAt, replay.until),
        replay.cursor ? gt(events.id, replay.cursor) : undefined,
        replay.onlyFailed
          ? and(deliveryTo("'failed'"), sql`NOT ${deliveryTo("'succeeded', 'pending'")}`)
          : undefined,
      ),
    )
    .orderBy(asc(events.id))
    .limit(REPLAY_PAGE_SIZE);
}

/**
 * One background step of a range replay: claim it (a lease, so duplicated queue messages do not double
 * a page), replay one page of events, move the cursor, and queue the next step or finish.
 */
export async function processReplayStep(env: Env, replayId: string, now: Date) {
  const db = createDb(env.DB);
  const [replay] = await db
    .update(webhookReplays)
    .set({ leaseUntil: new Date(now.getTime() + REPLAY_LEASE_MS) })
    .where(
      and(
        eq(webhookReplays.id, replayId),
        eq(webhookReplays.status, "running"),
        sql`(${webhookReplays.leaseUntil} IS NULL OR ${webhookReplays.leaseUntil} < ${now.getTime()})`,
      ),
    )
    .returning();
  if (!replay) return;
  const [endpoint] = await db
    .select()
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.id, replay.endpointId), eq(webhookEndpoints.tenantId, replay.tenantId)));
  const page = endpoint?.enabled ? await replayPage(db, replay) : [];
  const toReplay = endpoint ? page.filter((event) => subscribes(endpoint, event.type)) : [];
  const rows = endpoint ? toReplay.map((event) => unorderedDelivery(event, endpoint, replay.id, now)) : [];
  await insertAndWake(env, db, rows, now);
  const done = page.length < REPLAY_PAGE_SIZE;
  await db
    .update(webhookReplays)
    .set({
      scanned: replay.scanned + page.length,
      replayed: replay.replayed + rows.length,
      cursor: page.at(-1)?.id ?? replay.cursor,
      leaseUntil: null,
      updatedAt: now,
      ...(done ? { status: "completed" as const, completedAt: now } : {}),
    })
    .where(eq(webhookReplays.id, replay.id));
  if (!done) await enqueueWebhookJobs(env, [{ job: { kind: "replay", replayId: replay.id } }]);
}
