import { and, eq, getTableColumns, inArray, lt, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { createDb, type Db } from "../db/client";
import {
  type ConversationRow,
  contactAddresses,
  contacts,
  conversations,
  type InboundEventRow,
  type InboundMessageRow,
  inboundEvents,
  inboundMessages,
  type MessageRow,
  messages,
  templates,
} from "../db/schema";
import type { EngagementItem, MessageItem, StatusItem, TemplateStatusItem } from "../domain/inbound/types";
import { describePhone } from "../domain/phone";
import type { Env } from "../env";
import { describeError } from "../errors";
import { newId } from "../ids";
import { ID_SLICE } from "../inbound/ingest";
import { renderInboundMessage } from "../services/inbound-messages";
import { commit, emitGuardedEvent, UPDATE_APPLIED } from "../webhooks/events";
import { deleteOutboxRow } from "./jobs";
import { applyReceipt, eventData, type LifecycleContext } from "./message-lifecycle";
import { optKeywordStatements, suppressEmailOf } from "./opt-outs";
import { decideTemplate } from "./template-review";

/**
 * Applies stored inbound items (see persistInbound): receipts move our messages forward, customer messages
 * become inbound messages in a conversation with a contact and open the WhatsApp window, template decisions
 * update templates. Every step is safe to repeat: a job may run twice, and a crash between applying an
 * item and marking it applied only means it is applied again, which changes nothing.
 */

/** How long a receipt for a provider message id we do not know yet is kept and retried. */
export const HOLD_MS = 72 * 3_600_000;

/** `recorded`: the applier already marked the item applied in its own batch (it guards an event). */
type Outcome = { state: "applied"; recorded?: true } | { state: "held" | "ignored"; note: string };

/** The channel a provider's items belong to. */
const CHANNEL_OF = { meta: "whatsapp", twilio: "sms", resend: "email" } as const;

/** Marks an item done, guarded so a concurrent run that got there first wins and nothing repeats. */
const markApplied = (db: Db, row: InboundEventRow, now: Date) =>
  db
    .update(inboundEvents)
    .set({ state: "applied", note: null, processedAt: now, holdUntil: null })
    .where(and(eq(inboundEvents.id, row.id), inArray(inboundEvents.state, ["pending", "held"])));

async function findMessageByProviderId(
  db: Db,
  scope: { tenantId: string; environment: string },
  providerMessageId: string,
): Promise<MessageRow | null> {
  const [row] = await db
    .select()
    .from(messages)
    .where(
      and(
        eq(messages.providerMessageId, providerMessageId),
        eq(messages.tenantId, scope.tenantId),
        eq(messages.environment, scope.environment as MessageRow["environment"]),
      ),
    )
    .limit(1);
  return row ?? null;
}

/** Why a receipt (or engagement) for a provider message id we do not know yet is held. */
const heldNote = (providerMessageId: string) =>
  `No message with provider id ${providerMessageId} yet; kept until it appears.`;

async function applyStatus(ctx: LifecycleContext, row: InboundEventRow, item: StatusItem): Promise<Outcome> {
  const message = await findMessageByProviderId(ctx.db, row, item.providerMessageId);
  if (!message) return { state: "held", note: heldNote(item.providerMessageId) };
  // A hard bounce says the mailbox does not exist: no later email may go to it (applied again, a no-op).
  if (row.provider === "resend" && item.status === "failed" && item.error?.code === "bounce_permanent") {
    await suppressEmailOf(ctx, message, "bounce");
  }
  const note = await applyReceipt(ctx, message, {
    status: item.status,
    occurredAt: row.occurredAt,
    code: item.error?.code,
    reason: item.error?.reason,
  });
  return note ? { state: "ignored", note } : { state: "applied" };
}

/**
 * Engagement (opened, clicked, complained) never changes a message's status; it becomes an event about the
 * message, recorded once: the event is guarded by this item's own pending → applied update.
 */
async function applyEngagement(
  ctx: LifecycleContext,
  row: InboundEventRow,
  item: EngagementItem,
): Promise<Outcome> {
  const message = await findMessageByProviderId(ctx.db, row, item.providerMessageId);
  if (!message) return { state: "held", note: heldNote(item.providerMessageId) };
  if (item.type === "complained") await suppressEmailOf(ctx, message, "complaint");
  await commit(ctx.env, ctx.db, [
    markApplied(ctx.db, row, ctx.now),
    ...emitGuardedEvent(
      ctx.db,
      {
        tenantId: message.tenantId,
        environment: message.environment,
        type: `message.${item.type}`,
        subjectId: message.id,
        data: eventData(message, message.status, {
          occurred_at: row.occurredAt.toISOString(),
          ...(item.link ? { link: item.link } : {}),
        }),
      },
      ctx.now,
      UPDATE_APPLIED,
    ),
  ]);
  return { state: "applied", recorded: true };
}

async function applyTemplateStatus(
  ctx: LifecycleContext,
  row: InboundEventRow,
  item: TemplateStatusItem,
): Promise<Outcome> {
  if (item.status !== "approved" && item.status !== "rejected") {
    return {
      state: "ignored",
      note: `Meta reported ${item.providerEvent}; only approvals and rejections change a template.`,
    };
  }
  const scope = and(eq(templates.tenantId, row.tenantId), eq(templates.environment, row.environment));
  const [template] = await ctx.db
    .select()
    .from(templates)
    .where(and(scope, eq(templates.providerTemplateId, item.providerTemplateId)))
    .limit(1);
  if (!template) {
    return {
      state: "ignored",
      note: `No template with Meta id ${item.providerTemplateId} (${item.templateName}).`,
    };
  }
  if (template.status === item.status) return { state: "ignored", note: `Already ${item.status}.` };
  const rejectionReason = item.status === "rejected" ? (item.reason ?? "Rejected by Meta.") : null;
  await commit(ctx.env, ctx.db, decideTemplate(ctx.db, template, item.status, rejectionReason, ctx.now));
  return { state: "applied" };
}

/**
 * A customer's message: find the contact by address (or by an external id equal to the address) or create
 * one, open or extend the conversation's window, store the message, and emit `message.received` (plus
 * `contact.identified` when a conversation starts with a contact the tenant already had). Two batches: the
 * first converges contact and conversation whatever runs concurrently, the second records the message once.
 */
async function applyMessage(
  ctx: LifecycleContext,
  row: InboundEventRow,
  item: MessageItem,
): Promise<Outcome> {
  const { db, now } = ctx;
  const channel = CHANNEL_OF[row.provider];
  const t = row.tenantId;
  const e = row.environment;
  const address = item.from;
  // Phone senders (WhatsApp, SMS) get the numbering plan's country and line type, as contacts made by the API.
  const line = channel === "email" ? null : describePhone(address);
  const newContactId = newId("contact");
  const newConversationId = newId("conversation");
  const occurredAt = row.occurredAt;
  const addressRow = and(
    eq(contactAddresses.tenantId, t),
    eq(contactAddresses.environment, e),
    eq(contactAddresses.channel, channel),
    eq(contactAddresses.address, address),
  );
  const repliedTo =
    item.content.type === "reaction"
      ? item.content.reactedToProviderMessageId
      : item.replyToProviderMessageId;

  const first = await db.batch([
    // A contact whose external id is this address counts as a match (tenants often key people by phone).
    db.insert(contacts).select(sql`
      SELECT ${newContactId}, ${t}, ${e}, NULL, ${item.profileName ?? null}, '[]', '{}', ${now.getTime()}, ${now.getTime()}
      WHERE NOT EXISTS (SELECT 1 FROM contact_addresses WHERE tenant_id = ${t} AND environment = ${e}
          AND channel = ${channel} AND address = ${address})
        AND NOT EXISTS (SELECT 1 FROM contacts WHERE tenant_id = ${t} AND environment = ${e} AND external_id = ${address})`),
    db.insert(contactAddresses).select(sql`
      SELECT ${t}, ${e}, ${channel}, ${address}, c.id, ${now.getTime()}, ${line?.country ?? null},
        ${line?.lineType ?? null} FROM contacts c
      WHERE c.tenant_id = ${t} AND c.environment = ${e} AND (c.id = ${newContactId} OR c.external_id = ${address})
        AND NOT EXISTS (SELECT 1 FROM contact_addresses WHERE tenant_id = ${t} AND environment = ${e}
          AND channel = ${channel} AND address = ${address})
      LIMIT 1`),
    db
      .insert(conversations)
      .values({
        id: newConversationId,
        tenantId: t,
        environment: e,
        channel,
        address,
        contactId: sql`(SELECT contact_id FROM contact_addresses WHERE tenant_id = ${t} AND environment = ${e} AND channel = ${channel} AND address = ${address})`,
        lastInboundAt: occurredAt,
        createdAt: now,
        updatedAt: now,
      })
      .onConflictDoUpdate({
        target: [
          conversations.tenantId,
          conversations.environment,
          conversations.channel,
          conversations.address,
        ],
        set: {
          lastInboundAt: sql`max(${conversations.lastInboundAt}, excluded.last_inbound_at)`,
          contactId: sql`coalesce(excluded.contact_id, ${conversations.contactId})`,
          updatedAt: now,
        },
      })
      .returning(),
    db.select({ contactId: contactAddresses.contactId }).from(contactAddresses).where(addressRow),
    db
      .select({ id: messages.id })
      .from(messages)
      .where(
        and(
          eq(messages.providerMessageId, repliedTo ?? ""),
          eq(messages.tenantId, t),
          eq(messages.environment, e),
        ),
      )
      .limit(1),
  ]);
  const conversation = (first[2] as ConversationRow[])[0];
  if (!conversation) throw new Error("conversation upsert returned no row");
  const contactId = (first[3] as { contactId: string }[])[0]?.contactId ?? null;
  const replyToMessageId = repliedTo ? ((first[4] as { id: string }[])[0]?.id ?? null) : null;
  const contactExisted = contactId !== null && contactId !== newContactId;
  const conversationStarted = conversation.id === newConversationId;

  const message: InboundMessageRow = {
    id: newId("inboundMessage"),
    tenantId: t,
    environment: e,
    conversationId: conversation.id,
    contactId,
    channel,
    channelId: row.channelId,
    from: address,
    to: item.to,
    providerMessageId: item.providerMessageId,
    content: item.content,
    profileName: item.profileName ?? null,
    replyToMessageId,
    receivedAt: occurredAt,
    createdAt: now,
  };
  const rendered = renderInboundMessage(message);
  await commit(ctx.env, db, [
    db.insert(inboundMessages).values(message).onConflictDoNothing(),
    ...emitGuardedEvent(
      db,
      { tenantId: t, environment: e, type: "message.received", subjectId: message.id, data: rendered },
      now,
      UPDATE_APPLIED,
    ),
    ...(contactExisted && conversationStarted
      ? emitGuardedEvent(
          db,
          {
            tenantId: t,
            environment: e,
            type: "contact.identified",
            subjectId: contactId,
            data: {
              id: contactId,
              channel,
              address,
              conversation_id: conversation.id,
              message_id: message.id,
            },
          },
          now,
          sql`EXISTS (SELECT 1 FROM inbound_messages WHERE id = ${message.id})`,
        )
      : []),
    ...optKeywordStatements(
      db,
      message,
      item.content.type === "text"
        ? item.content.text
        : item.content.type === "button_reply"
          ? item.content.text
          : undefined,
      now,
    ),
    markApplied(db, row, now),
  ] as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  return { state: "applied", recorded: true };
}

async function applyItem(ctx: LifecycleContext, row: InboundEventRow): Promise<Outcome> {
  const item = row.item;
  switch (item.kind) {
    case "status":
      return applyStatus(ctx, row, item);
    case "message":
      return applyMessage(ctx, row, item);
    case "template_status":
      return applyTemplateStatus(ctx, row, item);
    case "engagement":
      return applyEngagement(ctx, row, item);
    case "notice":
      return { state: "ignored", note: `${item.type}${item.reason ? `: ${item.reason}` : ""}` };
    default:
      // A kind this build does not know (a newer build wrote it, or the row was edited): kept, not applied.
      return { state: "ignored", note: `Unknown item kind ${String((item as { kind?: unknown }).kind)}.` };
  }
}

/** Applies one stored item and records the outcome. */
export async function processInboundEvent(ctx: LifecycleContext, row: InboundEventRow): Promise<Outcome> {
  const outcome = await applyItem(ctx, row);
  if (outcome.state === "applied") {
    if (!outcome.recorded) await markApplied(ctx.db, row, ctx.now);
    return outcome;
  }
  // A held item keeps its first deadline; the cron sweep expires it once that passes.
  const holdUntil =
    outcome.state === "held" ? (row.holdUntil ?? new Date(row.receivedAt.getTime() + HOLD_MS)) : null;
  await ctx.db
    .update(inboundEvents)
    .set({ state: outcome.state, note: outcome.note, processedAt: ctx.now, holdUntil })
    .where(and(eq(inboundEvents.id, row.id), inArray(inboundEvents.state, ["pending", "held"])));
  return outcome;
}

/** The columns of an item with `item` as stored text, parsed row by row (see readItems). */
const RAW_ITEM_ROW = { ...getTableColumns(inboundEvents), item: sql<string>`${inboundEvents.item}` };
type RawItemRow = Omit<InboundEventRow, "item"> & { item: string };

/**
 * Parses the stored items. One that is not JSON is one bad row, not a failed job or sweep: it is set aside
 * as `ignored` with a note (kept for support, never retried) and the others go on.
 */
async function readItems(db: Db, rows: RawItemRow[], now: Date): Promise<InboundEventRow[]> {
  const out: InboundEventRow[] = [];
  for (const row of rows) {
    try {
      out.push({ ...row, item: JSON.parse(row.item) as InboundEventRow["item"] });
    } catch {
      console.error("inbound item unreadable; set aside", { id: row.id, kind: row.kind });
      await db
        .update(inboundEvents)
        .set({ state: "ignored", note: "The stored item is not readable JSON.", processedAt: now })
        .where(and(eq(inboundEvents.id, row.id), inArray(inboundEvents.state, ["pending", "held"])));
    }
  }
  return out;
}

/**
 * Processes rows one by one (at `now`, else each at its own time): an item that throws (a D1 error, a bug)
 * is logged and the rest still run. The rows that threw are returned, left as they were for a retry.
 */
async function processEach(env: Env, db: Db, rows: InboundEventRow[], now?: Date) {
  const failed: InboundEventRow[] = [];
  let applied = 0;
  for (const row of rows) {
    try {
      const outcome = await processInboundEvent({ env, db, now: now ?? new Date() }, row);
      if (outcome.state === "applied") applied++;
    } catch (error) {
      console.error("inbound item failed", { id: row.id, kind: row.kind, error: describeError(error) });
      failed.push(row);
    }
  }
  return { applied, failed };
}

/** Items that only ever refer to one of our messages by its provider id. */
const RECEIPT_KINDS: readonly string[] = ["status", "engagement"];

/**
 * Holds, in two statements, every receipt of `rows` whose provider message id names none of our messages,
 * and returns the other rows. A burst of receipts we cannot place yet (thousands of statuses for messages
 * sent elsewhere) then costs a few queries per job instead of two per item. A message that appears between
 * the lookup and the hold is caught like any held receipt: by its send's job or the cron's sweep.
 */
async function holdUnknownReceipts(db: Db, rows: InboundEventRow[], now: Date): Promise<InboundEventRow[]> {
  // A job's items share one tenant and environment; grouping keeps the lookup right whatever a job names.
  const scopes = new Map<string, InboundEventRow[]>();
  for (const row of rows) {
    if (!RECEIPT_KINDS.includes(row.kind) || !row.providerMessageId) continue;
    const scope = `${row.tenantId} ${row.environment}`;
    scopes.set(scope, [...(scopes.get(scope) ?? []), row]);
  }
  const known = new Set<string>();
  for (const [scope, receipts] of scopes) {
    const { tenantId, environment } = receipts[0] as InboundEventRow;
    const pmids = JSON.stringify(receipts.map((row) => row.providerMessageId));
    const found = await db
      .select({ id: messages.providerMessageId })
      .from(messages)
      .where(
        and(
          eq(messages.tenantId, tenantId),
          eq(messages.environment, environment),
          sql`${messages.providerMessageId} IN (SELECT value FROM json_each(${pmids}))`,
        ),
      );
    for (const row of found) known.add(`${scope} ${row.id}`);
  }
  const isUnknown = (row: InboundEventRow) =>
    RECEIPT_KINDS.includes(row.kind) &&
    row.providerMessageId !== null &&
    !known.has(`${row.tenantId} ${row.environment} ${row.providerMessageId}`);
  const unknown = rows.filter(isUnknown);
  if (unknown.length === 0) return rows;
  const notes = JSON.stringify(
    unknown.map((row) => ({ id: row.id, note: heldNote(row.providerMessageId ?? "") })),
  );
  // A held item keeps its first deadline; the cron sweep expires it once that passes.
  await db
    .update(inboundEvents)
    .set({
      state: "held",
      note: sql`(SELECT json_extract(n.value, '$.note') FROM json_each(${notes}) AS n
        WHERE json_extract(n.value, '$.id') = ${inboundEvents.id})`,
      processedAt: now,
      holdUntil: sql`coalesce(${inboundEvents.holdUntil}, ${inboundEvents.receivedAt} + ${HOLD_MS})`,
    })
    .where(
      and(
        sql`${inboundEvents.id} IN (SELECT json_extract(value, '$.id') FROM json_each(${notes}))`,
        inArray(inboundEvents.state, ["pending", "held"]),
      ),
    );
  return rows.filter((row) => !isUnknown(row));
}

/**
 * The `inbound` job: process the pending (or held) items it names, then drop its outbox row. A job names at
 * most JOB_IDS_LIMIT items (older rows are split by the sweeper), so its work is bounded. When an item
 * throws, the others are still processed and the job then fails, so the queue retries it: the items already
 * applied are skipped by their state, and only what failed runs again.
 */
export async function processInboundJob(env: Env, db: Db, outboxId: string, ids: string[]): Promise<void> {
  let failed = 0;
  for (let i = 0; i < ids.length; i += ID_SLICE) {
    const raw = await db
      .select(RAW_ITEM_ROW)
      .from(inboundEvents)
      .where(
        and(
          inArray(inboundEvents.id, ids.slice(i, i + ID_SLICE)),
          inArray(inboundEvents.state, ["pending", "held"]),
        ),
      )
      .orderBy(inboundEvents.occurredAt);
    const rows = await holdUnknownReceipts(db, await readItems(db, raw, new Date()), new Date());
    failed += (await processEach(env, db, rows)).failed.length;
  }
  if (failed > 0) throw new Error(`${failed} of ${ids.length} inbound items failed; the job will be retried`);
  await deleteOutboxRow(db, outboxId);
}

/** Held receipts are retried this many at a time per cron tick. */
const HELD_SWEEP_LIMIT = 200;
/**
 * Processed items are kept this long, which is also how long a redelivered callback is recognised: far
 * beyond the providers' own retry windows (Meta retries for up to 7 days, Svix for about 5).
 */
export const INBOUND_RETENTION_MS = 30 * 86_400_000;
const PURGE_LIMIT = 1000;

/**
 * The cron's share: retry held receipts whose message has appeared since (a receipt can beat our own record
 * of the provider's id). An item that throws is logged and tried again on a later tick, after the others.
 */
export async function sweepHeldInbound(env: Env, now: Date): Promise<{ applied: number }> {
  const db = createDb(env.DB);
  const ready = await db
    .select(RAW_ITEM_ROW)
    .from(inboundEvents)
    .where(
      and(
        eq(inboundEvents.state, "held"),
        sql`EXISTS (SELECT 1 FROM messages m WHERE m.provider_message_id = ${inboundEvents.providerMessageId}
          AND m.tenant_id = ${inboundEvents.tenantId} AND m.environment = ${inboundEvents.environment})`,
      ),
    )
    // Least recently tried first: items that keep failing cannot crowd out the others.
    .orderBy(inboundEvents.processedAt)
    .limit(HELD_SWEEP_LIMIT);
  const { applied, failed } = await processEach(env, db, await readItems(db, ready, now), now);
  if (failed.length > 0) {
    await db
      .update(inboundEvents)
      .set({ processedAt: now })
      .where(
        and(
          sql`${inboundEvents.id} IN (SELECT value FROM json_each(${JSON.stringify(failed.map((r) => r.id))}))`,
          eq(inboundEvents.state, "held"),
        ),
      );
  }
  return { applied };
}

/** The cron's other share: expire receipts held too long, purge processed items past the retention. */
export async function expireAndPurgeInbound(
  env: Env,
  now: Date,
): Promise<{ expired: number; purged: number }> {
  const db = createDb(env.DB);
  const cutoff = now.getTime() - INBOUND_RETENTION_MS;
  const [expired, purged] = await db.batch([
    db
      .update(inboundEvents)
      .set({ state: "expired", processedAt: now })
      .where(and(eq(inboundEvents.state, "held"), lt(inboundEvents.holdUntil, now))),
    // Pending and held items stay whatever their age: they still have work to do.
    db.delete(inboundEvents).where(
      sql`rowid IN (SELECT rowid FROM inbound_events WHERE state IN ('applied', 'ignored', 'expired')
        AND received_at < ${cutoff} LIMIT ${PURGE_LIMIT})`,
    ),
  ]);
  return { expired: expired.meta.changes, purged: purged.meta.changes };
}
