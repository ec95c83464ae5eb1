import { and, eq } from "drizzle-orm";
import type { Context } from "hono";
import { createDb, type Db } from "../db/client";
import { compiledInsert } from "../db/compiled";
import { conversations, type HopRecord, type MessageRow, messages, outbox } from "../db/schema";
import { isOverdraft, walletBootstrap, walletMovement } from "../db/wallet";
import { checkCustomerWindow } from "../domain/customer-window";
import { CURRENCY, formatAmount } from "../domain/money";
import { canReceiveMobileMessages, describePhone, normalizeEmail, normalizePhone } from "../domain/phone";
import { priorityRank, resolveSendTime } from "../domain/schedule";
import { checkVariables, renderTemplate as renderTemplateText } from "../domain/templates";
import type { AppBindings, Env, Principal } from "../env";
import { ApiError } from "../errors";
import { newId } from "../ids";
import type { Channel, MessageContent } from "../providers/types";
import { enqueue, newOutboxRow } from "../queues/jobs";
import { costOfHop, messageEvent } from "../queues/message-lifecycle";
import { findChannelRow } from "../services/channels";
import { insertTrackedLinks, trackContentLinks } from "../services/links";
import { fallbackFilename, mediaForSend, mediaRef } from "../services/media";
import { suppressedChannelOf, suppressionGuard } from "../services/suppressions";
import { commit } from "../webhooks/events";
import { contentFieldOf, type SendMessageInput } from "./message-schemas";
import { findTemplateForSend } from "./templates";

/**
 * What POST /v1/messages decides before anything is stored: recipient, content, template, window, sender,
 * schedule and price; then the one atomic batch that accepts the message (debit + row + event + job).
 */

// The accepting batch's own rows, compiled once per isolate (see src/db/compiled.ts).
const insertMessage = compiledInsert(messages);
const insertOutboxRow = compiledInsert(outbox);

/** Which content each channel carries (a template's rendered text travels by SMS and email too). */
export const CHANNEL_CONTENT: Record<Channel, readonly MessageContent["kind"][]> = {
  whatsapp: ["template", "text", "media", "interactive"],
  sms: ["template", "text", "media"],
  email: ["email", "template"],
};

const scopeOf = (caller: Principal) => ({ tenantId: caller.tenantId, environment: caller.environment });

/** Where tracked links point: the configured public origin, else the origin this request came to. */
export const linkBaseOf = (c: Context<AppBindings>) =>
  (c.env.PUBLIC_BASE_URL ?? new URL(c.req.url).origin).replace(/\/+$/, "");

export const invalid = (path: string, message: string) =>
  new ApiError("validation_error", message, { details: [{ path, message }] });

function normalizeRecipient(channel: Channel, to: string): { to: string; country: string | null } {
  if (channel === "email") {
    const email = normalizeEmail(to);
    if (!email.ok) throw invalid("to", email.reason);
    return { to: email.address, country: null };
  }
  const phone = normalizePhone(to);
  if (!phone.ok) throw invalid("to", phone.reason);
  // Offline, from the numbering plan: only a known landline is refused (mobile_or_landline, voip,
  // toll_free, premium and unknown lines go to the provider, which knows better).
  const line = describePhone(phone.e164);
  if (!canReceiveMobileMessages(line)) {
    throw new ApiError(
      "recipient_not_mobile",
      `${phone.e164} is a ${line.lineType === "landline" ? "landline" : "number that cannot receive messages"}${line.country ? ` in ${line.country}` : ""}; ${channel} cannot reach it. Check numbers first with POST /v1/lookups/phone-numbers.`,
      { details: [{ path: "to", message: `line_type is ${line.lineType}` }] },
    );
  }
  return { to: phone.e164, country: phone.country };
}

/** Every hop must carry the same content to the same address. */
export function checkFallback(
  body: Pick<SendMessageInput, "channel" | "fallback">,
  kind: MessageContent["kind"],
) {
  let previous: Channel = body.channel;
  body.fallback.forEach((hop, index) => {
    const path = `fallback[${index}].channel`;
    if (hop.channel === previous)
      throw invalid(path, `Fallback ${index + 1} repeats ${hop.channel}; pick another channel.`);
    if ((hop.channel === "email") !== (body.channel === "email")) {
      throw invalid(
        path,
        `Cannot fall back from ${body.channel} to ${hop.channel}: the recipient address differs in kind.`,
      );
    }
    if (!CHANNEL_CONTENT[hop.channel].includes(kind)) {
      throw invalid(
        path,
        `${hop.channel} cannot carry ${kind} content; use a template or text for cross-channel fallback.`,
      );
    }
    previous = hop.channel;
  });
}

/**
 * Media content: a URL as given, or a library media checked for every channel the message may take (it exists
 * here, is ready, its type and size suit each channel) and stored as a reference that each dispatch turns into
 * a fresh signed URL.
 */
async function mediaContent(
  db: Db,
  caller: Principal,
  body: SendMessageInput,
  media: NonNullable<SendMessageInput["media"]>,
): Promise<MessageContent> {
  const { type, url, media_id, caption, filename } = media;
  if (media_id === undefined) return { kind: "media", media: { type, url: url ?? "", caption, filename } };
  const channels = [body.channel, ...body.fallback.map((hop) => hop.channel)];
  const row = await mediaForSend(db, caller, media_id, type, channels);
  return {
    kind: "media",
    media: {
      type,
      url: mediaRef(row.id),
      caption,
      filename: filename ?? (type === "document" ? fallbackFilename(row) : undefined),
    },
  };
}

/** Resolves the content into the form every hop and retry sends, checking templates before money moves. */
export async function resolveContent(env: Env, db: Db, caller: Principal, body: SendMessageInput, now: Date) {
  const kind = contentFieldOf(body);
  if (!CHANNEL_CONTENT[body.channel].includes(kind)) {
    throw invalid(
      kind,
      `${body.channel} messages cannot carry ${kind} content (allowed: ${CHANNEL_CONTENT[body.channel].join(", ")}).`,
    );
  }
  if (body.media && body.channel === "sms" && body.media.type !== "image") {
    throw invalid("media.type", "SMS (MMS) carries images only.");
  }
  if (body.template) {
    const { name, language, variables } = body.template;
    const template = await findTemplateForSend(env, db, caller, name, language, now);
    if (!template) {
      throw new ApiError(
        "template_not_found",
        `No template ${name} in ${language} exists in this environment; create it with POST /v1/templates.`,
      );
    }
    if (template.status !== "approved") {
      throw new ApiError(
        "template_not_approved",
        `Template ${name} (${language}) is ${template.status}${template.rejectionReason ? `: ${template.rejectionReason}` : ""}; only approved templates can be sent.`,
      );
    }
    const check = checkVariables(
      { style: template.placeholderStyle, names: template.placeholders },
      variables,
      template,
    );
    if (!check.ok) {
      throw new ApiError("template_variables_invalid", check.message, {
        details: [
          ...check.missing.map((name) => ({ path: `template.variables.${name}`, message: "missing" })),
          ...check.unexpected.map((name) => ({ path: `template.variables.${name}`, message: "unexpected" })),
          ...check.invalid.map((p) => ({ path: `template.variables.${p.name}`, message: p.message })),
        ],
      });
    }
    const templateText = template.header ? `${template.header}\n${template.body}` : template.body;
    const rendered = renderTemplateText(templateText, variables);
    const content: MessageContent = {
      kind: "template",
      template: {
        name,
        language,
        variables,
        placeholderStyle: template.placeholderStyle,
        renderedBody: rendered,
      },
    };
    return { content, templateId: template.id, category: template.category as string, templateText };
  }
  const content: MessageContent = body.text
    ? { kind: "text", text: { body: body.text.body, previewUrl: body.text.preview_url } }
    : body.media
      ? await mediaContent(db, caller, body, body.media)
      : body.interactive
        ? { kind: "interactive", interactive: body.interactive }
        : { kind: "email", email: body.email ?? { subject: "" } };
  return { content, templateId: null, category: "service", templateText: null };
}

async function lastInboundAt(db: Db, caller: Principal, channel: Channel, to: string): Promise<Date | null> {
  const [row] = await db
    .select({ at: conversations.lastInboundAt })
    .from(conversations)
    .where(
      and(
        eq(conversations.tenantId, caller.tenantId),
        eq(conversations.environment, caller.environment),
        eq(conversations.channel, channel),
        eq(conversations.address, to),
      ),
    )
    .limit(1);
  return row?.at ?? null;
}

export async function acceptMessage(
  c: Context<AppBindings>,
  caller: Principal,
  body: SendMessageInput,
  idempotency: { key: string; fingerprint: string },
  /** A broadcast test send: names the broadcast (and contact), outside its counts. */
  origin: { broadcastId: string; contactId: string | null } | null = null,
) {
  const idempotencyKey = idempotency.key;
  const db = createDb(c.env.DB);
  const now = new Date();
  const { to, country } = normalizeRecipient(body.channel, body.to);
  const resolved = await resolveContent(c.env, db, caller, body, now);
  const { templateId, category } = resolved;
  checkFallback(body, resolved.content.kind);
  const id = newId("message");
  // Tracked links are rewritten before pricing: the SMS a recipient gets carries the short links.
  const tracked = body.link_tracking
    ? trackContentLinks(
        resolved.content,
        {
          ...scopeOf(caller),
          messageId: id,
          broadcastId: origin?.broadcastId ?? null,
          contactId: origin?.contactId ?? null,
        },
        linkBaseOf(c),
        now,
      )
    : null;
  const content = tracked?.content ?? resolved.content;
  const linkInsert = tracked ? insertTrackedLinks(db, tracked.links) : null;

  if (body.from) {
    if (!(await findChannelRow(db, caller, body.channel, body.from))) {
      throw new ApiError(
        "resource_not_found",
        `No ${body.channel} channel ${body.from} exists in this environment.`,
      );
    }
  } else if (caller.environment === "live" && !(await findChannelRow(db, caller, body.channel, null))) {
    throw new ApiError(
      "channel_not_configured",
      `No ${body.channel} sender is connected in live mode. Connect one with POST /v1/channels.`,
    );
  }
  const window = checkCustomerWindow(
    body.channel,
    content.kind,
    body.channel === "whatsapp" ? await lastInboundAt(db, caller, body.channel, to) : null,
    now,
  );
  if (!window.ok) throw new ApiError("outside_customer_window", window.message);

  const schedule = resolveSendTime(body, now);
  if (!schedule.ok) throw invalid(schedule.field, schedule.message);

  const pricing = { category, country, content: content as unknown as Record<string, unknown> };
  const cost = costOfHop(pricing, body.channel);
  const status = schedule.at ? "scheduled" : "queued";
  const hop: HopRecord = {
    channel: body.channel,
    status,
    costMicros: cost,
    providerMessageId: null,
    errorCode: null,
    errorReason: null,
    startedAt: now.toISOString(),
    endedAt: null,
  };
  const row: MessageRow = {
    id,
    tenantId: caller.tenantId,
    environment: caller.environment,
    apiKeyId: caller.keyId,
    idempotencyKey,
    requestFingerprint: idempotency.fingerprint || null,
    channel: body.channel,
    to,
    fromChannelId: body.from ?? null,
    country,
    contentKind: content.kind,
    content: content as unknown as Record<string, unknown>,
    templateId,
    category,
    priority: priorityRank(body.priority),
    status,
    scheduledAt: schedule.at,
    metadata: body.metadata,
    costEstimateMicros: cost,
    currency: CURRENCY,
    fallback: body.fallback.map((f) => ({ channel: f.channel, afterSeconds: f.after_seconds })),
    hop: 0,
    hops: [hop],
    providerMessageId: null,
    attempts: 0,
    errorCode: null,
    errorReason: null,
    timestamps: { [status]: now.toISOString() },
    createdAt: now,
    updatedAt: now,
    broadcastId: origin?.broadcastId ?? null,
    contactId: origin?.contactId ?? null,
    test: origin !== null,
  };
  const dispatch = newOutboxRow("dispatch", id, {}, schedule.at ?? now, now, row.priority);
  const scope = { tenantId: caller.tenantId, environment: caller.environment };
  try {
    // One atomic batch: the debit (refused by the wallet's CHECK on overdraft), the message, its event, its job.
    await commit(c.env, db, [
      // First: aborts the whole batch (nothing debited or stored) when the address is suppressed on any hop.
      suppressionGuard(db, scope, [body.channel, ...body.fallback.map((hop) => hop.channel)], to),
      ...walletBootstrap(db, scope, now),
      ...walletMovement(
        db,
        scope,
        { kind: "debit", amountMicros: -cost, messageId: id, hop: 0, description: `${body.channel} message` },
        now,
      ),
      insertMessage(db, row),
      ...(status === "queued" ? messageEvent({ env: c.env, db, now }, row, "queued") : []),
      insertOutboxRow(db, dispatch),
      ...(linkInsert ? [linkInsert] : []),
    ]);
  } catch (error) {
    const suppressed = suppressedChannelOf(error);
    if (suppressed) {
      throw new ApiError(
        "recipient_suppressed",
        `${to} is suppressed on ${suppressed} (opted out, bounced, complained or added by hand); nothing was sent or charged. See GET /v1/suppressions?channel=${suppressed}.`,
        {
          details: [
            { path: suppressed === body.channel ? "to" : "fallback", message: `suppressed on ${suppressed}` },
          ],
        },
      );
    }
    if (isOverdraft(error)) {
      throw new ApiError(
        "insufficient_balance",
        `This message costs ${formatAmount(cost)} ${CURRENCY}, more than the balance; see GET /v1/balance.`,
      );
    }
    // The key's KeyGate record is gone (its 7-day window passed, or it was lost) but a message holds the
    // key: the same request gets that message back rather than a second send; another request is refused.
    const [existing] = await db
      .select()
      .from(messages)
      .where(and(eq(messages.apiKeyId, caller.keyId), eq(messages.idempotencyKey, idempotencyKey)))
      .limit(1);
    if (!existing) throw error;
    if (existing.requestFingerprint !== null && existing.requestFingerprint === idempotency.fingerprint) {
      return existing;
    }
    throw new ApiError(
      "idempotency_key_mismatch",
      `This idempotency key was used on ${existing.createdAt.toISOString()} for another request (message ${existing.id}); keys are never reused for a different request, even after the 7-day replay window. Use a new key.`,
    );
  }
  await enqueue(c.env, [dispatch], now);
  return row;
}
