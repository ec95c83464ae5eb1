/**
 * Resend webhooks (delivered through Svix) → InboundItems.
 *
 * Body: `{ type: "email.sent" | "email.delivered" | …, created_at: ISO (when the event happened),
 * data: { email_id, from, to: [..], subject, created_at (when the email was sent), bounce?, click?,
 * failed?, … } }`. The Svix `svix-id` header is the event's identity: Svix resends it unchanged on retries.
 */
import { z } from "zod";
import {
  describeIssues,
  InboundFormatError,
  type InboundItem,
  type InboundParseResult,
  isRecord,
  type ReceiptStatus,
} from "./types";

const Event = z.object({
  type: z.string().min(1),
  created_at: z.string().transform((value, ctx) => {
    const time = Date.parse(value);
    if (Number.isNaN(time)) {
      ctx.addIssue({ code: "custom", message: "expected an ISO 8601 time" });
      return z.NEVER;
    }
    return new Date(time);
  }),
  data: z.object({
    email_id: z.string().min(1),
    to: z.union([z.array(z.string()), z.string()]).optional(),
    bounce: z
      .object({ type: z.string().optional(), subType: z.string().optional(), message: z.string().optional() })
      .optional(),
    click: z.object({ link: z.string().optional() }).optional(),
    failed: z.object({ reason: z.string().optional() }).optional(),
    suppressed: z.object({ message: z.string().optional() }).optional(),
  }),
});

type ResendEvent = z.infer<typeof Event>;
type ItemFields = { providerMessageId: string; occurredAt: Date; dedupeKey: string; recipient?: string };

/**
 * Parses one Resend webhook body (already JSON-parsed, Svix signature already checked). `svixId` is the
 * `svix-id` header; without it the dedupe key falls back to type, email id and event time, which a
 * redelivery repeats but a second click on the same email does not.
 */
export function parseResendEvent(body: unknown, svixId?: string | null): InboundParseResult {
  if (!isRecord(body) || typeof body.type !== "string" || !isRecord(body.data)) {
    throw new InboundFormatError("resend", "Not a Resend webhook: expected { type, created_at, data }.");
  }
  const out: InboundParseResult = { items: [], problems: [] };
  const parsed = Event.safeParse(body);
  if (!parsed.success) {
    out.problems.push(describeIssues(body.type, parsed.error));
    return out;
  }
  const event = parsed.data;
  const to = event.data.to;
  const base: ItemFields = {
    providerMessageId: event.data.email_id,
    occurredAt: event.created_at,
    dedupeKey: svixId
      ? `resend:${svixId}`
      : `resend:${event.type}:${event.data.email_id}:${event.created_at.toISOString()}`,
    recipient: Array.isArray(to) ? to[0] : to,
  };
  const item = itemFor(event, base);
  if (item) out.items.push(item);
  else out.problems.push(`${event.type} (${event.data.email_id}): event type not handled`);
  return out;
}

function itemFor(event: ResendEvent, base: ItemFields): InboundItem | undefined {
  const statusItem = (status: ReceiptStatus, code?: string, reason?: string): InboundItem => ({
    kind: "status",
    provider: "resend",
    ...base,
    status,
    error: code && reason ? { code, reason } : undefined,
  });
  const { bounce, click, failed, suppressed } = event.data;
  switch (event.type) {
    case "email.sent":
      return statusItem("sent");
    case "email.delivered":
      return statusItem("delivered");
    case "email.bounced":
      // Resend defines email.bounced as a permanent rejection; a bounce it marks Transient or
      // Undetermined may still be retried by the mail servers, so it must not fail the message.
      if (bounce?.type === undefined || bounce.type.toLowerCase() === "permanent") {
        return statusItem(
          "failed",
          "bounce_permanent",
          bounce?.message ||
            `The recipient's mail server rejected the email${bounce?.subType ? ` (${bounce.subType})` : ""}.`,
        );
      }
      return {
        kind: "notice",
        provider: "resend",
        ...base,
        type: "soft_bounce",
        reason: [bounce.type, bounce.subType, bounce.message].filter(Boolean).join(": "),
      };
    case "email.delivery_delayed":
      return { kind: "notice", provider: "resend", ...base, type: "delivery_delayed" };
    case "email.failed":
      // Resend never handed the email to a mail server (quota, domain, invalid recipient…).
      return statusItem(
        "failed",
        failed?.reason || "send_failed",
        `Resend could not send the email${failed?.reason ? `: ${failed.reason}` : "."}`,
      );
    case "email.suppressed":
      // The address is on Resend's suppression list (earlier hard bounce or complaint): it was not sent.
      return statusItem(
        "failed",
        "suppressed",
        suppressed?.message || "The recipient is on the suppression list; the email was not sent.",
      );
    // Opens are counted by a tracking pixel that privacy proxies (Apple Mail) fetch by themselves, so an
    // open is an engagement signal, not proof the email was read: it never moves the status to `read`.
    case "email.opened":
      return { kind: "engagement", provider: "resend", ...base, type: "opened" };
    case "email.clicked":
      return { kind: "engagement", provider: "resend", ...base, type: "clicked", link: click?.link };
    // A spam complaint comes after delivery: the message stays delivered, the complaint is a signal.
    case "email.complained":
      return { kind: "engagement", provider: "resend", ...base, type: "complained" };
    default:
      return undefined;
  }
}
