import { z } from "@hono/zod-openapi";
import { and, desc, eq, inArray, lt, sql } from "drizzle-orm";
import { createDb, type Db, isUniqueViolation } from "../db/client";
import {
  type ContactAddressRow,
  type ContactRow,
  contactAddresses,
  contacts,
  conversations,
  listMembers,
} from "../db/schema";
import {
  type AttributeValue,
  MAX_ATTRIBUTES,
  mergeAttributes,
  normalizeAddress,
  normalizeTags,
} from "../domain/contacts";
import type { Principal } from "../env";
import { ApiError, type ErrorDetail } from "../errors";
import { newId } from "../ids";
import { principalOf } from "../middleware/auth";
import {
  type AddressSchema,
  CONTACT_EXAMPLE_ID,
  CONTACTS_READ,
  ContactSchema,
  CreateContactBody,
  ListContactsQuery,
  renderContact,
  UpdateContactBody,
} from "./contact-schemas";
import {
  decodeCursor,
  IdParamSchema,
  jsonResponse,
  listSchema,
  newRouter,
  page,
  scopedRoute,
} from "./shared";

const tags = ["Contacts"];
const ContactIdParam = IdParamSchema(CONTACT_EXAMPLE_ID);

const createContactRoute = scopedRoute(
  "contacts:manage",
  {
    method: "post",
    path: "/v1/contacts",
    tags,
    summary: "Create a contact",
    description:
      "A person with your id for them, channel addresses (each belongs to one contact), tags and attributes. " +
      "Inbound messages from an address are attached to its contact.",
    request: { body: { required: true, content: { "application/json": { schema: CreateContactBody } } } },
    responses: { 201: jsonResponse("The contact.", ContactSchema) },
  },
  ["validation_error", "invalid_json", "contact_exists"],
);

const listContactsRoute = scopedRoute(
  CONTACTS_READ,
  {
    method: "get",
    path: "/v1/contacts",
    tags,
    summary: "List contacts",
    request: { query: ListContactsQuery },
    responses: { 200: jsonResponse("A page of contacts.", listSchema(ContactSchema, "ContactList")) },
  },
  ["validation_error", "invalid_cursor"],
);

const getContactRoute = scopedRoute(
  CONTACTS_READ,
  {
    method: "get",
    path: "/v1/contacts/{id}",
    tags,
    summary: "Retrieve a contact",
    request: { params: ContactIdParam },
    responses: { 200: jsonResponse("The contact.", ContactSchema) },
  },
  ["resource_not_found"],
);

const updateContactRoute = scopedRoute(
  "contacts:manage",
  {
    method: "patch",
    path: "/v1/contacts/{id}",
    tags,
    summary: "Update a contact",
    request: {
      params: ContactIdParam,
      body: { required: true, content: { "application/json": { schema: UpdateContactBody } } },
    },
    responses: { 200: jsonResponse("The contact.", ContactSchema) },
  },
  ["validation_error", "invalid_json", "resource_not_found", "contact_exists"],
);

const DeletedContactSchema = z
  .object({ object: z.literal("contact"), id: z.string(), deleted: z.literal(true) })
  .openapi("DeletedContact");

const deleteContactRoute = scopedRoute(
  "contacts:manage",
  {
    method: "delete",
    path: "/v1/contacts/{id}",
    tags,
    summary: "Delete a contact",
    description: "Removes the contact and frees its addresses; messages already sent or received stay.",
    request: { params: ContactIdParam },
    responses: { 200: jsonResponse("Deleted.", DeletedContactSchema) },
  },
  ["resource_not_found"],
);

const contactScope = (caller: Principal) =>
  and(eq(contacts.tenantId, caller.tenantId), eq(contacts.environment, caller.environment));

async function findContact(db: Db, caller: Principal, id: string): Promise<ContactRow> {
  const [row] = await db
    .select()
    .from(contacts)
    .where(and(contactScope(caller), eq(contacts.id, id)))
    .limit(1);
  if (!row) throw new ApiError("resource_not_found", "No contact with that id exists in this environment.");
  return row;
}

async function addressesOf(db: Db, contactIds: string[]) {
  const byContact = new Map<string, ContactAddressRow[]>();
  if (contactIds.length === 0) return byContact;
  const rows = await db
    .select()
    .from(contactAddresses)
    .where(inArray(contactAddresses.contactId, contactIds));
  for (const row of rows) byContact.set(row.contactId, [...(byContact.get(row.contactId) ?? []), row]);
  return byContact;
}

/** Normalised address rows for a contact, or a 400 naming each address that is not one. */
function addressRows(
  caller: Principal,
  contactId: string,
  input: z.infer<typeof AddressSchema>[],
  now: Date,
): ContactAddressRow[] {
  const problems: ErrorDetail[] = [];
  const rows = new Map<string, ContactAddressRow>();
  input.forEach((entry, i) => {
    const normalised = normalizeAddress(entry.channel, entry.address);
    if (!normalised.ok) {
      problems.push({ path: `addresses[${i}].address`, message: normalised.reason });
      return;
    }
    rows.set(`${entry.channel} ${normalised.address}`, {
      tenantId: caller.tenantId,
      environment: caller.environment,
      channel: entry.channel,
      address: normalised.address,
      contactId,
      country: normalised.country,
      lineType: normalised.lineType,
      createdAt: now,
    });
  });
  if (problems.length > 0) {
    throw new ApiError(
      "validation_error",
      `Invalid body. ${problems.map((p) => `${p.path}: ${p.message}`).join(" ")}`,
      {
        details: problems,
      },
    );
  }
  return [...rows.values()];
}

/** 409 naming the contact that already holds the external id or one of the addresses (checked before writing;
 * the unique indexes catch a concurrent writer). */
async function assertUnclaimed(
  db: Db,
  caller: Principal,
  contactId: string,
  externalId: string | null | undefined,
  addresses: ContactAddressRow[],
) {
  if (externalId) {
    const [clash] = await db
      .select({ id: contacts.id })
      .from(contacts)
      .where(
        and(contactScope(caller), eq(contacts.externalId, externalId), sql`${contacts.id} != ${contactId}`),
      )
      .limit(1);
    if (clash)
      throw new ApiError("contact_exists", `Contact ${clash.id} already has external_id ${externalId}.`);
  }
  for (const row of addresses) {
    const [clash] = await db
      .select({ id: contactAddresses.contactId })
      .from(contactAddresses)
      .where(
        and(
          eq(contactAddresses.tenantId, caller.tenantId),
          eq(contactAddresses.environment, caller.environment),
          eq(contactAddresses.channel, row.channel),
          eq(contactAddresses.address, row.address),
          sql`${contactAddresses.contactId} != ${contactId}`,
        ),
      )
      .limit(1);
    if (clash) {
      throw new ApiError(
        "contact_exists",
        `Contact ${clash.id} already has the ${row.channel} address ${row.address}; remove it there first.`,
      );
    }
  }
}

/** A lost race against another writer surfaces as a unique-constraint failure: the same 409. */
async function writeOrConflict<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new ApiError("contact_exists", "Another contact just took this external_id or address; retry.");
    }
    throw error;
  }
}

function checkAttributeCount(attributes: Record<string, AttributeValue>) {
  if (Object.keys(attributes).length > MAX_ATTRIBUTES) {
    const message = `A contact holds at most ${MAX_ATTRIBUTES} attributes.`;
    throw new ApiError("validation_error", `Invalid body. attributes: ${message}`, {
      details: [{ path: "attributes", message }],
    });
  }
}

export const contactsRouter = newRouter()
  .openapi(createContactRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    const db = createDb(c.env.DB);
    const now = new Date();
    const attributes = body.attributes ?? {};
    checkAttributeCount(attributes);
    const row: ContactRow = {
      id: newId("contact"),
      tenantId: caller.tenantId,
      environment: caller.environment,
      externalId: body.external_id ?? null,
      name: body.name ?? null,
      tags: normalizeTags(body.tags ?? []),
      attributes,
      createdAt: now,
      updatedAt: now,
    };
    const addresses = addressRows(caller, row.id, body.addresses ?? [], now);
    await assertUnclaimed(db, caller, row.id, row.externalId, addresses);
    await writeOrConflict(() =>
      db.batch([
        db.insert(contacts).values(row),
        ...addresses.map((address) => db.insert(contactAddresses).values(address)),
      ]),
    );
    return c.json(renderContact(row, addresses), 201);
  })
  .openapi(listContactsRoute, async (c) => {
    const caller = principalOf(c);
    const query = c.req.valid("query");
    const after = decodeCursor(query.cursor);
    const db = createDb(c.env.DB);
    const address = query.address
      ? normalizeAddress(query.address.includes("@") ? "email" : "sms", query.address)
      : null;
    if (address && !address.ok) {
      throw new ApiError("validation_error", `Invalid query. address: ${address.reason}`, {
        details: [{ path: "address", message: address.reason }],
      });
    }
    const rows = await db
      .select()
      .from(contacts)
      .where(
        and(
          contactScope(caller),
          query.external_id ? eq(contacts.externalId, query.external_id) : undefined,
          query.tag
            ? sql`EXISTS (SELECT 1 FROM json_each(${contacts.tags}) WHERE json_each.value = ${query.tag.trim().toLowerCase()})`
            : undefined,
          address?.ok
            ? sql`EXISTS (SELECT 1 FROM ${contactAddresses} a WHERE a.contact_id = ${contacts.id} AND a.address = ${address.address})`
            : undefined,
          after ? lt(contacts.id, after) : undefined,
        ),
      )
      .orderBy(desc(contacts.id))
      .limit(query.limit + 1);
    const addresses = await addressesOf(
      db,
      rows.slice(0, query.limit).map((row) => row.id),
    );
    return c.json(
      page(rows, query.limit, (row) => renderContact(row, addresses.get(row.id) ?? [])),
      200,
    );
  })
  .openapi(getContactRoute, async (c) => {
    const db = createDb(c.env.DB);
    const row = await findContact(db, principalOf(c), c.req.valid("param").id);
    const addresses = await addressesOf(db, [row.id]);
    return c.json(renderContact(row, addresses.get(row.id) ?? []), 200);
  })
  .openapi(updateContactRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    const db = createDb(c.env.DB);
    const current = await findContact(db, caller, c.req.valid("param").id);
    const now = new Date();
    const attributes = body.attributes
      ? mergeAttributes(current.attributes, body.attributes)
      : current.attributes;
    checkAttributeCount(attributes);
    const row: ContactRow = {
      ...current,
      externalId: body.external_id === undefined ? current.externalId : body.external_id,
      name: body.name === undefined ? current.name : body.name,
      tags: body.tags ? normalizeTags(body.tags) : current.tags,
      attributes,
      updatedAt: now,
    };
    const addresses = body.addresses ? addressRows(caller, row.id, body.addresses, now) : null;
    await assertUnclaimed(db, caller, row.id, body.external_id, addresses ?? []);
    await writeOrConflict(() =>
      db.batch([
        db
          .update(contacts)
          .set({
            externalId: row.externalId,
            name: row.name,
            tags: row.tags,
            attributes: row.attributes,
            updatedAt: now,
          })
          .where(and(contactScope(caller), eq(contacts.id, row.id))),
        ...(addresses
          ? [
              db.delete(contactAddresses).where(eq(contactAddresses.contactId, row.id)),
              ...addresses.map((address) => db.insert(contactAddresses).values(address)),
            ]
          : []),
      ]),
    );
    const shown = addresses ?? (await addressesOf(db, [row.id])).get(row.id) ?? [];
    return c.json(renderContact(row, shown), 200);
  })
  .openapi(deleteContactRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const row = await findContact(db, caller, c.req.valid("param").id);
    await db.batch([
      db.delete(contactAddresses).where(eq(contactAddresses.contactId, row.id)),
      db.delete(listMembers).where(eq(listMembers.contactId, row.id)),
      db.delete(contacts).where(and(contactScope(caller), eq(contacts.id, row.id))),
      // Conversations and their messages stay; the next inbound message links a contact again.
      db.update(conversations).set({ contactId: null }).where(eq(conversations.contactId, row.id)),
    ]);
    return c.json({ object: "contact" as const, id: row.id, deleted: true as const }, 200);
  });
