import { z } from "@hono/zod-openapi";
import { and, desc, eq, gte, inArray, lt, sql } from "drizzle-orm";
import { createDb, type Db } from "../db/client";
import {
  type WebhookAttemptRow,
  type WebhookDeliveryRow,
  type WebhookEndpointRow,
  type WebhookReplayRow,
  webhookAttempts,
  webhookDeliveries,
  webhookEndpoints,
  webhookReplays,
} from "../db/schema";
import type { Env, Principal } from "../env";
import { ApiError } from "../errors";
import { newId } from "../ids";
import { principalOf } from "../middleware/auth";
import { sealEndpointSecret } from "../webhooks/endpoint-secrets";
import { EVENT_TYPES } from "../webhooks/events";
import { checkEndpointUrl } from "../webhooks/guard";
import { EVENT_RETENTION_MS, sendTestEvent, startRangeReplay } from "../webhooks/replay";
import { generateWebhookSecret } from "../webhooks/secrets";
import { EventSchema, renderEvent } from "./event-schemas";
import {
  decodeCursor,
  IdParamSchema,
  jsonResponse,
  listSchema,
  newRouter,
  PaginationQuerySchema,
  page,
  scopedRoute,
  Timestamp,
  toTimestamp,
} from "./shared";

/** Endpoints per tenant and environment: enough for real fan-out, few enough that one event stays cheap. */
export const MAX_ENDPOINTS = 20;
const DEFAULT_SECRET_OVERLAP_SECONDS = 86_400;
const MAX_SECRET_OVERLAP_SECONDS = 7 * 86_400;

const ENDPOINT_EXAMPLE_ID = "whe_01jd3x6n2m8q4v7w9y0z1a2b3c";

const EventTypeSchema = z.enum(EVENT_TYPES).openapi("EventType");

const EventsListSchema = z
  .array(z.union([EventTypeSchema, z.literal("*")]))
  .min(1)
  .max(EVENT_TYPES.length + 1)
  .refine((list) => new Set(list).size === list.length, "List each event type once.")
  .openapi({
    description: 'Event types to receive, or `["*"]` for all of them (including types added later).',
    example: ["message.delivered", "message.failed"],
  });

const UrlSchema = z
  .string()
  .min(1)
  .max(2048)
  .openapi({
    description:
      "Where events are POSTed. Must be https on a public host (checked now and before every delivery); " +
      "`ALLOW_LOCAL_WEBHOOKS=true` in local development also allows http and local addresses.",
    example: "https://example.com/webhooks/sendwire",
  });

const RateLimitSchema = z
  .number()
  .int()
  .min(1)
  .max(1000)
  .openapi({ description: "At most this many deliveries per second to this endpoint.", example: 50 });

export const WebhookEndpointSchema = z
  .object({
    object: z.literal("webhook_endpoint"),
    id: z.string().openapi({ example: ENDPOINT_EXAMPLE_ID }),
    url: z.string().openapi({ example: "https://example.com/webhooks/sendwire" }),
    events: z.array(z.string()).openapi({ example: ["message.delivered", "message.failed"] }),
    description: z.string(),
    enabled: z.boolean(),
    disabled_reason: z
      .string()
      .nullable()
      .openapi({ description: "Why Sendwire disabled it (410 Gone, or 5 days of failures)." }),
    disabled_at: Timestamp.nullable(),
    rate_limit_per_second: z.number().int().nullable(),
    failing_since: Timestamp.nullable().openapi({
      description: "First failed attempt since the last success; after 5 days of failures it is disabled.",
    }),
    previous_secret_expires_at: Timestamp.nullable().openapi({
      description: "During a rotation: until when the previous secret also signs deliveries.",
    }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("WebhookEndpoint");

const WebhookEndpointWithSecretSchema = WebhookEndpointSchema.extend({
  secret: z.string().openapi({
    description: "The signing secret (`whsec_` + base64). Shown once: store it now.",
    example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  }),
}).openapi("WebhookEndpointWithSecret");

export function renderEndpoint(row: WebhookEndpointRow): z.infer<typeof WebhookEndpointSchema> {
  const now = Date.now();
  const overlapping =
    row.previousSecretCiphertext &&
    row.previousSecretExpiresAt &&
    row.previousSecretExpiresAt.getTime() > now;
  return {
    object: "webhook_endpoint",
    id: row.id,
    url: row.url,
    events: row.events,
    description: row.description,
    enabled: row.enabled,
    disabled_reason: row.disabledReason,
    disabled_at: toTimestamp(row.disabledAt),
    rate_limit_per_second: row.rateLimitPerSecond,
    failing_since: toTimestamp(row.failingSince),
    previous_secret_expires_at: overlapping ? toTimestamp(row.previousSecretExpiresAt) : null,
    created_at: toTimestamp(row.createdAt),
    updated_at: toTimestamp(row.updatedAt),
  };
}

const AttemptSchema = z
  .object({
    id: z.string(),
    attempted_at: Timestamp,
    status_code: z.number().int().nullable().openapi({ description: "Null when no response came back." }),
    latency_ms: z.number().int(),
    error: z.string().nullable(),
    response_excerpt: z
      .string()
      .nullable()
      .openapi({ description: "The first characters of the response body, control characters removed." }),
  })
  .openapi("WebhookAttempt");

const DeliverySchema = z
  .object({
    object: z.literal("webhook_delivery"),
    id: z.string().openapi({ example: "whd_01jd3x6n2m8q4v7w9y0z1a2b3c" }),
    endpoint_id: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    subject_id: z.string().openapi({ description: "What the event is about, e.g. the message id." }),
    sequence: z.number().int(),
    status: z.enum(["pending", "succeeded", "failed"]),
    attempts: z.number().int(),
    next_attempt_at: Timestamp.nullable().openapi({
      description: "When the next attempt is due; null when done, or while an earlier event waits.",
    }),
    first_attempt_at: Timestamp.nullable(),
    last_attempt_at: Timestamp.nullable(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    completed_at: Timestamp.nullable(),
    replay_id: z.string().nullable(),
    created_at: Timestamp,
    attempt_log: z.array(AttemptSchema).openapi({ description: "Every attempt, newest first." }),
  })
  .openapi("WebhookDelivery");

function renderAttempt(row: WebhookAttemptRow): z.infer<typeof AttemptSchema> {
  return {
    id: row.id,
    attempted_at: toTimestamp(row.attemptedAt),
    status_code: row.statusCode,
    latency_ms: row.latencyMs,
    error: row.error,
    response_excerpt: row.responseExcerpt,
  };
}

function renderDelivery(
  row: WebhookDeliveryRow,
  attempts: WebhookAttemptRow[],
): z.infer<typeof DeliverySchema> {
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
    next_attempt_at: row.status === "pending" ? toTimestamp(row.nextAttemptAt) : null,
    first_attempt_at: toTimestamp(row.firstAttemptAt),
    last_attempt_at: toTimestamp(row.lastAttemptAt),
    last_status_code: row.lastStatusCode,
    last_error: row.lastError,
    completed_at: toTimestamp(row.completedAt),
    replay_id: row.replayId,
    created_at: toTimestamp(row.createdAt),
    attempt_log: attempts.map(renderAttempt),
  };
}

const ReplaySchema = z
  .object({
    object: z.literal("webhook_replay"),
    id: z.string().openapi({ example: "whr_01jd3x6n2m8q4v7w9y0z1a2b3c" }),
    endpoint_id: z.string(),
    since: Timestamp,
    until: Timestamp,
    only_failed: z.boolean(),
    status: z.enum(["running", "completed"]),
    scanned: z.number().int().openapi({ description: "Events looked at so far." }),
    replayed: z.number().int().openapi({ description: "Deliveries created so far." }),
    created_at: Timestamp,
    completed_at: Timestamp.nullable(),
  })
  .openapi("WebhookReplay");

function renderReplay(row: WebhookReplayRow): z.infer<typeof ReplaySchema> {
  return {
    object: "webhook_replay",
    id: row.id,
    endpoint_id: row.endpointId,
    since: toTimestamp(row.since),
    until: toTimestamp(row.until),
    only_failed: row.onlyFailed,
    status: row.status,
    scanned: row.scanned,
    replayed: row.replayed,
    created_at: toTimestamp(row.createdAt),
    completed_at: toTimestamp(row.completedAt),
  };
}

const endpointScope = (caller: Principal) =>
  and(eq(webhookEndpoints.tenantId, caller.tenantId), eq(webhookEndpoints.environment, caller.environment));

/** The caller's endpoint, or 404 (another tenant's or environment's id is not found, not forbidden). */
export async function findEndpoint(db: Db, caller: Principal, id: string): Promise<WebhookEndpointRow> {
  const [row] = await db
    .select()
    .from(webhookEndpoints)
    .where(and(endpointScope(caller), eq(webhookEndpoints.id, id)))
    .limit(1);
  if (!row)
    throw new ApiError("resource_not_found", "No webhook endpoint with that id exists in this environment.");
  return row;
}

export function requireEnabled(endpoint: WebhookEndpointRow) {
  if (!endpoint.enabled) {
    const why = endpoint.disabledReason ? ` (${endpoint.disabledReason})` : "";
    throw new ApiError(
      "webhook_endpoint_disabled",
      `Webhook endpoint ${endpoint.id} is disabled${why}. Enable it with PATCH {"enabled": true} first.`,
    );
  }
}

/** The URL guard at registration; answers the normalised URL that is stored and fetched. */
async function guardUrl(env: Env, url: string): Promise<string> {
  const checked = await checkEndpointUrl(env, url);
  if (checked.ok) return checked.url;
  if (checked.unresolvable) {
    throw new ApiError("service_unavailable", `${checked.reason} Retry in a moment.`);
  }
  throw new ApiError("webhook_url_refused", checked.reason, {
    details: [{ path: "url", message: checked.reason }],
  });
}

const CreateEndpointBody = z
  .strictObject({
    url: UrlSchema,
    events: EventsListSchema,
    description: z.string().max(500).optional(),
    rate_limit_per_second: RateLimitSchema.optional(),
  })
  .openapi("CreateWebhookEndpointRequest");

const UpdateEndpointBody = z
  .strictObject({
    url: UrlSchema.optional(),
    events: EventsListSchema.optional(),
    description: z.string().max(500).optional(),
    enabled: z
      .boolean()
      .optional()
      .openapi({ description: "false pauses deliveries (pending ones fail); true re-enables it." }),
    rate_limit_per_second: RateLimitSchema.nullable().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, "Send at least one field to change.")
  .openapi("UpdateWebhookEndpointRequest");

const RotateSecretBody = z
  .strictObject({
    overlap_seconds: z.number().int().min(0).max(MAX_SECRET_OVERLAP_SECONDS).optional().openapi({
      description: "How long the old secret keeps signing beside the new one (default 86400, 0 = stop now).",
    }),
  })
  .openapi("RotateWebhookSecretRequest");

const DeliveryQuery = PaginationQuerySchema.extend({
  status: z
    .enum(["pending", "succeeded", "failed"])
    .optional()
    .openapi({ param: { name: "status", in: "query" } }),
  event_type: z
    .union([EventTypeSchema, z.literal("webhook.test")])
    .optional()
    .openapi({ param: { name: "event_type", in: "query" } }),
  since: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({
      param: { name: "since", in: "query" },
      description: "Deliveries created at or after this time.",
    }),
});

const RangeReplayBody = z
  .strictObject({
    since: z.iso
      .datetime({ offset: true })
      .openapi({ description: "Start of the range (within the last 30 days)." }),
    until: z.iso
      .datetime({ offset: true })
      .optional()
      .openapi({ description: "End of the range; default now." }),
    only_failed: z
      .boolean()
      .default(true)
      .openapi({ description: "Replay only events whose delivery to this endpoint failed (default true)." }),
  })
  .openapi("ReplayWebhookRangeRequest");

const EndpointIdParam = IdParamSchema(ENDPOINT_EXAMPLE_ID);
const DeliveryParams = EndpointIdParam.extend({
  delivery_id: z
    .string()
    .max(64)
    .openapi({ param: { name: "delivery_id", in: "path" }, example: "whd_01jd3x6n2m8q4v7w9y0z1a2b3c" }),
});
const ReplayParams = EndpointIdParam.extend({
  replay_id: z
    .string()
    .max(64)
    .openapi({ param: { name: "replay_id", in: "path" }, example: "whr_01jd3x6n2m8q4v7w9y0z1a2b3c" }),
});

const tags = ["Webhooks"];

const createEndpointRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "post",
    path: "/v1/webhook-endpoints",
    tags,
    summary: "Create a webhook endpoint",
    description:
      "Registers a receiver for the listed event types in this key's environment. The answer carries the " +
      `signing secret, shown once. At most ${MAX_ENDPOINTS} endpoints per environment.`,
    request: { body: { required: true, content: { "application/json": { schema: CreateEndpointBody } } } },
    responses: { 201: jsonResponse("The endpoint and its secret.", WebhookEndpointWithSecretSchema) },
  },
  ["validation_error", "invalid_json", "webhook_url_refused", "webhook_endpoint_limit_reached"],
);

const listEndpointsRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "get",
    path: "/v1/webhook-endpoints",
    tags,
    summary: "List webhook endpoints",
    request: { query: PaginationQuerySchema },
    responses: {
      200: jsonResponse("A page of endpoints.", listSchema(WebhookEndpointSchema, "WebhookEndpointList")),
    },
  },
  ["validation_error", "invalid_cursor"],
);

const getEndpointRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "get",
    path: "/v1/webhook-endpoints/{id}",
    tags,
    summary: "Retrieve a webhook endpoint",
    request: { params: EndpointIdParam },
    responses: { 200: jsonResponse("The endpoint (never its secret).", WebhookEndpointSchema) },
  },
  ["resource_not_found"],
);

const updateEndpointRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "patch",
    path: "/v1/webhook-endpoints/{id}",
    tags,
    summary: "Update a webhook endpoint",
    description:
      "Changes url, events, description, rate limit or `enabled`. Disabling fails its pending deliveries; " +
      "enabling clears the reason it was disabled (replay what it missed with the replay route).",
    request: {
      params: EndpointIdParam,
      body: { required: true, content: { "application/json": { schema: UpdateEndpointBody } } },
    },
    responses: { 200: jsonResponse("The endpoint.", WebhookEndpointSchema) },
  },
  ["validation_error", "invalid_json", "resource_not_found", "webhook_url_refused"],
);

const DeletedSchema = z
  .object({ object: z.literal("webhook_endpoint"), id: z.string(), deleted: z.literal(true) })
  .openapi("DeletedWebhookEndpoint");

const deleteEndpointRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "delete",
    path: "/v1/webhook-endpoints/{id}",
    tags,
    summary: "Delete a webhook endpoint",
    description: "Stops all deliveries to it at once; its pending deliveries end as failed.",
    request: { params: EndpointIdParam },
    responses: { 200: jsonResponse("Deleted.", DeletedSchema) },
  },
  ["resource_not_found"],
);

const rotateSecretRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "post",
    path: "/v1/webhook-endpoints/{id}/rotate-secret",
    tags,
    summary: "Rotate an endpoint's signing secret",
    description:
      "Returns a new secret, shown once. For `overlap_seconds` (default 86400) deliveries carry a signature " +
      "with each secret (two `v1,` entries in `webhook-signature`, two `v1=` in `Sendwire-Signature`).",
    request: {
      params: EndpointIdParam,
      body: { required: false, content: { "application/json": { schema: RotateSecretBody } } },
    },
    responses: { 200: jsonResponse("The endpoint and its new secret.", WebhookEndpointWithSecretSchema) },
  },
  ["validation_error", "invalid_json", "resource_not_found"],
);

const TestResultSchema = z
  .object({ event: EventSchema, delivery: DeliverySchema })
  .openapi("WebhookTestResult");

const testEndpointRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "post",
    path: "/v1/webhook-endpoints/{id}/test",
    tags,
    summary: "Send a test event",
    description:
      "Delivers a `webhook.test` event to this endpoint only, signed and retried like any other; follow it " +
      "in the deliveries list.",
    request: { params: EndpointIdParam },
    responses: { 202: jsonResponse("The test event and its delivery.", TestResultSchema) },
  },
  ["resource_not_found", "webhook_endpoint_disabled"],
);

const listDeliveriesRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "get",
    path: "/v1/webhook-endpoints/{id}/deliveries",
    tags,
    summary: "List an endpoint's deliveries",
    description:
      "Newest first, each with its attempts (time, status code, latency, error, response excerpt). " +
      "Kept 30 days.",
    request: { params: EndpointIdParam, query: DeliveryQuery },
    responses: {
      200: jsonResponse("A page of deliveries.", listSchema(DeliverySchema, "WebhookDeliveryList")),
    },
  },
  ["validation_error", "invalid_cursor", "resource_not_found"],
);

const getDeliveryRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "get",
    path: "/v1/webhook-endpoints/{id}/deliveries/{delivery_id}",
    tags,
    summary: "Retrieve a delivery",
    request: { params: DeliveryParams },
    responses: { 200: jsonResponse("The delivery and its attempts.", DeliverySchema) },
  },
  ["resource_not_found"],
);

const rangeReplayRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "post",
    path: "/v1/webhook-endpoints/{id}/replay",
    tags,
    summary: "Replay a time range to an endpoint",
    description:
      "Delivers again, in the background, the events between `since` and `until` (within the 30-day " +
      "retention) that this endpoint subscribes to; by default only those whose delivery failed. Follow the " +
      "progress with GET …/replays/{replay_id}.",
    request: {
      params: EndpointIdParam,
      body: { required: true, content: { "application/json": { schema: RangeReplayBody } } },
    },
    responses: { 202: jsonResponse("The replay, running.", ReplaySchema) },
  },
  ["validation_error", "invalid_json", "resource_not_found", "webhook_endpoint_disabled"],
);

const getReplayRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "get",
    path: "/v1/webhook-endpoints/{id}/replays/{replay_id}",
    tags,
    summary: "Retrieve a range replay",
    request: { params: ReplayParams },
    responses: { 200: jsonResponse("The replay and its progress.", ReplaySchema) },
  },
  ["resource_not_found"],
);

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

function parseTime(value: string) {
  return new Date(Date.parse(value));
}

export const webhookEndpointsRouter = newRouter()
  .openapi(createEndpointRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    const url = await guardUrl(c.env, body.url);
    const db = createDb(c.env.DB);
    const now = new Date();
    const secret = generateWebhookSecret();
    const row: WebhookEndpointRow = {
      id: newId("webhookEndpoint"),
      tenantId: caller.tenantId,
      environment: caller.environment,
      url,
      events: body.events.includes("*") ? ["*"] : body.events,
      description: body.description ?? "",
      enabled: true,
      disabledReason: null,
      disabledAt: null,
      rateLimitPerSecond: body.rate_limit_per_second ?? null,
      secretCiphertext: await sealEndpointSecret(c.env, caller.tenantId, secret),
      previousSecretCiphertext: null,
      previousSecretExpiresAt: null,
      failingSince: null,
      createdAt: now,
      updatedAt: now,
      rateWindowStart: null,
      rateWindowCount: 0,
    };
    // The limit is checked inside the insert, so concurrent creates cannot pass it together.
    const inserted = await db
      .insert(webhookEndpoints)
      .select(sql`SELECT ${row.id}, ${row.tenantId}, ${row.environment}, ${row.url}, ${JSON.stringify(row.events)},
          ${row.description}, 1, NULL, NULL, ${row.rateLimitPerSecond}, ${row.secretCiphertext}, NULL, NULL, NULL,
          ${now.getTime()}, ${now.getTime()}, NULL, 0
        WHERE (SELECT count(*) FROM webhook_endpoints
          WHERE tenant_id = ${caller.tenantId} AND environment = ${caller.environment}) < ${MAX_ENDPOINTS}`)
      .returning({ id: webhookEndpoints.id });
    if (inserted.length === 0) {
      throw new ApiError(
        "webhook_endpoint_limit_reached",
        `This environment already has ${MAX_ENDPOINTS} webhook endpoints; delete one before adding another.`,
      );
    }
    return c.json({ ...renderEndpoint(row), secret }, 201);
  })
  .openapi(listEndpointsRoute, async (c) => {
    const caller = principalOf(c);
    const query = c.req.valid("query");
    const after = decodeCursor(query.cursor);
    const rows = await createDb(c.env.DB)
      .select()
      .from(webhookEndpoints)
      .where(and(endpointScope(caller), after ? lt(webhookEndpoints.id, after) : undefined))
      .orderBy(desc(webhookEndpoints.id))
      .limit(query.limit + 1);
    return c.json(page(rows, query.limit, renderEndpoint), 200);
  })
  .openapi(getEndpointRoute, async (c) => {
    const row = await findEndpoint(createDb(c.env.DB), principalOf(c), c.req.valid("param").id);
    return c.json(renderEndpoint(row), 200);
  })
  .openapi(updateEndpointRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    const db = createDb(c.env.DB);
    const current = await findEndpoint(db, caller, c.req.valid("param").id);
    const now = new Date();
    const changes: Partial<WebhookEndpointRow> = { updatedAt: now };
    if (body.url !== undefined) changes.url = await guardUrl(c.env, body.url);
    if (body.events !== undefined) changes.events = body.events.includes("*") ? ["*"] : body.events;
    if (body.description !== undefined) changes.description = body.description;
    if (body.rate_limit_per_second !== undefined) changes.rateLimitPerSecond = body.rate_limit_per_second;
    if (body.enabled === true && !current.enabled) {
      Object.assign(changes, { enabled: true, disabledReason: null, disabledAt: null, failingSince: null });
    }
    const disabling = body.enabled === false && current.enabled;
    if (disabling)
      Object.assign(changes, { enabled: false, disabledReason: "Disabled by the API.", disabledAt: now });
    const where = and(endpointScope(caller), eq(webhookEndpoints.id, current.id));
    const [updated] = await db.batch([
      db.update(webhookEndpoints).set(changes).where(where).returning(),
      ...(disabling ? [failPending(db, current.id, "The endpoint was disabled.", now)] : []),
    ]);
    const row = updated[0];
    if (!row)
      throw new ApiError(
        "resource_not_found",
        "No webhook endpoint with that id exists in this environment.",
      );
    return c.json(renderEndpoint(row), 200);
  })
  .openapi(deleteEndpointRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const endpoint = await findEndpoint(db, caller, c.req.valid("param").id);
    const now = new Date();
    await db.batch([
      db.delete(webhookEndpoints).where(and(endpointScope(caller), eq(webhookEndpoints.id, endpoint.id))),
      failPending(db, endpoint.id, "The endpoint was deleted.", now),
    ]);
    return c.json({ object: "webhook_endpoint" as const, id: endpoint.id, deleted: true as const }, 200);
  })
  .openapi(rotateSecretRoute, async (c) => {
    const caller = principalOf(c);
    // Without a body the validator is skipped, so the default is applied here rather than by the schema.
    const overlapSeconds = c.req.valid("json").overlap_seconds ?? DEFAULT_SECRET_OVERLAP_SECONDS;
    const db = createDb(c.env.DB);
    const endpoint = await findEndpoint(db, caller, c.req.valid("param").id);
    const now = new Date();
    const secret = generateWebhookSecret();
    const [row] = await db
      .update(webhookEndpoints)
      .set({
        secretCiphertext: await sealEndpointSecret(c.env, caller.tenantId, secret),
        previousSecretCiphertext: overlapSeconds > 0 ? endpoint.secretCiphertext : null,
        previousSecretExpiresAt: overlapSeconds > 0 ? new Date(now.getTime() + overlapSeconds * 1000) : null,
        updatedAt: now,
      })
      .where(and(endpointScope(caller), eq(webhookEndpoints.id, endpoint.id)))
      .returning();
    if (!row)
      throw new ApiError(
        "resource_not_found",
        "No webhook endpoint with that id exists in this environment.",
      );
    return c.json({ ...renderEndpoint(row), secret }, 200);
  })
  .openapi(testEndpointRoute, async (c) => {
    const db = createDb(c.env.DB);
    const endpoint = await findEndpoint(db, principalOf(c), c.req.valid("param").id);
    requireEnabled(endpoint);
    const { event, delivery } = await sendTestEvent(c.env, db, endpoint, new Date());
    return c.json(
      { event: renderEvent(event, c.env.API_VERSION), delivery: renderDelivery(delivery, []) },
      202,
    );
  })
  .openapi(listDeliveriesRoute, async (c) => {
    const caller = principalOf(c);
    const query = c.req.valid("query");
    const after = decodeCursor(query.cursor);
    const db = createDb(c.env.DB);
    const endpoint = await findEndpoint(db, caller, c.req.valid("param").id);
    const rows = await db
      .select()
      .from(webhookDeliveries)
      .where(
        and(
          eq(webhookDeliveries.endpointId, endpoint.id),
          query.status ? eq(webhookDeliveries.status, query.status) : undefined,
          query.event_type ? eq(webhookDeliveries.eventType, query.event_type) : undefined,
          query.since ? gte(webhookDeliveries.createdAt, parseTime(query.since)) : undefined,
          after ? lt(webhookDeliveries.id, after) : undefined,
        ),
      )
      .orderBy(desc(webhookDeliveries.id))
      .limit(query.limit + 1);
    const attempts = await attemptsOf(
      db,
      rows.slice(0, query.limit).map((row) => row.id),
    );
    return c.json(
      page(rows, query.limit, (row) => renderDelivery(row, attempts.get(row.id) ?? [])),
      200,
    );
  })
  .openapi(getDeliveryRoute, async (c) => {
    const caller = principalOf(c);
    const params = c.req.valid("param");
    const db = createDb(c.env.DB);
    const endpoint = await findEndpoint(db, caller, params.id);
    const [row] = await db
      .select()
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.endpointId, endpoint.id), eq(webhookDeliveries.id, params.delivery_id)))
      .limit(1);
    if (!row) throw new ApiError("resource_not_found", "No delivery with that id exists for this endpoint.");
    const attempts = await attemptsOf(db, [row.id]);
    return c.json(renderDelivery(row, attempts.get(row.id) ?? []), 200);
  })
  .openapi(rangeReplayRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    const db = createDb(c.env.DB);
    const endpoint = await findEndpoint(db, caller, c.req.valid("param").id);
    requireEnabled(endpoint);
    const now = new Date();
    const since = parseTime(body.since);
    const until = body.until ? parseTime(body.until) : now;
    const problems = [];
    if (since.getTime() < now.getTime() - EVENT_RETENTION_MS)
      problems.push({ path: "since", message: "Must be within the last 30 days (events are kept 30 days)." });
    if (until.getTime() <= since.getTime())
      problems.push({ path: "until", message: "Must be after `since`." });
    if (problems.length > 0) {
      throw new ApiError(
        "validation_error",
        `Invalid body. ${problems.map((p) => `${p.path}: ${p.message}`).join(" ")}`,
        {
          details: problems,
        },
      );
    }
    const replay = await startRangeReplay(
      c.env,
      db,
      {
        tenantId: caller.tenantId,
        environment: caller.environment,
        endpointId: endpoint.id,
        since,
        until: until.getTime() > now.getTime() ? now : until,
        onlyFailed: body.only_failed,
      },
      now,
    );
    return c.json(renderReplay(replay), 202);
  })
  .openapi(getReplayRoute, async (c) => {
    const caller = principalOf(c);
    const params = c.req.valid("param");
    const db = createDb(c.env.DB);
    const endpoint = await findEndpoint(db, caller, params.id);
    const [row] = await db
      .select()
      .from(webhookReplays)
      .where(and(eq(webhookReplays.endpointId, endpoint.id), eq(webhookReplays.id, params.replay_id)))
      .limit(1);
    if (!row) throw new ApiError("resource_not_found", "No replay with that id exists for this endpoint.");
    return c.json(renderReplay(row), 200);
  });

/** Ends an endpoint's pending deliveries (it was deleted or disabled): nothing more will be attempted. */
function failPending(db: Db, endpointId: string, reason: string, now: Date) {
  return db
    .update(webhookDeliveries)
    .set({ status: "failed", nextAttemptAt: null, lastError: reason, completedAt: now })
    .where(and(eq(webhookDeliveries.endpointId, endpointId), eq(webhookDeliveries.status, "pending")));
}

/** Endpoints an event is fanned out to now: enabled, in its environment, subscribed to its type. */
export async function subscribedEndpoints(db: Db, caller: Principal, type: string) {
  return db
    .select()
    .from(webhookEndpoints)
    .where(
      and(
        endpointScope(caller),
        eq(webhookEndpoints.enabled, true),
        sql`EXISTS (SELECT 1 FROM json_each(${webhookEndpoints.events}) WHERE json_each.value IN (${type}, '*'))`,
      ),
    );
}
