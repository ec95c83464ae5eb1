import { and, eq, type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { contacts, lists, type SkipReason, segments } from "../db/schema";
import { parseSegmentFilter } from "../domain/segments";
import type { Environment, Principal } from "../env";
import type { Channel } from "../providers/types";
import { segmentCondition } from "./segments";

/**
 * A broadcast's audience in D1: which contacts it names, each one's address on the broadcast's channel and
 * why it would be skipped. Everything here is SQL over indexes, paged by contact id, so neither a dry run
 * nor the snapshot of 100,000 recipients loads the audience into the worker.
 */

export type Audience = { segment_id: string } | { list_id: string } | { contact_ids: string[] };

interface Scope {
  tenantId: string;
  environment: Environment;
}

/** Rows written per snapshot statement: one D1 statement each, well inside its time limit. */
export const SNAPSHOT_PAGE = 5_000;

/** The audience's filter over unaliased `contacts` (scope included), or null when it names nothing valid. */
export async function audienceCondition(db: Db, scope: Scope, audience: Audience): Promise<SQL | null> {
  const inScope = and(eq(contacts.tenantId, scope.tenantId), eq(contacts.environment, scope.environment));
  if ("segment_id" in audience) {
    const [row] = await db
      .select({ filter: segments.filter })
      .from(segments)
      .where(
        and(
          eq(segments.id, audience.segment_id),
          eq(segments.tenantId, scope.tenantId),
          eq(segments.environment, scope.environment),
        ),
      )
      .limit(1);
    if (!row) return null;
    const parsed = parseSegmentFilter(row.filter);
    if (!parsed.ok) return null;
    return and(inScope, segmentCondition(parsed.filter)) as SQL;
  }
  if ("list_id" in audience) {
    const [row] = await db
      .select({ id: lists.id })
      .from(lists)
      .where(
        and(
          eq(lists.id, audience.list_id),
          eq(lists.tenantId, scope.tenantId),
          eq(lists.environment, scope.environment),
        ),
      )
      .limit(1);
    if (!row) return null;
    return and(
      inScope,
      sql`${contacts.id} IN (SELECT contact_id FROM list_members WHERE list_id = ${audience.list_id})`,
    ) as SQL;
  }
  return and(
    inScope,
    sql`${contacts.id} IN (SELECT value FROM json_each(${JSON.stringify(audience.contact_ids)}))`,
  ) as SQL;
}

/**
 * Per contact: its first address on `channel` (oldest), that address's country, and the skip reason
 * (no address; an invalid or landline number; suppressed on the channel or a fallback channel).
 */
function recipientColumns(channel: Channel, hopChannels: Channel[]) {
  // Unary + keeps SQLite off the (tenant, environment, channel, address) key, which would scan every address
  // of the tenant per contact: (contact_id, channel, created_at, address) answers this in one seek.
  const address = sql`(SELECT ca.rowid FROM contact_addresses ca WHERE ca.contact_id = contacts.id
    AND ca.channel = ${channel} AND +ca.tenant_id = contacts.tenant_id AND +ca.environment = contacts.environment
    ORDER BY ca.created_at, ca.address LIMIT 1)`;
  const skip = sql`CASE
      WHEN a.address IS NULL THEN 'no_address'
      WHEN a.line_type = 'invalid' THEN 'invalid'
      WHEN a.line_type = 'landline' THEN 'not_mobile'
      WHEN EXISTS (SELECT 1 FROM suppressions s WHERE s.tenant_id = contacts.tenant_id
        AND s.environment = contacts.environment AND s.address = a.address
        AND s.channel IN (SELECT value FROM json_each(${JSON.stringify(hopChannels)}))) THEN 'suppressed'
      ELSE NULL END`;
  return { join: sql`LEFT JOIN contact_addresses a ON a.rowid = ${address}`, skip };
}

/** Recipients of the audience per country and skip reason, counted in D1 (the dry run). */
export async function audienceBreakdown(
  db: Db,
  condition: SQL,
  channel: Channel,
  hopChannels: Channel[],
): Promise<{ country: string | null; skip: SkipReason | null; n: number }[]> {
  const { join, skip } = recipientColumns(channel, hopChannels);
  const rows = await db.all<{ country: string | null; skip: SkipReason | null; n: number }>(sql`
    SELECT a.country AS country, ${skip} AS skip, count(*) AS n
    FROM contacts ${join}
    WHERE ${condition}
    GROUP BY 1, 2`);
  return rows.map((row) => ({ ...row, n: Number(row.n) }));
}

/** The first `limit` eligible recipients with what merge fields need (dry-run samples, test sends). */
export async function sampleRecipients(
  db: Db,
  condition: SQL,
  channel: Channel,
  hopChannels: Channel[],
  limit: number,
) {
  const { join, skip } = recipientColumns(channel, hopChannels);
  return db.all<{
    contact_id: string;
    address: string;
    country: string | null;
    name: string | null;
    external_id: string | null;
    attributes: string;
  }>(sql`
    SELECT contacts.id AS contact_id, a.address AS address, a.country AS country, contacts.name AS name,
      contacts.external_id AS external_id, contacts.attributes AS attributes
    FROM contacts ${join}
    WHERE ${condition} AND ${skip} IS NULL
    ORDER BY contacts.id
    LIMIT ${limit}`);
}

/**
 * One page of the snapshot: the next SNAPSHOT_PAGE contacts after the last one taken (by id), numbered on
 * from the last seq. The (broadcast, seq) key and the (broadcast, contact) index make a second run of the same
 * page fail instead of adding anyone twice. Returns how many rows it wrote (fewer than a page: the end).
 */
export async function snapshotPage(
  db: Db,
  broadcastId: string,
  condition: SQL,
  channel: Channel,
  hopChannels: Channel[],
): Promise<number> {
  const [last] = await db.all<{ seq: number; contact_id: string }>(sql`
    SELECT seq, contact_id FROM broadcast_recipients WHERE broadcast_id = ${broadcastId}
    ORDER BY seq DESC LIMIT 1`);
  const nextSeq = last ? Number(last.seq) + 1 : 0;
  const after = last?.contact_id ?? "";
  const { join, skip } = recipientColumns(channel, hopChannels);
  const result = await db.run(sql`
    INSERT INTO broadcast_recipients (broadcast_id, seq, contact_id, address, country, skip_reason)
    SELECT ${broadcastId}, ${nextSeq} + row_number() OVER (ORDER BY contacts.id) - 1, contacts.id, a.address,
      a.country, ${skip}
    FROM contacts ${join}
    WHERE ${condition} AND contacts.id > ${after}
    ORDER BY contacts.id
    LIMIT ${SNAPSHOT_PAGE}`);
  return result.meta.changes ?? 0;
}

/** The snapshot's totals: recipients, and skipped ones per reason. */
export async function snapshotTotals(db: Db, broadcastId: string) {
  const rows = await db.all<{ skip: SkipReason | null; n: number }>(sql`
    SELECT skip_reason AS skip, count(*) AS n FROM broadcast_recipients WHERE broadcast_id = ${broadcastId}
    GROUP BY 1`);
  const skipped: Record<SkipReason, number> = { suppressed: 0, invalid: 0, not_mobile: 0, no_address: 0 };
  let total = 0;
  let end = 0;
  for (const row of rows) {
    total += Number(row.n);
    if (row.skip) skipped[row.skip] = Number(row.n);
  }
  const [last] = await db.all<{ seq: number }>(sql`
    SELECT seq FROM broadcast_recipients WHERE broadcast_id = ${broadcastId} ORDER BY seq DESC LIMIT 1`);
  if (last) end = Number(last.seq) + 1;
  return { total, skipped, end };
}

export const principalScope = (caller: Principal): Scope => ({
  tenantId: caller.tenantId,
  environment: caller.environment,
});
