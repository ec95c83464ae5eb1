import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

// ---- Audiences: lists, imports, segments, suppressions, media -------------------------------------------
// Re-exported by schema.ts; same conventions (ms timestamps, every row scoped by tenant + environment).

const ENVIRONMENTS = ["live", "test"] as const;
const CHANNELS = ["whatsapp", "sms", "email"] as const;

/** A named, hand-curated set of contacts (`lst_…`). */
export const lists = sqliteTable(
  "lists",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ENVIRONMENTS }).notNull(),
    name: text("name").notNull(),
    description: text("description"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [index("lists_tenant_env_id").on(t.tenantId, t.environment, t.id)],
);

/** List membership; adding a member twice is a no-op (primary key). */
export const listMembers = sqliteTable(
  "list_members",
  {
    listId: text("list_id").notNull(),
    contactId: text("contact_id").notNull(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ENVIRONMENTS }).notNull(),
    addedAt: integer("added_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.listId, t.contactId] }), index("list_members_contact").on(t.contactId)],
);

export const IMPORT_STATUSES = ["pending", "processing", "completed", "failed"] as const;
export type ImportStatus = (typeof IMPORT_STATUSES)[number];

export interface ImportCounts {
  rows: number;
  created: number;
  updated: number;
  skipped: number;
  failed: number;
}

/**
 * A contact import (`imp_…`). The file is kept in R2 (`objectKey`) and processed in chunks by the sends
 * queue; `checkpointOffset`/`checkpointRow` say where the next chunk starts, so a redelivered or resumed job
 * neither loses nor repeats rows.
 */
export const contactImports = sqliteTable(
  "contact_imports",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ENVIRONMENTS }).notNull(),
    status: text("status", { enum: IMPORT_STATUSES }).notNull(),
    format: text("format", { enum: ["csv", "ndjson"] }).notNull(),
    /** `body`: uploaded as the request body; `url`: fetched from a presigned URL first. */
    source: text("source", { enum: ["body", "url"] }).notNull(),
    /** The presigned URL, encrypted (it is a credential); null once copied into R2 or for body uploads. */
    sourceUrlCiphertext: text("source_url_ciphertext"),
    /** Host of the source URL, for display (never the signed query string). */
    sourceHost: text("source_host"),
    listId: text("list_id"),
    tags: text("tags", { mode: "json" }).$type<string[]>().notNull(),
    defaultCountry: text("default_country"),
    objectKey: text("object_key"),
    sizeBytes: integer("size_bytes"),
    /** The header row (CSV column names, lower-cased), kept so a resumed chunk can parse mid-file. */
    columns: text("columns", { mode: "json" }).$type<string[]>(),
    checkpointOffset: integer("checkpoint_offset").notNull().default(0),
    checkpointRow: integer("checkpoint_row").notNull().default(0),
    counts: text("counts", { mode: "json" }).$type<ImportCounts>().notNull(),
    /** The first 100 row errors: `{ row, message }`. */
    errors: text("errors", { mode: "json" }).$type<Array<{ row: number; message: string }>>().notNull(),
    failureReason: text("failure_reason"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
    completedAt: integer("completed_at", { mode: "timestamp_ms" }),
  },
  (t) => [index("contact_imports_tenant_env_id").on(t.tenantId, t.environment, t.id)],
);

/** A saved audience filter (`seg_…`), evaluated in D1 whenever it is counted or paged. */
export const segments = sqliteTable(
  "segments",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ENVIRONMENTS }).notNull(),
    name: text("name").notNull(),
    description: text("description"),
    filter: text("filter", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [index("segments_tenant_env_id").on(t.tenantId, t.environment, t.id)],
);

export const SUPPRESSION_REASONS = ["opt_out", "bounce", "complaint", "manual"] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

/** An address no send may reach on a channel (`sup_…`): one row per (tenant, env, channel, address). */
export const suppressions = sqliteTable(
  "suppressions",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ENVIRONMENTS }).notNull(),
    channel: text("channel", { enum: CHANNELS }).notNull(),
    address: text("address").notNull(),
    reason: text("reason", { enum: SUPPRESSION_REASONS }).notNull(),
    /** What caused it: an inbound message id, a message id (bounce), or null (manual). */
    sourceId: text("source_id"),
    note: text("note"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    uniqueIndex("suppressions_address").on(t.tenantId, t.environment, t.channel, t.address),
    index("suppressions_tenant_env_id").on(t.tenantId, t.environment, t.id),
  ],
);

export const MEDIA_STATUSES = ["processing", "ready", "failed"] as const;

/** An uploaded file (`med_…`), bytes in the MEDIA R2 bucket; the same bytes twice are one media. */
export const media = sqliteTable(
  "media",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ENVIRONMENTS }).notNull(),
    status: text("status", { enum: MEDIA_STATUSES }).notNull(),
    /** Detected from the bytes (magic numbers), not taken from the upload's Content-Type. */
    contentType: text("content_type"),
    sizeBytes: integer("size_bytes"),
    sha256: text("sha256"),
    filename: text("filename"),
    objectKey: text("object_key"),
    /** JSON `{url}` uploads: the source, encrypted until it has been fetched. */
    sourceUrlCiphertext: text("source_url_ciphertext"),
    failureReason: text("failure_reason"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
    deletedAt: integer("deleted_at", { mode: "timestamp_ms" }),
  },
  (t) => [
    index("media_tenant_env_id").on(t.tenantId, t.environment, t.id),
    uniqueIndex("media_sha256").on(t.tenantId, t.environment, t.sha256).where(sql`${t.deletedAt} IS NULL`),
  ],
);

export type ListRow = typeof lists.$inferSelect;
export type ListMemberRow = typeof listMembers.$inferSelect;
export type ContactImportRow = typeof contactImports.$inferSelect;
export type SegmentRow = typeof segments.$inferSelect;
export type SuppressionRow = typeof suppressions.$inferSelect;
export type MediaRow = typeof media.$inferSelect;
