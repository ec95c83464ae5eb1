/**
 * The fake providers themselves: scoping, scripting, recordings, and that they refuse what the real providers
 * refuse, in the real providers' error formats (raw HTTP here, no adapter in between).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { fakeMeta, fakeResend, fakeTwilio } from "../fakes/client";

const meta = fakeMeta();
const twilio = fakeTwilio();
const resend = fakeResend();

async function postMeta(
  account: { phoneNumberId: string; accessToken: string },
  body: unknown,
  version = "v21.0",
) {
  const res = await fetch(`${meta.baseUrl}/${version}/${account.phoneNumberId}/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${account.accessToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const text = (to: string, body = "hi") => ({
  messaging_product: "whatsapp",
  to,
  type: "text",
  text: { body },
});

describe("fake plumbing", () => {
  it("binds the fakes on loopback for both the tests and the worker under test", () => {
    for (const name of ["FAKE_META_BASE", "FAKE_TWILIO_BASE", "FAKE_RESEND_BASE"] as const) {
      expect(env[name]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    }
    const e = env as unknown as Record<string, string>;
    expect(e.WHATSAPP_API_BASE).toBe(env.FAKE_META_BASE);
    expect(e.TWILIO_API_BASE).toBe(env.FAKE_TWILIO_BASE);
    expect(e.RESEND_API_BASE).toBe(env.FAKE_RESEND_BASE);
  });

  it("keeps scripts and recordings per scope: one account's script never answers another's request", async () => {
    const [a, b] = await Promise.all([meta.createAccount(), meta.createAccount()]);
    await meta.script(a.scope, [{ status: 500, body: { error: { message: "boom", code: 131000 } } }]);
    const [ra, rb] = await Promise.all([
      postMeta(a, text("5511900000001")),
      postMeta(b, text("5511900000002")),
    ]);
    expect(ra.status).toBe(500);
    expect(rb.status).toBe(200);
    expect((await meta.requests(a.scope)).map((r) => r.body.to)).toEqual(["5511900000001"]);
    expect((await meta.requests(b.scope)).map((r) => r.body.to)).toEqual(["5511900000002"]);
  });

  it("consumes scripted responses in order, then behaves normally again", async () => {
    const a = await meta.createAccount();
    await meta.script(a.scope, [
      { status: 503, body: "down" },
      {
        status: 429,
        body: { error: { message: "(#130429) Rate limit hit", code: 130429 } },
        headers: { "retry-after": "2" },
      },
    ]);
    const statuses = [];
    for (let i = 0; i < 3; i++)
      statuses.push(
        (
          await fetch(`${meta.baseUrl}/v21.0/${a.phoneNumberId}/messages`, {
            method: "POST",
            headers: { authorization: `Bearer ${a.accessToken}`, "content-type": "application/json" },
            body: JSON.stringify(text("5511900000003")),
          })
        ).status,
      );
    expect(statuses).toEqual([503, 429, 200]);
    const recorded = await meta.requests(a.scope);
    expect(recorded.map((r) => [r.scripted, r.response?.status])).toEqual([
      [true, 503],
      [true, 429],
      [false, 200],
    ]);
  });

  it("matches scripts by recipient (phone numbers compare as digits) and by path", async () => {
    const a = await meta.createAccount();
    await meta.script(a.scope, [{ status: 400, body: { error: { message: "(#131026)", code: 131026 } } }], {
      to: "+55 11 90000-0009",
    });
    await meta.script(a.scope, [{ status: 500, body: "templates down" }], { path: "/message_templates" });
    expect((await postMeta(a, text("5511900000008"))).status).toBe(200);
    expect((await postMeta(a, text("5511900000009"))).status).toBe(400);
    expect((await postMeta(a, text("5511900000009"))).status).toBe(200);
  });

  it("requires a scope to read recordings, filters by path, and resets by scope", async () => {
    const bad = await fetch(`${meta.baseUrl}/__control/requests`);
    expect(bad.status).toBe(400);
    const a = await meta.createAccount();
    await postMeta(a, text("5511900000010"));
    expect(await meta.requests(a.scope, { path: "/message_templates" })).toEqual([]);
    expect(await meta.requests(a.scope, { path: "/messages" })).toHaveLength(1);
    await meta.script(a.scope, [{ status: 500 }]);
    await meta.reset(a.scope);
    expect(await meta.requests(a.scope)).toEqual([]);
    expect((await postMeta(a, text("5511900000010"))).status).toBe(200);
    await meta.reset(a.scope, { accounts: true });
    expect((await postMeta(a, text("5511900000010"))).status).toBe(400);
  });

  it("keeps only the last 200 recordings of a scope", async () => {
    const a = await twilio.createAccount();
    const auth = `Basic ${btoa(`${a.accountSid}:${a.authToken}`)}`;
    const url = `${twilio.baseUrl}/2010-04-01/Accounts/${a.accountSid}/Messages.json`;
    for (let i = 0; i < 205; i += 41) {
      await Promise.all(
        Array.from({ length: 41 }, (_, j) =>
          fetch(url, {
            method: "POST",
            headers: { authorization: auth, "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({ To: "+14155550123", From: a.from as string, Body: `n${i + j}` }),
          }).then((r) => r.arrayBuffer()),
        ),
      );
    }
    const recorded = await twilio.requests(a.scope);
    expect(recorded).toHaveLength(200);
  });

  it("rejects malformed scripts", async () => {
    const res = await fetch(`${meta.baseUrl}/__control/script`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ scope: "x", responses: [{ status: 42 }] }),
    });
    expect(res.status).toBe(400);
    await expect(meta.script("x", [])).rejects.toThrow(/responses must be a non-empty array/);
  });
});

describe("fake Meta refuses what Meta refuses", () => {
  it.each([
    [
      "no messaging_product",
      { to: "5511900000011", type: "text", text: { body: "x" } },
      100,
      /messaging_product is required/,
    ],
    [
      "wrong messaging_product",
      { ...text("5511900000011"), messaging_product: "sms" },
      100,
      /must be one of/,
    ],
    [
      "no to",
      { messaging_product: "whatsapp", type: "text", text: { body: "x" } },
      100,
      /parameter to is required/,
    ],
    ["empty body", text("5511900000011", ""), 131009, /Parameter value is not valid/],
    [
      "caption on audio",
      {
        ...text("5511900000011"),
        type: "audio",
        text: undefined,
        audio: { link: "https://x.test/a.ogg", caption: "no" },
      },
      100,
      /Unexpected key "caption" on param "audio"/,
    ],
    [
      "unknown type",
      { messaging_product: "whatsapp", to: "5511900000011", type: "hologram", hologram: {} },
      131051,
      /Unsupported message type/,
    ],
    [
      "button title over 20 chars",
      {
        messaging_product: "whatsapp",
        to: "5511900000011",
        type: "interactive",
        interactive: {
          type: "button",
          body: { text: "?" },
          action: { buttons: [{ type: "reply", reply: { id: "1", title: "x".repeat(21) } }] },
        },
      },
      131009,
      /Parameter value is not valid/,
    ],
    [
      "named and positional parameters mixed",
      {
        messaging_product: "whatsapp",
        to: "5511900000011",
        type: "template",
        template: {
          name: "t",
          language: { code: "en_US" },
          components: [
            {
              type: "body",
              parameters: [
                { type: "text", text: "a", parameter_name: "a" },
                { type: "text", text: "b" },
              ],
            },
          ],
        },
      },
      131009,
      /Parameter value is not valid/,
    ],
  ])("%s", async (_name, body, code, message) => {
    const a = await meta.createAccount();
    const res = await postMeta(a, body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.message).toMatch(message);
    expect(res.body.error.fbtrace_id).toEqual(expect.any(String));
  });

  it("answers a missing token with 104 and an unknown Graph version with 2500", async () => {
    const a = await meta.createAccount();
    const noToken = await fetch(`${meta.baseUrl}/v21.0/${a.phoneNumberId}/messages`, {
      method: "POST",
      body: "{}",
    });
    expect(((await noToken.json()) as any).error.code).toBe(104);
    expect((await postMeta(a, text("5511900000012"), "21.0")).body.error.code).toBe(2500);
  });

  it("answers success with contacts and a wamid", async () => {
    const a = await meta.createAccount();
    const res = await postMeta(a, text("+5511900000013"));
    expect(res.body).toEqual({
      messaging_product: "whatsapp",
      contacts: [{ input: "+5511900000013", wa_id: "5511900000013" }],
      messages: [{ id: expect.stringMatching(/^wamid\.HBg/) }],
    });
  });
});

describe("fake Twilio refuses what Twilio refuses", () => {
  async function post(
    form: Record<string, string> | string,
    contentType = "application/x-www-form-urlencoded",
    sid?: string,
  ) {
    const a = await twilio.createAccount();
    const body =
      typeof form === "string" ? form : new URLSearchParams({ From: a.from as string, ...form }).toString();
    const res = await fetch(`${twilio.baseUrl}/2010-04-01/Accounts/${sid ?? a.accountSid}/Messages.json`, {
      method: "POST",
      headers: {
        authorization: `Basic ${btoa(`${a.accountSid}:${a.authToken}`)}`,
        "content-type": contentType,
      },
      body,
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  it.each([
    ["no To", { Body: "x" }, 21604],
    ["To not E.164", { To: "4155550123", Body: "x" }, 21211],
    ["no Body nor MediaUrl", { To: "+14155550123" }, 21602],
    ["Body over 1600 chars", { To: "+14155550123", Body: "x".repeat(1601) }, 21617],
    ["bad StatusCallback", { To: "+14155550123", Body: "x", StatusCallback: "not a url" }, 21609],
    ["bad MediaUrl", { To: "+14155550123", MediaUrl: "ftp://x" }, 21620],
  ])("%s → %i", async (_name, form, code) => {
    const res = await post(form);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      code,
      message: expect.any(String),
      more_info: `https://www.twilio.com/docs/errors/${code}`,
      status: 400,
    });
  });

  it("ignores a JSON body (Twilio only reads forms): 21604", async () => {
    const res = await post(JSON.stringify({ To: "+14155550123", Body: "x" }), "application/json");
    expect(res.body.code).toBe(21604);
  });

  it("refuses credentials used on another account's path: 401 20003", async () => {
    const other = await twilio.createAccount();
    const res = await post({ To: "+14155550123", Body: "x" }, undefined, other.accountSid);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe(20003);
  });
});

describe("fake Resend refuses what Resend refuses", () => {
  async function post(body: unknown, headers: Record<string, string> = {}, withKey = true) {
    const a = await resend.createAccount();
    const res = await fetch(`${resend.baseUrl}/emails`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(withKey ? { authorization: `Bearer ${a.apiKey}` } : {}),
        ...headers,
      },
      body: JSON.stringify(typeof body === "function" ? body(a) : body),
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  it.each([
    ["no from", { to: "a@b.test", subject: "s" }, 422, "missing_required_field"],
    ["no subject", (a: any) => ({ from: a.from, to: "a@b.test" }), 422, "missing_required_field"],
    ["bad to", (a: any) => ({ from: a.from, to: ["nope"], subject: "s" }), 422, "validation_error"],
  ])("%s → %i %s", async (_name, body, status, name) => {
    const res = await post(body);
    expect(res).toEqual({ status, body: { statusCode: status, name, message: expect.any(String) } });
  });

  it("answers a missing key with 401 missing_api_key and a too-long idempotency key with 400", async () => {
    expect((await post({}, {}, false)).body.name).toBe("missing_api_key");
    const res = await post((a: any) => ({ from: a.from, to: "a@b.test", subject: "s", text: "t" }), {
      "idempotency-key": "k".repeat(257),
    });
    expect(res.body.name).toBe("invalid_idempotency_key");
  });
});
