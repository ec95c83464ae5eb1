import { describe, expect, it } from "vitest";
import {
  createSandboxAdapter,
  sandboxOutcome,
  sandboxProviderMessageId,
  sandboxReceiptPlan,
  sha256,
} from "../../src/providers/sandbox";
import type { Channel, MessageContent, OutboundMessage } from "../../src/providers/types";
import { emailContent, expectFailure, expectOk, outbound, textContent } from "./support";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const wa = (to: string, attempt = 1) => outbound("whatsapp", to, textContent("hi"), { attempt });
const sms = (to: string, attempt = 1) => outbound("sms", to, textContent("hi"), { attempt });
const mail = (to: string, attempt = 1) => outbound("email", to, emailContent("Hi", "<p>hi</p>"), { attempt });

describe("sandbox outcomes by recipient", () => {
  it("accepts ordinary recipients on every channel", () => {
    expect(expectOk(sandboxOutcome(wa("+5511987654321")))).toMatch(/^wamid\./);
    expect(expectOk(sandboxOutcome(sms("+14155550123")))).toMatch(/^SM[0-9a-f]{32}$/);
    expect(expectOk(sandboxOutcome(mail("ana@customer.test")))).toMatch(UUID_V4);
  });

  it("0001 fails permanently with each channel's live invalid-recipient error", () => {
    const w = expectFailure(sandboxOutcome(wa("+5511987650001")), { code: "131026", retryable: false });
    expect(w.reason).toContain("Message Undeliverable");
    const s = expectFailure(sandboxOutcome(sms("+14155550001")), { code: "21211", retryable: false });
    expect(s.reason).toBe(
      "The 'To' number +14155550001 is not a valid phone number. (https://www.twilio.com/docs/errors/21211)",
    );
  });

  it("0002 is accepted, then reported undelivered", () => {
    expectOk(sandboxOutcome(wa("+5511987650002")));
    expectOk(sandboxOutcome(sms("+14155550002")));
    expect(sandboxReceiptPlan(wa("+5511987650002"))).toEqual([
      { status: "sent", delaySeconds: 0, atSeconds: 0, providerStatus: "sent" },
      {
        status: "undelivered",
        delaySeconds: 1,
        atSeconds: 1,
        providerStatus: "failed",
        errorCode: "131026",
        reason: "Message undeliverable",
      },
    ]);
    expect(sandboxReceiptPlan(sms("+14155550002"))).toEqual([
      { status: "sent", delaySeconds: 0, atSeconds: 0, providerStatus: "sent" },
      {
        status: "undelivered",
        delaySeconds: 1,
        atSeconds: 1,
        providerStatus: "undelivered",
        errorCode: "30003",
        reason: "Unreachable destination handset",
      },
    ]);
  });

  it.each(["whatsapp", "sms"] as Channel[])(
    "0003 on %s times out on attempts 1 and 2, then succeeds",
    (channel) => {
      const to = "+14155550003";
      const make = (attempt: number) =>
        outbound(channel, to, textContent("hi"), { attempt, id: "msg_FLAKY" });
      expectFailure(sandboxOutcome(make(1)), { code: "timeout", retryable: true });
      expectFailure(sandboxOutcome(make(2)), { code: "timeout", retryable: true });
      const third = expectOk(sandboxOutcome(make(3)));
      expect(expectOk(sandboxOutcome(make(4)))).toBe(third);
      expect(sandboxReceiptPlan(make(1)).map((r) => r.status)).toEqual(
        channel === "whatsapp" ? ["sent", "delivered", "read"] : ["sent", "delivered"],
      );
    },
  );

  it("0004 fails permanently: WhatsApp 131047 (outside the 24 h window), SMS 21610 (unsubscribed)", () => {
    expectFailure(sandboxOutcome(wa("+5511987650004")), { code: "131047", retryable: false });
    expectFailure(sandboxOutcome(sms("+14155550004")), { code: "21610", retryable: false });
    expect(sandboxReceiptPlan(wa("+5511987650004"))).toEqual([]);
  });

  it("email local part fail → permanent Resend validation_error (also with a +tag, any case)", () => {
    for (const to of ["fail@example.com", "FAIL+order42@example.com"]) {
      const f = expectFailure(sandboxOutcome(mail(to)), { code: "validation_error", retryable: false });
      expect(f.reason).toContain("Invalid `to` field");
      expect(sandboxReceiptPlan(mail(to))).toEqual([]);
    }
  });

  it("email local part bounce → accepted, then bounced", () => {
    expectOk(sandboxOutcome(mail("bounce+x@example.com")));
    expect(sandboxReceiptPlan(mail("bounce@example.com"))).toEqual([
      { status: "sent", delaySeconds: 0, atSeconds: 0, providerStatus: "email.sent" },
      {
        status: "undelivered",
        delaySeconds: 1,
        atSeconds: 1,
        providerStatus: "email.bounced",
        reason: "The recipient's mail server permanently rejected the email.",
      },
    ]);
  });

  it("email local part timeout → like 0003", () => {
    expectFailure(sandboxOutcome(mail("timeout@example.com", 1)), { code: "timeout", retryable: true });
    expectFailure(sandboxOutcome(mail("timeout@example.com", 2)), { code: "timeout", retryable: true });
    expectOk(sandboxOutcome(mail("timeout@example.com", 3)));
  });

  it("look-alikes stay ordinary (…0010, fail-safe@…, …@fail.example.com)", () => {
    expectOk(sandboxOutcome(wa("+5511987650010")));
    expectOk(sandboxOutcome(mail("fail-safe@example.com")));
    expectOk(sandboxOutcome(mail("ana@fail.example.com")));
  });

  it("rejects malformed recipients as live would", () => {
    expectFailure(sandboxOutcome(mail("not-an-email")), { code: "validation_error", retryable: false });
    expectFailure(sandboxOutcome(sms("call me")), { code: "21211", retryable: false });
    expectFailure(sandboxOutcome(wa("+12")), { code: "131026", retryable: false });
  });

  it("refuses content the live channel cannot carry", () => {
    const interactive: MessageContent = {
      kind: "interactive",
      interactive: { type: "button", body: "?", buttons: [{ id: "y", title: "Y" }] },
    };
    expectFailure(sandboxOutcome(outbound("sms", "+14155550123", interactive)), {
      code: "unsupported_content",
    });
    expectFailure(sandboxOutcome(outbound("whatsapp", "+14155550123", emailContent("x", "y"))), {
      code: "unsupported_content",
      retryable: false,
    });
    expectFailure(sandboxOutcome(outbound("email", "a@b.test", textContent("x"))), {
      code: "unsupported_content",
    });
  });
});

describe("sandbox receipt plans", () => {
  it("WhatsApp: sent (0 s), delivered (+1 s), read (+2 s)", () => {
    expect(sandboxReceiptPlan(wa("+5511987654321"))).toEqual([
      { status: "sent", delaySeconds: 0, atSeconds: 0, providerStatus: "sent" },
      { status: "delivered", delaySeconds: 1, atSeconds: 1, providerStatus: "delivered" },
      { status: "read", delaySeconds: 2, atSeconds: 3, providerStatus: "read" },
    ]);
  });

  it("SMS: sent, delivered", () => {
    expect(sandboxReceiptPlan(sms("+14155550123"))).toEqual([
      { status: "sent", delaySeconds: 0, atSeconds: 0, providerStatus: "sent" },
      { status: "delivered", delaySeconds: 1, atSeconds: 1, providerStatus: "delivered" },
    ]);
  });

  it("email: sent, delivered", () => {
    expect(sandboxReceiptPlan(mail("ana@customer.test"))).toEqual([
      { status: "sent", delaySeconds: 0, atSeconds: 0, providerStatus: "email.sent" },
      { status: "delivered", delaySeconds: 1, atSeconds: 1, providerStatus: "email.delivered" },
    ]);
  });

  it("is empty for sends that fail permanently", () => {
    expect(sandboxReceiptPlan(wa("+5511987650001"))).toEqual([]);
    expect(sandboxReceiptPlan(sms("+14155550001"))).toEqual([]);
    expect(sandboxReceiptPlan(mail("fail@example.com"))).toEqual([]);
  });
});

describe("sandbox provider message ids", () => {
  const base: OutboundMessage = outbound("whatsapp", "+5511987654321", textContent("hi"), {
    id: "msg_01JABCDEF",
  });

  it("are derived deterministically from our message id (same across attempts and calls)", () => {
    for (const channel of ["whatsapp", "sms", "email"] as Channel[]) {
      const to = channel === "email" ? "ana@customer.test" : "+5511987654321";
      const m = { ...base, channel, to };
      const a = sandboxProviderMessageId(m);
      expect(sandboxProviderMessageId({ ...m })).toBe(a);
      expect(sandboxProviderMessageId({ ...m, id: "msg_01JABCDEG" })).not.toBe(a);
      expect(
        expectOk(sandboxOutcome({ ...m, content: channel === "email" ? emailContent("s", "h") : m.content })),
      ).toBe(a);
    }
  });

  it("look like live ids: wamid.<base64 with the recipient>, SM + 32 hex, UUID v4", () => {
    const wamid = sandboxProviderMessageId(base);
    expect(wamid).toMatch(/^wamid\.HBg[A-Za-z0-9+/]+=*$/);
    const decoded = atob(wamid.slice("wamid.".length));
    expect(decoded.slice(3, 3 + 13)).toBe("5511987654321");
    expect(decoded).toMatch(/[0-9A-F]{18}\0$/);
    expect(sandboxProviderMessageId({ ...base, channel: "sms" })).toMatch(/^SM[0-9a-f]{32}$/);
    expect(sandboxProviderMessageId({ ...base, channel: "email", to: "a@b.test" })).toMatch(UUID_V4);
  });

  it("are distinct across many messages", () => {
    const ids = new Set<string>();
    for (let i = 0; i < 2_000; i++)
      ids.add(sandboxProviderMessageId({ ...base, channel: "sms", id: `msg_${i}` }));
    expect(ids.size).toBe(2_000);
  });
});

describe("createSandboxAdapter", () => {
  it("answers exactly what sandboxOutcome says", async () => {
    const adapter = createSandboxAdapter();
    for (const m of [
      wa("+5511987654321"),
      wa("+5511987650001"),
      sms("+14155550003"),
      mail("bounce@x.test"),
    ]) {
      expect(await adapter.send(m)).toEqual(sandboxOutcome(m));
    }
  });
});

describe("sha256 (used for sandbox ids)", () => {
  const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const enc = (s: string) => new TextEncoder().encode(s);

  it("matches the FIPS 180-4 test vectors", () => {
    expect(hex(sha256(enc("")))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(hex(sha256(enc("abc")))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("matches WebCrypto across block boundaries", async () => {
    for (const length of [55, 56, 63, 64, 65, 119, 1000]) {
      const data = enc("é".repeat(length).slice(0, length));
      const expected = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
      expect(hex(sha256(data))).toBe(hex(expected));
    }
  });
});
