import { sql } from "drizzle-orm";
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

// Times are stored as integer milliseconds since the epoch (drizzle maps them to Date) and rendered
// as RFC 3339 UTC strings in the API. Every tenant-owned row carries (tenant_id, environment).

export const tenants = sqliteTable("tenants", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
});

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    environment: text("environment", { enum: ["live", "test"] }).notNull(),
    name: text("name").notNull(),
    /** JSON array of scope names. */
    scopes: text("scopes", { mode: "json" }).$type<string[]>().notNull(),
    /** Display prefix of the current secret, e.g. `sw_test_4fZq9k`. */
    prefix: text("prefix").notNull(),
    rateLimitPerMinute: integer("rate_limit_per_minute"),
    rateLimitBurst: integer("rate_limit_burst"),
    expiresAt: integer("expires_at", { mode: "timestamp_ms" }),
    revokedAt: integer("revoked_at", { mode: "timestamp_ms" }),
    rotatedAt: integer("rotated_at", { mode: "timestamp_ms" }),
    createdByKeyId: text("created_by_key_id"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [index("api_keys_tenant_env_id").on(t.tenantId, t.environment, t.id)],
);

/**
 * The secrets of a key: only SHA-256 hashes. The current secret has no expiry; a rotated-out secret
 * keeps working until `expires_at` (the rotation overlap). The key id stays the same across rotation.
 */
export const apiKeySecrets = sqliteTable(
  "api_key_secrets",
  {
    secretHash: text("secret_hash").primaryKey(),
    keyId: text("key_id")
      .notNull()
      .references(() => apiKeys.id),
    prefix: text("prefix").notNull(),
    expiresAt: integer("expires_at", { mode: "timestamp_ms" }),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [index("api_key_secrets_key_id").on(t.keyId)],
);

export const auditLogs = sqliteTable(
  "audit_logs",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ["live", "test"] }).notNull(),
    keyId: text("key_id").notNull(),
    keyPrefix: text("key_prefix").notNull(),
    method: text("method").notNull(),
    /** Route template (`/v1/api-keys/:id`), never the concrete path with ids or query strings. */
    route: text("route").notNull(),
    status: integer("status").notNull(),
    requestId: text("request_id").notNull(),
    idempotencyKey: text("idempotency_key"),
    ip: text("ip"),
    userAgent: text("user_agent"),
    latencyMs: integer("latency_ms").notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    index("audit_logs_tenant_env_id").on(t.tenantId, t.environment, t.id),
    index("audit_logs_tenant_env_key_id").on(t.tenantId, t.environment, t.keyId, t.id),
    index("audit_logs_created_at").on(t.createdAt),
  ],
);

export type Tenant = typeof tenants.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type AuditLogRow = typeof auditLogs.$inferSelect;

// ---- Sends ------------------------------------------------------------------------------------------

/**
 * A tenant's sender on one channel type. Non-secret settings live in `config`; credentials only as
 * AES-GCM ciphertext (`secrets_ciphertext`) and are never returned by the API.
 */
export const channels = sqliteTable(
  "channels",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ["live", "test"] }).notNull(),
    type: text("type", { enum: ["whatsapp", "sms", "email"] }).notNull(),
    name: text("name").notNull(),
    config: text("config", { mode: "json" }).$type<Record<string, string>>().notNull(),
    secretsCiphertext: text("secrets_ciphertext").notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    deletedAt: integer("deleted_at", { mode: "timestamp_ms" }),
  },
  (t) => [index("channels_tenant_env_id").on(t.tenantId, t.environment, t.id)],
);

export const templates = sqliteTable(
  "templates",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ["live", "test"] }).notNull(),
    channelId: text("channel_id"),
    name: text("name").notNull(),
    language: text("language").notNull(),
    category: text("category", { enum: ["marketing", "utility", "authentication"] }).notNull(),
    channel: text("channel", { enum: ["whatsapp", "sms", "email"] }).notNull(),
    body: text("body").notNull(),
    header: text("header"),
    buttons: text("buttons", { mode: "json" }).$type<Array<{ type: string; text: string; url?: string }>>(),
    placeholderStyle: text("placeholder_style", { enum: ["numbered", "named", "none"] }).notNull(),
    placeholders: text("placeholders", { mode: "json" }).$type<string[]>().notNull(),
    status: text("status", { enum: ["pending", "approved", "rejected"] }).notNull(),
    rejectionReason: text("rejection_reason"),
    providerTemplateId: text("provider_template_id"),
    /** Sandbox only: when the simulated review decides. */
    reviewDueAt: integer("review_due_at", { mode: "timestamp_ms" }),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
    deletedAt: integer("deleted_at", { mode: "timestamp_ms" }),
  },
  (t) => [
    index("templates_tenant_env_id").on(t.tenantId, t.environment, t.id),
    index("templates_lookup").on(t.tenantId, t.environment, t.name, t.language),
    // Sends find a template by name and language, so two live ones may never share them (concurrent creates).
    uniqueIndex("templates_unique_live_name")
      .on(t.tenantId, t.environment, t.name, t.language)
      .where(sql`${t.deletedAt} IS NULL`),
  ],
);

export const MESSAGE_STATUSES = [
  "scheduled",
  "queued",
  "sending",
  "sent",
  "delivered",
  "read",
  "failed",
  "undelivered",
  "canceled",
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export interface FallbackHop {
  channel: "whatsapp" | "sms" | "email";
  afterSeconds: number;
}

/** One attempt per channel: the first is the requested channel, then each fallback actually used. */
export interface HopRecord {
  channel: "whatsapp" | "sms" | "email";
  status: MessageStatus;
  costMicros: number;
  providerMessageId: string | null;
  errorCode: string | null;
  errorReason: string | null;
  startedAt: string;
  endedAt: string | null;
}

export const messages = sqliteTable(
  "messages",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ["live", "test"] }).notNull(),
    apiKeyId: text("api_key_id").notNull(),
    idempotencyKey: text("idempotency_key").notNull(),
    /** Fingerprint of the request that created it, so a reused key with another body is refused forever. */
    requestFingerprint: text("request_fingerprint"),
    channel: text("channel", { enum: ["whatsapp", "sms", "email"] }).notNull(),
    to: text("to").notNull(),
    fromChannelId: text("from_channel_id"),
    country: text("country"),
    contentKind: text("content_kind", {
      enum: ["template", "text", "media", "interactive", "email"],
    }).notNull(),
    /** The normalised content (OutboundMessage["content"]), so every hop and retry sends the same thing. */
    content: text("content", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    templateId: text("template_id"),
    category: text("category").notNull(),
    /** 0 low … 3 critical: higher is dispatched first. */
    priority: integer("priority").notNull(),
    status: text("status", { enum: MESSAGE_STATUSES }).notNull(),
    scheduledAt: integer("scheduled_at", { mode: "timestamp_ms" }),
    metadata: text("metadata", { mode: "json" }).$type<Record<string, string>>().notNull(),
    costEstimateMicros: integer("cost_estimate_micros").notNull(),
    currency: text("currency").notNull(),
    fallback: text("fallback", { mode: "json" }).$type<FallbackHop[]>().notNull(),
    hop: integer("hop").notNull().default(0),
    hops: text("hops", { mode: "json" }).$type<HopRecord[]>().notNull(),
    providerMessageId: text("provider_message_id"),
    attempts: integer("attempts").notNull().default(0),
    errorCode: text("error_code"),
    errorReason: text("error_reason"),
    /** Per-state timestamps: { queued: "…", sent: "…" }. */
    timestamps: text("timestamps", { mode: "json" })
      .$type<Partial<Record<MessageStatus, string>>>()
      .notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
    // Added by migration 0010, so last in the table (positional INSERT … SELECTs list columns in this order).
    /** The broadcast this message is one recipient of (null: a single send). */
    broadcastId: text("broadcast_id"),
    /** The contact a broadcast message went to. */
    contactId: text("contact_id"),
    /** A broadcast test send: outside the broadcast's counts. */
    test: integer("test", { mode: "boolean" }).notNull().default(false),
  },
  (t) => [
    uniqueIndex("messages_key_idempotency").on(t.apiKeyId, t.idempotencyKey),
    index("messages_tenant_env_id").on(t.tenantId, t.environment, t.id),
    index("messages_provider_id").on(t.providerMessageId),
    // A conversation's outbound side: the messages sent to one address.
    index("messages_tenant_env_to").on(t.tenantId, t.environment, t.to, t.id),
    // A broadcast's counts (status per recipient) and GET /v1/messages?broadcast_id=.
    index("messages_broadcast_status").on(t.broadcastId, t.test, t.status),
    index("messages_tenant_env_broadcast").on(t.tenantId, t.environment, t.broadcastId, t.id),
  ],
);

/**
 * Work that must happen even if a queue message is lost: dispatch a message (possibly in the future),
 * check a fallback deadline, finish a sandbox template review. The queue only accelerates it; the minute
 * cron re-drives every row that is due and whose lease has expired.
 */
export const outbox = sqliteTable(
  "outbox",
  {
    id: text("id").primaryKey(),
    kind: text("kind", {
      enum: [
        "dispatch",
        "fallback_check",
        "template_review",
        "sandbox_receipt",
        "inbound",
        "contact_import",
        "media_fetch",
        "broadcast_start",
        "broadcast_batch",
        "broadcast_receipts",
      ],
    }).notNull(),
    subjectId: text("subject_id").notNull(),
    payload: text("payload", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    priority: integer("priority").notNull().default(1),
    availableAt: integer("available_at", { mode: "timestamp_ms" }).notNull(),
    leaseUntil: integer("lease_until", { mode: "timestamp_ms" }),
    attempts: integer("attempts").notNull().default(0),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [index("outbox_due").on(t.availableAt), index("outbox_subject").on(t.subjectId)],
);

/** State changes for webhooks: `sequence` rises per message id. */
export const events = sqliteTable(
  "events",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ["live", "test"] }).notNull(),
    type: text("type").notNull(),
    subjectId: text("subject_id").notNull(),
    sequence: integer("sequence").notNull(),
    data: text("data", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    index("events_tenant_env_id").on(t.tenantId, t.environment, t.id),
    index("events_tenant_env_subject").on(t.tenantId, t.environment, t.subjectId, t.id),
    index("events_created_at").on(t.createdAt),
    uniqueIndex("events_subject_sequence").on(t.subjectId, t.sequence),
  ],
);

/** Balance per tenant and environment; the CHECK makes an overdraft abort the whole batch. */
export const wallets = sqliteTable(
  "wallets",
  {
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ["live", "test"] }).notNull(),
    balanceMicros: integer("balance_micros").notNull(),
    currency: text("currency").notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.environment] }),
    check("wallets_balance_not_negative", sql`${t.balanceMicros} >= 0`),
  ],
);

export const ledgerEntries = sqliteTable(
  "ledger_entries",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ["live", "test"] }).notNull(),
    kind: text("kind", { enum: ["grant", "debit", "refund", "top_up"] }).notNull(),
    /** Signed: debits are negative. */
    amountMicros: integer("amount_micros").notNull(),
    balanceAfterMicros: integer("balance_after_micros").notNull(),
    messageId: text("message_id"),
    hop: integer("hop"),
    description: text("description").notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    index("ledger_tenant_env_id").on(t.tenantId, t.environment, t.id),
    // At-least-once consumers may try twice: one debit and one refund per message hop, ever.
    uniqueIndex("ledger_once_per_hop").on(t.messageId, t.hop, t.kind),
  ],
);

export type ChannelRow = typeof channels.$inferSelect;
export type TemplateRow = typeof templates.$inferSelect;
export type MessageRow = typeof messages.$inferSelect;
export type OutboxRow = typeof outbox.$inferSelect;
export type EventRow = typeof events.$inferSelect;
export * from "./schema-audiences";
export * from "./schema-broadcasts";
export * from "./schema-contacts";
export * from "./schema-inbound";
export * from "./schema-webhooks";
