import { z } from "@hono/zod-openapi";
import type { ContactAddressRow, ContactRow } from "../db/schema";
import { MAX_ADDRESSES, MAX_ATTRIBUTES, MAX_TAGS } from "../domain/contacts";
import { describePhone, LINE_TYPES } from "../domain/phone";
import { PaginationQuerySchema, Timestamp, toTimestamp } from "./shared";

// The contact object, its request bodies and list query: shared by contacts, lists and segments routes.

/** Reading contacts (and lists, segments) takes `contacts:read`; `contacts:manage` includes it. */
export const CONTACTS_READ = ["contacts:read", "contacts:manage"] as const;

export const CONTACT_EXAMPLE_ID = "con_01jd3x6n2m8q4v7w9y0z1a2b3c";
const ChannelSchema = z.enum(["whatsapp", "sms", "email"]);

export const AddressSchema = z
  .strictObject({
    channel: ChannelSchema,
    address: z.string().min(1).max(320).openapi({
      description:
        "E.164 phone number for whatsapp and sms (any common spelling is normalised), or an email.",
      example: "+5511987654321",
    }),
  })
  .openapi("ContactAddress");

const AttributeKey = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.-]+$/, "Use letters, digits, `_`, `.` or `-`.");
const AttributeValueSchema = z.union([z.string().max(1000), z.number().finite(), z.boolean()]);

const TagsSchema = z
  .array(z.string().trim().min(1).max(64))
  .max(MAX_TAGS)
  .openapi({ description: "Labels, compared case-insensitively.", example: ["vip", "newsletter"] });

export const ContactSchema = z
  .object({
    object: z.literal("contact"),
    id: z.string().openapi({ example: CONTACT_EXAMPLE_ID }),
    external_id: z
      .string()
      .nullable()
      .openapi({ description: "Your id for this person.", example: "user_4815" }),
    name: z.string().nullable().openapi({ example: "Maria Silva" }),
    addresses: z.array(
      z.object({
        channel: ChannelSchema,
        address: z.string().openapi({ example: "+5511987654321" }),
        country: z.string().nullable().openapi({
          description:
            "ISO 3166-1 alpha-2 region of a phone number, from the numbering plan; null for email.",
          example: "BR",
        }),
        line_type: z
          .enum(LINE_TYPES)
          .nullable()
          .openapi({
            description:
              "What the numbering plan says the phone line is (offline, libphonenumber). `mobile_or_landline` " +
              "where the plan cannot tell (most US and Canadian numbers). SMS and WhatsApp sends to a `landline` " +
              "are refused. Null for email.",
            example: "mobile",
          }),
      }),
    ),
    tags: z.array(z.string()),
    attributes: z.record(z.string(), AttributeValueSchema).openapi({ example: { plan: "pro", orders: 12 } }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Contact");

const CHANNEL_ORDER = { whatsapp: 0, sms: 1, email: 2 } as const;
const byChannelThenAddress = (a: ContactAddressRow, b: ContactAddressRow) =>
  CHANNEL_ORDER[a.channel] - CHANNEL_ORDER[b.channel] || a.address.localeCompare(b.address);

export function renderContact(
  row: ContactRow,
  addresses: ContactAddressRow[],
): z.infer<typeof ContactSchema> {
  return {
    object: "contact",
    id: row.id,
    external_id: row.externalId,
    name: row.name,
    addresses: [...addresses].sort(byChannelThenAddress).map((a) => {
      // Rows written before line types were recorded are described on the fly.
      const line =
        a.channel === "email"
          ? null
          : a.lineType
            ? { country: a.country, lineType: a.lineType }
            : describePhone(a.address);
      return {
        channel: a.channel,
        address: a.address,
        country: line?.country ?? null,
        line_type: line?.lineType ?? null,
      };
    }),
    tags: row.tags,
    attributes: row.attributes,
    created_at: toTimestamp(row.createdAt),
    updated_at: toTimestamp(row.updatedAt),
  };
}

export const CreateContactBody = z
  .strictObject({
    external_id: z.string().min(1).max(255).optional(),
    name: z.string().min(1).max(200).optional(),
    addresses: z.array(AddressSchema).max(MAX_ADDRESSES).optional(),
    tags: TagsSchema.optional(),
    attributes: z
      .record(AttributeKey, AttributeValueSchema)
      .optional()
      .openapi({
        description: `Up to ${MAX_ATTRIBUTES} keys; values are strings (≤ 1000 characters), numbers or booleans.`,
      }),
  })
  .openapi("CreateContactRequest");

export const UpdateContactBody = z
  .strictObject({
    external_id: z.string().min(1).max(255).nullable().optional(),
    name: z.string().min(1).max(200).nullable().optional(),
    addresses: z
      .array(AddressSchema)
      .max(MAX_ADDRESSES)
      .optional()
      .openapi({ description: "Replaces the contact's addresses." }),
    tags: TagsSchema.optional().openapi({ description: "Replaces the contact's tags." }),
    attributes: z
      .record(AttributeKey, AttributeValueSchema.nullable())
      .optional()
      .openapi({ description: "Merged into the attributes: a value sets a key, null removes it." }),
  })
  .refine((body) => Object.keys(body).length > 0, "Send at least one field to change.")
  .openapi("UpdateContactRequest");

export const ListContactsQuery = PaginationQuerySchema.extend({
  external_id: z
    .string()
    .max(255)
    .optional()
    .openapi({ param: { name: "external_id", in: "query" } }),
  tag: z
    .string()
    .max(64)
    .optional()
    .openapi({ param: { name: "tag", in: "query" } }),
  address: z
    .string()
    .max(320)
    .optional()
    .openapi({
      param: { name: "address", in: "query" },
      description: "A phone number (any spelling) or email address the contact has.",
    }),
});
