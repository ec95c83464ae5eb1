import { z } from "@hono/zod-openapi";
import type { ConversationRow } from "../db/schema";
import { windowState } from "../domain/customer-window";
import type { InboundMessageView } from "../services/inbound-messages";
import { ChannelType } from "./message-schemas";
import { Timestamp, toTimestamp } from "./shared";

// Schemas of conversations and inbound messages, shared by the conversation and sandbox routes. Inbound
// messages are rendered by services/inbound-messages.ts (the inbound processor renders them too).

/** Compiles only while `A` and `B` describe the same object (each assignable to the other). */
type Same<A, B> = [A, B] extends [B, A] ? true : false;

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

// The renderer builds plain objects; this stops compiling when they and the schema drift apart.
true satisfies Same<InboundMessageView, z.infer<typeof InboundMessageSchema>>;

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
