import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

// ---- Contacts -----------------------------------------------------------------------------------------
// Re-exported by schema.ts; same conventions (ms timestamps, every row scoped by tenant + environment).

/** A person the tenant talks to, with the tenant's own id for them, tags and free-form attributes. */
export const contacts = sqliteTable(
  "contacts",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ["live", "test"] }).notNull(),
    /** The tenant's id for this person; unique per environment when set. */
    externalId: text("external_id"),
    name: text("name"),
    tags: text("tags", { mode: "json" }).$type<string[]>().notNull(),
    attributes: text("attributes", { mode: "json" })
      .$type<Record<string, string | number | boolean>>()
      .notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    index("contacts_tenant_env_id").on(t.tenantId, t.environment, t.id),
    uniqueIndex("contacts_external_id").on(t.tenantId, t.environment, t.externalId),
  ],
);

/**
 * A contact's channel addresses (normalised: E.164 phone numbers, lower-case email domains). The primary
 * key makes an address belong to one contact per environment, which is how an inbound message finds it.
 */
export const contactAddresses = sqliteTable(
  "contact_addresses",
  {
    tenantId: text("tenant_id").notNull(),
    environment: text("environment", { enum: ["live", "test"] }).notNull(),
    channel: text("channel", { enum: ["whatsapp", "sms", "email"] }).notNull(),
    address: text("address").notNull(),
    contactId: text("contact_id").notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    // Added by migration 0009, so after created_at in the table, as here: positional INSERT … SELECTs
    // (drizzle lists every column in this order) must give these two last.
    /** Phone addresses: ISO 3166-1 alpha-2 region of the number (null for email). */
    country: text("country"),
    /** Phone addresses: what the numbering plan says the line is (null for email), see domain/phone.ts. */
    lineType: text("line_type", {
      enum: [
        "mobile",
        "landline",
        "mobile_or_landline",
        "voip",
        "toll_free",
        "premium",
        "unknown",
        "invalid",
      ],
    }),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.environment, t.channel, t.address] }),
    // A contact's addresses on a channel, oldest first: a broadcast snapshot picks one per contact with it.
    index("contact_addresses_contact_channel").on(t.contactId, t.channel, t.createdAt, t.address),
  ],
);

export type ContactRow = typeof contacts.$inferSelect;
export type ContactAddressRow = typeof contactAddresses.$inferSelect;
