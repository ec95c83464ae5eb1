import { createDb } from "../db/client";
import { principalOf } from "../middleware/auth";
import {
  findDelivery,
  findReplay,
  listDeliveries,
  renderDelivery,
  renderReplay,
  replayRange,
} from "../services/webhook-deliveries";
import {
  createEndpoint,
  deleteEndpoint,
  findEndpoint,
  listEndpoints,
  MAX_ENDPOINTS,
  renderEndpoint,
  requireEnabled,
  rotateEndpointSecret,
  updateEndpoint,
} from "../services/webhook-endpoints";
import { sendTestEvent } from "../webhooks/replay";
import { renderEvent } from "./event-schemas";
import {
  decodeCursor,
  jsonResponse,
  listSchema,
  newRouter,
  PaginationQuerySchema,
  page,
  scopedRoute,
} from "./shared";
import {
  CreateEndpointBody,
  DeletedSchema,
  DeliveryParams,
  DeliveryQuery,
  DeliverySchema,
  EndpointIdParam,
  RangeReplayBody,
  ReplayParams,
  ReplaySchema,
  RotateSecretBody,
  TestResultSchema,
  UpdateEndpointBody,
  WebhookEndpointSchema,
  WebhookEndpointWithSecretSchema,
} from "./webhook-endpoint-schemas";

const tags = ["Webhooks"];

const createEndpointRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "post",
    path: "/v1/webhook-endpoints",
    tags,
    summary: "Create a webhook endpoint",
    description:
      "Registers a receiver for the listed event types in this key's environment. The answer carries the " +
      `signing secret, shown once (an idempotent replay answers \`secret: null\`). At most ${MAX_ENDPOINTS} ` +
      "endpoints per environment.",
    request: { body: { required: true, content: { "application/json": { schema: CreateEndpointBody } } } },
    responses: { 201: jsonResponse("The endpoint and its secret.", WebhookEndpointWithSecretSchema) },
  },
  ["validation_error", "invalid_json", "webhook_url_refused", "webhook_endpoint_limit_reached"],
);

const listEndpointsRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "get",
    path: "/v1/webhook-endpoints",
    tags,
    summary: "List webhook endpoints",
    request: { query: PaginationQuerySchema },
    responses: {
      200: jsonResponse("A page of endpoints.", listSchema(WebhookEndpointSchema, "WebhookEndpointList")),
    },
  },
  ["validation_error", "invalid_cursor"],
);

const getEndpointRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "get",
    path: "/v1/webhook-endpoints/{id}",
    tags,
    summary: "Retrieve a webhook endpoint",
    request: { params: EndpointIdParam },
    responses: { 200: jsonResponse("The endpoint (never its secret).", WebhookEndpointSchema) },
  },
  ["resource_not_found"],
);

const updateEndpointRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "patch",
    path: "/v1/webhook-endpoints/{id}",
    tags,
    summary: "Update a webhook endpoint",
    description:
      "Changes url, events, description, rate limit or `enabled`. Disabling fails its pending deliveries; " +
      "enabling clears the reason it was disabled (replay what it missed with the replay route).",
    request: {
      params: EndpointIdParam,
      body: { required: true, content: { "application/json": { schema: UpdateEndpointBody } } },
    },
    responses: { 200: jsonResponse("The endpoint.", WebhookEndpointSchema) },
  },
  ["validation_error", "invalid_json", "resource_not_found", "webhook_url_refused"],
);

const deleteEndpointRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "delete",
    path: "/v1/webhook-endpoints/{id}",
    tags,
    summary: "Delete a webhook endpoint",
    description: "Stops all deliveries to it at once; its pending deliveries end as failed.",
    request: { params: EndpointIdParam },
    responses: { 200: jsonResponse("Deleted.", DeletedSchema) },
  },
  ["resource_not_found"],
);

const rotateSecretRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "post",
    path: "/v1/webhook-endpoints/{id}/rotate-secret",
    tags,
    summary: "Rotate an endpoint's signing secret",
    description:
      "Returns a new secret, shown once (an idempotent replay answers `secret: null`). For `overlap_seconds` " +
      "(default 86400) deliveries carry a signature " +
      "with each secret (two `v1,` entries in `webhook-signature`, two `v1=` in `Sendwire-Signature`).",
    request: {
      params: EndpointIdParam,
      body: { required: false, content: { "application/json": { schema: RotateSecretBody } } },
    },
    responses: { 200: jsonResponse("The endpoint and its new secret.", WebhookEndpointWithSecretSchema) },
  },
  ["validation_error", "invalid_json", "resource_not_found"],
);

const testEndpointRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "post",
    path: "/v1/webhook-endpoints/{id}/test",
    tags,
    summary: "Send a test event",
    description:
      "Delivers a `webhook.test` event to this endpoint only, signed and retried like any other; follow it " +
      "in the deliveries list.",
    request: { params: EndpointIdParam },
    responses: { 202: jsonResponse("The test event and its delivery.", TestResultSchema) },
  },
  ["resource_not_found", "webhook_endpoint_disabled"],
);

const listDeliveriesRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "get",
    path: "/v1/webhook-endpoints/{id}/deliveries",
    tags,
    summary: "List an endpoint's deliveries",
    description:
      "Newest first, each with its attempts (time, status code, latency, error, response excerpt). " +
      "Kept 30 days.",
    request: { params: EndpointIdParam, query: DeliveryQuery },
    responses: {
      200: jsonResponse("A page of deliveries.", listSchema(DeliverySchema, "WebhookDeliveryList")),
    },
  },
  ["validation_error", "invalid_cursor", "resource_not_found"],
);

const getDeliveryRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "get",
    path: "/v1/webhook-endpoints/{id}/deliveries/{delivery_id}",
    tags,
    summary: "Retrieve a delivery",
    request: { params: DeliveryParams },
    responses: { 200: jsonResponse("The delivery and its attempts.", DeliverySchema) },
  },
  ["resource_not_found"],
);

const rangeReplayRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "post",
    path: "/v1/webhook-endpoints/{id}/replay",
    tags,
    summary: "Replay a time range to an endpoint",
    description:
      "Delivers again, in the background, the events between `since` and `until` (within the 30-day " +
      "retention) that this endpoint subscribes to; by default only those whose delivery failed. Follow the " +
      "progress with GET …/replays/{replay_id}.",
    request: {
      params: EndpointIdParam,
      body: { required: true, content: { "application/json": { schema: RangeReplayBody } } },
    },
    responses: { 202: jsonResponse("The replay, running.", ReplaySchema) },
  },
  ["validation_error", "invalid_json", "resource_not_found", "webhook_endpoint_disabled"],
);

const getReplayRoute = scopedRoute(
  "webhooks:manage",
  {
    method: "get",
    path: "/v1/webhook-endpoints/{id}/replays/{replay_id}",
    tags,
    summary: "Retrieve a range replay",
    request: { params: ReplayParams },
    responses: { 200: jsonResponse("The replay and its progress.", ReplaySchema) },
  },
  ["resource_not_found"],
);

export const webhookEndpointsRouter = newRouter()
  .openapi(createEndpointRoute, async (c) => {
    const body = c.req.valid("json");
    const { row, secret } = await createEndpoint(c.env, createDb(c.env.DB), principalOf(c), body);
    return c.json({ ...renderEndpoint(row), secret }, 201);
  })
  .openapi(listEndpointsRoute, async (c) => {
    const query = c.req.valid("query");
    const after = decodeCursor(query.cursor);
    const rows = await listEndpoints(createDb(c.env.DB), principalOf(c), after, query.limit);
    return c.json(page(rows, query.limit, renderEndpoint), 200);
  })
  .openapi(getEndpointRoute, async (c) => {
    const row = await findEndpoint(createDb(c.env.DB), principalOf(c), c.req.valid("param").id);
    return c.json(renderEndpoint(row), 200);
  })
  .openapi(updateEndpointRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    const db = createDb(c.env.DB);
    const current = await findEndpoint(db, caller, c.req.valid("param").id);
    return c.json(renderEndpoint(await updateEndpoint(c.env, db, caller, current, body)), 200);
  })
  .openapi(deleteEndpointRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const endpoint = await findEndpoint(db, caller, c.req.valid("param").id);
    await deleteEndpoint(db, caller, endpoint);
    return c.json({ object: "webhook_endpoint" as const, id: endpoint.id, deleted: true as const }, 200);
  })
  .openapi(rotateSecretRoute, async (c) => {
    const caller = principalOf(c);
    // Without a body the validator is skipped, so the default is applied by the service, not by the schema.
    const overlapSeconds = c.req.valid("json").overlap_seconds;
    const db = createDb(c.env.DB);
    const endpoint = await findEndpoint(db, caller, c.req.valid("param").id);
    const { row, secret } = await rotateEndpointSecret(c.env, db, caller, endpoint, overlapSeconds);
    return c.json({ ...renderEndpoint(row), secret }, 200);
  })
  .openapi(testEndpointRoute, async (c) => {
    const db = createDb(c.env.DB);
    const endpoint = await findEndpoint(db, principalOf(c), c.req.valid("param").id);
    requireEnabled(endpoint);
    const { event, delivery } = await sendTestEvent(c.env, db, endpoint, new Date());
    return c.json(
      { event: renderEvent(event, c.env.API_VERSION), delivery: renderDelivery(delivery, []) },
      202,
    );
  })
  .openapi(listDeliveriesRoute, async (c) => {
    const caller = principalOf(c);
    const query = c.req.valid("query");
    const after = decodeCursor(query.cursor);
    const db = createDb(c.env.DB);
    const endpoint = await findEndpoint(db, caller, c.req.valid("param").id);
    const { rows, attempts } = await listDeliveries(db, endpoint.id, query, after, query.limit);
    return c.json(
      page(rows, query.limit, (row) => renderDelivery(row, attempts.get(row.id) ?? [])),
      200,
    );
  })
  .openapi(getDeliveryRoute, async (c) => {
    const params = c.req.valid("param");
    const db = createDb(c.env.DB);
    const endpoint = await findEndpoint(db, principalOf(c), params.id);
    const { row, attempts } = await findDelivery(db, endpoint.id, params.delivery_id);
    return c.json(renderDelivery(row, attempts), 200);
  })
  .openapi(rangeReplayRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    const db = createDb(c.env.DB);
    const endpoint = await findEndpoint(db, caller, c.req.valid("param").id);
    requireEnabled(endpoint);
    return c.json(renderReplay(await replayRange(c.env, db, caller, endpoint, body)), 202);
  })
  .openapi(getReplayRoute, async (c) => {
    const params = c.req.valid("param");
    const db = createDb(c.env.DB);
    const endpoint = await findEndpoint(db, principalOf(c), params.id);
    return c.json(renderReplay(await findReplay(db, endpoint.id, params.replay_id)), 200);
  });
