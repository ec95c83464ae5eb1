import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  approvedTemplate,
  call,
  expectError,
  json,
  openCustomerWindow,
  seedTenant,
  send,
  waitForMessage,
} from "../helpers";

const TO = "+5511987654321";

async function balance(secret: string): Promise<number> {
  return Number((await json(await call("GET", "/v1/balance", { key: secret }))).balance);
}

describe("POST /v1/messages", () => {
  it("requires an idempotency key and messages:send", async () => {
    const { secret } = await seedTenant();
    await expectError(
      await call("POST", "/v1/messages", {
        key: secret,
        body: { channel: "sms", to: TO, text: { body: "hi" } },
      }),
      400,
      "idempotency_key_required",
    );
    const reader = await seedTenant({ scopes: ["messages:read"] });
    await expectError(
      await send(reader.secret, { channel: "sms", to: TO, text: { body: "hi" } }),
      403,
      "insufficient_scope",
    );
  });

  it("sends an SMS through the sandbox to delivered, charging once", async () => {
    const { secret } = await seedTenant();
    const before = await balance(secret);
    const res = await send(secret, {
      channel: "sms",
      to: "+55 (11) 98765-4321",
      text: { body: "Your code is 1234" },
      metadata: { order: "42" },
    });
    expect(res.status).toBe(202);
    const accepted = await json(res);
    expect(accepted).toMatchObject({
      object: "message",
      status: "queued",
      channel: "sms",
      to: TO,
      currency: "USD",
      metadata: { order: "42" },
      content_type: "text",
    });
    expect(accepted.id).toMatch(/^msg_/);
    expect(Number(accepted.cost_estimate)).toBeGreaterThan(0);
    const delivered = await waitForMessage(secret, accepted.id, (m) => m.status === "delivered");
    expect(delivered.provider_message_id).toMatch(/^SM[0-9a-f]{32}$/);
    expect(Object.keys(delivered.timestamps)).toEqual(
      expect.arrayContaining(["queued", "sent", "delivered"]),
    );
    expect(delivered.events.map((e: any) => e.type)).toEqual([
      "message.queued",
      "message.sent",
      "message.delivered",
    ]);
    expect(delivered.events.map((e: any) => e.sequence)).toEqual([1, 2, 3]);
    expect(await balance(secret)).toBeCloseTo(before - Number(accepted.cost_estimate), 6);
  });

  it("validates recipients, content and channel rules with actionable errors", async () => {
    const { secret } = await seedTenant();
    const badPhone = await expectError(
      await send(secret, { channel: "sms", to: "12345", text: { body: "x" } }),
      400,
      "validation_error",
    );
    expect(badPhone.details[0].path).toBe("to");
    expect(badPhone.message).toMatch(/E\.164|country code/);
    await expectError(
      await send(secret, { channel: "email", to: "not-an-email", email: { subject: "s", text: "t" } }),
      400,
      "validation_error",
    );
    const two = await expectError(
      await send(secret, {
        channel: "sms",
        to: TO,
        text: { body: "x" },
        media: { type: "image", url: "https://x.example/a.png" },
      }),
      400,
      "validation_error",
    );
    expect(two.message).toContain("exactly one");
    const wrongKind = await expectError(
      await send(secret, { channel: "sms", to: TO, email: { subject: "s", text: "t" } }),
      400,
      "validation_error",
    );
    expect(wrongKind.message).toContain("cannot carry email");
    await expectError(
      await send(secret, { channel: "sms", to: TO, text: { body: "x" }, priority: "urgent" }),
      400,
      "validation_error",
    );
    const fallback = await expectError(
      await send(secret, {
        channel: "sms",
        to: TO,
        text: { body: "x" },
        fallback: [{ channel: "email", after_seconds: 10 }],
      }),
      400,
      "validation_error",
    );
    expect(fallback.details[0].path).toBe("fallback[0].channel");
  });

  it("refuses free-form WhatsApp outside the customer window, accepts it inside", async () => {
    const { secret, tenantId } = await seedTenant();
    const body = { channel: "whatsapp", to: TO, text: { body: "Hello!" } };
    const error = await expectError(await send(secret, body), 422, "outside_customer_window");
    expect(error.message).toContain("template");
    await openCustomerWindow(tenantId, TO, new Date(Date.now() - 23 * 3600_000));
    const accepted = await json(await send(secret, body));
    const read = await waitForMessage(secret, accepted.id, (m) => m.status === "read");
    expect(read.provider_message_id).toMatch(/^wamid\./);
    expect(read.cost).toBe("0.0000"); // service messages inside the window are free
    await openCustomerWindow(tenantId, TO, new Date(Date.now() - 25 * 3600_000));
    await expectError(await send(secret, body), 422, "outside_customer_window");
  });

  it("a permanent provider failure fails the message and refunds it", async () => {
    const { secret } = await seedTenant();
    const before = await balance(secret);
    const accepted = await json(
      await send(secret, { channel: "sms", to: "+5511987650001", text: { body: "x" } }),
    );
    const failed = await waitForMessage(secret, accepted.id, (m) => m.status === "failed");
    expect(failed.error).toEqual({ code: "21211", reason: expect.any(String) });
    expect(failed.cost).toBe("0.0000");
    expect(failed.events.map((e: any) => e.type)).toEqual(["message.queued", "message.failed"]);
    expect(await balance(secret)).toBeCloseTo(before, 6);
    const ledger = (await json(await call("GET", "/v1/balance", { key: secret }))).recent_entries;
    expect(
      ledger
        .filter((e: any) => e.message_id === accepted.id)
        .map((e: any) => e.kind)
        .sort(),
    ).toEqual(["debit", "refund"]);
  });

  it("retries retryable errors with backoff until the provider answers", async () => {
    const { secret } = await seedTenant();
    const accepted = await json(
      await send(secret, { channel: "sms", to: "+5511987650003", text: { body: "x" } }),
    );
    const sent = await waitForMessage(secret, accepted.id, (m) => m.status === "delivered");
    expect(sent.attempts).toBe(3);
    expect(sent.events.filter((e: any) => e.type === "message.sent").length).toBe(1);
  });

  it("falls back to SMS after a WhatsApp failure, under the same id, charging each hop sent", async () => {
    const { secret, tenantId } = await seedTenant();
    // Sandbox 0001: WhatsApp refuses it (131026, permanent); the SMS hop then runs (and fails with 21211).
    await approvedTemplate(secret, "order_shipped", "Your order {{1}} shipped");
    const accepted = await json(
      await send(secret, {
        channel: "whatsapp",
        to: "+5511987650001",
        template: { name: "order_shipped", language: "en_US", variables: { "1": "#42" } },
        fallback: [{ channel: "sms", after_seconds: 30 }],
      }),
    );
    expect(Number(accepted.cost_estimate)).toBeGreaterThan(0);
    const done = await waitForMessage(
      secret,
      accepted.id,
      (m) => ["delivered", "failed"].includes(m.status) && m.hops.length === 2,
    );
    expect(done.hops.map((h: any) => h.channel)).toEqual(["whatsapp", "sms"]);
    expect(done.hops[0]).toMatchObject({ status: "failed", cost: "0.0000", error: { code: "131026" } });
    expect(tenantId).toMatch(/^ten_/);
    expect(done.hops[1]).toMatchObject({ channel: "sms", status: "failed", error: { code: "21211" } });
    expect(done.status).toBe("failed");
    expect(done.cost).toBe("0.0000"); // neither hop was sent, so both were refunded
    const ledger = (await json(await call("GET", "/v1/balance", { key: secret }))).recent_entries.filter(
      (e: any) => e.message_id === accepted.id,
    );
    expect(ledger.map((e: any) => `${e.kind}:${e.hop}`).sort()).toEqual([
      "debit:0",
      "debit:1",
      "refund:0",
      "refund:1",
    ]);
  });

  it("falls back when the first channel is not delivered within after_seconds, charging both hops", async () => {
    const { secret } = await seedTenant();
    await approvedTemplate(secret, "otp_code", "Your code is {{1}}. Do not share it.");
    const accepted = await json(
      await send(secret, {
        channel: "whatsapp",
        to: TO,
        template: { name: "otp_code", language: "en_US", variables: { "1": "123456" } },
        // The sandbox delivers after 1 s; a 0 s deadline is missed, so SMS is sent too.
        fallback: [{ channel: "sms", after_seconds: 0 }],
      }),
    );
    const done = await waitForMessage(
      secret,
      accepted.id,
      (m) => m.hops.length === 2 && m.status === "delivered",
    );
    expect(done.channel).toBe("sms");
    expect(done.hops[0]).toMatchObject({
      channel: "whatsapp",
      status: "sent",
      error: { code: "not_delivered_in_time" },
    });
    expect(Number(done.hops[0].cost)).toBeGreaterThan(0);
    expect(Number(done.hops[1].cost)).toBeGreaterThan(0);
    expect(Number(done.cost)).toBeCloseTo(Number(done.hops[0].cost) + Number(done.hops[1].cost), 6);
  });

  it("accepts exactly as many concurrent sends as the balance covers", async () => {
    const { secret, tenantId } = await seedTenant();
    await balance(secret); // creates the wallet
    const price = Number(
      (
        await json(
          await send(secret, { channel: "email", to: "a@example.com", email: { subject: "s", text: "t" } }),
        )
      ).cost_estimate,
    );
    await env.DB.prepare("UPDATE wallets SET balance_micros = ? WHERE tenant_id = ? AND environment = 'test'")
      .bind(Math.round(price * 1_000_000) * 5, tenantId)
      .run();
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        send(secret, { channel: "email", to: `user${i}@example.com`, email: { subject: "s", text: "t" } }),
      ),
    );
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 202).length).toBe(5);
    expect(statuses.filter((s) => s === 402).length).toBe(7);
    const refused = answers.find((r) => r.status === 402) as Response;
    await expectError(refused, 402, "insufficient_balance");
    expect(await balance(secret)).toBe(0);
  });

  it("50 concurrent identical sends with one key make one message", async () => {
    const { secret } = await seedTenant();
    const body = { channel: "sms", to: TO, text: { body: "once" } };
    const answers = await Promise.all(Array.from({ length: 50 }, () => send(secret, body, "same-key")));
    const ids = new Set<string>();
    for (const res of answers) {
      if (res.status === 409) continue;
      expect(res.status).toBe(202);
      ids.add((await json(res)).id);
    }
    expect(ids.size).toBe(1);
    const count = await env.DB.prepare(
      "SELECT count(*) AS n FROM messages WHERE idempotency_key = 'same-key' AND tenant_id = (SELECT tenant_id FROM messages WHERE id = ?)",
    )
      .bind([...ids][0])
      .first<{ n: number }>();
    expect(count?.n).toBe(1);
    await expectError(
      await send(secret, { ...body, text: { body: "changed" } }, "same-key"),
      422,
      "idempotency_key_mismatch",
    );
  });
});

describe("scheduling and cancel", () => {
  it("schedules with send_at + timezone, cancels and refunds", async () => {
    const { secret } = await seedTenant();
    const before = await balance(secret);
    const local = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 16);
    const accepted = await json(
      await send(secret, {
        channel: "sms",
        to: TO,
        text: { body: "later" },
        send_at: local,
        timezone: "America/Sao_Paulo",
      }),
    );
    expect(accepted.status).toBe("scheduled");
    expect(new Date(accepted.scheduled_at).getTime()).toBe(new Date(`${local}:00-03:00`).getTime());
    expect(await balance(secret)).toBeLessThan(before);
    const canceled = await json(await call("POST", `/v1/messages/${accepted.id}/cancel`, { key: secret }));
    expect(canceled.status).toBe("canceled");
    expect(await balance(secret)).toBeCloseTo(before, 6);
    await expectError(
      await call("POST", `/v1/messages/${accepted.id}/cancel`, { key: secret }),
      409,
      "message_not_cancelable",
    );
    const bad = await expectError(
      await send(secret, {
        channel: "sms",
        to: TO,
        text: { body: "x" },
        send_at: local,
        timezone: "Mars/Olympus",
      }),
      400,
      "validation_error",
    );
    expect(bad.details[0].path).toBe("timezone");
  });
});

describe("history", () => {
  it("lists with filters and hides other environments", async () => {
    const { secret, tenantId } = await seedTenant();
    const a = await json(await send(secret, { channel: "sms", to: TO, text: { body: "a" } }));
    const b = await json(
      await send(secret, { channel: "email", to: "x@example.com", email: { subject: "s", text: "t" } }),
    );
    const all = await json(await call("GET", "/v1/messages", { key: secret }));
    expect(all.data.map((m: any) => m.id)).toEqual([b.id, a.id]);
    const sms = await json(await call("GET", "/v1/messages?channel=sms", { key: secret }));
    expect(sms.data.map((m: any) => m.id)).toEqual([a.id]);
    const byTo = await json(
      await call("GET", `/v1/messages?to=${encodeURIComponent("+55 11 98765-4321")}`, { key: secret }),
    );
    expect(byTo.data.map((m: any) => m.id)).toEqual([a.id]);
    const { seedKey } = await import("../helpers");
    const live = await seedKey(tenantId, { environment: "live" });
    expect((await json(await call("GET", "/v1/messages", { key: live.secret }))).data).toEqual([]);
    await expectError(
      await call("GET", `/v1/messages/${a.id}`, { key: live.secret }),
      404,
      "resource_not_found",
    );
  });
});
