import { and, desc, eq, gte, inArray, lt } from "drizzle-orm";
import type { Db } from "../db/client";
import {
  type WebhookAttemptRow,
  type WebhookDeliveryRow,
  type WebhookEndpointRow,
  type WebhookReplayRow,
  webhookAttempts,
  webhookDeliveries,
  webhookReplays,
} from "../db/schema";
import type { Env, Principal } from "../env";
import { ApiError } from "../errors";
import { EVENT_RETENTION_MS, startRangeReplay } from "../webhooks/replay";

// An endpoint's deliveries (with their attempts) and range replays, and their API views, for the endpoint
// routes. The schemas documenting the views are in routes/webhook-endpoint-schemas.ts.

export type WebhookAttemptView = {
  id: string;
  attempted_at: string;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  response_excerpt: string | null;
};

export type WebhookDeliveryView = {
  object: "webhook_delivery";
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  subject_id: string;
  sequence: number;
  status: WebhookDeliveryRow["status"];
  attempts: number;
  next_attempt_at: string | null;
  first_attempt_at: string | null;
  last_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  completed_at: string | null;
  replay_id: string | null;
  created_at: string;
  attempt_log: WebhookAttemptView[];
};

export type WebhookReplayView = {
  object: "webhook_replay";
  id: string;
  endpoint_id: string;
  since: string;
  until: string;
  only_failed: boolean;
  status: WebhookReplayRow["status"];
  scanned: number;
  replayed: number;
  created_at: string;
  completed_at: string | null;
};

/** The delivery list's filters (the validated query). */
export interface DeliveryFilter {
  status?: WebhookDeliveryRow["status"];
  event_type?: string;
  since?: string;
}

/** A range replay as asked for (the validated request body): RFC 3339 times, `until` defaulting to now. */
export interface RangeReplayRequest {
  since: string;
  until?: string;
  only_failed: boolean;
}

function renderAttempt(row: WebhookAttemptRow): WebhookAttemptView {
  return {
    id: row.id,
    attempted_at: row.attemptedAt.toISOString(),
    status_code: row.statusCode,
    latency_ms: row.latencyMs,
    error: row.error,
    response_excerpt: row.responseExcerpt,
  };
}

export function renderDelivery(row: WebhookDeliveryRow, attempts: WebhookAttemptRow[]): WebhookDeliveryView {
  return {
    object: "webhook_delivery",
    id: row.id,
    endpoint_id: row.endpointId,
    event_id: row.eventId,
    event_type: row.eventType,
    subject_id: row.subjectId,
    sequence: row.sequence,
    status: row.status,
    attempts: row.attempts,
    next_attempt_at: row.status === "pending" ? (row.nextAttemptAt?.toISOString() ?? null) : null,
    first_attempt_at: row.firstAttemptAt?.toISOString() ?? null,
    last_attempt_at: row.lastAttemptAt?.toISOString() ?? null,
    last_status_code: row.lastStatusCode,
    last_error: row.lastError,
    completed_at: row.completedAt?.toISOString() ?? null,
    replay_id: row.replayId,
    created_at: row.createdAt.toISOString(),
    attempt_log: attempts.map(renderAttempt),
  };
}

export function renderReplay(row: WebhookReplayRow): WebhookReplayView {
  return {
    object: "webhook_replay",
    id: row.id,
    endpoint_id: row.endpointId,
    since: row.since.toISOString(),
    until: row.until.toISOString(),
    only_failed: row.onlyFailed,
    status: row.status,
    scanned: row.scanned,
    replayed: row.replayed,
    created_at: row.createdAt.toISOString(),
    completed_at: row.completedAt?.toISOString() ?? null,
  };
}

function parseTime(value: string) {
  return new Date(Date.parse(value));
}

/** Attempts of the given deliveries, newest first, grouped by delivery. */
async function attemptsOf(db: Db, deliveryIds: string[]) {
  const byDelivery = new Map<string, WebhookAttemptRow[]>();
  if (deliveryIds.length === 0) return byDelivery;
  const rows = await db
    .select()
    .from(webhookAttempts)
    .where(inArray(webhookAttempts.deliveryId, deliveryIds))
    .orderBy(desc(webhookAttempts.attemptedAt), desc(webhookAttempts.id));
  for (const row of rows) byDelivery.set(row.deliveryId, [...(byDelivery.get(row.deliveryId) ?? []), row]);
  return byDelivery;
}

/**
 * The endpoint's deliveries older than `after`, newest first: `limit + 1` rows (so a page knows if more
 * follow) and the attempts of the first `limit`.
 */
export async function listDeliveries(
  db: Db,
  endpointId: string,
  filter: DeliveryFilter,
  after: string | null,
  limit: number,
) {
  const rows = await db
    .select()
    .from(webhookDeliveries)
    .where(
      and(
        eq(webhookDeliveries.endpointId, endpointId),
        filter.status ? eq(webhookDeliveries.status, filter.status) : undefined,
        filter.event_type ? eq(webhookDeliveries.eventType, filter.event_type) : undefined,
        filter.since ? gte(webhookDeliveries.createdAt, parseTime(filter.since)) : undefined,
        after ? lt(webhookDeliveries.id, after) : undefined,
      ),
    )
    .orderBy(desc(webhookDeliveries.id))
    .limit(limit + 1);
  const attempts = await attemptsOf(
    db,
    rows.slice(0, limit).map((row) => row.id),
  );
  return { rows, attempts };
}

/** One delivery of the endpoint with its attempts, or 404. */
export async function findDelivery(db: Db, endpointId: string, id: string) {
  const [row] = await db
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.endpointId, endpointId), eq(webhookDeliveries.id, id)))
    .limit(1);
  if (!row) throw new ApiError("resource_not_found", "No delivery with that id exists for this endpoint.");
  const attempts = await attemptsOf(db, [row.id]);
  return { row, attempts: attempts.get(row.id) ?? [] };
}

/** One range replay of the endpoint, or 404. */
export async function findReplay(db: Db, endpointId: string, id: string): Promise<WebhookReplayRow> {
  const [row] = await db
    .select()
    .from(webhookReplays)
    .where(and(eq(webhookReplays.endpointId, endpointId), eq(webhookReplays.id, id)))
    .limit(1);
  if (!row) throw new ApiError("resource_not_found", "No replay with that id exists for this endpoint.");
  return row;
}

/**
 * Starts replaying a time range to the endpoint in the background, once the range is checked: within the
 * event retention, `until` after `since` (and cut at now).
 */
export async function replayRange(
  env: Env,
  db: Db,
  caller: Pick<Principal, "tenantId" | "environment">,
  endpoint: WebhookEndpointRow,
  request: RangeReplayRequest,
): Promise<WebhookReplayRow> {
  const now = new Date();
  const since = parseTime(request.since);
  const until = request.until ? parseTime(request.until) : now;
  const problems = [];
  if (since.getTime() < now.getTime() - EVENT_RETENTION_MS)
    problems.push({ path: "since", message: "Must be within the last 30 days (events are kept 30 days)." });
  if (until.getTime() <= since.getTime()) problems.push({ path: "until", message: "Must be after `since`." });
  if (problems.length > 0) {
    throw new ApiError(
      "validation_error",
      `Invalid body. ${problems.map((p) => `${p.path}: ${p.message}`).join(" ")}`,
      { details: problems },
    );
  }
  return startRangeReplay(
    env,
    db,
    {
      tenantId: caller.tenantId,
      environment: caller.environment,
      endpointId: endpoint.id,
      since,
      until: until.getTime() > now.getTime() ? now : until,
      onlyFailed: request.only_failed,
    },
    now,
  );
}
