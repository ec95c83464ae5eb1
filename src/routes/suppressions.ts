import { z } from "@hono/zod-openapi";
import { and, desc, eq, lt } from "drizzle-orm";
import { createDb, type Db } from "../db/client";
import { SUPPRESSION_REASONS, type SuppressionRow, suppressions } from "../db/schema";
import { normalizeAddress } from "../domain/contacts";
import type { Principal } from "../env";
import { ApiError } from "../errors";
import { principalOf } from "../middleware/auth";
import type { Channel } from "../providers/types";
import { findSuppression, suppress } from "../services/suppressions";
import { CONTACTS_READ } from "./contact-schemas";
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

/**
 * Suppressions: addresses no send reaches on a channel. Customers add them by texting STOP (removed by
 * START), email adds them on a hard bounce or a complaint, and tenants add or remove them here.
 */

const SUPPRESSION_EXAMPLE_ID = "sup_01jd3x6n2m8q4v7w9y0z1a2b3c";
const ChannelSchema = z.enum(["whatsapp", "sms", "email"]);
const ReasonSchema = z.enum(SUPPRESSION_REASONS);

export const SuppressionSchema = z
  .object({
    object: z.literal("suppression"),
    id: z.string().openapi({ example: SUPPRESSION_EXAMPLE_ID }),
    channel: ChannelSchema.openapi({ example: "sms" }),
    address: z
      .string()
      .openapi({ description: "E.164 phone number or email address.", example: "+5511987654321" }),
    reason: ReasonSchema.openapi({
      description:
        "`opt_out`: the customer texted a stop keyword; `bounce`: an email hard bounce; `complaint`: a spam " +
        "complaint; `manual`: added through the API.",
      example: "opt_out",
    }),
    source_id: z.string().nullable().openapi({
      description:
        "What caused it: the inbound message (opt_out) or our message (bounce, complaint); null for manual.",
      example: "inm_01jd3x6n2m8q4v7w9y0z1a2b3c",
    }),
    note: z.string().nullable().openapi({ example: "Asked by phone not to be contacted." }),
    created_at: Timestamp,
  })
  .openapi("Suppression");

function renderSuppression(row: SuppressionRow): z.infer<typeof SuppressionSchema> {
  return {
    object: "suppression",
    id: row.id,
    channel: row.channel,
    address: row.address,
    reason: row.reason,
    source_id: row.sourceId,
    note: row.note,
    created_at: toTimestamp(row.createdAt),
  };
}

const CreateSuppressionBody = z
  .strictObject({
    channel: ChannelSchema.openapi({ example: "sms" }),
    address: z.string().min(1).max(320).openapi({
      description: "Phone number in E.164 (any common spelling is normalised) or email address.",
      example: "+55 11 98765-4321",
    }),
    reason: ReasonSchema.default("manual").openapi({
      description: "Defaults to `manual`; use the others when importing another provider's list.",
      example: "manual",
    }),
    note: z.string().max(500).optional().openapi({ example: "Asked by phone not to be contacted." }),
  })
  .openapi("CreateSuppressionRequest");

const ListSuppressionsQuery = PaginationQuerySchema.extend({
  channel: ChannelSchema.optional().openapi({ param: { name: "channel", in: "query" }, example: "sms" }),
  address: z
    .string()
    .max(320)
    .optional()
    .openapi({
      param: { name: "address", in: "query" },
      description: "A phone number (any spelling) or email address.",
      example: "+5511987654321",
    }),
  reason: ReasonSchema.optional().openapi({ param: { name: "reason", in: "query" }, example: "opt_out" }),
});

const tags = ["Suppressions"];
const SuppressionIdParam = IdParamSchema(SUPPRESSION_EXAMPLE_ID);

const listSuppressionsRoute = scopedRoute(
  CONTACTS_READ,
  {
    method: "get",
    path: "/v1/suppressions",
    tags,
    summary: "List suppressions",
    description:
      "Addresses no message is sent to on a channel, newest first; filter by channel, address or reason.",
    request: { query: ListSuppressionsQuery },
    responses: {
      200: jsonResponse("A page of suppressions.", listSchema(SuppressionSchema, "SuppressionList")),
    },
  },
  ["validation_error", "invalid_cursor"],
);

const createSuppressionRoute = scopedRoute(
  "contacts:manage",
  {
    method: "post",
    path: "/v1/suppressions",
    tags,
    summary: "Suppress an address",
    description:
      "Stops every send to the address on the channel: POST /v1/messages answers 422 `recipient_suppressed` " +
      "before anything is charged, and broadcasts skip it. Idempotent: an address already suppressed on the " +
      "channel is answered 200 with its existing suppression (reason unchanged); a new one 201.",
    request: {
      body: { required: true, content: { "application/json": { schema: CreateSuppressionBody } } },
    },
    responses: {
      200: jsonResponse("The address was already suppressed on the channel.", SuppressionSchema),
      201: jsonResponse("The new suppression.", SuppressionSchema),
    },
  },
  ["validation_error", "invalid_json"],
);

const getSuppressionRoute = scopedRoute(
  CONTACTS_READ,
  {
    method: "get",
    path: "/v1/suppressions/{id}",
    tags,
    summary: "Retrieve a suppression",
    request: { params: SuppressionIdParam },
    responses: { 200: jsonResponse("The suppression.", SuppressionSchema) },
  },
  ["resource_not_found"],
);

const DeletedSuppressionSchema = z
  .object({
    object: z.literal("suppression"),
    id: z.string().openapi({ example: SUPPRESSION_EXAMPLE_ID }),
    deleted: z.literal(true),
  })
  .openapi("DeletedSuppression");

const deleteSuppressionRoute = scopedRoute(
  "contacts:manage",
  {
    method: "delete",
    path: "/v1/suppressions/{id}",
    tags,
    summary: "Remove a suppression",
    description:
      "Sends to the address on that channel are allowed again. Only remove an opt-out when the customer " +
      "asked to receive messages again (texting START does it by itself).",
    request: { params: SuppressionIdParam },
    responses: { 200: jsonResponse("Removed.", DeletedSuppressionSchema) },
  },
  ["resource_not_found"],
);

const scopeOf = (caller: Principal) => ({ tenantId: caller.tenantId, environment: caller.environment });
const ownedBy = (caller: Principal) =>
  and(eq(suppressions.tenantId, caller.tenantId), eq(suppressions.environment, caller.environment));

async function findById(db: Db, caller: Principal, id: string): Promise<SuppressionRow> {
  const [row] = await db
    .select()
    .from(suppressions)
    .where(and(ownedBy(caller), eq(suppressions.id, id)))
    .limit(1);
  if (!row) {
    throw new ApiError("resource_not_found", "No suppression with that id exists in this environment.");
  }
  return row;
}

/** The stored form of an address on a channel, or a 400 naming the field. */
function normalised(channel: Channel, address: string, where: "body" | "query"): string {
  const result = normalizeAddress(channel, address);
  if (!result.ok) {
    throw new ApiError("validation_error", `Invalid ${where}. address: ${result.reason}`, {
      details: [{ path: "address", message: result.reason }],
    });
  }
  return result.address;
}

export const suppressionsRouter = newRouter()
  .openapi(listSuppressionsRoute, async (c) => {
    const caller = principalOf(c);
    const query = c.req.valid("query");
    const after = decodeCursor(query.cursor);
    // Phone numbers are stored the same way on WhatsApp and SMS, so either channel's rule reads them.
    const address = query.address
      ? normalised(query.channel ?? (query.address.includes("@") ? "email" : "sms"), query.address, "query")
      : undefined;
    const rows = await createDb(c.env.DB)
      .select()
      .from(suppressions)
      .where(
        and(
          ownedBy(caller),
          query.channel ? eq(suppressions.channel, query.channel) : undefined,
          address ? eq(suppressions.address, address) : undefined,
          query.reason ? eq(suppressions.reason, query.reason) : undefined,
          after ? lt(suppressions.id, after) : undefined,
        ),
      )
      .orderBy(desc(suppressions.id))
      .limit(query.limit + 1);
    return c.json(page(rows, query.limit, renderSuppression), 200);
  })
  .openapi(createSuppressionRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    const db = createDb(c.env.DB);
    const address = normalised(body.channel, body.address, "body");
    const created = await suppress(
      db,
      scopeOf(caller),
      { channel: body.channel, address, reason: body.reason, note: body.note ?? null },
      new Date(),
    );
    const row = await findSuppression(db, scopeOf(caller), body.channel, address);
    // Removed by a concurrent DELETE between the two statements: nothing to show; the caller may retry.
    if (!row)
      throw new ApiError("service_unavailable", "The suppression changed while it was written; retry.");
    return created ? c.json(renderSuppression(row), 201) : c.json(renderSuppression(row), 200);
  })
  .openapi(getSuppressionRoute, async (c) => {
    const row = await findById(createDb(c.env.DB), principalOf(c), c.req.valid("param").id);
    return c.json(renderSuppression(row), 200);
  })
  .openapi(deleteSuppressionRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const row = await findById(db, caller, c.req.valid("param").id);
    await db.delete(suppressions).where(and(ownedBy(caller), eq(suppressions.id, row.id)));
    return c.json({ object: "suppression" as const, id: row.id, deleted: true as const }, 200);
  });
