import { z } from "@hono/zod-openapi";
import { and, desc, eq, gte, lt, lte } from "drizzle-orm";
import { createDb } from "../db/client";
import { type AuditLogRow, auditLogs } from "../db/schema";
import { ENVIRONMENTS } from "../domain/api-keys";
import { principalOf } from "../middleware/auth";
import {
  decodeCursor,
  jsonResponse,
  listSchema,
  newRouter,
  PaginationQuerySchema,
  page,
  scopedRoute,
  Timestamp,
  toTimestamp,
} from "./shared";

export const AuditLogSchema = z
  .object({
    object: z.literal("audit_log"),
    id: z.string().openapi({ example: "log_01jd3x6n2m8q4v7w9y0z1a2b3c" }),
    created_at: Timestamp,
    key_id: z.string(),
    key_prefix: z.string(),
    environment: z.enum(ENVIRONMENTS),
    method: z.string().openapi({ example: "POST" }),
    route: z.string().openapi({ example: "/v1/api-keys/:id/rotate" }),
    status: z.number().int().openapi({ example: 200 }),
    request_id: z.string(),
    idempotency_key: z.string().nullable(),
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    latency_ms: z.number().int(),
  })
  .openapi("AuditLog");

function renderAuditLog(row: AuditLogRow): z.infer<typeof AuditLogSchema> {
  return {
    object: "audit_log",
    id: row.id,
    created_at: toTimestamp(row.createdAt),
    key_id: row.keyId,
    key_prefix: row.keyPrefix,
    environment: row.environment,
    method: row.method,
    route: row.route,
    status: row.status,
    request_id: row.requestId,
    idempotency_key: row.idempotencyKey,
    ip: row.ip,
    user_agent: row.userAgent,
    latency_ms: row.latencyMs,
  };
}

const AuditLogQuery = PaginationQuerySchema.extend({
  key_id: z
    .string()
    .max(64)
    .optional()
    .openapi({ param: { name: "key_id", in: "query" }, description: "Only calls made with this key." }),
  from: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({
      param: { name: "from", in: "query" },
      description: "Calls at or after this time (RFC 3339).",
    }),
  to: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({ param: { name: "to", in: "query" }, description: "Calls at or before this time (RFC 3339)." }),
  status: z.coerce
    .number()
    .int()
    .min(100)
    .max(599)
    .optional()
    .openapi({
      param: { name: "status", in: "query" },
      description: "Only calls answered with this HTTP status.",
    }),
});

const listAuditLogsRoute = scopedRoute(
  "audit:read",
  {
    method: "get",
    path: "/v1/audit-logs",
    tags: ["Audit logs"],
    summary: "List audit log entries",
    description:
      "Every authenticated call in the caller's environment, reads included, newest first. Entries are written " +
      "just after the response, so a call shows up a moment later.",
    request: { query: AuditLogQuery },
    responses: {
      200: jsonResponse("A page of audit log entries.", listSchema(AuditLogSchema, "AuditLogList")),
    },
  },
  ["validation_error", "invalid_cursor"],
);

export const auditLogsRouter = newRouter().openapi(listAuditLogsRoute, async (c) => {
  const caller = principalOf(c);
  const query = c.req.valid("query");
  const after = decodeCursor(query.cursor);
  const rows = await createDb(c.env.DB)
    .select()
    .from(auditLogs)
    .where(
      and(
        eq(auditLogs.tenantId, caller.tenantId),
        eq(auditLogs.environment, caller.environment),
        query.key_id ? eq(auditLogs.keyId, query.key_id) : undefined,
        query.from ? gte(auditLogs.createdAt, new Date(query.from)) : undefined,
        query.to ? lte(auditLogs.createdAt, new Date(query.to)) : undefined,
        query.status ? eq(auditLogs.status, query.status) : undefined,
        after ? lt(auditLogs.id, after) : undefined,
      ),
    )
    .orderBy(desc(auditLogs.id))
    .limit(query.limit + 1);
  return c.json(page(rows, query.limit, renderAuditLog), 200);
});
