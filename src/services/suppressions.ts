import { and, eq, type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { compiled } from "../db/compiled";
import { type SuppressionReason, type SuppressionRow, suppressions } from "../db/schema";
import type { Environment } from "../env";
import { newId } from "../ids";
import type { Channel } from "../providers/types";

/**
 * Suppressions: addresses no send may reach on a channel (opt-outs, bounces, complaints, or added by hand).
 * One row per (tenant, environment, channel, address); addresses are stored normalised (E.164, email with a
 * lower-case domain), so the send path compares them as-is. Shared by the suppressions API, the inbound
 * path (stop keywords, bounces, complaints), the send path and broadcasts.
 */

export interface Scope {
  tenantId: string;
  environment: Environment;
}

export interface SuppressInput {
  channel: Channel;
  /** Already normalised (see normalizeAddress). */
  address: string;
  reason: SuppressionReason;
  sourceId?: string | null;
  note?: string | null;
}

const addressIs = (scope: Scope, channel: Channel, address: string) =>
  and(
    eq(suppressions.tenantId, scope.tenantId),
    eq(suppressions.environment, scope.environment),
    eq(suppressions.channel, channel),
    eq(suppressions.address, address),
  );

/** The new row a suppression would be. */
export function suppressionRow(scope: Scope, input: SuppressInput, now: Date): SuppressionRow {
  return {
    id: newId("suppression"),
    tenantId: scope.tenantId,
    environment: scope.environment,
    channel: input.channel,
    address: input.address,
    reason: input.reason,
    sourceId: input.sourceId ?? null,
    note: input.note ?? null,
    createdAt: now,
  };
}

/**
 * Suppresses the address unless it already is (the first reason is kept), as one batch statement. Its
 * `changes()` is 1 only when it added the row, so an event placed right after it can be guarded by
 * UPDATE_APPLIED. `when` is an extra SQL condition (e.g. "this inbound message was stored by this run").
 */
export function suppressStatement(db: Db, scope: Scope, input: SuppressInput, now: Date, when?: SQL) {
  const row = suppressionRow(scope, input, now);
  return db
    .insert(suppressions)
    .select(sql`
      SELECT ${row.id}, ${row.tenantId}, ${row.environment}, ${row.channel}, ${row.address}, ${row.reason},
        ${row.sourceId}, ${row.note}, ${now.getTime()}
      WHERE ${when ?? sql`1`}`)
    .onConflictDoNothing();
}

/** Suppresses the address (idempotent); returns whether this call added it. */
export async function suppress(db: Db, scope: Scope, input: SuppressInput, now: Date): Promise<boolean> {
  const result = await suppressStatement(db, scope, input, now);
  return result.meta.changes > 0;
}

/**
 * Lifts the address's suppression on the channel when its reason is one of `reasons`, as one batch
 * statement (`changes()` is 1 when it lifted one). A customer's START lifts only their own opt-out, never
 * a bounce, a complaint or a suppression the tenant added by hand.
 */
export function liftStatement(
  db: Db,
  scope: Scope,
  channel: Channel,
  address: string,
  reasons: readonly SuppressionReason[],
  when?: SQL,
) {
  return db
    .delete(suppressions)
    .where(
      and(
        addressIs(scope, channel, address),
        sql`${suppressions.reason} IN (SELECT value FROM json_each(${JSON.stringify(reasons)}))`,
        when,
      ),
    );
}

export async function findSuppression(
  db: Db,
  scope: Scope,
  channel: Channel,
  address: string,
): Promise<SuppressionRow | null> {
  const [row] = await db
    .select()
    .from(suppressions)
    .where(addressIs(scope, channel, address))
    .limit(1);
  return row ?? null;
}

// ---- The send path's check, folded into the accepting batch -------------------------------------------

/**
 * Marker of the guard's failure. It appears in D1's error message only when the guard fired (the SQL text
 * builds it by concatenation, so a message quoting the statement does not contain it).
 */
const SUPPRESSED_MARKER = /!suppressed:(whatsapp|sms|email)\b/;

/**
 * A statement for the top of a send's batch that aborts the whole batch (D1 rolls it back: no debit, no
 * message, no job) when the address is suppressed on any of `channels`: it asks json_extract for a path that
 * is not a JSON path, naming the channel, only when a suppression row exists. No extra round trip: the
 * check rides in the batch the send makes anyway, on the unique (tenant, env, channel, address) index.
 * Compiled once per isolate. Map the batch's error with {@link suppressedChannelOf}.
 */
const compiledSuppressionGuard = compiled<{
  tenantId: string;
  environment: Environment;
  address: string;
  channels: string;
}>((_db, p) => ({
  toSQL: () => ({
    sql: `SELECT json_extract('{}', coalesce((
      SELECT '!suppressed' || ':' || channel FROM suppressions
      WHERE tenant_id = ? AND environment = ? AND address = ?
        AND channel IN (SELECT value FROM json_each(?))
      LIMIT 1), '$')) AS ok`,
    params: [p("tenantId"), p("environment"), p("address"), p("channels")],
  }),
}));

export function suppressionGuard(db: Db, scope: Scope, channels: readonly Channel[], address: string) {
  return compiledSuppressionGuard(db, {
    tenantId: scope.tenantId,
    environment: scope.environment,
    address,
    channels: JSON.stringify([...new Set(channels)]),
  });
}

/** The channel the send's batch was refused on by {@link suppressionGuard}, or null for any other error. */
export function suppressedChannelOf(error: unknown): Channel | null {
  const text = `${String(error)} ${String((error as { cause?: unknown })?.cause ?? "")}`;
  const match = SUPPRESSED_MARKER.exec(text);
  return match ? (match[1] as Channel) : null;
}
