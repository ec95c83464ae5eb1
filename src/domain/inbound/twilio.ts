/**
 * Twilio Programmable Messaging webhooks → InboundItems. Twilio posts application/x-www-form-urlencoded
 * parameters for both:
 *
 * - status callbacks of our outbound messages: `MessageSid`, `SmsSid`, `AccountSid`, `From`, `To`,
 *   `MessageStatus` (also as `SmsStatus`), `ErrorCode` and `ErrorMessage` on failures, `RawDlrDoneDate`;
 * - incoming messages: `MessageSid`, `AccountSid`, `MessagingServiceSid?`, `From`, `To`, `Body`,
 *   `NumMedia`, `MediaUrl{N}`, `MediaContentType{N}`, `NumSegments`, `SmsStatus=received`, `FromCity`, ….
 *
 * Neither carries a time of the event (RawDlrDoneDate is a carrier's minute-precision date without a
 * timezone), so items are dated `receivedAt`, the moment our endpoint got the request.
 */
import {
  type InboundContent,
  type InboundError,
  InboundFormatError,
  type InboundMedia,
  type InboundParseResult,
  lookup,
  phoneFromProvider,
  type ReceiptStatus,
} from "./types";

/**
 * Twilio's MessageStatus → ours. `null`: a state before `sent`, which our dispatcher already recorded when
 * Twilio accepted the message, so it is skipped without a problem.
 */
const STATUSES: Record<string, ReceiptStatus | null> = {
  accepted: null,
  scheduled: null,
  queued: null,
  sending: null,
  sent: "sent",
  delivered: "delivered",
  // At least part of the message (some segments) reached the handset: closest to delivered.
  partially_delivered: "delivered",
  read: "read",
  undelivered: "undelivered",
  failed: "failed",
  // Only a Twilio-scheduled message can be canceled (we never schedule there): it will never go out.
  canceled: "canceled",
};

/**
 * Parses one Twilio webhook request (its form parameters, after the X-Twilio-Signature check): a status
 * callback for one of our messages, or a message a customer sent to one of our numbers.
 */
export function parseTwilioWebhook(
  params: URLSearchParams | Record<string, string>,
  receivedAt: Date,
): InboundParseResult {
  const form = params instanceof URLSearchParams ? Object.fromEntries(params) : params;
  if (typeof form !== "object" || form === null || typeof form.AccountSid !== "string" || !form.AccountSid) {
    throw new InboundFormatError("twilio", "Not a Twilio messaging webhook: AccountSid is missing.");
  }
  const out: InboundParseResult = { items: [], problems: [] };
  const sid = form.MessageSid || form.SmsSid;
  if (!sid) {
    out.problems.push("MessageSid is missing");
    return out;
  }
  const twilioStatus = form.MessageStatus || form.SmsStatus;
  // An incoming message says `received`; a status callback of one of ours always names its status.
  if (twilioStatus === undefined || twilioStatus === "received") {
    readIncoming(form, sid, receivedAt, out);
    return out;
  }
  // `receiving`: an incoming message Twilio is still processing; the `received` request follows.
  if (twilioStatus === "receiving") return out;
  const status = lookup(STATUSES, twilioStatus);
  if (status === undefined) {
    out.problems.push(`${sid}: unknown MessageStatus "${twilioStatus}"`);
    return out;
  }
  if (status === null) return out;
  const failed = status === "failed" || status === "undelivered";
  out.items.push({
    kind: "status",
    provider: "twilio",
    providerMessageId: sid,
    status,
    occurredAt: receivedAt,
    error: failed && form.ErrorCode ? twilioError(form.ErrorCode, form.ErrorMessage) : undefined,
    recipient: form.To ? address(form.To) : undefined,
    account: form.AccountSid,
    dedupeKey: `twilio:${sid}:${twilioStatus}`,
  });
  return out;
}

function twilioError(code: string, message: string | undefined): InboundError {
  return { code, reason: message || `Twilio error ${code} (https://www.twilio.com/docs/api/errors/${code})` };
}

/** Phone numbers arrive in E.164; short codes and alphanumeric sender ids are kept as given. */
function address(value: string): string {
  return value.startsWith("+") ? phoneFromProvider(value) : value;
}

function readIncoming(
  form: Record<string, string>,
  sid: string,
  receivedAt: Date,
  out: InboundParseResult,
): void {
  if (form.Body === undefined && form.NumMedia === undefined) {
    out.problems.push(`${sid}: neither a status callback (MessageStatus) nor a message (Body, NumMedia)`);
    return;
  }
  if (!form.From || !form.To) {
    out.problems.push(`${sid}: incoming message without From or To`);
    return;
  }
  // Twilio allows at most 10 attachments; two digits also bounds the loop below.
  const numMedia = form.NumMedia ?? "0";
  if (!/^\d{1,2}$/.test(numMedia)) {
    out.problems.push(`${sid}: NumMedia is not a count of attachments`);
    return;
  }
  const count = Number(numMedia);
  const media: InboundMedia[] = [];
  for (let i = 0; i < count; i++) {
    const url = form[`MediaUrl${i}`];
    if (!url) {
      // Keep the rest of the message: losing a customer's text over one attachment is worse.
      out.problems.push(`${sid}: MediaUrl${i} is missing`);
      continue;
    }
    const mimeType = form[`MediaContentType${i}`] || undefined;
    media.push({ mediaType: mediaTypeOf(mimeType), url, mimeType });
  }
  const caption = form.Body || undefined;
  let content: InboundContent;
  if (media.length === 0) content = { type: "text", text: form.Body ?? "" };
  else if (media.length === 1) content = { type: "media", ...(media[0] as InboundMedia), caption };
  else content = { type: "media_group", caption, media };
  out.items.push({
    kind: "message",
    provider: "twilio",
    providerMessageId: sid,
    from: address(form.From),
    to: address(form.To),
    occurredAt: receivedAt,
    content,
    account: form.AccountSid,
    dedupeKey: `twilio:msg:${sid}`,
  });
}

/** MMS attachments: by MIME family; anything else (PDF, vCard, …) is a document. */
function mediaTypeOf(mimeType: string | undefined): InboundMedia["mediaType"] {
  const family = mimeType?.split("/")[0];
  return family === "image" || family === "video" || family === "audio" ? family : "document";
}
