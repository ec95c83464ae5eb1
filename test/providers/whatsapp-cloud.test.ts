import { beforeEach, describe, expect, it } from "vitest";
import {
  createWhatsAppCloudAdapter,
  submitTemplate,
  type TemplateSubmission,
  WHATSAPP_DEFAULT_API_VERSION,
} from "../../src/providers/whatsapp-cloud";
import { type FakeWhatsAppAccount, fakeMeta } from "../fakes/client";
import {
  CLOSED_PORT_URL,
  emailContent,
  expectFailure,
  expectNoSecrets,
  expectOk,
  outbound,
  textContent,
} from "./support";

const meta = fakeMeta();
const TO = "+5511987654321";
let account: FakeWhatsAppAccount;

beforeEach(async () => {
  account = await meta.createAccount();
});

const adapter = (overrides: Partial<Parameters<typeof createWhatsAppCloudAdapter>[1]> = {}) =>
  createWhatsAppCloudAdapter(account, { baseUrl: meta.baseUrl, ...overrides });

const metaError = (code: number, message: string, details?: string) => ({
  error: {
    message,
    type: "OAuthException",
    code,
    ...(details ? { error_data: { messaging_product: "whatsapp", details } } : {}),
    fbtrace_id: "A1b2C3d4E5f",
  },
});

describe("WhatsApp Cloud adapter: requests", () => {
  it("sends text to /{version}/{phone_number_id}/messages with the bearer token and returns the wamid", async () => {
    const result = await adapter().send(
      outbound("whatsapp", TO, textContent("Olá! 👋 https://x.test", true)),
    );
    const id = expectOk(result);
    const req = await meta.onlyRequest(account.scope);
    expect(req.method).toBe("POST");
    expect(req.path).toBe(`/${WHATSAPP_DEFAULT_API_VERSION}/${account.phoneNumberId}/messages`);
    expect(WHATSAPP_DEFAULT_API_VERSION).toBe("v21.0");
    expect(req.headers.authorization).toBe(`Bearer ${account.accessToken}`);
    expect(req.headers["content-type"]).toContain("application/json");
    expect(req.body).toEqual({
      messaging_product: "whatsapp",
      recipient_type: "individual",
      to: "5511987654321",
      type: "text",
      text: { body: "Olá! 👋 https://x.test", preview_url: true },
    });
    expect(req.response?.status).toBe(200);
    expect(id).toBe(req.response?.body.messages[0].id);
    expect(id).toMatch(/^wamid\.[A-Za-z0-9+/=]+$/);
  });

  it("defaults preview_url to false and honours a configured API version", async () => {
    expectOk(await adapter({ apiVersion: "v23.0" }).send(outbound("whatsapp", TO, textContent("hi"))));
    const req = await meta.onlyRequest(account.scope);
    expect(req.path).toBe(`/v23.0/${account.phoneNumberId}/messages`);
    expect(req.body.text).toEqual({ body: "hi", preview_url: false });
  });

  it("sends numbered template variables as positional parameters in placeholder order", async () => {
    const content = {
      kind: "template" as const,
      template: {
        name: "order_confirmation",
        language: "pt_BR",
        variables: {
          "10": "ten",
          "2": "Pedido 42",
          "1": "Ana",
          "3": "R$ 10,00",
          "4": "4",
          "5": "5",
          "6": "6",
          "7": "7",
          "8": "8",
          "9": "9",
        },
        placeholderStyle: "numbered" as const,
        renderedBody: "unused on WhatsApp",
      },
    };
    const id = expectOk(await adapter().send(outbound("whatsapp", TO, content)));
    expect(id).toMatch(/^wamid\./);
    const req = await meta.onlyRequest(account.scope);
    expect(req.body).toEqual({
      messaging_product: "whatsapp",
      recipient_type: "individual",
      to: "5511987654321",
      type: "template",
      template: {
        name: "order_confirmation",
        language: { code: "pt_BR" },
        components: [
          {
            type: "body",
            parameters: ["Ana", "Pedido 42", "R$ 10,00", "4", "5", "6", "7", "8", "9", "ten"].map((text) => ({
              type: "text",
              text,
            })),
          },
        ],
      },
    });
  });

  it("sends named template variables with parameter_name", async () => {
    const content = {
      kind: "template" as const,
      template: {
        name: "welcome",
        language: "en_US",
        variables: { first_name: "Ana", order_id: "42" },
        placeholderStyle: "named" as const,
        renderedBody: "Hi Ana, order 42",
      },
    };
    expectOk(await adapter().send(outbound("whatsapp", TO, content)));
    const req = await meta.onlyRequest(account.scope);
    expect(req.body.template).toEqual({
      name: "welcome",
      language: { code: "en_US" },
      components: [
        {
          type: "body",
          parameters: [
            { type: "text", parameter_name: "first_name", text: "Ana" },
            { type: "text", parameter_name: "order_id", text: "42" },
          ],
        },
      ],
    });
  });

  it("omits components for a template without placeholders", async () => {
    const content = {
      kind: "template" as const,
      template: {
        name: "hello_world",
        language: "en_US",
        variables: {},
        placeholderStyle: "none" as const,
        renderedBody: "Hello",
      },
    };
    expectOk(await adapter().send(outbound("whatsapp", TO, content)));
    const req = await meta.onlyRequest(account.scope);
    expect(req.body.template).toEqual({ name: "hello_world", language: { code: "en_US" } });
  });

  it.each([
    ["image", { caption: "a cat" }, { link: "https://cdn.test/cat.jpg", caption: "a cat" }],
    ["video", { caption: "clip" }, { link: "https://cdn.test/cat.jpg", caption: "clip" }],
    ["audio", { caption: "dropped: Meta refuses captions on audio" }, { link: "https://cdn.test/cat.jpg" }],
    [
      "document",
      { caption: "your invoice", filename: "invoice.pdf" },
      { link: "https://cdn.test/cat.jpg", caption: "your invoice", filename: "invoice.pdf" },
    ],
    ["image", { filename: "ignored.jpg" }, { link: "https://cdn.test/cat.jpg" }],
  ] as const)("sends %s media as {link, caption, filename} (%j)", async (type, extra, expected) => {
    const content = { kind: "media" as const, media: { type, url: "https://cdn.test/cat.jpg", ...extra } };
    expectOk(await adapter().send(outbound("whatsapp", TO, content)));
    const req = await meta.onlyRequest(account.scope);
    expect(req.body.type).toBe(type);
    expect(req.body[type]).toEqual(expected);
    expect(req.response?.status).toBe(200);
  });

  it("sends interactive reply buttons with header and footer", async () => {
    const content = {
      kind: "interactive" as const,
      interactive: {
        type: "button" as const,
        header: "Order 42",
        body: "Confirm your delivery slot?",
        footer: "Reply any time",
        buttons: [
          { id: "yes", title: "Yes" },
          { id: "no", title: "No" },
        ],
      },
    };
    expectOk(await adapter().send(outbound("whatsapp", TO, content)));
    const req = await meta.onlyRequest(account.scope);
    expect(req.body.interactive).toEqual({
      type: "button",
      header: { type: "text", text: "Order 42" },
      body: { text: "Confirm your delivery slot?" },
      footer: { text: "Reply any time" },
      action: {
        buttons: [
          { type: "reply", reply: { id: "yes", title: "Yes" } },
          { type: "reply", reply: { id: "no", title: "No" } },
        ],
      },
    });
  });

  it("sends an interactive list with sections and rows", async () => {
    const content = {
      kind: "interactive" as const,
      interactive: {
        type: "list" as const,
        body: "Pick a slot",
        button: "Slots",
        sections: [
          {
            title: "Morning",
            rows: [
              { id: "m9", title: "9:00", description: "Early bird" },
              { id: "m11", title: "11:00" },
            ],
          },
          { title: "Evening", rows: [{ id: "e18", title: "18:00" }] },
        ],
      },
    };
    expectOk(await adapter().send(outbound("whatsapp", TO, content)));
    const req = await meta.onlyRequest(account.scope);
    expect(req.body.interactive).toEqual({
      type: "list",
      body: { text: "Pick a slot" },
      action: {
        button: "Slots",
        sections: [
          {
            title: "Morning",
            rows: [
              { id: "m9", title: "9:00", description: "Early bird" },
              { id: "m11", title: "11:00" },
            ],
          },
          { title: "Evening", rows: [{ id: "e18", title: "18:00" }] },
        ],
      },
    });
  });

  it("refuses email content without calling Meta", async () => {
    const result = await adapter().send(outbound("whatsapp", TO, emailContent("Hi", "<p>x</p>")));
    expectFailure(result, { code: "unsupported_content", retryable: false });
    expect(await meta.requests(account.scope)).toEqual([]);
  });
});

describe("WhatsApp Cloud adapter: errors", () => {
  it.each([
    [131026, 400, "(#131026) Message Undeliverable.", false],
    [131047, 400, "(#131047) Re-engagement message", false],
    [130429, 400, "(#130429) Rate limit hit", true],
    [131056, 400, "(#131056) (Business Account, Consumer Account) pair rate limit hit", true],
    [132000, 400, "(#132000) Number of parameters does not match the expected number of params", false],
    [132001, 404, "(#132001) Template name does not exist in the translation", false],
    [131051, 400, "(#131051) Unsupported message type", false],
    [100, 400, "(#100) Invalid parameter", false],
    [190, 401, "Error validating access token: Session has expired", false],
    [0, 401, "(#0) AuthException", false],
    [4, 400, "(#4) Application request limit reached", true],
    [80007, 400, "(#80007) Rate limit issues", true],
    [131000, 500, "(#131000) Something went wrong", true],
    [131016, 503, "(#131016) Service unavailable", true],
    [131009, 400, "(#131009) Parameter value is not valid", false],
    [999999, 500, "unknown code on a 5xx", true],
    [999998, 400, "unknown code on a 4xx", false],
  ])("maps Meta code %i (HTTP %i: %s), retryable %s", async (code, status, message, retryable) => {
    await meta.script(account.scope, [{ status, body: metaError(code, message, `details for ${code}`) }]);
    const result = await adapter().send(outbound("whatsapp", TO, textContent("hi")));
    const failure = expectFailure(result, { code: String(code), retryable });
    expect(failure.reason).toBe(`${message}: details for ${code}`);
    expect(failure.retryAfterSeconds).toBeUndefined();
  });

  it("maps a wrong access token (answered by the fake as Meta does) to a permanent 190 without the token", async () => {
    const wrong = createWhatsAppCloudAdapter(
      { ...account, accessToken: "EAAGwrong-token-value" },
      { baseUrl: meta.baseUrl },
    );
    const result = await wrong.send(outbound("whatsapp", TO, textContent("hi")));
    expectFailure(result, { code: "190", retryable: false });
    expectNoSecrets(result, ["EAAGwrong-token-value", account.accessToken]);
    const req = await meta.onlyRequest(account.scope);
    expect(req.response?.status).toBe(401);
  });

  it("maps an unknown phone number id to a permanent 100", async () => {
    const stranger = createWhatsAppCloudAdapter(
      { ...account, phoneNumberId: "999000111222333" },
      { baseUrl: meta.baseUrl },
    );
    const result = await stranger.send(outbound("whatsapp", TO, textContent("hi")));
    const failure = expectFailure(result, { code: "100", retryable: false });
    expect(failure.reason).toContain("does not exist");
  });

  it("never puts the access token or app secret into a reason, even when Meta echoes them", async () => {
    await meta.script(account.scope, [
      {
        status: 400,
        body: metaError(100, `(#100) bad token ${account.accessToken}`, `secret ${account.appSecret}`),
      },
    ]);
    const result = await adapter().send(outbound("whatsapp", TO, textContent("hi")));
    const failure = expectFailure(result, { code: "100", retryable: false });
    expect(failure.reason).toContain("[redacted]");
    expectNoSecrets(result, [account.accessToken, account.appSecret]);
  });

  it("honours Retry-After on a 429 (delta seconds)", async () => {
    await meta.script(account.scope, [
      { status: 429, headers: { "retry-after": "30" }, body: metaError(130429, "(#130429) Rate limit hit") },
    ]);
    const result = await adapter().send(outbound("whatsapp", TO, textContent("hi")));
    expectFailure(result, { code: "130429", retryable: true, retryAfterSeconds: 30 });
  });

  it("honours Retry-After as an HTTP date on a bare 429", async () => {
    const at = new Date(Date.now() + 120_000).toUTCString();
    await meta.script(account.scope, [
      { status: 429, headers: { "retry-after": at }, body: "Too Many Requests" },
    ]);
    const result = await adapter().send(outbound("whatsapp", TO, textContent("hi")));
    const failure = expectFailure(result, { code: "http_429", retryable: true });
    expect(failure.retryAfterSeconds).toBeGreaterThanOrEqual(115);
    expect(failure.retryAfterSeconds).toBeLessThanOrEqual(121);
  });

  it("treats a 5xx without a Graph error body as retryable", async () => {
    await meta.script(account.scope, [{ status: 502, body: "<html>Bad Gateway</html>" }]);
    const result = await adapter().send(outbound("whatsapp", TO, textContent("hi")));
    const failure = expectFailure(result, { code: "http_502", retryable: true });
    expect(failure.reason).toContain("Bad Gateway");
  });

  it("does not retry a 2xx without a message id (Meta may have sent it)", async () => {
    await meta.script(account.scope, [
      { status: 200, body: { messaging_product: "whatsapp", messages: [] } },
    ]);
    const result = await adapter().send(outbound("whatsapp", TO, textContent("hi")));
    expectFailure(result, { code: "invalid_response", retryable: false });
  });

  it("times out (retryable) when Meta is slower than the timeout", async () => {
    await meta.script(account.scope, [{ status: 200, body: {}, delayMs: 3_000 }]);
    const started = Date.now();
    const result = await adapter({ timeoutMs: 200 }).send(outbound("whatsapp", TO, textContent("hi")));
    expectFailure(result, { code: "timeout", retryable: true });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("reports a refused connection as a retryable network_error", async () => {
    const result = await createWhatsAppCloudAdapter(account, { baseUrl: CLOSED_PORT_URL }).send(
      outbound("whatsapp", TO, textContent("hi")),
    );
    expectFailure(result, { code: "network_error", retryable: true });
    expectNoSecrets(result, [account.accessToken]);
  });

  it("reports a connection dropped mid-request as a retryable network_error", async () => {
    await meta.script(account.scope, [{ status: 200, drop: true }]);
    const result = await adapter().send(outbound("whatsapp", TO, textContent("hi")));
    expectFailure(result, { code: "network_error", retryable: true });
  });

  it("gets 132000 from the fake for a known template sent with the wrong parameter count", async () => {
    const submitted = await submitTemplate(account, numberedTemplate(), { baseUrl: meta.baseUrl });
    expect(submitted.ok).toBe(true);
    const content = {
      kind: "template" as const,
      template: {
        name: "order_update",
        language: "pt_BR",
        variables: { "1": "Ana" },
        placeholderStyle: "numbered" as const,
        renderedBody: "",
      },
    };
    const result = await adapter().send(outbound("whatsapp", TO, content));
    expectFailure(result, { code: "132000", retryable: false });
  });

  it("gets 132001 from a strict fake for a template that does not exist", async () => {
    account = await meta.createAccount({ strictTemplates: true });
    const content = {
      kind: "template" as const,
      template: {
        name: "nope",
        language: "en_US",
        variables: {},
        placeholderStyle: "none" as const,
        renderedBody: "",
      },
    };
    const result = await adapter().send(outbound("whatsapp", TO, content));
    expectFailure(result, { code: "132001", retryable: false });
  });
});

function numberedTemplate(): TemplateSubmission {
  return {
    name: "order_update",
    language: "pt_BR",
    category: "UTILITY",
    header: { text: "Pedido {{1}}", example: "42" },
    body: "Olá {{1}}, seu pedido {{2}} saiu para entrega.",
    placeholderStyle: "numbered",
    examples: { "2": "#42", "1": "Ana" },
    footer: "Loja Exemplo",
    buttons: [
      { type: "quick_reply", text: "Parar" },
      {
        type: "url",
        text: "Rastrear",
        url: "https://loja.test/track/{{1}}",
        example: "https://loja.test/track/42",
      },
      { type: "phone_number", text: "Ligar", phoneNumber: "+5511999990000" },
    ],
  };
}

describe("WhatsApp Cloud template submission", () => {
  it("posts the template to /{version}/{waba_id}/message_templates and returns Meta's id and status", async () => {
    const result = await submitTemplate(account, numberedTemplate(), { baseUrl: meta.baseUrl });
    expect(result).toMatchObject({ ok: true, status: "PENDING" });
    const req = await meta.onlyRequest(account.scope, { path: "/message_templates" });
    expect(req.path).toBe(`/v21.0/${account.wabaId}/message_templates`);
    expect(req.headers.authorization).toBe(`Bearer ${account.accessToken}`);
    expect(req.body).toEqual({
      name: "order_update",
      language: "pt_BR",
      category: "UTILITY",
      components: [
        { type: "HEADER", format: "TEXT", text: "Pedido {{1}}", example: { header_text: ["42"] } },
        {
          type: "BODY",
          text: "Olá {{1}}, seu pedido {{2}} saiu para entrega.",
          example: { body_text: [["Ana", "#42"]] },
        },
        { type: "FOOTER", text: "Loja Exemplo" },
        {
          type: "BUTTONS",
          buttons: [
            { type: "QUICK_REPLY", text: "Parar" },
            {
              type: "URL",
              text: "Rastrear",
              url: "https://loja.test/track/{{1}}",
              example: ["https://loja.test/track/42"],
            },
            { type: "PHONE_NUMBER", text: "Ligar", phone_number: "+5511999990000" },
          ],
        },
      ],
    });
    if (!result.ok) throw new Error("unreachable");
    expect(result.providerTemplateId).toBe(req.response?.body.id);
    expect(result.providerTemplateId).toMatch(/^\d+$/);
  });

  it("submits named placeholders with parameter_format NAMED and body_text_named_params", async () => {
    account = await meta.createAccount({ templateStatus: "APPROVED" });
    const result = await submitTemplate(
      account,
      {
        name: "welcome_named",
        language: "en_US",
        category: "MARKETING",
        body: "Hi {{first_name}}, use {{code}} for 10% off.",
        placeholderStyle: "named",
        examples: { first_name: "Ana", code: "SAVE10" },
      },
      { baseUrl: meta.baseUrl },
    );
    expect(result).toMatchObject({ ok: true, status: "APPROVED" });
    const req = await meta.onlyRequest(account.scope);
    expect(req.body).toEqual({
      name: "welcome_named",
      language: "en_US",
      category: "MARKETING",
      parameter_format: "NAMED",
      components: [
        {
          type: "BODY",
          text: "Hi {{first_name}}, use {{code}} for 10% off.",
          example: {
            body_text_named_params: [
              { param_name: "first_name", example: "Ana" },
              { param_name: "code", example: "SAVE10" },
            ],
          },
        },
      ],
    });
  });

  it("reports REJECTED when Meta rejects on submission", async () => {
    await meta.script(
      account.scope,
      [{ status: 200, body: { id: "1234567890", status: "REJECTED", category: "MARKETING" } }],
      {
        path: "/message_templates",
      },
    );
    const result = await submitTemplate(account, numberedTemplate(), { baseUrl: meta.baseUrl });
    expect(result).toEqual({ ok: true, providerTemplateId: "1234567890", status: "REJECTED" });
  });

  it("maps the fake's duplicate-template error (code 100, subcode 2388024) to a permanent failure", async () => {
    expect((await submitTemplate(account, numberedTemplate(), { baseUrl: meta.baseUrl })).ok).toBe(true);
    const again = await submitTemplate(account, numberedTemplate(), { baseUrl: meta.baseUrl });
    const failure = expectFailure(again, { code: "100", retryable: false });
    expect(failure.reason).toContain("Content in This Language Already Exists");
  });

  it("gets a permanent error from the fake when examples are missing", async () => {
    const result = await submitTemplate(
      account,
      { ...numberedTemplate(), examples: {} },
      { baseUrl: meta.baseUrl },
    );
    expectFailure(result, { code: "100", retryable: false });
  });

  it("retries template submission on throttling and honours Retry-After", async () => {
    await meta.script(account.scope, [
      { status: 400, headers: { "retry-after": "7" }, body: metaError(80007, "(#80007) Rate limit issues") },
    ]);
    const result = await submitTemplate(account, numberedTemplate(), { baseUrl: meta.baseUrl });
    expectFailure(result, { code: "80007", retryable: true, retryAfterSeconds: 7 });
  });

  it("times out template submission like sends", async () => {
    await meta.script(account.scope, [{ status: 200, body: {}, delayMs: 3_000 }]);
    const result = await submitTemplate(account, numberedTemplate(), {
      baseUrl: meta.baseUrl,
      timeoutMs: 200,
    });
    expectFailure(result, { code: "timeout", retryable: true });
  });
});
