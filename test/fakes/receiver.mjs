// @ts-check
/**
 * A fake tenant webhook receiver plus a fake DNS-over-HTTPS resolver, one Node HTTP server on 127.0.0.1 that
 * the worker under test delivers to. Runs in Node (started by the vitest globalSetup); tests drive it from
 * workerd through `receiver-client.ts`.
 *
 * Receiver ("sinks": one per test, so concurrent test files never see each other's traffic):
 *   POST /__control/sinks                          → { id }            a new sink, answering 200 by default
 *   POST /__control/script { sink, responses, default? }   answer the sink's next requests with `responses`
 *        in order ({ status, headers?, body?, delayMs?, bodyIncludes? }), then with `default` (when given) from then
 *        on; a response with `bodyIncludes` only answers a request whose body contains that text
 *   GET  /__control/requests?sink=…                → { data: Received[] } oldest first
 *   ANY  /sink/{id}[/…]                            the endpoint itself: recorded, then answered
 * DNS over HTTPS (JSON API, as cloudflare-dns.com answers it):
 *   POST /__control/dns { name, a?: string[], aaaa?: string[] }   set a name's records
 *   GET  /dns-query?name=…&type=A|AAAA             → { Status, Answer } (Status 3 = NXDOMAIN for unknown names)
 *   GET  /__control/dns-queries?name=…             → { count } how many /dns-query requests asked about name
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { BoundedMap, listenOnLoopback } from "./core.mjs";

const LIMITS = Object.freeze({
  maxSinks: 2_000,
  maxRequestsPerSink: 500,
  maxScripted: 200,
  maxDelayMs: 20_000,
  maxBodyBytes: 1_048_576,
  maxNames: 2_000,
});

/**
 * @typedef {{ status: number, headers?: Record<string, string>, body?: string, delayMs?: number,
 *   bodyIncludes?: string }} Answer
 * @typedef {{ method: string, path: string, headers: Record<string, string>, body: string,
 *   receivedAt: number, status: number }} Received
 * @typedef {{ scripted: Answer[], fallback: Answer, requests: Received[] }} Sink
 */

/** @param {import("node:http").IncomingMessage} req @returns {Promise<string | null>} null when too large */
function readBody(req) {
  return new Promise((resolve, reject) => {
    /** @type {Buffer[]} */
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size <= LIMITS.maxBodyBytes) chunks.push(chunk);
    });
    req.on("end", () => resolve(size > LIMITS.maxBodyBytes ? null : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** @param {import("node:http").ServerResponse} res @param {number} status @param {unknown} body */
function sendJson(res, status, body) {
  const payload = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
  res.end(payload);
}

/** @param {unknown} input @returns {Answer | string} */
function parseAnswer(input) {
  if (typeof input !== "object" || input === null) return "each response must be an object";
  const { status, headers, body, delayMs, bodyIncludes } = /** @type {Record<string, unknown>} */ (input);
  if (typeof status !== "number" || !Number.isInteger(status) || status < 100 || status > 599) {
    return "status must be an HTTP status (100-599)";
  }
  /** @type {Answer} */
  const out = { status };
  if (headers !== undefined) {
    if (typeof headers !== "object" || headers === null) return "headers must be an object";
    out.headers = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)]));
  }
  if (body !== undefined) out.body = typeof body === "string" ? body : JSON.stringify(body);
  if (delayMs !== undefined) {
    if (typeof delayMs !== "number" || delayMs < 0) return "delayMs must be >= 0";
    out.delayMs = Math.min(delayMs, LIMITS.maxDelayMs);
  }
  if (bodyIncludes !== undefined) out.bodyIncludes = String(bodyIncludes);
  return out;
}

/** @returns {Promise<{ url: string, close: () => Promise<void> }>} */
export async function startFakeReceiver() {
  /** @type {BoundedMap} id → Sink */
  const sinks = new BoundedMap(LIMITS.maxSinks);
  /** @type {BoundedMap} lower-case name → { a: string[], aaaa: string[] } */
  const names = new BoundedMap(LIMITS.maxNames);
  /** @type {BoundedMap} lower-case name → how many /dns-query requests asked about it */
  const queried = new BoundedMap(LIMITS.maxNames);

  /** @param {import("node:http").IncomingMessage} incoming @param {import("node:http").ServerResponse} res */
  async function handle(incoming, res) {
    const url = new URL(incoming.url ?? "/", "http://127.0.0.1");
    const raw = await readBody(incoming);
    if (raw === null) return sendJson(res, 413, { error: "body too large" });
    const method = incoming.method ?? "GET";

    if (url.pathname.startsWith("/sink/")) {
      const id = url.pathname.split("/")[2] ?? "";
      const sink = /** @type {Sink | undefined} */ (sinks.get(id));
      if (!sink) return sendJson(res, 404, { error: `no sink ${id}` });
      const next = sink.scripted.findIndex(
        (a) => a.bodyIncludes === undefined || raw.includes(a.bodyIncludes),
      );
      const answer = next === -1 ? sink.fallback : (sink.scripted.splice(next, 1)[0] ?? sink.fallback);
      /** @type {Record<string, string>} */
      const headers = {};
      for (const [k, v] of Object.entries(incoming.headers)) {
        if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
      }
      sink.requests.push({
        method,
        path: url.pathname,
        headers,
        body: raw,
        receivedAt: Date.now(),
        status: answer.status,
      });
      if (sink.requests.length > LIMITS.maxRequestsPerSink) sink.requests.shift();
      if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
      if (res.destroyed) return;
      const body = answer.body ?? "";
      res.writeHead(answer.status, {
        "content-type": "text/plain; charset=utf-8",
        ...answer.headers,
        "content-length": Buffer.byteLength(body),
      });
      return res.end(body);
    }

    if (url.pathname === "/dns-query" && method === "GET") {
      const name = (url.searchParams.get("name") ?? "").toLowerCase().replace(/\.$/, "");
      const type = url.searchParams.get("type") === "AAAA" ? 28 : 1;
      queried.set(name, (queried.get(name) ?? 0) + 1);
      const records = names.get(name);
      if (!records) return sendJson(res, 200, { Status: 3, Question: [{ name, type }] });
      const data = type === 1 ? records.a : records.aaaa;
      return sendJson(res, 200, {
        Status: 0,
        Question: [{ name, type }],
        Answer: data.map((/** @type {string} */ address) => ({ name, type, TTL: 60, data: address })),
      });
    }

    if (method === "POST" && url.pathname === "/__control/sinks") {
      const id = randomBytes(8).toString("hex");
      sinks.set(id, { scripted: [], fallback: { status: 200, body: "ok" }, requests: [] });
      return sendJson(res, 201, { id });
    }
    if (method === "GET" && url.pathname === "/__control/dns-queries") {
      const name = (url.searchParams.get("name") ?? "").toLowerCase().replace(/\.$/, "");
      return sendJson(res, 200, { count: queried.get(name) ?? 0 });
    }
    if (method === "GET" && url.pathname === "/__control/requests") {
      const sink = sinks.get(url.searchParams.get("sink") ?? "");
      if (!sink) return sendJson(res, 404, { error: "no such sink" });
      return sendJson(res, 200, { data: sink.requests });
    }
    if (method === "POST" && (url.pathname === "/__control/script" || url.pathname === "/__control/dns")) {
      /** @type {any} */
      let input;
      try {
        input = JSON.parse(raw);
      } catch {
        return sendJson(res, 400, { error: "a JSON body is required" });
      }
      if (url.pathname === "/__control/dns") {
        if (typeof input?.name !== "string") return sendJson(res, 400, { error: "name is required" });
        const list = (/** @type {unknown} */ value) => (Array.isArray(value) ? value.map(String) : []);
        names.set(input.name.toLowerCase(), { a: list(input.a), aaaa: list(input.aaaa) });
        return sendJson(res, 200, { ok: true });
      }
      const sink = /** @type {Sink | undefined} */ (sinks.get(String(input?.sink ?? "")));
      if (!sink) return sendJson(res, 404, { error: "no such sink" });
      const responses = Array.isArray(input.responses) ? input.responses : [];
      if (sink.scripted.length + responses.length > LIMITS.maxScripted) {
        return sendJson(res, 400, { error: `at most ${LIMITS.maxScripted} scripted responses` });
      }
      for (const response of responses) {
        const parsed = parseAnswer(response);
        if (typeof parsed === "string") return sendJson(res, 400, { error: parsed });
        sink.scripted.push(parsed);
      }
      if (input.default !== undefined) {
        const parsed = parseAnswer(input.default);
        if (typeof parsed === "string") return sendJson(res, 400, { error: parsed });
        sink.fallback = parsed;
      }
      return sendJson(res, 200, { ok: true });
    }
    return sendJson(res, 404, { error: `nothing at ${method} ${url.pathname}` });
  }

  const server = createServer((incoming, res) => {
    handle(incoming, res).catch((error) => {
      if (!res.headersSent) sendJson(res, 500, { error: `fake receiver crashed: ${String(error)}` });
    });
  });
  return listenOnLoopback(server);
}
