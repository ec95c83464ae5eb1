import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { processInboundJob } from "../../src/queues/process-inbound";
import { resendEvent } from "../domain/inbound/resend.fixtures";
import {
  call,
  expectError,
  json,
  liveTenant,
  openCustomerWindow,
  seedTenant,
  send,
  waitForMessage,
} from "../helpers";
import { emailChannel, eventually, newSvixSecret, postResend, rowsOf } from "./inbound-support";

const BR_MOBILE = "+5511987650000";
const LONDON_LANDLINE = "+442071838750";
const US_NUMBER = "+14155552671";

const balanceOf = async (key: string) =>
  (await json(await call("GET", "/v1/balance", { key }))).balance as string;
const messageCount = async (tenantId: string) =>
  (await rowsOf<{ n: number }>("SELECT count(*) AS n FROM messages WHERE tenant_id = ?", tenantId))[0]?.n;
const suppressionsOf = (tenantId: string) =>
  rowsOf<{ channel: string; address: string; reason: string; source_id: string | null }>(
    "SELECT channel, address, reason, source_id FROM suppressions WHERE tenant_id = ? ORDER BY id",
    tenantId,
  );
const eventsOf = (tenantId: string, type: string) =>
  rowsOf<{ data: string; subject_id: string }>(
    "SELECT data, subject_id FROM events WHERE tenant_id = ? AND type = ? ORDER BY id",
    tenantId,
    type,
  );
const simulate = (key: string, body: Record<string, unknown>) =>
  call("POST", "/v1/sandbox/inbound", { key, body });

describe("suppressions API", () => {
  it("creates idempotently (201 then 200), normalises, reads, filters, pages and deletes", async () => {
    const tenant = await seedTenant();
    const res = await call("POST", "/v1/suppressions", {
      key: tenant.secret,
      body: { channel: "sms", address: "+55 (11) 98765-0000", note: "Asked by phone." },
    });
    expect(res.status).toBe(201);
    const created = await json(res);
    expect(created).toMatchObject({
      object: "suppression",
      channel: "sms",
      address: BR_MOBILE,
      reason: "manual",
      source_id: null,
      note: "Asked by phone.",
    });
    expect(created.id).toMatch(/^sup_[0-9a-z]{26}$/);

    const again = await call("POST", "/v1/suppressions", {
      key: tenant.secret,
      body: { channel: "sms", address: BR_MOBILE, reason: "bounce" },
    });
    expect(again.status).toBe(200);
    expect(await json(again)).toEqual(created); // the first reason is kept
    expect(await suppressionsOf(tenant.tenantId)).toHaveLength(1);

    const email = await json(
      await call("POST", "/v1/suppressions", {
        key: tenant.secret,
        body: { channel: "email", address: " Ana@Example.COM ", reason: "complaint" },
      }),
    );
    expect(email).toMatchObject({ address: "Ana@example.com", reason: "complaint" });
    const whatsapp = await json(
      await call("POST", "/v1/suppressions", {
        key: tenant.secret,
        body: { channel: "whatsapp", address: BR_MOBILE },
      }),
    );

    expect(await json(await call("GET", `/v1/suppressions/${created.id}`, { key: tenant.secret }))).toEqual(
      created,
    );
    const all = await json(await call("GET", "/v1/suppressions", { key: tenant.secret }));
    expect(all.data.map((s: any) => s.id)).toEqual([whatsapp.id, email.id, created.id]);
    const byAddress = await json(
      await call("GET", `/v1/suppressions?address=${encodeURIComponent("+55 11 98765-0000")}`, {
        key: tenant.secret,
      }),
    );
    expect(byAddress.data.map((s: any) => s.id)).toEqual([whatsapp.id, created.id]);
    const smsOnly = await json(
      await call("GET", `/v1/suppressions?channel=sms&address=${encodeURIComponent(BR_MOBILE)}`, {
        key: tenant.secret,
      }),
    );
    expect(smsOnly.data.map((s: any) => s.id)).toEqual([created.id]);
    const complaints = await json(
      await call("GET", "/v1/suppressions?reason=complaint", { key: tenant.secret }),
    );
    expect(complaints.data.map((s: any) => s.id)).toEqual([email.id]);

    const first = await json(await call("GET", "/v1/suppressions?limit=2", { key: tenant.secret }));
    expect(first.data).toHaveLength(2);
    const second = await json(
      await call("GET", `/v1/suppressions?limit=2&cursor=${first.next_cursor}`, { key: tenant.secret }),
    );
    expect(second.data.map((s: any) => s.id)).toEqual([created.id]);
    expect(second.next_cursor).toBeNull();

    const deleted = await call("DELETE", `/v1/suppressions/${created.id}`, { key: tenant.secret });
    expect(await json(deleted)).toEqual({ object: "suppression", id: created.id, deleted: true });
    await expectError(
      await call("GET", `/v1/suppressions/${created.id}`, { key: tenant.secret }),
      404,
      "resource_not_found",
    );
    await expectError(
      await call("DELETE", `/v1/suppressions/${created.id}`, { key: tenant.secret }),
      404,
      "resource_not_found",
    );
  });

  it("refuses bad addresses and fields with a 400 naming them", async () => {
    const tenant = await seedTenant();
    const bad = await expectError(
      await call("POST", "/v1/suppressions", {
        key: tenant.secret,
        body: { channel: "sms", address: "98765" },
      }),
      400,
      "validation_error",
    );
    expect(bad.details).toEqual([{ path: "address", message: expect.stringMatching(/country code/) }]);
    await expectError(
      await call("POST", "/v1/suppressions", {
        key: tenant.secret,
        body: { channel: "email", address: "not-an-email" },
      }),
      400,
      "validation_error",
    );
    const reason = await expectError(
      await call("POST", "/v1/suppressions", {
        key: tenant.secret,
        body: { channel: "sms", address: BR_MOBILE, reason: "because" },
      }),
      400,
      "validation_error",
    );
    expect(reason.details[0].path).toBe("reason");
    await expectError(
      await call("GET", "/v1/suppressions?address=abc", { key: tenant.secret }),
      400,
      "validation_error",
    );
    await expectError(
      await call("GET", "/v1/suppressions?cursor=nope", { key: tenant.secret }),
      400,
      "invalid_cursor",
    );
  });
});

describe("sends to suppressed or landline recipients", () => {
  it("a suppressed address is refused 422 before any money moves or any message is stored", async () => {
    const tenant = await seedTenant();
    const before = await balanceOf(tenant.secret);
    await call("POST", "/v1/suppressions", {
      key: tenant.secret,
      body: { channel: "sms", address: BR_MOBILE },
    });

    const refused = await expectError(
      await send(tenant.secret, { channel: "sms", to: "+55 11 98765-0000", text: { body: "Promo" } }),
      422,
      "recipient_suppressed",
    );
    expect(refused.message).toContain("sms");
    expect(await balanceOf(tenant.secret)).toBe(before);
    expect(await messageCount(tenant.tenantId)).toBe(0);
    expect(
      await rowsOf("SELECT 1 FROM ledger_entries WHERE tenant_id = ? AND kind = 'debit'", tenant.tenantId),
    ).toEqual([]);

    // Suppression is per channel and per address: WhatsApp to the same number, SMS to another, both go.
    await openCustomerWindow(tenant.tenantId, BR_MOBILE);
    expect(
      (await send(tenant.secret, { channel: "whatsapp", to: BR_MOBILE, text: { body: "Hi" } })).status,
    ).toBe(202);
    expect(
      (await send(tenant.secret, { channel: "sms", to: "+5511987651111", text: { body: "Hi" } })).status,
    ).toBe(202);

    await call("POST", "/v1/suppressions", {
      key: tenant.secret,
      body: { channel: "email", address: "ana@example.com" },
    });
    await expectError(
      await send(tenant.secret, {
        channel: "email",
        to: "ana@EXAMPLE.com",
        email: { subject: "Hi", text: "Hello" },
      }),
      422,
      "recipient_suppressed",
    );

    // Lifting the suppression lets the send through.
    const [row] = (await json(await call("GET", "/v1/suppressions?channel=sms", { key: tenant.secret })))
      .data;
    await call("DELETE", `/v1/suppressions/${row.id}`, { key: tenant.secret });
    expect((await send(tenant.secret, { channel: "sms", to: BR_MOBILE, text: { body: "Hi" } })).status).toBe(
      202,
    );
  });

  it("a fallback channel that is suppressed refuses the send, naming that channel", async () => {
    const tenant = await seedTenant();
    await call("POST", "/v1/suppressions", {
      key: tenant.secret,
      body: { channel: "email", address: "bruno@example.com" },
    });
    await call("POST", "/v1/suppressions", {
      key: tenant.secret,
      body: { channel: "sms", address: BR_MOBILE },
    });
    await openCustomerWindow(tenant.tenantId, BR_MOBILE);
    const before = await balanceOf(tenant.secret);
    const refused = await expectError(
      await send(tenant.secret, {
        channel: "whatsapp",
        to: BR_MOBILE,
        text: { body: "Oi" },
        fallback: [{ channel: "sms", after_seconds: 60 }],
      }),
      422,
      "recipient_suppressed",
    );
    expect(refused.details).toEqual([{ path: "fallback", message: "suppressed on sms" }]);
    expect(await balanceOf(tenant.secret)).toBe(before);
    expect(await messageCount(tenant.tenantId)).toBe(0);
  });

  it("a landline is refused 422 recipient_not_mobile on SMS and WhatsApp; a US number is not", async () => {
    const tenant = await seedTenant();
    const before = await balanceOf(tenant.secret);
    for (const channel of ["sms", "whatsapp"]) {
      const error = await expectError(
        await send(tenant.secret, { channel, to: "+44 20 7183 8750", text: { body: "Hi" } }),
        422,
        "recipient_not_mobile",
      );
      expect(error.message).toContain(LONDON_LANDLINE);
      expect(error.message).toContain("landline");
    }
    expect(await balanceOf(tenant.secret)).toBe(before);
    expect(await messageCount(tenant.tenantId)).toBe(0);
    const us = await send(tenant.secret, { channel: "sms", to: US_NUMBER, text: { body: "Hi" } });
    expect(us.status).toBe(202);
  });
});

describe("stop keywords", () => {
  it("STOP suppresses the sender on that channel once, START lifts it; both emit one event", async () => {
    const tenant = await seedTenant();
    const stop = await json(await simulate(tenant.secret, { from: BR_MOBILE, text: " Stop! " }));
    expect(await suppressionsOf(tenant.tenantId)).toEqual([
      { channel: "whatsapp", address: BR_MOBILE, reason: "opt_out", source_id: stop.id },
    ]);
    const optedOut = await eventsOf(tenant.tenantId, "contact.opted_out");
    expect(optedOut).toHaveLength(1);
    expect(JSON.parse(optedOut[0]?.data ?? "{}")).toEqual({
      channel: "whatsapp",
      address: BR_MOBILE,
      contact_id: stop.contact_id,
      keyword: "STOP",
      inbound_message_id: stop.id,
    });
    expect(optedOut[0]?.subject_id).toBe(stop.contact_id);

    // The customer service window is open, yet the send is refused.
    await expectError(
      await send(tenant.secret, {
        channel: "whatsapp",
        to: BR_MOBILE,
        text: { body: "Sorry to see you go" },
      }),
      422,
      "recipient_suppressed",
    );
    // Another channel is not affected.
    expect((await send(tenant.secret, { channel: "sms", to: BR_MOBILE, text: { body: "Hi" } })).status).toBe(
      202,
    );

    // A second STOP changes nothing and emits nothing; a sentence containing stop is just a message.
    await simulate(tenant.secret, { from: BR_MOBILE, text: "STOP" });
    await simulate(tenant.secret, { from: BR_MOBILE, text: "STOP please" });
    expect(await suppressionsOf(tenant.tenantId)).toHaveLength(1);
    expect(await eventsOf(tenant.tenantId, "contact.opted_out")).toHaveLength(1);

    const start = await json(await simulate(tenant.secret, { from: BR_MOBILE, text: "voltar" }));
    expect(await suppressionsOf(tenant.tenantId)).toEqual([]);
    const optedIn = await eventsOf(tenant.tenantId, "contact.opted_in");
    expect(optedIn).toHaveLength(1);
    expect(JSON.parse(optedIn[0]?.data ?? "{}")).toMatchObject({
      channel: "whatsapp",
      address: BR_MOBILE,
      keyword: "VOLTAR",
      inbound_message_id: start.id,
    });
    expect(
      (await send(tenant.secret, { channel: "whatsapp", to: BR_MOBILE, text: { body: "Welcome back" } }))
        .status,
    ).toBe(202);
  });

  it("SMS keywords with accents count; START never lifts a suppression the tenant added", async () => {
    const tenant = await seedTenant();
    const other = "+5511987652222";
    await simulate(tenant.secret, { channel: "sms", from: BR_MOBILE, text: "PÁRAR" });
    await call("POST", "/v1/suppressions", { key: tenant.secret, body: { channel: "sms", address: other } });
    expect(await suppressionsOf(tenant.tenantId)).toEqual([
      expect.objectContaining({ channel: "sms", address: BR_MOBILE, reason: "opt_out" }),
      expect.objectContaining({ channel: "sms", address: other, reason: "manual" }),
    ]);
    await simulate(tenant.secret, { channel: "sms", from: other, text: "START" });
    expect(await suppressionsOf(tenant.tenantId)).toHaveLength(2);
    expect(await eventsOf(tenant.tenantId, "contact.opted_in")).toEqual([]);
    await simulate(tenant.secret, { channel: "sms", from: BR_MOBILE, text: "unstop" });
    expect(await suppressionsOf(tenant.tenantId)).toEqual([expect.objectContaining({ address: other })]);
  });

  it("the same inbound STOP processed twice suppresses once and emits one event", async () => {
    const tenant = await seedTenant();
    await simulate(tenant.secret, { from: BR_MOBILE, text: "sair" });
    const [item] = await rowsOf<{ id: string }>(
      "SELECT id FROM inbound_events WHERE tenant_id = ? AND kind = 'message'",
      tenant.tenantId,
    );
    // A redelivered job whose item was not marked applied (as after a crash): it runs again.
    await env.DB.prepare("UPDATE inbound_events SET state = 'pending' WHERE id = ?").bind(item?.id).run();
    await processInboundJob(env, createDb(env.DB), "obx_01jd3x6n2m8q4v7w9y0z1a2b3c", [item?.id ?? ""]);
    await processInboundJob(env, createDb(env.DB), "obx_01jd3x6n2m8q4v7w9y0z1a2b3c", [item?.id ?? ""]);
    expect(
      (await rowsOf<{ state: string }>("SELECT state FROM inbound_events WHERE id = ?", item?.id))[0]?.state,
    ).toBe("applied");
    expect(await suppressionsOf(tenant.tenantId)).toHaveLength(1);
    expect(await eventsOf(tenant.tenantId, "contact.opted_out")).toHaveLength(1);
    expect(await eventsOf(tenant.tenantId, "message.received")).toHaveLength(1);
  });
});

describe("email bounces and complaints", () => {
  it("a hard bounce suppresses the address; the next send to it is refused", async () => {
    const tenant = await seedTenant();
    const accepted = await json(
      await send(tenant.secret, {
        channel: "email",
        to: "bounce+1@example.com",
        email: { subject: "Hi", text: "Hello" },
      }),
    );
    await waitForMessage(tenant.secret, accepted.id, (m) => m.status === "failed");
    expect(await suppressionsOf(tenant.tenantId)).toEqual([
      { channel: "email", address: "bounce+1@example.com", reason: "bounce", source_id: accepted.id },
    ]);
    await expectError(
      await send(tenant.secret, {
        channel: "email",
        to: "bounce+1@example.com",
        email: { subject: "Again", text: "Hello" },
      }),
      422,
      "recipient_suppressed",
    );
  });

  it("a complaint (Resend email.complained) suppresses the address as a complaint", async () => {
    const live = await liveTenant();
    const secret = newSvixSecret();
    const { channel } = await emailChannel(live, secret);
    const accepted = await json(
      await send(live.secret, {
        channel: "email",
        to: "carla@example.com",
        email: { subject: "News", text: "Hello" },
      }),
    );
    const sent = await waitForMessage(live.secret, accepted.id, (m) => m.status === "sent");
    const complaint = resendEvent(
      "email.complained",
      { email_id: sent.provider_message_id, to: ["carla@example.com"] },
      new Date().toISOString(),
    );
    expect((await postResend(channel.id, secret, `msg_${crypto.randomUUID()}`, complaint)).status).toBe(200);
    await eventually(
      () => suppressionsOf(live.tenantId),
      (rows) => rows.length > 0,
      "complaint suppression",
    );
    expect(await suppressionsOf(live.tenantId)).toEqual([
      { channel: "email", address: "carla@example.com", reason: "complaint", source_id: accepted.id },
    ]);
  });
});
