import { Webhook } from "standardwebhooks";
import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import {
  generateWebhookSecret,
  SENDWIRE_SIGNATURE_HEADER,
  signWebhook,
  verifySendwireSignature,
  verifyStandardWebhook,
  WebhookVerificationError,
} from "../../src/webhooks/sign";

// A realistic envelope with non-ASCII text, so the signed bytes are UTF-8 and not just ASCII.
const BODY = JSON.stringify({
  id: "evt_01JABCDEF",
  type: "message.delivered",
  api_version: "2026-11-01",
  data: { text: "Olá — 你好 👋", to: "+14155550100" },
  sequence: 3,
});
const ID = "evt_01JABCDEF";

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** The same body with one ASCII byte changed (the sequence digit), so the length is unchanged. */
function tamper(body: string): string {
  const at = body.lastIndexOf("3");
  return `${body.slice(0, at)}4${body.slice(at + 1)}`;
}

/** Independent HMAC-SHA256 with crypto.subtle, so known vectors do not reuse the code under test. */
async function hmac(key: Uint8Array, message: string): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, new TextEncoder().encode(message)));
}
const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
const unb64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

describe("generateWebhookSecret", () => {
  it("is whsec_ + base64 of 32 random bytes", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const secret = generateWebhookSecret();
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(unb64(secret.slice("whsec_".length))).toHaveLength(32);
      seen.add(secret);
    }
    expect(seen.size).toBe(50);
  });
});

describe("signWebhook known vectors", () => {
  it("matches the published Standard Webhooks test vector", async () => {
    // The vector in the Standard Webhooks / Svix reference libraries' tests.
    const headers = await signWebhook({
      id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
      timestamp: 1614265330,
      body: '{"test": 2432232314}',
      secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    });
    expect(headers["webhook-signature"]).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("signs both schemes exactly as specified, current secret first during a rotation", async () => {
    const current = generateWebhookSecret();
    const previous = generateWebhookSecret();
    const timestamp = 1_750_000_000;
    const headers = await signWebhook({ id: ID, timestamp, body: BODY, secrets: [current, previous] });

    const std = async (s: string) => b64(await hmac(unb64(s.slice(6)), `${ID}.${timestamp}.${BODY}`));
    const sw = async (s: string) => hex(await hmac(new TextEncoder().encode(s), `${timestamp}.${BODY}`));
    expect(headers).toEqual({
      "webhook-id": ID,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": `v1,${await std(current)} v1,${await std(previous)}`,
      [SENDWIRE_SIGNATURE_HEADER]: `t=${timestamp},v1=${await sw(current)},v1=${await sw(previous)}`,
    });
    expect(SENDWIRE_SIGNATURE_HEADER).toBe("Sendwire-Signature");

    const single = await signWebhook({ id: ID, timestamp, body: BODY, secrets: [current] });
    expect(single["webhook-signature"]).toBe(`v1,${await std(current)}`);
    expect(single[SENDWIRE_SIGNATURE_HEADER]).toBe(`t=${timestamp},v1=${await sw(current)}`);
  });

  it("refuses malformed input instead of signing with a wrong key", async () => {
    const good = { id: ID, timestamp: 1_750_000_000, body: BODY, secrets: [generateWebhookSecret()] };
    for (const secrets of [
      [],
      ["sw_live_notawebhooksecret"],
      ["whsec_"],
      ["whsec_c2hvcnQ="], // 5 bytes
      [`whsec_${"A".repeat(42)} =`], // whitespace
      [`whsec_${b64(new Uint8Array(65))}`], // too long
    ]) {
      await expect(signWebhook({ ...good, secrets })).rejects.toThrow(/secret/);
    }
    await expect(signWebhook({ ...good, timestamp: 1_750_000_000_123 / 1000 })).rejects.toThrow(/unix/);
    await expect(signWebhook({ ...good, id: "" })).rejects.toThrow(/id/);
    await expect(signWebhook({ ...good, id: "evt 1" })).rejects.toThrow(/id/);
  });
});

/**
 * Each verifier (ours and the two receiver libraries) gets the headers we produced and must accept them,
 * and must reject one changed body byte, a wrong secret and a timestamp older than five minutes.
 */
type Verify = (headers: Record<string, string>, body: string, secret: string) => Promise<unknown>;

const stripe = new Stripe("sk_test_unused");
const subtle = Stripe.createSubtleCryptoProvider();

const verifiers: [string, Verify][] = [
  ["verifyStandardWebhook", (h, body, secret) => verifyStandardWebhook(h, body, secret)],
  [
    "verifySendwireSignature",
    (h, body, secret) => verifySendwireSignature(h[SENDWIRE_SIGNATURE_HEADER], body, secret),
  ],
  ["standardwebhooks Webhook.verify", async (h, body, secret) => new Webhook(secret).verify(body, h)],
  [
    "stripe webhooks.constructEventAsync",
    (h, body, secret) =>
      stripe.webhooks.constructEventAsync(
        body,
        h[SENDWIRE_SIGNATURE_HEADER] ?? "",
        secret,
        undefined,
        subtle,
      ),
  ],
];

describe.each(verifiers)("%s", (_name, verify) => {
  const sign = (secrets: string[], timestamp = nowSeconds(), body = BODY) =>
    signWebhook({ id: ID, timestamp, body, secrets });

  it("accepts our signature", async () => {
    const secret = generateWebhookSecret();
    await expect(verify(await sign([secret]), BODY, secret)).resolves.toBeTruthy();
    // Still inside the five-minute window.
    await expect(verify(await sign([secret], nowSeconds() - 240), BODY, secret)).resolves.toBeTruthy();
  });

  it("rejects one changed body byte", async () => {
    const secret = generateWebhookSecret();
    const tampered = tamper(BODY);
    expect(tampered).not.toBe(BODY);
    expect(tampered).toHaveLength(BODY.length);
    await expect(verify(await sign([secret]), tampered, secret)).rejects.toThrow();
  });

  it("rejects a wrong secret", async () => {
    const headers = await sign([generateWebhookSecret()]);
    await expect(verify(headers, BODY, generateWebhookSecret())).rejects.toThrow();
  });

  it("rejects a timestamp older than five minutes", async () => {
    const secret = generateWebhookSecret();
    await expect(verify(await sign([secret], nowSeconds() - 301), BODY, secret)).rejects.toThrow();
    await expect(verify(await sign([secret], nowSeconds() - 3600), BODY, secret)).rejects.toThrow();
  });

  it("accepts either secret during a rotation, and neither after it", async () => {
    const current = generateWebhookSecret();
    const previous = generateWebhookSecret();
    const headers = await sign([current, previous]);
    await expect(verify(headers, BODY, current)).resolves.toBeTruthy();
    await expect(verify(headers, BODY, previous)).resolves.toBeTruthy();
    await expect(verify(headers, BODY, generateWebhookSecret())).rejects.toThrow();
    await expect(verify(headers, tamper(BODY), previous)).rejects.toThrow();
  });
});

describe("our verifiers", () => {
  const secret = generateWebhookSecret();
  const timestamp = 1_750_000_000;
  const at = (seconds: number) => ({ now: new Date(seconds * 1000) });

  it("take the clock and tolerance from options, refusing future timestamps too", async () => {
    const h = await signWebhook({ id: ID, timestamp, body: BODY, secrets: [secret] });
    const sw = h[SENDWIRE_SIGNATURE_HEADER];
    for (const offset of [-300, 0, 300]) {
      await expect(verifyStandardWebhook(h, BODY, secret, at(timestamp + offset))).resolves.toBe(true);
      await expect(verifySendwireSignature(sw, BODY, secret, at(timestamp + offset))).resolves.toBe(true);
    }
    for (const offset of [-301, 301]) {
      await expect(verifyStandardWebhook(h, BODY, secret, at(timestamp + offset))).rejects.toThrow(
        WebhookVerificationError,
      );
      await expect(verifySendwireSignature(sw, BODY, secret, at(timestamp + offset))).rejects.toThrow(
        /too (old|far)/,
      );
    }
    const wide = { ...at(timestamp + 900), toleranceSeconds: 1000 };
    await expect(verifyStandardWebhook(h, BODY, secret, wide)).resolves.toBe(true);
    await expect(verifySendwireSignature(sw, BODY, secret, wide)).resolves.toBe(true);
  });

  it("read headers case-insensitively, from a Headers object or a record", async () => {
    const h = await signWebhook({ id: ID, timestamp, body: BODY, secrets: [secret] });
    const upper = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toUpperCase(), v]));
    await expect(verifyStandardWebhook(upper, BODY, secret, at(timestamp))).resolves.toBe(true);
    await expect(verifyStandardWebhook(new Headers(h), BODY, secret, at(timestamp))).resolves.toBe(true);
  });

  it("reject tampered or malformed headers with a WebhookVerificationError", async () => {
    const h = await signWebhook({ id: ID, timestamp, body: BODY, secrets: [secret] });
    const sw = h[SENDWIRE_SIGNATURE_HEADER] ?? "";
    const std = (patch: Record<string, string | undefined>) =>
      verifyStandardWebhook({ ...h, ...patch }, BODY, secret, at(timestamp));
    const cases = [
      () => std({ "webhook-id": "evt_other" }), // the id is signed
      () => std({ "webhook-timestamp": String(timestamp + 1) }), // so is the timestamp
      () => std({ "webhook-timestamp": `${timestamp}abc` }),
      () => std({ "webhook-timestamp": undefined }),
      () => std({ "webhook-signature": undefined }),
      () => std({ "webhook-signature": (h["webhook-signature"] ?? "").replace("v1,", "v2,") }),
      () => verifySendwireSignature(undefined, BODY, secret, at(timestamp)),
      () =>
        verifySendwireSignature(
          sw.replace(`t=${timestamp}`, `t=${timestamp + 1}`),
          BODY,
          secret,
          at(timestamp),
        ),
      () => verifySendwireSignature(`${sw},t=${timestamp}`, BODY, secret, at(timestamp)), // two timestamps
      () => verifySendwireSignature(`t=${timestamp}`, BODY, secret, at(timestamp)),
      () => verifySendwireSignature(sw.replace("v1=", "v0="), BODY, secret, at(timestamp)),
      () => verifySendwireSignature(sw.toUpperCase().replace("T=", "t="), BODY, secret, at(timestamp)),
    ];
    for (const run of cases) await expect(run()).rejects.toThrow(WebhookVerificationError);
  });

  it("throw a plain configuration error for a secret that is not a webhook secret", async () => {
    const h = await signWebhook({ id: ID, timestamp, body: BODY, secrets: [secret] });
    await expect(verifyStandardWebhook(h, BODY, "sw_live_x", at(timestamp))).rejects.toThrow(/whsec_/);
    await expect(
      verifySendwireSignature(h[SENDWIRE_SIGNATURE_HEADER], BODY, "sw_live_x", at(timestamp)),
    ).rejects.toThrow(/whsec_/);
  });
});
