import { and, eq, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { createDb, type Db } from "../db/client";
import {
  auditLogs,
  type EventRow,
  events,
  type WebhookDeliveryRow,
  type WebhookEndpointRow,
  webhookAttempts,
  webhookDeliveries,
  webhookEndpoints,
} from "../db/schema";
import type { Env } from "../env";
import { describeError } from "../errors";
import { newId } from "../ids";
import { VERSION } from "../version";
import { signingSecrets } from "../webhooks/endpoint-secrets";
import { newDeliveries, WOKEN } from "../webhooks/events";
import { checkEndpointUrl } from "../webhooks/guard";
import { eventPayload } from "../webhooks/payload";
import { type DueDelivery, enqueueDeliveries, type WebhookJob } from "../webhooks/queue";
import { processReplayStep } from "../webhooks/replay";
import { DISABLE_AFTER_FAILING_MS, nextAttemptAt, parseRetryAfter } from "../webhooks/retry-schedule";
import { signWebhook } from "../webhooks/sign";

/** How long a claimed attempt keeps others off the delivery; longer than the request timeout. */
export const ATTEMPT_LEASE_MS = 60_000;
const REQUEST_TIMEOUT_MS = 15_000;
const EXCERPT_BYTES = 512;
const EXCERPT_CHARS = 300;
/** Jobs due within this much are waited for in the consumer instead of going back to the queue. */
const MAX_IN_CONSUMER_WAIT_MS = 1_000;

/** An earlier event about the same subject that this endpoint has not finished with yet. */
const PENDING_PREDECESSOR = sql`EXISTS (SELECT 1 FROM webhook_deliveries p
  WHERE p.endpoint_id = webhook_deliveries.endpoint_id AND p.subject_id = webhook_deliveries.subject_id
    AND p.ordered = 1 AND p.status = 'pending' AND p.sequence < webhook_deliveries.sequence)`;

type Outcome =
  | { kind: "delivered"; statusCode: number; excerpt: string | null }
  | {
      kind: "failed";
      statusCode: number | null;
      error: string;
      excerpt: string | null;
      retryAfterSeconds?: number | null;
      gone?: boolean;
    };

/** The receiver's first bytes as text, without control characters: never more than an excerpt is kept. */
async function excerptOf(res: Response): Promise<string | null> {
  if (!res.body) return null;
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < EXCERPT_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  const text = new TextDecoder().decode(bytes.subarray(0, EXCERPT_BYTES)).replace(/[\p{Cc}\s]+/gu, " ");
  const trimmed = text.trim();
  if (trimmed === "") return null;
  return trimmed.length > EXCERPT_CHARS ? `${trimmed.slice(0, EXCERPT_CHARS)}…` : trimmed;
}

/** One signed POST of the event to the endpoint. Never follows redirects; never throws. */
async function attempt(env: Env, endpoint: WebhookEndpointRow, event: EventRow, now: Date): Promise<Outcome> {
  const guard = await checkEndpointUrl(env, endpoint.url);
  if (!guard.ok)
    return {
      kind: "failed",
      statusCode: null,
      error: `Refused by the URL guard: ${guard.reason}`,
      excerpt: null,
    };
  const body = JSON.stringify(eventPayload(event, env.API_VERSION));
  const signature = await signWebhook({
    id: event.id,
    timestamp: Math.floor(now.getTime() / 1000),
    body,
    secrets: await signingSecrets(env, endpoint, now),
  });
  let res: Response;
  try {
    res = await fetch(endpoint.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "user-agent": `Sendwire-Webhooks/${VERSION}`,
        ...signature,
      },
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    return {
      kind: "failed",
      statusCode: null,
      error: timedOut
        ? `No response within ${REQUEST_TIMEOUT_MS / 1000} s.`
        : "Could not connect to the endpoint.",
      excerpt: null,
    };
  }
  const excerpt = await excerptOf(res);
  if (res.status >= 200 && res.status < 300) return { kind: "delivered", statusCode: res.status, excerpt };
  if (res.status >= 300 && res.status < 400) {
    return {
      kind: "failed",
      statusCode: res.status,
      error: `Redirect (${res.status}) not followed: register the final URL instead.`,
      excerpt,
    };
  }
  return {
    kind: "failed",
    statusCode: res.status,
    error: `The endpoint answered ${res.status}.`,
    excerpt,
    retryAfterSeconds:
      res.status === 429 || res.status === 503 ? parseRetryAfter(res.headers.get("retry-after"), now) : null,
    gone: res.status === 410,
  };
}

/** Frees the next held event of the same subject for this endpoint (returns it for the queue). */
function releaseSuccessor(db: Db, delivery: WebhookDeliveryRow, now: Date) {
  return db
    .update(webhookDeliveries)
    .set({ nextAttemptAt: now })
    .where(
      eq(
        webhookDeliveries.id,
        sql`(SELECT id FROM webhook_deliveries
          WHERE endpoint_id = ${delivery.endpointId} AND subject_id = ${delivery.subjectId} AND ordered = 1
            AND status = 'pending' AND next_attempt_at IS NULL
          ORDER BY sequence LIMIT 1)`,
      ),
    )
    .returning(WOKEN);
}

/** Disables the endpoint, ends its pending deliveries, and records why in the audit log. */
function disableEndpoint(
  db: Db,
  endpoint: WebhookEndpointRow,
  reason: string,
  now: Date,
): BatchItem<"sqlite">[] {
  return [
    db
      .update(webhookEndpoints)
      .set({ enabled: false, disabledReason: reason, disabledAt: now, updatedAt: now })
      .where(eq(webhookEndpoints.id, endpoint.id)),
    db
      .update(webhookDeliveries)
      .set({
        status: "failed",
        nextAttemptAt: null,
        completedAt: now,
        lastError: `Endpoint disabled: ${reason}`,
      })
      .where(and(eq(webhookDeliveries.endpointId, endpoint.id), eq(webhookDeliveries.status, "pending"))),
    db.insert(auditLogs).values({
      id: newId("auditLog"),
      tenantId: endpoint.tenantId,
      environment: endpoint.environment,
      keyId: "system",
      keyPrefix: "system",
      method: "SYSTEM",
      route: "webhook_endpoint.disabled",
      status: 0,
      requestId: endpoint.id,
      idempotencyKey: null,
      ip: null,
      userAgent: reason.slice(0, 255),
      latencyMs: 0,
      createdAt: now,
    }),
  ];
}

/** Ends a delivery without an attempt (endpoint gone or disabled, event purged). */
async function abandon(
  env: Env,
  db: Db,
  delivery: WebhookDeliveryRow,
  lease: Date,
  reason: string,
  now: Date,
) {
  const results = await db.batch([
    db
      .update(webhookDeliveries)
      .set({ status: "failed", nextAttemptAt: null, completedAt: now, lastError: reason })
      .where(and(eq(webhookDeliveries.id, delivery.id), eq(webhookDeliveries.nextAttemptAt, lease))),
    releaseSuccessor(db, delivery, now),
  ]);
  await enqueueDeliveries(env, newDeliveries(results), now);
}

function retryScale(env: Env): number {
  const scale = Number(env.WEBHOOK_RETRY_SCALE ?? "1");
  return Number.isFinite(scale) && scale > 0 && scale <= 1 ? scale : 1;
}

/** Records one attempt and its consequences in one batch, then queues what comes next. */
async function record(
  env: Env,
  db: Db,
  delivery: WebhookDeliveryRow,
  endpoint: WebhookEndpointRow,
  lease: Date,
  outcome: Outcome,
  startedAt: Date,
  now: Date,
) {
  const attempts = delivery.attempts + 1;
  const firstAttemptAt = delivery.firstAttemptAt ?? startedAt;
  const next =
    outcome.kind === "failed" && !outcome.gone
      ? nextAttemptAt({
          failedAttempts: attempts,
          firstAttemptAt,
          now,
          retryAfterSeconds: outcome.retryAfterSeconds,
          scale: retryScale(env),
        })
      : null;
  const status = outcome.kind === "delivered" ? "succeeded" : next ? "pending" : "failed";
  const failingSince = outcome.kind === "delivered" ? null : (endpoint.failingSince ?? startedAt);
  const disableReason =
    outcome.kind === "failed" && outcome.gone
      ? "The endpoint answered 410 Gone."
      : failingSince && now.getTime() - failingSince.getTime() >= DISABLE_AFTER_FAILING_MS
        ? "Every delivery attempt failed for 5 days."
        : null;

  const statements: BatchItem<"sqlite">[] = [
    db.insert(webhookAttempts).values({
      id: newId("webhookAttempt"),
      deliveryId: delivery.id,
      endpointId: endpoint.id,
      attemptedAt: startedAt,
      statusCode: outcome.statusCode,
      latencyMs: now.getTime() - startedAt.getTime(),
      error: outcome.kind === "failed" ? outcome.error : null,
      responseExcerpt: outcome.excerpt,
    }),
    db
      .update(webhookDeliveries)
      .set({
        status,
        attempts,
        nextAttemptAt: status === "pending" ? next : null,
        firstAttemptAt,
        lastAttemptAt: startedAt,
        lastStatusCode: outcome.statusCode,
        lastError: outcome.kind === "failed" ? outcome.error : null,
        completedAt: status === "pending" ? null : now,
      })
      .where(and(eq(webhookDeliveries.id, delivery.id), eq(webhookDeliveries.nextAttemptAt, lease))),
    db.update(webhookEndpoints).set({ failingSince }).where(eq(webhookEndpoints.id, endpoint.id)),
  ];
  if (disableReason) statements.push(...disableEndpoint(db, endpoint, disableReason, now));
  else if (status !== "pending" && delivery.ordered) statements.push(releaseSuccessor(db, delivery, now));
  const results = await db.batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  const wake = newDeliveries(results);
  if (status === "pending" && next && !disableReason) wake.push({ id: delivery.id, at: next.getTime() });
  await enqueueDeliveries(env, wake, now);
}

/**
 * Claims a due delivery (compare-and-set on the `next_attempt_at` the job was sent for, pushed forward by
 * the lease), or holds it behind a pending earlier event of the same subject; loads what it needs.
 */
async function claim(db: Db, job: DueDelivery, now: Date) {
  const lease = new Date(now.getTime() + ATTEMPT_LEASE_MS);
  const isThisJob = and(
    eq(webhookDeliveries.id, job.id),
    eq(webhookDeliveries.status, "pending"),
    eq(webhookDeliveries.nextAttemptAt, new Date(job.at)),
  );
  const [claimed, , endpoint, event] = await db.batch([
    db
      .update(webhookDeliveries)
      .set({ nextAttemptAt: lease })
      .where(and(isThisJob, sql`NOT (${webhookDeliveries.ordered} = 1 AND ${PENDING_PREDECESSOR})`))
      .returning(),
    db
      .update(webhookDeliveries)
      .set({ nextAttemptAt: null })
      .where(and(isThisJob, eq(webhookDeliveries.ordered, true), PENDING_PREDECESSOR)),
    db
      .select()
      .from(webhookEndpoints)
      .where(eq(webhookEndpoints.id, sql`(SELECT endpoint_id FROM webhook_deliveries WHERE id = ${job.id})`)),
    db
      .select()
      .from(events)
      .where(eq(events.id, sql`(SELECT event_id FROM webhook_deliveries WHERE id = ${job.id})`)),
  ]);
  return { delivery: claimed[0], lease, endpoint: endpoint[0], event: event[0] };
}

/**
 * Takes one of the endpoint's `rate_limit_per_second` slots in the current one-second window, in one
 * statement so concurrent consumers cannot all see a free slot. False when the window is full.
 */
async function takeRateSlot(db: Db, endpoint: WebhookEndpointRow, now: Date): Promise<boolean> {
  if (!endpoint.rateLimitPerSecond) return true;
  const newWindow = sql`(${webhookEndpoints.rateWindowStart} IS NULL OR ${webhookEndpoints.rateWindowStart} <= ${now.getTime() - 1000})`;
  const taken = await db
    .update(webhookEndpoints)
    .set({
      rateWindowStart: sql`CASE WHEN ${newWindow} THEN ${now.getTime()} ELSE ${webhookEndpoints.rateWindowStart} END`,
      rateWindowCount: sql`CASE WHEN ${newWindow} THEN 1 ELSE ${webhookEndpoints.rateWindowCount} + 1 END`,
    })
    .where(
      and(
        eq(webhookEndpoints.id, endpoint.id),
        sql`(${newWindow} OR ${webhookEndpoints.rateWindowCount} < ${endpoint.rateLimitPerSecond})`,
      ),
    )
    .returning({ id: webhookEndpoints.id });
  return taken.length > 0;
}

/** Handles one delivery job: chain it if not due, else claim, guard, send, record. */
export async function deliverWebhook(env: Env, job: DueDelivery): Promise<void> {
  let now = new Date();
  const wait = job.at - now.getTime();
  if (wait > MAX_IN_CONSUMER_WAIT_MS) {
    // Not due yet: the queue delivered early, or the wait is longer than a queue delay may be.
    await enqueueDeliveries(env, [job], now);
    return;
  }
  if (wait > 0) {
    // Queue delays are whole seconds (rounded down): wait out the rest here.
    await new Promise((resolve) => setTimeout(resolve, wait));
    now = new Date();
  }
  const db = createDb(env.DB);
  const { delivery, lease, endpoint, event } = await claim(db, job, now);
  if (!delivery) return; // held behind an earlier event, already done, or a stale duplicate job
  if (!endpoint?.enabled) {
    return abandon(env, db, delivery, lease, endpoint ? "Endpoint disabled." : "Endpoint deleted.", now);
  }
  if (!event) return abandon(env, db, delivery, lease, "The event is past its retention.", now);
  if (!(await takeRateSlot(db, endpoint, now))) {
    // Try again in the next window, spread a little so the waiting deliveries do not all collide.
    const at = new Date(now.getTime() + 1000 + Math.floor(Math.random() * 250));
    await db
      .update(webhookDeliveries)
      .set({ nextAttemptAt: at })
      .where(and(eq(webhookDeliveries.id, delivery.id), eq(webhookDeliveries.nextAttemptAt, lease)));
    await enqueueDeliveries(env, [{ id: delivery.id, at: at.getTime() }], now);
    return;
  }
  const startedAt = new Date();
  const outcome = await attempt(env, endpoint, event, startedAt);
  await record(env, db, delivery, endpoint, lease, outcome, startedAt, new Date());
}

/** The `webhooks` queue consumer: deliveries and replay steps, each on its own. */
export async function consumeWebhooks(batch: MessageBatch<WebhookJob>, env: Env): Promise<void> {
  await Promise.all(
    batch.messages.map(async (message) => {
      const job = message.body;
      try {
        if (job.kind === "delivery") await deliverWebhook(env, { id: job.deliveryId, at: job.at });
        else if (job.kind === "replay") await processReplayStep(env, job.replayId, new Date());
        message.ack();
      } catch (error) {
        console.error("webhook job failed; retrying", { job, error: describeError(error) });
        message.retry({ delaySeconds: 5 });
      }
    }),
  );
}

/** Dead letters: the rows are durable, so the sweeper re-drives them; just say so. */
export function consumeWebhookDeadLetters(batch: MessageBatch<WebhookJob>): void {
  for (const message of batch.messages) {
    console.error("webhook job dead-lettered; the sweeper will re-drive its row", { job: message.body });
    message.ack();
  }
}
