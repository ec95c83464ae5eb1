import { beforeEach, describe, expect, it } from "vitest";
import { createTwilioSmsAdapter, type TwilioConfig } from "../../src/providers/twilio-sms";
import type { MessageContent } from "../../src/providers/types";
import { type FakeTwilioAccount, fakeTwilio } from "../fakes/client";
import {
  CLOSED_PORT_URL,
  emailContent,
  expectFailure,
  expectNoSecrets,
  expectOk,
  outbound,
  textContent,
} from "./support";

const twilio = fakeTwilio();
const TO = "+14155550123";
const CALLBACK = "https://api.sendwire.test/v1/inbound/twilio/status";
let account: FakeTwilioAccount;

beforeEach(async () => {
  account = await twilio.createAccount();
});

const adapter = (overrides: Partial<TwilioConfig> = {}) =>
  createTwilioSmsAdapter(account, { baseUrl: twilio.baseUrl, statusCallbackUrl: CALLBACK, ...overrides });

const twilioError = (code: number, message: string, status: number) => ({
  code,
  message,
  more_info: `https://www.twilio.com/docs/errors/${code}`,
  status,
});

const secrets = () => [account.authToken, btoa(`${account.accountSid}:${account.authToken}`)];

describe("Twilio SMS adapter: requests", () => {
  it("posts a form to /2010-04-01/Accounts/{sid}/Messages.json with Basic auth and returns the SM sid", async () => {
    const id = expectOk(await adapter().send(outbound("sms", TO, textContent("Your code is 123456"))));
    const req = await twilio.onlyRequest(account.scope);
    expect(req.method).toBe("POST");
    expect(req.path).toBe(`/2010-04-01/Accounts/${account.accountSid}/Messages.json`);
    expect(req.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(req.headers.authorization).toBe(`Basic ${btoa(`${account.accountSid}:${account.authToken}`)}`);
    expect(req.body).toEqual({
      To: TO,
      From: account.from,
      Body: "Your code is 123456",
      StatusCallback: CALLBACK,
    });
    expect(req.response?.status).toBe(201);
    expect(id).toBe(req.response?.body.sid);
    expect(id).toMatch(/^SM[0-9a-f]{32}$/);
  });

  it("form-encodes awkward bodies exactly (&, =, +, %, newlines, emoji)", async () => {
    const body = "a&b=c+d 100% ✓\nline 2 🎉 ção";
    expectOk(await adapter().send(outbound("sms", TO, textContent(body))));
    const req = await twilio.onlyRequest(account.scope);
    expect(req.body.Body).toBe(body);
    expect(req.rawBody).toContain("To=%2B14155550123");
    expect(req.rawBody).not.toContain("a&b");
    expect(new URLSearchParams(req.rawBody).get("Body")).toBe(body);
  });

  it("uses MessagingServiceSid instead of From when the credentials have one", async () => {
    account = await twilio.createAccount({ messagingService: true });
    const id = expectOk(await adapter().send(outbound("sms", TO, textContent("hi"))));
    expect(id).toMatch(/^SM/);
    const req = await twilio.onlyRequest(account.scope);
    expect(req.body.MessagingServiceSid).toBe(account.messagingServiceSid);
    expect(req.body.From).toBeUndefined();
    expect(req.response?.body.status).toBe("accepted");
  });

  it("omits StatusCallback when none is configured", async () => {
    expectOk(await adapter({ statusCallbackUrl: undefined }).send(outbound("sms", TO, textContent("hi"))));
    const req = await twilio.onlyRequest(account.scope);
    expect(req.body).toEqual({ To: TO, From: account.from, Body: "hi" });
  });

  it("sends a template's rendered body", async () => {
    const content: MessageContent = {
      kind: "template",
      template: {
        name: "otp",
        language: "en_US",
        variables: { "1": "123456" },
        placeholderStyle: "numbered",
        renderedBody: "Your Acme code is 123456",
      },
    };
    expectOk(await adapter().send(outbound("sms", TO, content)));
    expect((await twilio.onlyRequest(account.scope)).body.Body).toBe("Your Acme code is 123456");
  });

  it("sends media as MediaUrl with the caption as Body (an MMS: MM sid)", async () => {
    const content: MessageContent = {
      kind: "media",
      media: { type: "image", url: "https://cdn.test/receipt.png", caption: "Your receipt" },
    };
    const id = expectOk(await adapter().send(outbound("sms", TO, content)));
    expect(id).toMatch(/^MM[0-9a-f]{32}$/);
    const req = await twilio.onlyRequest(account.scope);
    expect(req.body).toEqual({
      To: TO,
      From: account.from,
      MediaUrl: "https://cdn.test/receipt.png",
      Body: "Your receipt",
      StatusCallback: CALLBACK,
    });
  });

  it("sends media without a caption as MediaUrl alone", async () => {
    const content: MessageContent = {
      kind: "media",
      media: { type: "image", url: "https://cdn.test/a.png" },
    };
    expectOk(await adapter().send(outbound("sms", TO, content)));
    const req = await twilio.onlyRequest(account.scope);
    expect(req.body.Body).toBeUndefined();
    expect(req.body.MediaUrl).toBe("https://cdn.test/a.png");
  });

  it.each([
    [
      "interactive",
      { kind: "interactive", interactive: { type: "button", body: "?", buttons: [{ id: "y", title: "Y" }] } },
    ],
    ["email", emailContent("Hi", "<p>hi</p>")],
  ] as Array<[string, MessageContent]>)(
    "refuses %s content with unsupported_content, without calling Twilio",
    async (_kind, content) => {
      const result = await adapter().send(outbound("sms", TO, content));
      expectFailure(result, { code: "unsupported_content", retryable: false });
      expect(await twilio.requests(account.scope)).toEqual([]);
    },
  );
});

describe("Twilio SMS adapter: errors", () => {
  it("maps the fake's invalid To (21211) to a permanent failure", async () => {
    const result = await adapter().send(outbound("sms", "+12", textContent("hi")));
    const failure = expectFailure(result, { code: "21211", retryable: false });
    expect(failure.reason).toBe(
      "The 'To' number +12 is not a valid phone number. (https://www.twilio.com/docs/errors/21211)",
    );
  });

  it("maps the fake's authentication failure (20003) to a permanent failure without the token", async () => {
    const wrong = createTwilioSmsAdapter(
      { ...account, authToken: "f".repeat(32) },
      { baseUrl: twilio.baseUrl },
    );
    const result = await wrong.send(outbound("sms", TO, textContent("hi")));
    expectFailure(result, { code: "20003", retryable: false });
    expectNoSecrets(result, [...secrets(), "f".repeat(32)]);
    expect((await twilio.onlyRequest(account.scope)).response?.status).toBe(401);
  });

  it("maps the fake's unknown From number (21606) to a permanent failure", async () => {
    const other = createTwilioSmsAdapter({ ...account, from: "+14155559999" }, { baseUrl: twilio.baseUrl });
    const result = await other.send(outbound("sms", TO, textContent("hi")));
    expectFailure(result, { code: "21606", retryable: false });
  });

  it.each([
    [21211, 400, "The 'To' number is not a valid phone number.", false],
    [21614, 400, "'To' number is not a valid mobile number", false],
    [21610, 400, "Attempt to send to unsubscribed recipient", false],
    [
      21408,
      400,
      "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
      false,
    ],
    [
      21606,
      400,
      "The 'From' phone number provided is not a valid message-capable Twilio phone number",
      false,
    ],
    [20003, 401, "Authenticate", false],
    [20429, 429, "Too Many Requests", true],
    [21611, 400, "This 'From' number has exceeded the maximum number of queued messages", true],
    [20500, 500, "An internal server error has occurred", true],
    [30999, 400, "unknown code on a 4xx", false],
  ])("maps Twilio code %i (HTTP %i: %s), retryable %s", async (code, status, message, retryable) => {
    await twilio.script(account.scope, [{ status, body: twilioError(code, message, status) }]);
    const result = await adapter().send(outbound("sms", TO, textContent("hi")));
    const failure = expectFailure(result, { code: String(code), retryable });
    expect(failure.reason).toBe(`${message} (https://www.twilio.com/docs/errors/${code})`);
  });

  it("honours Retry-After on a 429", async () => {
    await twilio.script(account.scope, [
      { status: 429, headers: { "Retry-After": "12" }, body: twilioError(20429, "Too Many Requests", 429) },
    ]);
    const result = await adapter().send(outbound("sms", TO, textContent("hi")));
    expectFailure(result, { code: "20429", retryable: true, retryAfterSeconds: 12 });
  });

  it("treats a 503 without a Twilio error body as retryable", async () => {
    await twilio.script(account.scope, [{ status: 503, body: "Service Unavailable" }]);
    const result = await adapter().send(outbound("sms", TO, textContent("hi")));
    expectFailure(result, { code: "http_503", retryable: true });
  });

  it("never puts the auth token into a reason, even when Twilio echoes it", async () => {
    await twilio.script(account.scope, [
      { status: 400, body: twilioError(21604, `bad request for ${account.authToken}`, 400) },
    ]);
    const result = await adapter().send(outbound("sms", TO, textContent("hi")));
    expectFailure(result, { code: "21604", retryable: false });
    expectNoSecrets(result, secrets());
  });

  it("times out (retryable) when Twilio is slower than the timeout", async () => {
    await twilio.script(account.scope, [{ status: 201, body: { sid: "SMx" }, delayMs: 3_000 }]);
    const started = Date.now();
    const result = await adapter({ timeoutMs: 200 }).send(outbound("sms", TO, textContent("hi")));
    expectFailure(result, { code: "timeout", retryable: true });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("reports a refused connection as a retryable network_error", async () => {
    const result = await createTwilioSmsAdapter(account, { baseUrl: CLOSED_PORT_URL }).send(
      outbound("sms", TO, textContent("hi")),
    );
    expectFailure(result, { code: "network_error", retryable: true });
    expectNoSecrets(result, secrets());
  });

  it("does not retry a 201 without a sid (Twilio may have sent it)", async () => {
    await twilio.script(account.scope, [{ status: 201, body: { status: "queued" } }]);
    const result = await adapter().send(outbound("sms", TO, textContent("hi")));
    expectFailure(result, { code: "invalid_response", retryable: false });
  });
});
