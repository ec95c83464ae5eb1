import { createRoute, OpenAPIHono, type RouteConfig, z } from "@hono/zod-openapi";
import type { Scope } from "../domain/api-keys";
import type { AppBindings } from "../env";
import { ApiError, ERROR_CODE_LIST, ERROR_CODES, type ErrorCode } from "../errors";
import { requireScope } from "../middleware/auth";
import { type IdempotencyMode, keyGate } from "../middleware/key-gate";

export const ErrorCodeSchema = z.enum(ERROR_CODE_LIST).openapi("ErrorCode", {
  description: `Closed list of error codes; each maps to one HTTP status:\n\n${ERROR_CODE_LIST.map(
    (code) => `* \`${code}\` → ${ERROR_CODES[code].status}: ${ERROR_CODES[code].description}`,
  ).join("\n")}`,
});

export const ErrorEnvelopeSchema = z
  .object({
    error: z.object({
      type: z.string().openapi({ example: "invalid_request" }),
      code: ErrorCodeSchema,
      message: z.string().openapi({ example: "name: Required field is missing." }),
      request_id: z.string().openapi({ example: "req_01jd3x6n2m8q4v7w9y0z1a2b3c" }),
      doc_url: z.string().openapi({ example: "http://localhost:8787/docs/errors#validation_error" }),
      details: z.array(z.object({ path: z.string(), message: z.string() })),
    }),
  })
  .openapi("Error");

/** Response entries for the given error codes, grouped by status, each with an example per code. */
export function errorResponses(...codes: ErrorCode[]) {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = ERROR_CODES[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<number, { description: string; content: Record<string, unknown> }> = {};
  for (const [status, group] of byStatus) {
    responses[status] = {
      description: group.map((code) => `\`${code}\`: ${ERROR_CODES[code].description}`).join(" "),
      content: {
        "application/json": {
          schema: ErrorEnvelopeSchema,
          examples: Object.fromEntries(
            group.map((code) => [
              code,
              {
                value: {
                  error: {
                    type: ERROR_CODES[code].type,
                    code,
                    message: ERROR_CODES[code].description,
                    request_id: "req_01jd3x6n2m8q4v7w9y0z1a2b3c",
                    doc_url: `http://localhost:8787/docs/errors#${code}`,
                    details: [],
                  },
                },
              },
            ]),
          ),
        },
      },
    };
  }
  return responses;
}

/** Errors any authenticated route can answer, whatever it does. */
const AUTHENTICATED_ROUTE_ERRORS: ErrorCode[] = [
  "api_key_missing",
  "api_key_invalid",
  "api_key_expired",
  "insufficient_scope",
  "rate_limited",
  "internal_error",
  "service_unavailable",
  // A deployment missing a setting (e.g. SECRETS_ENCRYPTION_KEY) answers this instead of a 500.
  "misconfigured",
];

const IDEMPOTENCY_ERRORS: ErrorCode[] = [
  "idempotency_key_invalid",
  "idempotency_key_in_use",
  "idempotency_key_mismatch",
];

const RATE_LIMIT_RESPONSE_HEADERS = {
  "RateLimit-Policy": {
    description: 'Quota and window, e.g. `"per-key";q=6000;w=60`.',
    schema: { type: "string" },
  },
  RateLimit: {
    description: 'Remaining and seconds to reset, e.g. `"per-key";r=5999;t=60`.',
    schema: { type: "string" },
  },
  "X-RateLimit-Limit": { description: "Requests per minute for this key.", schema: { type: "integer" } },
  "X-RateLimit-Remaining": {
    description: "Requests left in the rolling minute.",
    schema: { type: "integer" },
  },
  "X-RateLimit-Reset": {
    description: "Unix time when the quota is whole again.",
    schema: { type: "integer" },
  },
  "X-RateLimit-Warning": {
    description: "Present once 80 % of the quota is used.",
    schema: { type: "string" },
  },
} as const;

function withRateLimitHeaders(responses: RouteConfig["responses"]): RouteConfig["responses"] {
  return Object.fromEntries(
    Object.entries(responses).map(([status, response]) => [
      status,
      "$ref" in response
        ? response
        : { ...response, headers: { ...RATE_LIMIT_RESPONSE_HEADERS, ...response.headers } },
    ]),
  );
}

/**
 * An authenticated route: requires `scope` (checked first), then makes its one KeyGate round trip (rate limit
 * + idempotency claim) before the body is validated. Documents the scope, the idempotency header, the
 * rate-limit headers and the shared error responses beside the route's own. POST routes accept an
 * `Idempotency-Key` unless told otherwise.
 */
export function scopedRoute<const R extends Omit<RouteConfig, "security" | "middleware">>(
  scopeOrScopes: Scope | readonly [Scope, ...Scope[]],
  config: R,
  extraErrors: ErrorCode[] = [],
  options: { idempotency?: IdempotencyMode } = {},
) {
  // `[read, manage]`: the first is the route's own scope, the others broader ones that include it.
  const [scope, ...alternatives] = typeof scopeOrScopes === "string" ? [scopeOrScopes] : scopeOrScopes;
  const accepted = [scope, ...alternatives];
  const idempotency = options.idempotency ?? (config.method === "post" ? "optional" : "none");
  const idempotencyErrors: ErrorCode[] =
    idempotency === "none"
      ? []
      : idempotency === "required"
        ? ["idempotency_key_required", ...IDEMPOTENCY_ERRORS]
        : IDEMPOTENCY_ERRORS;
  const route = createRoute({
    ...config,
    // Documented as a plain parameter, not a Zod schema: the KeyGate middleware already checks the key (and
    // its body-field twin) before anything else, and a header validator would copy every header per request.
    ...(idempotency === "none"
      ? {}
      : {
          parameters: [
            {
              name: "idempotency-key",
              in: "header" as const,
              required: idempotency === "required",
              description:
                "Makes retries safe: the first successful response is replayed for 7 days " +
                "(`Idempotent-Replayed: true`). 1–255 printable ASCII characters." +
                (idempotency === "required" ? " Required." : ""),
              schema: { type: "string" as const, minLength: 1, maxLength: 255 },
              example: "order-1234-confirmation",
            },
          ],
        }),
    // Requirement objects are alternatives: any one accepted scope, by either way of sending the key.
    security: accepted.flatMap((s): Record<string, string[]>[] => [
      { bearerAuth: [s] },
      { apiKeyHeader: [s] },
    ]),
    middleware: [requireScope(scope, alternatives), keyGate(idempotency)],
    "x-required-scope": scope,
    ...(alternatives.length > 0 ? { "x-accepted-scopes": accepted } : {}),
    responses: withRateLimitHeaders({
      ...errorResponses(...AUTHENTICATED_ROUTE_ERRORS, ...idempotencyErrors, ...extraErrors),
      ...config.responses,
    }),
  });
  // Keep the caller's precise request/response types (the spread above widens them).
  return route as unknown as R & Pick<typeof route, "getRoutingPath" | "security" | "middleware">;
}

/** A JSON response entry for a route's `responses`. */
export function jsonResponse<T extends z.ZodTypeAny>(description: string, schema: T) {
  return { description, content: { "application/json": { schema } } };
}

export const IdParamSchema = (example: string) =>
  z.object({
    id: z
      .string()
      .max(64)
      .openapi({ param: { name: "id", in: "path" }, example }),
  });

export const Timestamp = z.string().openapi({ format: "date-time", example: "2026-11-23T18:00:00.000Z" });

export function toTimestamp(date: Date): string;
export function toTimestamp(date: Date | null): string | null;
export function toTimestamp(date: Date | null): string | null {
  return date ? date.toISOString() : null;
}

export const PaginationQuerySchema = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(20)
    .openapi({ param: { name: "limit", in: "query" }, description: "Page size, 1–100.", example: 20 }),
  cursor: z
    .string()
    .max(200)
    .optional()
    .openapi({
      param: { name: "cursor", in: "query" },
      description: "The `next_cursor` of the previous page; omit for the first page.",
    }),
});

export function listSchema<T extends z.ZodTypeAny>(item: T, name: string) {
  return z
    .object({
      object: z.literal("list"),
      data: z.array(item),
      next_cursor: z
        .string()
        .nullable()
        .openapi({ description: "Pass as `cursor` for the next page; null at the end." }),
    })
    .openapi(name);
}

// Cursors are opaque to callers: the base64url of the last id on the page (ids sort by creation time).
export function encodeCursor(lastId: string): string {
  return btoa(JSON.stringify({ after: lastId }))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}

export function decodeCursor(cursor: string | undefined): string | null {
  if (cursor === undefined) return null;
  try {
    const parsed = JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/")));
    if (typeof parsed?.after === "string" && /^[a-z]{3}_[0-9a-z]{26}$/.test(parsed.after))
      return parsed.after;
  } catch {
    // fall through to the error below
  }
  throw new ApiError(
    "invalid_cursor",
    "The cursor is not valid. Pass the `next_cursor` value of the previous page as-is.",
  );
}

/** Builds a list page from `limit + 1` rows fetched newest first. */
export function page<Row extends { id: string }, Item>(
  rows: Row[],
  limit: number,
  render: (row: Row) => Item,
) {
  const hasMore = rows.length > limit;
  const pageRows = hasMore ? rows.slice(0, limit) : rows;
  const last = pageRows.at(-1);
  return {
    object: "list" as const,
    data: pageRows.map(render),
    next_cursor: hasMore && last ? encodeCursor(last.id) : null,
  };
}

type ValidationTarget = "json" | "query" | "param" | "header" | "cookie" | "form";

/** Dotted path with array indexes in brackets: `rate_limit.burst`, `scopes[2]`. */
function issuePath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, part) => {
    if (typeof part === "number") return `${acc}[${part}]`;
    return acc ? `${acc}.${String(part)}` : String(part);
  }, "");
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_type" && /received undefined$/.test(issue.message))
    return "Required field is missing.";
  if (issue.code === "unrecognized_keys") return `Unknown field(s): ${issue.keys.join(", ")}.`;
  return issue.message;
}

const TARGET_NAMES: Record<ValidationTarget, string> = {
  json: "body",
  query: "query",
  param: "path",
  header: "header",
  cookie: "cookie",
  form: "body",
};

/** Every router uses this hook: a failed schema becomes 400 `validation_error` with one detail per field. */
export function validationHook(result: { success: boolean; target: ValidationTarget; error?: z.ZodError }) {
  if (result.success || !result.error) return;
  const details = result.error.issues.slice(0, 50).map((issue) => ({
    path: issuePath(issue.path) || TARGET_NAMES[result.target],
    message: issueMessage(issue),
  }));
  const summary = details
    .slice(0, 3)
    .map((detail) => `${detail.path}: ${detail.message}`)
    .join(" ");
  throw new ApiError("validation_error", `Invalid ${TARGET_NAMES[result.target]}. ${summary}`, { details });
}

export function newRouter() {
  return new OpenAPIHono<AppBindings>({ defaultHook: validationHook });
}
