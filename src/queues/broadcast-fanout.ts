import { and, eq, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { rawStatement } from "../db/raw";
import { type BroadcastRow, type HopRecord, type MessageRow, messages } from "../db/schema";
import { isOverdraft, walletBootstrap } from "../db/wallet";
import { type BroadcastContent, mergeContactOf, renderForRecipient } from "../domain/broadcast-content";
import { quietHoursRelease, recipientTimeZone } from "../domain/quiet-hours";
import { newId } from "../ids";
import type { MessageContent, OutboundMessage, SendResult } from "../providers/types";
import { insertTrackedLinks, trackContentLinks } from "../services/links";
import { resolveMediaContent } from "../services/media";
import { commit, emitBulkEvents } from "../webhooks/events";
import { adapterFor } from "./adapters";
import { pauseBroadcast } from "./broadcast-lifecycle";
import { insertOutboxRows, messageEventData, recordOutcomes } from "./broadcast-outcomes";
import { holdStatements, loadBroadcast, runnerOf } from "./broadcast-state";
import { enqueue, JOB_LEASE_MS, type JobOutcome, newOutboxRow, type SendJob } from "./jobs";
import { costOfHop, type LifecycleContext } from "./message-lifecycle";

/**
 * One fan-out job: the recipients [from, to) of a broadcast's snapshot become messages and are sent, in a
 * handful of D1 statements whatever the job's size (rows travel as one JSON parameter each). Idempotent:
 * each message's idempotency key is (broadcast, contact), the hold is one ledger entry per (broadcast,
 * batch), and only messages still `queued` are claimed, so a redelivered or re-released job sends nobody twice.
 */

/** Provider calls in flight at once for a live broadcast job. */
const LIVE_CONCURRENCY = 8;

interface Recipient {
  seq: number;
  contact_id: string;
  address: string;
  country: string | null;
  name: string | null;
  external_id: string | null;
  attributes: string | null;
}

/** A broadcast message's idempotency key; the fan-out query spells the same key in SQL. */
export const broadcastIdempotencyKey = (broadcastId: string, contactId: string) =>
  `broadcast:${broadcastId}:${contactId}`;

const running = (broadcastId: string) =>
  sql`EXISTS (SELECT 1 FROM broadcasts WHERE id = ${broadcastId} AND status = 'running')`;

/** The message rows of a job, rendered per recipient and priced per hop, as the accepting path builds them. */
function buildMessages(
  row: BroadcastRow,
  recipients: Recipient[],
  now: Date,
  linkBase: string | null,
): { rows: MessageRow[]; links: ReturnType<typeof trackContentLinks>["links"] } {
  const stored = row.content as unknown as BroadcastContent;
  const rows: MessageRow[] = [];
  const links: ReturnType<typeof trackContentLinks>["links"] = [];
  const iso = now.toISOString();
  for (const recipient of recipients) {
    const contact = mergeContactOf(recipient);
    const id = newId("message");
    let content = renderForRecipient(stored, contact);
    if (row.linkTracking && linkBase) {
      const tracked = trackContentLinks(
        content,
        {
          tenantId: row.tenantId,
          environment: row.environment,
          messageId: id,
          broadcastId: row.id,
          contactId: recipient.contact_id,
        },
        linkBase,
        now,
      );
      content = tracked.content;
      links.push(...tracked.links);
    }
    const release = row.quietHours
      ? quietHoursRelease(
          row.quietHours,
          recipientTimeZone(contact.attributes.timezone, recipient.country, row.timezone ?? "UTC"),
          now,
        )
      : null;
    const status = release ? "scheduled" : "queued";
    const pricing = { category: row.category, country: recipient.country, content: content as never };
    const cost = costOfHop(pricing, row.channel);
    const hop: HopRecord = {
      channel: row.channel,
      status,
      costMicros: cost,
      providerMessageId: null,
      errorCode: null,
      errorReason: null,
      startedAt: iso,
      endedAt: null,
    };
    rows.push({
      id,
      tenantId: row.tenantId,
      environment: row.environment,
      apiKeyId: row.apiKeyId,
      idempotencyKey: broadcastIdempotencyKey(row.id, recipient.contact_id),
      requestFingerprint: null,
      channel: row.channel,
      to: recipient.address,
      fromChannelId: row.fromChannelId,
      country: recipient.country,
      contentKind: content.kind,
      content: content as unknown as Record<string, unknown>,
      templateId: row.templateId,
      category: row.category,
      priority: row.priority,
      status,
      scheduledAt: release,
      metadata: row.metadata,
      costEstimateMicros: cost,
      currency: row.currency,
      fallback: row.fallback,
      hop: 0,
      hops: [hop],
      providerMessageId: null,
      attempts: 0,
      errorCode: null,
      errorReason: null,
      timestamps: { [status]: iso },
      createdAt: now,
      updatedAt: now,
      broadcastId: row.id,
      contactId: recipient.contact_id,
      test: false,
    });
  }
  return { rows, links };
}

/** All of a job's messages in one INSERT … SELECT over a JSON parameter; a key already used is skipped. */
function insertMessages(db: Db, rows: MessageRow[], guard: ReturnType<typeof sql>) {
  const json = JSON.stringify(
    rows.map((m) => [
      m.id,
      m.idempotencyKey,
      m.to,
      m.country,
      m.contentKind,
      JSON.stringify(m.content),
      m.status,
      m.scheduledAt?.getTime() ?? null,
      m.costEstimateMicros,
      JSON.stringify(m.hops),
      JSON.stringify(m.timestamps),
      m.contactId,
    ]),
  );
  const first = rows[0] as MessageRow;
  const at = first.createdAt.getTime();
  const v = (i: number) => sql.raw(`json_extract(x.value, '$[${i}]')`);
  return rawStatement(
    db,
    sql`
    INSERT INTO messages (id, tenant_id, environment, api_key_id, idempotency_key, request_fingerprint, channel,
      "to", from_channel_id, country, content_kind, content, template_id, category, priority, status,
      scheduled_at, metadata, cost_estimate_micros, currency, fallback, hop, hops, provider_message_id, attempts,
      error_code, error_reason, timestamps, created_at, updated_at, broadcast_id, contact_id, test)
    SELECT ${v(0)}, ${first.tenantId}, ${first.environment}, ${first.apiKeyId}, ${v(1)}, NULL, ${first.channel},
      ${v(2)}, ${first.fromChannelId}, ${v(3)}, ${v(4)}, ${v(5)}, ${first.templateId}, ${first.category},
      ${first.priority}, ${v(6)}, ${v(7)}, ${JSON.stringify(first.metadata)}, ${v(8)}, ${first.currency},
      ${JSON.stringify(first.fallback)}, 0, ${v(9)}, NULL, 0, NULL, NULL, ${v(10)}, ${at}, ${at},
      ${first.broadcastId}, ${v(11)}, 0
    FROM json_each(${json}) x
    WHERE ${guard}
    ON CONFLICT DO NOTHING`,
  );
}

/** Runs the job: materialise (hold + messages + events), claim, send, record. */
export async function runBroadcastBatch(ctx: LifecycleContext, job: SendJob): Promise<JobOutcome> {
  const { env, db, now } = ctx;
  const batch = Number(job.payload.batch);
  const from = Number(job.payload.from);
  const to = Number(job.payload.to);
  const row = await loadBroadcast(db, job.subjectId);
  if (!row || row.status === "canceled" || row.status === "failed" || row.status === "completed") {
    if (row) await runnerOf(env, row.id).batchDone(batch);
    return { ack: true };
  }
  // Paused (or not yet running): the runner keeps the batch in flight and releases it again on resume.
  if (row.status !== "running") return { ack: true };

  // With each recipient: whether a run of this job already made its message (a redelivery makes none again).
  const recipients = await db.all<Recipient & { made: number }>(sql`
    SELECT r.seq, r.contact_id, r.address, r.country, c.name, c.external_id, c.attributes,
      EXISTS (SELECT 1 FROM messages m WHERE m.api_key_id = ${row.apiKeyId}
        AND m.idempotency_key = ${`broadcast:${row.id}:`} || r.contact_id) AS made
    FROM broadcast_recipients r LEFT JOIN contacts c ON c.id = r.contact_id
    WHERE r.broadcast_id = ${row.id} AND r.seq >= ${from} AND r.seq < ${to} AND r.skip_reason IS NULL
    ORDER BY r.seq`);
  const linkBase = (row.content as { linkBase?: string }).linkBase ?? env.PUBLIC_BASE_URL ?? null;
  const fresh = recipients.filter((r) => !r.made);
  const { rows, links } = buildMessages(row, fresh, now, linkBase);
  if (rows.length > 0) {
    const materialised = await materialise(ctx, row, batch, rows, links);
    if (materialised === "insufficient_balance") {
      await pauseBroadcast(env, db, row, "insufficient_balance", now);
      return { ack: true };
    }
  }
  const keys = recipients.map((r) => broadcastIdempotencyKey(row.id, r.contact_id));
  await sendClaimed(ctx, row, keys);
  await runnerOf(env, row.id).batchDone(batch);
  return { ack: true };
}

/** The hold, the messages, their `queued` events, quiet-hours dispatches and tracked links: one batch. */
async function materialise(
  ctx: LifecycleContext,
  row: BroadcastRow,
  batch: number,
  rows: MessageRow[],
  links: ReturnType<typeof trackContentLinks>["links"],
): Promise<"ok" | "insufficient_balance"> {
  const { env, db, now } = ctx;
  const guard = running(row.id);
  const scope = { tenantId: row.tenantId, environment: row.environment };
  const held = rows.reduce((sum, m) => sum + m.costEstimateMicros, 0);
  const at = now.getTime();
  const inserted = (subject: ReturnType<typeof sql>, status: string) =>
    sql`EXISTS (SELECT 1 FROM messages m WHERE m.id = ${subject} AND m.status = ${status} AND m.created_at = ${at})`;
  const queued = rows.filter((m) => m.status === "queued");
  const scheduled = rows.filter((m) => m.status === "scheduled");
  const dispatches = scheduled.map((m) =>
    newOutboxRow("dispatch", m.id, {}, m.scheduledAt ?? now, now, m.priority),
  );
  const linkInsert = insertTrackedLinks(db, links);
  try {
    await commit(env, db, [
      ...walletBootstrap(db, scope, now),
      ...holdStatements(db, row, batch, held, now, guard),
      insertMessages(db, rows, guard),
      ...(queued.length > 0
        ? emitBulkEvents(
            db,
            scope,
            "message.queued",
            queued.map((m) => ({ id: newId("event"), subjectId: m.id, data: messageEventData(m, "queued") })),
            now,
            (subject) => inserted(subject, "queued"),
          )
        : []),
      ...(dispatches.length > 0 ? [insertOutboxRows(db, dispatches, at)] : []),
      ...(linkInsert ? [linkInsert] : []),
    ] as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  } catch (error) {
    if (isOverdraft(error)) return "insufficient_balance";
    throw error;
  }
  // Dispatches of messages this run did not insert (a redelivery) name no message and end at once.
  if (dispatches.length > 0) await enqueue(env, dispatches, now);
  return "ok";
}

/**
 * Claims the job's messages still `queued` (only while the broadcast runs: a pause stops here), sends them,
 * and records the outcomes in bulk. Messages a crashed run left in `sending` past their lease go to the
 * single-send path, which asks the KeyGate whether the provider already took them.
 */
async function sendClaimed(ctx: LifecycleContext, row: BroadcastRow, keys: string[]) {
  const { env, db, now } = ctx;
  if (keys.length === 0) return;
  const keyList = sql`(SELECT value FROM json_each(${JSON.stringify(keys)}))`;
  const claimed = await db
    .update(messages)
    .set({ status: "sending", attempts: sql`${messages.attempts} + 1`, updatedAt: now })
    .where(
      and(
        eq(messages.apiKeyId, row.apiKeyId),
        sql`${messages.idempotencyKey} IN ${keyList}`,
        eq(messages.status, "queued"),
        running(row.id),
      ),
    )
    .returning();
  const stale = await db
    .select({ id: messages.id, priority: messages.priority })
    .from(messages)
    .where(
      and(
        eq(messages.apiKeyId, row.apiKeyId),
        sql`${messages.idempotencyKey} IN ${keyList}`,
        eq(messages.status, "sending"),
        sql`${messages.updatedAt} < ${now.getTime() - JOB_LEASE_MS}`,
      ),
    );
  if (stale.length > 0) {
    const redo = stale.map((m) => newOutboxRow("dispatch", m.id, {}, now, now, m.priority));
    await db.batch([insertOutboxRows(db, redo)]);
    await enqueue(env, redo, now);
  }
  if (claimed.length === 0) return;
  const adapter = await adapterFor(env, db, row, row.channel);
  const first = claimed[0] as MessageRow;
  // The same library media for every recipient: one signed URL per job, not one lookup per message.
  const media = await resolveMediaContent(env, db, first, first.content as unknown as MessageContent, now);
  const results: { message: MessageRow; outbound: OutboundMessage; result: SendResult }[] = [];
  const sendOne = async (message: MessageRow) => {
    let content = message.content as unknown as MessageContent;
    if (content.kind === "media" && media.ok && media.content.kind === "media") {
      content = { kind: "media", media: { ...content.media, url: media.content.media.url } };
    }
    const outbound: OutboundMessage = {
      id: message.id,
      channel: row.channel,
      to: message.to,
      content,
      attempt: message.attempts,
    };
    const result: SendResult = !adapter
      ? {
          ok: false,
          retryable: false,
          code: "channel_not_configured",
          reason: `No ${row.channel} sender is connected; connect one with POST /v1/channels.`,
        }
      : !media.ok
        ? { ok: false, retryable: false, code: media.code, reason: media.reason }
        : await adapter.send(outbound);
    results.push({ message, outbound, result });
  };
  const queue = [...claimed];
  const workers = Array.from({ length: row.environment === "test" ? 1 : LIVE_CONCURRENCY }, async () => {
    for (let next = queue.shift(); next; next = queue.shift()) await sendOne(next);
  });
  await Promise.all(workers);
  await recordOutcomes(ctx, row, results);
}
