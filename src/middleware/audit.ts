import { createMiddleware } from "hono/factory";
import { matchedRoutes } from "hono/route";
import { createDb } from "../db/client";
import { compiledInsert } from "../db/compiled";
import { auditLogs } from "../db/schema";
import type { AppBindings } from "../env";
import { describeError } from "../errors";
import { newId } from "../ids";

const MAX_HEADER_CHARS = 255;
/** Every authenticated request writes one: compiled once per isolate. */
const insertAuditLog = compiledInsert(auditLogs);

/** The matched route template (`/v1/api-keys/:id`), never the concrete path. */
function routeTemplate(c: Parameters<typeof matchedRoutes>[0]): string {
  const handlerRoutes = matchedRoutes(c).filter((route) => route.method !== "ALL");
  return handlerRoutes.at(-1)?.path ?? "(unmatched)";
}

/**
 * Records every authenticated call (reads included) after the response is built, through waitUntil so
 * the caller never waits for it. Only metadata is kept: no bodies, no secrets, no query strings.
 */
export const audit = createMiddleware<AppBindings>(async (c, next) => {
  const startedAt = Date.now();
  await next();
  const principal = c.get("principal");
  if (!principal) return;
  const row = {
    id: newId("auditLog"),
    tenantId: principal.tenantId,
    environment: principal.environment,
    keyId: principal.keyId,
    keyPrefix: principal.keyPrefix,
    method: c.req.method,
    route: routeTemplate(c),
    status: c.res.status,
    requestId: c.get("requestId"),
    idempotencyKey: c.req.header("idempotency-key")?.slice(0, MAX_HEADER_CHARS) ?? null,
    ip: c.req.header("cf-connecting-ip")?.slice(0, 64) ?? null,
    userAgent: c.req.header("user-agent")?.slice(0, MAX_HEADER_CHARS) ?? null,
    latencyMs: Date.now() - startedAt,
    createdAt: new Date(startedAt),
  };
  const write = insertAuditLog(createDb(c.env.DB), row)
    .run()
    .then(
      () => undefined,
      (error: unknown) =>
        console.error("audit log write failed", { requestId: row.requestId, error: describeError(error) }),
    );
  c.executionCtx.waitUntil(write);
});
