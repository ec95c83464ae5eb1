import { describe, expect, it } from "vitest";
import { parseTwilioWebhook } from "../../../src/domain/inbound/twilio";
import { InboundFormatError, type MessageItem } from "../../../src/domain/inbound/types";
import {
  ACCOUNT_SID,
  CUSTOMER,
  deliveredCallback,
  failedCallback,
  INBOUND_MMS_SID,
  INBOUND_SMS_SID,
  inboundMms,
  inboundSms,
  mediaUrl,
  OUR_NUMBER,
  OUTBOUND_SID,
  statusCallback,
  undeliveredCallback,
} from "./twilio.fixtures";

const RECEIVED_AT = new Date("2024-06-01T12:00:07Z");
const parse = (params: URLSearchParams | Record<string, string>) => parseTwilioWebhook(params, RECEIVED_AT);

function onlyMessage(params: Record<string, string>): MessageItem {
  const { items, problems } = parse(params);
  expect(problems).toEqual([]);
  expect(items).toHaveLength(1);
  return items[0] as MessageItem;
}

describe("Twilio status callbacks", () => {
  it("reads delivered, dated by our receipt time (Twilio sends none)", () => {
    expect(parse(deliveredCallback)).toEqual({
      items: [
        {
          kind: "status",
          provider: "twilio",
          providerMessageId: OUTBOUND_SID,
          status: "delivered",
          occurredAt: RECEIVED_AT,
          recipient: CUSTOMER,
          account: ACCOUNT_SID,
          dedupeKey: `twilio:${OUTBOUND_SID}:delivered`,
        },
      ],
      problems: [],
    });
  });

  it("maps every MessageStatus value", () => {
    const expected: Record<string, string | null> = {
      // Before `sent`: our dispatcher recorded `sent` when Twilio accepted the message.
      accepted: null,
      scheduled: null,
      queued: null,
      sending: null,
      sent: "sent",
      delivered: "delivered",
      partially_delivered: "delivered",
      read: "read",
      undelivered: "undelivered",
      failed: "failed",
      canceled: "canceled",
      // Inbound states: `receiving` is skipped, `received` is the incoming-message webhook.
      receiving: null,
    };
    for (const [twilioStatus, ours] of Object.entries(expected)) {
      const { items, problems } = parse(statusCallback(twilioStatus));
      expect(problems, twilioStatus).toEqual([]);
      if (ours === null) expect(items, twilioStatus).toEqual([]);
      else {
        expect(items, twilioStatus).toEqual([
          expect.objectContaining({ status: ours, dedupeKey: `twilio:${OUTBOUND_SID}:${twilioStatus}` }),
        ]);
      }
    }
  });

  it("carries Twilio's error code and message on failures", () => {
    expect(parse(failedCallback).items[0]).toMatchObject({
      status: "failed",
      error: { code: "30007", reason: "Message filtered by the carrier." },
    });
    expect(parse(undeliveredCallback).items[0]).toMatchObject({
      status: "undelivered",
      error: { code: "30003", reason: "Twilio error 30003 (https://www.twilio.com/docs/api/errors/30003)" },
    });
    const noCode = parse(statusCallback("failed")).items[0];
    expect(noCode).toMatchObject({ status: "failed" });
    expect(noCode && "error" in noCode && noCode.error).toBeFalsy();
    // An error code on a success is not an error of the message.
    const delivered = parse(statusCallback("delivered", { ErrorCode: "30007" })).items[0];
    expect(delivered && "error" in delivered && delivered.error).toBeFalsy();
  });

  it("accepts URLSearchParams as posted, and the legacy SmsSid/SmsStatus alone", () => {
    const form = new URLSearchParams(failedCallback);
    expect(parse(form)).toEqual(parse(failedCallback));
    const legacy = parse({ SmsSid: OUTBOUND_SID, SmsStatus: "sent", AccountSid: ACCOUNT_SID, To: CUSTOMER });
    expect(legacy.items[0]).toMatchObject({ providerMessageId: OUTBOUND_SID, status: "sent" });
  });

  it("notes an unknown status or a missing sid", () => {
    expect(parse(statusCallback("vanished"))).toEqual({
      items: [],
      problems: [`${OUTBOUND_SID}: unknown MessageStatus "vanished"`],
    });
    expect(parse(statusCallback("constructor")).items).toEqual([]);
    const { MessageSid: _m, SmsSid: _s, ...withoutSid } = deliveredCallback;
    expect(parse(withoutSid)).toEqual({ items: [], problems: ["MessageSid is missing"] });
    expect(parse({ AccountSid: ACCOUNT_SID, MessageSid: OUTBOUND_SID })).toEqual({
      items: [],
      problems: [`${OUTBOUND_SID}: neither a status callback (MessageStatus) nor a message (Body, NumMedia)`],
    });
  });

  it("dedupe keys repeat for a redelivered callback and differ between statuses", () => {
    const keys = [
      "sent",
      "delivered",
      "partially_delivered",
      "failed",
      "undelivered",
      "read",
      "canceled",
    ].map((s) => parse(statusCallback(s)).items[0]?.dedupeKey);
    expect(new Set(keys).size).toBe(keys.length);
    expect(parse(statusCallback("sent")).items[0]?.dedupeKey).toBe(keys[0]);
  });
});

describe("Twilio incoming messages", () => {
  it("reads an SMS as text", () => {
    expect(onlyMessage(inboundSms)).toEqual({
      kind: "message",
      provider: "twilio",
      providerMessageId: INBOUND_SMS_SID,
      from: CUSTOMER,
      to: OUR_NUMBER,
      occurredAt: RECEIVED_AT,
      content: { type: "text", text: "STOP? não, só quero saber do pedido 4521" },
      account: ACCOUNT_SID,
      dedupeKey: `twilio:msg:${INBOUND_SMS_SID}`,
    });
  });

  it("reads an MMS with one attachment as media captioned by the body", () => {
    expect(onlyMessage(inboundMms("Olha a caixa", ["image/jpeg"])).content).toEqual({
      type: "media",
      mediaType: "image",
      url: mediaUrl(0),
      mimeType: "image/jpeg",
      caption: "Olha a caixa",
    });
    const noBody = onlyMessage(inboundMms("", ["video/mp4"]));
    expect(noBody.content).toEqual({
      type: "media",
      mediaType: "video",
      url: mediaUrl(0),
      mimeType: "video/mp4",
    });
  });

  it("reads an MMS with several attachments as one message with a media group", () => {
    const message = onlyMessage(
      inboundMms("Fotos e o contrato", ["image/png", "audio/amr", "application/pdf"]),
    );
    expect(message.providerMessageId).toBe(INBOUND_MMS_SID);
    expect(message.dedupeKey).toBe(`twilio:msg:${INBOUND_MMS_SID}`);
    expect(message.content).toEqual({
      type: "media_group",
      caption: "Fotos e o contrato",
      media: [
        { mediaType: "image", url: mediaUrl(0), mimeType: "image/png" },
        { mediaType: "audio", url: mediaUrl(1), mimeType: "audio/amr" },
        { mediaType: "document", url: mediaUrl(2), mimeType: "application/pdf" },
      ],
    });
  });

  it("keeps the message when an attachment's URL is missing, with a note", () => {
    const params = inboundMms("duas fotos", ["image/jpeg", "image/jpeg"]);
    delete params.MediaUrl1;
    const { items, problems } = parse(params);
    expect(problems).toEqual([`${INBOUND_MMS_SID}: MediaUrl1 is missing`]);
    expect((items[0] as MessageItem).content).toMatchObject({
      type: "media",
      url: mediaUrl(0),
      caption: "duas fotos",
    });
  });

  it("keeps short codes and alphanumeric senders as given", () => {
    expect(onlyMessage({ ...inboundSms, From: "MyBank" }).from).toBe("MyBank");
    expect(onlyMessage({ ...inboundSms, From: "24273" }).from).toBe("24273");
  });

  it("skips malformed incoming messages with a note", () => {
    for (const [params, problem] of [
      [{ ...inboundSms, From: "" }, `${INBOUND_SMS_SID}: incoming message without From or To`],
      [{ ...inboundSms, NumMedia: "two" }, `${INBOUND_SMS_SID}: NumMedia is not a count of attachments`],
      [{ ...inboundSms, NumMedia: "-1" }, `${INBOUND_SMS_SID}: NumMedia is not a count of attachments`],
      [{ ...inboundSms, NumMedia: "99999999" }, `${INBOUND_SMS_SID}: NumMedia is not a count of attachments`],
    ] as const) {
      expect(parse(params)).toEqual({ items: [], problems: [problem] });
    }
  });

  it("throws a format error for requests that are not Twilio webhooks", () => {
    const { AccountSid: _a, ...noAccount } = inboundSms;
    for (const params of [noAccount, {}, { AccountSid: "" }, null as unknown as Record<string, string>]) {
      expect(() => parse(params)).toThrow(InboundFormatError);
    }
    expect(() => parse(new URLSearchParams("Body=hi"))).toThrow(InboundFormatError);
  });

  it("dedupe keys of incoming messages never collide with status callbacks", () => {
    const inbound = parse(inboundSms).items[0]?.dedupeKey;
    const sameSid = { MessageSid: INBOUND_SMS_SID, SmsSid: INBOUND_SMS_SID };
    const receipt = parse(statusCallback("delivered", sameSid)).items[0]?.dedupeKey;
    expect(inbound).toBe(`twilio:msg:${INBOUND_SMS_SID}`);
    expect(receipt).toBe(`twilio:${INBOUND_SMS_SID}:delivered`);
    expect(parse(new URLSearchParams(inboundSms)).items[0]?.dedupeKey).toBe(inbound);
  });
});
