import { beforeEach, describe, expect, it } from "vitest";
import { createResendEmailAdapter, type ResendConfig } from "../../src/providers/resend-email";
import type { MessageContent } from "../../src/providers/types";
import { type FakeResendAccount, fakeResend } from "../fakes/client";
import {
  CLOSED_PORT_URL,
  emailContent,
  expectFailure,
  expectNoSecrets,
  expectOk,
  outbound,
  textContent,
} from "./support";

const resend = fakeResend();
const TO = "ana@customer.test";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
let account: FakeResendAccount;

beforeEach(async () => {
  account = await resend.createAccount();
});

const adapter = (overrides: Partial<ResendConfig> = {}) =>
  createResendEmailAdapter(account, { baseUrl: resend.baseUrl, ...overrides });

const resendError = (statusCode: number, name: string, message: string) => ({ statusCode, name, message });

describe("Resend adapter: requests", () => {
  it("posts JSON to /emails with the bearer key and our message id as Idempotency-Key", async () => {
    const message = outbound("email", TO, emailContent("Your receipt", "<p>Thanks!</p>", "Thanks!"));
    const id = expectOk(await adapter().send(message));
    const req = await resend.onlyRequest(account.scope);
    expect(req.method).toBe("POST");
    expect(req.path).toBe("/emails");
    expect(req.headers.authorization).toBe(`Bearer ${account.apiKey}`);
    expect(req.headers["idempotency-key"]).toBe(message.id);
    expect(req.headers["content-type"]).toContain("application/json");
    expect(req.body).toEqual({
      from: account.from,
      to: [TO],
      subject: "Your receipt",
      html: "<p>Thanks!</p>",
      text: "Thanks!",
    });
    expect(id).toBe(req.response?.body.id);
    expect(id).toMatch(UUID);
  });

  it("omits html or text when the content lacks them", async () => {
    expectOk(await adapter().send(outbound("email", TO, emailContent("Plain", undefined, "just text"))));
    const req = await resend.onlyRequest(account.scope);
    expect(req.body).toEqual({ from: account.from, to: [TO], subject: "Plain", text: "just text" });
  });

  it("sends a template as plain text with the template name as subject", async () => {
    const content: MessageContent = {
      kind: "template",
      template: {
        name: "order_shipped",
        language: "en_US",
        variables: { "1": "42" },
        placeholderStyle: "numbered",
        renderedBody: "Order 42 has shipped.",
      },
    };
    expectOk(await adapter().send(outbound("email", TO, content)));
    const req = await resend.onlyRequest(account.scope);
    expect(req.body).toEqual({
      from: account.from,
      to: [TO],
      subject: "order_shipped",
      text: "Order 42 has shipped.",
    });
  });

  it("a retried send with the same message id gets Resend's replayed answer: one email, one id", async () => {
    const message = outbound("email", TO, emailContent("Once", "<p>once</p>"));
    const first = expectOk(await adapter().send(message));
    const second = expectOk(await adapter().send({ ...message, attempt: 2 }));
    expect(second).toBe(first);
    const reqs = await resend.requests(account.scope);
    expect(reqs.map((r) => r.headers["idempotency-key"])).toEqual([message.id, message.id]);
  });

  it.each([
    ["text", textContent("hi")],
    ["media", { kind: "media", media: { type: "image", url: "https://cdn.test/a.png" } }],
    [
      "interactive",
      { kind: "interactive", interactive: { type: "button", body: "?", buttons: [{ id: "y", title: "Y" }] } },
    ],
  ] as Array<[string, MessageContent]>)(
    "refuses %s content with unsupported_content, without calling Resend",
    async (_k, content) => {
      const result = await adapter().send(outbound("email", TO, content));
      expectFailure(result, { code: "unsupported_content", retryable: false });
      expect(await resend.requests(account.scope)).toEqual([]);
    },
  );
});

describe("Resend adapter: errors", () => {
  it("maps the fake's invalid API key (403 invalid_api_key) to a permanent failure without the key", async () => {
    const wrong = createResendEmailAdapter(
      { ...account, apiKey: "re_wrong_key_123456" },
      { baseUrl: resend.baseUrl },
    );
    const result = await wrong.send(outbound("email", TO, emailContent("x", "<p>x</p>")));
    expectFailure(result, { code: "invalid_api_key", retryable: false });
    expectNoSecrets(result, ["re_wrong_key_123456", account.apiKey]);
  });

  it("maps the fake's unverified sender domain (403 validation_error) to a permanent failure", async () => {
    const other = createResendEmailAdapter(
      { ...account, from: "x@unverified.test" },
      { baseUrl: resend.baseUrl },
    );
    const result = await other.send(outbound("email", TO, emailContent("x", "<p>x</p>")));
    const failure = expectFailure(result, { code: "validation_error", retryable: false });
    expect(failure.reason).toContain("unverified.test domain is not verified");
  });

  it("maps the fake's invalid recipient (422 validation_error) to a permanent failure", async () => {
    const result = await adapter().send(outbound("email", "not-an-email", emailContent("x", "<p>x</p>")));
    const failure = expectFailure(result, { code: "validation_error", retryable: false });
    expect(failure.reason).toContain("Invalid `to` field");
  });

  it("maps the fake's invalid from address (422 invalid_from_address)", async () => {
    const other = createResendEmailAdapter({ ...account, from: "Acme" }, { baseUrl: resend.baseUrl });
    const result = await other.send(outbound("email", TO, emailContent("x", "<p>x</p>")));
    expectFailure(result, { code: "invalid_from_address", retryable: false });
  });

  it("maps the fake's same-key-different-payload conflict (409 invalid_idempotent_request)", async () => {
    const message = outbound("email", TO, emailContent("First", "<p>1</p>"));
    expectOk(await adapter().send(message));
    const changed = { ...message, content: emailContent("Second", "<p>2</p>") };
    expectFailure(await adapter().send(changed), { code: "invalid_idempotent_request", retryable: false });
  });

  it.each([
    [422, "missing_required_field", "Missing `subject` field.", false],
    [400, "validation_error", "We found an error with one or more fields in the request.", false],
    [400, "invalid_idempotency_key", "The key must be between 1-256 chars.", false],
    [409, "invalid_idempotent_request", "Same idempotency key used with a different request payload.", false],
    [
      409,
      "concurrent_idempotent_requests",
      "Same idempotency key used while original request is still in progress.",
      true,
    ],
    [401, "missing_api_key", "Missing API key in the authorization header.", false],
    [401, "restricted_api_key", "This API key is restricted to only send emails.", false],
    [403, "invalid_api_key", "API key is invalid.", false],
    [429, "rate_limit_exceeded", "Too many requests. You can only make 2 requests per second.", true],
    [429, "daily_quota_exceeded", "You have reached your daily email sending quota.", false],
    [429, "monthly_quota_exceeded", "You have reached your monthly email sending quota.", false],
    [500, "application_error", "An unexpected error occurred.", true],
    [500, "internal_server_error", "An unexpected error occurred.", true],
    [418, "some_new_error", "unknown name on a 4xx", false],
  ])("maps Resend %i %s, retryable %s", async (status, name, message, retryable) => {
    await resend.script(account.scope, [{ status, body: resendError(status, name, message) }]);
    const result = await adapter().send(outbound("email", TO, emailContent("x", "<p>x</p>")));
    const failure = expectFailure(result, { code: name, retryable });
    expect(failure.reason).toBe(message);
  });

  it("honours Retry-After on rate_limit_exceeded", async () => {
    await resend.script(account.scope, [
      {
        status: 429,
        headers: {
          "retry-after": "1",
          "ratelimit-limit": "2",
          "ratelimit-remaining": "0",
          "ratelimit-reset": "1",
        },
        body: resendError(429, "rate_limit_exceeded", "Too many requests."),
      },
    ]);
    const result = await adapter().send(outbound("email", TO, emailContent("x", "<p>x</p>")));
    expectFailure(result, { code: "rate_limit_exceeded", retryable: true, retryAfterSeconds: 1 });
  });

  it("treats a 502 without a Resend error body as retryable", async () => {
    await resend.script(account.scope, [{ status: 502, body: "<html>502 Bad Gateway</html>" }]);
    const result = await adapter().send(outbound("email", TO, emailContent("x", "<p>x</p>")));
    expectFailure(result, { code: "http_502", retryable: true });
  });

  it("never puts the API key into a reason, even when Resend echoes it", async () => {
    await resend.script(account.scope, [
      { status: 403, body: resendError(403, "invalid_api_key", `API key ${account.apiKey} is invalid`) },
    ]);
    const result = await adapter().send(outbound("email", TO, emailContent("x", "<p>x</p>")));
    const failure = expectFailure(result, { code: "invalid_api_key", retryable: false });
    expect(failure.reason).toBe("API key [redacted] is invalid");
  });

  it("times out (retryable) when Resend is slower than the timeout", async () => {
    await resend.script(account.scope, [{ status: 200, body: { id: "x" }, delayMs: 3_000 }]);
    const started = Date.now();
    const result = await adapter({ timeoutMs: 200 }).send(
      outbound("email", TO, emailContent("x", "<p>x</p>")),
    );
    expectFailure(result, { code: "timeout", retryable: true });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("reports a refused connection as a retryable network_error", async () => {
    const result = await createResendEmailAdapter(account, { baseUrl: CLOSED_PORT_URL }).send(
      outbound("email", TO, emailContent("x", "<p>x</p>")),
    );
    expectFailure(result, { code: "network_error", retryable: true });
  });

  it("retries a 200 without an id (the Idempotency-Key makes the retry safe)", async () => {
    await resend.script(account.scope, [{ status: 200, body: {} }]);
    const result = await adapter().send(outbound("email", TO, emailContent("x", "<p>x</p>")));
    expectFailure(result, { code: "invalid_response", retryable: true });
  });
});
