import { Webhook } from "standardwebhooks";
import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import { generateWebhookSecret, SENDWIRE_SIGNATURE_HEADER, signWebhook } from "../../src/webhooks/sign";

// Runs in Node, where most receivers live: Stripe's synchronous constructEvent uses node:crypto (workerd
// only has the async SubtleCrypto path, covered in sign.test.ts), and standardwebhooks runs on Node too.

const BODY = JSON.stringify({
  id: "evt_01JNODE",
  type: "message.read",
  data: { text: "Olá 👋" },
  sequence: 7,
});
const TAMPERED = BODY.replace('"sequence":7', '"sequence":8');
const stripe = new Stripe("sk_test_unused");
const nowSeconds = () => Math.floor(Date.now() / 1000);

const verifiers: [string, (h: Record<string, string>, body: string, secret: string) => unknown][] = [
  ["standardwebhooks Webhook.verify", (h, body, secret) => new Webhook(secret).verify(body, h)],
  [
    "stripe webhooks.constructEvent",
    (h, body, secret) => stripe.webhooks.constructEvent(body, h[SENDWIRE_SIGNATURE_HEADER] ?? "", secret),
  ],
];

describe.each(verifiers)("%s (node)", (_name, verify) => {
  const sign = (secrets: string[], timestamp = nowSeconds()) =>
    signWebhook({ id: "evt_01JNODE", timestamp, body: BODY, secrets });

  it("accepts ours; rejects a changed byte, a wrong secret and a stale timestamp", async () => {
    expect(TAMPERED).not.toBe(BODY);
    const secret = generateWebhookSecret();
    const headers = await sign([secret]);
    expect(verify(headers, BODY, secret)).toMatchObject({ id: "evt_01JNODE" });
    expect(() => verify(headers, TAMPERED, secret)).toThrow();
    expect(() => verify(headers, BODY, generateWebhookSecret())).toThrow();
    const stale = await sign([secret], nowSeconds() - 301);
    expect(() => verify(stale, BODY, secret)).toThrow();
  });

  it("accepts either secret during a rotation", async () => {
    const [current, previous] = [generateWebhookSecret(), generateWebhookSecret()];
    const headers = await sign([current, previous]);
    expect(verify(headers, BODY, current)).toBeTruthy();
    expect(verify(headers, BODY, previous)).toBeTruthy();
    expect(() => verify(headers, BODY, generateWebhookSecret())).toThrow();
  });
});
