import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

// ---- Broadcasts and tracked links ------------------------------------------------------------------------
// Re-exported by schema.ts; same conventions (ms timestamps, every row scoped by tenant + environment).

const ENVIRONMENTS = ["live", "test"] as const;
const CHANNELS = ["whatsapp", "sms", "email"] as const;

export const BROADCAST_STATUSES = [
  "draft",
  "scheduled",
  "running",
  "paused",
  "completed",
  "canceled",
  "failed",
] as const;
export type BroadcastStatus = (typeof BROADCAST_STATUSES)[number];

/** Why a recipient of the snapshot gets no message. */
export const SKIP_REASONS = ["suppressed", "invalid", "not_mobile", "no_address"] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/** Quiet hours in each recipient's local time, "HH:MM" 24-hour clock; the window may wrap midnight. */
export interface QuietHours {
  start: string;
  end: string;
}

/**
 * One fan-out of the same content to an audience (`bc_…`). The audience is resolved once, at start, into
 * `broadcast_recipients`; the BroadcastRunner Durable Object releases it to the sends queue in batches at the
 * broadcast's rate. Counts of sent/delivered/… are read from the broadcast's messages, never kept twice.
 */
export const broadcasts = sqliteTable(
  "broadcasts",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ENVIRONMENTS }).notNull(),
    apiKeyId: text("api_key_id").notNull(),
    idempotencyKey: text("idempotency_key").notNull(),
    requestFingerprint: text("request_fingerprint"),
    name: text("name").notNull(),
    status: text("status", { enum: BROADCAST_STATUSES }).notNull(),
    channel: text("channel", { enum: CHANNELS }).notNull(),
    fromChannelId: text("from_channel_id"),
    /** The content as requested (merge fields unrendered), in the request's snake_case shape. */
    content: text("content", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    templateId: text("template_id"),
    category: text("category").notNull(),
    fallback: text("fallback", { mode: "json" })
      .$type<{ channel: (typeof CHANNELS)[number]; afterSeconds: number }[]>()
      .notNull(),
    /** Exactly one of {segment_id}, {list_id}, {contact_ids}. */
    audience: text("audience", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    /** 0 low … 3 critical, as messages. */
    priority: integer("priority").notNull(),
    rateLimitPerMinute: integer("rate_limit_per_minute").notNull(),
    scheduleAt: integer("schedule_at", { mode: "timestamp_ms" }),
    timezone: text("timezone"),
    quietHours: text("quiet_hours", { mode: "json" }).$type<QuietHours | null>(),
    linkTracking: integer("link_tracking", { mode: "boolean" }).notNull(),
    metadata: text("metadata", { mode: "json" }).$type<Record<string, string>>().notNull(),
    /** Snapshot size (eligible + skipped), known once the audience is resolved at start. */
    total: integer("total"),
    /** Per skip reason, counted when the snapshot is taken. */
    skipped: text("skipped", { mode: "json" }).$type<Record<string, number>>(),
    /** Estimated at create from the audience then; the sum held by jobs is in the ledger. */
    costEstimateMicros: integer("cost_estimate_micros").notNull(),
    currency: text("currency").notNull(),
    pauseReason: text("pause_reason"),
    failureReason: text("failure_reason"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
    startedAt: integer("started_at", { mode: "timestamp_ms" }),
    completedAt: integer("completed_at", { mode: "timestamp_ms" }),
  },
  (t) => [
    uniqueIndex("broadcasts_key_idempotency").on(t.apiKeyId, t.idempotencyKey),
    index("broadcasts_tenant_env_id").on(t.tenantId, t.environment, t.id),
    index("broadcasts_status_schedule").on(t.status, t.scheduleAt),
  ],
);

/**
 * The audience snapshot: one row per contact, numbered from 0 in contact id order. A batch is a range of
 * `seq`; the recipient's address, country and skip reason are fixed when the snapshot is taken.
 */
export const broadcastRecipients = sqliteTable(
  "broadcast_recipients",
  {
    broadcastId: text("broadcast_id").notNull(),
    seq: integer("seq").notNull(),
    contactId: text("contact_id").notNull(),
    address: text("address"),
    country: text("country"),
    skipReason: text("skip_reason", { enum: SKIP_REASONS }),
  },
  (t) => [
    primaryKey({ columns: [t.broadcastId, t.seq] }),
    uniqueIndex("broadcast_recipients_contact").on(t.broadcastId, t.contactId),
  ],
);

/** Per-tenant broadcast settings (absent row: the defaults). */
export const tenantBroadcastSettings = sqliteTable(
  "tenant_broadcast_settings",
  {
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ENVIRONMENTS }).notNull(),
    /** Messages per minute shared by all running broadcasts of the tenant (default 6,000). */
    ratePerMinute: integer("rate_per_minute").notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.environment] })],
);

/** A tracked link: `{PUBLIC_BASE_URL}/l/{code}` redirects to `url`; unique per message and URL. */
export const trackedLinks = sqliteTable(
  "tracked_links",
  {
    code: text("code").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ENVIRONMENTS }).notNull(),
    messageId: text("message_id").notNull(),
    broadcastId: text("broadcast_id"),
    contactId: text("contact_id"),
    url: text("url").notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [uniqueIndex("tracked_links_message_url").on(t.messageId, t.url)],
);

/** One click on a tracked link: time and user agent, never the IP address. */
export const linkClicks = sqliteTable(
  "link_clicks",
  {
    id: text("id").primaryKey(),
    code: text("code").notNull(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ENVIRONMENTS }).notNull(),
    messageId: text("message_id").notNull(),
    broadcastId: text("broadcast_id"),
    contactId: text("contact_id"),
    url: text("url").notNull(),
    userAgent: text("user_agent"),
    clickedAt: integer("clicked_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    index("link_clicks_broadcast").on(t.broadcastId, t.messageId),
    index("link_clicks_message").on(t.messageId),
  ],
);

export type BroadcastRow = typeof broadcasts.$inferSelect;
export type BroadcastRecipientRow = typeof broadcastRecipients.$inferSelect;
export type TrackedLinkRow = typeof trackedLinks.$inferSelect;
export type LinkClickRow = typeof linkClicks.$inferSelect;
