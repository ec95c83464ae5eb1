/**
 * Shared by the attack tests in test/security/: the operations of the served OpenAPI document, calls with
 * other bindings (the worker as deployed), bounded polling, D1 counts and provider signatures computed here
 * (never with src/ code, so a verifier is not checked against itself).
 */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import type { Env } from "../../src/env";
import { newId } from "../../src/ids";
import { fakeReceiver } from "../fakes/receiver-client";
import { call, fetchWorker, json } from "../helpers";
import { rowsOf } from "../routes/inbound-support";

// ---------------------------------------------------------------------------------------------------------
// The OpenAPI document

export interface PathParam {
  name: string;
  /** The example the document gives (every path parameter has one). */
  example: string;
}

export interface Operation {
  method: string;
  path: string;
  /** `GET /v1/messages/{id}`: how the maps in these tests name an operation. */
  label: string;
  /** `x-required-scope`, or null for an operation without a security requirement. */
  scope: string | null;
  /** Every scope that passes (`x-accepted-scopes`: the route's own and broader ones), else just `scope`. */
  accepted: string[];
  security: Record<string, string[]>[];
  pathParams: PathParam[];
  /** Header parameters by lower-case name, with whether each is required. */
  headers: Map<string, boolean>;
  hasBody: boolean;
}

/** Paths served without an API key: health, the document and docs pages, provider webhooks (signed). */
export function isPublicPath(path: string): boolean {
  return (
    path === "/healthz" ||
    path.startsWith("/l/") ||
    path === "/openapi.json" ||
    path.startsWith("/docs") ||
    path.startsWith("/inbound/") ||
    // Signed, expiring media links for providers: the signature is the credential (media.test.ts).
    path.startsWith("/media/")
  );
}

/** Every operation of the document the worker serves (GET /openapi.json, through the worker). */
export async function documentOperations(): Promise<Operation[]> {
  const res = await call("GET", "/openapi.json");
  expect(res.status).toBe(200);
  const doc = await json(res);
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      const parameters: any[] = op.parameters ?? [];
      const pathParams = parameters
        .filter((p) => p.in === "path")
        .map((p) => ({ name: String(p.name), example: String(p.example ?? p.schema?.example ?? "") }));
      const headers = new Map<string, boolean>(
        parameters.filter((p) => p.in === "header").map((p) => [String(p.name).toLowerCase(), !!p.required]),
      );
      operations.push({
        method: method.toUpperCase(),
        path,
        label: `${method.toUpperCase()} ${path}`,
        scope: op["x-required-scope"] ?? null,
        accepted: op["x-accepted-scopes"] ?? (op["x-required-scope"] ? [op["x-required-scope"]] : []),
        security: op.security ?? [],
        pathParams,
        headers,
        hasBody: op.requestBody !== undefined,
      });
    }
  }
  return operations;
}

/** `/v1/webhook-endpoints/{id}/deliveries/{delivery_id}` with each `{name}` replaced by `values[name]`. */
export function fillPath(path: string, values: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for {${name}} in ${path}`);
    return encodeURIComponent(value);
  });
}

// ---------------------------------------------------------------------------------------------------------
// Calls

/** The worker as deployed: local webhooks off (and PUBLIC_BASE_URL not local, so the flag could not help). */
export const DEPLOYED: Env = {
  ...env,
  ALLOW_LOCAL_WEBHOOKS: undefined,
  PUBLIC_BASE_URL: "https://api.example.com",
};

/** Like `call()` from test/helpers.ts, with the given bindings instead of the test harness's. */
export function callWith(
  bindings: Env,
  method: string,
  path: string,
  options: { key?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  return fetchWorker(new Request(`https://api.example.com${path}`, { method, headers, body }), bindings);
}

/** A sink of the fake webhook receiver on 127.0.0.1: deliveries to it never leave the machine. */
export async function sink() {
  const receiver = fakeReceiver();
  return { receiver, ...(await receiver.createSink()) };
}

/**
 * Polls `read` until `predicate` holds. Bounded by a number of tries rather than by the clock, so it also
 * ends when a test has frozen Date.
 */
export async function until<T>(
  read: () => Promise<T>,
  predicate: (value: T) => boolean,
  what: string,
  tries = 300,
  intervalMs = 50,
): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < tries; i++) {
    last = await read();
    if (predicate(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`${what}: not reached after ${tries} tries; last ${JSON.stringify(last).slice(0, 500)}`);
}

/** The status and the body text, for assertion messages that show what came back. */
export async function described(res: Response): Promise<{ status: number; text: string }> {
  return { status: res.status, text: await res.text() };
}

// ---------------------------------------------------------------------------------------------------------
// D1

/** Rows of a query, straight from D1 (the inbound tests' helper). */
export const rows = rowsOf;

export async function count(sql: string, ...binds: unknown[]): Promise<number> {
  const [row] = await rowsOf<{ n: number }>(sql, ...binds);
  return row?.n ?? 0;
}

/**
 * Funds a wallet with exactly `micros`, recorded as its only ledger entry (a grant), so that the ledger of
 * the environment sums to the balance from the first entry on.
 */
export async function fundWallet(tenantId: string, environment: string, secret: string, micros: number) {
  expect((await call("GET", "/v1/balance", { key: secret })).status).toBe(200); // creates the wallet
  await env.DB.batch([
    env.DB.prepare("UPDATE wallets SET balance_micros = ? WHERE tenant_id = ? AND environment = ?").bind(
      micros,
      tenantId,
      environment,
    ),
    env.DB.prepare("DELETE FROM ledger_entries WHERE tenant_id = ? AND environment = ?").bind(
      tenantId,
      environment,
    ),
    env.DB.prepare(
      `INSERT INTO ledger_entries (id, tenant_id, environment, kind, amount_micros, balance_after_micros,
         message_id, hop, description, created_at)
       VALUES (?, ?, ?, 'grant', ?, ?, NULL, NULL, 'security test funding', ?)`,
    ).bind(newId("ledgerEntry"), tenantId, environment, micros, micros, Date.now()),
  ]);
}

/** Decimal amount strings of the API ("0.0105", "-0.0105") as integer micros. */
export function micros(amount: string): number {
  const negative = amount.startsWith("-");
  const [whole = "0", fraction = ""] = amount.replace(/^-/, "").split(".");
  const value = Number(whole) * 1_000_000 + Number(fraction.padEnd(6, "0").slice(0, 6));
  return negative ? -value : value;
}

// ---------------------------------------------------------------------------------------------------------
// Signatures, computed the way each provider computes them

const encoder = new TextEncoder();

export async function hmac(hash: "SHA-1" | "SHA-256", key: Uint8Array | string, data: string) {
  const raw = typeof key === "string" ? encoder.encode(key) : key;
  const cryptoKey = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(data)));
}

export const base64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

/**
 * Twilio's `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the auth token, of the URL Twilio called
 * followed by each POST parameter's name and value, names in sorted order.
 */
export async function twilioSignature(authToken: string, url: string, params: Record<string, string>) {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, name) => acc + name + params[name], url);
  return base64(await hmac("SHA-1", authToken, data));
}

/** `text` with one byte changed (the last character of the first `needle`, its lowest bit flipped). */
export function flipOneByte(text: string, needle: string): string {
  const at = text.indexOf(needle);
  if (at < 0 || needle.length === 0) throw new Error(`"${needle}" is not in the body`);
  const i = at + needle.length - 1;
  return text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ 1) + text.slice(i + 1);
}
