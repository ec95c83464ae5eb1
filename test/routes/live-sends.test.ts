import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { fakeMeta, fakeResend, fakeTwilio } from "../fakes/client";
import {
  call,
  expectError,
  json,
  liveTenant,
  openCustomerWindow,
  runCron,
  seedTenant,
  send,
  waitForMessage,
} from "../helpers";

const TO = "+5511987654321";

describe("channels", () => {
  it("stores credentials encrypted, never returns them, and scopes them to the environment", async () => {
    const live = await liveTenant();
    const account = await fakeMeta().createAccount();
    const res = await call("POST", "/v1/channels", {
      key: live.secret,
      body: {
        type: "whatsapp",
        name: "Main number",
        phone_number_id: account.phoneNumberId,
        waba_id: account.wabaId,
        access_token: account.accessToken,
        app_secret: account.appSecret,
      },
    });
    expect(res.status).toBe(201);
    const channel = await json(res);
    const text = JSON.stringify(channel);
    expect(text).not.toContain(account.accessToken);
    expect(text).not.toContain(account.appSecret);
    expect(channel.credentials.access_token).toBe(`…${account.accessToken.slice(-4)}`);
    expect(channel.inbound_url).toBe(`http://localhost:8787/inbound/whatsapp/${channel.id}`);
    const stored = JSON.stringify(
      (await env.DB.prepare("SELECT * FROM channels WHERE id = ?").bind(channel.id).all()).results,
    );
    expect(stored).not.toContain(account.accessToken);
    expect(stored).not.toContain(account.appSecret);
    expect(stored).toContain("v1.");

    const sandbox = await seedTenant();
    await expectError(
      await call("GET", `/v1/channels/${channel.id}`, { key: sandbox.secret }),
      404,
      "resource_not_found",
    );
    const bad = await expectError(
      await call("POST", "/v1/channels", {
        key: live.secret,
        body: { type: "sms", name: "x", account_sid: "nope", auth_token: "12345678", from: "+14155550000" },
      }),
      400,
      "validation_error",
    );
    expect(bad.details[0].path).toBe("account_sid");
    const deleted = await json(await call("DELETE", `/v1/channels/${channel.id}`, { key: live.secret }));
    expect(deleted.id).toBe(channel.id);
    await expectError(
      await call("GET", `/v1/channels/${channel.id}`, { key: live.secret }),
      404,
      "resource_not_found",
    );
  });

  it("a live send without a sender says how to connect one", async () => {
    const live = await liveTenant();
    const error = await expectError(
      await send(live.secret, { channel: "sms", to: TO, text: { body: "x" } }),
      422,
      "channel_not_configured",
    );
    expect(error.message).toContain("POST /v1/channels");
  });
});

describe("live sends through the providers' wire formats", () => {
  it("WhatsApp: template submitted to Meta, then sent with the bearer token and Meta's payload", async () => {
    const live = await liveTenant();
    const meta = fakeMeta();
    const account = await meta.createAccount({ templateStatus: "APPROVED" });
    await call("POST", "/v1/channels", {
      key: live.secret,
      body: {
        type: "whatsapp",
        name: "n",
        phone_number_id: account.phoneNumberId,
        waba_id: account.wabaId,
        access_token: account.accessToken,
        app_secret: account.appSecret,
      },
    });
    const template = await json(
      await call("POST", "/v1/templates", {
        key: live.secret,
        body: {
          name: "order_confirmation",
          language: "pt_BR",
          category: "utility",
          body: "Olá {{1}}, pedido {{2}} confirmado.",
          examples: { "1": "Maria", "2": "#1" },
        },
      }),
    );
    expect(template.status).toBe("approved");
    const submitted = await meta.onlyRequest(account.scope, { path: "/message_templates" });
    expect(submitted.headers.authorization).toBe(`Bearer ${account.accessToken}`);
    expect(submitted.body).toMatchObject({
      name: "order_confirmation",
      language: "pt_BR",
      category: "UTILITY",
    });

    const missing = await expectError(
      await send(live.secret, {
        channel: "whatsapp",
        to: TO,
        template: { name: "order_confirmation", language: "pt_BR", variables: { "1": "Maria", "9": "x" } },
      }),
      422,
      "template_variables_invalid",
    );
    expect(missing.message).toBe(
      "Template order_confirmation (pt_BR) expects variables 1,2; missing 2; unexpected 9.",
    );

    const accepted = await json(
      await send(live.secret, {
        channel: "whatsapp",
        to: TO,
        template: {
          name: "order_confirmation",
          language: "pt_BR",
          variables: { "1": "Maria", "2": "#1234" },
        },
      }),
    );
    expect(accepted.cost_estimate).toBe("0.0080");
    const sent = await waitForMessage(live.secret, accepted.id, (m) => m.status === "sent");
    const request = await meta.onlyRequest(account.scope, { path: "/messages" });
    expect(request.path).toBe(`/v21.0/${account.phoneNumberId}/messages`);
    expect(request.headers.authorization).toBe(`Bearer ${account.accessToken}`);
    expect(request.body).toMatchObject({
      messaging_product: "whatsapp",
      to: "5511987654321",
      type: "template",
      template: {
        name: "order_confirmation",
        language: { code: "pt_BR" },
        components: [
          {
            type: "body",
            parameters: [
              { type: "text", text: "Maria" },
              { type: "text", text: "#1234" },
            ],
          },
        ],
      },
    });
    expect(sent.provider_message_id).toBe(request.response?.body.messages[0].id);

    await openCustomerWindow(live.tenantId, TO, new Date(), "live");
    const text = await json(
      await send(live.secret, { channel: "whatsapp", to: TO, text: { body: "Obrigado!" } }),
    );
    await waitForMessage(live.secret, text.id, (m) => m.status === "sent");
  });

  it("SMS: Twilio form post with basic auth; a 5xx is retried and the message sent once", async () => {
    const live = await liveTenant();
    const twilio = fakeTwilio();
    const account = await twilio.createAccount();
    const channel = await json(
      await call("POST", "/v1/channels", {
        key: live.secret,
        body: {
          type: "sms",
          name: "n",
          account_sid: account.accountSid,
          auth_token: account.authToken,
          from: account.from,
        },
      }),
    );
    await twilio.script(account.scope, [
      { status: 503, body: { code: 20500, message: "Internal error", status: 503 } },
    ]);
    const accepted = await json(
      await send(live.secret, { channel: "sms", to: TO, text: { body: "Código 1234" } }),
    );
    const sent = await waitForMessage(live.secret, accepted.id, (m) => m.status === "sent");
    expect(sent.attempts).toBe(2);
    const requests = await twilio.requests(account.scope);
    expect(requests.length).toBe(2);
    const last = requests[1];
    expect(last?.headers.authorization).toBe(`Basic ${btoa(`${account.accountSid}:${account.authToken}`)}`);
    expect(last?.headers["content-type"]).toContain("application/x-www-form-urlencoded");
    expect(last?.body).toMatchObject({
      To: TO,
      From: account.from,
      Body: "Código 1234",
      StatusCallback: `http://localhost:8787/inbound/twilio/${channel.id}/status`,
    });
    expect(sent.provider_message_id).toBe(last?.response?.body.sid);
  });

  it("email: Resend with our message id as Idempotency-Key; exhausted retries fail and refund", async () => {
    const live = await liveTenant();
    const resend = fakeResend();
    const account = await resend.createAccount();
    await call("POST", "/v1/channels", {
      key: live.secret,
      body: { type: "email", name: "n", api_key: account.apiKey, from: account.from },
    });
    const ok = await json(
      await send(live.secret, {
        channel: "email",
        to: "ana@example.com",
        email: { subject: "Hi", html: "<p>Hi</p>" },
      }),
    );
    await waitForMessage(live.secret, ok.id, (m) => m.status === "sent");
    const request = await resend.onlyRequest(account.scope);
    expect(request.headers["idempotency-key"]).toBe(ok.id);
    expect(request.body).toMatchObject({
      from: account.from,
      to: ["ana@example.com"],
      subject: "Hi",
      html: "<p>Hi</p>",
    });

    // Always 503: the queue retries (no delay in tests), then the dead-letter consumer fails the message.
    await resend.script(
      account.scope,
      Array.from({ length: 12 }, () => ({
        status: 503,
        body: { statusCode: 503, name: "internal_server_error", message: "down" },
      })),
    );
    const before = Number((await json(await call("GET", "/v1/balance", { key: live.secret }))).balance);
    const doomed = await json(
      await send(live.secret, {
        channel: "email",
        to: "bo@example.com",
        email: { subject: "Hi", text: "Hi" },
      }),
    );
    const failed = await waitForMessage(live.secret, doomed.id, (m) => m.status === "failed", 25_000);
    expect(failed.error.reason).toContain("Gave up after");
    expect(Number((await json(await call("GET", "/v1/balance", { key: live.secret }))).balance)).toBeCloseTo(
      before,
      6,
    );
  });
});

describe("idempotent sends", () => {
  it("50 concurrent identical sends with one key: one provider call, every answer the same message or a 409", async () => {
    const live = await liveTenant();
    const twilio = fakeTwilio();
    const account = await twilio.createAccount();
    await call("POST", "/v1/channels", {
      key: live.secret,
      body: {
        type: "sms",
        name: "n",
        account_sid: account.accountSid,
        auth_token: account.authToken,
        from: account.from,
      },
    });
    const body = { channel: "sms", to: TO, text: { body: "exactly once" } };
    const answers = await Promise.all(Array.from({ length: 50 }, () => send(live.secret, body, "live-once")));
    const ids = new Set<string>();
    for (const res of answers) {
      if (res.status === 409) continue;
      expect(res.status).toBe(202);
      ids.add((await json(res)).id);
    }
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    await waitForMessage(live.secret, id as string, (m) => m.status === "sent");
    // Late retries replay the stored answer; none reaches the provider again.
    const replay = await send(live.secret, body, "live-once");
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect((await json(replay)).id).toBe(id);
    expect((await twilio.requests(account.scope)).length).toBe(1);
  });
});

describe("outbox sweeper", () => {
  it("dispatches a due scheduled message once, from the minute cron alone", async () => {
    const live = await liveTenant();
    const twilio = fakeTwilio();
    const account = await twilio.createAccount();
    await call("POST", "/v1/channels", {
      key: live.secret,
      body: {
        type: "sms",
        name: "n",
        account_sid: account.accountSid,
        auth_token: account.authToken,
        from: account.from,
      },
    });
    // Beyond the queue's 12-hour delay: nothing is queued, only the outbox row exists.
    const at = new Date(Date.now() + 20 * 3600_000).toISOString();
    const accepted = await json(
      await send(live.secret, { channel: "sms", to: TO, text: { body: "later" }, schedule_at: at }),
    );
    expect(accepted.status).toBe("scheduled");
    // Time passes (the row becomes due) — then only the cron can notice.
    await env.DB.prepare("UPDATE messages SET scheduled_at = ? WHERE id = ?")
      .bind(Date.now() - 1000, accepted.id)
      .run();
    await env.DB.prepare("UPDATE outbox SET available_at = ? WHERE subject_id = ?")
      .bind(Date.now() - 1000, accepted.id)
      .run();
    await runCron();
    const sent = await waitForMessage(live.secret, accepted.id, (m) => m.status === "sent");
    expect(sent.events.map((e: any) => e.type)).toEqual(["message.queued", "message.sent"]);
    await runCron();
    await runCron();
    expect((await twilio.requests(account.scope)).length).toBe(1);
  });

  it("re-drives a queued message whose queue message was lost, and sends it once", async () => {
    const live = await liveTenant();
    const twilio = fakeTwilio();
    const account = await twilio.createAccount();
    await call("POST", "/v1/channels", {
      key: live.secret,
      body: {
        type: "sms",
        name: "n",
        account_sid: account.accountSid,
        auth_token: account.authToken,
        from: account.from,
      },
    });
    // Accepted (row + outbox committed) but never put on the queue: what a crash right after the batch leaves.
    const far = new Date(Date.now() + 20 * 3600_000).toISOString();
    const accepted = await json(
      await send(live.secret, { channel: "sms", to: TO, text: { body: "x" }, schedule_at: far }),
    );
    await env.DB.prepare("UPDATE messages SET status = 'queued', scheduled_at = NULL WHERE id = ?")
      .bind(accepted.id)
      .run();
    await env.DB.prepare("UPDATE outbox SET available_at = ?, lease_until = ? WHERE subject_id = ?")
      .bind(Date.now() - 60_000, Date.now() - 1000, accepted.id)
      .run();
    await runCron();
    await waitForMessage(live.secret, accepted.id, (m) => m.status === "sent");
    await runCron();
    await runCron();
    expect((await twilio.requests(account.scope)).length).toBe(1);
    const left = await env.DB.prepare("SELECT count(*) AS n FROM outbox WHERE subject_id = ?")
      .bind(accepted.id)
      .first<{ n: number }>();
    expect(left?.n).toBe(0);
  });
});
