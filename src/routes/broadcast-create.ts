import { and, eq, type SQL, sql } from "drizzle-orm";
import type { Context } from "hono";
import { createDb, type Db } from "../db/client";
import { type BroadcastRow, broadcasts, contacts, wallets } from "../db/schema";
import { ensureWallet, walletOf } from "../db/wallet";
import { type BroadcastContent, mergeContactOf, renderForRecipient } from "../domain/broadcast-content";
import {
  collectMergeFields,
  type MergeContact,
  type MergeField,
  requiredFields,
} from "../domain/merge-fields";
import { CURRENCY, formatAmount } from "../domain/money";
import { validateQuietHours } from "../domain/quiet-hours";
import { priorityRank, resolveSendTime } from "../domain/schedule";
import type { AppBindings, Principal } from "../env";
import { ApiError } from "../errors";
import { newId } from "../ids";
import type { Channel } from "../providers/types";
import { startBroadcast } from "../queues/broadcast-lifecycle";
import { costOfHop } from "../queues/message-lifecycle";
import {
  type Audience,
  audienceBreakdown,
  audienceCondition,
  principalScope,
  sampleRecipients,
} from "../services/broadcast-audience";
import { findChannelRow } from "../services/channels";
import { unknownContactIds } from "../services/lists";
import type { CreateBroadcastInput } from "./broadcast-schemas";
import { CHANNEL_CONTENT, checkFallback, invalid, linkBaseOf, resolveContent } from "./message-accept";
import { renderSentContent, type SendMessageInput } from "./message-schemas";

/**
 * What POST /v1/broadcasts (and its dry run) decides before anything is stored: content valid for the
 * channel, merge fields well formed, a template approved with every variable filled for every recipient,
 * the audience existing in this environment, a schedule and quiet hours that parse; then the cost, per
 * country, from one aggregate over the audience in D1.
 */

type BroadcastInput = Omit<CreateBroadcastInput, "start" | "dry_run">;

const CONTENT_KEYS = ["template", "text", "media", "interactive", "email"] as const;

function requestContent(body: BroadcastInput): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of CONTENT_KEYS) if (body[key] !== undefined) out[key] = body[key];
  return out;
}

/** The condition a recipient lacking `field` matches (so a required merge field can be counted). */
/** Blank as rendering sees it: only whitespace counts as missing (the default, or empty, is used). */
const blank = (value: SQL) => sql`trim(coalesce(${value}, ''), ' ' || char(9, 10, 11, 12, 13)) = ''`;

/** The condition a recipient lacking `field` matches (so a required merge field can be counted). */
function missing(field: MergeField): SQL {
  if (field.path === "name") return blank(sql`${contacts.name}`);
  if (field.path === "external_id") return blank(sql`${contacts.externalId}`);
  const key = field.path.slice("attributes.".length);
  // The key is quoted and bound: never a JSON path built from raw input.
  return blank(sql`CAST(json_extract(${contacts.attributes}, ${`$."${key.replaceAll('"', "")}"`}) AS TEXT)`);
}

async function audienceOf(db: Db, caller: Principal, audience: Audience): Promise<SQL> {
  if ("contact_ids" in audience) {
    const unknown = await unknownContactIds(db, caller, [...new Set(audience.contact_ids)]);
    if (unknown.length > 0) {
      throw new ApiError(
        "resource_not_found",
        `${unknown.length} contact id${unknown.length === 1 ? "" : "s"} do not exist in this environment: ${unknown.slice(0, 5).join(", ")}${unknown.length > 5 ? ", …" : ""}.`,
        {
          details: unknown.slice(0, 20).map((id) => ({
            path: `audience.contact_ids[${audience.contact_ids.indexOf(id)}]`,
            message: "not found",
          })),
        },
      );
    }
  }
  const condition = await audienceCondition(db, principalScope(caller), audience);
  if (!condition) {
    const [kind, id] =
      "segment_id" in audience
        ? ["segment", audience.segment_id]
        : ["list", (audience as { list_id: string }).list_id];
    throw new ApiError("resource_not_found", `No ${kind} ${id} exists in this environment.`, {
      details: [{ path: `audience.${kind}_id`, message: "not found" }],
    });
  }
  return condition;
}

export interface PlannedBroadcast {
  content: BroadcastContent & { request: Record<string, unknown>; linkBase: string };
  templateId: string | null;
  category: string;
  scheduleAt: Date | null;
  preview: Awaited<ReturnType<typeof previewOf>>;
}

/** Validates everything and prices the audience; throws an ApiError (4xx) on the first problem. */
export async function planBroadcast(
  c: Context<AppBindings>,
  caller: Principal,
  body: BroadcastInput,
  now: Date,
): Promise<PlannedBroadcast> {
  const db = createDb(c.env.DB);
  const request = requestContent(body);
  const merge = collectMergeFields(request);
  if (!merge.ok) throw invalid(merge.path, merge.message);
  if (body.quiet_hours) {
    const check = validateQuietHours(body.quiet_hours);
    if (!check.ok) throw invalid(`quiet_hours.${check.path}`, check.message);
  }
  const schedule = resolveSendTime(body, now);
  if (!schedule.ok) throw invalid(schedule.field, schedule.message);
  if (body.from) {
    if (!(await findChannelRow(db, caller, body.channel, body.from))) {
      throw new ApiError(
        "resource_not_found",
        `No ${body.channel} channel ${body.from} exists in this environment.`,
        {
          details: [{ path: "from", message: "not found" }],
        },
      );
    }
  } else if (caller.environment === "live" && !(await findChannelRow(db, caller, body.channel, null))) {
    throw new ApiError(
      "channel_not_configured",
      `No ${body.channel} sender is connected in live mode. Connect one with POST /v1/channels.`,
    );
  }
  const condition = await audienceOf(db, caller, body.audience as Audience);
  // Template approval and variables are checked exactly as on sends (merge fields count as filled here).
  const resolved = await resolveContent(
    c.env,
    db,
    caller,
    { ...body, to: "", link_tracking: false } as unknown as SendMessageInput,
    now,
  );
  checkFallback(body, resolved.content.kind);
  if (!CHANNEL_CONTENT[body.channel].includes(resolved.content.kind)) {
    throw invalid(resolved.content.kind, `${body.channel} cannot carry ${resolved.content.kind} content.`);
  }
  // A template variable must have a value for every recipient: a merge field without a default may not
  // meet a contact that lacks it.
  if (body.template) {
    const variables = collectMergeFields(body.template.variables);
    const required = variables.ok ? requiredFields(variables.fields) : [];
    for (const field of required) {
      const [row] = await db
        .select({ n: sql<number>`count(*)` })
        .from(contacts)
        .where(and(condition, missing(field)));
      const n = Number(row?.n ?? 0);
      if (n > 0) {
        throw new ApiError(
          "template_variables_invalid",
          `${n} recipient${n === 1 ? " has" : "s have"} no ${field.path}, so ${field.raw} would leave a template variable empty; add a default: {{contact.${field.path}|…}}.`,
          { details: [{ path: "template.variables", message: `${field.raw}: ${n} recipients lack it` }] },
        );
      }
    }
  }
  const content = {
    message: resolved.content,
    templateText: resolved.templateText,
    request,
    linkBase: linkBaseOf(c),
  };
  const category = resolved.category;
  const preview = await previewOf(db, caller, body.channel, body.fallback, condition, content, category, now);
  return { content, templateId: resolved.templateId, category, scheduleAt: schedule.at, preview };
}

const SAMPLE_SIZE = 3;

/** The dry run: recipients per country and skip reason, the cost, the balance after, three rendered samples. */
async function previewOf(
  db: Db,
  caller: Principal,
  channel: Channel,
  fallback: BroadcastInput["fallback"],
  condition: SQL,
  content: BroadcastContent,
  category: string,
  now: Date,
) {
  const hopChannels = [channel, ...fallback.map((hop) => hop.channel)];
  const [breakdown, samples] = await Promise.all([
    audienceBreakdown(db, condition, channel, hopChannels),
    sampleRecipients(db, condition, channel, hopChannels, SAMPLE_SIZE),
  ]);
  const skipped = { suppressed: 0, invalid: 0, not_mobile: 0, no_address: 0 };
  const countries = new Map<string | null, number>();
  let recipients = 0;
  for (const row of breakdown) {
    recipients += row.n;
    if (row.skip) skipped[row.skip] += row.n;
    else countries.set(row.country, (countries.get(row.country) ?? 0) + row.n);
  }
  // Priced from the first sample's rendering (merge fields change an SMS's length only a little).
  const sampleContact: MergeContact = samples[0]
    ? mergeContactOf(samples[0])
    : { name: null, externalId: null, attributes: {} };
  const priced = renderForRecipient(content, sampleContact);
  let total = 0;
  const byCountry = [...countries.entries()]
    .map(([country, n]) => {
      const each = costOfHop({ category, country, content: priced as never }, channel);
      total += each * n;
      return { country, recipients: n, costMicros: each * n };
    })
    .sort((a, b) => b.recipients - a.recipients);
  const scope = principalScope(caller);
  await ensureWallet(db, scope, now);
  const [wallet] = await db.select({ balance: wallets.balanceMicros }).from(wallets).where(walletOf(scope));
  const balance = wallet?.balance ?? 0;
  return {
    object: "broadcast_preview" as const,
    recipients,
    eligible: recipients - Object.values(skipped).reduce((a, b) => a + b, 0),
    skipped,
    costEstimateMicros: total,
    cost_estimate: formatAmount(total),
    currency: CURRENCY,
    by_country: byCountry.map((c) => ({
      country: c.country,
      recipients: c.recipients,
      cost: formatAmount(c.costMicros),
    })),
    balance: formatAmount(balance),
    balance_after: formatAmount(balance - total),
    sample: samples.map((s) => ({
      contact_id: s.contact_id,
      to: s.address,
      content: renderSentContent(renderForRecipient(content, mergeContactOf(s))) as Record<string, unknown>,
    })),
  };
}

export function publicPreview(preview: PlannedBroadcast["preview"]) {
  const { costEstimateMicros: _, ...rest } = preview;
  return rest;
}

/**
 * Stores the broadcast (draft, scheduled, or started now). The (key, idempotency key) unique index makes a
 * request retried after the KeyGate forgot it return the broadcast it made, never a second one.
 */
export async function createBroadcast(
  c: Context<AppBindings>,
  caller: Principal,
  body: CreateBroadcastInput,
  plan: PlannedBroadcast,
  idempotency: { key: string; fingerprint: string },
  now: Date,
): Promise<BroadcastRow> {
  const db = createDb(c.env.DB);
  const status = !body.start ? "draft" : plan.scheduleAt ? "scheduled" : "draft";
  const row: BroadcastRow = {
    id: newId("broadcast"),
    tenantId: caller.tenantId,
    environment: caller.environment,
    apiKeyId: caller.keyId,
    idempotencyKey: idempotency.key,
    requestFingerprint: idempotency.fingerprint || null,
    name: body.name,
    status,
    channel: body.channel,
    fromChannelId: body.from ?? null,
    content: plan.content as unknown as Record<string, unknown>,
    templateId: plan.templateId,
    category: plan.category,
    fallback: body.fallback.map((f) => ({ channel: f.channel, afterSeconds: f.after_seconds })),
    audience: body.audience as Record<string, unknown>,
    priority: priorityRank(body.priority),
    rateLimitPerMinute: body.rate_limit_per_minute,
    scheduleAt: plan.scheduleAt,
    timezone: body.timezone ?? null,
    quietHours: body.quiet_hours ?? null,
    linkTracking: body.link_tracking,
    metadata: body.metadata,
    total: null,
    skipped: null,
    costEstimateMicros: plan.preview.costEstimateMicros,
    currency: CURRENCY,
    pauseReason: null,
    failureReason: null,
    createdAt: now,
    updatedAt: now,
    startedAt: null,
    completedAt: null,
  };
  const inserted = await db
    .insert(broadcasts)
    .values(row)
    .onConflictDoNothing()
    .returning({ id: broadcasts.id });
  if (inserted.length === 0) {
    const [existing] = await db
      .select()
      .from(broadcasts)
      .where(and(eq(broadcasts.apiKeyId, caller.keyId), eq(broadcasts.idempotencyKey, idempotency.key)))
      .limit(1);
    if (
      existing &&
      existing.requestFingerprint !== null &&
      existing.requestFingerprint === idempotency.fingerprint
    ) {
      return existing;
    }
    throw new ApiError(
      "idempotency_key_mismatch",
      `This idempotency key was already used for another request${existing ? ` (broadcast ${existing.id})` : ""}; use a new key.`,
    );
  }
  if (body.start && !plan.scheduleAt) return (await startBroadcast(c.env, db, row, now)) ?? row;
  return row;
}
