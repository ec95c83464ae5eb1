// @ts-check
/**
 * Shared machinery of the fake provider servers. These run in Node (started by the vitest globalSetup), while
 * the tests and the worker run in workerd and reach them over loopback.
 *
 * Written as JavaScript with JSDoc types because the project's main tsconfig type-checks `test/**` with the
 * Workers types only (no Node types); `npx tsc -p test/fakes/tsconfig.check.json` checks these files.
 *
 * Every fake answers its provider's real paths, plus a control API under `/__control/`:
 *   POST /__control/accounts  provider-specific account (credentials) → { scope }
 *   POST /__control/script    { scope, match?: { path?, to? }, responses: [{ status, body?, headers?, delayMs?, drop? }] }
 *   GET  /__control/requests?scope=…[&path=…]   → { data: Recording[] } (oldest first)
 *   POST /__control/reset     { scope, accounts?: boolean }
 *   GET  /__control/health
 * Everything is scoped by a per-account identifier (Meta phone_number_id, Twilio AccountSid, Resend API key),
 * so test files running at the same time never see each other's recordings or scripts.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";

export const LIMITS = Object.freeze({
  maxDelayMs: 20_000,
  maxRecordingsPerScope: 200,
  maxScopes: 2_000,
  maxScriptsPerScope: 50,
  maxResponsesPerScript: 100,
  maxBodyBytes: 1_048_576,
  maxAccounts: 20_000,
});

/**
 * @typedef {{ status: number, body?: unknown, headers?: Record<string, string>, delayMs?: number, drop?: boolean }} ScriptedResponse
 * @typedef {{ path?: string, to?: string }} ScriptMatch
 * @typedef {{ match: ScriptMatch, responses: ScriptedResponse[] }} Script
 * @typedef {{
 *   seq: number, at: string, method: string, path: string, query: Record<string, string>,
 *   headers: Record<string, string>, rawBody: string, body: unknown, scripted: boolean,
 *   response: { status: number, body: unknown } | null
 * }} Recording
 * @typedef {{
 *   method: string, path: string, query: URLSearchParams, headers: import("node:http").IncomingHttpHeaders,
 *   rawBody: string, body: unknown, contentType: string
 * }} FakeRequest
 * @typedef {{ status: number, body?: unknown, headers?: Record<string, string> }} FakeResponse
 * @typedef {{
 *   name: string,
 *   register(input: Record<string, unknown>): { scope: string } | { error: string },
 *   forget(scope: string): void,
 *   scopeOf(req: FakeRequest): string,
 *   recipientOf(req: FakeRequest): string | undefined,
 *   handle(req: FakeRequest): FakeResponse,
 * }} FakeProvider
 */

/** A bounded map: re-setting a key makes it the newest; past `max` entries the oldest is dropped. */
export class BoundedMap extends Map {
  /** @param {number} max */
  constructor(max) {
    super();
    this.max = max;
  }
  /**
   * @param {any} key
   * @param {any} value
   */
  set(key, value) {
    if (this.has(key)) this.delete(key);
    super.set(key, value);
    while (this.size > this.max) {
      const oldest = this.keys().next().value;
      this.delete(oldest);
    }
    return this;
  }
}

/** @param {number} bytes */
export function randomHex(bytes) {
  return randomBytes(bytes).toString("hex");
}

/** @param {number} length */
export function randomDigits(length) {
  let out = String(1 + (randomBytes(1)[0] % 9));
  while (out.length < length) out += String(randomBytes(1)[0] % 10);
  return out;
}

export function randomUuid() {
  const b = randomBytes(16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Phone numbers compare as digits; everything else case-insensitively. @param {string} value */
export function normaliseRecipient(value) {
  const trimmed = value.trim().toLowerCase();
  return /^\+?[\d\s().-]+$/.test(trimmed) ? trimmed.replace(/\D/g, "") : trimmed;
}

/** @param {unknown} value @returns {value is Record<string, any>} */
export function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** @param {string} value */
export function isHttpUrl(value) {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

/**
 * @param {import("node:http").IncomingMessage} req
 * @returns {Promise<string | null>} null when the body is over the size limit
 */
function readBody(req) {
  return new Promise((resolve, reject) => {
    /** @type {Buffer[]} */
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > LIMITS.maxBodyBytes) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(tooLarge ? null : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/**
 * @param {string} rawBody
 * @param {string} contentType
 * @returns {unknown}
 */
function parseBody(rawBody, contentType) {
  if (rawBody === "") return undefined;
  if (contentType.includes("application/json")) {
    try {
      return JSON.parse(rawBody);
    } catch {
      return undefined;
    }
  }
  if (contentType.includes("application/x-www-form-urlencoded")) {
    /** @type {Record<string, string | string[]>} */
    const out = {};
    for (const [key, value] of new URLSearchParams(rawBody)) {
      const existing = out[key];
      if (existing === undefined) out[key] = value;
      else if (Array.isArray(existing)) existing.push(value);
      else out[key] = [existing, value];
    }
    return out;
  }
  return undefined;
}

/**
 * @param {import("node:http").ServerResponse} res
 * @param {number} status
 * @param {unknown} body
 * @param {Record<string, string>} [headers]
 */
function send(res, status, body, headers = {}) {
  if (res.writableEnded || res.destroyed) return;
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  let payload = "";
  if (typeof body === "string") {
    payload = body;
    lower["content-type"] ??= "text/plain; charset=utf-8";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    lower["content-type"] ??= "application/json; charset=utf-8";
  }
  res.writeHead(status, { ...lower, "content-length": String(Buffer.byteLength(payload)) });
  res.end(payload);
}

/**
 * @param {number} ms
 * @param {import("node:http").ServerResponse} res
 * @returns {Promise<boolean>} false when the client went away first
 */
function waitUnlessClosed(ms, res) {
  return new Promise((resolve) => {
    const onClose = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      res.off("close", onClose);
      resolve(true);
    }, ms);
    res.once("close", onClose);
  });
}

/**
 * @param {unknown} input
 * @returns {ScriptedResponse | string}
 */
function parseScriptedResponse(input) {
  if (!isObject(input)) return "each response must be an object";
  const status = input.status;
  if (typeof status !== "number" || !Number.isInteger(status) || status < 100 || status > 599) {
    return "response.status must be an HTTP status (100-599)";
  }
  /** @type {ScriptedResponse} */
  const out = { status };
  if (input.body !== undefined) out.body = input.body;
  if (input.headers !== undefined) {
    if (!isObject(input.headers)) return "response.headers must be an object of strings";
    /** @type {Record<string, string>} */
    const headers = {};
    for (const [k, v] of Object.entries(input.headers)) headers[k] = String(v);
    out.headers = headers;
  }
  if (input.delayMs !== undefined) {
    if (typeof input.delayMs !== "number" || input.delayMs < 0) return "response.delayMs must be >= 0";
    out.delayMs = Math.min(input.delayMs, LIMITS.maxDelayMs);
  }
  if (input.drop === true) out.drop = true;
  return out;
}

/**
 * Starts one fake provider on 127.0.0.1 with an ephemeral port.
 * @param {FakeProvider} provider
 * @returns {Promise<{ url: string, close: () => Promise<void> }>}
 */
export async function startFakeServer(provider) {
  /** @type {BoundedMap} scope → { recordings: Recording[], scripts: Script[] } */
  const scopes = new BoundedMap(LIMITS.maxScopes);
  let seq = 0;

  /** @param {string} scope @returns {{ recordings: Recording[], scripts: Script[] }} */
  const scopeState = (scope) => {
    let state = scopes.get(scope);
    if (!state) state = { recordings: [], scripts: [] };
    scopes.set(scope, state);
    return state;
  };

  /**
   * @param {FakeRequest} req
   * @param {string} scope
   * @returns {ScriptedResponse | undefined}
   */
  const takeScripted = (req, scope) => {
    const state = scopes.get(scope);
    if (!state) return undefined;
    const recipient = provider.recipientOf(req);
    for (let i = 0; i < state.scripts.length; i++) {
      const script = state.scripts[i];
      if (script.match.path !== undefined && !req.path.includes(script.match.path)) continue;
      if (script.match.to !== undefined) {
        if (
          recipient === undefined ||
          normaliseRecipient(recipient) !== normaliseRecipient(script.match.to)
        ) {
          continue;
        }
      }
      const next = script.responses.shift();
      if (script.responses.length === 0) state.scripts.splice(i, 1);
      return next;
    }
    return undefined;
  };

  /**
   * @param {FakeRequest} req
   * @returns {{ status: number, body: unknown }}
   */
  const control = (req) => {
    const action = req.path.slice("/__control/".length);
    if (req.method === "GET" && action === "health")
      return { status: 200, body: { ok: true, provider: provider.name } };
    if (req.method === "GET" && action === "requests") {
      const scope = req.query.get("scope");
      if (!scope) return { status: 400, body: { error: "scope is required" } };
      const path = req.query.get("path");
      const recordings = scopes.get(scope)?.recordings ?? [];
      return {
        status: 200,
        body: {
          data: path ? recordings.filter((/** @type {Recording} */ r) => r.path.includes(path)) : recordings,
        },
      };
    }
    if (req.method !== "POST")
      return { status: 404, body: { error: `no control endpoint ${req.method} ${req.path}` } };
    const input = req.body;
    if (!isObject(input)) return { status: 400, body: { error: "a JSON object body is required" } };
    if (action === "accounts") {
      const result = provider.register(input);
      return "error" in result ? { status: 400, body: result } : { status: 201, body: result };
    }
    if (typeof input.scope !== "string" || input.scope === "") {
      return { status: 400, body: { error: "scope is required" } };
    }
    const scope = input.scope;
    if (action === "reset") {
      scopes.delete(scope);
      if (input.accounts === true) provider.forget(scope);
      return { status: 200, body: { ok: true } };
    }
    if (action === "script") {
      const match = input.match ?? {};
      if (!isObject(match)) return { status: 400, body: { error: "match must be an object" } };
      /** @type {ScriptMatch} */
      const parsedMatch = {};
      if (match.path !== undefined) parsedMatch.path = String(match.path);
      if (match.to !== undefined) parsedMatch.to = String(match.to);
      if (!Array.isArray(input.responses) || input.responses.length === 0) {
        return { status: 400, body: { error: "responses must be a non-empty array" } };
      }
      if (input.responses.length > LIMITS.maxResponsesPerScript) {
        return {
          status: 400,
          body: { error: `at most ${LIMITS.maxResponsesPerScript} responses per script` },
        };
      }
      /** @type {ScriptedResponse[]} */
      const responses = [];
      for (const r of input.responses) {
        const parsed = parseScriptedResponse(r);
        if (typeof parsed === "string") return { status: 400, body: { error: parsed } };
        responses.push(parsed);
      }
      const state = scopeState(scope);
      if (state.scripts.length >= LIMITS.maxScriptsPerScope) {
        return { status: 400, body: { error: `at most ${LIMITS.maxScriptsPerScope} scripts per scope` } };
      }
      state.scripts.push({ match: parsedMatch, responses });
      return { status: 201, body: { ok: true } };
    }
    return { status: 404, body: { error: `no control endpoint ${req.method} ${req.path}` } };
  };

  const server = createServer(async (incoming, res) => {
    try {
      const url = new URL(incoming.url ?? "/", "http://127.0.0.1");
      const rawBody = await readBody(incoming);
      const contentType = String(incoming.headers["content-type"] ?? "").toLowerCase();
      if (rawBody === null) {
        send(res, 413, { error: `body over ${LIMITS.maxBodyBytes} bytes` });
        return;
      }
      /** @type {FakeRequest} */
      const req = {
        method: incoming.method ?? "GET",
        path: url.pathname,
        query: url.searchParams,
        headers: incoming.headers,
        rawBody,
        body: parseBody(rawBody, contentType),
        contentType,
      };
      if (req.path.startsWith("/__control/")) {
        const out = control(req);
        send(res, out.status, out.body);
        return;
      }

      const scope = provider.scopeOf(req);
      /** @type {Record<string, string>} */
      const headers = {};
      for (const [k, v] of Object.entries(incoming.headers)) {
        if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
      }
      const scripted = takeScripted(req, scope);
      /** @type {Recording} */
      const recording = {
        seq: ++seq,
        at: new Date().toISOString(),
        method: req.method,
        path: req.path,
        query: Object.fromEntries(req.query),
        headers,
        rawBody,
        body: req.body,
        scripted: scripted !== undefined,
        response: null,
      };
      const state = scopeState(scope);
      state.recordings.push(recording);
      if (state.recordings.length > LIMITS.maxRecordingsPerScope) state.recordings.shift();

      if (scripted) {
        if (scripted.delayMs && !(await waitUnlessClosed(scripted.delayMs, res))) return;
        if (scripted.drop) {
          incoming.socket.destroy();
          return;
        }
        recording.response = { status: scripted.status, body: scripted.body ?? null };
        send(res, scripted.status, scripted.body, scripted.headers);
        return;
      }
      const out = provider.handle(req);
      recording.response = { status: out.status, body: out.body ?? null };
      send(res, out.status, out.body, out.headers);
    } catch (err) {
      send(res, 500, {
        error: `fake ${provider.name} crashed: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  });
  return listenOnLoopback(server);
}

/**
 * Listens on 127.0.0.1 with an ephemeral port (tests talk only to loopback).
 * @param {import("node:http").Server} server
 * @returns {Promise<{ url: string, close: () => Promise<void> }>}
 */
export async function listenOnLoopback(server) {
  server.keepAliveTimeout = 2_000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(undefined));
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("fake server has no TCP address");
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
