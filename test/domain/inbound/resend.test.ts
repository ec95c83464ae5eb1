import { describe, expect, it } from "vitest";
import { parseResendEvent } from "../../../src/domain/inbound/resend";
import { InboundFormatError } from "../../../src/domain/inbound/types";
import {
  clicked,
  EMAIL_ID,
  EVENT_AT,
  failed,
  permanentBounce,
  RECIPIENT,
  received,
  resendEvent,
  SVIX_ID,
  suppressed,
  suppressedBounce,
  transientBounce,
  undeterminedBounce,
} from "./resend.fixtures";

const AT = new Date(EVENT_AT);
const base = { provider: "resend", providerMessageId: EMAIL_ID, occurredAt: AT, recipient: RECIPIENT };

function only(body: unknown, svixId: string | undefined = SVIX_ID) {
  const { items, problems } = parseResendEvent(body, svixId);
  expect(problems).toEqual([]);
  expect(items).toHaveLength(1);
  return items[0];
}

describe("Resend webhooks: statuses", () => {
  it("reads sent and delivered, keyed by the svix-id", () => {
    expect(only(resendEvent("email.sent"))).toEqual({
      kind: "status",
      ...base,
      status: "sent",
      error: undefined,
      dedupeKey: `resend:${SVIX_ID}`,
    });
    expect(only(resendEvent("email.delivered"))).toMatchObject({ kind: "status", status: "delivered" });
  });

  it("fails the message on a permanent bounce, with the diagnostic as the reason", () => {
    expect(only(permanentBounce)).toMatchObject({
      kind: "status",
      status: "failed",
      error: {
        code: "bounce_permanent",
        reason:
          "The recipient's email provider sent a hard bounce message, but didn't specify the reason for the hard bounce.",
      },
    });
    expect(only(suppressedBounce)).toMatchObject({ status: "failed", error: { code: "bounce_permanent" } });
    // email.bounced without details is, by Resend's definition, a permanent rejection.
    expect(only(resendEvent("email.bounced"))).toMatchObject({
      status: "failed",
      error: { code: "bounce_permanent", reason: "The recipient's mail server rejected the email." },
    });
    expect(
      only(resendEvent("email.bounced", { bounce: { type: "Permanent", subType: "NoEmail" } })),
    ).toMatchObject({
      error: { reason: "The recipient's mail server rejected the email (NoEmail)." },
    });
  });

  it("never fails the message on a transient or undetermined bounce", () => {
    expect(only(transientBounce)).toEqual({
      kind: "notice",
      ...base,
      type: "soft_bounce",
      reason: "Transient: MailboxFull: The recipient's inbox is full.",
      dedupeKey: `resend:${SVIX_ID}`,
    });
    expect(only(undeterminedBounce)).toMatchObject({ kind: "notice", type: "soft_bounce" });
  });

  it("treats a delayed delivery as a notice, not a failure", () => {
    expect(only(resendEvent("email.delivery_delayed"))).toEqual({
      kind: "notice",
      ...base,
      type: "delivery_delayed",
      dedupeKey: `resend:${SVIX_ID}`,
    });
  });

  it("fails the message when Resend could not send it, or suppressed it", () => {
    expect(only(failed)).toMatchObject({
      kind: "status",
      status: "failed",
      error: { code: "reached_daily_quota", reason: "Resend could not send the email: reached_daily_quota" },
    });
    expect(only(resendEvent("email.failed"))).toMatchObject({
      error: { code: "send_failed", reason: "Resend could not send the email." },
    });
    expect(only(suppressed)).toMatchObject({
      status: "failed",
      error: { code: "suppressed", reason: "This email address is on your suppression list." },
    });
  });
});

describe("Resend webhooks: engagement", () => {
  it("reads opens, clicks (with the link) and complaints without touching the status", () => {
    expect(only(resendEvent("email.opened"))).toEqual({
      kind: "engagement",
      ...base,
      type: "opened",
      dedupeKey: `resend:${SVIX_ID}`,
    });
    expect(only(clicked)).toEqual({
      kind: "engagement",
      ...base,
      type: "clicked",
      link: "https://acme.com/pedidos/4521",
      dedupeKey: `resend:${SVIX_ID}`,
    });
    expect(only(resendEvent("email.complained"))).toMatchObject({ kind: "engagement", type: "complained" });
  });
});

describe("Resend webhooks: dedupe keys", () => {
  it("fall back to type, email id and event time without a svix-id", () => {
    const key = (body: unknown) => parseResendEvent(body).items[0]?.dedupeKey;
    expect(key(clicked)).toBe(`resend:email.clicked:${EMAIL_ID}:${EVENT_AT}`);
    expect(parseResendEvent(clicked, null).items[0]?.dedupeKey).toBe(key(clicked));
    expect(parseResendEvent(clicked, "").items[0]?.dedupeKey).toBe(key(clicked));
    // Stable across a redelivery; a second click on the same email is another event.
    expect(key(structuredClone(clicked))).toBe(key(clicked));
    const secondClick = resendEvent("email.clicked", clicked.data, "2024-11-24T05:03:10.000Z");
    expect(key(secondClick)).not.toBe(key(clicked));
    expect(key(resendEvent("email.opened"))).not.toBe(key(clicked));
  });
});

describe("Resend webhooks: other and malformed input", () => {
  it("notes event types it does not handle", () => {
    for (const body of [
      received,
      resendEvent("email.scheduled"),
      { type: "contact.created", created_at: EVENT_AT, data: { id: "e169aa45", email_id: "n/a" } },
    ]) {
      const { items, problems } = parseResendEvent(body, SVIX_ID);
      expect(items).toEqual([]);
      expect(problems).toEqual([`${body.type} (${body.data.email_id}): event type not handled`]);
    }
  });

  it("accepts a single recipient as a string", () => {
    expect(only(resendEvent("email.delivered", { to: RECIPIENT }))).toMatchObject({ recipient: RECIPIENT });
    expect(only(resendEvent("email.delivered", { to: undefined }))).toMatchObject({ recipient: undefined });
  });

  it("skips events with a missing email id or an unreadable time, with a note", () => {
    expect(parseResendEvent(resendEvent("email.delivered", { email_id: undefined }), SVIX_ID)).toEqual({
      items: [],
      problems: ["email.delivered: data.email_id: Invalid input: expected string, received undefined"],
    });
    expect(parseResendEvent(resendEvent("email.delivered", {}, "yesterday"), SVIX_ID)).toEqual({
      items: [],
      problems: ["email.delivered: created_at: expected an ISO 8601 time"],
    });
    const badBounce = parseResendEvent(resendEvent("email.bounced", { bounce: "hard" }), SVIX_ID);
    expect(badBounce.items).toEqual([]);
    expect(badBounce.problems).toEqual([
      "email.bounced: data.bounce: Invalid input: expected object, received string",
    ]);
  });

  it("throws a format error for bodies that are not Resend webhooks", () => {
    for (const body of [
      null,
      "email.sent",
      [],
      {},
      { type: "email.sent" },
      { type: 1, data: {} },
      { data: {} },
    ]) {
      expect(() => parseResendEvent(body, SVIX_ID)).toThrow(InboundFormatError);
    }
  });
});
