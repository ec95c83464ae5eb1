import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseMetaWebhook } from "../../src/domain/inbound/meta";
import { parseResendEvent } from "../../src/domain/inbound/resend";
import { parseTwilioWebhook } from "../../src/domain/inbound/twilio";
import type {
  InboundParseResult,
  MessageItem,
  ReceiptStatus,
  StatusItem,
} from "../../src/domain/inbound/types";
import { sandboxProviderMessageId, sandboxReceiptPlan } from "../../src/providers/sandbox";
import {
  type MetaCallback,
  type MetaSender,
  type ResendCallback,
  type ResendSender,
  type SandboxCallback,
  type SandboxStatusCallbackInput,
  sandboxInboundMessageCallback,
  sandboxInboundProviderMessageId,
  sandboxStatusCallback,
  type TwilioCallback,
  type TwilioSender,
} from "../../src/providers/sandbox-callbacks";
import type { Channel, OutboundMessage } from "../../src/providers/types";
import { emailContent, outbound, textContent } from "./support";

const META: MetaSender = {
  phoneNumberId: "106540352242922",
  wabaId: "102290129340398",
  displayPhoneNumber: "+15550783881",
};
const TWILIO: TwilioSender = { accountSid: "AC3f6c1e0b9d2a4c7e8f1a2b3c4d5e6f70", from: "+14155550123" };
const RESEND: ResendSender = { from: "Acme <notifications@acme.com>" };
/** Accepted at a time with milliseconds, so truncation to Meta's whole seconds shows. */
const ACCEPTED_AT = new Date("2024-06-01T12:08:37.456Z");
const CUSTOMER = "+5511987654321";

/** Sends a callback through the parser the live webhook route uses for that provider. */
function parse(callback: SandboxCallback, receivedAt: Date): InboundParseResult {
  switch (callback.provider) {
    case "meta":
      return parseMetaWebhook(callback.body, receivedAt);
    case "twilio":
      return parseTwilioWebhook(callback.params, receivedAt);
    case "resend":
      return parseResendEvent(callback.body, callback.svixId);
  }
}

/** What reaches the route on the wire: JSON for Meta and Resend, a form body for Twilio. */
function overTheWire(callback: SandboxCallback): SandboxCallback {
  switch (callback.provider) {
    case "meta":
      return { ...callback, body: JSON.parse(JSON.stringify(callback.body)) };
    case "twilio": {
      const form = new URLSearchParams(callback.params).toString();
      return { ...callback, params: Object.fromEntries(new URLSearchParams(form)) };
    }
    case "resend":
      return { ...callback, body: JSON.parse(JSON.stringify(callback.body)) };
  }
}

function only<T>(result: InboundParseResult): T {
  expect(result.problems).toEqual([]);
  expect(result.items).toHaveLength(1);
  return result.items[0] as T;
}

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

function statusInput(message: OutboundMessage, receipt: ReturnType<typeof sandboxReceiptPlan>[number]) {
  const common = {
    providerMessageId: sandboxProviderMessageId(message),
    recipient: message.to,
    status: receipt.status,
    providerStatus: receipt.providerStatus,
    errorCode: receipt.errorCode,
    reason: receipt.reason,
    occurredAt: new Date(ACCEPTED_AT.getTime() + receipt.atSeconds * 1000),
  };
  switch (message.channel) {
    case "whatsapp":
      return { ...common, channel: "whatsapp", sender: META } satisfies SandboxStatusCallbackInput;
    case "sms":
      return { ...common, channel: "sms", sender: TWILIO } satisfies SandboxStatusCallbackInput;
    case "email":
      return {
        ...common,
        channel: "email",
        sender: RESEND,
        subject: "Seu pedido",
        sentAt: ACCEPTED_AT,
      } satisfies SandboxStatusCallbackInput;
  }
}

interface Case {
  name: string;
  channel: Channel;
  to: string;
  /** Parsed statuses, in plan order. */
  statuses: ReceiptStatus[];
  errorCode?: string;
  account?: string;
}

const CASES: Case[] = [
  {
    name: "WhatsApp, normal",
    channel: "whatsapp",
    to: CUSTOMER,
    statuses: ["sent", "delivered", "read"],
    account: META.wabaId,
  },
  {
    name: "WhatsApp, 0002 undelivered",
    channel: "whatsapp",
    to: "+5511987650002",
    statuses: ["sent", "failed"],
    errorCode: "131026",
    account: META.wabaId,
  },
  {
    name: "SMS, normal",
    channel: "sms",
    to: "+14155550188",
    statuses: ["sent", "delivered"],
    account: TWILIO.accountSid,
  },
  {
    name: "SMS, 0002 undelivered",
    channel: "sms",
    to: "+14155550002",
    statuses: ["sent", "undelivered"],
    errorCode: "30003",
    account: TWILIO.accountSid,
  },
  { name: "email, normal", channel: "email", to: "ana@customer.test", statuses: ["sent", "delivered"] },
  {
    name: "email, bounce@",
    channel: "email",
    to: "bounce@example.com",
    statuses: ["sent", "failed"],
    errorCode: "bounce_permanent",
  },
  {
    name: "email, Bounce+tag@ (case and tag kept as the recipient)",
    channel: "email",
    to: "Bounce+order42@Example.com",
    statuses: ["sent", "failed"],
    errorCode: "bounce_permanent",
  },
];

function messageFor(c: Case): OutboundMessage {
  return outbound(
    c.channel,
    c.to,
    c.channel === "email" ? emailContent("Oi", "<p>oi</p>") : textContent("oi"),
    {
      id: `msg_SANDBOX_${c.name}`,
    },
  );
}

describe("sandboxStatusCallback → the provider's parser", () => {
  for (const c of CASES) {
    it(`${c.name}: every planned receipt parses to the right status item`, () => {
      const message = messageFor(c);
      const plan = sandboxReceiptPlan(message);
      expect(plan.map((r) => r.status)).toHaveLength(c.statuses.length);
      const keys = new Set<string>();
      plan.forEach((receipt, i) => {
        const input = statusInput(message, receipt);
        const callback = sandboxStatusCallback(input);
        const item = only<StatusItem>(parse(callback, input.occurredAt));
        expect(item.kind).toBe("status");
        expect(item.provider).toBe(callback.provider);
        expect(item.status).toBe(c.statuses[i]);
        expect(item.providerMessageId).toBe(sandboxProviderMessageId(message));
        expect(item.recipient).toBe(c.to);
        expect(seconds(item.occurredAt)).toBe(seconds(input.occurredAt));
        expect(item.account).toBe(c.account);
        if (receipt.status === "undelivered") {
          expect(item.error?.code).toBe(c.errorCode);
          expect(item.error?.reason.length).toBeGreaterThan(0);
        } else {
          expect(item.error).toBeUndefined();
        }
        if (c.channel === "whatsapp") expect(item.phoneNumberId).toBe(META.phoneNumberId);

        // The same receipt built again is a redelivery: identical payload, identical dedupe key.
        const again = sandboxStatusCallback(statusInput(message, receipt));
        expect(again).toEqual(callback);
        expect(only<StatusItem>(parse(again, input.occurredAt)).dedupeKey).toBe(item.dedupeKey);
        keys.add(item.dedupeKey);

        // What the route receives after JSON / form encoding parses to the very same item.
        expect(parse(overTheWire(callback), input.occurredAt)).toEqual(parse(callback, input.occurredAt));
      });
      // Different statuses of one message are different events.
      expect(keys.size).toBe(plan.length);
    });
  }

  it("different messages never share a dedupe key", () => {
    const keys = new Set<string>();
    for (const c of CASES) {
      for (const id of ["msg_A", "msg_B"]) {
        const message = { ...messageFor(c), id: `${id}:${c.name}` };
        for (const receipt of sandboxReceiptPlan(message)) {
          const input = statusInput(message, receipt);
          keys.add(only<StatusItem>(parse(sandboxStatusCallback(input), input.occurredAt)).dedupeKey);
        }
      }
    }
    const total = CASES.reduce((n, c) => n + 2 * sandboxReceiptPlan(messageFor(c)).length, 0);
    expect(keys.size).toBe(total);
  });

  it("Meta statuses: wire shape of sent, read and failed", () => {
    const message = outbound("whatsapp", "+5511987650002", textContent("oi"), { id: "msg_META" });
    const [sent, failed] = sandboxReceiptPlan(message).map(
      (r) => sandboxStatusCallback(statusInput(message, r)) as MetaCallback,
    );
    const sentStatus = sent?.body.entry[0]?.changes[0]?.value.statuses?.[0];
    expect(sent?.body.entry[0]?.id).toBe(META.wabaId);
    expect(sent?.body.entry[0]?.changes[0]?.value.metadata).toEqual({
      display_phone_number: "15550783881",
      phone_number_id: META.phoneNumberId,
    });
    expect(sentStatus).toMatchObject({
      status: "sent",
      timestamp: String(seconds(ACCEPTED_AT)),
      recipient_id: "5511987650002",
      conversation: {
        id: expect.stringMatching(/^[0-9a-f]{32}$/),
        expiration_timestamp: String(seconds(ACCEPTED_AT) + 86_400),
        origin: { type: "utility" },
      },
      pricing: { billable: true, pricing_model: "PMP", category: "utility" },
    });
    const failedStatus = failed?.body.entry[0]?.changes[0]?.value.statuses?.[0];
    expect(failedStatus?.conversation).toBeUndefined();
    expect(failedStatus?.errors?.[0]).toMatchObject({ code: 131026, title: "Message undeliverable" });

    const read = sandboxStatusCallback({
      channel: "whatsapp",
      providerMessageId: "wamid.X",
      recipient: CUSTOMER,
      status: "read",
      providerStatus: "read",
      occurredAt: ACCEPTED_AT,
      sender: META,
    });
    const readStatus = read.body.entry[0]?.changes[0]?.value.statuses?.[0];
    expect(readStatus?.conversation).toBeUndefined();
    expect(readStatus?.pricing).toBeUndefined();
  });

  it("Meta keeps a custom error code and reason; a numeric code is a JSON number", () => {
    const callback = sandboxStatusCallback({
      channel: "whatsapp",
      providerMessageId: "wamid.Y",
      recipient: CUSTOMER,
      status: "undelivered",
      providerStatus: "failed",
      errorCode: "131049",
      reason: "Message not delivered to maintain healthy ecosystem engagement.",
      occurredAt: ACCEPTED_AT,
      sender: META,
    });
    expect(callback.body.entry[0]?.changes[0]?.value.statuses?.[0]?.errors?.[0]?.code).toBe(131049);
    expect(only<StatusItem>(parse(callback, ACCEPTED_AT)).error).toEqual({
      code: "131049",
      reason: "Message not delivered to maintain healthy ecosystem engagement.",
    });
  });

  it("Twilio status params: the fields of a live callback, ErrorCode without ErrorMessage, DLR date", () => {
    const message = outbound("sms", "+14155550002", textContent("oi"), { id: "msg_TWILIO" });
    const [sent, undelivered] = sandboxReceiptPlan(message).map(
      (r) => sandboxStatusCallback(statusInput(message, r)) as TwilioCallback,
    );
    const sid = sandboxProviderMessageId(message);
    expect(sent?.params).toEqual({
      SmsSid: sid,
      SmsStatus: "sent",
      MessageStatus: "sent",
      To: "+14155550002",
      MessageSid: sid,
      AccountSid: TWILIO.accountSid,
      From: TWILIO.from,
      ApiVersion: "2010-04-01",
    });
    expect(undelivered?.params).toMatchObject({ MessageStatus: "undelivered", ErrorCode: "30003" });
    expect(undelivered?.params.ErrorMessage).toBeUndefined();
    // 2024-06-01 12:08:38 UTC → YYMMDDhhmm
    expect(undelivered?.params.RawDlrDoneDate).toBe("2406011208");
  });

  it("Resend events: svix id derived from email id and type, bounce as Permanent", () => {
    const message = outbound("email", "bounce@example.com", emailContent("Oi"), { id: "msg_RESEND" });
    const [sent, bounced] = sandboxReceiptPlan(message).map(
      (r) => sandboxStatusCallback(statusInput(message, r)) as ResendCallback,
    );
    expect(sent?.svixId).toMatch(/^msg_[0-9A-Za-z]{27}$/);
    expect(bounced?.svixId).toMatch(/^msg_[0-9A-Za-z]{27}$/);
    expect(bounced?.svixId).not.toBe(sent?.svixId);
    expect(bounced?.body).toEqual({
      type: "email.bounced",
      created_at: "2024-06-01T12:08:38.456Z",
      data: {
        created_at: "2024-06-01T12:08:37.456000+00:00",
        email_id: sandboxProviderMessageId(message),
        from: RESEND.from,
        to: ["bounce@example.com"],
        subject: "Seu pedido",
        bounce: {
          message: "The recipient's mail server permanently rejected the email.",
          subType: "General",
          type: "Permanent",
        },
      },
    });
    const item = only<StatusItem>(parse(bounced as SandboxCallback, ACCEPTED_AT));
    expect(item.error).toEqual({
      code: "bounce_permanent",
      reason: "The recipient's mail server permanently rejected the email.",
    });
    // Same millisecond kept: Resend's created_at is not cut to seconds.
    expect(item.occurredAt.getTime()).toBe(ACCEPTED_AT.getTime() + 1000);
    expect(item.dedupeKey).toBe(`resend:${bounced?.svixId}`);
  });

  it("refuses a provider status that does not match the receipt or the channel", () => {
    const base = {
      providerMessageId: "x",
      recipient: CUSTOMER,
      occurredAt: ACCEPTED_AT,
    };
    expect(() =>
      sandboxStatusCallback({
        ...base,
        channel: "whatsapp",
        sender: META,
        status: "undelivered",
        providerStatus: "undelivered",
      }),
    ).toThrow(RangeError);
    expect(() =>
      sandboxStatusCallback({
        ...base,
        channel: "sms",
        sender: TWILIO,
        status: "read",
        providerStatus: "read",
      }),
    ).toThrow(RangeError);
    expect(() =>
      sandboxStatusCallback({
        ...base,
        recipient: "a@b.test",
        channel: "email",
        sender: RESEND,
        status: "delivered",
        providerStatus: "delivered",
      }),
    ).toThrow(RangeError);
    expect(() =>
      sandboxStatusCallback({
        ...base,
        channel: "sms",
        sender: TWILIO,
        status: "sent",
        providerStatus: "sent",
        occurredAt: new Date(Number.NaN),
      }),
    ).toThrow(RangeError);
  });
});

describe("sandboxInboundMessageCallback → the provider's parser", () => {
  const OUR_WA = "+15550783881";
  const at = new Date("2024-06-01T12:30:00.900Z");

  it("WhatsApp text with profile name", () => {
    const id = sandboxInboundProviderMessageId("whatsapp", "in-1", { from: CUSTOMER });
    const callback = sandboxInboundMessageCallback({
      channel: "whatsapp",
      providerMessageId: id,
      from: CUSTOMER,
      to: OUR_WA,
      text: "Olá! Meu pedido já saiu?",
      profileName: "Ana Souza",
      occurredAt: at,
      sender: META,
    });
    expect(callback.body.entry[0]?.changes[0]?.value.contacts).toEqual([
      { profile: { name: "Ana Souza" }, wa_id: "5511987654321" },
    ]);
    const item = only<MessageItem>(parse(callback, at));
    expect(item).toMatchObject({
      kind: "message",
      provider: "meta",
      providerMessageId: id,
      from: CUSTOMER,
      to: OUR_WA,
      phoneNumberId: META.phoneNumberId,
      account: META.wabaId,
      profileName: "Ana Souza",
      content: { type: "text", text: "Olá! Meu pedido já saiu?" },
      dedupeKey: `meta:msg:${id}`,
    });
    expect(item.replyToProviderMessageId).toBeUndefined();
    expect(seconds(item.occurredAt)).toBe(seconds(at));
    expect(parse(overTheWire(callback), at)).toEqual(parse(callback, at));
  });

  it("WhatsApp reply: context names the message replied to", () => {
    const callback = sandboxInboundMessageCallback({
      channel: "whatsapp",
      providerMessageId: "wamid.IN",
      from: CUSTOMER,
      to: OUR_WA,
      text: "Esse mesmo",
      replyToProviderMessageId: "wamid.OUT",
      occurredAt: at,
      sender: META,
    });
    expect(callback.body.entry[0]?.changes[0]?.value.messages?.[0]?.context).toEqual({
      from: "15550783881",
      id: "wamid.OUT",
    });
    const item = only<MessageItem>(parse(callback, at));
    expect(item.replyToProviderMessageId).toBe("wamid.OUT");
    expect(item.profileName).toBeUndefined();
  });

  it("WhatsApp media: a numeric media id, never the URL; caption, mime type, document filename", () => {
    for (const [type, mimeType] of [
      ["image", "image/jpeg"],
      ["video", "video/mp4"],
      ["document", "application/pdf"],
    ] as const) {
      const url = `https://files.example/u/nota%20fiscal.${type}?sig=1`;
      const callback = sandboxInboundMessageCallback({
        channel: "whatsapp",
        providerMessageId: `wamid.${type}`,
        from: CUSTOMER,
        to: OUR_WA,
        media: { type, url, caption: "Veja" },
        occurredAt: at,
        sender: META,
      });
      expect(JSON.stringify(callback.body)).not.toContain("files.example");
      const item = only<MessageItem>(parse(callback, at));
      expect(item.content).toMatchObject({ type: "media", mediaType: type, mimeType, caption: "Veja" });
      const content = item.content as Extract<MessageItem["content"], { type: "media" }>;
      expect(content.mediaId).toMatch(/^\d{16}$/);
      expect(content.url).toBeUndefined();
      expect(content.filename).toBe(type === "document" ? `nota fiscal.${type}` : undefined);
      // Deterministic: the same message gets the same media id.
      const again = sandboxInboundMessageCallback({
        channel: "whatsapp",
        providerMessageId: `wamid.${type}`,
        from: CUSTOMER,
        to: OUR_WA,
        media: { type, url, caption: "Veja" },
        occurredAt: at,
        sender: META,
      });
      expect(again).toEqual(callback);
    }
    const audio = sandboxInboundMessageCallback({
      channel: "whatsapp",
      providerMessageId: "wamid.audio",
      from: CUSTOMER,
      to: OUR_WA,
      media: { type: "audio", url: "https://files.example/a.ogg" },
      occurredAt: at,
      sender: META,
    });
    expect(only<MessageItem>(parse(audio, at)).content).toMatchObject({
      type: "media",
      mediaType: "audio",
      mimeType: "audio/ogg; codecs=opus",
    });
  });

  it("WhatsApp: text becomes the caption of media without one", () => {
    const callback = sandboxInboundMessageCallback({
      channel: "whatsapp",
      providerMessageId: "wamid.cap",
      from: CUSTOMER,
      to: OUR_WA,
      text: "Foto do produto",
      media: { type: "image", url: "https://files.example/p.png", mimeType: "image/png" },
      occurredAt: at,
      sender: META,
    });
    expect(only<MessageItem>(parse(callback, at)).content).toMatchObject({
      type: "media",
      mediaType: "image",
      mimeType: "image/png",
      caption: "Foto do produto",
    });
  });

  it("refuses what WhatsApp cannot carry or a `to` that is not the sender's number", () => {
    const base = {
      channel: "whatsapp" as const,
      providerMessageId: "wamid.bad",
      from: CUSTOMER,
      to: OUR_WA,
      occurredAt: at,
      sender: META,
    };
    expect(() => sandboxInboundMessageCallback(base)).toThrow(RangeError);
    expect(() =>
      sandboxInboundMessageCallback({ ...base, media: { type: "audio", url: "u", caption: "c" } }),
    ).toThrow(RangeError);
    expect(() => sandboxInboundMessageCallback({ ...base, text: "oi", to: "+15550000000" })).toThrow(
      RangeError,
    );
  });

  it("SMS text: Twilio's incoming-message params", () => {
    const sid = sandboxInboundProviderMessageId("sms", "in-sms-1");
    const callback = sandboxInboundMessageCallback({
      channel: "sms",
      providerMessageId: sid,
      from: CUSTOMER,
      to: TWILIO.from,
      text: "Quero saber do pedido 4521",
      occurredAt: at,
      sender: TWILIO,
    });
    expect(callback.params).toEqual({
      SmsMessageSid: sid,
      NumMedia: "0",
      SmsSid: sid,
      SmsStatus: "received",
      Body: "Quero saber do pedido 4521",
      To: TWILIO.from,
      NumSegments: "1",
      MessageSid: sid,
      AccountSid: TWILIO.accountSid,
      From: CUSTOMER,
      ApiVersion: "2010-04-01",
    });
    const item = only<MessageItem>(parse(overTheWire(callback), at));
    expect(item).toMatchObject({
      kind: "message",
      provider: "twilio",
      providerMessageId: sid,
      from: CUSTOMER,
      to: TWILIO.from,
      account: TWILIO.accountSid,
      content: { type: "text", text: "Quero saber do pedido 4521" },
      dedupeKey: `twilio:msg:${sid}`,
    });
    expect(item.occurredAt).toEqual(at);
    expect(item.replyToProviderMessageId).toBeUndefined();
    expect(item.profileName).toBeUndefined();
  });

  it("SMS with media: an MMS with MediaUrl0 and its content type", () => {
    const sid = sandboxInboundProviderMessageId("sms", "in-mms-1", { media: true });
    expect(sid).toMatch(/^MM[0-9a-f]{32}$/);
    const url = "https://files.example/m/photo.jpg";
    const callback = sandboxInboundMessageCallback({
      channel: "sms",
      providerMessageId: sid,
      from: CUSTOMER,
      to: TWILIO.from,
      media: { type: "image", url, caption: "Foto" },
      occurredAt: at,
      sender: TWILIO,
    });
    expect(callback.params).toMatchObject({
      NumMedia: "1",
      MediaUrl0: url,
      MediaContentType0: "image/jpeg",
      Body: "Foto",
      NumSegments: "1",
    });
    expect(only<MessageItem>(parse(overTheWire(callback), at)).content).toEqual({
      type: "media",
      mediaType: "image",
      url,
      mimeType: "image/jpeg",
      caption: "Foto",
    });
  });

  it("SMS segments follow the encoding: GSM-7 160/153, UCS-2 70/67", () => {
    const segments = (text: string) =>
      sandboxInboundMessageCallback({
        channel: "sms",
        providerMessageId: "SMx",
        from: CUSTOMER,
        to: TWILIO.from,
        text,
        occurredAt: at,
        sender: TWILIO,
      }).params.NumSegments;
    expect(segments("a".repeat(160))).toBe("1");
    expect(segments("a".repeat(161))).toBe("2");
    expect(segments("€".repeat(80))).toBe("1");
    expect(segments("€".repeat(81))).toBe("2");
    expect(segments("ã".repeat(70))).toBe("1");
    expect(segments("ã".repeat(71))).toBe("2");
  });

  it("any text survives the wire on both channels (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", minLength: 1, maxLength: 200 }), (text) => {
        const wa = sandboxInboundMessageCallback({
          channel: "whatsapp",
          providerMessageId: "wamid.P",
          from: CUSTOMER,
          to: OUR_WA,
          text,
          occurredAt: at,
          sender: META,
        });
        const sms = sandboxInboundMessageCallback({
          channel: "sms",
          providerMessageId: "SMp",
          from: CUSTOMER,
          to: TWILIO.from,
          text,
          occurredAt: at,
          sender: TWILIO,
        });
        for (const callback of [wa, sms]) {
          expect(only<MessageItem>(parse(overTheWire(callback), at)).content).toEqual({ type: "text", text });
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("sandboxInboundProviderMessageId", () => {
  it("is deterministic, distinct per seed and per channel, and never an outbound sandbox id", () => {
    for (const channel of ["whatsapp", "sms"] as const) {
      const a = sandboxInboundProviderMessageId(channel, "seed-1", { from: CUSTOMER });
      expect(sandboxInboundProviderMessageId(channel, "seed-1", { from: CUSTOMER })).toBe(a);
      expect(sandboxInboundProviderMessageId(channel, "seed-2", { from: CUSTOMER })).not.toBe(a);
      expect(a).not.toBe(sandboxProviderMessageId({ id: "seed-1", channel, to: CUSTOMER }));
    }
    const ids = new Set<string>();
    for (let i = 0; i < 1_000; i++) ids.add(sandboxInboundProviderMessageId("sms", `s${i}`));
    expect(ids.size).toBe(1_000);
  });

  it("looks like a live id: inbound wamid embedding the sender, SM + 32 hex", () => {
    const wamid = sandboxInboundProviderMessageId("whatsapp", "seed", { from: CUSTOMER });
    expect(wamid).toMatch(/^wamid\.HBg[A-Za-z0-9+/]+=*$/);
    const decoded = atob(wamid.slice("wamid.".length));
    expect(decoded.charCodeAt(2)).toBe(13);
    expect(decoded.slice(3, 16)).toBe("5511987654321");
    const tail = decoded.slice(16);
    expect([...tail.slice(0, 6)].map((ch) => ch.charCodeAt(0))).toEqual([0x15, 0x02, 0x00, 0x12, 0x18, 0x14]);
    expect(tail.slice(6, 26)).toMatch(/^[0-9A-F]{20}$/);
    expect(tail.slice(26)).toBe(String.fromCharCode(0));
    const anonymous = atob(sandboxInboundProviderMessageId("whatsapp", "seed").slice(6));
    expect(anonymous.slice(3, 3 + anonymous.charCodeAt(2))).toMatch(/^\d{13}$/);
    expect(sandboxInboundProviderMessageId("sms", "seed")).toMatch(/^SM[0-9a-f]{32}$/);
  });
});
