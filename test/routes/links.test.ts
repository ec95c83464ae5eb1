import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import type { TrackedLinkRow } from "../../src/db/schema";
import { newId } from "../../src/ids";
import type { MessageContent } from "../../src/providers/types";
import {
  insertTrackedLinks,
  type LinkOwner,
  linkClickCounts,
  newLinkCode,
  trackContentLinks,
} from "../../src/services/links";
import { fakeReceiver } from "../fakes/receiver-client";
import { call, json, seedTenant, send } from "../helpers";

const BASE = "http://localhost:8787";
const SHORT_LINK = new RegExp(`^${BASE}/l/([0-9A-Za-z]{12})$`);

function ownerOf(tenantId: string, extra: Partial<LinkOwner> = {}): LinkOwner {
  return {
    tenantId,
    environment: "test",
    messageId: newId("message"),
    broadcastId: null,
    contactId: null,
    ...extra,
  };
}

/** Stores links the way the send paths do: the one statement of insertTrackedLinks, in a batch. */
async function store(links: TrackedLinkRow[]) {
  const db = createDb(env.DB);
  const statement = insertTrackedLinks(db, links);
  if (!statement) throw new Error("no statement for a non-empty list");
  await db.batch([statement]);
}

/** A tracked link to `url`, stored; returns its code. */
async function trackedLink(owner: LinkOwner, url: string): Promise<string> {
  const { content, links } = trackContentLinks(
    { kind: "text", text: { body: `Open ${url} now` } },
    owner,
    BASE,
    new Date(),
  );
  await store(links);
  const body = content.kind === "text" ? content.text.body : "";
  const code = SHORT_LINK.exec(body.split(" ")[1] ?? "")?.[1];
  if (!code) throw new Error(`no short link in ${body}`);
  return code;
}

async function clicksOf(code: string) {
  const { results } = await env.DB.prepare("SELECT * FROM link_clicks WHERE code = ? ORDER BY clicked_at")
    .bind(code)
    .all<Record<string, unknown>>();
  return results;
}

async function eventsOf(subjectId: string) {
  const { results } = await env.DB.prepare(
    "SELECT tenant_id, environment, type, subject_id, data FROM events WHERE subject_id = ? ORDER BY sequence",
  )
    .bind(subjectId)
    .all<{ tenant_id: string; environment: string; type: string; subject_id: string; data: string }>();
  return results.map((row) => ({ ...row, data: JSON.parse(row.data) }));
}

describe("GET /l/{code}", () => {
  it("redirects 302 to the exact stored URL, records the click without IP and emits link.clicked", async () => {
    const tenant = await seedTenant();
    const receiver = fakeReceiver();
    const sink = await receiver.createSink();
    const endpoint = await call("POST", "/v1/webhook-endpoints", {
      key: tenant.secret,
      body: { url: sink.url, events: ["link.clicked"] },
    });
    expect(endpoint.status).toBe(201);
    const owner = ownerOf(tenant.tenantId, {
      broadcastId: "bc_01jdtest0000000000000000",
      contactId: newId("contact"),
    });
    const url = "https://shop.example/p/42?utm_source=sendwire&ref=a%20b#top";
    const code = await trackedLink(owner, url);

    const before = Date.now();
    const res = await call("GET", `/l/${code}`, { headers: { "user-agent": "Mozilla/5.0 (Test)" } });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(url);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(await res.text()).toBe("");

    const [click, ...more] = await clicksOf(code);
    expect(more).toEqual([]);
    expect(click).toEqual({
      id: expect.stringMatching(/^clk_[0-9a-z]{26}$/),
      code,
      tenant_id: tenant.tenantId,
      environment: "test",
      message_id: owner.messageId,
      broadcast_id: owner.broadcastId,
      contact_id: owner.contactId,
      url,
      user_agent: "Mozilla/5.0 (Test)",
      clicked_at: expect.any(Number),
    });
    expect(click?.clicked_at as number).toBeGreaterThanOrEqual(before);

    const events = await eventsOf(owner.messageId);
    expect(events).toEqual([
      {
        tenant_id: tenant.tenantId,
        environment: "test",
        type: "link.clicked",
        subject_id: owner.messageId,
        data: {
          message_id: owner.messageId,
          broadcast_id: owner.broadcastId,
          contact_id: owner.contactId,
          url,
          clicked_at: new Date(click?.clicked_at as number).toISOString(),
        },
      },
    ]);

    // And the tenant's endpoint gets it, signed like every event.
    const [delivered] = await receiver.waitForRequests(sink.id, 1);
    const payload = JSON.parse(delivered?.body ?? "{}");
    expect(payload).toMatchObject({ type: "link.clicked", environment: "test", data: events[0]?.data });
    expect(delivered?.headers["webhook-signature"]).toMatch(/^v1,/);
  });

  it("records every GET as a click; HEAD answers the same redirect without a click", async () => {
    const tenant = await seedTenant();
    const owner = ownerOf(tenant.tenantId);
    const code = await trackedLink(owner, "https://acme.example/a");

    const head = await call("HEAD", `/l/${code}`);
    expect(head.status).toBe(302);
    expect(head.headers.get("location")).toBe("https://acme.example/a");
    expect(await clicksOf(code)).toEqual([]);
    expect(await eventsOf(owner.messageId)).toEqual([]);

    for (let i = 0; i < 3; i++) expect((await call("GET", `/l/${code}`)).status).toBe(302);
    const clicks = await clicksOf(code);
    expect(clicks).toHaveLength(3);
    expect(clicks.map((c) => c.user_agent)).toEqual([null, null, null]);
    expect((await eventsOf(owner.messageId)).map((e) => e.type)).toEqual([
      "link.clicked",
      "link.clicked",
      "link.clicked",
    ]);
  });

  it("sends a URL with non-ASCII characters percent-encoded (a header cannot carry them raw)", async () => {
    const tenant = await seedTenant();
    const code = await trackedLink(ownerOf(tenant.tenantId), "https://bücher.example/straße?q=ü");
    const res = await call("GET", `/l/${code}`);
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("https://xn--bcher-kva.example/stra%C3%9Fe?q=%C3%BC");
    const [click] = await clicksOf(code);
    expect(click?.url).toBe("https://bücher.example/straße?q=ü");
  });

  it("truncates the user agent to 512 characters", async () => {
    const tenant = await seedTenant();
    const code = await trackedLink(ownerOf(tenant.tenantId), "https://acme.example/ua");
    const userAgent = `UA/${"x".repeat(2000)}`;
    expect((await call("GET", `/l/${code}`, { headers: { "user-agent": userAgent } })).status).toBe(302);
    const [click] = await clicksOf(code);
    expect(click?.user_agent).toBe(userAgent.slice(0, 512));
  });

  it("answers an unknown or malformed code with a 404 HTML page, no Location, nothing recorded", async () => {
    const before = await env.DB.prepare("SELECT count(*) AS n FROM link_clicks").first<{ n: number }>();
    for (const path of ["/l/Zz9Zz9Zz9Zz9", "/l/short", "/l/has-dash-1", "/l/", "/l/a/b", "/l/%00"]) {
      const res = await call("GET", path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get("location"), path).toBeNull();
      expect(res.headers.get("content-type"), path).toBe("text/html; charset=utf-8");
      expect(res.headers.get("cache-control"), path).toBe("no-store");
      const body = await res.text();
      expect(body, path).toContain("This link does not exist or has expired");
      expect(body, path).toMatch(/^<!doctype html>/);
    }
    const head = await call("HEAD", "/l/Zz9Zz9Zz9Zz9");
    expect(head.status).toBe(404);
    expect(head.headers.get("location")).toBeNull();
    const after = await env.DB.prepare("SELECT count(*) AS n FROM link_clicks").first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
  });

  it("is documented in the OpenAPI document without security, with 302 and 404", async () => {
    const doc = await json(await call("GET", "/openapi.json"));
    const op = doc.paths["/l/{code}"]?.get;
    expect(op).toBeDefined();
    expect(op.tags).toEqual(["Links"]);
    expect(op.security ?? []).toEqual([]);
    expect(Object.keys(op.responses).sort()).toEqual(["302", "404"]);
    expect(op.responses["302"].headers.Location).toBeDefined();
    expect(op.responses["404"].content["text/html"]).toBeDefined();
  });
});

describe("trackContentLinks", () => {
  const now = new Date("2026-03-01T12:00:00Z");

  it("rewrites the URLs of a text body, one code per distinct URL, and returns the rows to store", () => {
    const owner = ownerOf("ten_x", { broadcastId: "bc_1", contactId: "con_1" });
    const content: MessageContent = {
      kind: "text",
      text: {
        body: "Hi! Order: https://shop.example/o/1. Help: https://help.example. Again https://shop.example/o/1",
        previewUrl: true,
      },
    };
    const { content: tracked, links } = trackContentLinks(content, owner, BASE, now);
    expect(links).toHaveLength(2);
    const [order, help] = links;
    expect(order).toEqual({
      code: expect.any(String),
      ...owner,
      url: "https://shop.example/o/1",
      createdAt: now,
    });
    expect(help?.url).toBe("https://help.example");
    expect(order?.code).toMatch(/^[0-9A-Za-z]{12}$/);
    expect(order?.code).not.toBe(help?.code);
    expect(tracked).toEqual({
      kind: "text",
      text: {
        body: `Hi! Order: ${BASE}/l/${order?.code}. Help: ${BASE}/l/${help?.code}. Again ${BASE}/l/${order?.code}`,
        previewUrl: true,
      },
    });
    // The input is not modified.
    expect(content.kind === "text" && content.text.body).toContain("https://shop.example/o/1.");
  });

  it("rewrites email html and text with one code per URL across both, leaving the subject and images alone", () => {
    const owner = ownerOf("ten_x");
    const { content, links } = trackContentLinks(
      {
        kind: "email",
        email: {
          subject: "Sale at https://shop.example/sale",
          html: `<p><a href="https://shop.example/sale?a=1&amp;b=2">Sale</a><img src="https://cdn.example/x.png"></p><p>Or https://help.example</p>`,
          text: "Sale: https://shop.example/sale?a=1&b=2\nHelp: https://help.example",
        },
      },
      owner,
      BASE,
      now,
    );
    expect(links.map((l) => l.url)).toEqual(["https://shop.example/sale?a=1&b=2", "https://help.example"]);
    const [sale, help] = links.map((l) => `${BASE}/l/${l.code}`);
    expect(content).toEqual({
      kind: "email",
      email: {
        subject: "Sale at https://shop.example/sale",
        html: `<p><a href="${sale}">Sale</a><img src="https://cdn.example/x.png"></p><p>Or ${help}</p>`,
        text: `Sale: ${sale}\nHelp: ${help}`,
      },
    });
  });

  it("handles an email with only html, and leaves template, media and interactive content unchanged", () => {
    const owner = ownerOf("ten_x");
    const htmlOnly = trackContentLinks(
      { kind: "email", email: { subject: "s", html: `<a href="https://a.example/">a</a>` } },
      owner,
      BASE,
      now,
    );
    expect(htmlOnly.links).toHaveLength(1);
    expect(htmlOnly.content).toEqual({
      kind: "email",
      email: { subject: "s", html: `<a href="${BASE}/l/${htmlOnly.links[0]?.code}">a</a>` },
    });
    const untouched: MessageContent[] = [
      {
        kind: "template",
        template: {
          name: "order",
          language: "en_US",
          variables: { "1": "https://shop.example/o/1" },
          placeholderStyle: "numbered",
          renderedBody: "Your order: https://shop.example/o/1",
        },
      },
      {
        kind: "media",
        media: { type: "image", url: "https://cdn.example/i.png", caption: "https://a.example" },
      },
      {
        kind: "interactive",
        interactive: { type: "button", body: "https://a.example", buttons: [{ id: "y", title: "Yes" }] },
      },
    ];
    for (const content of untouched) {
      const result = trackContentLinks(content, owner, BASE, now);
      expect(result.content).toBe(content);
      expect(result.links).toEqual([]);
    }
  });

  it("never wraps a short link again, and leaves text without URLs as it was", () => {
    const owner = ownerOf("ten_x");
    const body = `Already tracked: ${BASE}/l/Ab3dE5gH9kLm`;
    const result = trackContentLinks({ kind: "text", text: { body } }, owner, BASE, now);
    expect(result.links).toEqual([]);
    expect(result.content).toEqual({ kind: "text", text: { body } });
  });
});

describe("newLinkCode", () => {
  it("draws 12 base62 characters, all different across many draws, using the whole alphabet", () => {
    const codes = Array.from({ length: 2000 }, () => newLinkCode());
    for (const code of codes) expect(code).toMatch(/^[0-9A-Za-z]{12}$/);
    expect(new Set(codes).size).toBe(codes.length);
    const seen = new Set(codes.join(""));
    expect(seen.size).toBe(62);
  });
});

describe("insertTrackedLinks", () => {
  it("returns null for no links", () => {
    expect(insertTrackedLinks(createDb(env.DB), [])).toBeNull();
  });

  it("stores 1,000 links with one prepared statement in one batch", async () => {
    const tenant = await seedTenant();
    const messageId = newId("message");
    const now = new Date();
    const links: TrackedLinkRow[] = Array.from({ length: 1000 }, (_, i) => ({
      code: newLinkCode(),
      tenantId: tenant.tenantId,
      environment: "test",
      messageId,
      broadcastId: i % 2 === 0 ? "bc_even" : null,
      contactId: null,
      url: `https://shop.example/p/${i}?q=${"é".repeat(i % 5)}`,
      createdAt: now,
    }));
    let prepared = 0;
    const batches: number[] = [];
    const counting = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "prepare") {
          return (query: string) => {
            prepared++;
            return target.prepare(query);
          };
        }
        if (prop === "batch") {
          return (statements: D1PreparedStatement[]) => {
            batches.push(statements.length);
            return target.batch(statements);
          };
        }
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const db = createDb(counting);
    const statement = insertTrackedLinks(db, links);
    if (!statement) throw new Error("expected a statement");
    await db.batch([statement]);
    expect(prepared).toBe(1);
    expect(batches).toEqual([1]);

    const { results } = await env.DB.prepare(
      "SELECT code, tenant_id, environment, message_id, broadcast_id, contact_id, url, created_at FROM tracked_links WHERE message_id = ? ORDER BY rowid",
    )
      .bind(messageId)
      .all();
    expect(results).toHaveLength(1000);
    expect(results).toEqual(
      links.map((l) => ({
        code: l.code,
        tenant_id: l.tenantId,
        environment: l.environment,
        message_id: l.messageId,
        broadcast_id: l.broadcastId,
        contact_id: null,
        url: l.url,
        created_at: now.getTime(),
      })),
    );
  });

  it("keeps the link already stored for a message and URL (a redelivered job changes nothing)", async () => {
    const tenant = await seedTenant();
    const owner = ownerOf(tenant.tenantId);
    const now = new Date();
    const first = { code: newLinkCode(), ...owner, url: "https://a.example/x", createdAt: now };
    await store([first]);
    await store([
      { ...first, code: newLinkCode() },
      { code: newLinkCode(), ...owner, url: "https://a.example/y", createdAt: now },
    ]);
    const { results } = await env.DB.prepare(
      "SELECT code, url FROM tracked_links WHERE message_id = ? ORDER BY url",
    )
      .bind(owner.messageId)
      .all<{ code: string; url: string }>();
    expect(results).toHaveLength(2);
    expect(results[0]).toEqual({ code: first.code, url: "https://a.example/x" });
  });

  it("fails the batch on a colliding code rather than point it at another URL", async () => {
    const tenant = await seedTenant();
    const code = newLinkCode();
    await store([{ code, ...ownerOf(tenant.tenantId), url: "https://a.example/1", createdAt: new Date() }]);
    await expect(
      store([{ code, ...ownerOf(tenant.tenantId), url: "https://evil.example/", createdAt: new Date() }]),
    ).rejects.toThrow(/UNIQUE/);
    const row = await env.DB.prepare("SELECT url FROM tracked_links WHERE code = ?").bind(code).first();
    expect(row).toEqual({ url: "https://a.example/1" });
  });
});

describe("linkClickCounts", () => {
  it("counts clicks and distinct clicked messages of a broadcast, leaving out its test sends", async () => {
    const tenant = await seedTenant();
    const broadcastId = `bc_${newId("message").slice(4)}`;
    // Real message rows, so the test-send exclusion runs against the messages table.
    const sent = [];
    for (let i = 0; i < 3; i++) {
      const res = await send(tenant.secret, {
        channel: "sms",
        to: "+5511987654321",
        text: { body: `m${i}` },
      });
      expect(res.status).toBe(202);
      sent.push((await json(res)).id as string);
    }
    const [a, b, testSend] = sent as [string, string, string];
    await env.DB.prepare("UPDATE messages SET broadcast_id = ?1 WHERE id IN (?2, ?3, ?4)")
      .bind(broadcastId, a, b, testSend)
      .run();
    await env.DB.prepare("UPDATE messages SET test = 1 WHERE id = ?").bind(testSend).run();

    expect(await linkClickCounts(createDb(env.DB), broadcastId)).toEqual({ clicks: 0, unique_clicks: 0 });

    const owner = (messageId: string) => ownerOf(tenant.tenantId, { messageId, broadcastId });
    const aFirst = await trackedLink(owner(a), "https://a.example/1");
    const aSecond = await trackedLink(owner(a), "https://a.example/2");
    const bLink = await trackedLink(owner(b), "https://a.example/1");
    const testLink = await trackedLink(owner(testSend), "https://a.example/1");
    const other = await trackedLink(
      ownerOf(tenant.tenantId, { broadcastId: "bc_other" }),
      "https://a.example/1",
    );
    for (const code of [aFirst, aFirst, aSecond, bLink, testLink, testLink, other]) {
      expect((await call("GET", `/l/${code}`)).status).toBe(302);
    }
    await call("HEAD", `/l/${bLink}`); // not a click

    expect(await linkClickCounts(createDb(env.DB), broadcastId)).toEqual({ clicks: 4, unique_clicks: 2 });
    expect(await linkClickCounts(createDb(env.DB), "bc_other")).toEqual({ clicks: 1, unique_clicks: 1 });
  });
});
