import { z } from "@hono/zod-openapi";
import { and, desc, eq, lt } from "drizzle-orm";
import { createDb, type Db } from "../db/client";
import { type ConversationRow, conversations, inboundMessages, messages } from "../db/schema";
import { normalizeAddress } from "../domain/contacts";
import type { Principal } from "../env";
import { ApiError } from "../errors";
import { principalOf } from "../middleware/auth";
import { renderInboundMessage } from "../services/inbound-messages";
import { ConversationSchema, InboundMessageSchema, renderConversation } from "./conversation-schemas";
import { ChannelType, MessageSchema, renderMessage } from "./message-schemas";
import {
  decodeCursor,
  IdParamSchema,
  jsonResponse,
  listSchema,
  newRouter,
  PaginationQuerySchema,
  page,
  scopedRoute,
} from "./shared";

const CONVERSATION_EXAMPLE_ID = "cnv_01jd3x6n2m8q4v7w9y0z1a2b3c";

const ListConversationsQuery = PaginationQuerySchema.extend({
  channel: ChannelType.optional().openapi({ param: { name: "channel", in: "query" } }),
  contact_id: z
    .string()
    .max(64)
    .optional()
    .openapi({ param: { name: "contact_id", in: "query" } }),
  address: z
    .string()
    .max(320)
    .optional()
    .openapi({
      param: { name: "address", in: "query" },
      description: "The customer's number or email (any common spelling; needs `channel`).",
    }),
});

const OutboundInConversation = MessageSchema.extend({ direction: z.literal("outbound") }).openapi(
  "ConversationOutboundMessage",
);
const ConversationMessageSchema = z
  .union([OutboundInConversation, InboundMessageSchema])
  .openapi("ConversationMessage", {
    description:
      "Your message (`object: message`, `direction: outbound`) or the customer's (`inbound_message`).",
  });

const listConversationsRoute = scopedRoute(
  "messages:read",
  {
    method: "get",
    path: "/v1/conversations",
    tags: ["Conversations"],
    summary: "List conversations",
    description:
      "A conversation starts when a customer first writes to one of your senders (one per channel and customer " +
      "address), newest first.",
    request: { query: ListConversationsQuery },
    responses: {
      200: jsonResponse("A page of conversations.", listSchema(ConversationSchema, "ConversationList")),
    },
  },
  ["validation_error", "invalid_cursor"],
);

const getConversationRoute = scopedRoute(
  "messages:read",
  {
    method: "get",
    path: "/v1/conversations/{id}",
    tags: ["Conversations"],
    summary: "Retrieve a conversation",
    description: "With the state of its WhatsApp customer-service window and when it expires.",
    request: { params: IdParamSchema(CONVERSATION_EXAMPLE_ID) },
    responses: { 200: jsonResponse("The conversation.", ConversationSchema) },
  },
  ["resource_not_found"],
);

const listConversationMessagesRoute = scopedRoute(
  "messages:read",
  {
    method: "get",
    path: "/v1/conversations/{id}/messages",
    tags: ["Conversations"],
    summary: "List a conversation's messages",
    description:
      "The customer's messages and yours to the same address on the same channel, newest first, in one list.",
    request: { params: IdParamSchema(CONVERSATION_EXAMPLE_ID), query: PaginationQuerySchema },
    responses: {
      200: jsonResponse(
        "A page of messages, both directions.",
        listSchema(ConversationMessageSchema, "ConversationMessageList"),
      ),
    },
  },
  ["resource_not_found", "validation_error", "invalid_cursor"],
);

const scopeOf = (caller: Principal) =>
  and(eq(conversations.tenantId, caller.tenantId), eq(conversations.environment, caller.environment));

async function findConversation(db: Db, caller: Principal, id: string): Promise<ConversationRow> {
  const [row] = await db
    .select()
    .from(conversations)
    .where(and(scopeOf(caller), eq(conversations.id, id)))
    .limit(1);
  if (!row)
    throw new ApiError("resource_not_found", "No conversation with that id exists in this environment.");
  return row;
}

/** Ids of both tables carry the same ULID after a 4-character prefix, so their ULIDs order them together. */
const ulidOf = (id: string) => id.slice(4);

export const conversationsRouter = newRouter()
  .openapi(listConversationsRoute, async (c) => {
    const caller = principalOf(c);
    const query = c.req.valid("query");
    const after = decodeCursor(query.cursor);
    let address: string | undefined;
    if (query.address !== undefined) {
      if (!query.channel) {
        throw new ApiError("validation_error", "Filtering by address needs a channel too.", {
          details: [{ path: "channel", message: "Required with address." }],
        });
      }
      const normalized = normalizeAddress(query.channel, query.address);
      if (!normalized.ok) {
        throw new ApiError("validation_error", normalized.reason, {
          details: [{ path: "address", message: normalized.reason }],
        });
      }
      address = normalized.address;
    }
    const rows = await createDb(c.env.DB)
      .select()
      .from(conversations)
      .where(
        and(
          scopeOf(caller),
          query.channel ? eq(conversations.channel, query.channel) : undefined,
          address !== undefined ? eq(conversations.address, address) : undefined,
          query.contact_id ? eq(conversations.contactId, query.contact_id) : undefined,
          after ? lt(conversations.id, after) : undefined,
        ),
      )
      .orderBy(desc(conversations.id))
      .limit(query.limit + 1);
    const now = new Date();
    return c.json(
      page(rows, query.limit, (row) => renderConversation(row, now)),
      200,
    );
  })
  .openapi(getConversationRoute, async (c) => {
    const row = await findConversation(createDb(c.env.DB), principalOf(c), c.req.valid("param").id);
    return c.json(renderConversation(row, new Date()), 200);
  })
  .openapi(listConversationMessagesRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const conversation = await findConversation(db, caller, c.req.valid("param").id);
    const { limit, cursor } = c.req.valid("query");
    const after = decodeCursor(cursor);
    const [outbound, inbound] = await db.batch([
      db
        .select()
        .from(messages)
        .where(
          and(
            eq(messages.tenantId, caller.tenantId),
            eq(messages.environment, caller.environment),
            eq(messages.to, conversation.address),
            eq(messages.channel, conversation.channel),
            after ? lt(messages.id, `msg_${ulidOf(after)}`) : undefined,
          ),
        )
        .orderBy(desc(messages.id))
        .limit(limit + 1),
      db
        .select()
        .from(inboundMessages)
        .where(
          and(
            eq(inboundMessages.conversationId, conversation.id),
            after ? lt(inboundMessages.id, `inm_${ulidOf(after)}`) : undefined,
          ),
        )
        .orderBy(desc(inboundMessages.id))
        .limit(limit + 1),
    ]);
    const merged = [
      ...outbound.map((row) => ({
        id: row.id,
        render: () => ({ ...renderMessage(row), direction: "outbound" as const }),
      })),
      ...inbound.map((row) => ({ id: row.id, render: () => renderInboundMessage(row) })),
    ].sort((a, b) => (ulidOf(a.id) < ulidOf(b.id) ? 1 : -1));
    return c.json(
      page(merged.slice(0, limit + 1), limit, (entry) => entry.render()),
      200,
    );
  });
