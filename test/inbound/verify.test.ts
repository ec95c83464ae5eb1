import { describe, expect, it } from "vitest";
import {
  twilioSignature,
  verifyMetaSignature,
  verifySvixSignature,
  verifyTwilioSignature,
} from "../../src/inbound/verify";
import { generateWebhookSecret, signWebhook } from "../../src/webhooks/sign";

// Runs inside workerd: the verifiers use only WebCrypto. Cross-checks against the providers' own npm
// packages (which need Node) are in verify.node.test.ts.

const encode = (s: string) => new TextEncoder().encode(s);

/** The same bytes with one byte flipped (same length, so only the content differs). */
function flipByte(bytes: Uint8Array, at = bytes.length - 2): Uint8Array {
  const copy = bytes.slice();
  copy[at] = (copy[at] ?? 0) ^ 0x01;
  return copy;
}

async function hmacHex(secret: string, body: Uint8Array): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, body));
  return [...mac].map((b) => b.toString(16).padStart(2, "0")).join("");
}

describe("verifyMetaSignature", () => {
  // A WhatsApp Cloud API notification with non-ASCII text, so the signed bytes are real UTF-8.
  const BODY = encode(
    JSON.stringify({
      object: "whatsapp_business_account",
      entry: [
        {
          id: "102290129340398",
          changes: [
            {
              field: "messages",
              value: {
                messaging_product: "whatsapp",
                messages: [
                  { from: "5511987654321", id: "wamid.HBgM", type: "text", text: { body: "Olá 👋" } },
                ],
              },
            },
          ],
        },
      ],
    }),
  );
  const SECRET = "8f3c2e1d0b9a7f6e5d4c3b2a1f0e9d8c";
  // Computed once with node:crypto createHmac("sha256", SECRET).update(BODY).digest("hex").
  const EXPECTED_HEX = "9d704b4646c91ac7df57b9ea1ea029f30b5aee327c129802b3cdfc63536f7530";

  it("accepts fixed known vectors (node:crypto, and the well-known HMAC-SHA256 'quick brown fox')", async () => {
    expect(await verifyMetaSignature(BODY, `sha256=${EXPECTED_HEX}`, SECRET)).toBe(true);
    expect(await verifyMetaSignature(BODY, `sha256=${EXPECTED_HEX.toUpperCase()}`, SECRET)).toBe(true);
    const fox = encode("The quick brown fox jumps over the lazy dog");
    const foxHex = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
    expect(await verifyMetaSignature(fox, `sha256=${foxHex}`, "key")).toBe(true);
    expect(await hmacHex(SECRET, BODY)).toBe(EXPECTED_HEX);
  });

  it("rejects one changed byte of the body and a wrong secret", async () => {
    const header = `sha256=${EXPECTED_HEX}`;
    expect(await verifyMetaSignature(flipByte(BODY), header, SECRET)).toBe(false);
    expect(await verifyMetaSignature(flipByte(BODY, 0), header, SECRET)).toBe(false);
    expect(await verifyMetaSignature(BODY, header, `${SECRET}x`)).toBe(false);
    expect(await verifyMetaSignature(BODY, header, SECRET.slice(1))).toBe(false);
  });

  it("rejects a missing or malformed header without throwing", async () => {
    const malformed: (string | null | undefined)[] = [
      undefined,
      null,
      "",
      EXPECTED_HEX, // no prefix
      `sha1=${EXPECTED_HEX}`,
      `SHA256=${EXPECTED_HEX}`,
      `sha256:${EXPECTED_HEX}`,
      `sha256= ${EXPECTED_HEX}`,
      `sha256=${EXPECTED_HEX} `,
      `sha256=${EXPECTED_HEX.slice(0, -2)}`, // 31 bytes
      `sha256=${EXPECTED_HEX}00`, // 33 bytes
      `sha256=${EXPECTED_HEX.slice(0, -1)}g`, // non-hex
      `sha256=${EXPECTED_HEX.slice(0, -1)}`, // odd length
      `sha256=${"0".repeat(64)}`,
      "sha256=",
    ];
    for (const header of malformed) {
      expect(await verifyMetaSignature(BODY, header, SECRET), String(header)).toBe(false);
    }
  });

  it("accepts an empty body signed correctly; refuses an empty secret loudly", async () => {
    const empty = new Uint8Array(0);
    expect(await verifyMetaSignature(empty, `sha256=${await hmacHex(SECRET, empty)}`, SECRET)).toBe(true);
    await expect(verifyMetaSignature(BODY, `sha256=${EXPECTED_HEX}`, "")).rejects.toThrow(/non-empty/);
  });
});

describe("twilioSignature / verifyTwilioSignature", () => {
  // The example in Twilio's security documentation, with its published signature.
  const TOKEN = "12345";
  const URL_ = "https://mycompany.com/myapp.php?foo=1&bar=2";
  const PARAMS = {
    CallSid: "CA1234567890ABCDE",
    Caller: "+12349013030",
    Digits: "1234",
    From: "+12349013030",
    To: "+18005551212",
  };
  const DOCUMENTED = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

  it("reproduces Twilio's documented signature, from a record and from form entries in any order", async () => {
    expect(await twilioSignature(URL_, PARAMS, TOKEN)).toBe(DOCUMENTED);
    const entries = Object.entries(PARAMS).reverse() as [string, string][];
    expect(await twilioSignature(URL_, entries, TOKEN)).toBe(DOCUMENTED);
    const form = new URLSearchParams(PARAMS).toString();
    expect(await twilioSignature(URL_, [...new URLSearchParams(form)], TOKEN)).toBe(DOCUMENTED);
    expect(await verifyTwilioSignature(URL_, PARAMS, DOCUMENTED, TOKEN)).toBe(true);
  });

  it("handles repeated keys like twilio-node: distinct values, sorted (vector from getExpectedTwilioSignature)", async () => {
    const params: [string, string][] = [
      ...(Object.entries(PARAMS) as [string, string][]),
      ["MediaUrl", "b"],
      ["MediaUrl", "a"],
      ["MediaUrl", "b"],
      ["Body", "Olá 👋"],
    ];
    const expected = "GySEs/aqGCU+ttRMCsNznobnS7E=";
    expect(await twilioSignature(URL_, params, TOKEN)).toBe(expected);
    expect(await twilioSignature(URL_, { ...PARAMS, MediaUrl: ["a", "b"], Body: "Olá 👋" }, TOKEN)).toBe(
      expected,
    );
    expect(await verifyTwilioSignature(URL_, params, expected, TOKEN)).toBe(true);
  });

  it("rejects a changed byte (parameter value or URL) and a wrong token", async () => {
    expect(await verifyTwilioSignature(URL_, { ...PARAMS, Digits: "1235" }, DOCUMENTED, TOKEN)).toBe(false);
    expect(await verifyTwilioSignature(URL_, { ...PARAMS, Extra: "" }, DOCUMENTED, TOKEN)).toBe(false);
    expect(await verifyTwilioSignature(URL_.replace("foo=1", "foo=2"), PARAMS, DOCUMENTED, TOKEN)).toBe(
      false,
    );
    expect(await verifyTwilioSignature(URL_.replace("https", "http"), PARAMS, DOCUMENTED, TOKEN)).toBe(false);
    expect(await verifyTwilioSignature(URL_, PARAMS, DOCUMENTED, "12346")).toBe(false);
  });

  it("rejects a missing or malformed header without throwing", async () => {
    const malformed = [
      undefined,
      null,
      "",
      DOCUMENTED.slice(0, -1),
      `${DOCUMENTED} `,
      ` ${DOCUMENTED}`,
      `${DOCUMENTED}=`,
      DOCUMENTED.toLowerCase(),
      "not base64 at all ✗",
    ];
    for (const header of malformed) {
      expect(await verifyTwilioSignature(URL_, PARAMS, header, TOKEN), String(header)).toBe(false);
    }
    expect(await verifyTwilioSignature("not a url", PARAMS, DOCUMENTED, TOKEN)).toBe(false);
    await expect(verifyTwilioSignature(URL_, PARAMS, DOCUMENTED, "")).rejects.toThrow(/non-empty/);
  });

  it("accepts the URL with or without the default port, whichever Twilio signed", async () => {
    const bare = "https://example.com/twilio/status?tenant=t1";
    const withPort = "https://example.com:443/twilio/status?tenant=t1";
    for (const [signed, received] of [
      [bare, withPort],
      [withPort, bare],
      [bare.replace("https", "http"), withPort.replace("https", "http").replace(":443", ":80")],
    ] as const) {
      const sig = await twilioSignature(signed, PARAMS, TOKEN);
      expect(await verifyTwilioSignature(received, PARAMS, sig, TOKEN), `${signed} ← ${received}`).toBe(true);
    }
    // The variants are built on the URL as received, not only on its `new URL()` form, which would encode `'`.
    const quoted = await twilioSignature("https://example.com:443/cb?name='x'", PARAMS, TOKEN);
    expect(await verifyTwilioSignature("https://example.com/cb?name='x'", PARAMS, quoted, TOKEN)).toBe(true);
    // The port is part of what was signed: another scheme's default port is not a variant.
    const sig = await twilioSignature("https://example.com:80/x", PARAMS, TOKEN);
    expect(await verifyTwilioSignature("https://example.com:443/x", PARAMS, sig, TOKEN)).toBe(false);
  });
});

describe("verifySvixSignature", () => {
  const BODY = JSON.stringify({
    type: "email.delivered",
    created_at: "2026-11-24T10:00:00.000Z",
    data: { email_id: "4ef9a417-02e9-4d39-ad75-9611e0fcc33c", subject: "Olá — 你好 👋" },
  });
  const MSG_ID = "msg_2pQ8k3Yc1fHq7bN0aXzT";
  const nowSeconds = () => Math.floor(Date.now() / 1000);

  /** svix-* headers as Svix sends them, signed by our Standard Webhooks signer (same algorithm). */
  async function svixHeaders(secret: string, timestamp = nowSeconds(), body = BODY) {
    const h = await signWebhook({ id: MSG_ID, timestamp, body, secrets: [secret] });
    return {
      "svix-id": h["webhook-id"] as string,
      "svix-timestamp": h["webhook-timestamp"] as string,
      "svix-signature": h["webhook-signature"] as string,
    };
  }

  it("accepts the right secret, from a Headers object or a record with any header case", async () => {
    const secret = generateWebhookSecret();
    const headers = await svixHeaders(secret);
    expect(await verifySvixSignature(BODY, headers, secret)).toEqual({ ok: true, id: MSG_ID });
    expect(await verifySvixSignature(BODY, new Headers(headers), secret)).toEqual({ ok: true, id: MSG_ID });
    const shouting = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
    expect(await verifySvixSignature(BODY, shouting, secret)).toEqual({ ok: true, id: MSG_ID });
  });

  it("accepts any one matching v1 signature in the list (secret rotation)", async () => {
    const [current, previous] = [generateWebhookSecret(), generateWebhookSecret()];
    const h = await signWebhook({
      id: MSG_ID,
      timestamp: nowSeconds(),
      body: BODY,
      secrets: [current, previous],
    });
    const headers = {
      "svix-id": MSG_ID,
      "svix-timestamp": h["webhook-timestamp"],
      "svix-signature": `v2,abc ${h["webhook-signature"]}`,
    };
    expect(await verifySvixSignature(BODY, headers, previous)).toEqual({ ok: true, id: MSG_ID });
    expect(await verifySvixSignature(BODY, headers, current)).toEqual({ ok: true, id: MSG_ID });
  });

  it("rejects one changed byte of the body, another id, and a wrong secret", async () => {
    const secret = generateWebhookSecret();
    const headers = await svixHeaders(secret);
    const tampered = BODY.replace("email.delivered", "email.delivereD");
    expect(tampered.length).toBe(BODY.length);
    expect(await verifySvixSignature(tampered, headers, secret)).toMatchObject({ ok: false });
    expect(await verifySvixSignature(BODY, { ...headers, "svix-id": "msg_other" }, secret)).toMatchObject({
      ok: false,
    });
    const wrong = await verifySvixSignature(BODY, headers, generateWebhookSecret());
    expect(wrong).toEqual({ ok: false, reason: expect.stringMatching(/signature/) });
  });

  it("rejects a timestamp older (or newer) than 5 minutes, and honours `now` and the tolerance", async () => {
    const secret = generateWebhookSecret();
    const stale = await svixHeaders(secret, nowSeconds() - 301);
    expect(await verifySvixSignature(BODY, stale, secret)).toEqual({
      ok: false,
      reason: expect.stringMatching(/too old/),
    });
    const future = await svixHeaders(secret, nowSeconds() + 301);
    expect(await verifySvixSignature(BODY, future, secret)).toEqual({
      ok: false,
      reason: expect.stringMatching(/future/),
    });
    const fixed = await svixHeaders(secret, 1_700_000_000);
    const at = (s: number) => new Date(s * 1000);
    expect(await verifySvixSignature(BODY, fixed, secret, { now: at(1_700_000_300) })).toMatchObject({
      ok: true,
    });
    expect(await verifySvixSignature(BODY, fixed, secret, { now: at(1_700_000_301) })).toMatchObject({
      ok: false,
    });
    expect(
      await verifySvixSignature(BODY, fixed, secret, { now: at(1_700_000_301), toleranceSeconds: 600 }),
    ).toMatchObject({ ok: true });
  });

  it("rejects missing or malformed headers without throwing", async () => {
    const secret = generateWebhookSecret();
    const good = await svixHeaders(secret);
    const sig = good["svix-signature"].slice(3);
    const variants: Record<string, string | undefined>[] = [
      {},
      { ...good, "svix-id": undefined },
      { ...good, "svix-timestamp": undefined },
      { ...good, "svix-signature": undefined },
      { ...good, "svix-signature": "" },
      { ...good, "svix-signature": sig }, // no version
      { ...good, "svix-signature": `v2,${sig}` },
      { ...good, "svix-signature": `v1=${sig}` },
      { ...good, "svix-signature": `v1,${sig.slice(1)}` },
      { ...good, "svix-timestamp": `${good["svix-timestamp"]}abc` },
      { ...good, "svix-timestamp": "-1" },
      { ...good, "svix-timestamp": "" },
    ];
    for (const headers of variants) {
      const result = await verifySvixSignature(BODY, headers, secret);
      expect(result.ok, JSON.stringify(headers)).toBe(false);
    }
    expect(await verifySvixSignature(BODY, new Headers(), secret)).toMatchObject({ ok: false });
  });

  it("refuses a malformed secret loudly (configuration, not a bad request)", async () => {
    const headers = await svixHeaders(generateWebhookSecret());
    await expect(verifySvixSignature(BODY, headers, "")).rejects.toThrow();
    await expect(verifySvixSignature(BODY, headers, "not-a-whsec-secret")).rejects.toThrow(/whsec_/);
  });
});
