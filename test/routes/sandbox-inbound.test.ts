import { describe, expect, it } from "vitest";
import {
  approvedTemplate,
  call,
  expectError,
  json,
  runCron,
  seedTenant,
  send,
  waitForMessage,
} from "../helpers";
import { eventually, rowsOf } from "./inbound-support";

const CUSTOMER = "+5511987650000";

function simulate(key: string, body: Record<string, unknown>) {
  return call("POST", "/v1/sandbox/inbound", { key, body });
}

describe("POST /v1/sandbox/inbound", () => {
  it("a simulated customer message opens the window, is stored as Meta's webhook would be, and emits message.received", async () => {
    const tenant = await seedTenant();
    await expectError(
      await send(tenant.secret, { channel: "whatsapp", to: CUSTOMER, text: { body: "Oi" } }),
      422,
      "outside_customer_window",
    );
    const res = await simulate(tenant.secret, {
      from: "+55 11 98765-0000",
      text: "Olá!",
      profile_name: "Ana",
    });
    expect(res.status).toBe(201);
    const inbound = await json(res);
    expect(inbound).toMatchObject({
      object: "inbound_message",
      direction: "inbound",
      environment: "test",
      channel: "whatsapp",
      channel_id: "sandbox",
      from: CUSTOMER,
      profile_name: "Ana",
      content: { type: "text", text: "Olá!" },
      reply_to: null,
    });
    expect(inbound.provider_message_id).toMatch(/^wamid\./);
    // It went through the inbound store like a provider webhook: one applied item from "meta".
    const stored = await rowsOf<{ provider: string; kind: string; state: string }>(
      "SELECT provider, kind, state FROM inbound_events WHERE tenant_id = ?",
      tenant.tenantId,
    );
    expect(stored).toEqual([{ provider: "meta", kind: "message", state: "applied" }]);

    expect(
      (await send(tenant.secret, { channel: "whatsapp", to: CUSTOMER, text: { body: "Oi" } })).status,
    ).toBe(202);
    const events = await rowsOf<{ type: string; data: string }>(
      "SELECT type, data FROM events WHERE tenant_id = ? AND type = 'message.received'",
      tenant.tenantId,
    );
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]?.data ?? "{}").id).toBe(inbound.id);

    const conversation = await json(
      await call("GET", `/v1/conversations/${inbound.conversation_id}`, { key: tenant.secret }),
    );
    expect(conversation.customer_window.open).toBe(true);
    const contact = await json(
      await call("GET", `/v1/contacts/${inbound.contact_id}`, { key: tenant.secret }),
    );
    expect(contact).toMatchObject({ name: "Ana", addresses: [{ channel: "whatsapp", address: CUSTOMER }] });
  });

  it("a reply names our message, and a known contact is identified once per conversation", async () => {
    const tenant = await seedTenant();
    const contact = await json(
      await call("POST", "/v1/contacts", {
        key: tenant.secret,
        body: {
          external_id: "crm-42",
          name: "Bruno",
          addresses: [{ channel: "whatsapp", address: CUSTOMER }],
        },
      }),
    );
    await approvedTemplate(tenant.secret, "order_update", "Your order shipped.");
    const ours = await json(
      await send(tenant.secret, {
        channel: "whatsapp",
        to: CUSTOMER,
        template: { name: "order_update", language: "en_US", variables: {} },
      }),
    );
    const sent = await waitForMessage(tenant.secret, ours.id, (m) => m.provider_message_id !== null);
    const first = await json(
      await simulate(tenant.secret, {
        from: CUSTOMER,
        text: "Sim, confirmo",
        reply_to_message_id: sent.id,
      }),
    );
    expect(first.contact_id).toBe(contact.id);
    expect(first.reply_to).toEqual({ message_id: sent.id });
    await simulate(tenant.secret, { from: CUSTOMER, text: "Mais uma coisa" });
    const identified = await rowsOf<{ data: string }>(
      "SELECT data FROM events WHERE tenant_id = ? AND type = 'contact.identified'",
      tenant.tenantId,
    );
    expect(identified).toHaveLength(1);
    expect(JSON.parse(identified[0]?.data ?? "{}")).toMatchObject({ id: contact.id, address: CUSTOMER });

    const list = await json(
      await call("GET", `/v1/conversations?contact_id=${contact.id}`, { key: tenant.secret }),
    );
    expect(list.data).toHaveLength(1);
    const messages = await json(
      await call("GET", `/v1/conversations/${list.data[0].id}/messages`, { key: tenant.secret }),
    );
    expect(messages.data.map((m: any) => m.direction)).toEqual(["inbound", "inbound", "outbound"]);

    // Deleting the contact keeps the conversation, unlinked; the customer's next message links a new one.
    await call("DELETE", `/v1/contacts/${contact.id}`, { key: tenant.secret });
    const unlinked = await json(
      await call("GET", `/v1/conversations/${list.data[0].id}`, { key: tenant.secret }),
    );
    expect(unlinked.contact_id).toBeNull();
    const again = await json(await simulate(tenant.secret, { from: CUSTOMER, text: "Olá de novo" }));
    expect(again.contact_id).toMatch(/^con_/);
    expect(again.contact_id).not.toBe(contact.id);
    const relinked = await json(
      await call("GET", `/v1/conversations/${list.data[0].id}`, { key: tenant.secret }),
    );
    expect(relinked.contact_id).toBe(again.contact_id);
  });

  it("an SMS reply works the same way, through Twilio's format", async () => {
    const tenant = await seedTenant();
    const inbound = await json(
      await simulate(tenant.secret, {
        channel: "sms",
        from: "+14155550199",
        media: { type: "image", url: "https://example.com/photo.jpg", caption: "foto" },
      }),
    );
    expect(inbound.provider_message_id).toMatch(/^MM[0-9a-f]{32}$/);
    expect(inbound.content).toMatchObject({
      type: "media",
      media_type: "image",
      url: "https://example.com/photo.jpg",
    });
    const [stored] = await rowsOf<{ provider: string }>(
      "SELECT provider FROM inbound_events WHERE tenant_id = ?",
      tenant.tenantId,
    );
    expect(stored?.provider).toBe("twilio");
  });

  it("refuses live keys, bad numbers, both or neither of text and media, and foreign messages", async () => {
    const live = await seedTenant({ environment: "live" });
    await expectError(await simulate(live.secret, { from: CUSTOMER, text: "x" }), 403, "test_mode_only");
    const tenant = await seedTenant();
    await expectError(
      await simulate(tenant.secret, { from: "not a number", text: "x" }),
      400,
      "validation_error",
    );
    await expectError(await simulate(tenant.secret, { from: CUSTOMER }), 400, "validation_error");
    await expectError(
      await simulate(tenant.secret, {
        from: CUSTOMER,
        text: "x",
        media: { type: "image", url: "https://e.com/a.jpg" },
      }),
      400,
      "validation_error",
    );
    const other = await seedTenant();
    const foreign = await json(
      await send(other.secret, { channel: "sms", to: CUSTOMER, text: { body: "x" } }),
    );
    await expectError(
      await simulate(tenant.secret, { from: CUSTOMER, text: "x", reply_to_message_id: foreign.id }),
      404,
      "resource_not_found",
    );
    await expectError(
      await call("GET", "/v1/conversations/cnv_01jd3x6n2m8q4v7w9y0z1a2b3c", { key: tenant.secret }),
      404,
      "resource_not_found",
    );
    await expectError(
      await call("GET", "/v1/conversations?address=%2B5511987650000", { key: tenant.secret }),
      400,
      "validation_error",
    );
  });
});

describe("sandbox receipts", () => {
  it("go through the inbound path in each provider's format and move the message forward", async () => {
    const tenant = await seedTenant();
    const sms = await json(
      await send(tenant.secret, { channel: "sms", to: "+5511987651111", text: { body: "x" } }),
    );
    const email = await json(
      await send(tenant.secret, {
        channel: "email",
        to: "ana@example.com",
        email: { subject: "s", text: "t" },
      }),
    );
    await waitForMessage(tenant.secret, sms.id, (m) => m.status === "delivered");
    await waitForMessage(tenant.secret, email.id, (m) => m.status === "delivered");
    const stored = await eventually(
      () =>
        rowsOf<{ provider: string; kind: string; state: string }>(
          "SELECT provider, kind, state FROM inbound_events WHERE tenant_id = ? ORDER BY provider",
          tenant.tenantId,
        ),
      (rows) => rows.length === 2,
      "two receipts",
    );
    expect(stored).toEqual([
      { provider: "resend", kind: "status", state: "applied" },
      { provider: "twilio", kind: "status", state: "applied" },
    ]);
  });

  it("an undelivered WhatsApp number fails as Meta reports it, refunded", async () => {
    const tenant = await seedTenant();
    await approvedTemplate(tenant.secret, "order_update", "Your order shipped.");
    const accepted = await json(
      await send(tenant.secret, {
        channel: "whatsapp",
        to: "+5511987650002",
        template: { name: "order_update", language: "en_US", variables: {} },
      }),
    );
    const failed = await waitForMessage(tenant.secret, accepted.id, (m) => m.status === "failed");
    expect(failed.error.code).toBe("131026");
    expect(failed.cost).toBe("0.0000");
  });
});

describe("retention", () => {
  it("processed inbound items are purged after 30 days; the conversation and its messages stay", async () => {
    const tenant = await seedTenant();
    const inbound = await json(await simulate(tenant.secret, { from: CUSTOMER, text: "Oi" }));
    const count = async () =>
      (
        await rowsOf<{ n: number }>(
          "SELECT count(*) AS n FROM inbound_events WHERE tenant_id = ?",
          tenant.tenantId,
        )
      )[0]?.n;
    expect(await count()).toBe(1);
    await runCron(Date.now() + 29 * 86_400_000);
    expect(await count()).toBe(1);
    await runCron(Date.now() + 31 * 86_400_000);
    expect(await count()).toBe(0);
    const messages = await json(
      await call("GET", `/v1/conversations/${inbound.conversation_id}/messages`, { key: tenant.secret }),
    );
    expect(messages.data.map((m: any) => m.id)).toEqual([inbound.id]);
  });
});
