/**
 * The webhooks the live providers would send about sandbox traffic, built byte for byte in their wire shapes
 * so the sandbox's simulated receipts and simulated customer messages go through the same inbound parsers
 * (src/domain/inbound/*) as real ones: a Meta WhatsApp webhook body, Twilio form parameters, a Resend event
 * body with its Svix id.
 *
 * Pure: no I/O and no clock; every time is passed in. Everything not given is derived deterministically from
 * what is (conversation ids, media ids, Svix ids), so building the same callback twice gives the same payload,
 * as a provider's redelivery would.
 *
 * Receipt wire status per channel (what sandboxReceiptPlan's `providerStatus` says):
 *
 * | status        | WhatsApp (Meta)           | SMS (Twilio)            | email (Resend)               |
 * |---------------|---------------------------|-------------------------|------------------------------|
 * | `sent`        | `sent`                    | `sent`                  | `email.sent`                 |
 * | `delivered`   | `delivered`               | `delivered`             | `email.delivered`            |
 * | `read`        | `read`                    | (none)                  | (none)                       |
 * | `undelivered` | `failed` + errors[] (code | `undelivered` (or       | `email.bounced`, Permanent   |
 * |               | default 131026)           | `failed`) + ErrorCode   | bounce                       |
 * |               |                           | (default 30003)         |                              |
 *
 * So after parsing, an undelivered WhatsApp or email receipt is a `failed` status (as live), SMS `undelivered`.
 */

import { toHex } from "../domain/encoding";
import type { SandboxReceiptStatus } from "./sandbox";
import { sha256 } from "./sandbox";
import type { MediaType } from "./types";

/** The WhatsApp number the message went out from / came in to, as Meta identifies it in webhooks. */
export interface MetaSender {
  phoneNumberId: string;
  wabaId: string;
  /** E.164 or digits; Meta writes it as digits without `+`. */
  displayPhoneNumber: string;
}

export interface TwilioSender {
  accountSid: string;
  /** Our number (E.164), short code or alphanumeric sender id. */
  from: string;
}

export interface ResendSender {
  /** As sent: `notifications@acme.com` or `Acme <notifications@acme.com>`. */
  from: string;
}

interface StatusCallbackBase {
  providerMessageId: string;
  /** E.164 phone number (WhatsApp, SMS) or email address. */
  recipient: string;
  status: SandboxReceiptStatus;
  /** The provider's name of the status, as in SandboxReceipt; checked against `status` and the channel. */
  providerStatus: string;
  /** The provider's error code of an undelivered receipt (defaults: WhatsApp 131026, SMS 30003). */
  errorCode?: string;
  reason?: string;
  occurredAt: Date;
}

export type WhatsAppStatusCallbackInput = StatusCallbackBase & { channel: "whatsapp"; sender: MetaSender };
export type SmsStatusCallbackInput = StatusCallbackBase & { channel: "sms"; sender: TwilioSender };
export type EmailStatusCallbackInput = StatusCallbackBase & {
  channel: "email";
  sender: ResendSender;
  /** The email's subject; Resend repeats it in every event (omitted from the body when not given). */
  subject?: string;
  /** When the email was sent (Resend's `data.created_at`); defaults to `occurredAt`. */
  sentAt?: Date;
};
export type SandboxStatusCallbackInput =
  | WhatsAppStatusCallbackInput
  | SmsStatusCallbackInput
  | EmailStatusCallbackInput;

export interface SandboxInboundMedia {
  type: MediaType;
  /** Twilio: MediaUrl0. Meta sends a media id instead, so on WhatsApp the URL goes nowhere. */
  url: string;
  caption?: string;
  mimeType?: string;
}

interface InboundCallbackBase {
  providerMessageId: string;
  /** The customer: E.164. */
  from: string;
  /** Our number (E.164) the customer wrote to. */
  to: string;
  text?: string;
  media?: SandboxInboundMedia;
  occurredAt: Date;
}

export type WhatsAppInboundCallbackInput = InboundCallbackBase & {
  channel: "whatsapp";
  sender: MetaSender;
  replyToProviderMessageId?: string;
  profileName?: string;
};
export type SmsInboundCallbackInput = InboundCallbackBase & { channel: "sms"; sender: TwilioSender };
export type SandboxInboundCallbackInput = WhatsAppInboundCallbackInput | SmsInboundCallbackInput;

/** Meta's webhook body for `field: "messages"`: statuses of our messages or messages from customers. */
export interface MetaWebhookBody {
  object: "whatsapp_business_account";
  entry: Array<{ id: string; changes: Array<{ field: "messages"; value: MetaMessagesValue }> }>;
}

export interface MetaMessagesValue {
  messaging_product: "whatsapp";
  metadata: { display_phone_number: string; phone_number_id: string };
  contacts?: Array<{ profile?: { name: string }; wa_id: string }>;
  messages?: MetaInboundMessage[];
  statuses?: MetaStatus[];
}

export interface MetaStatus {
  id: string;
  status: "sent" | "delivered" | "read" | "failed";
  timestamp: string;
  recipient_id: string;
  conversation?: { id: string; expiration_timestamp?: string; origin: { type: string } };
  pricing?: { billable: boolean; pricing_model: string; category: string; type: string };
  errors?: Array<{
    code: number | string;
    title: string;
    message: string;
    error_data: { details: string };
    href: string;
  }>;
}

export interface MetaMediaObject {
  id: string;
  mime_type: string;
  caption?: string;
  filename?: string;
}

export type MetaInboundMessage = {
  from: string;
  id: string;
  timestamp: string;
  context?: { from: string; id: string };
} & (
  | { type: "text"; text: { body: string } }
  | { type: "image"; image: MetaMediaObject }
  | { type: "audio"; audio: MetaMediaObject }
  | { type: "video"; video: MetaMediaObject }
  | { type: "document"; document: MetaMediaObject }
);

/** A Resend webhook event as Svix delivers it. */
export interface ResendEventBody {
  type: "email.sent" | "email.delivered" | "email.bounced";
  created_at: string;
  data: {
    created_at: string;
    email_id: string;
    from: string;
    to: string[];
    subject?: string;
    bounce?: { message: string; subType: string; type: "Permanent" };
  };
}

export interface MetaCallback {
  provider: "meta";
  body: MetaWebhookBody;
}
/** Twilio posts these as application/x-www-form-urlencoded. */
export interface TwilioCallback {
  provider: "twilio";
  params: Record<string, string>;
}
export interface ResendCallback {
  provider: "resend";
  body: ResendEventBody;
  /** The `svix-id` header: derived from the email id and event type, so a redelivery repeats it. */
  svixId: string;
}
export type SandboxCallback = MetaCallback | TwilioCallback | ResendCallback;

/** The wire status names each channel allows for each of our receipt statuses; the first is the default. */
const WIRE_STATUSES = {
  whatsapp: { sent: ["sent"], delivered: ["delivered"], read: ["read"], undelivered: ["failed"] },
  sms: { sent: ["sent"], delivered: ["delivered"], read: [], undelivered: ["undelivered", "failed"] },
  email: { sent: ["email.sent"], delivered: ["email.delivered"], read: [], undelivered: ["email.bounced"] },
} as const satisfies Record<SandboxStatusCallbackInput["channel"], Record<SandboxReceiptStatus, string[]>>;

const META_ERROR_DOCS = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/";

/** Meta's title and details of the errors the sandbox simulates; other codes use the reason for both. */
const META_ERRORS: Record<string, { title: string; details: string }> = {
  "131026": {
    title: "Message undeliverable",
    details:
      "Unable to deliver message. Reasons can include: the recipient's phone number is not a WhatsApp phone number; the recipient has not accepted WhatsApp's new Terms of Service and Privacy Policy; the recipient is using an old WhatsApp version.",
  },
};

const DEFAULT_BOUNCE_MESSAGE =
  "The recipient's email provider sent a hard bounce message, but didn't specify the reason for the hard bounce.";

/** The MIME type a customer's attachment has when the caller does not say. */
const DEFAULT_MIME: Record<MediaType, string> = {
  image: "image/jpeg",
  audio: "audio/ogg; codecs=opus",
  video: "video/mp4",
  document: "application/pdf",
};

/** The status callback the live provider would post for this receipt of one of our messages. */
export function sandboxStatusCallback(input: WhatsAppStatusCallbackInput): MetaCallback;
export function sandboxStatusCallback(input: SmsStatusCallbackInput): TwilioCallback;
export function sandboxStatusCallback(input: EmailStatusCallbackInput): ResendCallback;
export function sandboxStatusCallback(input: SandboxStatusCallbackInput): SandboxCallback;
export function sandboxStatusCallback(input: SandboxStatusCallbackInput): SandboxCallback {
  checkDate(input.occurredAt, "occurredAt");
  const allowed: readonly string[] = WIRE_STATUSES[input.channel][input.status];
  if (!allowed.includes(input.providerStatus)) {
    throw new RangeError(
      `A ${input.channel} "${input.status}" receipt cannot be reported as "${input.providerStatus}" (expected ${
        allowed.map((s) => `"${s}"`).join(" or ") || "nothing: the provider has no such status"
      }).`,
    );
  }
  switch (input.channel) {
    case "whatsapp":
      return metaStatusCallback(input);
    case "sms":
      return twilioStatusCallback(input);
    case "email":
      return resendStatusCallback(input);
  }
}

function metaStatusCallback(input: WhatsAppStatusCallbackInput): MetaCallback {
  const recipientId = phoneDigits(input.recipient, "recipient");
  const status: MetaStatus = {
    id: input.providerMessageId,
    status: input.providerStatus as MetaStatus["status"],
    timestamp: unixSeconds(input.occurredAt),
    recipient_id: recipientId,
  };
  if (status.status === "sent" || status.status === "delivered") {
    // Meta bills per conversation window: sent and delivered name it; only `sent` says when it expires.
    const conversationId = hex(`conversation:${input.sender.phoneNumberId}:${input.providerMessageId}`, 32);
    status.conversation = {
      id: conversationId,
      ...(status.status === "sent"
        ? { expiration_timestamp: unixSeconds(new Date(input.occurredAt.getTime() + 86_400_000)) }
        : {}),
      origin: { type: "utility" },
    };
    status.pricing = { billable: true, pricing_model: "PMP", category: "utility", type: "regular" };
  }
  if (status.status === "failed") {
    const code = input.errorCode ?? "131026";
    const known = META_ERRORS[code];
    const title = known?.title ?? input.reason ?? `WhatsApp error ${code}`;
    status.errors = [
      {
        // Meta's codes are JSON numbers.
        code: /^\d+$/.test(code) ? Number(code) : code,
        title,
        message: title,
        error_data: { details: known?.details ?? input.reason ?? title },
        href: META_ERROR_DOCS,
      },
    ];
  }
  return { provider: "meta", body: metaBody(input.sender, { statuses: [status] }) };
}

function twilioStatusCallback(input: SmsStatusCallbackInput): TwilioCallback {
  const status = input.providerStatus;
  const params: Record<string, string> = {
    SmsSid: input.providerMessageId,
    SmsStatus: status,
    MessageStatus: status,
    To: input.recipient,
    MessageSid: input.providerMessageId,
    AccountSid: input.sender.accountSid,
    From: input.sender.from,
    ApiVersion: "2010-04-01",
  };
  // Twilio names the failure by its code only (no ErrorMessage); the parser links the code's docs.
  if (input.status === "undelivered") params.ErrorCode = input.errorCode ?? "30003";
  // The carrier's delivery receipt date (YYMMDDhhmm) rides on delivered and undelivered callbacks.
  if (status === "delivered" || status === "undelivered") params.RawDlrDoneDate = dlrDate(input.occurredAt);
  return { provider: "twilio", params };
}

function resendStatusCallback(input: EmailStatusCallbackInput): ResendCallback {
  const sentAt = input.sentAt ?? input.occurredAt;
  checkDate(sentAt, "sentAt");
  const type = input.providerStatus as ResendEventBody["type"];
  const body: ResendEventBody = {
    type,
    created_at: input.occurredAt.toISOString(),
    data: {
      // Resend writes the email's own creation time with microseconds and an explicit offset.
      created_at: resendTime(sentAt),
      email_id: input.providerMessageId,
      from: input.sender.from,
      to: [input.recipient],
      ...(input.subject === undefined ? {} : { subject: input.subject }),
    },
  };
  if (type === "email.bounced") {
    body.data.bounce = {
      message: input.reason ?? DEFAULT_BOUNCE_MESSAGE,
      subType: "General",
      type: "Permanent",
    };
  }
  return { provider: "resend", body, svixId: svixId(input.providerMessageId, type) };
}

/** The webhook the live provider would post when a customer sends this message to our number. */
export function sandboxInboundMessageCallback(input: WhatsAppInboundCallbackInput): MetaCallback;
export function sandboxInboundMessageCallback(input: SmsInboundCallbackInput): TwilioCallback;
export function sandboxInboundMessageCallback(
  input: SandboxInboundCallbackInput,
): MetaCallback | TwilioCallback;
export function sandboxInboundMessageCallback(
  input: SandboxInboundCallbackInput,
): MetaCallback | TwilioCallback {
  checkDate(input.occurredAt, "occurredAt");
  if (input.text === undefined && input.media === undefined) {
    throw new RangeError("An inbound message needs text or media.");
  }
  return input.channel === "whatsapp" ? metaInbound(input) : twilioInbound(input);
}

function metaInbound(input: WhatsAppInboundCallbackInput): MetaCallback {
  const from = phoneDigits(input.from, "from");
  const display = phoneDigits(input.sender.displayPhoneNumber, "sender.displayPhoneNumber");
  if (phoneDigits(input.to, "to") !== display) {
    throw new RangeError(
      `to (${input.to}) is not the display number of phone_number_id ${input.sender.phoneNumberId}.`,
    );
  }
  const base = {
    from,
    id: input.providerMessageId,
    timestamp: unixSeconds(input.occurredAt),
    ...(input.replyToProviderMessageId === undefined
      ? {}
      : { context: { from: display, id: input.replyToProviderMessageId } }),
  };
  let message: MetaInboundMessage;
  if (input.media === undefined) {
    message = { ...base, type: "text", text: { body: input.text ?? "" } };
  } else {
    const media = input.media;
    const caption = media.caption ?? input.text;
    // WhatsApp voice notes and audio files carry no caption.
    if (media.type === "audio" && caption !== undefined) {
      throw new RangeError("WhatsApp audio messages carry no caption or text.");
    }
    const object: MetaMediaObject = {
      ...(caption === undefined ? {} : { caption }),
      mime_type: media.mimeType ?? DEFAULT_MIME[media.type],
      id: mediaId(input.providerMessageId),
    };
    if (media.type === "document") {
      const filename = fileNameOf(media.url);
      if (filename) object.filename = filename;
    }
    message = { ...base, type: media.type, [media.type]: object } as MetaInboundMessage;
  }
  const contact = {
    ...(input.profileName === undefined ? {} : { profile: { name: input.profileName } }),
    wa_id: from,
  };
  return { provider: "meta", body: metaBody(input.sender, { contacts: [contact], messages: [message] }) };
}

function twilioInbound(input: SmsInboundCallbackInput): TwilioCallback {
  const media = input.media;
  const body = (media ? (media.caption ?? input.text) : input.text) ?? "";
  const params: Record<string, string> = {
    SmsMessageSid: input.providerMessageId,
    NumMedia: media ? "1" : "0",
    SmsSid: input.providerMessageId,
    SmsStatus: "received",
    Body: body,
    To: input.to,
    // An MMS is one message whatever its length; an SMS is split into segments by its encoding.
    NumSegments: String(media ? 1 : smsSegments(body)),
    MessageSid: input.providerMessageId,
    AccountSid: input.sender.accountSid,
    From: input.from,
    ApiVersion: "2010-04-01",
  };
  if (media) {
    params.MediaContentType0 = media.mimeType ?? DEFAULT_MIME[media.type];
    params.MediaUrl0 = media.url;
  }
  return { provider: "twilio", params };
}

/**
 * A live-looking provider message id for a simulated customer message, derived only from `seed` (and, for
 * WhatsApp, the customer's number, which live inbound wamids embed; without it digits derived from the seed
 * stand in). SMS: `SM` + 32 hex digits, `MM` + 32 for an MMS (`media: true`). Never equal to an outbound
 * sandbox id.
 */
export function sandboxInboundProviderMessageId(
  channel: "whatsapp" | "sms",
  seed: string,
  options: { from?: string; media?: boolean } = {},
): string {
  const digest = hex(`inbound:${channel}:${seed}`, 64);
  if (channel === "sms") return `${options.media ? "MM" : "SM"}${digest.slice(0, 32)}`;
  const fromDigits = options.from?.replace(/\D/g, "") || seedDigits(digest);
  // Inbound wamids: 0x1c 0x18 <len> <sender digits> 0x15 0x02 0x00 0x12 0x18 0x14 <20 hex> 0x00.
  const digits = new TextEncoder().encode(fromDigits.slice(0, 20));
  const tail = new TextEncoder().encode(digest.slice(0, 20).toUpperCase());
  const bytes = [
    0x1c,
    0x18,
    digits.length,
    ...digits,
    0x15,
    0x02,
    0x00,
    0x12,
    0x18,
    tail.length,
    ...tail,
    0x00,
  ];
  return `wamid.${btoa(String.fromCharCode(...bytes))}`;
}

function metaBody(sender: MetaSender, value: Omit<MetaMessagesValue, "messaging_product" | "metadata">) {
  return {
    object: "whatsapp_business_account" as const,
    entry: [
      {
        id: sender.wabaId,
        changes: [
          {
            value: {
              messaging_product: "whatsapp" as const,
              metadata: {
                display_phone_number: phoneDigits(sender.displayPhoneNumber, "sender.displayPhoneNumber"),
                phone_number_id: sender.phoneNumberId,
              },
              ...value,
            },
            field: "messages" as const,
          },
        ],
      },
    ],
  };
}

function checkDate(date: Date, name: string): void {
  if (!(date instanceof Date) || Number.isNaN(date.getTime()) || date.getTime() < 1000) {
    throw new RangeError(`${name} is not a valid time after the epoch.`);
  }
}

/** WhatsApp ids are phone numbers as digits without `+`. */
function phoneDigits(value: string, name: string): string {
  const digits = value.replace(/\D/g, "");
  if (digits === "") throw new RangeError(`${name} (${value}) is not a phone number.`);
  return digits;
}

const unixSeconds = (date: Date): string => String(Math.floor(date.getTime() / 1000));

const pad = (n: number) => String(n).padStart(2, "0");

/** Twilio's RawDlrDoneDate: YYMMDDhhmm (the carrier's clock; UTC here). */
function dlrDate(date: Date): string {
  return (
    pad(date.getUTCFullYear() % 100) +
    pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) +
    pad(date.getUTCHours()) +
    pad(date.getUTCMinutes())
  );
}

/** `2024-11-22T23:41:11.894000+00:00`, as Resend writes `data.created_at`. */
function resendTime(date: Date): string {
  return date.toISOString().replace(/Z$/, "000+00:00");
}

/** Lowercase hex of the sandbox-scoped SHA-256 of `label`, cut to `length` digits. */
function hex(label: string, length: number): string {
  return toHex(sha256(new TextEncoder().encode(`sendwire-sandbox:${label}`))).slice(0, length);
}

/** A 16-digit Meta media id. 13 hex digits (52 bits) stay within a safe integer. */
function mediaId(providerMessageId: string): string {
  const n = Number.parseInt(hex(`media:${providerMessageId}`, 13), 16);
  return String(1_000_000_000_000_000 + (n % 9_000_000_000_000_000));
}

/** 13 digits standing in for a WhatsApp number when none is given. */
function seedDigits(digest: string): string {
  const n = Number.parseInt(digest.slice(20, 33), 16);
  return String(1_000_000_000_000 + (n % 9_000_000_000_000));
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** `msg_` + 27 base62 characters (a KSUID's length), from the email id and event type. */
function svixId(emailId: string, type: string): string {
  let n = BigInt(`0x${hex(`svix:${emailId}:${type}`, 40)}`);
  let out = "";
  for (let i = 0; i < 27; i++) {
    out = BASE62[Number(n % 62n)] + out;
    n /= 62n;
  }
  return `msg_${out}`;
}

function fileNameOf(url: string): string | undefined {
  const path = url.split(/[?#]/)[0] ?? "";
  const last = path.slice(path.lastIndexOf("/") + 1);
  if (last === "") return undefined;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

// GSM 03.38: the basic set takes one septet, the extension table two (escape + character).
const GSM_BASIC = new Set(
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
);
const GSM_EXTENDED = new Set("^{}\\[~]|€\f");

/** How many segments the text travels in: GSM-7 160 / 153 septets, otherwise UCS-2 70 / 67 code units. */
function smsSegments(text: string): number {
  let septets = 0;
  for (const char of text) {
    if (GSM_BASIC.has(char)) septets += 1;
    else if (GSM_EXTENDED.has(char)) septets += 2;
    else {
      const units = text.length;
      return units <= 70 ? 1 : Math.ceil(units / 67);
    }
  }
  return septets <= 160 ? 1 : Math.ceil(septets / 153);
}
