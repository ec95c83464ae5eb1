import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import {
  audioMessage,
  buttonReplyMessage,
  deliveredStatus,
  documentMessage,
  failedStatus,
  imageMessage,
  inboundWebhook,
  listReplyMessage,
  locationMessage,
  messagesWebhook,
  quickReplyMessage,
  reactionMessage,
  readStatus,
  replyTextMessage,
  sentStatus,
  templateStatusWebhook,
  textMessage,
} from "../domain/inbound/meta.fixtures";
import { permanentBounce, resendEvent } from "../domain/inbound/resend.fixtures";
import { inboundSms, statusCallback } from "../domain/inbound/twilio.fixtures";
import { call, expectError, json, liveTenant, runCron, send, waitForMessage } from "../helpers";
import {
  connectChannel,
  emailChannel,
  eventually,
  metaSignature,
  newSvixSecret,
  postMeta,
  postResend,
  postTwilio,
  rowsOf,
  smsChannel,
  whatsAppChannel,
} from "./inbound-support";

const TO = "+5511987654321";
const TO_DIGITS = "5511987654321";

/** A live WhatsApp send through the fake Meta, once `sent`: its id and Meta's wamid. */
async function sentWhatsApp(key: string, to = TO) {
  await call("POST", "/v1/templates", {
    key,
    body: { name: "hello_world", language: "en_US", category: "utility", body: "Hello!" },
  });
  const accepted = await json(
    await send(key, {
      channel: "whatsapp",
      to,
      template: { name: "hello_world", language: "en_US", variables: {} },
    }),
  );
  expect(accepted.id, JSON.stringify(accepted)).toMatch(/^msg_/);
  // Sent, or already past it (a receipt that overtook the send is applied as soon as the wamid is recorded).
  const sent = await waitForMessage(key, accepted.id, (m) => m.provider_message_id !== null);
  return { id: accepted.id as string, wamid: sent.provider_message_id as string };
}

const statusesWebhook = (...statuses: Record<string, unknown>[]) => messagesWebhook({ statuses });
const eventsOf = (subjectId: string) =>
  rowsOf<{ type: string }>("SELECT type FROM events WHERE subject_id = ? ORDER BY sequence", subjectId);

describe("Meta WhatsApp webhooks", () => {
  it("answers the verification handshake only with the channel's verify token", async () => {
    const live = await liveTenant();
    const { channel } = await whatsAppChannel(live);
    expect(channel.config.verify_token).toMatch(/^vt_/);
    const url = (token: string) =>
      `/inbound/whatsapp/${channel.id}?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(token)}&hub.challenge=1158201444`;
    const ok = await call("GET", url(channel.config.verify_token as string));
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("1158201444");
    await expectError(await call("GET", url("wrong-token")), 403, "inbound_verify_token_mismatch");
    await expectError(
      await call(
        "GET",
        url(channel.config.verify_token as string).replace("mode=subscribe", "mode=unsubscribe"),
      ),
      403,
      "inbound_verify_token_mismatch",
    );
    // A token the tenant chose is kept as given; one with spaces or too short is refused.
    const mine = await connectChannel(live, {
      type: "whatsapp",
      name: "Second",
      phone_number_id: "106540352242923",
      waba_id: "102290129340398",
      access_token: "EAAG-token-second",
      app_secret: "second-app-secret",
      verify_token: "my-own-token-42",
    });
    expect(mine.config.verify_token).toBe("my-own-token-42");
    for (const verify_token of ["short", "has spaces in it"]) {
      await expectError(
        await call("POST", "/v1/channels", {
          key: live.secret,
          body: {
            ...{ type: "whatsapp", name: "x", phone_number_id: "106540352242924" },
            waba_id: "102290129340398",
            access_token: "EAAG-token-x",
            app_secret: "x-app-secret",
            verify_token,
          },
        }),
        400,
        "validation_error",
      );
    }
    await expectError(
      await call("GET", `/inbound/whatsapp/chn_01jd3x6n2m8q4v7w9y0z1a2b3c?hub.mode=subscribe`),
      404,
      "resource_not_found",
    );
  });

  it("accepts a signed body, refuses a missing or wrong signature and one changed byte, storing nothing", async () => {
    const live = await liveTenant();
    const { account, channel } = await whatsAppChannel(live);
    const { id, wamid } = await sentWhatsApp(live.secret);
    const body = JSON.stringify(statusesWebhook({ ...deliveredStatus, id: wamid, recipient_id: TO_DIGITS }));
    const stored = () => rowsOf("SELECT id FROM inbound_events WHERE channel_id = ?", channel.id);

    await expectError(
      await postMeta(channel.id, account.appSecret, body, null),
      401,
      "inbound_signature_invalid",
    );
    await expectError(
      await postMeta(channel.id, account.appSecret, body, "sha256=deadbeef"),
      401,
      "inbound_signature_invalid",
    );
    const signature = await metaSignature(account.appSecret, body);
    const tampered = body.replace('"delivered"', '"delivereD"');
    await expectError(
      await postMeta(channel.id, account.appSecret, tampered, signature),
      401,
      "inbound_signature_invalid",
    );
    await expectError(
      await postMeta(channel.id, "another-app-secret", body),
      401,
      "inbound_signature_invalid",
    );
    expect(await stored()).toHaveLength(0);
    // Signed but not Meta's format: a 400 the sender can act on, still nothing stored.
    await expectError(
      await postMeta(channel.id, account.appSecret, "not json"),
      400,
      "inbound_payload_invalid",
    );
    await expectError(
      await postMeta(channel.id, account.appSecret, { object: "page", entry: "x" }),
      400,
      "inbound_payload_invalid",
    );
    expect(await stored()).toHaveLength(0);

    const res = await postMeta(channel.id, account.appSecret, body);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ received: true, stored: 1 });
    const message = await waitForMessage(live.secret, id, (m) => m.status === "delivered");
    expect(message.timestamps.delivered).toBe(new Date(1717171720 * 1000).toISOString());

    // The same callback again (Meta redelivers) stores and changes nothing, and queues no work.
    const jobs = () => rowsOf("SELECT id FROM outbox WHERE kind = 'inbound' AND subject_id = ?", channel.id);
    await eventually(jobs, (rows) => rows.length === 0, "the first job done");
    expect(await json(await postMeta(channel.id, account.appSecret, body))).toEqual({
      received: true,
      stored: 0,
    });
    expect(await stored()).toHaveLength(1);
    expect(await jobs()).toHaveLength(0);
  });

  it("statuses arriving in every order, each twice, end in the furthest state with every timestamp kept", async () => {
    const live = await liveTenant();
    const { account, channel } = await whatsAppChannel(live);
    const three = [sentStatus, deliveredStatus, readStatus];
    const orders = three.flatMap((first) =>
      three
        .filter((s) => s !== first)
        .flatMap((second) => [[first, second, ...three.filter((s) => s !== first && s !== second)]]),
    );
    expect(orders).toHaveLength(6);
    for (const order of orders) {
      const { id, wamid } = await sentWhatsApp(live.secret);
      for (const status of [...order, ...order.slice().reverse()]) {
        const res = await postMeta(channel.id, account.appSecret, statusesWebhook({ ...status, id: wamid }));
        expect(res.status).toBe(200);
      }
      const message = await waitForMessage(
        live.secret,
        id,
        (m) => m.status === "read" && m.timestamps.sent === new Date(1717171717 * 1000).toISOString(),
      );
      expect(message.timestamps).toMatchObject({
        delivered: new Date(1717171720 * 1000).toISOString(),
        read: new Date(1717171790 * 1000).toISOString(),
      });
      // Each forward move is one event, never repeated; a late delivered after read is no event.
      const types = (await eventsOf(id)).map((e) => e.type);
      expect(types.filter((t) => t === "message.read")).toHaveLength(1);
      expect(types.filter((t) => t === "message.delivered").length).toBeLessThanOrEqual(1);
      expect(types.indexOf("message.read")).toBe(types.length - 1);
    }
  });

  it("a failed status fails the message with Meta's code and refunds it; a later delivered changes nothing", async () => {
    const live = await liveTenant();
    const { account, channel } = await whatsAppChannel(live);
    const { id, wamid } = await sentWhatsApp(live.secret);
    await postMeta(channel.id, account.appSecret, statusesWebhook({ ...failedStatus, id: wamid }));
    const failed = await waitForMessage(live.secret, id, (m) => m.status === "failed");
    expect(failed.error.code).toBe("131026");
    expect(failed.cost).toBe("0.0000");
    await postMeta(channel.id, account.appSecret, statusesWebhook({ ...deliveredStatus, id: wamid }));
    await eventually(
      () =>
        rowsOf<{ state: string }>(
          "SELECT state FROM inbound_events WHERE channel_id = ? ORDER BY id",
          channel.id,
        ),
      (rows) => rows.length === 2 && rows.every((r) => r.state !== "pending"),
      "both receipts processed",
    );
    expect((await json(await call("GET", `/v1/messages/${id}`, { key: live.secret }))).status).toBe("failed");
  });

  it("a receipt that overtakes the send is held, then applied as soon as the send records its wamid", async () => {
    const live = await liveTenant();
    const { meta, account, channel } = await whatsAppChannel(live);
    const early = `wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEkVBUkxZ${crypto.randomUUID().slice(0, 8)}AA==`;
    await postMeta(channel.id, account.appSecret, statusesWebhook({ ...deliveredStatus, id: early }));
    const [held] = await eventually(
      () =>
        rowsOf<{ state: string; hold_until: number }>(
          "SELECT state, hold_until FROM inbound_events WHERE channel_id = ?",
          channel.id,
        ),
      (rows) => rows[0]?.state === "held",
      "receipt held",
    );
    expect(held?.hold_until).toBeGreaterThan(Date.now() + 71 * 3_600_000);

    // Meta answers the send with exactly that wamid (its webhook beat our record of the send).
    await meta.script(
      account.scope,
      [
        {
          status: 200,
          body: {
            messaging_product: "whatsapp",
            contacts: [{ input: TO, wa_id: TO_DIGITS }],
            messages: [{ id: early }],
          },
        },
      ],
      { path: "/messages" },
    );
    const { id } = await sentWhatsApp(live.secret); // no cron tick in between
    const message = await waitForMessage(live.secret, id, (m) => m.status === "delivered");
    expect(message.provider_message_id).toBe(early);
  });

  it("the minute cron applies a held receipt whose message appeared without waking it, and expires old ones", async () => {
    const live = await liveTenant();
    const { account, channel } = await whatsAppChannel(live);
    const { id } = await sentWhatsApp(live.secret);
    const lost = `wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEkxPU1Qw${crypto.randomUUID().slice(0, 8)}AA==`;
    const stray = `wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYElNUUkFZ${crypto.randomUUID().slice(0, 8)}AA==`;
    await postMeta(channel.id, account.appSecret, statusesWebhook({ ...deliveredStatus, id: lost }));
    await postMeta(channel.id, account.appSecret, statusesWebhook({ ...deliveredStatus, id: stray }));
    const states = () =>
      rowsOf<{ provider_message_id: string; state: string }>(
        "SELECT provider_message_id, state FROM inbound_events WHERE channel_id = ? ORDER BY provider_message_id",
        channel.id,
      );
    await eventually(states, (rows) => rows.length === 2 && rows.every((r) => r.state === "held"), "held");
    // The message comes to carry that wamid without the send's wake-up (as if its job were lost).
    await rowsOf("UPDATE messages SET provider_message_id = ? WHERE id = ?", lost, id);
    await runCron();
    await waitForMessage(live.secret, id, (m) => m.status === "delivered");
    await runCron(Date.now() + 73 * 3_600_000);
    expect(Object.fromEntries((await states()).map((r) => [r.provider_message_id, r.state]))).toEqual({
      [lost]: "applied",
      [stray]: "expired",
    });
  });

  it("a customer's message opens the 24-hour window: a refused free-form send is accepted, and refused again a day later", async () => {
    const live = await liveTenant();
    const { account, channel } = await whatsAppChannel(live);
    const customer = "+5511912345678";
    await expectError(
      await send(live.secret, { channel: "whatsapp", to: customer, text: { body: "Oi!" } }),
      422,
      "outside_customer_window",
    );
    const now = Math.floor(Date.now() / 1000);
    const incoming = messagesWebhook({
      contacts: [{ profile: { name: "Carla" }, wa_id: customer.slice(1) }],
      messages: [
        {
          ...textMessage,
          from: customer.slice(1),
          id: `wamid.${crypto.randomUUID()}`,
          timestamp: String(now),
        },
      ],
    });
    expect((await postMeta(channel.id, account.appSecret, incoming)).status).toBe(200);

    const [conversation] = await eventually(
      async () =>
        (await json(await call("GET", "/v1/conversations?channel=whatsapp", { key: live.secret }))).data,
      (data: any[]) => data.length === 1,
      "conversation created",
    );
    expect(conversation).toMatchObject({
      object: "conversation",
      channel: "whatsapp",
      address: customer,
      customer_window: {
        applies: true,
        open: true,
        expires_at: new Date((now + 86_400) * 1000).toISOString(),
      },
    });
    const accepted = await send(live.secret, { channel: "whatsapp", to: customer, text: { body: "Oi!" } });
    expect(accepted.status).toBe(202);

    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime((now + 86_400) * 1000 + 1000);
      await expectError(
        await send(live.secret, { channel: "whatsapp", to: customer, text: { body: "Ainda aí?" } }),
        422,
        "outside_customer_window",
      );
      const later = await json(
        await call("GET", `/v1/conversations/${conversation.id}`, { key: live.secret }),
      );
      expect(later.customer_window.open).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it("a reply to one of our messages becomes message.received with reply_to, in the conversation with our message", async () => {
    const live = await liveTenant();
    const { account, channel } = await whatsAppChannel(live);
    const { id, wamid } = await sentWhatsApp(live.secret);
    const reply = {
      ...replyTextMessage,
      id: `wamid.${crypto.randomUUID()}`,
      context: { from: "15550783881", id: wamid },
    };
    await postMeta(channel.id, account.appSecret, inboundWebhook(reply));
    const [received] = await eventually(
      () =>
        rowsOf<{ data: string }>(
          "SELECT data FROM events WHERE tenant_id = ? AND type = 'message.received'",
          live.tenantId,
        ),
      (rows) => rows.length === 1,
      "message.received",
    );
    const data = JSON.parse(received?.data ?? "{}");
    expect(data).toMatchObject({
      object: "inbound_message",
      direction: "inbound",
      channel: "whatsapp",
      channel_id: channel.id,
      from: TO,
      profile_name: "Ana Souza",
      reply_to: { message_id: id },
      content: { type: "text" },
    });
    const page = await json(
      await call("GET", `/v1/conversations/${data.conversation_id}/messages?limit=1`, { key: live.secret }),
    );
    expect(page.data.map((m: any) => m.id)).toEqual([data.id]);
    const rest = await json(
      await call("GET", `/v1/conversations/${data.conversation_id}/messages?cursor=${page.next_cursor}`, {
        key: live.secret,
      }),
    );
    expect(rest.data.map((m: any) => [m.id, m.direction])).toEqual([[id, "outbound"]]);
    expect(rest.next_cursor).toBeNull();
  });

  it("every kind of customer message Meta sends becomes an inbound message, answers and reactions linked to ours", async () => {
    const live = await liveTenant();
    const { account, channel } = await whatsAppChannel(live);
    const { id, wamid } = await sentWhatsApp(live.secret);
    const kinds = [
      imageMessage,
      audioMessage,
      documentMessage,
      locationMessage,
      quickReplyMessage,
      buttonReplyMessage,
      listReplyMessage,
      { ...reactionMessage, reaction: { message_id: wamid, emoji: "👍" } },
    ].map((message, i) => ({
      ...message,
      id: `wamid.kind-${i}-${crypto.randomUUID()}`,
      ...("context" in message ? { context: { from: "15550783881", id: wamid } } : {}),
    }));
    // One webhook can carry several messages (Meta batches them).
    const res = await postMeta(
      channel.id,
      account.appSecret,
      messagesWebhook({ contacts: [{ profile: { name: "Ana Souza" }, wa_id: TO_DIGITS }], messages: kinds }),
    );
    expect(await json(res)).toEqual({ received: true, stored: kinds.length });
    const received = await eventually(
      () =>
        rowsOf<{ data: string }>(
          "SELECT data FROM events WHERE tenant_id = ? AND type = 'message.received' ORDER BY id",
          live.tenantId,
        ),
      (rows) => rows.length === kinds.length,
      "every message received",
    );
    const byProviderId = new Map(
      received.map((r) => JSON.parse(r.data)).map((d) => [d.provider_message_id, d] as const),
    );
    const got = kinds.map((k) => byProviderId.get(k.id));
    expect(got.map((d) => d?.content.type)).toEqual([
      "media",
      "media",
      "media",
      "location",
      "button_reply",
      "button_reply",
      "list_reply",
      "reaction",
    ]);
    expect(got[0]?.content).toMatchObject({ media_type: "image", media_id: "1037543291543636" });
    expect(got[2]?.content).toMatchObject({ media_type: "document", filename: "nota-fiscal-4521.pdf" });
    expect(got[3]?.content).toMatchObject({ latitude: -23.561414, longitude: -46.655881, name: "MASP" });
    expect(got[4]?.content).toMatchObject({ text: "Confirmar", payload: "CONFIRM_ORDER_4521" });
    expect(got[6]?.content).toMatchObject({ id: "slot-0900", title: "09:00" });
    expect(got[7]?.content).toEqual({ type: "reaction", emoji: "👍", reacted_to_provider_message_id: wamid });
    // Replies, taps and the reaction all point at our message; the others answer nothing.
    expect(got.map((d) => d?.reply_to?.message_id ?? null)).toEqual([null, null, null, null, id, id, id, id]);
    // One conversation and one contact for all of them.
    expect(new Set(got.map((d) => d?.conversation_id)).size).toBe(1);
    expect(new Set(got.map((d) => d?.contact_id)).size).toBe(1);
  });

  it("a template status update approves the template and emits template.approved", async () => {
    const live = await liveTenant();
    const { account, channel } = await whatsAppChannel(live, "PENDING");
    const template = await json(
      await call("POST", "/v1/templates", {
        key: live.secret,
        body: { name: "order_shipped", language: "pt_BR", category: "utility", body: "Seu pedido saiu." },
      }),
    );
    expect(template.status).toBe("pending");
    const [row] = await rowsOf<{ provider_template_id: string }>(
      "SELECT provider_template_id FROM templates WHERE id = ?",
      template.id,
    );
    const update = templateStatusWebhook("APPROVED");
    const value = update.entry[0]?.changes[0]?.value as Record<string, unknown>;
    value.message_template_id = Number(row?.provider_template_id);
    await postMeta(channel.id, account.appSecret, update);
    await eventually(
      async () =>
        (await json(await call("GET", `/v1/templates/${template.id}`, { key: live.secret }))).status,
      (status) => status === "approved",
      "template approved",
    );
    expect((await eventsOf(template.id)).map((e) => e.type)).toEqual(["template.approved"]);
  });
});

describe("Twilio webhooks", () => {
  async function sentSms(key: string, to = TO) {
    const accepted = await json(await send(key, { channel: "sms", to, text: { body: "Pedido enviado" } }));
    const sent = await waitForMessage(key, accepted.id, (m) => m.status === "sent");
    return { id: accepted.id as string, sid: sent.provider_message_id as string };
  }

  it("verifies X-Twilio-Signature over URL and parameters; statuses in any order end delivered", async () => {
    const live = await liveTenant();
    const { account, channel } = await smsChannel(live);
    const { id, sid } = await sentSms(live.secret);
    const callback = (status: string) =>
      statusCallback(status, { MessageSid: sid, SmsSid: sid, AccountSid: account.accountSid, To: TO });

    await expectError(
      await postTwilio(channel.id, account.authToken, "status", callback("delivered"), { unsigned: true }),
      401,
      "inbound_signature_invalid",
    );
    await expectError(
      await postTwilio(channel.id, account.authToken, "status", callback("delivered"), {
        tamper: (form) => form.replace("delivered", "delivereD"),
      }),
      401,
      "inbound_signature_invalid",
    );
    await expectError(
      await postTwilio(channel.id, "0".repeat(32), "status", callback("delivered")),
      401,
      "inbound_signature_invalid",
    );

    for (const status of ["delivered", "sent", "queued", "delivered", "sent"]) {
      expect((await postTwilio(channel.id, account.authToken, "status", callback(status))).status).toBe(200);
    }
    await waitForMessage(live.secret, id, (m) => m.status === "delivered");
  });

  it("undelivered ends the message undelivered with Twilio's error code", async () => {
    const live = await liveTenant();
    const { account, channel } = await smsChannel(live);
    const { id, sid } = await sentSms(live.secret);
    await postTwilio(
      channel.id,
      account.authToken,
      "status",
      statusCallback("undelivered", {
        MessageSid: sid,
        SmsSid: sid,
        AccountSid: account.accountSid,
        ErrorCode: "30003",
      }),
    );
    const message = await waitForMessage(live.secret, id, (m) => m.status === "undelivered");
    expect(message.error.code).toBe("30003");
  });

  it("an incoming SMS is answered with empty TwiML and starts a conversation with a new contact", async () => {
    const live = await liveTenant();
    const { account, channel } = await smsChannel(live);
    const customer = "+5511955554444";
    const res = await postTwilio(channel.id, account.authToken, "messages", {
      ...inboundSms,
      AccountSid: account.accountSid,
      From: customer,
      To: account.from as string,
      MessageSid: "SM0123456789abcdef0123456789abcdef",
      SmsSid: "SM0123456789abcdef0123456789abcdef",
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/xml");
    expect(await res.text()).toContain("<Response></Response>");
    const [conversation] = await eventually(
      async () => (await json(await call("GET", "/v1/conversations", { key: live.secret }))).data,
      (data: any[]) => data.length === 1,
      "conversation",
    );
    expect(conversation).toMatchObject({
      channel: "sms",
      address: customer,
      customer_window: { applies: false },
    });
    const contact = await json(
      await call("GET", `/v1/contacts/${conversation.contact_id}`, { key: live.secret }),
    );
    expect(contact.addresses).toEqual([
      { channel: "sms", address: customer, country: "BR", line_type: "mobile" },
    ]);
  });
});

describe("Resend webhooks", () => {
  async function sentEmail(key: string, to: string) {
    const accepted = await json(
      await send(key, { channel: "email", to, email: { subject: "Seu pedido", text: "Saiu para entrega." } }),
    );
    const sent = await waitForMessage(key, accepted.id, (m) => m.status === "sent");
    return { id: accepted.id as string, emailId: sent.provider_message_id as string };
  }

  it("verifies the Svix signature; delivered, opened and a permanent bounce are applied", async () => {
    const live = await liveTenant();
    const secret = newSvixSecret();
    const { channel } = await emailChannel(live, secret);
    const first = await sentEmail(live.secret, "ana@example.com");
    const delivered = resendEvent(
      "email.delivered",
      { email_id: first.emailId, to: ["ana@example.com"] },
      new Date().toISOString(),
    );
    const svixId = `msg_${crypto.randomUUID()}`;

    await expectError(
      await postResend(channel.id, secret, svixId, delivered, {
        body: JSON.stringify(delivered).replace("delivered", "deliverex"),
      }),
      401,
      "inbound_signature_invalid",
    );
    await expectError(
      await postResend(channel.id, newSvixSecret(), svixId, delivered),
      401,
      "inbound_signature_invalid",
    );
    await expectError(
      await postResend(channel.id, secret, svixId, delivered, { at: new Date(Date.now() - 6 * 60_000) }),
      401,
      "inbound_signature_invalid",
    );
    expect((await postResend(channel.id, secret, svixId, delivered)).status).toBe(200);
    await waitForMessage(live.secret, first.id, (m) => m.status === "delivered");

    const opened = resendEvent("email.opened", { email_id: first.emailId }, new Date().toISOString());
    await postResend(channel.id, secret, `msg_${crypto.randomUUID()}`, opened);
    await eventually(
      () => eventsOf(first.id),
      (rows) => rows.some((r) => r.type === "message.opened"),
      "opened",
    );

    const second = await sentEmail(live.secret, "bruno@example.com");
    const bounce = {
      ...permanentBounce,
      data: { ...permanentBounce.data, email_id: second.emailId, to: ["bruno@example.com"] },
    };
    await postResend(channel.id, secret, `msg_${crypto.randomUUID()}`, bounce);
    const failed = await waitForMessage(live.secret, second.id, (m) => m.status === "failed");
    expect(failed.error.reason).toContain("hard bounce");
  });

  it("without a webhook secret every event is refused until one is set with PATCH", async () => {
    const live = await liveTenant();
    const { channel } = await emailChannel(live);
    const secret = newSvixSecret();
    const event = resendEvent("email.delivered", {}, new Date().toISOString());
    const refused = await expectError(
      await postResend(channel.id, secret, "msg_1", event),
      401,
      "inbound_signature_invalid",
    );
    expect(refused.message).toContain("PATCH /v1/channels");
    const patched = await call("PATCH", `/v1/channels/${channel.id}`, {
      key: live.secret,
      body: { webhook_secret: secret },
    });
    expect(patched.status).toBe(200);
    expect((await json(patched)).credentials.webhook_secret).toBe(`…${secret.slice(-4)}`);
    expect((await postResend(channel.id, secret, "msg_1", event)).status).toBe(200);
    await expectError(
      await call("PATCH", `/v1/channels/${channel.id}`, {
        key: live.secret,
        body: { verify_token: "abcdefgh" },
      }),
      400,
      "validation_error",
    );
    for (const body of [
      { webhook_secret: "not-a-secret" },
      { webhook_secret: "whsec_" },
      { api_key: "re_x" },
    ]) {
      await expectError(
        await call("PATCH", `/v1/channels/${channel.id}`, { key: live.secret, body }),
        400,
        "validation_error",
      );
    }
    const other = await liveTenant();
    await expectError(
      await call("PATCH", `/v1/channels/${channel.id}`, { key: other.secret, body: { name: "mine" } }),
      404,
      "resource_not_found",
    );
    await expectError(
      await postResend("chn_01jd3x6n2m8q4v7w9y0z1a2b3c", secret, "msg_2", event),
      404,
      "resource_not_found",
    );
    // An SMS channel's id on the email route is no email channel.
    const sms = await smsChannel(live);
    await expectError(await postResend(sms.channel.id, secret, "msg_3", event), 404, "resource_not_found");
  });
});

describe("provider webhooks with signed garbage", () => {
  // A provider (or someone holding its secret) can still send anything: a verified body we cannot read must be
  // a 4xx or a 200 that skips the unreadable parts, never a 5xx, and its processing must finish.
  it("Meta, Twilio and Resend bodies built at random answer 200 or 400 and leave nothing pending", async () => {
    const live = await liveTenant();
    const whatsapp = await whatsAppChannel(live);
    const sms = await smsChannel(live);
    const secret = newSvixSecret();
    const email = await emailChannel(live, secret);
    const statuses = ["sent", "delivered", "read", "failed", "undelivered", "received", "queued", "x"];
    const metaBody = fc.oneof(
      fc.jsonValue(),
      fc.record({
        object: fc.constantFrom("whatsapp_business_account", "page"),
        entry: fc.array(
          fc.record({
            id: fc.string({ minLength: 1 }),
            changes: fc.array(
              fc.record({
                field: fc.constantFrom("messages", "message_template_status_update", "x"),
                value: fc.record({
                  messaging_product: fc.constant("whatsapp"),
                  metadata: fc.constant({
                    display_phone_number: "15550783881",
                    phone_number_id: "106540352242922",
                  }),
                  statuses: fc.array(
                    fc.record({
                      id: fc.string(),
                      status: fc.constantFrom(...statuses),
                      timestamp: fc.string(),
                    }),
                  ),
                  messages: fc.array(
                    fc.record({
                      from: fc.oneof(fc.string(), fc.constant("5511987654321")),
                      id: fc.string({ minLength: 1 }),
                      timestamp: fc.oneof(fc.string(), fc.integer({ min: 0, max: 2 ** 32 }).map(String)),
                      type: fc.constantFrom("text", "image", "reaction", "button", "x"),
                      text: fc.record({ body: fc.string() }),
                    }),
                  ),
                }),
              }),
            ),
          }),
        ),
      }),
    );
    const form = fc.dictionary(
      fc.constantFrom(
        "AccountSid",
        "MessageSid",
        "MessageStatus",
        "From",
        "To",
        "Body",
        "NumMedia",
        "ErrorCode",
        "x",
      ),
      fc.string(),
    );
    const resendBody = fc.oneof(
      fc.jsonValue(),
      fc.record({
        type: fc.constantFrom("email.sent", "email.delivered", "email.bounced", "email.opened", "x"),
        created_at: fc.oneof(
          fc.string(),
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        ),
        data: fc.record({ email_id: fc.string(), to: fc.array(fc.string()) }),
      }),
    );
    const allowed = [200, 400];
    await fc.assert(
      fc.asyncProperty(metaBody, form, resendBody, async (meta, params, resend) => {
        const a = await postMeta(whatsapp.channel.id, whatsapp.account.appSecret, meta);
        expect(allowed, await a.clone().text()).toContain(a.status);
        const b = await postTwilio(sms.channel.id, sms.account.authToken, "status", params);
        expect(allowed, await b.clone().text()).toContain(b.status);
        const c = await postResend(email.channel.id, secret, `msg_${crypto.randomUUID()}`, resend);
        expect(allowed, await c.clone().text()).toContain(c.status);
      }),
      { numRuns: 40 },
    );
    await eventually(
      () =>
        rowsOf<{ n: number }>(
          "SELECT count(*) AS n FROM inbound_events WHERE tenant_id = ? AND state = 'pending'",
          live.tenantId,
        ),
      (rows) => rows[0]?.n === 0,
      "every stored item processed",
    );
    // The generators are shaped enough that some items were readable, so processing really ran.
    const [stored] = await rowsOf<{ n: number }>(
      "SELECT count(*) AS n FROM inbound_events WHERE tenant_id = ?",
      live.tenantId,
    );
    expect(stored?.n).toBeGreaterThan(0);
  });
});
