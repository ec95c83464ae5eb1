import { and, desc, eq, sql } from "drizzle-orm";
import { generateKeySecret, hashKeySecret } from "../domain/api-keys";
import type { Environment } from "../env";
import { newId } from "../ids";
import type { Db } from "./client";
import { compiled, compiledInsert, rowMapper } from "./compiled";
import { type ApiKeyRow, apiKeySecrets, apiKeys, tenants } from "./schema";

const insertApiKey = compiledInsert(apiKeys);
const insertApiKeySecret = compiledInsert(apiKeySecrets);

export interface NewApiKey {
  tenantId: string;
  environment: Environment;
  name: string;
  scopes: string[];
  expiresAt: Date | null;
  rateLimitPerMinute: number | null;
  rateLimitBurst: number | null;
  createdByKeyId: string | null;
}

/** Creates a key and its first secret in one batch; the plaintext secret is returned once and never stored. */
export async function createApiKey(
  db: Db,
  input: NewApiKey,
  now: Date,
): Promise<{ key: ApiKeyRow; secret: string }> {
  const { secret, prefix } = generateKeySecret(input.environment);
  const key: ApiKeyRow = {
    id: newId("apiKey"),
    ...input,
    prefix,
    revokedAt: null,
    rotatedAt: null,
    createdAt: now,
  };
  await db.batch([
    insertApiKey(db, key),
    insertApiKeySecret(db, {
      secretHash: await hashKeySecret(secret),
      keyId: key.id,
      prefix,
      expiresAt: null,
      createdAt: now,
    }),
  ]);
  return { key, secret };
}

export async function createTenant(db: Db, name: string, now: Date) {
  const tenant = { id: newId("tenant"), name, createdAt: now };
  await db.insert(tenants).values(tenant);
  return tenant;
}

/** The key a secret hash belongs to, with that secret's own expiry (set once it has been rotated out). */
export async function findKeyBySecretHash(db: Db, secretHash: string) {
  const [row] = await db
    .select({ key: apiKeys, secretExpiresAt: apiKeySecrets.expiresAt })
    .from(apiKeySecrets)
    .innerJoin(apiKeys, eq(apiKeys.id, apiKeySecrets.keyId))
    .where(eq(apiKeySecrets.secretHash, secretHash))
    .limit(1);
  return row ?? null;
}

/** A key by id, only within the caller's tenant and environment (anything else is "not found"). */
export async function findApiKey(db: Db, scope: { tenantId: string; environment: Environment }, id: string) {
  const [row] = await db
    .select()
    .from(apiKeys)
    .where(
      and(
        eq(apiKeys.id, id),
        eq(apiKeys.tenantId, scope.tenantId),
        eq(apiKeys.environment, scope.environment),
      ),
    )
    .limit(1);
  return row ?? null;
}

const apiKeyOf = rowMapper(apiKeys);

/**
 * A page of the caller's keys, newest first, before `before` (a key id, or null for the first page), each
 * with the latest expiry of a rotated-out secret still in its overlap: one query, compiled once per isolate.
 */
const keyPage = compiled(
  (db, p) =>
    db
      .select({
        key: apiKeys,
        // Spelled out: drizzle leaves columns unqualified here, and both tables have an expires_at.
        previousSecretExpiresAt: sql`(SELECT max(s.expires_at) FROM api_key_secrets s
          WHERE s.key_id = "api_keys"."id" AND s.expires_at > ${p("nowMs")})`.as(
          "previous_secret_expires_at",
        ),
      })
      .from(apiKeys)
      .where(
        and(
          eq(apiKeys.tenantId, p("tenantId")),
          eq(apiKeys.environment, p("environment")),
          sql`(${p("before")} IS NULL OR ${apiKeys.id} < ${p("before")})`,
        ),
      )
      .orderBy(desc(apiKeys.id))
      .limit(p("limit")),
  (result) =>
    (result.results as Record<string, unknown>[]).map((raw) => ({
      ...apiKeyOf(raw),
      previousSecretExpiresAt:
        typeof raw.previous_secret_expires_at === "number" ? new Date(raw.previous_secret_expires_at) : null,
    })),
);

export function listApiKeyPage(
  db: Db,
  scope: { tenantId: string; environment: Environment },
  page: { before: string | null; limit: number },
  now: Date,
) {
  return keyPage(db, { ...scope, ...page, nowMs: now.getTime() }).run();
}
