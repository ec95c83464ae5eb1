import { beforeAll, describe, expect, it } from "vitest";
import { fetchWorker, type SeededKey, seedTenant } from "../helpers";
import { described } from "./support";

/**
 * Hostile request bodies: too large (announced or streamed), not JSON, nested deeper than any parser's
 * stack, huge strings and arrays that fit in the size limit, and prototype-pollution keys. Each is a 4xx
 * with the error envelope, or a correct 2xx that stored what was sent and polluted nothing; never a 5xx.
 */

const MIB = 1024 * 1024;
const TO = "+5511987654321";
const FAKE_ID = "01jd3x6n2m8q4v7w9y0z1a2b3c";
const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

interface Target {
  method: string;
  path: string;
  /** Sends an Idempotency-Key (POST /v1/messages needs one; on other POSTs it adds the fingerprint step). */
  idempotent?: boolean;
  keyless?: boolean;
}

let tenant: SeededKey;

function requestTo(
  target: Target,
  body: BodyInit,
  headers: Record<string, string> = { "content-type": "application/json" },
) {
  const all: Record<string, string> = { ...headers };
  if (!target.keyless) all.authorization = `Bearer ${tenant.secret}`;
  if (target.idempotent) all["idempotency-key"] = crypto.randomUUID();
  return new Request(`http://localhost${target.path}`, { method: target.method, headers: all, body });
}

const post = (target: Target, body: BodyInit, headers?: Record<string, string>) =>
  fetchWorker(requestTo(target, body, headers));

/** A 4xx error envelope with `code` (when given); returns the status and text. */
async function expectClientError(res: Response, label: string, code?: string) {
  const { status, text } = await described(res);
  expect(status, `${label}: ${text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  expect(status, `${label}: ${text.slice(0, 300)}`).toBeLessThan(500);
  const error = JSON.parse(text).error;
  expect(error.request_id, label).toMatch(/^req_/);
  if (code) expect(error.code, `${label}: ${text.slice(0, 300)}`).toBe(code);
  return { status, text };
}

const messages: Target = { method: "POST", path: "/v1/messages", idempotent: true };
const contacts: Target = { method: "POST", path: "/v1/contacts" };
const apiKeys: Target = { method: "POST", path: "/v1/api-keys" };

/** Every route shape that takes a body: keyed and keyless, POST and PATCH, with and without idempotency. */
const BODY_ROUTES: Target[] = [
  messages,
  contacts,
  { ...contacts, idempotent: true },
  apiKeys,
  { ...apiKeys, idempotent: true },
  { method: "POST", path: "/v1/webhook-endpoints" },
  { method: "PATCH", path: `/v1/contacts/con_${FAKE_ID}` },
  { method: "POST", path: `/v1/api-keys/key_${FAKE_ID}/rotate` },
  { method: "POST", path: `/inbound/whatsapp/chn_${FAKE_ID}`, keyless: true },
  { method: "POST", path: `/inbound/resend/chn_${FAKE_ID}`, keyless: true },
];

const keylessRoutes = BODY_ROUTES.filter((t) => t.keyless);

const label = (target: Target, what: string) =>
  `${target.method} ${target.path}${target.idempotent ? " (Idempotency-Key)" : ""}: ${what}`;

/** `{"a":{"a":…1…}}` or `[[…]]`, `depth` levels deep. */
function nested(kind: "object" | "array", depth: number): string {
  return kind === "object"
    ? `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`
    : `${"[".repeat(depth)}${"]".repeat(depth)}`;
}

/** A body whose JSON text is `size` bytes: a JSON object with one long string. */
function jsonOfSize(size: number): string {
  const frame = '{"name":""}';
  return `{"name":"${"x".repeat(size - frame.length)}"}`;
}

/** A stream of `size` bytes of JSON in 64 KiB chunks, with no Content-Length (chunked on the wire). */
function streamOfSize(size: number): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(jsonOfSize(size));
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + 65_536));
      offset += 65_536;
    },
  });
}

beforeAll(async () => {
  tenant = await seedTenant();
});

describe("promise: a body over 1 MiB is a 413, announced or streamed", () => {
  it.each(BODY_ROUTES)("$method $path", async (target) => {
    const announced = requestTo(target, jsonOfSize(MIB + 1), {
      "content-type": "application/json",
      "content-length": String(MIB + 1),
    });
    expect(announced.headers.get("content-length")).toBe(String(MIB + 1));
    await expectClientError(
      await fetchWorker(announced),
      label(target, "Content-Length over 1 MiB"),
      "payload_too_large",
    );
    const streamed = requestTo(target, streamOfSize(MIB + 1));
    expect(streamed.headers.get("content-length")).toBeNull();
    await expectClientError(
      await fetchWorker(streamed),
      label(target, "chunked over 1 MiB"),
      "payload_too_large",
    );
  });

  it("exactly 1 MiB is not refused for its size", async () => {
    const res = await post(contacts, jsonOfSize(MIB));
    const { text } = await expectClientError(res, "1 MiB contact");
    expect(JSON.parse(text).error.code).not.toBe("payload_too_large");
  });
});

describe("promise: a body that is not a JSON object is a 400 invalid_json", () => {
  const notJson: [string, BodyInit, Record<string, string>?][] = [
    ["plain text", "not json"],
    ["truncated", '{"name": "x"'],
    ["single quotes", "{'name': 'x'}"],
    ["trailing comma", '{"name": "x",}'],
    ["a byte-order mark", '\ufeff{"name": "x"}'],
    ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])],
    ["an array", "[]"],
    ["null", "null"],
    ["a number", "42"],
    ["a string", '"name"'],
    ["JSON sent as text/plain", '{"name": "x"}', { "content-type": "text/plain" }],
    ["JSON sent as a form", '{"name": "x"}', { "content-type": "application/x-www-form-urlencoded" }],
  ];
  for (const target of BODY_ROUTES.filter((t) => !t.keyless)) {
    it.each(notJson)(`${target.method} ${target.path}: %s`, async (what, body, headers) => {
      await expectClientError(await post(target, body, headers), label(target, what), "invalid_json");
    });
  }
});

describe("promise: JSON nested deeper than any stack is a 4xx, never a 5xx", () => {
  const cases: [string, Target, (inner: string) => string][] = [
    ["the whole body", messages, (inner) => inner],
    ["the whole body", contacts, (inner) => inner],
    ["the whole body", { ...contacts, idempotent: true }, (inner) => inner],
    ["the whole body", { ...apiKeys, idempotent: true }, (inner) => inner],
    ["unsigned, the whole body", keylessRoutes[0] as Target, (inner) => inner],
    ["unsigned, the whole body", keylessRoutes[1] as Target, (inner) => inner],
    ["as a field", messages, (inner) => `{"channel":"sms","to":"${TO}","text":{"body":"x"},"deep":${inner}}`],
    [
      "in metadata",
      messages,
      (inner) => `{"channel":"sms","to":"${TO}","text":{"body":"x"},"metadata":${inner}}`,
    ],
    [
      "as a metadata value",
      messages,
      (inner) => `{"channel":"sms","to":"${TO}","text":{"body":"x"},"metadata":{"k":${inner}}}`,
    ],
    ["in attributes", contacts, (inner) => `{"name":"Deep","attributes":{"deep":${inner}}}`],
    [
      "in attributes",
      { ...contacts, idempotent: true },
      (inner) => `{"name":"Deep","attributes":{"deep":${inner}}}`,
    ],
    ["in rate_limit", apiKeys, (inner) => `{"name":"deep","scopes":["messages:read"],"rate_limit":${inner}}`],
    [
      "in rate_limit",
      { ...apiKeys, idempotent: true },
      (inner) => `{"name":"deep","scopes":["messages:read"],"rate_limit":${inner}}`,
    ],
  ];
  for (const depth of [10_000, 100_000]) {
    for (const kind of ["object", "array"] as const) {
      it.each(cases)(`${depth} levels of ${kind}s %s: %o`, async (where, target, wrap) => {
        const body = wrap(nested(kind, depth));
        expect(body.length).toBeLessThan(MIB);
        await expectClientError(await post(target, body), label(target, `${depth} ${kind}s ${where}`));
      });
    }
  }
});

describe("promise: huge strings and arrays within 1 MiB are refused by the schema, not by a crash", () => {
  const big = "x".repeat(900_000);
  const many = (n: number, item: unknown) => Array.from({ length: n }, () => item);
  const cases: [string, Target, unknown][] = [
    ["a 900 kB text body", messages, { channel: "sms", to: TO, text: { body: big } }],
    [
      "a 900 kB metadata value",
      messages,
      { channel: "sms", to: TO, text: { body: "x" }, metadata: { k: big } },
    ],
    [
      "40,000 metadata keys",
      messages,
      {
        channel: "sms",
        to: TO,
        text: { body: "x" },
        metadata: Object.fromEntries(Array.from({ length: 40_000 }, (_, i) => [`k${i}`, "v"])),
      },
    ],
    [
      "100,000 fallbacks",
      messages,
      { channel: "sms", to: TO, text: { body: "x" }, fallback: many(100_000, 1) },
    ],
    ["a 900 kB name", contacts, { name: big }],
    ["a 900 kB attribute", contacts, { name: "x", attributes: { k: big } }],
    ["200,000 tags", contacts, { name: "x", tags: many(200_000, "a") }],
    ["20,000 addresses", contacts, { name: "x", addresses: many(20_000, { channel: "sms", address: TO }) }],
    ["50,000 scopes", apiKeys, { name: "x", scopes: many(50_000, "messages:read") }],
    ["a 900 kB key name", apiKeys, { name: big, scopes: ["messages:read"] }],
    [
      "50,000 event types",
      { method: "POST", path: "/v1/webhook-endpoints" },
      { url: "https://hooks.example.com/in", events: many(50_000, "message.sent") },
    ],
    ["a number past double range", contacts, { name: "x", attributes: { n: "1e999" } }],
  ];
  it.each(cases)("%s", async (what, target, body) => {
    const text = JSON.stringify(body).replace('"1e999"', "1e999");
    expect(text.length).toBeLessThan(MIB);
    await expectClientError(await post(target, text), label(target, what));
  });

  it("invalid UTF-8 inside a string is a 4xx or a 2xx, never a 5xx", async () => {
    const bytes = new Uint8Array([
      ...new TextEncoder().encode('{"name":"'),
      0xff,
      0xfe,
      ...new TextEncoder().encode('"}'),
    ]);
    const { status, text } = await described(await post(contacts, bytes));
    expect(status, text).toBeLessThan(500);
  });

  it("a 500 kB email body (within the documented limit) is accepted whole", async () => {
    const html = `<p>${"y".repeat(500_000)}</p>`;
    const res = await post(
      messages,
      JSON.stringify({ channel: "email", to: "big@example.com", email: { subject: "big", html } }),
    );
    const { status, text } = await described(res);
    expect(status, text.slice(0, 300)).toBe(202);
  });
});

describe("promise: __proto__ and constructor keys are data or refused, and pollute nothing", () => {
  // Entries, not an object literal: `{ __proto__: "p" }` would set a prototype rather than hold a key.
  const keys: [string, string][] = [
    ["__proto__", "p"],
    ["constructor", "c"],
    ["prototype", "t"],
    ["toString", "s"],
    ["hasOwnProperty", "h"],
  ];
  const asJson = (fields: string) => `{${fields}}`;
  const keysJson = keys.map(([k, v]) => `"${k}":"${v}"`).join(",");

  /** 4xx, or 2xx whose `field` holds exactly the keys sent. */
  async function dataOrRefused(res: Response, what: string, read: (body: any) => unknown) {
    const { status, text } = await described(res);
    expect(status, `${what}: ${text.slice(0, 300)}`).toBeLessThan(500);
    if (status >= 300) return expect(status, what).toBeGreaterThanOrEqual(400);
    const stored = read(JSON.parse(text));
    // JSON.parse makes "__proto__" an own key, so a key the server kept shows up here.
    expect(Object.entries(stored as object).sort(), `${what}: ${text.slice(0, 400)}`).toEqual(keys.sort());
  }

  it("in message metadata", async () => {
    const body = asJson(`"channel":"sms","to":"${TO}","text":{"body":"x"},"metadata":{${keysJson}}`);
    await dataOrRefused(await post(messages, body), "metadata", (m) => m.metadata);
  });

  it("in contact attributes, on create", async () => {
    const created = await post(contacts, asJson(`"name":"Proto","attributes":{${keysJson}}`));
    await dataOrRefused(created, "attributes on create", (c) => c.attributes);
  });

  it("in contact attributes, on merge (PATCH)", async () => {
    const other = await post(contacts, asJson(`"name":"Proto merge","attributes":{"plain":"v"}`));
    expect(other.status).toBe(201);
    const id = JSON.parse(await other.text()).id as string;
    const merged = await post(
      { method: "PATCH", path: `/v1/contacts/${id}` },
      asJson(`"attributes":{${keysJson},"plain":null}`),
    );
    await dataOrRefused(merged, "attributes on merge", (c) => c.attributes);
  });

  it("a __proto__ key spelled with a \\u escape is refused like a plain one", async () => {
    const body = asJson(
      `"channel":"sms","to":"${TO}","text":{"body":"x"},"metadata":{"\\u005f_proto__":"p"}`,
    );
    const { status, text } = await described(await post(messages, body));
    expect(status, text).toBe(400);
    expect(JSON.parse(text).error.details[0].path).toBe("metadata.__proto__");
  });

  it("at the top of a body: never another environment or more scopes for a new key", async () => {
    for (const polluting of [
      `"__proto__":{"environment":"live","scopes":["keys:manage","audit:read"]}`,
      `"constructor":{"prototype":{"environment":"live"}}`,
    ]) {
      const res = await post(apiKeys, asJson(`"name":"proto","scopes":["messages:read"],${polluting}`));
      const { status, text } = await described(res);
      expect(status, text).toBeLessThan(500);
      if (status < 300) {
        expect(JSON.parse(text)).toMatchObject({ environment: "test", scopes: ["messages:read"] });
      }
    }
  });

  it("Object.prototype is untouched after all of the above", () => {
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTOTYPE_KEYS);
    const probe: Record<string, unknown> = {};
    for (const key of ["polluted", "environment", "scopes", "p"]) expect(probe[key], key).toBeUndefined();
  });
});
