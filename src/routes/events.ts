import { z } from "@hono/zod-openapi";
import { and, desc, eq, gte, lt } from "drizzle-orm";
import { createDb } from "../db/client";
import { events } from "../db/schema";
import type { Principal } from "../env";
import { ApiError } from "../errors";
import { principalOf } from "../middleware/auth";
import { findEndpoint, requireEnabled, subscribedEndpoints } from "../services/webhook-endpoints";
import { EVENT_TYPES } from "../webhooks/events";
import { EVENT_RETENTION_MS, replayEvent } from "../webhooks/replay";
import { EventSchema, renderEvent } from "./event-schemas";
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

const EventTypeFilter = z.union([z.enum(EVENT_TYPES), z.literal("webhook.test")]);

const ListEventsQuery = PaginationQuerySchema.extend({
  type: EventTypeFilter.optional().openapi({ param: { name: "type", in: "query" } }),
  message_id: z
    .string()
    .max(64)
    .optional()
    .openapi({ param: { name: "message_id", in: "query" }, description: "Events about this message only." }),
  since: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({ param: { name: "since", in: "query" }, description: "Events created at or after this time." }),
});

const ReplayEventBody = z
  .strictObject({
    endpoint_id: z.string().max(64).optional().openapi({
      description: "Replay to this endpoint only; default: every enabled endpoint subscribed to the type.",
    }),
  })
  .openapi("ReplayEventRequest");

const ReplayEventResultSchema = z
  .object({
    object: z.literal("event_replay"),
    event_id: z.string(),
    deliveries: z.array(z.object({ id: z.string(), endpoint_id: z.string() })),
  })
  .openapi("EventReplayResult");

const tags = ["Events"];
const EventIdParam = IdParamSchema("evt_01jd3x6n2m8q4v7w9y0z1a2b3c");

const listEventsRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "get",
    path: "/v1/events",
    tags,
    summary: "List events",
    description: "Every event of this environment, newest first, kept 30 days.",
    request: { query: ListEventsQuery },
    responses: { 200: jsonResponse("A page of events.", listSchema(EventSchema, "EventList")) },
  },
  ["validation_error", "invalid_cursor"],
);

const getEventRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "get",
    path: "/v1/events/{id}",
    tags,
    summary: "Retrieve an event",
    request: { params: EventIdParam },
    responses: { 200: jsonResponse("The event, exactly as delivered.", EventSchema) },
  },
  ["resource_not_found"],
);

const replayEventRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "post",
    path: "/v1/events/{id}/replay",
    tags,
    summary: "Replay an event",
    description:
      "Delivers the event again (same id, so receivers that deduplicate on `webhook-id` still can) to the " +
      "endpoint named, or to every enabled endpoint that subscribes to its type.",
    request: {
      params: EventIdParam,
      body: { required: false, content: { "application/json": { schema: ReplayEventBody } } },
    },
    responses: { 202: jsonResponse("The deliveries created.", ReplayEventResultSchema) },
  },
  ["validation_error", "invalid_json", "resource_not_found", "webhook_endpoint_disabled"],
);

const eventScope = (caller: Principal, now: Date) =>
  and(
    eq(events.tenantId, caller.tenantId),
    eq(events.environment, caller.environment),
    // Past the retention an event is gone, even before the sweeper has purged its row.
    gte(events.createdAt, new Date(now.getTime() - EVENT_RETENTION_MS)),
  );

async function findEvent(env: { DB: D1Database }, caller: Principal, id: string) {
  const [row] = await createDb(env.DB)
    .select()
    .from(events)
    .where(and(eventScope(caller, new Date()), eq(events.id, id)))
    .limit(1);
  if (!row)
    throw new ApiError(
      "resource_not_found",
      "No event with that id exists in this environment (kept 30 days).",
    );
  return row;
}

export const eventsRouter = newRouter()
  .openapi(listEventsRoute, async (c) => {
    const caller = principalOf(c);
    const query = c.req.valid("query");
    const after = decodeCursor(query.cursor);
    const rows = await createDb(c.env.DB)
      .select()
      .from(events)
      .where(
        and(
          eventScope(caller, new Date()),
          query.type ? eq(events.type, query.type) : undefined,
          query.message_id ? eq(events.subjectId, query.message_id) : undefined,
          query.since ? gte(events.createdAt, new Date(Date.parse(query.since))) : undefined,
          after ? lt(events.id, after) : undefined,
        ),
      )
      .orderBy(desc(events.id))
      .limit(query.limit + 1);
    return c.json(
      page(rows, query.limit, (row) => renderEvent(row, c.env.API_VERSION)),
      200,
    );
  })
  .openapi(getEventRoute, async (c) => {
    const row = await findEvent(c.env, principalOf(c), c.req.valid("param").id);
    return c.json(renderEvent(row, c.env.API_VERSION), 200);
  })
  .openapi(replayEventRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    const event = await findEvent(c.env, caller, c.req.valid("param").id);
    const db = createDb(c.env.DB);
    const named = body.endpoint_id ? await findEndpoint(db, caller, body.endpoint_id) : null;
    if (named) requireEnabled(named);
    const targets = named ? [named] : await subscribedEndpoints(db, caller, event.type);
    const rows = await replayEvent(c.env, db, event, targets, new Date());
    return c.json(
      {
        object: "event_replay" as const,
        event_id: event.id,
        deliveries: rows.map((row) => ({ id: row.id, endpoint_id: row.endpointId })),
      },
      202,
    );
  });
