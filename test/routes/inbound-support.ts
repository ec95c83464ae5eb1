import { env } from "cloudflare:workers";
import { expect, vi } from "vitest";
import { twilioSignature } from "../../src/inbound/verify";
import { generateWebhookSecret } from "../../src/webhooks/secrets";
import { messagesWebhook } from "../domain/inbound/meta.fixtures";
import { fakeMeta, fakeResend, fakeTwilio } from "../fakes/client";
import { call, json, openCustomerWindow, type SeededKey, send, waitForMessage } from "../helpers";

/** Signing the way each provider signs its webhooks, for tests that play the provider. */

async function hmacSha256(key: Uint8Array, data: string): Promise<Uint8Array> {
  const cryptoKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, new TextEncoder().encode(data)));
}

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
const base64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

/** Meta: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>`. */
export async function metaSignature(appSecret: string, body: string): Promise<string> {
  return `sha256=${hex(await hmacSha256(new TextEncoder().encode(appSecret), body))}`;
}

/**
 * Svix (Resend), computed here rather than with src/webhooks/sign.ts so the route's verifier is not checked
 * against its own code: `v1,<base64 HMAC-SHA256 of "id.timestamp.body" with the base64 part of whsec_…>`. */
export async function svixHeaders(secret: string, id: string, body: string, at = new Date()) {
  const timestamp = String(Math.floor(at.getTime() / 1000));
  const key = Uint8Array.from(atob(secret.slice("whsec_".length)), (c) => c.charCodeAt(0));
  const signature = base64(await hmacSha256(key, `${id}.${timestamp}.${body}`));
  return { "svix-id": id, "svix-timestamp": timestamp, "svix-signature": `v1,${signature}` };
}

/** Resend's signing secrets have the same `whsec_` + base64 form as ours. */
export const newSvixSecret = generateWebhookSecret;

/** POSTs a Meta webhook body to a channel's URL, signed with `appSecret` (or with the given header). */
export async function postMeta(
  channelId: string,
  appSecret: string,
  payload: unknown,
  signature?: string | null,
) {
  const body = typeof payload === "string" ? payload : JSON.stringify(payload);
  const headers: Record<string, string> = { "content-type": "application/json" };
  const header = signature === undefined ? await metaSignature(appSecret, body) : signature;
  if (header !== null) headers["x-hub-signature-256"] = header;
  return call("POST", `/inbound/whatsapp/${channelId}`, { rawBody: body, headers });
}

/** POSTs Twilio form parameters to `/inbound/twilio/{channel}/{kind}`, signed as Twilio signs them. */
export async function postTwilio(
  channelId: string,
  authToken: string,
  kind: "status" | "messages",
  params: Record<string, string>,
  options: { tamper?: (form: string) => string; unsigned?: boolean } = {},
) {
  const path = `/inbound/twilio/${channelId}/${kind}`;
  const signature = await twilioSignature(`http://localhost${path}`, params, authToken);
  let form = new URLSearchParams(params).toString();
  if (options.tamper) form = options.tamper(form);
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  if (!options.unsigned) headers["x-twilio-signature"] = signature;
  return call("POST", path, { rawBody: form, headers });
}

export async function postResend(
  channelId: string,
  secret: string,
  svixId: string,
  event: unknown,
  options: { at?: Date; body?: string } = {},
) {
  const signed = JSON.stringify(event);
  const headers = {
    "content-type": "application/json",
    ...(await svixHeaders(secret, svixId, signed, options.at)),
  };
  return call("POST", `/inbound/resend/${channelId}`, { rawBody: options.body ?? signed, headers });
}

export async function connectChannel(live: SeededKey, body: Record<string, unknown>) {
  const res = await call("POST", "/v1/channels", { key: live.secret, body });
  expect(res.status, await res.clone().text()).toBe(201);
  return json<{ id: string; config: Record<string, string>; inbound_url: string }>(res);
}

export async function whatsAppChannel(live: SeededKey, templateStatus: "PENDING" | "APPROVED" = "APPROVED") {
  const meta = fakeMeta();
  const account = await meta.createAccount({ templateStatus });
  const channel = await connectChannel(live, {
    type: "whatsapp",
    name: "Main number",
    phone_number_id: account.phoneNumberId,
    waba_id: account.wabaId,
    access_token: account.accessToken,
    app_secret: account.appSecret,
  });
  return { meta, account, channel };
}

export async function smsChannel(live: SeededKey) {
  const twilio = fakeTwilio();
  const account = await twilio.createAccount();
  const channel = await connectChannel(live, {
    type: "sms",
    name: "SMS",
    account_sid: account.accountSid,
    auth_token: account.authToken,
    from: account.from,
  });
  return { twilio, account, channel };
}

export async function emailChannel(live: SeededKey, webhookSecret?: string) {
  const resend = fakeResend();
  const account = await resend.createAccount();
  const channel = await connectChannel(live, {
    type: "email",
    name: "Email",
    api_key: account.apiKey,
    from: account.from,
    ...(webhookSecret ? { webhook_secret: webhookSecret } : {}),
  });
  return { resend, account, channel };
}

/** Rows of a table for a tenant, straight from D1. */
export async function rowsOf<T = Record<string, unknown>>(sql: string, ...binds: unknown[]): Promise<T[]> {
  return (
    await env.DB.prepare(sql)
      .bind(...binds)
      .all<T>()
  ).results;
}

/** Polls `read` until `predicate` holds (vi.waitFor, bounded: 10 s) and returns that value. */
export function eventually<T>(read: () => Promise<T>, predicate: (value: T) => boolean, what: string) {
  return vi.waitFor(
    async () => {
      const value = await read();
      if (!predicate(value))
        throw new Error(`${what}: not reached; last ${JSON.stringify(value).slice(0, 500)}`);
      return value;
    },
    { timeout: 10_000, interval: 50 },
  );
}

/**
 * Free-form WhatsApp texts of a live tenant through its connected channel (the customer window opened as an
 * inbound message would), each waited for until `sent`: our ids and Meta's wamids.
 */
export async function sentWhatsAppTexts(live: SeededKey, recipients: string[]) {
  const sent: { id: string; wamid: string }[] = [];
  for (const to of recipients) {
    await openCustomerWindow(live.tenantId, to, new Date(), "live");
    const accepted = await json(await send(live.secret, { channel: "whatsapp", to, text: { body: "Oi!" } }));
    expect(accepted.id, JSON.stringify(accepted)).toMatch(/^msg_/);
    const message = await waitForMessage(live.secret, accepted.id, (m) => m.status === "sent");
    sent.push({ id: accepted.id, wamid: message.provider_message_id });
  }
  return sent;
}

/** A Meta `statuses` webhook of `count` receipts, the first ones for `wamids`. */
export function manyStatusesWebhook(count: number, wamids: string[], tag = crypto.randomUUID().slice(0, 8)) {
  const statuses = Array.from({ length: count }, (_, i) => ({
    id: wamids[i] ?? `wamid.HBgN${tag}${String(i).padStart(6, "0")}`,
    status: "delivered",
    timestamp: "1717171720",
    recipient_id: "5511987654321",
  }));
  return messagesWebhook({ statuses });
}
