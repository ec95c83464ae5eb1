import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { deliverWebhook } from "../../src/queues/deliver-webhook";
import { applyReceipt, loadMessage } from "../../src/queues/message-lifecycle";
import { fakeDns, fakeReceiver, type RecordedRequest } from "../fakes/receiver-client";
import { call, json, runCron, seedTenant, send, waitForMessage } from "../helpers";

// The workers project runs the retry schedule at 1/100 speed (WEBHOOK_RETRY_SCALE=0.01): 1 s → 10 ms,
// 5 s → 50 ms, 30 s → 300 ms, 2 min → 1.2 s. Receivers are real HTTP servers on 127.0.0.1.

const TO = "+5511987654321";

async function endpointFor(key: string, url: string, events: string[] = ["*"]) {
  const res = await call("POST", "/v1/webhook-endpoints", { key, body: { url, events } });
  expect(res.status, await res.clone().text()).toBe(201);
  return json<{ id: string; secret: string }>(res);
}

async function sandboxTenantWithSink(events: string[] = ["*"]) {
  const tenant = await seedTenant();
  const receiver = fakeReceiver();
  const sink = await receiver.createSink();
  const endpoint = await endpointFor(tenant.secret, sink.url, events);
  return { tenant, receiver, sink, endpoint };
}

const bodyOf = (request: RecordedRequest) => JSON.parse(request.body);
const okRequests = (requests: RecordedRequest[]) => requests.filter((r) => r.status >= 200 && r.status < 300);

/** Polls until `predicate` holds for the delivery rows of an endpoint (bounded). */
async function waitForDeliveries(
  key: string,
  endpointId: string,
  predicate: (rows: any[]) => boolean,
  timeoutMs = 15_000,
) {
  const deadline = Date.now() + timeoutMs;
  let last: any[] = [];
  while (Date.now() < deadline) {
    last = (
      await json(await call("GET", `/v1/webhook-endpoints/${endpointId}/deliveries?limit=100`, { key }))
    ).data;
    if (predicate(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`deliveries never matched; last: ${JSON.stringify(last).slice(0, 800)}`);
}

describe("webhook delivery", () => {
  it("signs each delivery so standardwebhooks and stripe verify it, on the exact bytes received", async () => {
    const { tenant, receiver, sink, endpoint } = await sandboxTenantWithSink(["message.queued"]);
    const sent = await json(await send(tenant.secret, { channel: "sms", to: TO, text: { body: "hi" } }));
    const [request] = await receiver.waitForRequests(sink.id, 1);
    if (!request) throw new Error("no request");
    const event = bodyOf(request);
    expect(event).toMatchObject({
      type: "message.queued",
      api_version: env.API_VERSION,
      environment: "test",
      sequence: 1,
      data: { id: sent.id, status: "queued" },
    });
    expect(event.id).toMatch(/^evt_/);
    expect(Object.keys(event).sort()).toEqual(
      ["api_version", "created_at", "data", "environment", "id", "sequence", "type"].sort(),
    );
    expect(request.headers["user-agent"]).toMatch(/^Sendwire-Webhooks\/\d+\.\d+\.\d+/);
    expect(request.headers["content-type"]).toBe("application/json");
    expect(request.headers["webhook-id"]).toBe(event.id);

    const verified = new Webhook(endpoint.secret).verify(request.body, request.headers) as { id: string };
    expect(verified.id).toBe(event.id);
    const stripe = new Stripe("sk_test_unused");
    const constructed = await stripe.webhooks.constructEventAsync(
      request.body,
      request.headers["sendwire-signature"] ?? "",
      endpoint.secret,
    );
    expect(constructed.id).toBe(event.id);

    // One changed byte, or the wrong secret, fails both.
    const tampered = request.body.replace('"queued"', '"queueD"');
    expect(() => new Webhook(endpoint.secret).verify(tampered, request.headers)).toThrow();
    await expect(
      stripe.webhooks.constructEventAsync(
        tampered,
        request.headers["sendwire-signature"] ?? "",
        endpoint.secret,
      ),
    ).rejects.toThrow();
    const other = await endpointFor(tenant.secret, sink.url, ["message.sent"]);
    expect(() => new Webhook(other.secret).verify(request.body, request.headers)).toThrow();
  });

  it("a receiver that is down and then up gets every event, with growing gaps between attempts", async () => {
    const { tenant, receiver, sink, endpoint } = await sandboxTenantWithSink(["message.queued"]);
    await receiver.script(sink.id, [{ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }]);
    const first = await json(await send(tenant.secret, { channel: "sms", to: TO, text: { body: "one" } }));
    const requests = await receiver.waitForRequests(sink.id, 5);
    expect(requests.map((r) => r.status)).toEqual([503, 503, 503, 503, 200]);
    expect(new Set(requests.map((r) => r.headers["webhook-id"])).size).toBe(1);
    const times = requests.map((r) => r.receivedAt);
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
    // Scheduled: 10 ms, 50 ms, 300 ms, 1.2 s (±10 %), plus the queue hop each time. The hop varies by tens of
    // milliseconds on a loaded machine, so the first two gaps are checked against their floor, not each other.
    const scheduled = [10, 50, 300, 1_200];
    for (const [i, gap] of gaps.entries()) expect(gap).toBeGreaterThanOrEqual((scheduled[i] ?? 0) * 0.9);
    expect(gaps[2]).toBeGreaterThan(gaps[1] ?? 0);
    expect(gaps[3]).toBeGreaterThan(gaps[2] ?? 0);
    expect(gaps[3]).toBeGreaterThanOrEqual(1_000);

    // Now several events while it is down again: every one of them arrives once it is back.
    await receiver.script(
      sink.id,
      Array.from({ length: 6 }, () => ({ status: 500 })),
    );
    const more: { id: string }[] = [];
    for (let i = 0; i < 4; i++) {
      more.push(await json(await send(tenant.secret, { channel: "sms", to: TO, text: { body: `m${i}` } })));
    }
    const rows = await waitForDeliveries(
      tenant.secret,
      endpoint.id,
      (all) => all.length === 5 && all.every((d) => d.status === "succeeded"),
    );
    const events = (
      await json(await call("GET", "/v1/events?type=message.queued&limit=100", { key: tenant.secret }))
    ).data as { id: string; data: { id: string } }[];
    const expected = new Set(
      events.filter((e) => [first, ...more].some((m) => m.id === e.data.id)).map((e) => e.id),
    );
    const received = new Set(
      okRequests(await receiver.requests(sink.id)).map((r) => r.headers["webhook-id"]),
    );
    expect(received).toEqual(expected);
    expect(expected.size).toBe(5);
    expect(rows.some((d) => d.attempts > 1 && d.attempt_log.some((a: any) => a.status_code === 500))).toBe(
      true,
    );
  });

  it("honours Retry-After on 429, and records every attempt with status, latency and an excerpt", async () => {
    const { tenant, receiver, sink, endpoint } = await sandboxTenantWithSink(["message.queued"]);
    await receiver.script(sink.id, [
      { status: 429, headers: { "retry-after": "2" }, body: "slow down\u0000 please" },
    ]);
    await send(tenant.secret, { channel: "sms", to: TO, text: { body: "hi" } });
    const [limited, ok] = await receiver.waitForRequests(sink.id, 2);
    expect(limited?.status).toBe(429);
    expect(ok?.status).toBe(200);
    // Our own schedule would have retried after 10 ms; the receiver asked for 2 s.
    expect((ok?.receivedAt ?? 0) - (limited?.receivedAt ?? 0)).toBeGreaterThanOrEqual(1_900);
    const [delivery] = await waitForDeliveries(
      tenant.secret,
      endpoint.id,
      (all) => all[0]?.status === "succeeded",
    );
    expect(delivery.attempts).toBe(2);
    const [last, firstAttempt] = delivery.attempt_log;
    expect(last).toMatchObject({ status_code: 200, error: null });
    expect(firstAttempt).toMatchObject({ status_code: 429, response_excerpt: "slow down please" });
    expect(firstAttempt.error).toContain("429");
    expect(typeof firstAttempt.latency_ms).toBe("number");
  });

  it("treats a redirect as a failed attempt and never follows it", async () => {
    const { tenant, receiver, sink, endpoint } = await sandboxTenantWithSink(["message.queued"]);
    const elsewhere = await receiver.createSink();
    await receiver.script(sink.id, [{ status: 302, headers: { location: elsewhere.url } }]);
    await send(tenant.secret, { channel: "sms", to: TO, text: { body: "hi" } });
    const requests = await receiver.waitForRequests(sink.id, 2);
    expect(requests.map((r) => r.status)).toEqual([302, 200]);
    expect(await receiver.requests(elsewhere.id)).toEqual([]);
    const [delivery] = await waitForDeliveries(
      tenant.secret,
      endpoint.id,
      (all) => all[0]?.status === "succeeded",
    );
    expect(delivery.attempt_log[1]).toMatchObject({ status_code: 302 });
    expect(delivery.attempt_log[1].error).toMatch(/redirect/i);
  });

  it("410 disables the endpoint at once, ends its pending deliveries and records it", async () => {
    const { tenant, receiver, sink, endpoint } = await sandboxTenantWithSink(["message.queued"]);
    await receiver.script(sink.id, [], { status: 410 });
    await send(tenant.secret, { channel: "sms", to: TO, text: { body: "hi" } });
    await receiver.waitForRequests(sink.id, 1);
    const [delivery] = await waitForDeliveries(
      tenant.secret,
      endpoint.id,
      (all) => all[0]?.status === "failed",
    );
    expect(delivery.attempts).toBe(1);
    const shown = await json(
      await call("GET", `/v1/webhook-endpoints/${endpoint.id}`, { key: tenant.secret }),
    );
    expect(shown.enabled).toBe(false);
    expect(shown.disabled_reason).toMatch(/410/);
    const audit = await env.DB.prepare(
      "SELECT route FROM audit_logs WHERE tenant_id = ? AND route = 'webhook_endpoint.disabled'",
    )
      .bind(tenant.tenantId)
      .all();
    expect(audit.results).toHaveLength(1);
    // Later events are not fanned out to a disabled endpoint.
    await send(tenant.secret, { channel: "sms", to: TO, text: { body: "again" } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await receiver.requests(sink.id)).toHaveLength(1);
  });

  it("disables an endpoint whose every attempt has failed for 5 days", async () => {
    const { tenant, receiver, sink, endpoint } = await sandboxTenantWithSink(["message.queued"]);
    await env.DB.prepare("UPDATE webhook_endpoints SET failing_since = ? WHERE id = ?")
      .bind(Date.now() - 5 * 86_400_000 - 1000, endpoint.id)
      .run();
    await receiver.script(sink.id, [], { status: 500 });
    await send(tenant.secret, { channel: "sms", to: TO, text: { body: "hi" } });
    await waitForDeliveries(tenant.secret, endpoint.id, (all) => all[0]?.status === "failed");
    const shown = await json(
      await call("GET", `/v1/webhook-endpoints/${endpoint.id}`, { key: tenant.secret }),
    );
    expect(shown.enabled).toBe(false);
    expect(shown.disabled_reason).toMatch(/5 days/);
  });

  it("gives up 24 h after the first attempt, and a replay of failed deliveries sends them again", async () => {
    const { tenant, receiver, sink, endpoint } = await sandboxTenantWithSink(["message.queued"]);
    await receiver.script(sink.id, [], { status: 500 });
    await send(tenant.secret, { channel: "sms", to: TO, text: { body: "hi" } });
    await receiver.waitForRequests(sink.id, 1);
    // The attempt is recorded after the receiver answered: wait for it, or the update below finds no
    // first_attempt_at to move back (seen under load).
    await waitForDeliveries(tenant.secret, endpoint.id, (all) => all[0]?.first_attempt_at != null);
    // Pretend the first attempt was a (scaled) day ago: the next failure ends the delivery. An attempt in
    // flight writes back the first_attempt_at it read, so the move is repeated until it sticks (only rows not
    // yet moved back are touched).
    const moveBack = () =>
      env.DB.prepare(
        `UPDATE webhook_deliveries SET first_attempt_at = first_attempt_at - 900000
         WHERE endpoint_id = ? AND first_attempt_at > ?`,
      )
        .bind(endpoint.id, Date.now() - 600_000)
        .run();
    await moveBack();
    const [failed] = await waitForDeliveries(tenant.secret, endpoint.id, (all) => {
      if (all[0]?.status === "failed") return true;
      void moveBack();
      return false;
    });
    expect(failed.next_attempt_at).toBeNull();
    const eventId = failed.event_id;
    const failedAttempts = (await receiver.requests(sink.id)).length;
    expect(failedAttempts).toBe(failed.attempts);

    // The receiver is fixed; replaying the last hour's failed deliveries sends that event again.
    await receiver.script(sink.id, [], { status: 200 });
    const since = new Date(Date.now() - 3_600_000).toISOString();
    const res = await call("POST", `/v1/webhook-endpoints/${endpoint.id}/replay`, {
      key: tenant.secret,
      body: { since },
    });
    expect(res.status).toBe(202);
    const replay = await json(res);
    const requests = await receiver.waitForRequests(sink.id, failedAttempts + 1);
    expect(requests.at(-1)?.status).toBe(200);
    expect(requests.at(-1)?.headers["webhook-id"]).toBe(eventId);
    const progress = await json(
      await call("GET", `/v1/webhook-endpoints/${endpoint.id}/replays/${replay.id}`, { key: tenant.secret }),
    );
    expect(progress).toMatchObject({ status: "completed", replayed: 1 });
  });

  it("delivers events about one message in sequence order, shuffled and duplicated, without holding up others", async () => {
    const { tenant, receiver, sink } = await sandboxTenantWithSink(["*"]);
    const a = await json(await send(tenant.secret, { channel: "sms", to: TO, text: { body: "A" } }));
    // The receiver refuses message A's first event four times (retries at ~10 ms, 50 ms, 300 ms, 1.2 s):
    // A's later events must wait behind it, while message B's flow.
    await receiver.script(
      sink.id,
      Array.from({ length: 4 }, () => ({ status: 503, bodyIncludes: `"id":"${a.id}"` })),
    );
    // Once A is sent, provider receipts arrive out of order and twice; only forward moves become events.
    await waitForMessage(tenant.secret, a.id, (m) => ["sent", "delivered"].includes(m.status));
    const ctx = { env, db: createDb(env.DB), now: new Date() };
    for (const status of ["delivered", "sent", "read", "delivered", "read", "sent"] as const) {
      const row = await loadMessage(ctx.db, a.id);
      if (row) await applyReceipt({ ...ctx, now: new Date() }, row, { status, occurredAt: new Date() });
    }
    const b = await json(
      await send(tenant.secret, { channel: "sms", to: "+5511987654322", text: { body: "B" } }),
    );

    const bodies = () =>
      receiver.requests(sink.id).then((all) => all.map((r) => ({ ...r, event: bodyOf(r) })));
    const deadline = Date.now() + 15_000;
    let all = await bodies();
    while (Date.now() < deadline) {
      const aDone = all.some(
        (r) => r.event.data.id === a.id && r.event.type === "message.read" && r.status === 200,
      );
      const bDone = all.some((r) => r.event.data.id === b.id && r.event.type === "message.delivered");
      if (aDone && bDone) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
      all = await bodies();
    }
    const aRequests = all.filter((r) => r.event.data.id === a.id);
    expect(aRequests.slice(0, 5).map((r) => [r.event.type, r.status])).toEqual([
      ["message.queued", 503],
      ["message.queued", 503],
      ["message.queued", 503],
      ["message.queued", 503],
      ["message.queued", 200],
    ]);
    const aDelivered = aRequests.filter((r) => r.status === 200);
    const aSequences = aDelivered.map((r) => r.event.sequence);
    expect(aSequences).toEqual([...aSequences].sort((x, y) => x - y));
    expect(new Set(aDelivered.map((r) => r.event.type)).size).toBe(aDelivered.length); // no duplicate events
    expect(aDelivered.map((r) => r.event.type)).toContain("message.sent");
    expect(aDelivered.at(-1)?.event.type).toBe("message.read");
    // Nothing later about A went out before its first event was delivered...
    const aFirstOk = aDelivered[0]?.receivedAt ?? 0;
    expect(
      aRequests.filter((r) => r.event.type !== "message.queued").every((r) => r.receivedAt >= aFirstOk),
    ).toBe(true);
    // ...while B's first event went out in the meantime.
    const bFirst = all.find((r) => r.event.data.id === b.id);
    expect(bFirst?.status).toBe(200);
    expect(bFirst?.receivedAt ?? Number.POSITIVE_INFINITY).toBeLessThan(aFirstOk);
  });

  it("spaces deliveries out to an endpoint's rate_limit_per_second", async () => {
    const tenant = await seedTenant();
    const receiver = fakeReceiver();
    const sink = await receiver.createSink();
    const res = await call("POST", "/v1/webhook-endpoints", {
      key: tenant.secret,
      body: { url: sink.url, events: ["message.queued"], rate_limit_per_second: 2 },
    });
    expect(res.status).toBe(201);
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        send(tenant.secret, { channel: "sms", to: TO, text: { body: `r${i}` } }),
      ),
    );
    const requests = await receiver.waitForRequests(sink.id, 6);
    const times = requests.map((r) => r.receivedAt).sort((a, b) => a - b);
    // Two per one-second window: six need at least three windows (unlimited, they arrive within ~0.3 s).
    expect((times[5] ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(1_900);
    expect(requests.every((r) => r.status === 200)).toBe(true);
  });

  it("re-drives a delivery whose queue message was lost, from the minute cron alone", async () => {
    const { tenant, receiver, sink, endpoint } = await sandboxTenantWithSink(["message.queued"]);
    await send(tenant.secret, { channel: "sms", to: TO, text: { body: "hi" } });
    await receiver.waitForRequests(sink.id, 1);
    // A delivery that the queue never woke (as after a crash between commit and send).
    const [row] = (
      await env.DB.prepare("SELECT * FROM webhook_deliveries WHERE endpoint_id = ?")
        .bind(endpoint.id)
        .all<any>()
    ).results;
    const lostId = `whd_${row.id.slice(4, 14)}${"0".repeat(16)}`;
    await env.DB.prepare(
      `INSERT INTO webhook_deliveries (id, tenant_id, environment, endpoint_id, event_id, event_type, subject_id,
         sequence, ordered, status, attempts, next_attempt_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 'pending', 0, ?, ?)`,
    )
      .bind(
        lostId,
        row.tenant_id,
        row.environment,
        row.endpoint_id,
        row.event_id,
        row.event_type,
        row.subject_id,
        row.sequence,
        Date.now() - 120_000,
        Date.now() - 120_000,
      )
      .run();
    await runCron();
    const requests = await receiver.waitForRequests(sink.id, 2);
    expect(requests[1]?.headers["webhook-id"]).toBe(row.event_id);
    await waitForDeliveries(tenant.secret, endpoint.id, (all) => all.every((d) => d.status === "succeeded"));
  });

  it("chains a wake-up due later than the queue can delay, and sends nothing before it is due", async () => {
    const { tenant, receiver, sink, endpoint } = await sandboxTenantWithSink(["message.queued"]);
    await send(tenant.secret, { channel: "sms", to: TO, text: { body: "hi" } });
    await receiver.waitForRequests(sink.id, 1);
    const [row] = (
      await env.DB.prepare("SELECT * FROM webhook_deliveries WHERE endpoint_id = ?")
        .bind(endpoint.id)
        .all<any>()
    ).results;
    // A retry 20 h away (the queue delays at most 12 h): the early wake-up is put back, not attempted.
    const later = Date.now() + 20 * 3_600_000;
    await env.DB.prepare(
      "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, completed_at = NULL WHERE id = ?",
    )
      .bind(later, row.id)
      .run();
    await deliverWebhook(env, { id: row.id, at: later });
    await runCron();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await receiver.requests(sink.id)).toHaveLength(1);
    const after = await env.DB.prepare("SELECT status, next_attempt_at FROM webhook_deliveries WHERE id = ?")
      .bind(row.id)
      .first<{ status: string; next_attempt_at: number }>();
    expect(after).toEqual({ status: "pending", next_attempt_at: later });
    // A stale wake-up (for another schedule of the row) is ignored too.
    await deliverWebhook(env, { id: row.id, at: Date.now() - 1000 });
    expect(await receiver.requests(sink.id)).toHaveLength(1);
    // When it is due, the wake-up for that time delivers it.
    const due = Date.now();
    await env.DB.prepare("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?")
      .bind(due, row.id)
      .run();
    await deliverWebhook(env, { id: row.id, at: due });
    expect(await receiver.requests(sink.id)).toHaveLength(2);
  });

  it("refuses at delivery time a hostname that now resolves to a forbidden address", async () => {
    const tenant = await seedTenant();
    // Unknown to DNS at registration (let through in local development), then it points at the metadata service.
    const endpoint = await endpointFor(tenant.secret, "https://hooks.rebinding.example/in", [
      "message.queued",
    ]);
    await fakeDns().setRecords("hooks.rebinding.example", { a: ["169.254.169.254"] });
    await send(tenant.secret, { channel: "sms", to: TO, text: { body: "hi" } });
    const [delivery] = await waitForDeliveries(
      tenant.secret,
      endpoint.id,
      (all) => (all[0]?.attempts ?? 0) >= 1,
    );
    expect(delivery.attempt_log.at(-1)).toMatchObject({ status_code: null });
    expect(delivery.attempt_log.at(-1).error).toMatch(/URL guard.*169\.254\.169\.254/);
    await call("DELETE", `/v1/webhook-endpoints/${endpoint.id}`, { key: tenant.secret });
  });

  it("signs with both secrets during a rotation, and sends a webhook.test on request", async () => {
    const { tenant, receiver, sink, endpoint } = await sandboxTenantWithSink(["message.queued"]);
    const rotated = await json(
      await call("POST", `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, {
        key: tenant.secret,
        body: { overlap_seconds: 3600 },
      }),
    );
    expect(rotated.secret).not.toBe(endpoint.secret);
    const res = await call("POST", `/v1/webhook-endpoints/${endpoint.id}/test`, { key: tenant.secret });
    expect(res.status).toBe(202);
    const [request] = await receiver.waitForRequests(sink.id, 1);
    if (!request) throw new Error("no request");
    expect(bodyOf(request).type).toBe("webhook.test");
    expect(request.headers["webhook-signature"]?.split(" ")).toHaveLength(2);
    expect(request.headers["sendwire-signature"]?.match(/v1=/g)).toHaveLength(2);
    for (const secret of [endpoint.secret, rotated.secret]) {
      expect(new Webhook(secret).verify(request.body, request.headers)).toBeTruthy();
      await new Stripe("sk_test_unused").webhooks.constructEventAsync(
        request.body,
        request.headers["sendwire-signature"] ?? "",
        secret,
      );
    }
  });
});
