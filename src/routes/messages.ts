import { z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gte, inArray, lt, lte, sql } from "drizzle-orm";
import { createDb, type Db } from "../db/client";
import { events, type MessageRow, messages, outbox } from "../db/schema";
import { walletMovement } from "../db/wallet";
import { CANCELABLE_STATUSES } from "../domain/message-status";
import { normalizeEmail, normalizePhone } from "../domain/phone";
import type { Principal } from "../env";
import { ApiError } from "../errors";
import { principalOf } from "../middleware/auth";
import { eventData } from "../queues/message-lifecycle";
import { commit, emitGuardedEvent, UPDATE_APPLIED } from "../webhooks/events";
import { acceptMessage } from "./message-accept";
import { MessageSchema, renderMessage, SendMessageBody } from "./message-schemas";
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

const sendMessageRoute = scopedRoute(
  "messages:send",
  {
    method: "post",
    path: "/v1/messages",
    tags: ["Messages"],
    summary: "Send a message",
    description:
      "Accepts one message on WhatsApp, SMS or email, charges its estimated cost and queues it (202). Requires an " +
      "`Idempotency-Key`: retrying with the same key never sends or charges twice. Test keys send through the sandbox.",
    request: { body: { required: true, content: { "application/json": { schema: SendMessageBody } } } },
    responses: {
      202: jsonResponse("Accepted; follow its status with GET or webhooks.", MessageSchema),
    },
  },
  [
    "validation_error",
    "invalid_json",
    "insufficient_balance",
    "template_not_found",
    "resource_not_found",
    "template_not_approved",
    "template_variables_invalid",
    "outside_customer_window",
    "channel_not_configured",
    "media_not_ready",
    "recipient_not_mobile",
    "recipient_suppressed",
  ],
  { idempotency: "required" },
);

const MessageEventSchema = z.object({
  id: z.string(),
  type: z.string(),
  sequence: z.number().int(),
  created_at: Timestamp,
});
const MessageWithEventsSchema = MessageSchema.extend({ events: z.array(MessageEventSchema) }).openapi(
  "MessageWithEvents",
);

const getMessageRoute = scopedRoute(
  "messages:read",
  {
    method: "get",
    path: "/v1/messages/{id}",
    tags: ["Messages"],
    summary: "Retrieve a message",
    description:
      "Status, per-state timestamps, cost, provider ids, error, fallback hops and the message's events.",
    request: { params: IdParamSchema("msg_01jd3x6n2m8q4v7w9y0z1a2b3c") },
    responses: {
      200: jsonResponse("The message.", MessageWithEventsSchema),
    },
  },
  ["resource_not_found"],
);

const ListMessagesQuery = PaginationQuerySchema.extend({
  status: z
    .enum([
      "scheduled",
      "queued",
      "sending",
      "sent",
      "delivered",
      "read",
      "failed",
      "undelivered",
      "canceled",
    ])
    .optional()
    .openapi({ param: { name: "status", in: "query" } }),
  channel: z
    .enum(["whatsapp", "sms", "email"])
    .optional()
    .openapi({ param: { name: "channel", in: "query" } }),
  to: z
    .string()
    .max(320)
    .optional()
    .openapi({ param: { name: "to", in: "query" }, description: "Recipient (normalised)." }),
  from: z
    .string()
    .max(64)
    .optional()
    .openapi({ param: { name: "from", in: "query" }, description: "Channel id." }),
  broadcast_id: z
    .string()
    .max(64)
    .optional()
    .openapi({
      param: { name: "broadcast_id", in: "query" },
      description: "Only this broadcast's messages.",
    }),
  from_date: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({ param: { name: "from_date", in: "query" } }),
  to_date: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({ param: { name: "to_date", in: "query" } }),
});

const listMessagesRoute = scopedRoute(
  "messages:read",
  {
    method: "get",
    path: "/v1/messages",
    tags: ["Messages"],
    summary: "List messages",
    request: { query: ListMessagesQuery },
    responses: {
      200: jsonResponse("A page of messages, newest first.", listSchema(MessageSchema, "MessageList")),
    },
  },
  ["validation_error", "invalid_cursor"],
);

const cancelMessageRoute = scopedRoute(
  "messages:send",
  {
    method: "post",
    path: "/v1/messages/{id}/cancel",
    tags: ["Messages"],
    summary: "Cancel a message",
    description: "Cancels a scheduled or not-yet-dispatched message and refunds it.",
    request: { params: IdParamSchema("msg_01jd3x6n2m8q4v7w9y0z1a2b3c") },
    responses: {
      200: jsonResponse("The canceled message.", MessageSchema),
    },
  },
  ["resource_not_found", "message_not_cancelable"],
);

async function findMessage(db: Db, caller: Principal, id: string): Promise<MessageRow> {
  const [row] = await db
    .select()
    .from(messages)
    .where(
      and(
        eq(messages.id, id),
        eq(messages.tenantId, caller.tenantId),
        eq(messages.environment, caller.environment),
      ),
    )
    .limit(1);
  if (!row) throw new ApiError("resource_not_found", "No message with that id exists in this environment.");
  return row;
}

export const messagesRouter = newRouter()
  .openapi(sendMessageRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    // The KeyGate middleware claimed the key (required on this route) and bound it to the request's fingerprint.
    const idempotency = c.get("idempotency") ?? {
      key: c.req.header("idempotency-key") ?? body.idempotency_key ?? "",
      fingerprint: "",
    };
    const row = await acceptMessage(c, caller, body, idempotency);
    return c.json(renderMessage(row), 202);
  })
  .openapi(getMessageRoute, async (c) => {
    const db = createDb(c.env.DB);
    const row = await findMessage(db, principalOf(c), c.req.valid("param").id);
    const rows = await db
      .select()
      .from(events)
      .where(eq(events.subjectId, row.id))
      .orderBy(asc(events.sequence))
      .limit(100);
    return c.json(
      {
        ...renderMessage(row),
        events: rows.map((e) => ({
          id: e.id,
          type: e.type,
          sequence: e.sequence,
          created_at: toTimestamp(e.createdAt),
        })),
      },
      200,
    );
  })
  .openapi(listMessagesRoute, async (c) => {
    const caller = principalOf(c);
    const q = c.req.valid("query");
    const after = decodeCursor(q.cursor);
    const rows = await createDb(c.env.DB)
      .select()
      .from(messages)
      .where(
        and(
          eq(messages.tenantId, caller.tenantId),
          eq(messages.environment, caller.environment),
          q.status ? eq(messages.status, q.status) : undefined,
          q.channel ? eq(messages.channel, q.channel) : undefined,
          q.to ? inArray(messages.to, [q.to, normalizedOr(q.to)]) : undefined,
          q.from ? eq(messages.fromChannelId, q.from) : undefined,
          q.broadcast_id ? eq(messages.broadcastId, q.broadcast_id) : undefined,
          q.from_date ? gte(messages.createdAt, new Date(q.from_date)) : undefined,
          q.to_date ? lte(messages.createdAt, new Date(q.to_date)) : undefined,
          after ? lt(messages.id, after) : undefined,
        ),
      )
      .orderBy(desc(messages.id))
      .limit(q.limit + 1);
    return c.json(page(rows, q.limit, renderMessage), 200);
  })
  .openapi(cancelMessageRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const row = await findMessage(db, caller, c.req.valid("param").id);
    if (!CANCELABLE_STATUSES.includes(row.status)) {
      throw new ApiError(
        "message_not_cancelable",
        `The message is ${row.status}; only scheduled or queued messages can be canceled.`,
      );
    }
    const now = new Date();
    const cost = row.hops[row.hop]?.costMicros ?? 0;
    const hops = row.hops.map((hop, i) =>
      i === row.hop
        ? { ...hop, status: "canceled" as const, costMicros: 0, endedAt: now.toISOString() }
        : hop,
    );
    const canceled: MessageRow = {
      ...row,
      status: "canceled",
      hops,
      timestamps: { ...row.timestamps, canceled: now.toISOString() },
      updatedAt: now,
    };
    const scope = { tenantId: row.tenantId, environment: row.environment };
    // One batch; the guarded update decides the race with the dispatcher. The event directly follows it
    // and is written only if it applied; refund and outbox delete are guarded on the message being canceled.
    const nowCanceled = sql`EXISTS (SELECT 1 FROM ${messages} WHERE ${messages.id} = ${row.id} AND ${messages.hop} = ${row.hop} AND ${messages.status} = 'canceled')`;
    const [updated] = await commit(c.env, db, [
      db
        .update(messages)
        .set({ status: "canceled", hops, timestamps: canceled.timestamps, updatedAt: now })
        .where(
          and(
            eq(messages.id, row.id),
            eq(messages.hop, row.hop),
            inArray(messages.status, [...CANCELABLE_STATUSES]),
          ),
        )
        .returning({ id: messages.id }),
      ...emitGuardedEvent(
        db,
        {
          tenantId: row.tenantId,
          environment: row.environment,
          type: "message.canceled",
          subjectId: row.id,
          data: eventData(canceled, "canceled"),
        },
        now,
        UPDATE_APPLIED,
      ),
      ...walletMovement(
        db,
        scope,
        {
          kind: "refund",
          amountMicros: cost,
          messageId: row.id,
          hop: row.hop,
          description: "Refund: message canceled",
        },
        now,
        nowCanceled,
      ),
      db.delete(outbox).where(and(eq(outbox.subjectId, row.id), nowCanceled)),
    ]);
    if (updated.length === 0)
      throw new ApiError(
        "message_not_cancelable",
        "The message was dispatched meanwhile and can no longer be canceled.",
      );
    return c.json(renderMessage(canceled), 200);
  });

/** Lets `?to=` match however the caller spells the number. */
function normalizedOr(to: string): string {
  const phone = normalizePhone(to);
  if (phone.ok) return phone.e164;
  const email = normalizeEmail(to);
  return email.ok ? email.address : to;
}
