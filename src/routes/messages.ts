import { z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gte, inArray, lt, lte, sql } from "drizzle-orm";
import type { Context } from "hono";
import { createDb, type Db } from "../db/client";
import { customerWindows, events, type HopRecord, type MessageRow, messages, outbox } from "../db/schema";
import { isOverdraft, walletBootstrap, walletMovement } from "../db/wallet";
import { checkCustomerWindow } from "../domain/customer-window";
import { CANCELABLE_STATUSES } from "../domain/message-status";
import { CURRENCY, formatAmount } from "../domain/money";
import { normalizeEmail, normalizePhone } from "../domain/phone";
import { priorityRank, resolveSendTime } from "../domain/schedule";
import { checkVariables, renderTemplate as renderTemplateText } from "../domain/templates";
import type { AppBindings, Principal } from "../env";
import { ApiError } from "../errors";
import { newId } from "../ids";
import { principalOf } from "../middleware/auth";
import type { Channel, MessageContent } from "../providers/types";
import { enqueue, newOutboxRow } from "../queues/jobs";
import { costOfHop, eventData, messageEvent } from "../queues/message-lifecycle";
import { guardedMessageEventInsert } from "../webhooks/events";
import { findChannelRow } from "./channels";
import {
  contentFieldOf,
  MessageSchema,
  renderMessage,
  SendMessageBody,
  type SendMessageInput,
} from "./message-schemas";
import {
  decodeCursor,
  IdParamSchema,
  listSchema,
  newRouter,
  PaginationQuerySchema,
  page,
  scopedRoute,
  Timestamp,
  toTimestamp,
} from "./shared";
import { findTemplateForSend } from "./templates";

/** Which content each channel carries (a template's rendered text travels by SMS and email too). */
const CHANNEL_CONTENT: Record<Channel, readonly MessageContent["kind"][]> = {
  whatsapp: ["template", "text", "media", "interactive"],
  sms: ["template", "text", "media"],
  email: ["email", "template"],
};

const invalid = (path: string, message: string) =>
  new ApiError("validation_error", message, { details: [{ path, message }] });

function normalizeRecipient(channel: Channel, to: string): { to: string; country: string | null } {
  if (channel === "email") {
    const email = normalizeEmail(to);
    if (!email.ok) throw invalid("to", email.reason);
    return { to: email.address, country: null };
  }
  const phone = normalizePhone(to);
  if (!phone.ok) throw invalid("to", phone.reason);
  return { to: phone.e164, country: phone.country };
}

/** Every hop must carry the same content to the same address. */
function checkFallback(body: SendMessageInput, kind: MessageContent["kind"]) {
  let previous: Channel = body.channel;
  body.fallback.forEach((hop, index) => {
    const path = `fallback[${index}].channel`;
    if (hop.channel === previous)
      throw invalid(path, `Fallback ${index + 1} repeats ${hop.channel}; pick another channel.`);
    if ((hop.channel === "email") !== (body.channel === "email")) {
      throw invalid(
        path,
        `Cannot fall back from ${body.channel} to ${hop.channel}: the recipient address differs in kind.`,
      );
    }
    if (!CHANNEL_CONTENT[hop.channel].includes(kind)) {
      throw invalid(
        path,
        `${hop.channel} cannot carry ${kind} content; use a template or text for cross-channel fallback.`,
      );
    }
    previous = hop.channel;
  });
}

/** Resolves the content into the form every hop and retry sends, checking templates before money moves. */
async function resolveContent(db: Db, caller: Principal, body: SendMessageInput, now: Date) {
  const kind = contentFieldOf(body);
  if (!CHANNEL_CONTENT[body.channel].includes(kind)) {
    throw invalid(
      kind,
      `${body.channel} messages cannot carry ${kind} content (allowed: ${CHANNEL_CONTENT[body.channel].join(", ")}).`,
    );
  }
  if (body.media && body.channel === "sms" && body.media.type !== "image") {
    throw invalid("media.type", "SMS (MMS) carries images only.");
  }
  if (body.template) {
    const { name, language, variables } = body.template;
    const template = await findTemplateForSend(db, caller, name, language, now);
    if (!template) {
      throw new ApiError(
        "template_not_found",
        `No template ${name} in ${language} exists in this environment; create it with POST /v1/templates.`,
      );
    }
    if (template.status !== "approved") {
      throw new ApiError(
        "template_not_approved",
        `Template ${name} (${language}) is ${template.status}${template.rejectionReason ? `: ${template.rejectionReason}` : ""}; only approved templates can be sent.`,
      );
    }
    const check = checkVariables(
      { style: template.placeholderStyle, names: template.placeholders },
      variables,
      template,
    );
    if (!check.ok) {
      throw new ApiError("template_variables_invalid", check.message, {
        details: [
          ...check.missing.map((name) => ({ path: `template.variables.${name}`, message: "missing" })),
          ...check.unexpected.map((name) => ({ path: `template.variables.${name}`, message: "unexpected" })),
          ...check.invalid.map((p) => ({ path: `template.variables.${p.name}`, message: p.message })),
        ],
      });
    }
    const rendered = renderTemplateText(
      template.header ? `${template.header}\n${template.body}` : template.body,
      variables,
    );
    const content: MessageContent = {
      kind: "template",
      template: {
        name,
        language,
        variables,
        placeholderStyle: template.placeholderStyle,
        renderedBody: rendered,
      },
    };
    return { content, templateId: template.id, category: template.category as string };
  }
  const content: MessageContent = body.text
    ? { kind: "text", text: { body: body.text.body, previewUrl: body.text.preview_url } }
    : body.media
      ? { kind: "media", media: body.media }
      : body.interactive
        ? { kind: "interactive", interactive: body.interactive }
        : { kind: "email", email: body.email ?? { subject: "" } };
  return { content, templateId: null, category: "service" };
}

async function lastInboundAt(db: Db, caller: Principal, channel: Channel, to: string): Promise<Date | null> {
  const [row] = await db
    .select({ at: customerWindows.lastInboundAt })
    .from(customerWindows)
    .where(
      and(
        eq(customerWindows.tenantId, caller.tenantId),
        eq(customerWindows.environment, caller.environment),
        eq(customerWindows.channel, channel),
        eq(customerWindows.address, to),
      ),
    )
    .limit(1);
  return row?.at ?? null;
}

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
      202: {
        description: "Accepted; follow its status with GET or webhooks.",
        content: { "application/json": { schema: MessageSchema } },
      },
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
  ],
  { idempotency: "required" },
);

async function acceptMessage(
  c: Context<AppBindings>,
  caller: Principal,
  body: SendMessageInput,
  idempotencyKey: string,
) {
  const db = createDb(c.env.DB);
  const now = new Date();
  const { to, country } = normalizeRecipient(body.channel, body.to);
  const { content, templateId, category } = await resolveContent(db, caller, body, now);
  checkFallback(body, content.kind);

  if (body.from) {
    if (!(await findChannelRow(db, caller, body.channel, body.from))) {
      throw new ApiError(
        "resource_not_found",
        `No ${body.channel} channel ${body.from} exists in this environment.`,
      );
    }
  } else if (caller.environment === "live" && !(await findChannelRow(db, caller, body.channel, null))) {
    throw new ApiError(
      "channel_not_configured",
      `No ${body.channel} sender is connected in live mode. Connect one with POST /v1/channels.`,
    );
  }
  const window = checkCustomerWindow(
    body.channel,
    content.kind,
    body.channel === "whatsapp" ? await lastInboundAt(db, caller, body.channel, to) : null,
    now,
  );
  if (!window.ok) throw new ApiError("outside_customer_window", window.message);

  const schedule = resolveSendTime(body, now);
  if (!schedule.ok) throw invalid(schedule.field, schedule.message);

  const id = newId("message");
  const pricing = { category, country, content: content as unknown as Record<string, unknown> };
  const cost = costOfHop(pricing, body.channel);
  const status = schedule.at ? "scheduled" : "queued";
  const hop: HopRecord = {
    channel: body.channel,
    status,
    costMicros: cost,
    providerMessageId: null,
    errorCode: null,
    errorReason: null,
    startedAt: now.toISOString(),
    endedAt: null,
  };
  const row: MessageRow = {
    id,
    tenantId: caller.tenantId,
    environment: caller.environment,
    apiKeyId: caller.keyId,
    idempotencyKey,
    channel: body.channel,
    to,
    fromChannelId: body.from ?? null,
    country,
    contentKind: content.kind,
    content: content as unknown as Record<string, unknown>,
    templateId,
    category,
    priority: priorityRank(body.priority),
    status,
    scheduledAt: schedule.at,
    metadata: body.metadata,
    costEstimateMicros: cost,
    currency: CURRENCY,
    fallback: body.fallback.map((f) => ({ channel: f.channel, afterSeconds: f.after_seconds })),
    hop: 0,
    hops: [hop],
    providerMessageId: null,
    attempts: 0,
    errorCode: null,
    errorReason: null,
    timestamps: { [status]: now.toISOString() },
    createdAt: now,
    updatedAt: now,
  };
  const dispatch = newOutboxRow("dispatch", id, {}, schedule.at ?? now, now, row.priority);
  const scope = { tenantId: caller.tenantId, environment: caller.environment };
  try {
    // One atomic batch: the debit (refused by the wallet's CHECK on overdraft), the message, its event, its job.
    await db.batch([
      ...walletBootstrap(db, scope, now),
      ...walletMovement(
        db,
        scope,
        { kind: "debit", amountMicros: -cost, messageId: id, hop: 0, description: `${body.channel} message` },
        now,
      ),
      db.insert(messages).values(row),
      ...(status === "queued" ? messageEvent({ env: c.env, db, now }, row, "queued") : []),
      db.insert(outbox).values(dispatch),
    ]);
  } catch (error) {
    if (isOverdraft(error)) {
      throw new ApiError(
        "insufficient_balance",
        `This message costs ${formatAmount(cost)} ${CURRENCY}, more than the balance; see GET /v1/balance.`,
      );
    }
    // The idempotency record was lost but the message exists: answer with it rather than send twice.
    const [existing] = await db
      .select()
      .from(messages)
      .where(and(eq(messages.apiKeyId, caller.keyId), eq(messages.idempotencyKey, idempotencyKey)))
      .limit(1);
    if (existing) return existing;
    throw error;
  }
  await enqueue(c.env, [dispatch], now);
  return row;
}

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
      200: {
        description: "The message.",
        content: { "application/json": { schema: MessageWithEventsSchema } },
      },
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
      200: {
        description: "A page of messages, newest first.",
        content: { "application/json": { schema: listSchema(MessageSchema, "MessageList") } },
      },
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
      200: {
        description: "The canceled message.",
        content: { "application/json": { schema: MessageSchema } },
      },
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
    const idempotencyKey = c.req.header("idempotency-key") ?? body.idempotency_key ?? "";
    const row = await acceptMessage(c, caller, body, idempotencyKey);
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
    // One batch; the guarded update decides the race with the dispatcher, and the refund and event apply
    // only if it did (they are guarded on the message now being canceled at this hop).
    const nowCanceled = sql`EXISTS (SELECT 1 FROM ${messages} WHERE ${messages.id} = ${row.id} AND ${messages.hop} = ${row.hop} AND ${messages.status} = 'canceled')`;
    const [updated] = await db.batch([
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
      guardedMessageEventInsert(
        db,
        {
          tenantId: row.tenantId,
          environment: row.environment,
          type: "message.canceled",
          subjectId: row.id,
          data: eventData(canceled, "canceled"),
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
