import { Webhook } from "svix";
import twilio from "twilio";
import { describe, expect, it } from "vitest";
import { twilioSignature, verifySvixSignature, verifyTwilioSignature } from "../../src/inbound/verify";
import { signWebhook } from "../../src/webhooks/sign";

const { getExpectedTwilioSignature } = twilio;

// Runs in Node: cross-checks our WebCrypto verifiers against the providers' own npm packages, both ways.

const TOKEN = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";

/** Our entries form → twilio-node's record form, where a repeated key becomes an array. */
function toTwilioRecord(entries: [string, string][]): Record<string, string | string[]> {
  const record: Record<string, string | string[]> = {};
  for (const [name, value] of entries) {
    const existing = record[name];
    record[name] =
      existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return record;
}

const PARAM_SETS: [string, [string, string][]][] = [
  ["none", []],
  [
    "status callback",
    [
      ["MessageSid", "SM1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c"],
      ["MessageStatus", "delivered"],
      ["To", "+5511987654321"],
      ["From", "+14155550123"],
      ["AccountSid", "AC3f6c1e0b9d2a4c7e8f1a2b3c4d5e6f70"],
    ],
  ],
  [
    "repeated keys (unsorted, with a duplicate value)",
    [
      ["MediaUrl", "https://api.twilio.com/m/2"],
      ["Body", "hi"],
      ["MediaUrl", "https://api.twilio.com/m/1"],
      ["MediaUrl", "https://api.twilio.com/m/2"],
      ["MediaContentType", "image/png"],
      ["MediaContentType", "image/jpeg"],
    ],
  ],
  [
    "unicode and sort order by code unit",
    [
      ["Body", "Olá — 你好 👋 café"],
      ["body", "lower-case name sorts after upper-case"],
      ["Émoji", "é"],
      ["Z", "𝒳"],
      ["a", "\u00e9 vs e\u0301"],
    ],
  ],
  [
    "empty values and empty name",
    [
      ["Body", ""],
      ["ErrorCode", ""],
      ["", "nameless"],
      ["NumMedia", "0"],
    ],
  ],
];

const URLS = [
  "https://example.com/twilio/status",
  "https://example.com/twilio/status?tenant=t_01&channel=sms&x=a%20b",
  "https://example.com:443/twilio/status?tenant=t_01",
  "http://example.com:80/twilio/status",
  "https://example.com:8443/twilio/status?q=1",
  "https://user:pass@example.com/twilio/status",
];

describe("Twilio: our twilioSignature against twilio-node", () => {
  for (const [name, entries] of PARAM_SETS) {
    it(`${name}: twilio.validateRequest accepts ours; ours accepts getExpectedTwilioSignature's`, async () => {
      const record = toTwilioRecord(entries);
      for (const url of URLS) {
        const ours = await twilioSignature(url, entries, TOKEN);
        expect(ours).toBe(await twilioSignature(url, record, TOKEN));
        expect(twilio.validateRequest(TOKEN, ours, url, record), url).toBe(true);
        expect(twilio.validateRequest(`${TOKEN}0`, ours, url, record), url).toBe(false);

        const theirs = getExpectedTwilioSignature(TOKEN, url, record);
        expect(theirs, url).toBe(ours);
        expect(await verifyTwilioSignature(url, entries, theirs, TOKEN), url).toBe(true);
        expect(await verifyTwilioSignature(url, record, theirs, TOKEN), url).toBe(true);
        expect(await verifyTwilioSignature(url, [...entries, ["Extra", "1"]], theirs, TOKEN), url).toBe(
          false,
        );
        expect(await verifyTwilioSignature(url, entries, theirs, `${TOKEN}0`), url).toBe(false);
      }
    });
  }

  it("port variants: we accept exactly the (signed, received) URL pairs validateRequest accepts", async () => {
    const entries = PARAM_SETS[1]?.[1] ?? [];
    const record = toTwilioRecord(entries);
    const variants = [
      "https://example.com/cb?a=1",
      "https://example.com:443/cb?a=1",
      "https://example.com:80/cb?a=1",
      "https://example.com:8443/cb?a=1",
      "http://example.com/cb?a=1",
      "http://example.com:80/cb?a=1",
      "http://example.com:443/cb?a=1",
      "https://EXAMPLE.com/cb?a=1",
      "https://example.com/cb?a='1'",
      "https://example.com:443/cb?a='1'",
      "https://example.com/cb?a=%271%27",
    ];
    for (const signed of variants) {
      const sig = getExpectedTwilioSignature(TOKEN, signed, record);
      for (const received of variants) {
        const theirs = twilio.validateRequest(TOKEN, sig, received, record);
        const ours = await verifyTwilioSignature(received, entries, sig, TOKEN);
        // Their last fallback (Node's legacy querystring re-encoding) is deliberately not copied, so with a
        // quote in the query we may refuse what they accept, but never accept what they refuse.
        if (received.includes("'") || signed.includes("'")) {
          if (!theirs) expect(ours, `${signed} ← ${received}`).toBe(false);
          continue;
        }
        expect(ours, `${signed} ← ${received}`).toBe(theirs);
      }
    }
  });
});

describe("Svix (Resend): our verifySvixSignature against the svix package", () => {
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const body = JSON.stringify({
    type: "email.bounced",
    created_at: "2026-11-24T10:00:00.000Z",
    data: { email_id: "4ef9a417-02e9-4d39-ad75-9611e0fcc33c", subject: "Olá — 你好 👋" },
  });
  const msgId = "msg_2pQ8k3Yc1fHq7bN0aXzT";

  it("accepts what svix signs; rejects a changed byte, a wrong secret and a stale timestamp", async () => {
    const now = new Date();
    const headers = {
      "svix-id": msgId,
      "svix-timestamp": String(Math.floor(now.getTime() / 1000)),
      "svix-signature": new Webhook(secret).sign(msgId, now, body),
    };
    expect(await verifySvixSignature(body, headers, secret)).toEqual({ ok: true, id: msgId });
    expect(await verifySvixSignature(`${body} `, headers, secret)).toMatchObject({ ok: false });
    expect(await verifySvixSignature(body.replace("bounced", "bouncee"), headers, secret)).toMatchObject({
      ok: false,
    });
    const other = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    expect(await verifySvixSignature(body, headers, other)).toMatchObject({ ok: false });

    const old = new Date(now.getTime() - 301_000);
    const stale = {
      "svix-id": msgId,
      "svix-timestamp": String(Math.floor(old.getTime() / 1000)),
      "svix-signature": new Webhook(secret).sign(msgId, old, body),
    };
    expect(await verifySvixSignature(body, stale, secret)).toMatchObject({ ok: false });
    expect(() => new Webhook(secret).verify(body, stale)).toThrow();
  });

  it("svix's Webhook.verify accepts signatures made with the same algorithm our verifier uses", async () => {
    // verifySvixSignature recomputes the signature with sign.ts's Standard Webhooks signer; svix must accept
    // what that signer produces under svix-* names, or we would disagree on some input.
    const timestamp = Math.floor(Date.now() / 1000);
    const signed = await signWebhook({ id: msgId, timestamp, body, secrets: [secret] });
    const headers = {
      "svix-id": msgId,
      "svix-timestamp": String(timestamp),
      "svix-signature": signed["webhook-signature"] ?? "",
    };
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(await verifySvixSignature(body, headers, secret)).toEqual({ ok: true, id: msgId });
    expect(headers["svix-signature"]).toBe(new Webhook(secret).sign(msgId, new Date(timestamp * 1000), body));
  });

  it("both agree, on the same headers, about bodies, secrets and signature lists", async () => {
    const fresh = new Date();
    const headers = {
      "svix-id": msgId,
      "svix-timestamp": String(Math.floor(fresh.getTime() / 1000)),
      "svix-signature": `v1,bm90IGEgc2lnbmF0dXJl ${new Webhook(secret).sign(msgId, fresh, body)}`,
    };
    const sig = headers["svix-signature"].split(" ")[1] ?? "";
    const flipped = `v1,${sig[3] === "A" ? "B" : "A"}${sig.slice(4)}`;
    const cases: [string, string, Record<string, string>, boolean][] = [
      [body, secret, headers, true],
      [`${body}\n`, secret, headers, false],
      [body.replace("bounced", "bouncee"), secret, headers, false],
      [body, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", headers, false],
      [body, secret, { ...headers, "svix-signature": flipped }, false],
      [body, secret, { ...headers, "svix-id": "msg_other" }, false],
    ];
    for (const [payload, key, h, expected] of cases) {
      const ours = await verifySvixSignature(payload, h, key);
      let theirs = true;
      try {
        new Webhook(key).verify(payload, h);
      } catch {
        theirs = false;
      }
      expect(ours.ok).toBe(expected);
      expect(theirs).toBe(expected);
    }
  });
});
