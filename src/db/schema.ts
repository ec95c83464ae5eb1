import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

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
