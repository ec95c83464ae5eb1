import { z } from "@hono/zod-openapi";
import type { HopRecord, MessageRow } from "../db/schema";
import { formatAmount } from "../domain/money";
import { PRIORITIES, priorityRank } from "../domain/schedule";
import type { MessageContent } from "../providers/types";
import { Timestamp, toTimestamp } from "./shared";

export const ChannelType = z.enum(["whatsapp", "sms", "email"]);

const InteractiveSchema = z
  .discriminatedUnion("type", [
    z.strictObject({
      type: z.literal("button"),
      body: z.string().min(1).max(1024),
      header: z.string().min(1).max(60).optional(),
      footer: z.string().min(1).max(60).optional(),
      buttons: z
        .array(z.strictObject({ id: z.string().min(1).max(256), title: z.string().min(1).max(20) }))
        .min(1)
        .max(3),
    }),
    z.strictObject({
      type: z.literal("list"),
      body: z.string().min(1).max(4096),
      header: z.string().min(1).max(60).optional(),
      footer: z.string().min(1).max(60).optional(),
      button: z.string().min(1).max(20),
      sections: z
        .array(
          z.strictObject({
            title: z.string().min(1).max(24),
            rows: z
              .array(
                z.strictObject({
                  id: z.string().min(1).max(200),
                  title: z.string().min(1).max(24),
                  description: z.string().max(72).optional(),
                }),
              )
              .min(1)
              .max(10),
          }),
        )
        .min(1)
        .max(10),
    }),
  ])
  .openapi("InteractiveContent");

const CONTENT_FIELDS = ["template", "text", "media", "interactive", "email"] as const;
export type ContentField = (typeof CONTENT_FIELDS)[number];

/** The fields of a send; broadcasts take the content, schedule and fallback fields from here too. */
export const SendMessageFields = {
  channel: ChannelType,
  to: z.string().min(3).max(320).openapi({
    description: "E.164 phone number, or an email address for email.",
    example: "+5511987654321",
  }),
  from: z
    .string()
    .max(64)
    .optional()
    .openapi({ description: "A channel id (`chn_…`); defaults to your first sender of that type." }),
  template: z
    .strictObject({
      name: z.string().min(1).max(512),
      language: z.string().min(2).max(16),
      variables: z.record(z.string().max(64), z.string()).default({}),
    })
    .optional()
    .openapi({
      example: { name: "order_confirmation", language: "pt_BR", variables: { "1": "Maria", "2": "#1234" } },
    }),
  text: z.strictObject({ body: z.string().min(1).max(4096), preview_url: z.boolean().optional() }).optional(),
  media: z
    .strictObject({
      type: z.enum(["image", "video", "audio", "document"]),
      url: z
        .url({ protocol: /^https$/ })
        .max(2000)
        .optional()
        .openapi({ description: "A public https URL of the file; or send `media_id` instead." }),
      media_id: z
        .string()
        .min(1)
        .max(64)
        .optional()
        .openapi({
          description:
            "A media library id (`med_…`, see POST /v1/media): checked now (ready, type and size within the " +
            "channel's limits) and handed to the provider as a signed, expiring URL.",
          example: "med_01jd3x6n2m8q4v7w9y0z1a2b3c",
        }),
      caption: z.string().min(1).max(1024).optional(),
      filename: z.string().min(1).max(240).optional(),
    })
    .refine((media) => (media.url === undefined) !== (media.media_id === undefined), {
      message: "Send exactly one of url or media_id.",
      path: ["url"],
    })
    .optional(),
  interactive: InteractiveSchema.optional(),
  email: z
    .strictObject({
      subject: z.string().min(1).max(998),
      html: z.string().min(1).max(512_000).optional(),
      text: z.string().min(1).max(512_000).optional(),
    })
    .refine((e) => e.html !== undefined || e.text !== undefined, "Send html, text or both.")
    .optional(),
  priority: z.enum(PRIORITIES).default("default"),
  schedule_at: z
    .string()
    .max(64)
    .optional()
    .openapi({ description: "RFC 3339 with offset, e.g. 2026-12-01T09:00:00-03:00." }),
  send_at: z
    .string()
    .max(64)
    .optional()
    .openapi({ description: "Local wall-clock time (no offset), with `timezone`." }),
  timezone: z
    .string()
    .max(64)
    .optional()
    .openapi({ description: "IANA zone for `send_at`, e.g. America/Sao_Paulo." }),
  fallback: z
    .array(z.strictObject({ channel: ChannelType, after_seconds: z.number().int().min(0).max(86_400) }))
    .max(2)
    .default([])
    .openapi({
      description: "Next channels to try if the message fails or is not delivered within after_seconds.",
    }),
  metadata: z
    .record(z.string().min(1).max(40), z.string().max(500))
    .refine((m) => Object.keys(m).length <= 20, "At most 20 metadata keys.")
    .default({}),
  link_tracking: z.boolean().default(false).openapi({
    description:
      "Rewrite every http(s) URL in a text or email body to a short tracked link ({PUBLIC_BASE_URL}/l/{code}); clicks emit `link.clicked`.",
  }),
  idempotency_key: z.string().max(255).optional(),
};

/** Exactly one content field (the message's kind). */
export function requireOneContentField(body: Partial<Record<ContentField, unknown>>, ctx: z.RefinementCtx) {
  const given = CONTENT_FIELDS.filter((field) => body[field] !== undefined);
  if (given.length !== 1) {
    ctx.addIssue({
      code: "custom",
      path: given.length === 0 ? [] : [given[1] ?? ""],
      message:
        given.length === 0
          ? `Send exactly one content field: ${CONTENT_FIELDS.join(", ")}.`
          : `Send exactly one content field; got ${given.join(" and ")}.`,
    });
  }
}

export const SendMessageBody = z
  .strictObject(SendMessageFields)
  .superRefine(requireOneContentField)
  .openapi("SendMessageRequest");

export type SendMessageInput = z.infer<typeof SendMessageBody>;

export function contentFieldOf(body: Partial<Record<ContentField, unknown>>): ContentField {
  return CONTENT_FIELDS.find((field) => body[field] !== undefined) ?? "text";
}

const HopSchema = z.object({
  channel: ChannelType,
  status: z.string(),
  cost: z.string(),
  provider_message_id: z.string().nullable(),
  error: z.object({ code: z.string(), reason: z.string() }).nullable(),
  started_at: Timestamp,
  ended_at: Timestamp.nullable(),
});

/** What the recipient got, rendered (merge fields filled): each message shows its own. */
const SentContentSchema = z
  .object({
    text: z.object({ body: z.string() }).optional(),
    template: z
      .object({ name: z.string(), language: z.string(), variables: z.record(z.string(), z.string()) })
      .optional(),
    media: z
      .object({
        type: z.string(),
        url: z.string().nullable(),
        media_id: z.string().nullable(),
        caption: z.string().nullable(),
      })
      .optional(),
    interactive: z.record(z.string(), z.unknown()).optional(),
    email: z
      .object({ subject: z.string(), text: z.string().nullable(), html: z.string().nullable() })
      .optional(),
  })
  .openapi("SentContent");

const MEDIA_REF_PREFIX = "sendwire-media:";

export function renderSentContent(content: MessageContent): z.infer<typeof SentContentSchema> {
  switch (content.kind) {
    case "text":
      return { text: { body: content.text.body } };
    case "template":
      return {
        template: {
          name: content.template.name,
          language: content.template.language,
          variables: content.template.variables,
        },
      };
    case "media": {
      const libraryId = content.media.url.startsWith(MEDIA_REF_PREFIX)
        ? content.media.url.slice(MEDIA_REF_PREFIX.length)
        : null;
      return {
        media: {
          type: content.media.type,
          url: libraryId ? null : content.media.url,
          media_id: libraryId,
          caption: content.media.caption ?? null,
        },
      };
    }
    case "interactive":
      return { interactive: content.interactive as unknown as Record<string, unknown> };
    case "email":
      return {
        email: {
          subject: content.email.subject,
          text: content.email.text ?? null,
          html: content.email.html ?? null,
        },
      };
  }
}

export const MessageSchema = z
  .object({
    object: z.literal("message"),
    id: z.string().openapi({ example: "msg_01jd3x6n2m8q4v7w9y0z1a2b3c" }),
    environment: z.enum(["live", "test"]),
    status: z.enum([
      "scheduled",
      "queued",
      "sending",
      "sent",
      "delivered",
      "read",
      "failed",
      "undelivered",
      "canceled",
    ]),
    channel: ChannelType.openapi({
      description: "The channel of the current hop (changes when a fallback is used).",
    }),
    requested_channel: ChannelType,
    to: z.string(),
    from: z
      .string()
      .nullable()
      .openapi({ description: "Channel id, or null for the sandbox / default sender." }),
    content_type: z.enum(["template", "text", "media", "interactive", "email"]),
    template: z
      .object({ id: z.string(), name: z.string(), language: z.string(), category: z.string() })
      .nullable(),
    priority: z.enum(PRIORITIES),
    scheduled_at: Timestamp.nullable(),
    cost_estimate: z
      .string()
      .openapi({ example: "0.0625", description: "Decimal, in `currency`, for the first hop." }),
    cost: z.string().openapi({ description: "What was charged so far, net of refunds." }),
    currency: z.string().openapi({ example: "USD" }),
    fallback: z.array(z.object({ channel: ChannelType, after_seconds: z.number().int() })),
    hops: z.array(HopSchema),
    provider_message_id: z.string().nullable(),
    error: z.object({ code: z.string(), reason: z.string() }).nullable(),
    attempts: z.number().int(),
    timestamps: z.record(z.string(), Timestamp).openapi({ example: { queued: "2026-11-23T18:00:00.000Z" } }),
    metadata: z.record(z.string(), z.string()),
    content: SentContentSchema.openapi({
      description:
        "The content as sent to this recipient, merge fields rendered (broadcasts render per contact).",
    }),
    broadcast_id: z.string().nullable().openapi({ description: "The broadcast this message belongs to." }),
    contact_id: z.string().nullable().openapi({ description: "The contact a broadcast message went to." }),
    test: z.boolean().openapi({ description: "A broadcast test send (outside the broadcast's counts)." }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Message");

export type MessageView = z.infer<typeof MessageSchema>;

function renderHop(hop: HopRecord): z.infer<typeof HopSchema> {
  return {
    channel: hop.channel,
    status: hop.status,
    cost: formatAmount(hop.costMicros),
    provider_message_id: hop.providerMessageId,
    error: hop.errorCode ? { code: hop.errorCode, reason: hop.errorReason ?? "" } : null,
    started_at: hop.startedAt,
    ended_at: hop.endedAt,
  };
}

export function renderMessage(row: MessageRow): MessageView {
  const hops = row.hops;
  const currentChannel = hops[row.hop]?.channel ?? row.channel;
  const charged = hops.reduce((sum, hop) => sum + hop.costMicros, 0);
  const template =
    row.content.kind === "template" ? (row.content.template as { name: string; language: string }) : null;
  return {
    object: "message",
    id: row.id,
    environment: row.environment,
    status: row.status,
    channel: currentChannel,
    requested_channel: row.channel,
    to: row.to,
    from: row.fromChannelId,
    content_type: row.contentKind,
    template:
      template && row.templateId
        ? { id: row.templateId, name: template.name, language: template.language, category: row.category }
        : null,
    priority: PRIORITIES.find((p) => priorityRank(p) === row.priority) ?? "default",
    scheduled_at: toTimestamp(row.scheduledAt),
    cost_estimate: formatAmount(row.costEstimateMicros),
    cost: formatAmount(charged),
    currency: row.currency,
    fallback: row.fallback.map((hop) => ({ channel: hop.channel, after_seconds: hop.afterSeconds })),
    hops: hops.map(renderHop),
    provider_message_id: row.providerMessageId,
    error: row.errorCode ? { code: row.errorCode, reason: row.errorReason ?? "" } : null,
    attempts: row.attempts,
    timestamps: row.timestamps as Record<string, string>,
    metadata: row.metadata,
    content: renderSentContent(row.content as unknown as MessageContent),
    broadcast_id: row.broadcastId,
    contact_id: row.contactId,
    test: row.test,
    created_at: toTimestamp(row.createdAt),
    updated_at: toTimestamp(row.updatedAt),
  };
}
