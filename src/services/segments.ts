import { and, desc, eq, lt, type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { type ContactRow, contacts } from "../db/schema";
import {
  childrenOf,
  isCondition,
  type SegmentCondition,
  type SegmentFilter,
  type SegmentNode,
} from "../domain/segments";
import type { Principal } from "../env";

/**
 * Segments evaluated in D1: a validated filter (domain/segments.ts) becomes one SQL boolean over the
 * `contacts` table, so counting or paging an audience of 100,000 never loads a contact into the worker.
 * Every tenant value is a bound parameter: attribute names are compared as json_each keys (no JSON path is
 * ever built from input), and lists of values travel as one JSON array read with json_each, so a filter of
 * MAX_FILTER_CONDITIONS conditions binds at most 80 parameters.
 */

const COMPARISON = { gt: ">", gte: ">=", lt: "<", lte: "<=" } as const;

/**
 * The filter as a WHERE fragment over `contacts` (not scoped: combine it with the tenant and environment,
 * as countSegment and segmentMembersPage do). The query must select from `contacts` unaliased.
 */
export function segmentCondition(filter: SegmentFilter): SQL {
  const parts = childrenOf(filter).map(compileNode);
  return sql`(${sql.join(parts, "all" in filter ? sql` AND ` : sql` OR `)})`;
}

function compileNode(node: SegmentNode): SQL {
  return isCondition(node) ? compileCondition(node) : segmentCondition(node);
}

function compileCondition(condition: SegmentCondition): SQL {
  switch (condition.field) {
    case "tags": {
      const has = sql`EXISTS (SELECT 1 FROM json_each(${contacts.tags}) t WHERE t.value = ${condition.value})`;
      return condition.op === "contains" ? has : sql`NOT ${has}`;
    }
    case "list_id":
      return sql`EXISTS (SELECT 1 FROM list_members lm WHERE lm.contact_id = ${contacts.id} AND lm.list_id IN (SELECT value FROM json_each(${JSON.stringify(condition.value)})))`;
    case "channel":
      return sql`EXISTS (SELECT 1 FROM contact_addresses ca WHERE ca.contact_id = ${contacts.id} AND ca.channel = ${condition.value})`;
    case "country":
      return sql`EXISTS (SELECT 1 FROM contact_addresses ca WHERE ca.contact_id = ${contacts.id} AND ca.country IN (SELECT value FROM json_each(${JSON.stringify(condition.value)})))`;
    case "line_type":
      return sql`EXISTS (SELECT 1 FROM contact_addresses ca WHERE ca.contact_id = ${contacts.id} AND ca.line_type IN (SELECT value FROM json_each(${JSON.stringify(condition.value)})))`;
    case "created_at": {
      const at = Date.parse(condition.value);
      return condition.op === "gte"
        ? sql`${contacts.createdAt} >= ${at}`
        : sql`${contacts.createdAt} <= ${at}`;
    }
    default:
      return compileAttribute(condition);
  }
}

type AttributeCondition = Extract<SegmentCondition, { field: `attributes.${string}` }>;

/** `attributes.<name>`: the name is a bound json_each key; values compare only with values of their kind. */
function compileAttribute(condition: AttributeCondition): SQL {
  const name = condition.field.slice("attributes.".length);
  const attribute = sql`json_each(${contacts.attributes}) a`;
  switch (condition.op) {
    case "exists": {
      const has = sql`EXISTS (SELECT 1 FROM ${attribute} WHERE a.key = ${name})`;
      return condition.value ? has : sql`NOT ${has}`;
    }
    case "eq":
    case "neq":
    case "in": {
      const values = condition.op === "in" ? condition.value : [condition.value];
      // 12 matches 12 and 12.0 but never "12" or true (json_each reports true as 1 of type 'true').
      const matches = sql`EXISTS (SELECT 1 FROM ${attribute}, json_each(${JSON.stringify(values)}) v WHERE a.key = ${name} AND a.value = v.value AND (a.type = v.type OR (a.type IN ('integer', 'real') AND v.type IN ('integer', 'real'))))`;
      return condition.op === "neq" ? sql`NOT ${matches}` : matches;
    }
    default: {
      const kind =
        typeof condition.value === "number" ? sql`a.type IN ('integer', 'real')` : sql`a.type = 'text'`;
      return sql`EXISTS (SELECT 1 FROM ${attribute} WHERE a.key = ${name} AND ${kind} AND a.value ${sql.raw(COMPARISON[condition.op])} ${condition.value})`;
    }
  }
}

const contactScope = (caller: Principal) =>
  and(eq(contacts.tenantId, caller.tenantId), eq(contacts.environment, caller.environment));

/** How many of the caller's contacts match now. */
export async function countSegment(db: Db, caller: Principal, filter: SegmentFilter): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)` })
    .from(contacts)
    .where(and(contactScope(caller), segmentCondition(filter)));
  return Number(row?.n ?? 0);
}

/**
 * One page of matching contacts, newest first (by id), after the id `after` (exclusive). `nextAfter` is the
 * last id of the page when more follow, else null.
 */
export async function segmentMembersPage(
  db: Db,
  caller: Principal,
  filter: SegmentFilter,
  options: { after: string | null; limit: number },
): Promise<{ rows: ContactRow[]; nextAfter: string | null }> {
  const rows = await db
    .select()
    .from(contacts)
    .where(
      and(
        contactScope(caller),
        segmentCondition(filter),
        options.after ? lt(contacts.id, options.after) : undefined,
      ),
    )
    .orderBy(desc(contacts.id))
    .limit(options.limit + 1);
  const hasMore = rows.length > options.limit;
  const pageRows = hasMore ? rows.slice(0, options.limit) : rows;
  return { rows: pageRows, nextAfter: hasMore ? (pageRows.at(-1)?.id ?? null) : null };
}
