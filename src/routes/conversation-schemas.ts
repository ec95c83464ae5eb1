import { z } from "@hono/zod-openapi";
import type { ConversationRow, InboundMessageRow } from "../db/schema";
import { windowState } from "../domain/customer-window";
import type { InboundContent, InboundMedia } from "../domain/inbound/types";
import { ChannelType } from "./message-schemas";
import { Timestamp, toTimestamp } from "./shared";

// Schemas and renderers shared by the conversation routes and the inbound processor (which puts a
// rendered inbound message into `message.received`), kept apart to avoid an import cycle.

const MediaSchema = z.object({
  media_type: z.enum(["image", "audio", "video", "document", "sticker"]),
  media_id: z.string().optional().openapi({ description: "WhatsApp: fetch it through the Graph API." }),
  url: z.string().optional().openapi({ description: "SMS (MMS): where Twilio serves the file." }),
  mime_type: z.string().optional(),
  sha256: z.string().optional(),
  filename: z.string().optional(),
});

export const InboundContentSchema = z
  .discriminatedUnion("type", [
    z.object({ type: z.literal("text"), text: z.string() }),
    MediaSchema.extend({ type: z.literal("media"), caption: z.string().optional() }),
    z.object({ type: z.literal("media_group"), caption: z.string().optional(), media: z.array(MediaSchema) }),
    z.object({
      type: z.literal("location"),
      latitude: z.number(),
      longitude: z.number(),
      name: z.string().optional(),
      address: z.string().optional(),
    }),
    z.object({
      type: z.literal("button_reply"),
      id: z.string().optional(),
      text: z.string(),
      payload: z.string().optional(),
    }),
    z.object({
      type: z.literal("list_reply"),
      id: z.string(),
      title: z.string(),
      description: z.string().optional(),
    }),
    z.object({
      type: z.literal("reaction"),
      emoji: z.string().nullable().openapi({ description: "null: the customer removed the reaction." }),
      reacted_to_provider_message_id: z.string(),
    }),
    z.object({ type: z.literal("unsupported"), raw_type: z.string() }),
  ])
  .openapi("InboundContent");

export const InboundMessageSchema = z
  .object({
    object: z.literal("inbound_message"),
    id: z.string().openapi({ example: "inm_01jd3x6n2m8q4v7w9y0z1a2b3c" }),
    direction: z.literal("inbound"),
    environment: z.enum(["live", "test"]),
    conversation_id: z.string(),
    contact_id: z.string().nullable(),
    channel: ChannelType,
    channel_id: z.string().openapi({ description: "The receiving channel, or `sandbox`." }),
    from: z.string().openapi({ description: "The customer: E.164 number or email address." }),
    to: z.string().openapi({ description: "Your number or address the customer wrote to." }),
    provider_message_id: z.string(),
    profile_name: z.string().nullable(),
    content: InboundContentSchema,
    reply_to: z.object({ message_id: z.string() }).nullable().openapi({
      description: "Your message this one answers (reply, button tap, reaction), if it is one of ours.",
    }),
    received_at: Timestamp,
    created_at: Timestamp,
  })
  .openapi("InboundMessage");

export type InboundMessageView = z.infer<typeof InboundMessageSchema>;

function renderMedia(media: InboundMedia) {
  return {
    media_type: media.mediaType,
    ...(media.mediaId !== undefined ? { media_id: media.mediaId } : {}),
    ...(media.url !== undefined ? { url: media.url } : {}),
    ...(media.mimeType !== undefined ? { mime_type: media.mimeType } : {}),
    ...(media.sha256 !== undefined ? { sha256: media.sha256 } : {}),
    ...(media.filename !== undefined ? { filename: media.filename } : {}),
  };
}

export function renderInboundContent(content: InboundContent): z.infer<typeof InboundContentSchema> {
  switch (content.type) {
    case "media":
      return {
        type: "media",
        ...renderMedia(content),
        ...(content.caption !== undefined ? { caption: content.caption } : {}),
      };
    case "media_group":
      return {
        type: "media_group",
        ...(content.caption !== undefined ? { caption: content.caption } : {}),
        media: content.media.map(renderMedia),
      };
    case "reaction":
      return {
        type: "reaction",
        emoji: content.emoji,
        reacted_to_provider_message_id: content.reactedToProviderMessageId,
      };
    case "unsupported":
      return { type: "unsupported", raw_type: content.rawType };
    default:
      return content;
  }
}

export function renderInboundMessage(row: InboundMessageRow): InboundMessageView {
  return {
    object: "inbound_message",
    id: row.id,
    direction: "inbound",
    environment: row.environment,
    conversation_id: row.conversationId,
    contact_id: row.contactId,
    channel: row.channel,
    channel_id: row.channelId,
    from: row.from,
    to: row.to,
    provider_message_id: row.providerMessageId,
    profile_name: row.profileName,
    content: renderInboundContent(row.content),
    reply_to: row.replyToMessageId ? { message_id: row.replyToMessageId } : null,
    received_at: toTimestamp(row.receivedAt),
    created_at: toTimestamp(row.createdAt),
  };
}

export const ConversationSchema = z
  .object({
    object: z.literal("conversation"),
    id: z.string().openapi({ example: "cnv_01jd3x6n2m8q4v7w9y0z1a2b3c" }),
    environment: z.enum(["live", "test"]),
    channel: ChannelType,
    address: z.string().openapi({ description: "The customer's E.164 number or email address." }),
    contact_id: z.string().nullable(),
    customer_window: z
      .object({
        applies: z.boolean().openapi({ description: "Only WhatsApp has a customer-service window." }),
        open: z.boolean(),
        expires_at: Timestamp.openapi({ description: "24 hours after the customer's last message." }),
      })
      .openapi({
        description:
          "While open, free-form WhatsApp messages (text, media, interactive) may be sent; otherwise only templates.",
      }),
    last_inbound_at: Timestamp,
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Conversation");

export function renderConversation(row: ConversationRow, now: Date): z.infer<typeof ConversationSchema> {
  const window = windowState(row.lastInboundAt, now);
  return {
    object: "conversation",
    id: row.id,
    environment: row.environment,
    channel: row.channel,
    address: row.address,
    contact_id: row.contactId,
    customer_window: {
      applies: row.channel === "whatsapp",
      open: row.channel === "whatsapp" && window.open,
      expires_at: toTimestamp(window.expiresAt ?? row.lastInboundAt),
    },
    last_inbound_at: toTimestamp(row.lastInboundAt),
    created_at: toTimestamp(row.createdAt),
    updated_at: toTimestamp(row.updatedAt),
  };
}
