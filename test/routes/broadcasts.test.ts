import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, expectError, json, seedTenant } from "../helpers";
import { broadcast, createContacts, waitForBroadcast } from "./broadcast-support";

describe("broadcasts: create, run to completion, counts", () => {
  it("sends every eligible contact of a list exactly once, skipping the suppressed, landline and address-less", async () => {
    const { secret } = await seedTenant();
    const ids = await createContacts(secret, [
      { name: "Ana", phone: "+5511987651111" },
      { name: "Bruno", phone: "+5511987652222" },
      { name: null, phone: "+5511987653333" },
      { name: "Landline", phone: "+551133334444" },
      { name: "Mailonly", email: "mail@example.com" },
      { name: "Stopped", phone: "+5511987650006" },
    ]);
    await call("POST", "/v1/suppressions", {
      key: secret,
      body: { channel: "sms", address: "+5511987650006" },
    });
    const list = await json(await call("POST", "/v1/lists", { key: secret, body: { name: "All" } }));
    await call("POST", `/v1/lists/${list.id}/contacts`, { key: secret, body: { contact_ids: ids } });

    const created = await broadcast(secret, {
      name: "Hello",
      channel: "sms",
      text: { body: "Hi {{contact.name|there}}!" },
      audience: { list_id: list.id },
      rate_limit_per_minute: 60000,
    });
    expect(created.status).toBe(201);
    const bc = await json(created);
    expect(bc).toMatchObject({ object: "broadcast", status: "running", channel: "sms" });

    const done = await waitForBroadcast(secret, bc.id, (b) => b.status === "completed");
    expect(done.counts).toMatchObject({ total: 6, pending: 0, queued: 0, sent: 3, skipped: 3 });
    expect(done.skipped).toEqual({ suppressed: 1, invalid: 0, not_mobile: 1, no_address: 1 });
    // The list shows the same counts (computed for the whole page at once), and filters by status.
    const listed = await json(await call("GET", "/v1/broadcasts?status=completed", { key: secret }));
    expect(listed.data.map((b: any) => [b.id, b.counts])).toEqual([[bc.id, done.counts]]);
    const running = await json(await call("GET", "/v1/broadcasts?status=running", { key: secret }));
    expect(running.data).toEqual([]);

    const msgs = await json(
      await call("GET", `/v1/messages?broadcast_id=${bc.id}&limit=100`, { key: secret }),
    );
    expect(msgs.data).toHaveLength(3);
    const bodies = msgs.data.map((m: any) => m.content.text.body).sort();
    expect(bodies).toEqual(["Hi Ana!", "Hi Bruno!", "Hi there!"]);
    for (const m of msgs.data) {
      expect(m.broadcast_id).toBe(bc.id);
      expect(ids).toContain(m.contact_id);
    }
    const events = await env.DB.prepare(
      "SELECT type, data FROM events WHERE subject_id = ? ORDER BY sequence",
    )
      .bind(bc.id)
      .all<{ type: string; data: string }>();
    const types = events.results.map((e) => e.type);
    expect(types[0]).toBe("broadcast.started");
    expect(types.at(-1)).toBe("broadcast.completed");
  });

  it("per-recipient failures fail, retry or fall through as single sends do, and the broadcast still completes", async () => {
    const { secret } = await seedTenant();
    // Sandbox numbers: …0001 refused, …0002 undelivered after sending, …0003 flaky (retried, then sent).
    const ids = await createContacts(secret, [
      { name: "Refused", phone: "+5511987650001" },
      { name: "Undelivered", phone: "+5511987650002" },
      { name: "Flaky", phone: "+5511987650003" },
    ]);
    const before = await json(await call("GET", "/v1/balance", { key: secret }));
    const bc = await json(
      await broadcast(secret, {
        name: "Failures",
        channel: "sms",
        text: { body: "Hi {{contact.name}}" },
        audience: { contact_ids: ids },
      }),
    );
    const done = await waitForBroadcast(
      secret,
      bc.id,
      (b) => b.status === "completed" && b.counts.delivered === 1 && b.counts.failed === 2,
    );
    expect(done.counts).toMatchObject({ total: 3, sent: 1, delivered: 1, failed: 2, queued: 0, pending: 0 });
    const msgs = await json(await call("GET", `/v1/messages?broadcast_id=${bc.id}`, { key: secret }));
    const refused = msgs.data.find((m: any) => m.to === "+5511987650001");
    expect(refused.status).toBe("failed");
    expect(refused.cost).toBe("0.0000");
    const after = await json(await call("GET", "/v1/balance", { key: secret }));
    // The refused one was refunded; the undelivered and the delivered one were paid (as single sends).
    const spent = Number(before.balance) - Number(after.balance);
    const paid = msgs.data.reduce((sum: number, m: any) => sum + Number(m.cost), 0);
    expect(spent).toBeCloseTo(paid, 4);
  });

  it("dry run stores nothing and prices the audience", async () => {
    const { secret } = await seedTenant();
    const ids = await createContacts(secret, [
      { name: "Ana", phone: "+5511987650101" },
      { name: "Ben", phone: "+14155550123" },
    ]);
    const res = await broadcast(secret, {
      name: "Dry",
      channel: "sms",
      text: { body: "Hello {{contact.name}}" },
      audience: { contact_ids: ids },
      dry_run: true,
    });
    expect(res.status).toBe(200);
    const preview = await json(res);
    expect(preview).toMatchObject({ object: "broadcast_preview", recipients: 2, eligible: 2 });
    expect(preview.sample).toHaveLength(2);
    expect(preview.by_country.map((c: any) => c.country).sort()).toEqual(["BR", "US"]);
    const list = await json(await call("GET", "/v1/broadcasts", { key: secret }));
    expect(list.data).toHaveLength(0);
  });

  it("a foreign segment is a 404 and bad merge fields a 400 naming the path", async () => {
    const { secret } = await seedTenant();
    await expectError(
      await broadcast(secret, {
        name: "x",
        channel: "sms",
        text: { body: "hi" },
        audience: { segment_id: "seg_nope" },
      }),
      404,
      "resource_not_found",
    );
    const ids = await createContacts(secret, [{ name: "Ana", phone: "+5511987650201" }]);
    const error = await expectError(
      await broadcast(secret, {
        name: "x",
        channel: "sms",
        text: { body: "hi {{contact.phone}}" },
        audience: { contact_ids: ids },
      }),
      400,
      "validation_error",
    );
    expect(error.details[0].path).toBe("text.body");
  });
});

describe("broadcasts: merge fields, quiet hours, tracked links", () => {
  it("renders merge fields per contact, with defaults and missing attributes", async () => {
    const { secret } = await seedTenant();
    const ids = await createContacts(secret, [
      { name: "Ana", phone: "+5511987654101", attributes: { plan: "pro", city: "Recife" } },
      { name: null, phone: "+5511987654102" },
    ]);
    const bc = await json(
      await broadcast(secret, {
        name: "Merge",
        channel: "sms",
        text: {
          body: "Hi {{contact.name|friend}}, plan {{contact.attributes.plan|basic}}{{contact.attributes.city}}.",
        },
        audience: { contact_ids: ids },
      }),
    );
    await waitForBroadcast(secret, bc.id, (b) => b.status === "completed");
    const msgs = await json(await call("GET", `/v1/messages?broadcast_id=${bc.id}`, { key: secret }));
    const byContact = Object.fromEntries(msgs.data.map((m: any) => [m.contact_id, m.content.text.body]));
    expect(byContact[ids[0] as string]).toBe("Hi Ana, plan proRecife.");
    expect(byContact[ids[1] as string]).toBe("Hi friend, plan basic.");
  });

  it("holds a recipient inside its quiet hours until they end, and sends the one outside at once", async () => {
    const { secret } = await seedTenant();
    const now = new Date();
    const hhmm = (d: Date) =>
      `${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`;
    // The window is now ±1 h on a UTC clock: a UTC contact is inside it, one in Asia/Dhaka (UTC+6) outside.
    const start = hhmm(new Date(now.getTime() - 3_600_000));
    const end = hhmm(new Date(now.getTime() + 3_600_000));
    const ids = await createContacts(secret, [
      { name: "Inside", phone: "+5511987654201", attributes: { timezone: "UTC" } },
      { name: "Outside", phone: "+5511987654202", attributes: { timezone: "Asia/Dhaka" } },
    ]);
    const bc = await json(
      await broadcast(secret, {
        name: "Quiet",
        channel: "sms",
        text: { body: "Hi" },
        audience: { contact_ids: ids },
        quiet_hours: { start, end },
      }),
    );
    const held = await waitForBroadcast(secret, bc.id, (b) => b.counts.sent === 1 && b.counts.queued === 1);
    expect(held.status).toBe("running");
    const msgs = await json(await call("GET", `/v1/messages?broadcast_id=${bc.id}`, { key: secret }));
    const inside = msgs.data.find((m: any) => m.contact_id === ids[0]);
    expect(inside.status).toBe("scheduled");
    const release = new Date(inside.scheduled_at).getTime();
    const expected = Date.UTC(
      now.getUTCFullYear(),
      now.getUTCMonth(),
      now.getUTCDate(),
      Number(end.slice(0, 2)),
      Number(end.slice(3)),
    );
    // Today's end, or tomorrow's when the window wrapped past midnight.
    expect([expected, expected + 86_400_000]).toContain(release);
    expect(msgs.data.find((m: any) => m.contact_id === ids[1]).status).not.toBe("scheduled");
  });

  it("rewrites links per recipient; a click redirects, emits link.clicked and counts on the broadcast", async () => {
    const { secret, tenantId } = await seedTenant();
    const ids = await createContacts(secret, [
      { name: "Ana", phone: "+5511987654301" },
      { name: "Bia", phone: "+5511987654302" },
    ]);
    const bc = await json(
      await broadcast(secret, {
        name: "Links",
        channel: "sms",
        text: { body: "Deals: https://shop.example/bf?src=sms" },
        audience: { contact_ids: ids },
        link_tracking: true,
      }),
    );
    await waitForBroadcast(secret, bc.id, (b) => b.status === "completed");
    const msgs = await json(await call("GET", `/v1/messages?broadcast_id=${bc.id}`, { key: secret }));
    const codes = msgs.data.map((m: any) => {
      const match = /\/l\/([A-Za-z0-9]{12})$/.exec(m.content.text.body);
      expect(match, m.content.text.body).not.toBeNull();
      return match?.[1] as string;
    });
    expect(new Set(codes).size).toBe(2);
    const first = await call("GET", `/l/${codes[0]}`);
    expect(first.status).toBe(302);
    expect(first.headers.get("location")).toBe("https://shop.example/bf?src=sms");
    await call("GET", `/l/${codes[0]}`);
    const clicked = await waitForBroadcast(secret, bc.id, (b) => b.clicks === 2);
    expect(clicked.unique_clicks).toBe(1);
    const listed = await json(await call("GET", "/v1/broadcasts", { key: secret }));
    expect(listed.data[0]).toMatchObject({ id: bc.id, clicks: 2, unique_clicks: 1 });
    const event = await env.DB.prepare(
      "SELECT data FROM events WHERE tenant_id = ? AND type = 'link.clicked' ORDER BY id LIMIT 1",
    )
      .bind(tenantId)
      .first<{ data: string }>();
    const data = JSON.parse(event?.data ?? "{}");
    expect(data).toMatchObject({ broadcast_id: bc.id, url: "https://shop.example/bf?src=sms" });
    expect(ids).toContain(data.contact_id);
  });

  it("a single send with link_tracking gets a short link too", async () => {
    const { secret } = await seedTenant();
    const res = await call("POST", "/v1/messages", {
      key: secret,
      headers: { "idempotency-key": `lt-${Date.now()}` },
      body: {
        channel: "sms",
        to: "+5511987654401",
        link_tracking: true,
        text: { body: "Track https://shop.example/o/1." },
      },
    });
    expect(res.status).toBe(202);
    const message = await json(res);
    const code = /\/l\/([A-Za-z0-9]{12})\.$/.exec(message.content.text.body)?.[1];
    expect(code).toBeDefined();
    const redirect = await call("GET", `/l/${code}`);
    expect(redirect.headers.get("location")).toBe("https://shop.example/o/1");
  });
});
