import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, vi } from "vitest";
import { createApiKey, createTenant } from "../src/db/api-keys";
import { createDb } from "../src/db/client";
import { SCOPES } from "../src/domain/api-keys";
import type { Env, Environment } from "../src/env";
import { newId } from "../src/ids";
import worker from "../src/index";

export const ALL_SCOPES = [...SCOPES];

export interface SeededKey {
  tenantId: string;
  keyId: string;
  secret: string;
  environment: Environment;
}

/** A fresh tenant with one key (all scopes unless told otherwise), written through the same code the API uses. */
export async function seedTenant(
  options: { environment?: Environment; scopes?: string[]; expiresAt?: Date | null; name?: string } = {},
): Promise<SeededKey> {
  const db = createDb(env.DB);
  const now = new Date();
  const tenant = await createTenant(db, options.name ?? "Test tenant", now);
  return seedKey(tenant.id, options);
}

/** Another key on an existing tenant. */
export async function seedKey(
  tenantId: string,
  options: { environment?: Environment; scopes?: string[]; expiresAt?: Date | null } = {},
): Promise<SeededKey> {
  const environment = options.environment ?? "test";
  const { key, secret } = await createApiKey(
    createDb(env.DB),
    {
      tenantId,
      environment,
      name: "seeded",
      scopes: options.scopes ?? ALL_SCOPES,
      expiresAt: options.expiresAt ?? null,
      rateLimitPerMinute: null,
      rateLimitBurst: null,
      createdByKeyId: null,
    },
    new Date(),
  );
  return { tenantId, keyId: key.id, secret, environment };
}

/** Calls the worker's own fetch handler (inside workerd, same isolate) like an HTTP client would. */
export function call(
  method: string,
  path: string,
  options: { key?: string; body?: unknown; headers?: Record<string, string>; rawBody?: string } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  return fetchWorker(new Request(`http://localhost${path}`, { method, headers, body }));
}

/**
 * The worker's fetch handler with an execution context of its own, as in production, returning once its
 * waitUntil work (audit log, KeyGate completion) has finished. Going through the harness's
 * `exports.default.fetch` instead makes every request slower than the one before (about +0.15 ms per earlier
 * request in the same file), which turns the fuzz suite quadratic.
 */
export async function fetchWorker(request: Request, bindings: Env = env): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(request, bindings, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

export async function json<T = any>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

/** Asserts the error envelope and returns it. */
export async function expectError(res: Response, status: number, code: string) {
  const text = await res.text();
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`expected a JSON error envelope, got ${res.status}: ${text.slice(0, 200)}`);
  }
  if (res.status !== status || parsed?.error?.code !== code) {
    throw new Error(`expected ${status} ${code}, got ${res.status}: ${text.slice(0, 400)}`);
  }
  const { error } = parsed;
  for (const field of ["type", "code", "message", "request_id", "doc_url", "details"]) {
    if (!(field in error)) throw new Error(`error envelope lacks ${field}: ${text}`);
  }
  return error as {
    type: string;
    code: string;
    message: string;
    request_id: string;
    doc_url: string;
    details: any[];
  };
}

/** Opens the WhatsApp customer-service window for `address` as an inbound message would. */
export async function openCustomerWindow(
  tenantId: string,
  address: string,
  at = new Date(),
  environment = "test",
) {
  await env.DB.prepare(
    `INSERT INTO conversations (id, tenant_id, environment, channel, address, contact_id, last_inbound_at, created_at, updated_at)
     VALUES (?, ?, ?, 'whatsapp', ?, NULL, ?, ?, ?)
     ON CONFLICT DO UPDATE SET last_inbound_at = excluded.last_inbound_at`,
  )
    .bind(newId("conversation"), tenantId, environment, address, at.getTime(), at.getTime(), at.getTime())
    .run();
}

let idempotencySeq = 0;
/** POST /v1/messages with a fresh idempotency key (unless one is given). */
export function send(
  key: string,
  body: Record<string, unknown>,
  idempotencyKey = `t-${Date.now()}-${idempotencySeq++}`,
) {
  return call("POST", "/v1/messages", { key, body, headers: { "idempotency-key": idempotencyKey } });
}

/** Polls GET /v1/messages/{id} until `predicate` holds (bounded: 15 s). */
export async function waitForMessage(
  key: string,
  id: string,
  predicate: (m: any) => boolean,
  timeoutMs = 15_000,
) {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    last = await json(await call("GET", `/v1/messages/${id}`, { key }));
    if (predicate(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `message ${id} did not reach the expected state; last: ${JSON.stringify(last).slice(0, 600)}`,
  );
}

/** A live tenant with money in its wallet. */
export async function liveTenant(): Promise<SeededKey> {
  const tenant = await seedTenant({ environment: "live" });
  await call("GET", "/v1/balance", { key: tenant.secret }); // creates the (empty) live wallet
  await env.DB.prepare(
    "UPDATE wallets SET balance_micros = 50000000 WHERE tenant_id = ? AND environment = 'live'",
  )
    .bind(tenant.tenantId)
    .run();
  return tenant;
}

/** One tick of the minute cron, as the platform fires it, at `at`. */
export async function runCron(at = Date.now()) {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime: at, cron: "* * * * *" }), env, ctx);
  await waitOnExecutionContext(ctx);
}

/** Creates a sandbox template and lets its simulated review finish (advancing the clock, not sleeping). */
export async function approvedTemplate(secret: string, name: string, body: string, language = "en_US") {
  const created = await json(
    await call("POST", "/v1/templates", { key: secret, body: { name, language, category: "utility", body } }),
  );
  expect(created.status).toBe("pending");
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now() + 4000);
  const approved = await json(await call("GET", `/v1/templates/${created.id}`, { key: secret }));
  vi.useRealTimers();
  expect(approved.status).toBe("approved");
  return approved;
}
