import { z } from "@hono/zod-openapi";
import { and, desc, eq, lt } from "drizzle-orm";
import { createDb, type Db } from "../db/client";
import { type ContactRow, type SegmentRow, segments } from "../db/schema";
import {
  FIELD_OPERATORS,
  MAX_FILTER_CONDITIONS,
  MAX_FILTER_DEPTH,
  MAX_IN_VALUES,
  parseSegmentFilter,
  type SegmentFilter,
} from "../domain/segments";
import type { Principal } from "../env";
import { ApiError } from "../errors";
import { newId } from "../ids";
import { principalOf } from "../middleware/auth";
import { addressesByContact } from "../services/lists";
import { countSegment, segmentMembersPage } from "../services/segments";
import { CONTACTS_READ, ContactSchema, renderContact } from "./contact-schemas";
import {
  decodeCursor,
  encodeCursor,
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

const SEGMENT_EXAMPLE_ID = "seg_01jd3x6n2m8q4v7w9y0z1a2b3c";
const PREVIEW_SIZE = 20;

const FILTER_EXAMPLE = {
  all: [
    { field: "tags", op: "contains", value: "vip" },
    { field: "attributes.orders", op: "gte", value: 3 },
    {
      any: [
        { field: "country", op: "in", value: ["BR", "PT"] },
        { field: "list_id", op: "in", value: ["lst_01jd3x6n2m8q4v7w9y0z1a2b3c"] },
      ],
    },
    { field: "line_type", op: "in", value: ["mobile", "mobile_or_landline"] },
  ],
};

const FILTER_DESCRIPTION = [
  'A group `{"all": [...]}` (every item holds) or `{"any": [...]}` (at least one holds); an item is a',
  "condition `{field, op, value}` or another group. Groups nest at most",
  `${MAX_FILTER_DEPTH} deep and hold at most ${MAX_FILTER_CONDITIONS} conditions in all; \`in\` takes 1–${MAX_IN_VALUES} values.`,
  "Fields and operators:",
  ...Object.entries(FIELD_OPERATORS).map(([field, ops]) => `* \`${field}\`: ${ops.join(", ")}`),
  "`tags` values compare case-insensitively. `attributes.<name>` values match only values of their own type",
  '(12 never matches "12"); `gt`/`gte`/`lt`/`lte` take a number, or a string compared as text; `exists`',
  "takes true (omit `value`) or false; `neq` also matches contacts without the attribute. `channel` `has` is",
  "true when the contact has an address on that channel; `country` and `line_type` look at the contact's",
  "phone addresses (any of them); `created_at` takes an RFC 3339 timestamp. A bad field, operator or value",
  "is a 400 whose `details` give its path, e.g. `filter.all[2].op`.",
].join("\n");

const SegmentFilterSchema = z
  .looseObject({
    all: z.array(z.unknown()).optional(),
    any: z.array(z.unknown()).optional(),
  })
  .openapi("SegmentFilter", { description: FILTER_DESCRIPTION, example: FILTER_EXAMPLE });

const SegmentSchema = z
  .object({
    object: z.literal("segment"),
    id: z.string().openapi({ example: SEGMENT_EXAMPLE_ID }),
    name: z.string().openapi({ example: "Brazilian VIPs" }),
    description: z.string().nullable().openapi({ example: "VIPs in Brazil who ordered 3+ times." }),
    filter: SegmentFilterSchema,
    contact_count: z.number().int().nullable().openapi({
      description:
        "Contacts matching now: computed on create, retrieve and update; null in list pages (not computed).",
      example: 318,
    }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Segment");

const SegmentName = z.string().trim().min(1).max(200).openapi({ example: "Brazilian VIPs" });
const SegmentDescription = z
  .string()
  .max(1000)
  .openapi({ description: "Up to 1,000 characters.", example: "VIPs in Brazil who ordered 3+ times." });

const CreateSegmentBody = z
  .strictObject({
    name: SegmentName,
    description: SegmentDescription.nullable().optional(),
    filter: SegmentFilterSchema,
  })
  .openapi("CreateSegmentRequest");

const UpdateSegmentBody = z
  .strictObject({
    name: SegmentName.optional(),
    description: SegmentDescription.nullable().optional().openapi({ description: "null clears it." }),
    filter: SegmentFilterSchema.optional().openapi({ description: "Replaces the filter." }),
  })
  .refine((body) => Object.keys(body).length > 0, "Send at least one field to change.")
  .openapi("UpdateSegmentRequest");

const PreviewBody = z.strictObject({ filter: SegmentFilterSchema }).openapi("PreviewSegmentRequest");

const PreviewSchema = z
  .object({
    object: z.literal("segment_preview"),
    contact_count: z.number().int().openapi({ example: 318 }),
    contacts: z.array(ContactSchema).openapi({ description: `The first ${PREVIEW_SIZE}, newest first.` }),
  })
  .openapi("SegmentPreview");

const DeletedSegmentSchema = z
  .object({ object: z.literal("segment"), id: z.string(), deleted: z.literal(true) })
  .openapi("DeletedSegment");

const SegmentIdParam = IdParamSchema(SEGMENT_EXAMPLE_ID);
const tags = ["Segments"];

const createSegmentRoute = scopedRoute(
  "contacts:manage",
  {
    method: "post",
    path: "/v1/segments",
    tags,
    summary: "Create a segment",
    description:
      "A saved filter over your contacts (`seg_…`). It is evaluated whenever it is counted or paged, so " +
      "its members follow your contacts as they change.",
    request: { body: { required: true, content: { "application/json": { schema: CreateSegmentBody } } } },
    responses: { 201: jsonResponse("The segment, with its count now.", SegmentSchema) },
  },
  ["validation_error", "invalid_json"],
);

const listSegmentsRoute = scopedRoute(
  CONTACTS_READ,
  {
    method: "get",
    path: "/v1/segments",
    tags,
    summary: "List segments",
    description: "Newest first; `contact_count` is null here (retrieve a segment to count it).",
    request: { query: PaginationQuerySchema },
    responses: { 200: jsonResponse("A page of segments.", listSchema(SegmentSchema, "SegmentList")) },
  },
  ["validation_error", "invalid_cursor"],
);

const getSegmentRoute = scopedRoute(
  CONTACTS_READ,
  {
    method: "get",
    path: "/v1/segments/{id}",
    tags,
    summary: "Retrieve a segment",
    description: "With `contact_count` computed now.",
    request: { params: SegmentIdParam },
    responses: { 200: jsonResponse("The segment.", SegmentSchema) },
  },
  ["resource_not_found"],
);

const updateSegmentRoute = scopedRoute(
  "contacts:manage",
  {
    method: "patch",
    path: "/v1/segments/{id}",
    tags,
    summary: "Update a segment",
    request: {
      params: SegmentIdParam,
      body: { required: true, content: { "application/json": { schema: UpdateSegmentBody } } },
    },
    responses: { 200: jsonResponse("The segment, with its count now.", SegmentSchema) },
  },
  ["validation_error", "invalid_json", "resource_not_found"],
);

const deleteSegmentRoute = scopedRoute(
  "contacts:manage",
  {
    method: "delete",
    path: "/v1/segments/{id}",
    tags,
    summary: "Delete a segment",
    description: "Deletes the saved filter; no contact is touched.",
    request: { params: SegmentIdParam },
    responses: { 200: jsonResponse("Deleted.", DeletedSegmentSchema) },
  },
  ["resource_not_found"],
);

const segmentContactsRoute = scopedRoute(
  CONTACTS_READ,
  {
    method: "get",
    path: "/v1/segments/{id}/contacts",
    tags,
    summary: "List a segment's contacts",
    description: "The contacts matching the filter now, newest first, rendered as `GET /v1/contacts` does.",
    request: { params: SegmentIdParam, query: PaginationQuerySchema },
    responses: {
      200: jsonResponse("A page of contacts.", listSchema(ContactSchema, "SegmentContactList")),
    },
  },
  ["validation_error", "invalid_cursor", "resource_not_found"],
);

const previewSegmentRoute = scopedRoute(
  CONTACTS_READ,
  {
    method: "post",
    path: "/v1/segments/preview",
    tags,
    summary: "Preview a filter",
    description: `Counts the contacts a filter matches and shows the first ${PREVIEW_SIZE}, without saving anything.`,
    request: { body: { required: true, content: { "application/json": { schema: PreviewBody } } } },
    responses: { 200: jsonResponse("The count and the first contacts.", PreviewSchema) },
  },
  ["validation_error", "invalid_json"],
  { idempotency: "none" },
);

/** The filter in the body, checked against the grammar: a 400 naming each bad part by its path. */
function validFilter(input: unknown): SegmentFilter {
  const parsed = parseSegmentFilter(input, "filter");
  if (parsed.ok) return parsed.filter;
  const summary = parsed.issues
    .slice(0, 3)
    .map((issue) => `${issue.path}: ${issue.message}`)
    .join(" ");
  throw new ApiError("validation_error", `Invalid filter. ${summary}`, { details: parsed.issues });
}

function renderSegment(row: SegmentRow, contactCount: number | null): z.infer<typeof SegmentSchema> {
  return {
    object: "segment",
    id: row.id,
    name: row.name,
    description: row.description,
    filter: row.filter,
    contact_count: contactCount,
    created_at: toTimestamp(row.createdAt),
    updated_at: toTimestamp(row.updatedAt),
  };
}

const segmentScope = (caller: Principal) =>
  and(eq(segments.tenantId, caller.tenantId), eq(segments.environment, caller.environment));

async function findSegment(db: Db, caller: Principal, id: string): Promise<SegmentRow> {
  const [row] = await db
    .select()
    .from(segments)
    .where(and(segmentScope(caller), eq(segments.id, id)))
    .limit(1);
  if (!row) throw new ApiError("resource_not_found", "No segment with that id exists in this environment.");
  return row;
}

const storedFilter = (row: SegmentRow) => row.filter as unknown as SegmentFilter;

async function renderContacts(db: Db, rows: ContactRow[]) {
  const addresses = await addressesByContact(
    db,
    rows.map((row) => row.id),
  );
  return rows.map((row) => renderContact(row, addresses.get(row.id) ?? []));
}

export const segmentsRouter = newRouter()
  .openapi(previewSegmentRoute, async (c) => {
    const caller = principalOf(c);
    const filter = validFilter(c.req.valid("json").filter);
    const db = createDb(c.env.DB);
    const [count, first] = await Promise.all([
      countSegment(db, caller, filter),
      segmentMembersPage(db, caller, filter, { after: null, limit: PREVIEW_SIZE }),
    ]);
    return c.json(
      {
        object: "segment_preview" as const,
        contact_count: count,
        contacts: await renderContacts(db, first.rows),
      },
      200,
    );
  })
  .openapi(createSegmentRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    const filter = validFilter(body.filter);
    const db = createDb(c.env.DB);
    const now = new Date();
    const row: SegmentRow = {
      id: newId("segment"),
      tenantId: caller.tenantId,
      environment: caller.environment,
      name: body.name,
      description: body.description ?? null,
      filter: filter as unknown as Record<string, unknown>,
      createdAt: now,
      updatedAt: now,
    };
    await db.insert(segments).values(row);
    return c.json(renderSegment(row, await countSegment(db, caller, filter)), 201);
  })
  .openapi(listSegmentsRoute, async (c) => {
    const caller = principalOf(c);
    const query = c.req.valid("query");
    const after = decodeCursor(query.cursor);
    const rows = await createDb(c.env.DB)
      .select()
      .from(segments)
      .where(and(segmentScope(caller), after ? lt(segments.id, after) : undefined))
      .orderBy(desc(segments.id))
      .limit(query.limit + 1);
    return c.json(
      page(rows, query.limit, (row) => renderSegment(row, null)),
      200,
    );
  })
  .openapi(getSegmentRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const row = await findSegment(db, caller, c.req.valid("param").id);
    return c.json(renderSegment(row, await countSegment(db, caller, storedFilter(row))), 200);
  })
  .openapi(updateSegmentRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    const filter = body.filter === undefined ? null : validFilter(body.filter);
    const db = createDb(c.env.DB);
    const current = await findSegment(db, caller, c.req.valid("param").id);
    const row: SegmentRow = {
      ...current,
      name: body.name ?? current.name,
      description: body.description === undefined ? current.description : body.description,
      filter: filter ? (filter as unknown as Record<string, unknown>) : current.filter,
      updatedAt: new Date(),
    };
    await db
      .update(segments)
      .set({ name: row.name, description: row.description, filter: row.filter, updatedAt: row.updatedAt })
      .where(and(segmentScope(caller), eq(segments.id, row.id)));
    return c.json(renderSegment(row, await countSegment(db, caller, storedFilter(row))), 200);
  })
  .openapi(deleteSegmentRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const row = await findSegment(db, caller, c.req.valid("param").id);
    await db.delete(segments).where(and(segmentScope(caller), eq(segments.id, row.id)));
    return c.json({ object: "segment" as const, id: row.id, deleted: true as const }, 200);
  })
  .openapi(segmentContactsRoute, async (c) => {
    const caller = principalOf(c);
    const query = c.req.valid("query");
    const after = decodeCursor(query.cursor);
    const db = createDb(c.env.DB);
    const row = await findSegment(db, caller, c.req.valid("param").id);
    const members = await segmentMembersPage(db, caller, storedFilter(row), { after, limit: query.limit });
    return c.json(
      {
        object: "list" as const,
        data: await renderContacts(db, members.rows),
        next_cursor: members.nextAfter ? encodeCursor(members.nextAfter) : null,
      },
      200,
    );
  });
