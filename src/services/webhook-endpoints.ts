import { and, desc, eq, lt, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { type WebhookEndpointRow, webhookDeliveries, webhookEndpoints } from "../db/schema";
import type { Env, Principal } from "../env";
import { ApiError } from "../errors";
import { newId } from "../ids";
import { sealEndpointSecret } from "../webhooks/endpoint-secrets";
import { checkEndpointUrl } from "../webhooks/guard";
import { generateWebhookSecret } from "../webhooks/secrets";

// A tenant's webhook endpoints: lookups, writes and their API view, for the endpoint and event routes.

/** Endpoints per tenant and environment: enough for real fan-out, few enough that one event stays cheap. */
export const MAX_ENDPOINTS = 20;
const DEFAULT_SECRET_OVERLAP_SECONDS = 86_400;

/** Who is asking: an endpoint belongs to one tenant and one environment. */
type EndpointScope = Pick<Principal, "tenantId" | "environment">;

/** An endpoint as the API shows it (never its secrets); WebhookEndpointSchema in routes/ documents it. */
export type WebhookEndpointView = {
  object: "webhook_endpoint";
  id: string;
  url: string;
  events: string[];
  description: string;
  enabled: boolean;
  disabled_reason: string | null;
  disabled_at: string | null;
  rate_limit_per_second: number | null;
  failing_since: string | null;
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
};

/** What a create asks for (the validated request body). */
export interface NewEndpoint {
  url: string;
  events: string[];
  description?: string;
  rate_limit_per_second?: number;
}

/** What an update changes (the validated request body): absent fields stay as they are. */
export interface EndpointChanges {
  url?: string;
  events?: string[];
  description?: string;
  enabled?: boolean;
  rate_limit_per_second?: number | null;
}

export function renderEndpoint(row: WebhookEndpointRow): WebhookEndpointView {
  const now = Date.now();
  const overlapping =
    row.previousSecretCiphertext &&
    row.previousSecretExpiresAt &&
    row.previousSecretExpiresAt.getTime() > now;
  return {
    object: "webhook_endpoint",
    id: row.id,
    url: row.url,
    events: row.events,
    description: row.description,
    enabled: row.enabled,
    disabled_reason: row.disabledReason,
    disabled_at: row.disabledAt?.toISOString() ?? null,
    rate_limit_per_second: row.rateLimitPerSecond,
    failing_since: row.failingSince?.toISOString() ?? null,
    previous_secret_expires_at: overlapping ? (row.previousSecretExpiresAt?.toISOString() ?? null) : null,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

const endpointScope = (caller: EndpointScope) =>
  and(eq(webhookEndpoints.tenantId, caller.tenantId), eq(webhookEndpoints.environment, caller.environment));

const notFound = () =>
  new ApiError("resource_not_found", "No webhook endpoint with that id exists in this environment.");

/** The caller's endpoint, or 404 (another tenant's or environment's id is not found, not forbidden). */
export async function findEndpoint(db: Db, caller: EndpointScope, id: string): Promise<WebhookEndpointRow> {
  const [row] = await db
    .select()
    .from(webhookEndpoints)
    .where(and(endpointScope(caller), eq(webhookEndpoints.id, id)))
    .limit(1);
  if (!row) throw notFound();
  return row;
}

export function requireEnabled(endpoint: WebhookEndpointRow) {
  if (!endpoint.enabled) {
    const why = endpoint.disabledReason ? ` (${endpoint.disabledReason})` : "";
    throw new ApiError(
      "webhook_endpoint_disabled",
      `Webhook endpoint ${endpoint.id} is disabled${why}. Enable it with PATCH {"enabled": true} first.`,
    );
  }
}

/** The caller's endpoints older than `after`, newest first: `limit + 1` of them, so a page knows if more follow. */
export function listEndpoints(db: Db, caller: EndpointScope, after: string | null, limit: number) {
  return db
    .select()
    .from(webhookEndpoints)
    .where(and(endpointScope(caller), after ? lt(webhookEndpoints.id, after) : undefined))
    .orderBy(desc(webhookEndpoints.id))
    .limit(limit + 1);
}

/** Endpoints an event is fanned out to now: enabled, in its environment, subscribed to its type. */
export async function subscribedEndpoints(db: Db, caller: EndpointScope, type: string) {
  return db
    .select()
    .from(webhookEndpoints)
    .where(
      and(
        endpointScope(caller),
        eq(webhookEndpoints.enabled, true),
        sql`EXISTS (SELECT 1 FROM json_each(${webhookEndpoints.events}) WHERE json_each.value IN (${type}, '*'))`,
      ),
    );
}

/** The URL guard at registration; answers the normalised URL that is stored and fetched. */
async function guardUrl(env: Env, url: string): Promise<string> {
  const checked = await checkEndpointUrl(env, url);
  if (checked.ok) return checked.url;
  if (checked.unresolvable) {
    throw new ApiError("service_unavailable", `${checked.reason} Retry in a moment.`);
  }
  throw new ApiError("webhook_url_refused", checked.reason, {
    details: [{ path: "url", message: checked.reason }],
  });
}

const subscription = (events: string[]) => (events.includes("*") ? ["*"] : events);

/** Registers an endpoint with a new secret (answered once, never stored in the clear). */
export async function createEndpoint(
  env: Env,
  db: Db,
  caller: EndpointScope,
  input: NewEndpoint,
): Promise<{ row: WebhookEndpointRow; secret: string }> {
  const url = await guardUrl(env, input.url);
  const now = new Date();
  const secret = generateWebhookSecret();
  const row: WebhookEndpointRow = {
    id: newId("webhookEndpoint"),
    tenantId: caller.tenantId,
    environment: caller.environment,
    url,
    events: subscription(input.events),
    description: input.description ?? "",
    enabled: true,
    disabledReason: null,
    disabledAt: null,
    rateLimitPerSecond: input.rate_limit_per_second ?? null,
    secretCiphertext: await sealEndpointSecret(env, caller.tenantId, secret),
    previousSecretCiphertext: null,
    previousSecretExpiresAt: null,
    failingSince: null,
    createdAt: now,
    updatedAt: now,
    rateWindowStart: null,
    rateWindowCount: 0,
  };
  // The limit is checked inside the insert, so concurrent creates cannot pass it together.
  const inserted = await db
    .insert(webhookEndpoints)
    .select(sql`SELECT ${row.id}, ${row.tenantId}, ${row.environment}, ${row.url}, ${JSON.stringify(row.events)},
        ${row.description}, 1, NULL, NULL, ${row.rateLimitPerSecond}, ${row.secretCiphertext}, NULL, NULL, NULL,
        ${now.getTime()}, ${now.getTime()}, NULL, 0
      WHERE (SELECT count(*) FROM webhook_endpoints
        WHERE tenant_id = ${caller.tenantId} AND environment = ${caller.environment}) < ${MAX_ENDPOINTS}`)
    .returning({ id: webhookEndpoints.id });
  if (inserted.length === 0) {
    throw new ApiError(
      "webhook_endpoint_limit_reached",
      `This environment already has ${MAX_ENDPOINTS} webhook endpoints; delete one before adding another.`,
    );
  }
  return { row, secret };
}

/** Applies `input` to `current`; disabling fails its pending deliveries in the same batch. */
export async function updateEndpoint(
  env: Env,
  db: Db,
  caller: EndpointScope,
  current: WebhookEndpointRow,
  input: EndpointChanges,
): Promise<WebhookEndpointRow> {
  const now = new Date();
  const changes: Partial<WebhookEndpointRow> = { updatedAt: now };
  if (input.url !== undefined) changes.url = await guardUrl(env, input.url);
  if (input.events !== undefined) changes.events = subscription(input.events);
  if (input.description !== undefined) changes.description = input.description;
  if (input.rate_limit_per_second !== undefined) changes.rateLimitPerSecond = input.rate_limit_per_second;
  if (input.enabled === true && !current.enabled) {
    Object.assign(changes, { enabled: true, disabledReason: null, disabledAt: null, failingSince: null });
  }
  const disabling = input.enabled === false && current.enabled;
  if (disabling)
    Object.assign(changes, { enabled: false, disabledReason: "Disabled by the API.", disabledAt: now });
  const where = and(endpointScope(caller), eq(webhookEndpoints.id, current.id));
  const [updated] = await db.batch([
    db.update(webhookEndpoints).set(changes).where(where).returning(),
    ...(disabling ? [failPending(db, current.id, "The endpoint was disabled.", now)] : []),
  ]);
  const row = updated[0];
  if (!row) throw notFound();
  return row;
}

/** Deletes the endpoint; its pending deliveries end as failed. */
export async function deleteEndpoint(db: Db, caller: EndpointScope, endpoint: WebhookEndpointRow) {
  const now = new Date();
  await db.batch([
    db.delete(webhookEndpoints).where(and(endpointScope(caller), eq(webhookEndpoints.id, endpoint.id))),
    failPending(db, endpoint.id, "The endpoint was deleted.", now),
  ]);
}

/** A new secret (answered once); the old one keeps signing beside it for `overlapSeconds` (default a day). */
export async function rotateEndpointSecret(
  env: Env,
  db: Db,
  caller: EndpointScope,
  endpoint: WebhookEndpointRow,
  overlapSeconds = DEFAULT_SECRET_OVERLAP_SECONDS,
): Promise<{ row: WebhookEndpointRow; secret: string }> {
  const now = new Date();
  const secret = generateWebhookSecret();
  const [row] = await db
    .update(webhookEndpoints)
    .set({
      secretCiphertext: await sealEndpointSecret(env, caller.tenantId, secret),
      previousSecretCiphertext: overlapSeconds > 0 ? endpoint.secretCiphertext : null,
      previousSecretExpiresAt: overlapSeconds > 0 ? new Date(now.getTime() + overlapSeconds * 1000) : null,
      updatedAt: now,
    })
    .where(and(endpointScope(caller), eq(webhookEndpoints.id, endpoint.id)))
    .returning();
  if (!row) throw notFound();
  return { row, secret };
}

/** Ends an endpoint's pending deliveries (it was deleted or disabled): nothing more will be attempted. */
function failPending(db: Db, endpointId: string, reason: string, now: Date) {
  return db
    .update(webhookDeliveries)
    .set({ status: "failed", nextAttemptAt: null, lastError: reason, completedAt: now })
    .where(and(eq(webhookDeliveries.endpointId, endpointId), eq(webhookDeliveries.status, "pending")));
}
