import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { AppBindings } from "./env";
import { ApiError, describeError, errorEnvelope } from "./errors";
import { newId } from "./ids";
import { audit } from "./middleware/audit";
import { authenticate } from "./middleware/auth";
import { isRawUpload, jsonBody } from "./middleware/json-body";
import { requestId } from "./middleware/request-id";
import { apiKeysRouter } from "./routes/api-keys";
import { auditLogsRouter } from "./routes/audit-logs";
import { balanceRouter } from "./routes/balance";
import { broadcastsRouter } from "./routes/broadcasts";
import { channelsRouter } from "./routes/channels";
import { contactImportsRouter } from "./routes/contact-imports";
import { contactsRouter } from "./routes/contacts";
import { conversationsRouter } from "./routes/conversations";
import { eventsRouter } from "./routes/events";
import { inboundRouter } from "./routes/inbound";
import { linksRouter } from "./routes/links";
import { listsRouter } from "./routes/lists";
import { lookupsRouter } from "./routes/lookups";
import { mediaRouter } from "./routes/media";
import { messagesRouter } from "./routes/messages";
import { sandboxRouter } from "./routes/sandbox";
import { segmentsRouter } from "./routes/segments";
import { newRouter } from "./routes/shared";
import { suppressionsRouter } from "./routes/suppressions";
import { systemRouter } from "./routes/system";
import { templatesRouter } from "./routes/templates";
import { webhookEndpointsRouter } from "./routes/webhook-endpoints";
import { VERSION } from "./version";

export const MAX_BODY_BYTES = 1024 * 1024;

function renderError(c: Context<AppBindings>, error: ApiError) {
  const id = c.get("requestId") ?? newId("request");
  const origin = new URL(c.req.url).origin;
  const body = errorEnvelope(error.code, error.message, id, origin, error.details);
  return c.json(body, error.status, { ...error.headers, "X-Request-Id": id });
}

/** Maps anything thrown to the envelope. Unknown errors are logged by name and message, never sent out. */
function toApiError(error: unknown, c: Context<AppBindings>): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof HTTPException) {
    if (error.status === 413)
      return new ApiError("payload_too_large", "The request body is larger than 1 MiB.");
    if (error.status === 415 || error.status === 400) {
      return new ApiError(
        "invalid_json",
        "Request bodies must be JSON sent with `Content-Type: application/json`.",
      );
    }
  }
  const detail = describeError(error);
  console.error("unhandled error", { requestId: c.get("requestId"), route: c.req.routePath, detail });
  return new ApiError(
    "internal_error",
    "Something went wrong on our side. Retry the request; if it keeps failing, contact support with the request id.",
  );
}

/** `/v1/api-keys/:id` → a regex matching concrete paths, for telling 404 from 405. */
function routeRegex(path: string): RegExp {
  const pattern = path
    .split("/")
    .map((part) =>
      part.startsWith(":") ? "[^/]+" : part === "*" ? ".*" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
    )
    .join("/");
  return new RegExp(`^${pattern}/?$`);
}

const limitBody = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: () => {
    throw new ApiError("payload_too_large", "The request body is larger than 1 MiB.");
  },
});

export function createApp() {
  const app = newRouter();

  app.use("*", requestId);
  // Audit wraps auth so 403s are recorded too; it records nothing for calls without a valid key.
  app.use("/v1/*", audit);
  app.use("/v1/*", authenticate);
  // Raw file uploads (imports, media) stream under their route's own limit instead (see json-body.ts).
  app.use("/v1/*", (c, next) => (isRawUpload(c) ? next() : limitBody(c, next)));
  app.use("/v1/*", jsonBody);
  // Provider webhooks: no API key and not always JSON (Twilio posts forms), but the same size cap.
  app.use("/inbound/*", limitBody);

  app.route("/", systemRouter);
  app.route("/", apiKeysRouter);
  app.route("/", auditLogsRouter);
  app.route("/", channelsRouter);
  app.route("/", templatesRouter);
  app.route("/", messagesRouter);
  app.route("/", balanceRouter);
  app.route("/", webhookEndpointsRouter);
  app.route("/", eventsRouter);
  app.route("/", contactsRouter);
  app.route("/", listsRouter);
  app.route("/", segmentsRouter);
  app.route("/", contactImportsRouter);
  app.route("/", lookupsRouter);
  app.route("/", broadcastsRouter);
  app.route("/", suppressionsRouter);
  app.route("/", mediaRouter);
  app.route("/", linksRouter);
  app.route("/", conversationsRouter);
  app.route("/", sandboxRouter);
  app.route("/", inboundRouter);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description: "`Authorization: Bearer sw_live_…` or `sw_test_…`. The key's environment selects the data.",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "apiKeyHeader", {
    type: "apiKey",
    in: "header",
    name: "X-API-Key",
    description: "The same key in the `X-API-Key` header.",
  });
  app.doc31("/openapi.json", (c) => ({
    openapi: "3.1.0",
    info: {
      title: "Sendwire API",
      version: VERSION,
      description:
        "One REST API for WhatsApp, SMS and email. Authenticate with a secret key; each route names the scope " +
        `it needs. Errors share one envelope; codes are listed at [/docs/errors](${new URL(c.req.url).origin}/docs/errors).`,
    },
    servers: [{ url: new URL(c.req.url).origin }],
    tags: [
      { name: "API keys", description: "Scoped secret keys, rotation with overlap, revocation." },
      { name: "Audit logs", description: "Every authenticated call, recorded." },
      {
        name: "Messages",
        description: "Send on WhatsApp, SMS or email; follow each message to a final state.",
      },
      { name: "Templates", description: "Message templates with placeholders, reviewed before use." },
      { name: "Channels", description: "Your senders: WhatsApp numbers, Twilio senders, Resend domains." },
      { name: "Balance", description: "Wallet per environment and its ledger." },
      {
        name: "Webhooks",
        description:
          "Signed, retried, ordered delivery of every event to your endpoints; delivery logs and replays.",
      },
      { name: "Events", description: "Every state change, kept 30 days: list, retrieve, replay." },
      {
        name: "Contacts",
        description: "The people you talk to: your id, channel addresses, tags, attributes.",
      },
      {
        name: "Lists",
        description: "Hand-picked sets of contacts, up to 1,000 added per call.",
      },
      {
        name: "Segments",
        description:
          "Saved filters over contacts (tags, attributes, lists, channels, countries, line types), counted in the database.",
      },
      {
        name: "Suppressions",
        description:
          "Addresses no send may reach on a channel: opt-outs (STOP), bounces, complaints and your own.",
      },
      { name: "Lookups", description: "Country and line type of phone numbers, offline, before you send." },
      {
        name: "Media",
        description: "Files uploaded once and sent by id; providers fetch them from signed, expiring URLs.",
      },
      {
        name: "Broadcasts",
        description:
          "One content to a segment, list or contacts: dry run, schedule, paced fan-out, pause/resume/cancel, live progress.",
      },
      { name: "Links", description: "Short links of tracked messages: redirect and click recording." },
      {
        name: "Conversations",
        description: "Customers writing back: conversations, their messages both ways, the WhatsApp window.",
      },
      {
        name: "Sandbox",
        description: "Test-mode tools: simulate a customer writing to you, without a phone.",
      },
      {
        name: "Inbound",
        description:
          "Where Meta, Twilio and Resend post their webhooks (one URL per channel: its `inbound_url`); verified on the raw bytes.",
      },
      { name: "System", description: "Health." },
    ],
  }));

  const handlerRoutes = () =>
    app.routes
      .filter((route) => route.method !== "ALL")
      .map((route) => ({ ...route, regex: routeRegex(route.path) }));
  let routeTable: ReturnType<typeof handlerRoutes> | undefined;

  app.notFound((c) => {
    routeTable ??= handlerRoutes();
    const allowed = [
      ...new Set(routeTable.filter((route) => route.regex.test(c.req.path)).map((r) => r.method)),
    ];
    if (allowed.length > 0) {
      return renderError(
        c,
        new ApiError(
          "method_not_allowed",
          `${c.req.method} is not allowed on this path; use ${allowed.join(", ")}.`,
          {
            headers: { Allow: allowed.join(", ") },
          },
        ),
      );
    }
    return renderError(
      c,
      new ApiError("route_not_found", `No route matches ${c.req.method} ${c.req.path.slice(0, 200)}.`),
    );
  });
  app.onError((error, c) => renderError(c, toApiError(error, c)));

  return app;
}

export type App = ReturnType<typeof createApp>;
