import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { customerMessage, inboundWebhook } from "../domain/inbound/meta.fixtures";
import { resendEvent } from "../domain/inbound/resend.fixtures";
import { inboundSms, statusCallback } from "../domain/inbound/twilio.fixtures";
import { call, expectError, type SeededKey, seedTenant } from "../helpers";
import {
  emailChannel,
  metaSignature,
  newSvixSecret,
  smsChannel,
  svixHeaders,
  whatsAppChannel,
} from "../routes/inbound-support";
import { count, described, flipOneByte, rows, twilioSignature, until } from "./support";

/**
 * Forged and replayed provider webhooks. Each provider URL names a channel and is checked against that
 * channel's secret on the raw bytes: unsigned, signed with a wrong secret or another channel's, one byte
 * changed, or (Svix) signed too long ago → 401 inbound_signature_invalid and nothing stored. A valid request
 * sent again (a provider's redelivery, or someone replaying a captured one) stores nothing new and changes
 * nothing.
 */

interface Item {
  body: string;
  /** A substring of the body whose last byte the tampering test flips. */
  flip: string;
  /** Svix message id (Resend); unused by the others. */
  id: string;
}

interface Side {
  tenantId: string;
  channelId: string;
  secret: string;
  /** Twilio's channel fields the bodies name. */
  accountSid?: string;
  from?: string;
}

interface Provider {
  name: string;
  path: (channelId: string) => string;
  contentType: string;
  /** Acknowledges with `{received, stored}` JSON (Twilio's incoming-message route answers TwiML). */
  json: boolean;
  fresh: (side: Side) => Item;
  /** A secret of the right shape that is not the channel's. */
  wrongSecret: () => string;
  sign: (secret: string, path: string, item: Item, at?: Date) => Promise<Record<string, string>>;
}

const uid = () => crypto.randomUUID().replaceAll("-", "");

const meta: Provider = {
  name: "Meta (X-Hub-Signature-256)",
  path: (id) => `/inbound/whatsapp/${id}`,
  contentType: "application/json",
  json: true,
  fresh: () => ({
    body: JSON.stringify(
      inboundWebhook(customerMessage("text", { body: "Olá, e o pedido 4521?" }, { id: `wamid.${uid()}` })),
    ),
    flip: "pedido 4521",
    id: "",
  }),
  wrongSecret: () => `app-secret-${uid()}`,
  sign: async (secret, _path, item) => ({ "x-hub-signature-256": await metaSignature(secret, item.body) }),
};

/** Twilio signs the URL it called (PUBLIC_BASE_URL + path) and the sorted form parameters. */
const twilioSign: Provider["sign"] = async (secret, path, item) => ({
  "x-twilio-signature": await twilioSignature(
    secret,
    `${env.PUBLIC_BASE_URL}${path}`,
    Object.fromEntries(new URLSearchParams(item.body)),
  ),
});

const twilioStatus: Provider = {
  name: "Twilio status callback (X-Twilio-Signature)",
  path: (id) => `/inbound/twilio/${id}/status`,
  contentType: "application/x-www-form-urlencoded",
  json: true,
  fresh: (side) => {
    const sid = `SM${uid()}`;
    const params = statusCallback("delivered", {
      MessageSid: sid,
      SmsSid: sid,
      AccountSid: side.accountSid ?? "",
    });
    return { body: new URLSearchParams(params).toString(), flip: "delivered", id: "" };
  },
  wrongSecret: uid,
  sign: twilioSign,
};

const twilioIncoming: Provider = {
  name: "Twilio incoming SMS (X-Twilio-Signature)",
  path: (id) => `/inbound/twilio/${id}/messages`,
  contentType: "application/x-www-form-urlencoded",
  json: false,
  fresh: (side) => {
    const sid = `SM${uid()}`;
    const params = {
      ...inboundSms,
      AccountSid: side.accountSid ?? "",
      To: side.from ?? "",
      From: "+5511955554444",
      MessageSid: sid,
      SmsMessageSid: sid,
      SmsSid: sid,
      Body: "pedido 4521",
    };
    return { body: new URLSearchParams(params).toString(), flip: "4521", id: "" };
  },
  wrongSecret: uid,
  sign: twilioSign,
};

const resend: Provider = {
  name: "Resend (Svix)",
  path: (id) => `/inbound/resend/${id}`,
  contentType: "application/json",
  json: true,
  fresh: () => ({
    body: JSON.stringify(
      resendEvent("email.delivered", { email_id: crypto.randomUUID() }, new Date().toISOString()),
    ),
    flip: "email.delivered",
    id: `msg_${uid()}`,
  }),
  wrongSecret: newSvixSecret,
  sign: (secret, _path, item, at) => svixHeaders(secret, item.id, item.body, at),
};

function post(provider: Provider, channelId: string, body: string, headers: Record<string, string>) {
  return call("POST", provider.path(channelId), {
    rawBody: body,
    headers: { "content-type": provider.contentType, ...headers },
  });
}

/** What an inbound webhook can change for a tenant: every table it writes, with the inbound items' states. */
async function footprint(side: Side) {
  const tables = ["inbound_events", "inbound_messages", "conversations", "contacts", "events", "messages"];
  const counts = await Promise.all(
    tables.map((table) => count(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = ?`, side.tenantId)),
  );
  return {
    counts: Object.fromEntries(tables.map((table, i) => [table, counts[i]])),
    items: await rows(
      "SELECT id, state FROM inbound_events WHERE channel_id = ? ORDER BY id",
      side.channelId,
    ),
    jobs: await count(
      "SELECT count(*) AS n FROM outbox WHERE kind = 'inbound' AND subject_id = ?",
      side.channelId,
    ),
  };
}

const storedFor = (side: Side) =>
  count("SELECT count(*) AS n FROM inbound_events WHERE channel_id = ?", side.channelId);

/** Waits until the channel's stored items are processed (no pending item, no inbound job left). */
function settled(side: Side) {
  return until(
    () => footprint(side),
    (f) => f.jobs === 0 && f.items.every((item) => item.state !== "pending"),
    `inbound items of ${side.channelId} processed`,
  );
}

describe("promise: a forged or replayed provider webhook stores nothing and changes nothing", () => {
  let victimKey: SeededKey;
  let attackerKey: SeededKey;
  const sides = new Map<string, { victim: Side; attacker: Side }>();

  beforeAll(async () => {
    [victimKey, attackerKey] = await Promise.all([
      seedTenant({ environment: "live", name: "victim" }),
      seedTenant({ environment: "live", name: "attacker" }),
    ]);
    const whatsapp = async (key: SeededKey): Promise<Side> => {
      const { account, channel } = await whatsAppChannel(key);
      return { tenantId: key.tenantId, channelId: channel.id, secret: account.appSecret };
    };
    const sms = async (key: SeededKey): Promise<Side> => {
      const { account, channel } = await smsChannel(key);
      return {
        tenantId: key.tenantId,
        channelId: channel.id,
        secret: account.authToken,
        accountSid: account.accountSid,
        from: account.from as string,
      };
    };
    const email = async (key: SeededKey): Promise<Side> => {
      const secret = newSvixSecret();
      const { channel } = await emailChannel(key, secret);
      return { tenantId: key.tenantId, channelId: channel.id, secret };
    };
    const [wa1, wa2, sms1, sms2, em1, em2] = await Promise.all([
      whatsapp(victimKey),
      whatsapp(attackerKey),
      sms(victimKey),
      sms(attackerKey),
      email(victimKey),
      email(attackerKey),
    ]);
    sides.set(meta.name, { victim: wa1, attacker: wa2 });
    sides.set(twilioStatus.name, { victim: sms1, attacker: sms2 });
    // Twilio's two routes on two victim channels, so that what one test stores is not counted by the other.
    sides.set(twilioIncoming.name, { victim: await sms(victimKey), attacker: sms2 });
    sides.set(resend.name, { victim: em1, attacker: em2 });
  });

  function sidesOf(provider: Provider) {
    const found = sides.get(provider.name);
    if (!found) throw new Error(`no channels for ${provider.name}`);
    return found;
  }

  describe.each([meta, twilioStatus, twilioIncoming, resend])("$name", (provider) => {
    it("refuses unsigned, wrongly signed, another channel's and tampered requests with 401, storing nothing", async () => {
      const { victim, attacker } = sidesOf(provider);
      const item = provider.fresh(victim);
      const path = provider.path(victim.channelId);
      const valid = await provider.sign(victim.secret, path, item);
      const forged: [string, string, Record<string, string>][] = [
        ["unsigned", item.body, {}],
        ["an empty signature", item.body, Object.fromEntries(Object.keys(valid).map((h) => [h, ""]))],
        ["a wrong secret", item.body, await provider.sign(provider.wrongSecret(), path, item)],
        [
          "another channel's secret, for that channel's URL",
          item.body,
          await provider.sign(attacker.secret, provider.path(attacker.channelId), item),
        ],
        ["one flipped byte", flipOneByte(item.body, item.flip), valid],
      ];
      for (const [what, body, headers] of forged) {
        const error = await expectError(
          await post(provider, victim.channelId, body, headers),
          401,
          "inbound_signature_invalid",
        );
        expect(error.message, what).toContain("Nothing was stored");
      }
      // The victim's valid request is no good on the attacker's channel either.
      await expectError(
        await post(provider, attacker.channelId, item.body, valid),
        401,
        "inbound_signature_invalid",
      );
      expect(await storedFor(victim)).toBe(0);
      expect(await storedFor(attacker)).toBe(0);
    });

    it("a valid request sent again stores nothing new and changes nothing", async () => {
      const { victim } = sidesOf(provider);
      const item = provider.fresh(victim);
      const headers = await provider.sign(victim.secret, provider.path(victim.channelId), item);
      const first = await described(await post(provider, victim.channelId, item.body, headers));
      expect(first.status, first.text).toBe(200);
      if (provider.json) expect(JSON.parse(first.text)).toEqual({ received: true, stored: 1 });
      const before = await settled(victim);
      expect(before.items).toHaveLength(1);

      for (let i = 0; i < 3; i++) {
        const again = await described(await post(provider, victim.channelId, item.body, headers));
        expect(again.status, again.text).toBe(200);
        if (provider.json) expect(JSON.parse(again.text)).toEqual({ received: true, stored: 0 });
        else expect(again.text).toBe(first.text);
      }
      expect(await settled(victim)).toEqual(before);
    });
  });

  it("Svix: a valid signature with a timestamp over 5 minutes old or ahead is refused and stores nothing", async () => {
    const { victim } = sidesOf(resend);
    const before = await storedFor(victim);
    for (const offsetMs of [-6 * 60_000, 6 * 60_000, -24 * 3600_000]) {
      const item = resend.fresh(victim);
      const headers = await resend.sign(victim.secret, "", item, new Date(Date.now() + offsetMs));
      await expectError(
        await post(resend, victim.channelId, item.body, headers),
        401,
        "inbound_signature_invalid",
      );
    }
    // A captured request replayed once its timestamp is stale: refused too, though it was valid when sent.
    const item = resend.fresh(victim);
    const stale = await resend.sign(victim.secret, "", item, new Date(Date.now() - 10 * 60_000));
    await expectError(
      await post(resend, victim.channelId, item.body, stale),
      401,
      "inbound_signature_invalid",
    );
    // The id is signed: the same signature under another svix-id is refused.
    const fresh = await resend.sign(victim.secret, "", item);
    await expectError(
      await post(resend, victim.channelId, item.body, { ...fresh, "svix-id": `msg_${uid()}` }),
      401,
      "inbound_signature_invalid",
    );
    expect(await storedFor(victim)).toBe(before);
  });
});
