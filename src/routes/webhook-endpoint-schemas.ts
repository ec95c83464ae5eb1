import { z } from "@hono/zod-openapi";
import type { WebhookDeliveryView, WebhookReplayView } from "../services/webhook-deliveries";
import type { WebhookEndpointView } from "../services/webhook-endpoints";
import { EVENT_TYPES } from "../webhooks/events";
import { EventSchema } from "./event-schemas";
import { IdParamSchema, PaginationQuerySchema, Timestamp } from "./shared";

// Schemas of the webhook endpoint routes. The objects they describe are rendered by services/webhook-endpoints.ts
// and services/webhook-deliveries.ts; the checks below stop compiling when the two drift apart.

/** Compiles only while `A` and `B` describe the same object (each assignable to the other). */
type Same<A, B> = [A, B] extends [B, A] ? true : false;

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

export const WebhookEndpointWithSecretSchema = WebhookEndpointSchema.extend({
  secret: z
    .string()
    .nullable()
    .openapi({
      description:
        "The signing secret (`whsec_` + base64). Shown once: store it now. An idempotent replay of this call " +
        "(`Idempotent-Replayed: true`) answers the same object with `secret: null`: the secret is never stored for " +
        "replay; rotate it to get a new one.",
      example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    }),
}).openapi("WebhookEndpointWithSecret");

true satisfies Same<WebhookEndpointView, z.infer<typeof WebhookEndpointSchema>>;

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

export const DeliverySchema = z
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

true satisfies Same<WebhookDeliveryView, z.infer<typeof DeliverySchema>>;

export const ReplaySchema = z
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

true satisfies Same<WebhookReplayView, z.infer<typeof ReplaySchema>>;

export const CreateEndpointBody = z
  .strictObject({
    url: UrlSchema,
    events: EventsListSchema,
    description: z.string().max(500).optional(),
    rate_limit_per_second: RateLimitSchema.optional(),
  })
  .openapi("CreateWebhookEndpointRequest");

export const UpdateEndpointBody = z
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

export const RotateSecretBody = z
  .strictObject({
    overlap_seconds: z.number().int().min(0).max(MAX_SECRET_OVERLAP_SECONDS).optional().openapi({
      description: "How long the old secret keeps signing beside the new one (default 86400, 0 = stop now).",
    }),
  })
  .openapi("RotateWebhookSecretRequest");

export const DeliveryQuery = PaginationQuerySchema.extend({
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

export const RangeReplayBody = z
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

export const EndpointIdParam = IdParamSchema(ENDPOINT_EXAMPLE_ID);
export const DeliveryParams = EndpointIdParam.extend({
  delivery_id: z
    .string()
    .max(64)
    .openapi({ param: { name: "delivery_id", in: "path" }, example: "whd_01jd3x6n2m8q4v7w9y0z1a2b3c" }),
});
export const ReplayParams = EndpointIdParam.extend({
  replay_id: z
    .string()
    .max(64)
    .openapi({ param: { name: "replay_id", in: "path" }, example: "whr_01jd3x6n2m8q4v7w9y0z1a2b3c" }),
});

export const DeletedSchema = z
  .object({ object: z.literal("webhook_endpoint"), id: z.string(), deleted: z.literal(true) })
  .openapi("DeletedWebhookEndpoint");

export const TestResultSchema = z
  .object({ event: EventSchema, delivery: DeliverySchema })
  .openapi("WebhookTestResult");
