import { sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import {
  type ContactImportRow,
  contactAddresses,
  contacts,
  type ImportCounts,
  listMembers,
} from "../db/schema";
import type { ImportedContact } from "../domain/contact-import";
import {
  type AttributeValue,
  MAX_ADDRESSES,
  MAX_ATTRIBUTES,
  MAX_TAGS,
  normalizeTags,
} from "../domain/contacts";
import type { Environment } from "../env";
import { newId } from "../ids";

/**
 * Bulk match + upsert of one chunk of imported rows (at most a few thousand), in a constant number of D1
 * statements: one read batch (the chunk's addresses and external ids, each passed as ONE JSON array and
 * expanded with `json_each`, so no statement comes near D1's 100-parameter limit), then three writes that
 * insert/update every contact, address and list membership of the chunk from JSON arrays as well.
 *
 * A row matches an existing contact by `external_id` or by any of its normalised addresses, and updates it
 * (name set, tags and attributes merged, new addresses added); a row that matches nothing creates one. A
 * later row of the same file that names the same person updates the contact the earlier row created.
 */

export interface Scope {
  tenantId: string;
  environment: Environment;
}

export interface ChunkRow {
  /** The row number reported in errors (1-based data row: the CSV header and blank lines not counted). */
  row: number;
  contact: ImportedContact;
}

interface ContactState {
  id: string;
  isNew: boolean;
  externalId: string | null;
  name: string | null;
  tags: string[];
  attributes: Record<string, AttributeValue>;
  /** Addresses it has (stored, plus those this chunk adds): never more than MAX_ADDRESSES, as in the API. */
  addressCount: number;
  dirty: boolean;
}

export interface ChunkPlan {
  created: number;
  updated: number;
  failed: Array<{ row: number; message: string }>;
  contacts: ContactState[];
  addresses: Array<{ c: string; a: string; id: string; co: string | null; l: string | null }>;
  /** Every contact a row of the chunk named (for the list). */
  memberIds: string[];
}

const addressKey = (channel: string, address: string) => `${channel}\n${address}`;

/** How many addresses a matched contact holds (on the contact_id index). */
const ADDRESS_COUNT = "(SELECT count(*) FROM contact_addresses n WHERE n.contact_id = c.id) AS address_count";

/** Reads what the chunk's rows may match: 1 D1 round trip (a batch of 2 statements). */
async function existing(d1: D1Database, scope: Scope, rows: ChunkRow[]) {
  const addressPairs = new Map<string, [string, string]>();
  const externalIds = new Set<string>();
  for (const { contact } of rows) {
    if (contact.externalId) externalIds.add(contact.externalId);
    for (const a of contact.addresses)
      addressPairs.set(addressKey(a.channel, a.address), [a.channel, a.address]);
  }
  const pairs = JSON.stringify([...addressPairs.values()]);
  const ids = JSON.stringify([...externalIds]);
  const { tenantId, environment } = scope;
  const matchAddress = `json_each(?1) j CROSS JOIN contact_addresses a
        ON a.tenant_id = ?2 AND a.environment = ?3
       AND a.channel = json_extract(j.value, '$[0]') AND a.address = json_extract(j.value, '$[1]')`;
  const [addressRows, contactRows] = await d1.batch([
    d1
      .prepare(`SELECT a.channel, a.address, a.contact_id FROM ${matchAddress}`)
      .bind(pairs, tenantId, environment),
    d1
      .prepare(
        `SELECT c.id, c.external_id, c.name, c.tags, c.attributes, ${ADDRESS_COUNT} FROM json_each(?4) x
      CROSS JOIN contacts c ON c.tenant_id = ?2 AND c.environment = ?3 AND c.external_id = x.value
      UNION
      SELECT c.id, c.external_id, c.name, c.tags, c.attributes, ${ADDRESS_COUNT} FROM ${matchAddress}
      CROSS JOIN contacts c ON c.id = a.contact_id`,
      )
      .bind(pairs, tenantId, environment, ids),
  ]);
  return {
    addressRows: (addressRows?.results ?? []) as Array<{
      channel: string;
      address: string;
      contact_id: string;
    }>,
    contactRows: (contactRows?.results ?? []) as Array<{
      id: string;
      external_id: string | null;
      name: string | null;
      tags: string;
      attributes: string;
      address_count: number;
    }>,
  };
}

/** Matches the chunk's rows against D1 and against each other; decides every write, writes nothing. */
export async function planChunk(d1: D1Database, scope: Scope, rows: ChunkRow[]): Promise<ChunkPlan> {
  const plan: ChunkPlan = { created: 0, updated: 0, failed: [], contacts: [], addresses: [], memberIds: [] };
  if (rows.length === 0) return plan;
  const { addressRows, contactRows } = await existing(d1, scope, rows);
  const states = new Map<string, ContactState>();
  const byExternalId = new Map<string, string>();
  const owner = new Map<string, string>();
  for (const row of contactRows) {
    states.set(row.id, {
      id: row.id,
      isNew: false,
      externalId: row.external_id,
      name: row.name,
      tags: JSON.parse(row.tags) as string[],
      attributes: JSON.parse(row.attributes) as Record<string, AttributeValue>,
      addressCount: row.address_count,
      dirty: false,
    });
    if (row.external_id) byExternalId.set(row.external_id, row.id);
  }
  for (const row of addressRows) owner.set(addressKey(row.channel, row.address), row.contact_id);
  const members = new Set<string>();

  for (const { row, contact } of rows) {
    const fail = (message: string) => plan.failed.push({ row, message });
    const byExt = contact.externalId ? byExternalId.get(contact.externalId) : undefined;
    const owners = new Map<string, string>(); // contact id → the address that names it
    for (const a of contact.addresses) {
      const id = owner.get(addressKey(a.channel, a.address));
      if (id && !owners.has(id)) owners.set(id, a.address);
    }
    let target: ContactState | undefined;
    if (byExt) {
      const other = [...owners].find(([id]) => id !== byExt);
      if (other) {
        fail(
          `${other[1]} belongs to contact ${other[0]}, not to the contact with external_id ${contact.externalId}.`,
        );
        continue;
      }
      target = states.get(byExt);
    } else if (owners.size > 1) {
      const [[a, addrA], [b, addrB]] = [...owners] as [[string, string], [string, string]];
      fail(`${addrA} and ${addrB} belong to two different contacts (${a} and ${b}).`);
      continue;
    } else if (owners.size === 1) {
      const [[id, address]] = [...owners] as [[string, string]];
      target = states.get(id);
      if (target?.externalId && contact.externalId && target.externalId !== contact.externalId) {
        fail(`${address} belongs to contact ${id}, whose external_id is ${target.externalId}.`);
        continue;
      }
    }

    if (!target) {
      target = {
        id: newId("contact"),
        isNew: true,
        externalId: contact.externalId,
        name: contact.name,
        tags: contact.tags,
        attributes: contact.attributes,
        addressCount: 0,
        dirty: true,
      };
      states.set(target.id, target);
      plan.created++;
    } else {
      const adding = contact.addresses.filter((a) => !owner.has(addressKey(a.channel, a.address))).length;
      if (target.addressCount + adding > MAX_ADDRESSES) {
        fail(`contact ${target.id} would have more than ${MAX_ADDRESSES} addresses.`);
        continue;
      }
      const tags = normalizeTags([...target.tags, ...contact.tags]);
      const attributes = { ...target.attributes, ...contact.attributes };
      if (tags.length > MAX_TAGS) {
        fail(`contact ${target.id} would have more than ${MAX_TAGS} tags.`);
        continue;
      }
      if (Object.keys(attributes).length > MAX_ATTRIBUTES) {
        fail(`contact ${target.id} would have more than ${MAX_ATTRIBUTES} attributes.`);
        continue;
      }
      target.tags = tags;
      target.attributes = attributes;
      target.name = contact.name ?? target.name;
      target.externalId = target.externalId ?? contact.externalId;
      target.dirty = true;
      plan.updated++;
    }
    if (target.externalId) byExternalId.set(target.externalId, target.id);
    for (const a of contact.addresses) {
      const key = addressKey(a.channel, a.address);
      if (owner.has(key)) continue;
      owner.set(key, target.id);
      target.addressCount++;
      plan.addresses.push({ c: a.channel, a: a.address, id: target.id, co: a.country, l: a.lineType });
    }
    members.add(target.id);
  }
  plan.contacts = [...states.values()].filter((s) => s.dirty);
  plan.memberIds = [...members];
  return plan;
}

/**
 * The writes of a plan, to put in the chunk's batch (after its checkpoint guard): 1 to 3 statements
 * whatever the chunk's size. Contacts are upserted by id (new ones inserted, matched ones updated).
 */
export function chunkWrites(
  db: Db,
  scope: Scope,
  plan: ChunkPlan,
  listId: string | null,
  now: Date,
): BatchItem<"sqlite">[] {
  const { tenantId, environment } = scope;
  const at = now.getTime();
  const writes: BatchItem<"sqlite">[] = [];
  if (plan.contacts.length > 0) {
    const rows = JSON.stringify(
      plan.contacts.map((s) => ({
        id: s.id,
        e: s.externalId,
        n: s.name,
        t: JSON.stringify(s.tags),
        a: JSON.stringify(s.attributes),
      })),
    );
    // insert().select() lists every column in table order (drizzle's rule).
    writes.push(
      db
        .insert(contacts)
        .select(sql`
        SELECT json_extract(value, '$.id'), ${tenantId}, ${environment}, json_extract(value, '$.e'),
          json_extract(value, '$.n'), json_extract(value, '$.t'), json_extract(value, '$.a'), ${at}, ${at}
        FROM json_each(${rows}) WHERE true`)
        .onConflictDoUpdate({
          target: contacts.id,
          set: {
            externalId: sql`excluded.external_id`,
            name: sql`excluded.name`,
            tags: sql`excluded.tags`,
            attributes: sql`excluded.attributes`,
            updatedAt: sql`excluded.updated_at`,
          },
        }),
    );
  }
  if (plan.addresses.length > 0) {
    writes.push(
      db
        .insert(contactAddresses)
        .select(sql`
        SELECT ${tenantId}, ${environment}, json_extract(value, '$.c'), json_extract(value, '$.a'),
          json_extract(value, '$.id'), ${at}, json_extract(value, '$.co'), json_extract(value, '$.l')
        FROM json_each(${JSON.stringify(plan.addresses)}) WHERE true`)
        .onConflictDoNothing(),
    );
  }
  if (listId && plan.memberIds.length > 0) {
    writes.push(
      db
        .insert(listMembers)
        .select(sql`
        SELECT ${listId}, value, ${tenantId}, ${environment}, ${at} FROM json_each(${JSON.stringify(plan.memberIds)})
        WHERE EXISTS (SELECT 1 FROM lists WHERE id = ${listId} AND tenant_id = ${tenantId} AND environment = ${environment})`)
        .onConflictDoNothing(),
    );
  }
  return writes;
}

/** Adds a chunk's outcome to the import's totals; keeps the first `maxErrors` row errors. */
export function addCounts(
  counts: ImportCounts,
  errors: Array<{ row: number; message: string }>,
  chunk: {
    rows: number;
    created: number;
    updated: number;
    skipped: number;
    failed: Array<{ row: number; message: string }>;
  },
  maxErrors: number,
) {
  return {
    counts: {
      rows: counts.rows + chunk.rows,
      created: counts.created + chunk.created,
      updated: counts.updated + chunk.updated,
      skipped: counts.skipped + chunk.skipped,
      failed: counts.failed + chunk.failed.length,
    },
    errors: [...errors, ...chunk.failed].sort((a, b) => a.row - b.row).slice(0, maxErrors),
  };
}

/** The API (and webhook event) form of an import. Never shows the source URL, only its host. */
export function renderImport(row: ContactImportRow) {
  return {
    object: "contact_import" as const,
    id: row.id,
    status: row.status,
    format: row.format,
    source: row.source,
    source_host: row.sourceHost,
    list_id: row.listId,
    tags: row.tags,
    default_country: row.defaultCountry,
    size_bytes: row.sizeBytes,
    counts: row.counts,
    errors: row.errors,
    failure_reason: row.failureReason,
    created_at: row.createdAt.toISOString(),
    completed_at: row.completedAt ? row.completedAt.toISOString() : null,
  };
}
