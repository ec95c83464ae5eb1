import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { fakeReceiver } from "../fakes/receiver-client";
import { call, expectError, json, seedKey, seedTenant, send, waitForMessage } from "../helpers";

const TO = "+5511987654321";

describe("GET /v1/events", () => {
  it("lists the environment's events newest first, filtered by type, message and time", async () => {
    const tenant = await seedTenant();
    const first = await json(await send(tenant.secret, { channel: "sms", to: TO, text: { body: "one" } }));
    const second = await json(await send(tenant.secret, { channel: "sms", to: TO, text: { body: "two" } }));
    await waitForMessage(tenant.secret, first.id, (m) => m.status !== "queued" && m.status !== "sending");

    const all = await json(await call("GET", "/v1/events?limit=100", { key: tenant.secret }));
    const ids = all.data.map((e: { id: string }) => e.id);
    expect(ids).toEqual([...ids].sort().reverse());
    expect(all.data[0]).toMatchObject({ object: "event", environment: "test", api_version: env.API_VERSION });

    const queued = await json(await call("GET", "/v1/events?type=message.queued", { key: tenant.secret }));
    expect(queued.data.map((e: { data: { id: string } }) => e.data.id).sort()).toEqual(
      [first.id, second.id].sort(),
    );
    expect(queued.data.every((e: { type: string }) => e.type === "message.queued")).toBe(true);

    const ofFirst = await json(
      await call("GET", `/v1/events?message_id=${first.id}`, { key: tenant.secret }),
    );
    expect(ofFirst.data.length).toBeGreaterThanOrEqual(2);
    expect(ofFirst.data.every((e: { data: { id: string } }) => e.data.id === first.id)).toBe(true);
    const sequences = ofFirst.data.map((e: { sequence: number }) => e.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => b - a));

    const future = new Date(Date.now() + 60_000).toISOString();
    expect(
      (await json(await call("GET", `/v1/events?since=${future}`, { key: tenant.secret }))).data,
    ).toEqual([]);

    const page1 = await json(await call("GET", "/v1/events?limit=1", { key: tenant.secret }));
    const page2 = await json(
      await call("GET", `/v1/events?limit=1&cursor=${page1.next_cursor}`, { key: tenant.secret }),
    );
    expect(page2.data[0].id < page1.data[0].id).toBe(true);

    const one = await json(await call("GET", `/v1/events/${ofFirst.data[0].id}`, { key: tenant.secret }));
    expect(one).toEqual(ofFirst.data[0]);

    for (const query of ["type=message.nope", "since=last-week", "limit=0", "cursor=garbage"]) {
      const res = await call("GET", `/v1/events?${query}`, { key: tenant.secret });
      expect(res.status).toBe(400);
    }
  });

  it("hides events past the 30-day retention, other tenants' and the other environment's", async () => {
    const tenant = await seedTenant();
    const sent = await json(await send(tenant.secret, { channel: "sms", to: TO, text: { body: "x" } }));
    const [event] = (
      await json(await call("GET", `/v1/events?message_id=${sent.id}`, { key: tenant.secret }))
    ).data;
    const stranger = await seedTenant();
    const live = await seedKey(tenant.tenantId, { environment: "live" });
    for (const key of [stranger.secret, live.secret]) {
      await expectError(await call("GET", `/v1/events/${event.id}`, { key }), 404, "resource_not_found");
      await expectError(
        await call("POST", `/v1/events/${event.id}/replay`, { key }),
        404,
        "resource_not_found",
      );
      const list = await json(await call("GET", `/v1/events?message_id=${sent.id}`, { key }));
      expect(list.data).toEqual([]);
    }
    await env.DB.prepare("UPDATE events SET created_at = ? WHERE id = ?")
      .bind(Date.now() - 31 * 86_400_000, event.id)
      .run();
    await expectError(
      await call("GET", `/v1/events/${event.id}`, { key: tenant.secret }),
      404,
      "resource_not_found",
    );
  });

  it("needs webhooks:manage", async () => {
    const tenant = await seedTenant();
    const sender = await seedKey(tenant.tenantId, { scopes: ["messages:send"] });
    await expectError(await call("GET", "/v1/events", { key: sender.secret }), 403, "insufficient_scope");
  });
});

describe("POST /v1/events/{id}/replay", () => {
  it("delivers the event again, with the same id, to one endpoint or to every subscribed one", async () => {
    const tenant = await seedTenant();
    const receiver = fakeReceiver();
    const [sinkA, sinkB, sinkC] = [
      await receiver.createSink(),
      await receiver.createSink(),
      await receiver.createSink(),
    ];
    const endpoint = async (url: string, events: string[]) =>
      json(await call("POST", "/v1/webhook-endpoints", { key: tenant.secret, body: { url, events } }));
    const a = await endpoint(sinkA.url, ["message.queued"]);
    await endpoint(sinkB.url, ["*"]);
    await endpoint(sinkC.url, ["template.approved"]);
    const sent = await json(await send(tenant.secret, { channel: "sms", to: TO, text: { body: "x" } }));
    const [queued] = (
      await json(
        await call("GET", `/v1/events?message_id=${sent.id}&type=message.queued`, { key: tenant.secret }),
      )
    ).data;
    await receiver.waitForRequests(sinkA.id, 1);

    const toOne = await call("POST", `/v1/events/${queued.id}/replay`, {
      key: tenant.secret,
      body: { endpoint_id: a.id },
    });
    expect(toOne.status).toBe(202);
    expect((await json(toOne)).deliveries).toEqual([
      { id: expect.stringMatching(/^whd_/), endpoint_id: a.id },
    ]);
    const again = await receiver.waitForRequests(sinkA.id, 2);
    expect(again.map((r) => r.headers["webhook-id"])).toEqual([queued.id, queued.id]);
    expect(again[1]?.body).toBe(again[0]?.body);

    const toAll = await json(await call("POST", `/v1/events/${queued.id}/replay`, { key: tenant.secret }));
    expect(toAll.deliveries).toHaveLength(2); // A and B subscribe; C does not
    await receiver.waitForRequests(sinkA.id, 3);
    const bRequests = await receiver.waitForRequests(sinkB.id, 1);
    expect(bRequests.some((r) => r.headers["webhook-id"] === queued.id)).toBe(true);
    expect(await receiver.requests(sinkC.id)).toEqual([]);

    await call("PATCH", `/v1/webhook-endpoints/${a.id}`, { key: tenant.secret, body: { enabled: false } });
    await expectError(
      await call("POST", `/v1/events/${queued.id}/replay`, {
        key: tenant.secret,
        body: { endpoint_id: a.id },
      }),
      409,
      "webhook_endpoint_disabled",
    );
    await expectError(
      await call("POST", `/v1/events/${queued.id}/replay`, {
        key: tenant.secret,
        body: { endpoint_id: "whe_01jd3x6n2m8q4v7w9y0z1a2b3c" },
      }),
      404,
      "resource_not_found",
    );
  });
});
