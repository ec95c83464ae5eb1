import { z } from "@hono/zod-openapi";
import { and, desc, eq, lt } from "drizzle-orm";
import type { Context } from "hono";
import { createDb, type Db } from "../db/client";
import {
  BROADCAST_STATUSES,
  type BroadcastRow,
  type BroadcastStatus,
  broadcasts,
  contacts,
} from "../db/schema";
import type { BroadcastContent } from "../domain/broadcast-content";
import { renderContent, SAMPLE_CONTACT } from "../domain/merge-fields";
import type { AppBindings, Principal } from "../env";
import { ApiError } from "../errors";
import { newId } from "../ids";
import { principalOf } from "../middleware/auth";
import {
  cancelBroadcast,
  pauseBroadcast,
  resumeBroadcast,
  startBroadcast,
} from "../queues/broadcast-lifecycle";
import { type BroadcastCounts, broadcastCounts, broadcastCountsOf } from "../queues/broadcast-state";
import { linkClickCounts, linkClickCountsOf } from "../services/links";
import { createBroadcast, planBroadcast, publicPreview } from "./broadcast-create";
import {
  BROADCAST_EXAMPLE_ID,
  BroadcastPreviewSchema,
  BroadcastSchema,
  BroadcastTestBody,
  CreateBroadcastBody,
  PreviewBroadcastBody,
  renderBroadcast,
} from "./broadcast-schemas";
import { broadcastEventStream } from "./broadcast-stream";
import { acceptMessage } from "./message-accept";
import { MessageSchema, renderMessage, type SendMessageInput } from "./message-schemas";
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

const tags = ["Broadcasts"];
const IdParam = IdParamSchema(BROADCAST_EXAMPLE_ID);

const CONTENT_ERRORS = [
  "validation_error",
  "invalid_json",
  "resource_not_found",
  "template_not_found",
  "template_not_approved",
  "template_variables_invalid",
  "channel_not_configured",
  "media_not_ready",
] as const;

const createBroadcastRoute = scopedRoute(
  "broadcasts:manage",
  {
    method: "post",
    path: "/v1/broadcasts",
    tags,
    summary: "Create a broadcast",
    description:
      "One content to a segment, a list or up to 1,000 contacts, paced at `rate_limit_per_minute`. Starts now, at " +
      "`schedule_at` (or `send_at` + `timezone`), or stays a `draft` with `start: false`. The audience is resolved " +
      "once, at start (a snapshot). `dry_run: true` answers the preview instead (200) and stores nothing. " +
      "Requires an `Idempotency-Key`. Merge fields `{{contact.name}}`, `{{contact.external_id}}`, " +
      "`{{contact.attributes.<key>}}` (default after a pipe: `{{contact.name|there}}`) work in any string.",
    request: { body: { required: true, content: { "application/json": { schema: CreateBroadcastBody } } } },
    responses: {
      201: jsonResponse("The broadcast.", BroadcastSchema),
      200: jsonResponse(
        "The dry run's preview (`dry_run: true`): nothing stored or charged.",
        BroadcastPreviewSchema,
      ),
    },
  },
  [...CONTENT_ERRORS],
  { idempotency: "required" },
);

const previewBroadcastRoute = scopedRoute(
  "broadcasts:manage",
  {
    method: "post",
    path: "/v1/broadcasts/preview",
    tags,
    summary: "Preview a broadcast (dry run)",
    description:
      "Recipients, skips (suppressed, invalid, landline, no address), cost per country, balance after and three " +
      "rendered samples, for the same body as a create. Stores and charges nothing.",
    request: { body: { required: true, content: { "application/json": { schema: PreviewBroadcastBody } } } },
    responses: { 200: jsonResponse("The preview.", BroadcastPreviewSchema) },
  },
  [...CONTENT_ERRORS],
  { idempotency: "none" },
);

const ListBroadcastsQuery = PaginationQuerySchema.extend({
  status: z
    .enum(BROADCAST_STATUSES)
    .optional()
    .openapi({ param: { name: "status", in: "query" } }),
});

const listBroadcastsRoute = scopedRoute(
  "broadcasts:manage",
  {
    method: "get",
    path: "/v1/broadcasts",
    tags,
    summary: "List broadcasts",
    description: "Newest first; filter by `status`.",
    request: { query: ListBroadcastsQuery },
    responses: { 200: jsonResponse("A page of broadcasts.", listSchema(BroadcastSchema, "BroadcastList")) },
  },
  ["validation_error", "invalid_cursor"],
);

const getBroadcastRoute = scopedRoute(
  "broadcasts:manage",
  {
    method: "get",
    path: "/v1/broadcasts/{id}",
    tags,
    summary: "Retrieve a broadcast",
    description: "With its counts computed now and its link clicks.",
    request: { params: IdParam },
    responses: { 200: jsonResponse("The broadcast.", BroadcastSchema) },
  },
  ["resource_not_found"],
);

function actionRoute(action: "start" | "pause" | "resume" | "cancel", description: string) {
  return scopedRoute(
    "broadcasts:manage",
    {
      method: "post",
      path: `/v1/broadcasts/{id}/${action}`,
      tags,
      summary: `${action[0]?.toUpperCase()}${action.slice(1)} a broadcast`,
      description,
      request: { params: IdParam },
      responses: { 200: jsonResponse("The broadcast after the action.", BroadcastSchema) },
    },
    ["resource_not_found", "broadcast_state_conflict"],
  );
}

const startRoute = actionRoute(
  "start",
  "Starts a draft (or a scheduled broadcast, now). A draft with a future `schedule_at` becomes `scheduled`. " +
    "Starting a running broadcast answers it unchanged.",
);
const pauseRoute = actionRoute(
  "pause",
  "Stops new sends within a second; the cursor is kept. Pausing a paused broadcast answers it unchanged.",
);
const resumeRoute = actionRoute(
  "resume",
  "Continues from the cursor (nobody twice, nobody skipped), e.g. after a top-up when paused for " +
    "`insufficient_balance`. Resuming a running broadcast answers it unchanged.",
);
const cancelRoute = actionRoute(
  "cancel",
  "Ends it: nothing more is sent, and the cost held for messages not yet sent is refunded. Idempotent.",
);

const testRoute = scopedRoute(
  "broadcasts:manage",
  {
    method: "post",
    path: "/v1/broadcasts/{id}/test",
    tags,
    summary: "Send test messages",
    description:
      "Sends the broadcast's content, rendered for `contact_id` (or a sample contact), to up to 5 addresses. The " +
      "messages are marked `test: true`, charged like any send, and are not part of the broadcast's counts.",
    request: {
      params: IdParam,
      body: { required: true, content: { "application/json": { schema: BroadcastTestBody } } },
    },
    responses: {
      202: jsonResponse(
        "The test messages.",
        z.object({ object: z.literal("list"), data: z.array(MessageSchema) }).openapi("BroadcastTestSends"),
      ),
    },
  },
  [...CONTENT_ERRORS, "insufficient_balance", "recipient_not_mobile", "recipient_suppressed"],
);

const eventsRoute = scopedRoute(
  "broadcasts:manage",
  {
    method: "get",
    path: "/v1/broadcasts/{id}/events",
    tags,
    summary: "Stream progress (Server-Sent Events)",
    description:
      "`text/event-stream`: `event: progress` with the counts every second while it runs, `event: status` on each " +
      "status change, then a final `event: completed` (or `canceled` / `failed`) and the stream closes. Reconnect " +
      "with `Last-Event-ID` to continue where you left off; a stream lasts at most 10 minutes.",
    request: {
      params: IdParam,
      headers: z.object({
        "last-event-id": z
          .string()
          .max(32)
          .optional()
          .openapi({ param: { name: "last-event-id", in: "header" } }),
      }),
    },
    responses: {
      200: {
        description: "The event stream.",
        content: {
          "text/event-stream": {
            schema: z.string().openapi({
              example:
                'id: 3\nevent: progress\ndata: {"status":"running","counts":{"total":1000,"sent":420}}\n\n',
            }),
          },
        },
      },
    },
  },
  ["resource_not_found", "validation_error"],
);

export async function findBroadcast(db: Db, caller: Principal, id: string): Promise<BroadcastRow> {
  const [row] = await db
    .select()
    .from(broadcasts)
    .where(
      and(
        eq(broadcasts.id, id),
        eq(broadcasts.tenantId, caller.tenantId),
        eq(broadcasts.environment, caller.environment),
      ),
    )
    .limit(1);
  if (!row) throw new ApiError("resource_not_found", "No broadcast with that id exists in this environment.");
  return row;
}

async function view(db: Db, row: BroadcastRow) {
  const [counts, clicks] = await Promise.all([broadcastCounts(db, row), linkClickCounts(db, row.id)]);
  return renderBroadcast(row, counts, clicks);
}

const conflict = (row: BroadcastRow, action: string) =>
  new ApiError(
    "broadcast_state_conflict",
    `The broadcast is ${row.status}; it cannot be ${action}.${row.status === "paused" && action === "started" ? " Use POST /v1/broadcasts/{id}/resume." : ""}`,
  );

/**
 * An idempotent action: a broadcast already `already` is answered as it is, one in `from` gets `run`, any
 * other status is a 409. Answers the broadcast after it (the row the transition wrote, re-read only when a
 * concurrent change won the race).
 */
async function act(
  c: Context<AppBindings>,
  rule: { already: BroadcastStatus[]; from: BroadcastStatus[]; verb: string },
  run: (db: Db, row: BroadcastRow) => Promise<BroadcastRow | null>,
) {
  const db = createDb(c.env.DB);
  const caller = principalOf(c);
  const row = await findBroadcast(db, caller, c.req.param("id") ?? "");
  if (rule.already.includes(row.status)) return c.json(await view(db, row), 200);
  if (!rule.from.includes(row.status)) throw conflict(row, rule.verb);
  const after = (await run(db, row)) ?? (await findBroadcast(db, caller, row.id));
  return c.json(await view(db, after), 200);
}

export const broadcastsRouter = newRouter()
  .openapi(createBroadcastRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    const now = new Date();
    const plan = await planBroadcast(c, caller, body, now);
    if (body.dry_run) return c.json(publicPreview(plan.preview), 200);
    const idempotency = c.get("idempotency") ?? {
      key: c.req.header("idempotency-key") ?? body.idempotency_key ?? "",
      fingerprint: "",
    };
    const row = await createBroadcast(c, caller, body, plan, idempotency, now);
    return c.json(await view(createDb(c.env.DB), row), 201);
  })
  .openapi(previewBroadcastRoute, async (c) => {
    const plan = await planBroadcast(c, principalOf(c), c.req.valid("json"), new Date());
    return c.json(publicPreview(plan.preview), 200);
  })
  .openapi(listBroadcastsRoute, async (c) => {
    const caller = principalOf(c);
    const q = c.req.valid("query");
    const after = decodeCursor(q.cursor);
    const db = createDb(c.env.DB);
    const rows = await db
      .select()
      .from(broadcasts)
      .where(
        and(
          eq(broadcasts.tenantId, caller.tenantId),
          eq(broadcasts.environment, caller.environment),
          q.status ? eq(broadcasts.status, q.status) : undefined,
          after ? lt(broadcasts.id, after) : undefined,
        ),
      )
      .orderBy(desc(broadcasts.id))
      .limit(q.limit + 1);
    const shown = rows.slice(0, q.limit);
    const [counts, clicks] = await Promise.all([
      broadcastCountsOf(db, shown),
      linkClickCountsOf(
        db,
        shown.map((r) => r.id),
      ),
    ]);
    return c.json(
      page(rows, q.limit, (r) =>
        renderBroadcast(
          r,
          counts.get(r.id) as BroadcastCounts,
          clicks.get(r.id) ?? { clicks: 0, unique_clicks: 0 },
        ),
      ),
      200,
    );
  })
  .openapi(getBroadcastRoute, async (c) => {
    const db = createDb(c.env.DB);
    const row = await findBroadcast(db, principalOf(c), c.req.valid("param").id);
    return c.json(await view(db, row), 200);
  })
  .openapi(startRoute, async (c) => {
    const db = createDb(c.env.DB);
    const row = await findBroadcast(db, principalOf(c), c.req.valid("param").id);
    const now = new Date();
    if (row.status === "running") return c.json(await view(db, row), 200);
    if (row.status !== "draft" && row.status !== "scheduled") throw conflict(row, "started");
    if (row.status === "draft" && row.scheduleAt && row.scheduleAt > now) {
      await db
        .update(broadcasts)
        .set({ status: "scheduled", updatedAt: now })
        .where(and(eq(broadcasts.id, row.id), eq(broadcasts.status, "draft")));
    } else {
      await startBroadcast(c.env, db, row, now);
    }
    return c.json(await view(db, await findBroadcast(db, principalOf(c), row.id)), 200);
  })
  .openapi(pauseRoute, (c) =>
    act(c, { already: ["paused"], from: ["running"], verb: "paused" }, (db, row) =>
      pauseBroadcast(c.env, db, row, "requested", new Date()),
    ),
  )
  .openapi(resumeRoute, (c) =>
    act(c, { already: ["running"], from: ["paused"], verb: "resumed" }, (db, row) =>
      resumeBroadcast(c.env, db, row, new Date()),
    ),
  )
  .openapi(cancelRoute, (c) =>
    act(
      c,
      { already: ["canceled"], from: ["draft", "scheduled", "running", "paused"], verb: "canceled" },
      (db, row) => cancelBroadcast(c.env, db, row, new Date()),
    ),
  )
  .openapi(testRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const row = await findBroadcast(db, caller, c.req.valid("param").id);
    const body = c.req.valid("json");
    let contact = SAMPLE_CONTACT;
    if (body.contact_id) {
      const [found] = await db
        .select()
        .from(contacts)
        .where(
          and(
            eq(contacts.id, body.contact_id),
            eq(contacts.tenantId, caller.tenantId),
            eq(contacts.environment, caller.environment),
          ),
        )
        .limit(1);
      if (!found) {
        throw new ApiError("resource_not_found", "No contact with that id exists in this environment.", {
          details: [{ path: "contact_id", message: "not found" }],
        });
      }
      contact = { name: found.name, externalId: found.externalId, attributes: found.attributes };
    }
    const stored = row.content as unknown as BroadcastContent & { request: Record<string, unknown> };
    const rendered = renderContent(stored.request, contact);
    const requestId = newId("request");
    const sent = [];
    for (const [index, to] of body.to.entries()) {
      const send = {
        ...rendered,
        channel: row.channel,
        to,
        from: row.fromChannelId ?? undefined,
        priority: "default",
        fallback: [],
        metadata: { ...row.metadata, broadcast_test: "true" },
        link_tracking: row.linkTracking,
      } as unknown as SendMessageInput;
      const message = await acceptMessage(
        c,
        caller,
        send,
        { key: `broadcast-test:${row.id}:${requestId}:${index}`, fingerprint: "" },
        { broadcastId: row.id, contactId: body.contact_id ?? null },
      );
      sent.push(renderMessage(message));
    }
    return c.json({ object: "list" as const, data: sent }, 202);
  })
  .openapi(eventsRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const row = await findBroadcast(db, caller, c.req.valid("param").id);
    const last = c.req.valid("header")["last-event-id"];
    const lastSeq = last === undefined ? 0 : Number.parseInt(last, 10);
    if (!Number.isSafeInteger(lastSeq) || lastSeq < 0) {
      throw new ApiError("validation_error", "Last-Event-ID must be an id this stream sent (a number).", {
        details: [{ path: "Last-Event-ID", message: "not a number" }],
      });
    }
    return broadcastEventStream(c.env, row, lastSeq) as never;
  });
