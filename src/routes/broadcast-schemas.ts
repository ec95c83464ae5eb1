import { z } from "@hono/zod-openapi";
import { BROADCAST_STATUSES, type BroadcastRow } from "../db/schema";
import type { BroadcastContent } from "../domain/broadcast-content";
import { formatAmount } from "../domain/money";
import { PRIORITIES, priorityRank } from "../domain/schedule";
import type { BroadcastCounts } from "../queues/broadcast-state";
import { renderSentContent, requireOneContentField, SendMessageFields } from "./message-schemas";
import { Timestamp, toTimestamp } from "./shared";

export const BROADCAST_EXAMPLE_ID = "bc_01jd3x6n2m8q4v7w9y0z1a2b3c";
/** Contacts one broadcast may name directly (larger audiences: a list or a segment). */
export const MAX_AUDIENCE_CONTACT_IDS = 1_000;

const Clock = z
  .string()
  .max(5)
  .openapi({ example: "21:00", description: "HH:MM, 24-hour, in each recipient's local time." });

export const AudienceSchema = z
  .strictObject({
    segment_id: z.string().min(1).max(64).optional(),
    list_id: z.string().min(1).max(64).optional(),
    contact_ids: z.array(z.string().min(1).max(64)).min(1).max(MAX_AUDIENCE_CONTACT_IDS).optional(),
  })
  .superRefine((audience, ctx) => {
    const given = (["segment_id", "list_id", "contact_ids"] as const).filter(
      (k) => audience[k] !== undefined,
    );
    if (given.length !== 1) {
      ctx.addIssue({
        code: "custom",
        path: [],
        message: "Send exactly one of segment_id, list_id or contact_ids.",
      });
    }
  })
  .openapi("BroadcastAudience", { example: { segment_id: "seg_01jd3x6n2m8q4v7w9y0z1a2b3c" } });

const {
  channel,
  from,
  template,
  text,
  media,
  interactive,
  email,
  priority,
  schedule_at,
  send_at,
  timezone,
  fallback,
  metadata,
  idempotency_key,
} = SendMessageFields;

const broadcastFields = {
  name: z.string().trim().min(1).max(200).openapi({ example: "Black Friday — VIPs" }),
  channel,
  from,
  template,
  text,
  media,
  interactive,
  email,
  audience: AudienceSchema,
  rate_limit_per_minute: z.number().int().min(1).max(60_000).default(6_000).openapi({
    description:
      "Messages per minute for this broadcast (it shares the tenant's broadcast rate with other running ones).",
  }),
  priority,
  schedule_at,
  send_at,
  timezone,
  quiet_hours: z
    .strictObject({ start: Clock, end: Clock })
    .optional()
    .openapi({
      description:
        "Recipients are held during this window of their local time (contact attribute `timezone`, else the " +
        "phone number's country) and sent when it ends.",
      example: { start: "21:00", end: "08:00" },
    }),
  link_tracking: z.boolean().default(false).openapi({
    description: "Rewrite every http(s) URL in text and email bodies to a per-recipient tracked short link.",
  }),
  fallback,
  metadata,
  idempotency_key,
};

export const CreateBroadcastBody = z
  .strictObject({
    ...broadcastFields,
    start: z.boolean().default(true).openapi({
      description: "false keeps it a `draft` until POST /v1/broadcasts/{id}/start.",
    }),
    dry_run: z.boolean().default(false).openapi({
      description:
        "Answer with the preview (recipients, skips, cost, samples); nothing is stored or charged.",
    }),
  })
  .superRefine(requireOneContentField)
  .openapi("CreateBroadcastRequest", {
    example: {
      name: "Black Friday — VIPs",
      channel: "whatsapp",
      template: {
        name: "black_friday",
        language: "pt_BR",
        variables: { "1": "{{contact.name|there}}", "2": "{{contact.attributes.coupon|BF10}}" },
      },
      audience: { segment_id: "seg_01jd3x6n2m8q4v7w9y0z1a2b3c" },
      rate_limit_per_minute: 6000,
      schedule_at: "2026-11-27T09:00:00-03:00",
      quiet_hours: { start: "21:00", end: "08:00" },
      link_tracking: false,
    },
  });
export type CreateBroadcastInput = z.infer<typeof CreateBroadcastBody>;

export const PreviewBroadcastBody = z
  .strictObject({ ...broadcastFields, idempotency_key: z.string().max(255).optional() })
  .superRefine(requireOneContentField)
  .openapi("PreviewBroadcastRequest");

const CountsSchema = z
  .object({
    total: z.number().int().openapi({ description: "Recipients in the snapshot (taken at start)." }),
    pending: z.number().int().openapi({ description: "Not yet released to sending." }),
    queued: z.number().int().openapi({ description: "Messages waiting or being sent (incl. quiet hours)." }),
    sent: z.number().int(),
    delivered: z.number().int(),
    read: z.number().int(),
    failed: z.number().int(),
    canceled: z.number().int(),
    skipped: z.number().int(),
  })
  .openapi("BroadcastCounts");

export const BroadcastSchema = z
  .object({
    object: z.literal("broadcast"),
    id: z.string().openapi({ example: BROADCAST_EXAMPLE_ID }),
    environment: z.enum(["live", "test"]),
    name: z.string(),
    status: z.enum(BROADCAST_STATUSES),
    channel: z.enum(["whatsapp", "sms", "email"]),
    from: z.string().nullable(),
    content: z.record(z.string(), z.unknown()).openapi({
      description: "The content as given, merge fields unrendered (each message shows its rendered content).",
    }),
    audience: z.record(z.string(), z.unknown()),
    priority: z.enum(PRIORITIES),
    rate_limit_per_minute: z.number().int(),
    schedule_at: Timestamp.nullable(),
    timezone: z.string().nullable(),
    quiet_hours: z.object({ start: z.string(), end: z.string() }).nullable(),
    link_tracking: z.boolean(),
    counts: CountsSchema,
    skipped: z
      .object({ suppressed: z.number(), invalid: z.number(), not_mobile: z.number(), no_address: z.number() })
      .nullable(),
    clicks: z.number().int(),
    unique_clicks: z.number().int(),
    cost_estimate: z.string().openapi({ example: "412.5000" }),
    currency: z.string(),
    pause_reason: z.string().nullable().openapi({ example: "insufficient_balance" }),
    failure_reason: z.string().nullable(),
    metadata: z.record(z.string(), z.string()),
    created_at: Timestamp,
    started_at: Timestamp.nullable(),
    completed_at: Timestamp.nullable(),
  })
  .openapi("Broadcast");

export function renderBroadcast(
  row: BroadcastRow,
  counts: BroadcastCounts,
  clicks: { clicks: number; unique_clicks: number },
): z.infer<typeof BroadcastSchema> {
  const stored = row.content as unknown as BroadcastContent & { request?: Record<string, unknown> };
  return {
    object: "broadcast",
    id: row.id,
    environment: row.environment,
    name: row.name,
    status: row.status,
    channel: row.channel,
    from: row.fromChannelId,
    content: stored.request ?? renderSentContent(stored.message),
    audience: row.audience,
    priority: PRIORITIES.find((p) => priorityRank(p) === row.priority) ?? "default",
    rate_limit_per_minute: row.rateLimitPerMinute,
    schedule_at: toTimestamp(row.scheduleAt),
    timezone: row.timezone,
    quiet_hours: row.quietHours ?? null,
    link_tracking: row.linkTracking,
    counts,
    skipped: row.skipped
      ? {
          suppressed: row.skipped.suppressed ?? 0,
          invalid: row.skipped.invalid ?? 0,
          not_mobile: row.skipped.not_mobile ?? 0,
          no_address: row.skipped.no_address ?? 0,
        }
      : null,
    clicks: clicks.clicks,
    unique_clicks: clicks.unique_clicks,
    cost_estimate: formatAmount(row.costEstimateMicros),
    currency: row.currency,
    pause_reason: row.pauseReason,
    failure_reason: row.failureReason,
    metadata: row.metadata,
    created_at: toTimestamp(row.createdAt),
    started_at: toTimestamp(row.startedAt),
    completed_at: toTimestamp(row.completedAt),
  };
}

export const BroadcastPreviewSchema = z
  .object({
    object: z.literal("broadcast_preview"),
    recipients: z.number().int().openapi({ description: "Contacts the audience names now." }),
    eligible: z.number().int(),
    skipped: z.object({
      suppressed: z.number().int(),
      invalid: z.number().int(),
      not_mobile: z.number().int(),
      no_address: z.number().int(),
    }),
    cost_estimate: z.string(),
    currency: z.string(),
    by_country: z.array(
      z.object({ country: z.string().nullable(), recipients: z.number().int(), cost: z.string() }),
    ),
    balance: z.string(),
    balance_after: z.string().openapi({ description: "Negative: the broadcast would pause for balance." }),
    sample: z.array(
      z.object({
        contact_id: z.string(),
        to: z.string(),
        content: z.record(z.string(), z.unknown()),
      }),
    ),
  })
  .openapi("BroadcastPreview");

export const BroadcastTestBody = z
  .strictObject({
    to: z.array(z.string().min(3).max(320)).min(1).max(5),
    contact_id: z
      .string()
      .max(64)
      .optional()
      .openapi({ description: "Fill merge fields from this contact (default: a sample contact)." }),
  })
  .openapi("BroadcastTestRequest");
