/**
 * The one normalised shape every inbound provider webhook (Meta WhatsApp, Twilio, Resend) is parsed into.
 * Parsers are pure: no I/O, no clock (times come from the payload or are passed in), no database. They
 * return every item they could read plus a note for everything malformed they skipped, and throw
 * InboundFormatError only when the body is not that provider's format at all (the caller answers 400).
 */
import type { z } from "zod";
import type { MessageStatus } from "../../db/schema";
import type { MediaType } from "../../providers/types";
import { normalizePhone } from "../phone";

export type InboundProvider = "meta" | "twilio" | "resend";

/**
 * What a provider receipt can move a message to. Pre-send states (queued, sending) are never emitted: our
 * dispatcher marks a message `sent` as soon as the provider accepts it, so a later "queued" says nothing new.
 */
export type ReceiptStatus = Extract<
  MessageStatus,
  "sent" | "delivered" | "read" | "failed" | "undelivered" | "canceled"
>;

/** The provider's own error code as a string (`131026`, `30003`, `bounce_permanent`) and a readable reason. */
export interface InboundError {
  code: string;
  reason: string;
}

interface ItemBase {
  provider: InboundProvider;
  occurredAt: Date;
  /** The provider's identity for this event, stable across redeliveries of the same callback. */
  dedupeKey: string;
  /** The provider account the event came from: Meta WABA id (`entry.id`), Twilio AccountSid. Resend: none. */
  account?: string;
}

/** A delivery receipt for one of our outbound messages. */
export interface StatusItem extends ItemBase {
  kind: "status";
  providerMessageId: string;
  status: ReceiptStatus;
  /** Who our message went to: E.164 phone number or email address. */
  recipient?: string;
  error?: InboundError;
  /** Meta: which of the WABA's numbers sent the message. */
  phoneNumberId?: string;
  /** Meta: the conversation the message was billed in, and how it was priced. */
  conversationId?: string;
  pricing?: { billable?: boolean; model?: string; category?: string };
}

export type InboundMediaType = MediaType | "sticker";

export interface InboundMedia {
  mediaType: InboundMediaType;
  /** Meta: the media id to download through the Graph API. */
  mediaId?: string;
  /** Twilio: where the file can be fetched (with the account's credentials). */
  url?: string;
  mimeType?: string;
  sha256?: string;
  filename?: string;
}

export type InboundContent =
  | { type: "text"; text: string }
  | ({ type: "media"; caption?: string } & InboundMedia)
  /** An MMS with several attachments: one message, the text applying to all of them. */
  | { type: "media_group"; caption?: string; media: InboundMedia[] }
  | { type: "location"; latitude: number; longitude: number; name?: string; address?: string }
  /** A tap on a reply button: interactive buttons carry an id, template quick replies a payload. */
  | { type: "button_reply"; id?: string; text: string; payload?: string }
  | { type: "list_reply"; id: string; title: string; description?: string }
  /** `emoji` is null when the customer removed their reaction (Meta then omits the field). */
  | { type: "reaction"; emoji: string | null; reactedToProviderMessageId: string }
  | { type: "unsupported"; rawType: string };

/** A message a customer sent us. */
export interface MessageItem extends ItemBase {
  kind: "message";
  providerMessageId: string;
  /** E.164 phone number (with +) or email address. */
  from: string;
  /** Our number (E.164) or address the customer wrote to. */
  to: string;
  /** Meta: the phone_number_id that received it (what our WhatsApp channel is keyed by). */
  phoneNumberId?: string;
  profileName?: string;
  replyToProviderMessageId?: string;
  content: InboundContent;
}

export type TemplateReviewStatus = "approved" | "rejected" | "pending" | "paused" | "disabled";

/** Meta's review decision (or later quality action) on a WhatsApp template. */
export interface TemplateStatusItem extends ItemBase {
  kind: "template_status";
  provider: "meta";
  providerTemplateId: string;
  templateName: string;
  language: string;
  status: TemplateReviewStatus;
  /** Meta's own event name (`APPROVED`, `REINSTATED`, …). */
  providerEvent: string;
  reason?: string;
}

/** What the recipient did with an email; never changes the message's status. */
export interface EngagementItem extends ItemBase {
  kind: "engagement";
  type: "opened" | "clicked" | "complained";
  providerMessageId: string;
  recipient?: string;
  /** clicked: the link followed. */
  link?: string;
}

/** A delivery hiccup that is not (yet) a failure: Resend delays and soft bounces. */
export interface NoticeItem extends ItemBase {
  kind: "notice";
  type: "delivery_delayed" | "soft_bounce";
  providerMessageId: string;
  recipient?: string;
  reason?: string;
}

export type InboundItem = StatusItem | MessageItem | TemplateStatusItem | EngagementItem | NoticeItem;

export interface InboundParseResult {
  items: InboundItem[];
  /** One line per skipped piece (where it was and why), for logs; never contains whole payloads. */
  problems: string[];
}

/** The body is not this provider's webhook format at all: answer 400 rather than 200. */
export class InboundFormatError extends Error {
  override readonly name = "InboundFormatError";
  constructor(
    readonly provider: InboundProvider,
    message: string,
  ) {
    super(message);
  }
}

/**
 * `5511987654321` / `+55 11 98765-4321` → `+5511987654321`, through the same normalisation as recipients
 * we send to, so an inbound sender matches the contact we already know (e.g. Mexican `521…` WhatsApp ids).
 * Numbers libphonenumber refuses keep their digits with a +; input without digits is returned as given.
 */
export function phoneFromProvider(raw: string): string {
  const digits = raw.replace(/\D/g, "");
  if (digits === "") return raw;
  const normalized = normalizePhone(`+${digits}`);
  return normalized.ok ? normalized.e164 : `+${digits}`;
}

/** `table[key]` for the table's own keys only: a provider value like "constructor" must not hit Object's. */
export function lookup<T>(table: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** `where: path: message` for each zod issue, joined: short enough for a log line. */
export function describeIssues(where: string, error: z.ZodError): string {
  const issues = error.issues.map((issue) =>
    issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message,
  );
  return `${where}: ${issues.join("; ")}`;
}
