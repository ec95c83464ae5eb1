/**
 * Meta WhatsApp Cloud API webhooks → InboundItems.
 *
 * Body: `{ object: "whatsapp_business_account", entry: [{ id: WABA_ID, time?, changes: [{ field, value }] }] }`.
 * `field: "messages"` carries `value: { messaging_product, metadata: { display_phone_number, phone_number_id },
 * contacts?, messages?, statuses?, errors? }`; `field: "message_template_status_update"` carries
 * `value: { event, message_template_id, message_template_name, message_template_language, reason }`.
 * One body may batch several entries, changes, messages and statuses; other fields are skipped.
 */
import { z } from "zod";
import {
  describeIssues,
  type InboundContent,
  type InboundError,
  InboundFormatError,
  type InboundMediaType,
  type InboundParseResult,
  isRecord,
  lookup,
  phoneFromProvider,
  type ReceiptStatus,
  type TemplateReviewStatus,
} from "./types";

/** Meta sends unix seconds as a string (`"1700000000"`); entry.time is a number. */
const unixSeconds = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const seconds = typeof value === "number" ? value : /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    ctx.addIssue({ code: "custom", message: "expected unix seconds" });
    return z.NEVER;
  }
  return new Date(seconds * 1000);
});

/** WhatsApp ids of people: digits only, no + (`5511987654321`). */
const waId = z.string().regex(/^\d+$/, "expected digits");

const Entry = z.object({
  id: z.string().min(1),
  time: unixSeconds.optional(),
  changes: z.array(z.unknown()),
});

const Change = z.object({ field: z.string(), value: z.unknown() });

const MessagesValue = z.object({
  metadata: z.object({ display_phone_number: z.string().min(1), phone_number_id: z.string().min(1) }),
  // Contacts only add the sender's profile name: a malformed list is dropped rather than losing messages.
  contacts: z
    .array(z.object({ wa_id: z.string(), profile: z.object({ name: z.string() }).optional() }))
    .optional()
    .catch(undefined),
  messages: z.array(z.unknown()).optional(),
  statuses: z.array(z.unknown()).optional(),
  errors: z.array(z.unknown()).optional(),
});

const MessageBase = z.object({
  from: waId,
  id: z.string().min(1),
  timestamp: unixSeconds,
  type: z.string().min(1),
  // Forwarded messages carry a context without an id, so only an id makes it a reply.
  context: z.object({ id: z.string().min(1).optional() }).optional(),
});

const media = (mediaType: InboundMediaType) =>
  z
    .object({
      id: z.string().min(1).optional(),
      url: z.string().min(1).optional(),
      mime_type: z.string().optional(),
      sha256: z.string().optional(),
      caption: z.string().optional(),
      filename: z.string().optional(),
    })
    .refine((m) => m.id !== undefined || m.url !== undefined, "media has neither an id nor a url")
    .transform(
      (m): InboundContent => ({
        type: "media",
        mediaType,
        mediaId: m.id,
        url: m.url,
        mimeType: m.mime_type,
        sha256: m.sha256,
        caption: m.caption,
        filename: m.filename,
      }),
    );

/** The content object of each message type we understand, keyed by `type` (it sits under `message[type]`). */
const CONTENT: Record<string, z.ZodType<InboundContent>> = {
  text: z.object({ body: z.string() }).transform((t): InboundContent => ({ type: "text", text: t.body })),
  image: media("image"),
  audio: media("audio"),
  video: media("video"),
  document: media("document"),
  sticker: media("sticker"),
  location: z
    .object({
      latitude: z.number().min(-90).max(90),
      longitude: z.number().min(-180).max(180),
      name: z.string().optional(),
      address: z.string().optional(),
    })
    .transform((l): InboundContent => ({ type: "location", ...l })),
  // A template's quick-reply button: no id, the payload the template defined.
  button: z
    .object({ text: z.string(), payload: z.string().optional() })
    .transform((b): InboundContent => ({ type: "button_reply", text: b.text, payload: b.payload })),
  interactive: z.discriminatedUnion("type", [
    z
      .object({
        type: z.literal("button_reply"),
        button_reply: z.object({ id: z.string().min(1), title: z.string() }),
      })
      .transform(
        (i): InboundContent => ({ type: "button_reply", id: i.button_reply.id, text: i.button_reply.title }),
      ),
    z
      .object({
        type: z.literal("list_reply"),
        list_reply: z.object({
          id: z.string().min(1),
          title: z.string(),
          description: z.string().optional(),
        }),
      })
      .transform((i): InboundContent => ({ type: "list_reply", ...i.list_reply })),
  ]),
  // Meta omits `emoji` when the customer removes a reaction.
  reaction: z.object({ message_id: z.string().min(1), emoji: z.string().optional() }).transform(
    (r): InboundContent => ({
      type: "reaction",
      emoji: r.emoji || null,
      reactedToProviderMessageId: r.message_id,
    }),
  ),
};

/** Interactive replies we map; others (Flows' `nfm_reply`, …) become unsupported content, not problems. */
const INTERACTIVE_REPLIES = new Set(["button_reply", "list_reply"]);

const MetaErrorObject = z.object({
  code: z.union([z.number(), z.string()]),
  title: z.string().optional(),
  message: z.string().optional(),
  error_data: z.object({ details: z.string().optional() }).optional(),
});

const Status = z.object({
  id: z.string().min(1),
  status: z.string().min(1),
  timestamp: unixSeconds,
  recipient_id: z.string().optional(),
  conversation: z.object({ id: z.string().optional() }).optional(),
  pricing: z
    .object({
      billable: z.boolean().optional(),
      pricing_model: z.string().optional(),
      category: z.string().optional(),
    })
    .optional(),
  errors: z.array(MetaErrorObject).optional(),
});

const STATUSES: Record<string, ReceiptStatus> = {
  sent: "sent",
  delivered: "delivered",
  read: "read",
  failed: "failed",
};

const TemplateStatusValue = z.object({
  event: z.string().min(1),
  // A number in Meta's JSON; kept as a string like every other provider id.
  message_template_id: z.union([z.number(), z.string().min(1)]).transform(String),
  message_template_name: z.string().min(1),
  message_template_language: z.string().min(1),
  reason: z.string().nullish(),
});

/**
 * Template events that change whether the template can be sent. REINSTATED returns a paused template to
 * service. The rest (ARCHIVED, FLAGGED, LOCKED, PENDING_DELETION, …) are noted as problems and skipped.
 */
const TEMPLATE_EVENTS: Record<string, TemplateReviewStatus> = {
  APPROVED: "approved",
  REINSTATED: "approved",
  REJECTED: "rejected",
  PENDING: "pending",
  PAUSED: "paused",
  DISABLED: "disabled",
};

/**
 * Parses one Meta webhook body (already JSON-parsed, signature already checked). `receivedAt` dates a
 * template update whose entry carries no `time`.
 */
export function parseMetaWebhook(body: unknown, receivedAt: Date): InboundParseResult {
  if (!isRecord(body) || body.object !== "whatsapp_business_account" || !Array.isArray(body.entry)) {
    throw new InboundFormatError(
      "meta",
      'Not a WhatsApp webhook: expected { object: "whatsapp_business_account", entry: [...] }.',
    );
  }
  const out: InboundParseResult = { items: [], problems: [] };
  body.entry.forEach((rawEntry, e) => {
    const entry = Entry.safeParse(rawEntry);
    if (!entry.success) {
      out.problems.push(describeIssues(`entry[${e}]`, entry.error));
      return;
    }
    entry.data.changes.forEach((rawChange, c) => {
      const where = `entry[${e}].changes[${c}]`;
      const change = Change.safeParse(rawChange);
      if (!change.success) {
        out.problems.push(describeIssues(where, change.error));
      } else if (change.data.field === "messages") {
        readMessagesValue(change.data.value, entry.data.id, where, out);
      } else if (change.data.field === "message_template_status_update") {
        readTemplateStatus(change.data.value, entry.data, where, receivedAt, out);
      }
      // Other fields (account_update, phone_number_quality_update, …) are not handled yet.
    });
  });
  return out;
}

function readMessagesValue(raw: unknown, wabaId: string, where: string, out: InboundParseResult): void {
  const value = MessagesValue.safeParse(raw);
  if (!value.success) {
    out.problems.push(describeIssues(where, value.error));
    return;
  }
  const { metadata, contacts, messages = [], statuses = [], errors = [] } = value.data;
  const names = new Map(contacts?.map((c) => [c.wa_id, c.profile?.name]));
  const to = phoneFromProvider(metadata.display_phone_number);
  const phoneNumberId = metadata.phone_number_id;

  messages.forEach((rawMessage, m) => {
    const at = `${where}.messages[${m}]`;
    const base = MessageBase.safeParse(rawMessage);
    if (!base.success) {
      out.problems.push(describeIssues(at, base.error));
      return;
    }
    const { id, from, timestamp, type, context } = base.data;
    const content = readContent(type, rawMessage as Record<string, unknown>);
    if (!content.success) {
      out.problems.push(describeIssues(`${at} (${id}) ${type}`, content.error));
      return;
    }
    out.items.push({
      kind: "message",
      provider: "meta",
      providerMessageId: id,
      from: phoneFromProvider(from),
      to,
      phoneNumberId,
      account: wabaId,
      profileName: names.get(from),
      occurredAt: timestamp,
      replyToProviderMessageId: context?.id,
      content: content.data,
      dedupeKey: `meta:msg:${id}`,
    });
  });

  statuses.forEach((rawStatus, s) => {
    const at = `${where}.statuses[${s}]`;
    const parsed = Status.safeParse(rawStatus);
    if (!parsed.success) {
      out.problems.push(describeIssues(at, parsed.error));
      return;
    }
    const receipt = parsed.data;
    const status = lookup(STATUSES, receipt.status);
    if (!status) {
      out.problems.push(`${at} (${receipt.id}): unknown status "${receipt.status}"`);
      return;
    }
    const error = status === "failed" && receipt.errors?.[0] ? metaError(receipt.errors[0]) : undefined;
    out.items.push({
      kind: "status",
      provider: "meta",
      providerMessageId: receipt.id,
      status,
      occurredAt: receipt.timestamp,
      error,
      // A failed receipt with another error code is a different event, not a redelivery.
      dedupeKey: `meta:status:${receipt.id}:${status}${error ? `:${error.code}` : ""}`,
      // recipient_id is a wa_id for one-to-one chats; anything else (a group id) is kept as given.
      recipient:
        receipt.recipient_id && /^\d+$/.test(receipt.recipient_id)
          ? phoneFromProvider(receipt.recipient_id)
          : receipt.recipient_id,
      phoneNumberId,
      account: wabaId,
      conversationId: receipt.conversation?.id,
      pricing: receipt.pricing && {
        billable: receipt.pricing.billable,
        model: receipt.pricing.pricing_model,
        category: receipt.pricing.category,
      },
    });
  });

  // Errors about the webhook itself, tied to no message (e.g. an unsupported update): worth a log line.
  for (const rawError of errors) {
    const parsed = MetaErrorObject.safeParse(rawError);
    out.problems.push(
      parsed.success
        ? `${where}: Meta reported error ${parsed.data.code}: ${metaError(parsed.data).reason}`
        : `${where}: Meta reported an unreadable error`,
    );
  }
}

function readContent(type: string, message: Record<string, unknown>) {
  const schema = lookup(CONTENT, type);
  const body = message[type];
  const interactiveType = isRecord(body) ? body.type : undefined;
  if (!schema || (type === "interactive" && !INTERACTIVE_REPLIES.has(String(interactiveType)))) {
    const rawType = type === "interactive" ? `interactive.${String(interactiveType)}` : type;
    return { success: true as const, data: { type: "unsupported", rawType } satisfies InboundContent };
  }
  return schema.safeParse(body);
}

/** Meta's most useful words are the message (or title) plus error_data.details, as in mapMetaError. */
function metaError(err: z.infer<typeof MetaErrorObject>): InboundError {
  const parts = [err.message ?? err.title, err.error_data?.details].filter(
    (p, i, all): p is string => typeof p === "string" && p !== "" && all.indexOf(p) === i,
  );
  return { code: String(err.code), reason: parts.join(": ") || `WhatsApp error ${err.code}` };
}

function readTemplateStatus(
  raw: unknown,
  entry: z.infer<typeof Entry>,
  where: string,
  receivedAt: Date,
  out: InboundParseResult,
): void {
  const value = TemplateStatusValue.safeParse(raw);
  if (!value.success) {
    out.problems.push(describeIssues(where, value.error));
    return;
  }
  const { event, message_template_id: id, message_template_name, message_template_language } = value.data;
  const status = lookup(TEMPLATE_EVENTS, event);
  if (!status) {
    out.problems.push(`${where} (template ${id}): template event "${event}" is not tracked`);
    return;
  }
  // Meta writes "NONE" as the reason of an approval.
  const reason = value.data.reason && value.data.reason !== "NONE" ? value.data.reason : undefined;
  // entry.time tells two APPROVED events for one template (approved, paused, approved again) apart.
  const time = entry.time ? `:${entry.time.getTime() / 1000}` : "";
  out.items.push({
    kind: "template_status",
    provider: "meta",
    providerTemplateId: id,
    templateName: message_template_name,
    language: message_template_language,
    status,
    providerEvent: event,
    reason,
    occurredAt: entry.time ?? receivedAt,
    account: entry.id,
    dedupeKey: `meta:template:${id}:${event}${time}`,
  });
}
