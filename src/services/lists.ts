import { and, desc, eq, lt, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import {
  type ContactAddressRow,
  type ContactRow,
  contactAddresses,
  contacts,
  type ListRow,
  listMembers,
  lists,
} from "../db/schema";
import type { Principal } from "../env";

/**
 * Lists: hand-curated sets of contacts. Membership rows carry the tenant and environment, and are only ever
 * written by an INSERT … SELECT from the caller's own contacts, so a foreign contact cannot be added even
 * by a racing request. Id sets travel as one JSON array parameter (json_each): D1 binds at most 100.
 */

export const MAX_MEMBERS_PER_CALL = 1000;

const listScope = (caller: Principal) =>
  and(eq(lists.tenantId, caller.tenantId), eq(lists.environment, caller.environment));

/** The caller's list with that id, or null (another tenant's or environment's list is null too). */
export async function findList(db: Db, caller: Principal, id: string): Promise<ListRow | null> {
  const [row] = await db
    .select()
    .from(lists)
    .where(and(listScope(caller), eq(lists.id, id)))
    .limit(1);
  return row ?? null;
}

/** Members of one list, counted now (a range of the list_members primary key). */
export async function listMemberCount(db: Db, listId: string): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)` })
    .from(listMembers)
    .where(eq(listMembers.listId, listId));
  return Number(row?.n ?? 0);
}

/** A page of the caller's lists, newest first, each with its member count. */
export async function listsPage(db: Db, caller: Principal, after: string | null, limit: number) {
  return db
    .select({
      list: lists,
      contactCount: sql<number>`(SELECT count(*) FROM list_members lm WHERE lm.list_id = ${lists.id})`,
    })
    .from(lists)
    .where(and(listScope(caller), after ? lt(lists.id, after) : undefined))
    .orderBy(desc(lists.id))
    .limit(limit + 1);
}

/** Of `contactIds`, those that are not the caller's contacts (deleted, foreign, or never existed). */
export async function unknownContactIds(db: Db, caller: Principal, contactIds: string[]): Promise<string[]> {
  const found = await db
    .select({ id: contacts.id })
    .from(contacts)
    .where(
      and(
        eq(contacts.tenantId, caller.tenantId),
        eq(contacts.environment, caller.environment),
        sql`${contacts.id} IN (SELECT value FROM json_each(${JSON.stringify(contactIds)}))`,
      ),
    );
  const known = new Set(found.map((row) => row.id));
  return contactIds.filter((id) => !known.has(id));
}

/**
 * Adds the caller's contacts among `contactIds` (distinct) to the list; members already there stay as they
 * were. Returns how many rows were new.
 */
export async function addListMembers(
  db: Db,
  caller: Principal,
  listId: string,
  contactIds: string[],
  now: Date,
): Promise<number> {
  const result = await db.run(sql`
    INSERT INTO list_members (list_id, contact_id, tenant_id, environment, added_at)
    SELECT ${listId}, c.id, c.tenant_id, c.environment, ${now.getTime()}
    FROM contacts c
    WHERE c.tenant_id = ${caller.tenantId} AND c.environment = ${caller.environment}
      AND c.id IN (SELECT value FROM json_each(${JSON.stringify(contactIds)}))
    ON CONFLICT (list_id, contact_id) DO NOTHING`);
  return result.meta.changes ?? 0;
}

/** Removes one member; false when the contact was not on the list. */
export async function removeListMember(
  db: Db,
  caller: Principal,
  listId: string,
  contactId: string,
): Promise<boolean> {
  const result = await db
    .delete(listMembers)
    .where(
      and(
        eq(listMembers.listId, listId),
        eq(listMembers.contactId, contactId),
        eq(listMembers.tenantId, caller.tenantId),
        eq(listMembers.environment, caller.environment),
      ),
    );
  return (result.meta.changes ?? 0) > 0;
}

/** Deletes the list and its memberships in one transaction; the contacts stay. */
export async function deleteList(db: Db, caller: Principal, listId: string) {
  await db.batch([
    db.delete(listMembers).where(eq(listMembers.listId, listId)),
    db.delete(lists).where(and(listScope(caller), eq(lists.id, listId))),
  ]);
}

/** A page of the list's members (contacts), newest contact first. */
export async function listMembersPage(
  db: Db,
  caller: Principal,
  listId: string,
  after: string | null,
  limit: number,
): Promise<ContactRow[]> {
  const rows = await db
    .select({ contact: contacts })
    .from(listMembers)
    .innerJoin(contacts, eq(contacts.id, listMembers.contactId))
    .where(
      and(
        eq(listMembers.listId, listId),
        eq(contacts.tenantId, caller.tenantId),
        eq(contacts.environment, caller.environment),
        after ? lt(listMembers.contactId, after) : undefined,
      ),
    )
    .orderBy(desc(listMembers.contactId))
    .limit(limit + 1);
  return rows.map((row) => row.contact);
}

/** The addresses of each contact, for rendering a page of contacts (ids as one JSON parameter). */
export async function addressesByContact(
  db: Db,
  contactIds: string[],
): Promise<Map<string, ContactAddressRow[]>> {
  const byContact = new Map<string, ContactAddressRow[]>();
  if (contactIds.length === 0) return byContact;
  const rows = await db
    .select()
    .from(contactAddresses)
    .where(
      sql`${contactAddresses.contactId} IN (SELECT value FROM json_each(${JSON.stringify(contactIds)}))`,
    );
  for (const row of rows) byContact.set(row.contactId, [...(byContact.get(row.contactId) ?? []), row]);
  return byContact;
}
