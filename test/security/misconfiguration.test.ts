/**
 * A deployment that lacks a setting the worker needs (here SECRETS_ENCRYPTION_KEY, which only
 * `wrangler secret put` provides) must answer 503 `misconfigured` naming the setting, never a 500, and never
 * echo the value; queue consumers log the same message and retry.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import worker from "../../src/index";
import type { SendJob } from "../../src/queues/jobs";
import type { WebhookJob } from "../../src/webhooks/queue";
import { fakeReceiver } from "../fakes/receiver-client";
import { expectError, fetchWorker, json, liveTenant, seedTenant } from "../helpers";
import { smsChannel } from "../routes/inbound-support";

const SETTING = "SECRETS_ENCRYPTION_KEY";
const CONFIGURED_KEY = env.SECRETS_ENCRYPTION_KEY ?? "";
/** Valid base64, but of 16 bytes instead of 32. */
const SHORT_KEY = "bm90LXRoaXJ0eS10d28tYnl0ZXM=";
/** Well-formed (base64 of 32 bytes) but not the key anything was stored with. */
const OTHER_KEY = btoa("another-32-byte-key-for-the-test");

const withKey = (key: string | undefined): Env => ({ ...env, SECRETS_ENCRYPTION_KEY: key });

function request(bindings: Env, method: string, path: string, key: string, body?: unknown) {
  return fetchWorker(
    new Request(`http://localhost${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    bindings,
  );
}

/** Asserts 503 misconfigured naming the setting, without the configured or the bad value. */
async function expectMisconfigured(res: Response, ...secrets: string[]) {
  const error = await expectError(res, 503, "misconfigured");
  expect(error.type).toBe("api_error");
  expect(error.message).toContain(SETTING);
  for (const secret of [CONFIGURED_KEY, ...secrets]) expect(error.message).not.toContain(secret);
  return error;
}

/** A queue binding that keeps what the worker sends, so a test can hand it to a consumer itself. */
function capturingQueue<T>() {
  const sent: T[] = [];
  const queue = {
    send: async (body: T) => void sent.push(body),
    sendBatch: async (messages: Iterable<{ body: T }>) => {
      for (const message of messages) sent.push(message.body);
    },
  } as unknown as Queue<unknown>;
  return { sent, queue };
}

async function storedRows(table: "webhook_endpoints" | "channels", tenantId: string) {
  const row = await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE tenant_id = ?`)
    .bind(tenantId)
    .first<{ n: number }>();
  return row?.n;
}

const SMS_BODY = {
  type: "sms",
  name: "SMS",
  account_sid: `AC${"0123456789abcdef".repeat(2)}`,
  auth_token: "twilio-auth-token-0123456789",
  from: "+14155550100",
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe("promise: a missing or wrong setting is a 503 misconfigured naming it (never its value), not a 500", () => {
  it("webhook endpoint create: 503 misconfigured naming the setting, nothing stored", async () => {
    const tenant = await seedTenant();
    for (const key of [undefined, "", SHORT_KEY, "not base64 at all!"]) {
      const res = await request(withKey(key), "POST", "/v1/webhook-endpoints", tenant.secret, {
        url: "https://hooks.example.com/sendwire",
        events: ["*"],
      });
      const error = await expectMisconfigured(res, ...(key ? [key] : []));
      expect(error.message).toMatch(key ? /not base64 of 32 bytes/ : /not set/);
    }
    expect(await storedRows("webhook_endpoints", tenant.tenantId)).toBe(0);
  });

  it("channel create: 503 misconfigured naming the setting, nothing stored", async () => {
    const live = await liveTenant();
    await expectMisconfigured(
      await request(withKey(undefined), "POST", "/v1/channels", live.secret, SMS_BODY),
    );
    await expectMisconfigured(
      await request(withKey(SHORT_KEY), "POST", "/v1/channels", live.secret, SMS_BODY),
      SHORT_KEY,
    );
    expect(await storedRows("channels", live.tenantId)).toBe(0);
  });

  it("a key that cannot open what was stored (replaced after the fact) is misconfigured too", async () => {
    const live = await liveTenant();
    const created = await request(env, "POST", "/v1/channels", live.secret, SMS_BODY);
    expect(created.status, await created.clone().text()).toBe(201);
    const { id } = await json<{ id: string }>(created);
    const error = await expectMisconfigured(
      await request(withKey(OTHER_KEY), "GET", `/v1/channels/${id}`, live.secret),
      OTHER_KEY,
    );
    expect(error.message).toContain("cannot be decrypted");
    expect(error.message).not.toContain(SMS_BODY.auth_token);
    // With the right key everything still works.
    expect((await request(env, "GET", `/v1/channels/${id}`, live.secret)).status).toBe(200);
  });

  it("the webhooks consumer logs the setting's name (not its value) and retries the job", async () => {
    const tenant = await seedTenant();
    const receiver = fakeReceiver();
    const sink = await receiver.createSink();
    const created = await request(env, "POST", "/v1/webhook-endpoints", tenant.secret, {
      url: sink.url,
      events: ["*"],
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const endpoint = await json<{ id: string }>(created);
    // The test event's job is kept here instead of reaching the running consumer.
    const { sent, queue } = capturingQueue<WebhookJob>();
    const broken: Env = { ...withKey(undefined), WEBHOOKS_QUEUE: queue };
    const res = await request(broken, "POST", `/v1/webhook-endpoints/${endpoint.id}/test`, tenant.secret);
    expect(res.status, await res.clone().text()).toBe(202);
    expect(sent).toHaveLength(1);

    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const batch = createMessageBatch<WebhookJob>("sendwire-webhooks", [
      { id: "job-1", timestamp: new Date(), attempts: 1, body: sent[0] as WebhookJob },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, broken);
    const result = await getQueueResult(batch, ctx);
    expect(result.retryMessages.map((m: { msgId: string }) => m.msgId)).toEqual(["job-1"]);
    expect(result.explicitAcks).toEqual([]);
    const text = JSON.stringify(logged.mock.calls);
    expect(text).toContain(SETTING);
    expect(text).toContain("misconfigured");
    expect(text).not.toContain(CONFIGURED_KEY);
    expect(await receiver.requests(sink.id)).toHaveLength(0);
  });

  it("the sends consumer logs the setting's name (not its value) and retries a live dispatch", async () => {
    const live = await liveTenant();
    const { twilio, account } = await smsChannel(live);
    const { sent, queue } = capturingQueue<SendJob>();
    const broken: Env = { ...withKey(undefined), SENDS_QUEUE: queue };
    const res = await fetchWorker(
      new Request("http://localhost/v1/messages", {
        method: "POST",
        headers: {
          authorization: `Bearer ${live.secret}`,
          "content-type": "application/json",
          "idempotency-key": `misconfigured-${Date.now()}`,
        },
        body: JSON.stringify({ channel: "sms", to: "+5511987654321", text: { body: "hi" } }),
      }),
      broken,
    );
    expect(res.status, await res.clone().text()).toBe(202);
    const job = sent.find((j) => j.kind === "dispatch");
    if (!job) throw new Error(`no dispatch job among ${JSON.stringify(sent)}`);

    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const batch = createMessageBatch<SendJob>("sendwire-sends", [
      { id: "job-1", timestamp: new Date(), attempts: 1, body: job },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, broken);
    const result = await getQueueResult(batch, ctx);
    expect(result.retryMessages.map((m: { msgId: string }) => m.msgId)).toEqual(["job-1"]);
    const text = JSON.stringify(logged.mock.calls);
    expect(text).toContain(SETTING);
    expect(text).toContain("misconfigured");
    expect(text).not.toContain(CONFIGURED_KEY);
    expect(await twilio.requests(account.scope)).toHaveLength(0);
  });
});
