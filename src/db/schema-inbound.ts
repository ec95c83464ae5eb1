import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { InboundContent, InboundItem } from "../domain/inbound/types";

// ---- Inbound ------------------------------------------------------------------------------------------
// Re-exported by schema.ts; same conventions (ms timestamps, every row scoped by tenant + environment).

export const INBOUND_EVENT_STATES = ["pending", "applied", "held", "expired", "ignored"] as const;
export type InboundEventState = (typeof INBOUND_EVENT_STATES)[number];

/**
 * One item a provider webhook (or the sandbox) reported: a receipt, a customer's message, a template
 * decision. Written when the webhook is acknowledged, processed off the request path. The unique
 * (source, provider event identity) key is what makes a redelivered callback change nothing.
 * `held`: a receipt for a provider message id we do not know yet, retried until `hold_until`.
 */
export const inboundEvents = sqliteTable(
  "inbound_events",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ["live", "test"] }).notNull(),
    /** The channel whose webhook URL received it; `sandbox` for simulated ones. */
    channelId: text("channel_id").notNull(),
    provider: text("provider", { enum: ["meta", "twilio", "resend"] }).notNull(),
    kind: text("kind", {
      enum: ["status", "message", "template_status", "engagement", "notice"],
    }).notNull(),
    dedupeKey: text("dedupe_key").notNull(),
    providerMessageId: text("provider_message_id"),
    item: text("item", { mode: "json" }).$type<InboundItem>().notNull(),
    state: text("state", { enum: INBOUND_EVENT_STATES }).notNull(),
    /** Why it was held or ignored, for support. */
    note: text("note"),
    occurredAt: integer("occurred_at", { mode: "timestamp_ms" }).notNull(),
    receivedAt: integer("received_at", { mode: "timestamp_ms" }).notNull(),
    processedAt: integer("processed_at", { mode: "timestamp_ms" }),
    holdUntil: integer("hold_until", { mode: "timestamp_ms" }),
  },
  (t) => [
    uniqueIndex("inbound_events_dedupe").on(t.tenantId, t.environment, t.channelId, t.dedupeKey),
    index("inbound_events_state").on(t.state, t.receivedAt),
    // Every send looks for receipts that overtook it; held ones are few, so the index stays small.
    index("inbound_events_held").on(t.providerMessageId).where(sql`${t.state} = 'held'`),
  ],
);

/**
 * A customer's conversation with the tenant on one channel, keyed by the customer's address. It holds the
 * WhatsApp customer-service window (24 h from `last_inbound_at`), which the send path checks.
 */
export const conversations = sqliteTable(
  "conversations",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ["live", "test"] }).notNull(),
    channel: text("channel", { enum: ["whatsapp", "sms", "email"] }).notNull(),
    /** The customer's address: E.164 number or email address. */
    address: text("address").notNull(),
    contactId: text("contact_id"),
    lastInboundAt: integer("last_inbound_at", { mode: "timestamp_ms" }).notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    uniqueIndex("conversations_address").on(t.tenantId, t.environment, t.channel, t.address),
    index("conversations_tenant_env_id").on(t.tenantId, t.environment, t.id),
    index("conversations_contact").on(t.contactId),
  ],
);

/** A message a customer sent to one of the tenant's senders. */
export const inboundMessages = sqliteTable(
  "inbound_messages",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ["live", "test"] }).notNull(),
    conversationId: text("conversation_id").notNull(),
    contactId: text("contact_id"),
    channel: text("channel", { enum: ["whatsapp", "sms", "email"] }).notNull(),
    channelId: text("channel_id").notNull(),
    from: text("from").notNull(),
    to: text("to").notNull(),
    providerMessageId: text("provider_message_id").notNull(),
    content: text("content", { mode: "json" }).$type<InboundContent>().notNull(),
    profileName: text("profile_name"),
    /** Our outbound message this one answers (a WhatsApp reply, a button tap, a reaction). */
    replyToMessageId: text("reply_to_message_id"),
    receivedAt: integer("received_at", { mode: "timestamp_ms" }).notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    uniqueIndex("inbound_messages_provider_id").on(
      t.tenantId,
      t.environment,
      t.channelId,
      t.providerMessageId,
    ),
    index("inbound_messages_conversation").on(t.conversationId, t.id),
  ],
);

export type InboundEventRow = typeof inboundEvents.$inferSelect;
export type ConversationRow = typeof conversations.$inferSelect;
export type InboundMessageRow = typeof inboundMessages.$inferSelect;
