import { z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { createDb, type Db } from "../db/client";
import { type ListRow, lists } from "../db/schema";
import type { Principal } from "../env";
import { ApiError } from "../errors";
import { newId } from "../ids";
import { principalOf } from "../middleware/auth";
import {
  addListMembers,
  addressesByContact,
  deleteList,
  findList,
  listMemberCount,
  listMembersPage,
  listsPage,
  MAX_MEMBERS_PER_CALL,
  removeListMember,
  unknownContactIds,
} from "../services/lists";
import { CONTACTS_READ, ContactSchema, renderContact } from "./contact-schemas";
import {
  decodeCursor,
  IdParamSchema,
  jsonResponse,
  listSchema,
  newRouter,
  PaginationQuerySchema,
  page,
  scopedRoute,
  Timestamp,
  toTimestamp,
} from "./shared";

const LIST_EXAMPLE_ID = "lst_01jd3x6n2m8q4v7w9y0z1a2b3c";
const CONTACT_EXAMPLE_ID = "con_01jd3x6n2m8q4v7w9y0z1a2b3c";

const ListSchema = z
  .object({
    object: z.literal("list"),
    id: z.string().openapi({ example: LIST_EXAMPLE_ID }),
    name: z.string().openapi({ example: "Black Friday VIPs" }),
    description: z.string().nullable().openapi({ example: "Customers who bought twice in 2026." }),
    contact_count: z
      .number()
      .int()
      .openapi({ description: "Members now (counted on every read).", example: 1250 }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("List");

const ListName = z.string().trim().min(1).max(200).openapi({ example: "Black Friday VIPs" });
const ListDescription = z
  .string()
  .max(1000)
  .openapi({ description: "Up to 1,000 characters.", example: "Customers who bought twice in 2026." });

const CreateListBody = z
  .strictObject({ name: ListName, description: ListDescription.nullable().optional() })
  .openapi("CreateListRequest");

const UpdateListBody = z
  .strictObject({
    name: ListName.optional(),
    description: ListDescription.nullable().optional().openapi({ description: "null clears it." }),
  })
  .refine((body) => Object.keys(body).length > 0, "Send at least one field to change.")
  .openapi("UpdateListRequest");

const AddMembersBody = z
  .strictObject({
    contact_ids: z
      .array(z.string().min(1).max(64))
      .min(1)
      .max(MAX_MEMBERS_PER_CALL)
      .openapi({
        description: `1–${MAX_MEMBERS_PER_CALL} contact ids (\`con_…\`) of this environment; duplicates count once.`,
        example: [CONTACT_EXAMPLE_ID],
      }),
  })
  .openapi("AddListMembersRequest");

const MembershipUpdateSchema = z
  .object({
    object: z.literal("list_membership_update"),
    list_id: z.string().openapi({ example: LIST_EXAMPLE_ID }),
    added: z.number().int().openapi({ description: "Contacts that were not members before.", example: 2 }),
    already_members: z
      .number()
      .int()
      .openapi({ description: "Contacts that were members already (left as they were).", example: 1 }),
    contact_count: z.number().int().openapi({ description: "Members after this call.", example: 1253 }),
  })
  .openapi("ListMembershipUpdate");

const DeletedListSchema = z
  .object({ object: z.literal("list"), id: z.string(), deleted: z.literal(true) })
  .openapi("DeletedList");

const RemovedMemberSchema = z
  .object({
    object: z.literal("list_membership"),
    list_id: z.string().openapi({ example: LIST_EXAMPLE_ID }),
    contact_id: z.string().openapi({ example: CONTACT_EXAMPLE_ID }),
    deleted: z.literal(true),
  })
  .openapi("RemovedListMember");

const ListIdParam = IdParamSchema(LIST_EXAMPLE_ID);
const MemberParams = ListIdParam.extend({
  contact_id: z
    .string()
    .max(64)
    .openapi({ param: { name: "contact_id", in: "path" }, example: CONTACT_EXAMPLE_ID }),
});

const tags = ["Lists"];

const createListRoute = scopedRoute(
  "contacts:manage",
  {
    method: "post",
    path: "/v1/lists",
    tags,
    summary: "Create a list",
    description: "A named, hand-curated set of contacts (`lst_…`), e.g. to send a broadcast to.",
    request: { body: { required: true, content: { "application/json": { schema: CreateListBody } } } },
    responses: { 201: jsonResponse("The list (no members yet).", ListSchema) },
  },
  ["validation_error", "invalid_json"],
);

const listListsRoute = scopedRoute(
  CONTACTS_READ,
  {
    method: "get",
    path: "/v1/lists",
    tags,
    summary: "List lists",
    description: "Newest first, each with its member count.",
    request: { query: PaginationQuerySchema },
    responses: { 200: jsonResponse("A page of lists.", listSchema(ListSchema, "ListList")) },
  },
  ["validation_error", "invalid_cursor"],
);

const getListRoute = scopedRoute(
  CONTACTS_READ,
  {
    method: "get",
    path: "/v1/lists/{id}",
    tags,
    summary: "Retrieve a list",
    request: { params: ListIdParam },
    responses: { 200: jsonResponse("The list.", ListSchema) },
  },
  ["resource_not_found"],
);

const updateListRoute = scopedRoute(
  "contacts:manage",
  {
    method: "patch",
    path: "/v1/lists/{id}",
    tags,
    summary: "Update a list",
    description: "Renames the list or changes its description; members are changed through its contacts.",
    request: {
      params: ListIdParam,
      body: { required: true, content: { "application/json": { schema: UpdateListBody } } },
    },
    responses: { 200: jsonResponse("The list.", ListSchema) },
  },
  ["validation_error", "invalid_json", "resource_not_found"],
);

const deleteListRoute = scopedRoute(
  "contacts:manage",
  {
    method: "delete",
    path: "/v1/lists/{id}",
    tags,
    summary: "Delete a list",
    description:
      "Removes the list and its memberships; the contacts themselves stay. Segments that name the list " +
      "in a `list_id` condition then match nobody through it.",
    request: { params: ListIdParam },
    responses: { 200: jsonResponse("Deleted.", DeletedListSchema) },
  },
  ["resource_not_found"],
);

const addMembersRoute = scopedRoute(
  "contacts:manage",
  {
    method: "post",
    path: "/v1/lists/{id}/contacts",
    tags,
    summary: "Add contacts to a list",
    description:
      `Adds up to ${MAX_MEMBERS_PER_CALL} contacts per call. Idempotent: a contact already on the list is ` +
      "left as it was and counted in `already_members`. All or nothing: if any id is not a contact of this " +
      "environment (unknown, deleted, or another tenant's), nothing is added and the 404 lists each such " +
      "id in `details` (`contact_ids[i]`).",
    request: {
      params: ListIdParam,
      body: { required: true, content: { "application/json": { schema: AddMembersBody } } },
    },
    responses: { 200: jsonResponse("What changed.", MembershipUpdateSchema) },
  },
  ["validation_error", "invalid_json", "resource_not_found"],
);

const removeMemberRoute = scopedRoute(
  "contacts:manage",
  {
    method: "delete",
    path: "/v1/lists/{id}/contacts/{contact_id}",
    tags,
    summary: "Remove a contact from a list",
    description: "The contact stays; only its membership goes. 404 when it is not on the list.",
    request: { params: MemberParams },
    responses: { 200: jsonResponse("Removed.", RemovedMemberSchema) },
  },
  ["resource_not_found"],
);

const listMembersRoute = scopedRoute(
  CONTACTS_READ,
  {
    method: "get",
    path: "/v1/lists/{id}/contacts",
    tags,
    summary: "List a list's contacts",
    description: "The members, rendered as `GET /v1/contacts` does, newest contact first.",
    request: { params: ListIdParam, query: PaginationQuerySchema },
    responses: {
      200: jsonResponse("A page of contacts.", listSchema(ContactSchema, "ListContactList")),
    },
  },
  ["validation_error", "invalid_cursor", "resource_not_found"],
);

function renderList(row: ListRow, contactCount: number): z.infer<typeof ListSchema> {
  return {
    object: "list",
    id: row.id,
    name: row.name,
    description: row.description,
    contact_count: contactCount,
    created_at: toTimestamp(row.createdAt),
    updated_at: toTimestamp(row.updatedAt),
  };
}

async function requireList(db: Db, caller: Principal, id: string): Promise<ListRow> {
  const row = await findList(db, caller, id);
  if (!row) throw new ApiError("resource_not_found", "No list with that id exists in this environment.");
  return row;
}

export const listsRouter = newRouter()
  .openapi(createListRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    const now = new Date();
    const row: ListRow = {
      id: newId("list"),
      tenantId: caller.tenantId,
      environment: caller.environment,
      name: body.name,
      description: body.description ?? null,
      createdAt: now,
      updatedAt: now,
    };
    await createDb(c.env.DB).insert(lists).values(row);
    return c.json(renderList(row, 0), 201);
  })
  .openapi(listListsRoute, async (c) => {
    const query = c.req.valid("query");
    const after = decodeCursor(query.cursor);
    const rows = await listsPage(createDb(c.env.DB), principalOf(c), after, query.limit);
    const entries = rows.map((r) => ({ ...r, id: r.list.id }));
    return c.json(
      page(entries, query.limit, (r) => renderList(r.list, Number(r.contactCount))),
      200,
    );
  })
  .openapi(getListRoute, async (c) => {
    const db = createDb(c.env.DB);
    const row = await requireList(db, principalOf(c), c.req.valid("param").id);
    return c.json(renderList(row, await listMemberCount(db, row.id)), 200);
  })
  .openapi(updateListRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    const db = createDb(c.env.DB);
    const current = await requireList(db, caller, c.req.valid("param").id);
    const row: ListRow = {
      ...current,
      name: body.name ?? current.name,
      description: body.description === undefined ? current.description : body.description,
      updatedAt: new Date(),
    };
    await db
      .update(lists)
      .set({ name: row.name, description: row.description, updatedAt: row.updatedAt })
      .where(
        and(
          eq(lists.tenantId, caller.tenantId),
          eq(lists.environment, caller.environment),
          eq(lists.id, row.id),
        ),
      );
    return c.json(renderList(row, await listMemberCount(db, row.id)), 200);
  })
  .openapi(deleteListRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const row = await requireList(db, caller, c.req.valid("param").id);
    await deleteList(db, caller, row.id);
    return c.json({ object: "list" as const, id: row.id, deleted: true as const }, 200);
  })
  .openapi(addMembersRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const list = await requireList(db, caller, c.req.valid("param").id);
    const requested = c.req.valid("json").contact_ids;
    const ids = [...new Set(requested)];
    const unknown = new Set(await unknownContactIds(db, caller, ids));
    if (unknown.size > 0) {
      const details = requested
        .map((id, i) => ({ id, path: `contact_ids[${i}]` }))
        .filter((entry) => unknown.has(entry.id))
        .slice(0, 20)
        .map(({ id, path }) => ({ path, message: `No contact ${id.slice(0, 64)} in this environment.` }));
      throw new ApiError(
        "resource_not_found",
        `${unknown.size} of the contact ids are not contacts of this environment, so nothing was added ` +
          `(${details
            .slice(0, 3)
            .map((d) => d.path)
            .join(", ")}${unknown.size > 3 ? ", …" : ""}).`,
        { details },
      );
    }
    const added = await addListMembers(db, caller, list.id, ids, new Date());
    return c.json(
      {
        object: "list_membership_update" as const,
        list_id: list.id,
        added,
        already_members: ids.length - added,
        contact_count: await listMemberCount(db, list.id),
      },
      200,
    );
  })
  .openapi(removeMemberRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const params = c.req.valid("param");
    const list = await requireList(db, caller, params.id);
    if (!(await removeListMember(db, caller, list.id, params.contact_id))) {
      throw new ApiError("resource_not_found", "That contact is not on this list.");
    }
    return c.json(
      {
        object: "list_membership" as const,
        list_id: list.id,
        contact_id: params.contact_id,
        deleted: true as const,
      },
      200,
    );
  })
  .openapi(listMembersRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const query = c.req.valid("query");
    const after = decodeCursor(query.cursor);
    const list = await requireList(db, caller, c.req.valid("param").id);
    const rows = await listMembersPage(db, caller, list.id, after, query.limit);
    const addresses = await addressesByContact(
      db,
      rows.slice(0, query.limit).map((row) => row.id),
    );
    return c.json(
      page(rows, query.limit, (row) => renderContact(row, addresses.get(row.id) ?? [])),
      200,
    );
  });
