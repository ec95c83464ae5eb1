import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

// ---- Webhooks out -----------------------------------------------------------------------------------
// Re-exported by schema.ts; same conventions (ms timestamps, every row scoped by tenant + environment).

/**
 * A tenant's receiver. The signing secret must be usable (we HMAC with it), so it is stored as AES-GCM
 * ciphertext like channel credentials; during a rotation the previous one signs too until it expires.
 */
export const webhookEndpoints = sqliteTable(
  "webhook_endpoints",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ["live", "test"] }).notNull(),
    /** The normalised URL (WHATWG `href`) that passed the URL guard. */
    url: text("url").notNull(),
    /** JSON array of event types, or ["*"]. */
    events: text("events", { mode: "json" }).$type<string[]>().notNull(),
    description: text("description").notNull().default(""),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    disabledReason: text("disabled_reason"),
    disabledAt: integer("disabled_at", { mode: "timestamp_ms" }),
    rateLimitPerSecond: integer("rate_limit_per_second"),
    secretCiphertext: text("secret_ciphertext").notNull(),
    previousSecretCiphertext: text("previous_secret_ciphertext"),
    previousSecretExpiresAt: integer("previous_secret_expires_at", { mode: "timestamp_ms" }),
    /** First failed attempt since the last success; five days of nothing but failures disables the endpoint. */
    failingSince: integer("failing_since", { mode: "timestamp_ms" }),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
    /** The current one-second window of `rate_limit_per_second`: its start and the attempts taken in it. */
    rateWindowStart: integer("rate_window_start", { mode: "timestamp_ms" }),
    rateWindowCount: integer("rate_window_count").notNull().default(0),
  },
  (t) => [index("webhook_endpoints_tenant_env_id").on(t.tenantId, t.environment, t.id)],
);

/**
 * One event to one endpoint: the durable truth of a delivery (the queue only wakes it up). Fan-out
 * creates `ordered` rows; replays and test pings create unordered ones. `next_attempt_at` is both the
 * schedule and the claim: a consumer pushes it forward before it sends, NULL means "held" behind an
 * earlier event of the same subject that is still pending for this endpoint.
 */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ["live", "test"] }).notNull(),
    endpointId: text("endpoint_id").notNull(),
    eventId: text("event_id").notNull(),
    eventType: text("event_type").notNull(),
    subjectId: text("subject_id").notNull(),
    sequence: integer("sequence").notNull(),
    ordered: integer("ordered", { mode: "boolean" }).notNull(),
    /** Set on deliveries created by a replay (`whr_…` for a range replay, `event` for a single one). */
    replayId: text("replay_id"),
    status: text("status", { enum: ["pending", "succeeded", "failed"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: integer("next_attempt_at", { mode: "timestamp_ms" }),
    firstAttemptAt: integer("first_attempt_at", { mode: "timestamp_ms" }),
    lastAttemptAt: integer("last_attempt_at", { mode: "timestamp_ms" }),
    lastStatusCode: integer("last_status_code"),
    lastError: text("last_error"),
    completedAt: integer("completed_at", { mode: "timestamp_ms" }),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    index("webhook_deliveries_endpoint_id").on(t.endpointId, t.id),
    index("webhook_deliveries_order").on(t.endpointId, t.subjectId, t.sequence),
    index("webhook_deliveries_due").on(t.status, t.nextAttemptAt),
    index("webhook_deliveries_event").on(t.eventId),
    index("webhook_deliveries_created").on(t.createdAt),
  ],
);

/** Every HTTP attempt of a delivery, for the deliveries log. */
export const webhookAttempts = sqliteTable(
  "webhook_attempts",
  {
    id: text("id").primaryKey(),
    deliveryId: text("delivery_id").notNull(),
    endpointId: text("endpoint_id").notNull(),
    attemptedAt: integer("attempted_at", { mode: "timestamp_ms" }).notNull(),
    /** Null when no HTTP response came back (refused by the URL guard, timeout, connection error). */
    statusCode: integer("status_code"),
    latencyMs: integer("latency_ms").notNull(),
    error: text("error"),
    /** The first bytes of the receiver's answer, control characters removed. */
    responseExcerpt: text("response_excerpt"),
  },
  (t) => [
    index("webhook_attempts_delivery").on(t.deliveryId, t.attemptedAt),
    index("webhook_attempts_endpoint").on(t.endpointId, t.attemptedAt),
  ],
);

/** A range replay to one endpoint, worked through page by page in the background. */
export const webhookReplays = sqliteTable(
  "webhook_replays",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ["live", "test"] }).notNull(),
    endpointId: text("endpoint_id").notNull(),
    since: integer("since", { mode: "timestamp_ms" }).notNull(),
    until: integer("until", { mode: "timestamp_ms" }).notNull(),
    onlyFailed: integer("only_failed", { mode: "boolean" }).notNull(),
    status: text("status", { enum: ["running", "completed"] }).notNull(),
    /** Events looked at so far, and deliveries created for them. */
    scanned: integer("scanned").notNull().default(0),
    replayed: integer("replayed").notNull().default(0),
    /** Last event id handled: the next page starts after it. */
    cursor: text("cursor"),
    /** Lease of the background worker; the sweeper picks up a running replay whose lease ran out. */
    leaseUntil: integer("lease_until", { mode: "timestamp_ms" }),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
    completedAt: integer("completed_at", { mode: "timestamp_ms" }),
  },
  (t) => [index("webhook_replays_endpoint").on(t.endpointId, t.id)],
);

export type WebhookEndpointRow = typeof webhookEndpoints.$inferSelect;
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
export type WebhookAttemptRow = typeof webhookAttempts.$inferSelect;
export type WebhookReplayRow = typeof webhookReplays.$inferSelect;
