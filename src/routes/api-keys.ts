import { and, eq, gt, inArray, sql } from "drizzle-orm";
import { createApiKey, findApiKey, listApiKeyPage } from "../db/api-keys";
import { createDb } from "../db/client";
import { type ApiKeyRow, apiKeySecrets, apiKeys } from "../db/schema";
import {
  type AuthorityExcess,
  authorityExcess,
  DEFAULT_RATE_LIMIT,
  DEFAULT_ROTATION_OVERLAP_SECONDS,
  generateKeySecret,
  hashKeySecret,
  missingScopes,
} from "../domain/api-keys";
import type { Principal } from "../env";
import { ApiError } from "../errors";
import { forgetKey, principalOf } from "../middleware/auth";
import {
  ApiKeySchema,
  ApiKeyWithSecretSchema,
  CreateApiKeyBody,
  RotateApiKeyBody,
  renderApiKey,
} from "./api-key-schemas";
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

/** Latest expiry of a still-valid rotated-out secret, per key id. */
async function previousSecretExpiries(db: ReturnType<typeof createDb>, keyIds: string[], now: Date) {
  if (keyIds.length === 0) return new Map<string, Date>();
  const rows = await db
    .select({ keyId: apiKeySecrets.keyId, expiresAt: apiKeySecrets.expiresAt })
    .from(apiKeySecrets)
    .where(and(inArray(apiKeySecrets.keyId, keyIds), gt(apiKeySecrets.expiresAt, now)));
  const latest = new Map<string, Date>();
  for (const row of rows) {
    const current = latest.get(row.keyId);
    if (row.expiresAt && (!current || row.expiresAt > current)) latest.set(row.keyId, row.expiresAt);
  }
  return latest;
}

const createApiKeyRoute = scopedRoute(
  "keys:manage",
  {
    method: "post",
    path: "/v1/api-keys",
    tags: ["API keys"],
    summary: "Create an API key",
    description:
      "Creates a key in the caller's environment with a subset of the caller's scopes, expiring no later and " +
      "limited no higher than the caller. The secret is returned once; an idempotent replay answers `secret: null`.",
    request: { body: { required: true, content: { "application/json": { schema: CreateApiKeyBody } } } },
    responses: {
      201: jsonResponse("The new key, with its secret (shown only here).", ApiKeyWithSecretSchema),
    },
  },
  ["validation_error", "invalid_json", "environment_not_permitted", "insufficient_scope"],
);

const listApiKeysRoute = scopedRoute(
  "keys:manage",
  {
    method: "get",
    path: "/v1/api-keys",
    tags: ["API keys"],
    summary: "List API keys",
    description: "Keys of the caller's tenant and environment, newest first. Secrets are never returned.",
    request: { query: PaginationQuerySchema },
    responses: {
      200: jsonResponse("A page of keys.", listSchema(ApiKeySchema, "ApiKeyList")),
    },
  },
  ["validation_error", "invalid_cursor"],
);

const getApiKeyRoute = scopedRoute(
  "keys:manage",
  {
    method: "get",
    path: "/v1/api-keys/{id}",
    tags: ["API keys"],
    summary: "Retrieve an API key",
    request: { params: IdParamSchema("key_01jd3x6n2m8q4v7w9y0z1a2b3c") },
    responses: {
      200: jsonResponse("The key.", ApiKeySchema),
    },
  },
  ["resource_not_found"],
);

const rotateApiKeyRoute = scopedRoute(
  "keys:manage",
  {
    method: "post",
    path: "/v1/api-keys/{id}/rotate",
    tags: ["API keys"],
    summary: "Rotate an API key's secret",
    description:
      "Issues a new secret under the same key id. The previous secret keeps working for `overlap_seconds`. A key " +
      "may always rotate itself; rotating another key needs every scope it holds (403 `insufficient_scope`) and " +
      "an expiry and rate limit at least as broad as its (400 `validation_error`). An idempotent replay answers " +
      "`secret: null`.",
    request: {
      params: IdParamSchema("key_01jd3x6n2m8q4v7w9y0z1a2b3c"),
      body: { required: false, content: { "application/json": { schema: RotateApiKeyBody } } },
    },
    responses: {
      200: jsonResponse("The key with its new secret (shown only here).", ApiKeyWithSecretSchema),
    },
  },
  ["validation_error", "invalid_json", "resource_not_found", "api_key_revoked", "insufficient_scope"],
);

const revokeApiKeyRoute = scopedRoute(
  "keys:manage",
  {
    method: "delete",
    path: "/v1/api-keys/{id}",
    tags: ["API keys"],
    summary: "Revoke an API key",
    description:
      "Revokes the key and all of its secrets, effective on the next request. Repeating it is harmless. A key may " +
      "always revoke itself; revoking another key needs every scope it holds (403 `insufficient_scope`).",
    request: { params: IdParamSchema("key_01jd3x6n2m8q4v7w9y0z1a2b3c") },
    responses: {
      200: jsonResponse("The revoked key.", ApiKeySchema),
    },
  },
  ["resource_not_found", "insufficient_scope"],
);

export const apiKeysRouter = newRouter()
  .openapi(createApiKeyRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    const environment = body.environment ?? caller.environment;
    if (environment !== caller.environment) {
      throw new ApiError(
        "environment_not_permitted",
        `A ${caller.environment} key can only create ${caller.environment} keys; use a ${environment} key to create this one.`,
      );
    }
    const scopes = [...new Set(body.scopes)];
    const lacking = missingScopes(caller.scopes, scopes);
    if (lacking.length > 0) {
      throw new ApiError(
        "insufficient_scope",
        `This API key cannot grant scopes it does not hold: ${lacking.join(", ")}.`,
        {
          details: lacking.map((scope) => ({ path: "scopes", message: scope })),
        },
      );
    }
    const now = new Date();
    const expiresAt = body.expires_at
      ? new Date(body.expires_at)
      : body.ttl_seconds
        ? new Date(now.getTime() + body.ttl_seconds * 1000)
        : caller.expiresAt;
    if (expiresAt && expiresAt.getTime() <= now.getTime()) {
      throw new ApiError("validation_error", "expires_at must be in the future.", {
        details: [{ path: "expires_at", message: "must be in the future" }],
      });
    }
    // Unset limits follow the defaults, lowered to the caller's own where those are lower.
    const rateLimit = {
      requestsPerMinute:
        body.rate_limit?.requests_per_minute ??
        lowerOnly(caller.rateLimit.requestsPerMinute, "requestsPerMinute"),
      burst: body.rate_limit?.burst ?? lowerOnly(caller.rateLimit.burst, "burst"),
    };
    refuseExcess(
      "This API key cannot create a key that outlives or outruns it",
      authorityExcess(
        caller,
        {
          expiresAt,
          rateLimit: {
            requestsPerMinute: rateLimit.requestsPerMinute ?? DEFAULT_RATE_LIMIT.requestsPerMinute,
            burst: rateLimit.burst ?? DEFAULT_RATE_LIMIT.burst,
          },
        },
        {
          expiresAt: body.ttl_seconds !== undefined ? "ttl_seconds" : "expires_at",
          requestsPerMinute: "rate_limit.requests_per_minute",
          burst: "rate_limit.burst",
        },
      ),
    );
    const { key, secret } = await createApiKey(
      createDb(c.env.DB),
      {
        tenantId: caller.tenantId,
        environment,
        name: body.name,
        scopes,
        expiresAt,
        rateLimitPerMinute: rateLimit.requestsPerMinute,
        rateLimitBurst: rateLimit.burst,
        createdByKeyId: caller.keyId,
      },
      now,
    );
    return c.json({ ...renderApiKey(key, now), secret }, 201);
  })
  .openapi(listApiKeysRoute, async (c) => {
    const caller = principalOf(c);
    const { limit, cursor } = c.req.valid("query");
    const now = new Date();
    const rows = await listApiKeyPage(
      createDb(c.env.DB),
      caller,
      { before: decodeCursor(cursor) ?? null, limit: limit + 1 },
      now,
    );
    return c.json(
      page(rows, limit, (row) => renderApiKey(row, now, row.previousSecretExpiresAt)),
      200,
    );
  })
  .openapi(getApiKeyRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const key = await findApiKey(db, caller, c.req.valid("param").id);
    if (!key) throw notFound();
    const now = new Date();
    const previous = await previousSecretExpiries(db, [key.id], now);
    return c.json(renderApiKey(key, now, previous.get(key.id) ?? null), 200);
  })
  .openapi(rotateApiKeyRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const key = await findApiKey(db, caller, c.req.valid("param").id);
    if (!key) throw notFound();
    requireAuthorityOver(caller, key, "rotate");
    if (key.revokedAt)
      throw new ApiError("api_key_revoked", "This key is revoked and cannot be rotated; create a new key.");

    const overlapSeconds = c.req.valid("json").overlap_seconds ?? DEFAULT_ROTATION_OVERLAP_SECONDS;
    const now = new Date();
    const previousExpiresAt = new Date(now.getTime() + overlapSeconds * 1000);
    const { secret, prefix } = generateKeySecret(key.environment);
    const ofKey = eq(apiKeySecrets.keyId, key.id);
    // One batch: every older secret (the current one and any still in an earlier overlap) stops working at
    // the end of this overlap at the latest, or now when it is 0; the new secret becomes current.
    await db.batch([
      overlapSeconds === 0
        ? db.delete(apiKeySecrets).where(ofKey)
        : db
            .update(apiKeySecrets)
            .set({
              expiresAt: sql`min(coalesce(${apiKeySecrets.expiresAt}, ${previousExpiresAt.getTime()}), ${previousExpiresAt.getTime()})`,
            })
            .where(ofKey),
      db.insert(apiKeySecrets).values({
        secretHash: await hashKeySecret(secret),
        keyId: key.id,
        prefix,
        expiresAt: null,
        createdAt: now,
      }),
      db.update(apiKeys).set({ prefix, rotatedAt: now }).where(eq(apiKeys.id, key.id)),
    ]);
    forgetKey(key.id);
    const previous = await previousSecretExpiries(db, [key.id], now);
    const rotated = { ...key, prefix, rotatedAt: now };
    return c.json({ ...renderApiKey(rotated, now, previous.get(key.id) ?? null), secret }, 200);
  })
  .openapi(revokeApiKeyRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const key = await findApiKey(db, caller, c.req.valid("param").id);
    if (!key) throw notFound();
    requireAuthorityOver(caller, key, "revoke");
    const now = new Date();
    const revokedAt = key.revokedAt ?? now;
    if (!key.revokedAt) await db.update(apiKeys).set({ revokedAt }).where(eq(apiKeys.id, key.id));
    forgetKey(key.id);
    return c.json(renderApiKey({ ...key, revokedAt }, now), 200);
  });

/** An unset limit is stored as null (the default) unless the caller's own is lower, which it then inherits. */
function lowerOnly(callerValue: number, field: keyof typeof DEFAULT_RATE_LIMIT): number | null {
  return callerValue < DEFAULT_RATE_LIMIT[field] ? callerValue : null;
}

function refuseExcess(lead: string, excess: AuthorityExcess[]) {
  if (excess.length === 0) return;
  throw new ApiError(
    "validation_error",
    `${lead}: ${excess.map((item) => `${item.path} ${item.message}`).join("; ")}.`,
    { details: excess },
  );
}

/**
 * A key may always rotate or revoke itself. Acting on another key needs every scope that key holds (or a
 * `keys:manage` key could take over a broader one), and, for a rotation, which hands out the key's new
 * secret, an expiry and rate limit at least as broad as the key's.
 */
function requireAuthorityOver(caller: Principal, key: ApiKeyRow, action: "rotate" | "revoke") {
  if (key.id === caller.keyId) return;
  const lacking = missingScopes(caller.scopes, key.scopes);
  if (lacking.length > 0) {
    throw new ApiError(
      "insufficient_scope",
      `This API key cannot ${action} ${key.id}: that key holds scopes this one lacks (${lacking.join(", ")}). Use a key with every scope of the target.`,
      { details: lacking.map((scope) => ({ path: "scopes", message: scope })) },
    );
  }
  if (action === "revoke") return;
  refuseExcess(
    `This API key cannot rotate ${key.id}, which outlives or outruns it`,
    authorityExcess(
      caller,
      {
        expiresAt: key.expiresAt,
        rateLimit: {
          requestsPerMinute: key.rateLimitPerMinute ?? DEFAULT_RATE_LIMIT.requestsPerMinute,
          burst: key.rateLimitBurst ?? DEFAULT_RATE_LIMIT.burst,
        },
      },
      {
        expiresAt: "expires_at",
        requestsPerMinute: "rate_limit.requests_per_minute",
        burst: "rate_limit.burst",
      },
    ),
  );
}

function notFound() {
  return new ApiError("resource_not_found", "No API key with that id exists in this environment.");
}
