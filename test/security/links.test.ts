/**
 * Attacks on the public short-link redirect: open redirects through crafted codes, header injection through
 * stored URLs, IP addresses leaking into click rows, and clicks crossing tenants.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { findUrls } from "../../src/domain/links";
import { newId } from "../../src/ids";
import { insertTrackedLinks, type LinkOwner, newLinkCode, trackContentLinks } from "../../src/services/links";
import { fakeReceiver } from "../fakes/receiver-client";
import { call, seedTenant } from "../helpers";

const BASE = "http://localhost:8787";

function ownerOf(tenantId: string): LinkOwner {
  return { tenantId, environment: "test", messageId: newId("message"), broadcastId: null, contactId: null };
}

/** Stores one link with a chosen code and URL, bypassing the finder (as a buggy caller could). */
async function storeRaw(owner: LinkOwner, code: string, url: string) {
  const db = createDb(env.DB);
  const statement = insertTrackedLinks(db, [{ code, ...owner, url, createdAt: new Date() }]);
  if (!statement) throw new Error("expected a statement");
  await db.batch([statement]);
}

/** Control characters and whitespace in `text`, found here without src/ code. */
function controlOrSpaceOf(text: string): string[] {
  return [...text].filter((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f || c.trim() === "");
}

async function expectNotFoundPage(res: Response, label: string) {
  expect(res.status, label).toBe(404);
  expect(res.headers.get("location"), label).toBeNull();
  expect(res.headers.get("content-type"), label).toBe("text/html; charset=utf-8");
  expect(await res.text(), label).toContain("This link does not exist or has expired");
}

describe("links: open redirect", () => {
  it("redirects only to stored URLs: crafted codes answer the 404 page", async () => {
    const tenant = await seedTenant();
    const code = newLinkCode();
    await storeRaw(ownerOf(tenant.tenantId), code, "https://shop.example/ok");
    const crafted = [
      "//evil.com",
      "/%2F%2Fevil.com",
      "%2F%2Fevil.com",
      "%2Fevil.com",
      `${code}%2F..%2F..%2Fevil.com`,
      `${code}/evil.com`,
      `${code}%2F`,
      "https:%2F%2Fevil.com",
      "https://evil.com",
      "evil.com",
      `${code}%0d%0aLocation:%20https://evil.com`,
      `${code.slice(0, 11)}%00`,
      "x".repeat(10 * 1024),
      code.repeat(800),
      code.toUpperCase() === code ? code.toLowerCase() : code.toUpperCase(), // codes are case-sensitive
      `${code}%20`,
      `${code}%09`,
      `%20${code}`,
      "..%2F..%2Fv1%2Fmessages",
    ];
    for (const suffix of crafted) {
      const res = await call("GET", `/l/${suffix}`);
      await expectNotFoundPage(res, suffix.slice(0, 60));
    }
    // The real code still works, and only to its own URL.
    const ok = await call("GET", `/l/${code}`);
    expect(ok.status).toBe(302);
    expect(ok.headers.get("location")).toBe("https://shop.example/ok");
  });

  it("a stored URL that is not http(s) is never a redirect", async () => {
    const tenant = await seedTenant();
    for (const url of [
      "javascript:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "//evil.com",
      "not a url",
    ]) {
      const code = newLinkCode();
      await storeRaw(ownerOf(tenant.tenantId), code, url);
      await expectNotFoundPage(await call("GET", `/l/${code}`), url);
    }
  });
});

describe("links: header injection", () => {
  it("findUrls never yields CR, LF, other control characters or whitespace, whatever the input", () => {
    const pieces = fc.constantFrom(
      "https://a.example/",
      "http://b.example/x?y=1",
      "\r\n",
      "\r",
      "\n",
      "\t",
      "\u0000",
      "\u2028",
      " ",
      "Set-Cookie: a=b",
      "Location: https://evil.example",
      "%0d%0a",
      "(",
      ")",
      "&amp;",
      '"',
      "<a href=",
      ">",
    );
    fc.assert(
      fc.property(
        fc.array(fc.oneof(pieces, fc.string({ maxLength: 8 })), { maxLength: 30 }),
        fc.boolean(),
        (parts, html) => {
          for (const found of findUrls(parts.join(""), { html })) {
            expect(controlOrSpaceOf(found.url)).toEqual([]);
            expect(found.url).toMatch(/^https?:\/\//i);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("a body built to inject headers stores only the URL before the line break", async () => {
    const tenant = await seedTenant();
    const { links } = trackContentLinks(
      {
        kind: "text",
        text: { body: "https://a.example/x\r\nSet-Cookie: session=stolen\r\nLocation: https://evil.example" },
      },
      ownerOf(tenant.tenantId),
      BASE,
      new Date(),
    );
    expect(links.map((l) => l.url)).toEqual(["https://a.example/x", "https://evil.example"]);
    for (const link of links) expect(link.url).not.toMatch(/[\r\n]/);
    const db = createDb(env.DB);
    const statement = insertTrackedLinks(db, links);
    if (statement) await db.batch([statement]);
    const res = await call("GET", `/l/${links[0]?.code}`);
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("https://a.example/x");
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  it("a URL stored with CR/LF or other control characters by some other path is refused, never a header", async () => {
    const tenant = await seedTenant();
    for (const url of [
      "https://a.example/x\r\nSet-Cookie: session=stolen",
      "https://a.example/x\nLocation: https://evil.example",
      "https://a.example/\u0000x",
      "https://a.example/ x",
    ]) {
      const code = newLinkCode();
      await storeRaw(ownerOf(tenant.tenantId), code, url);
      const res = await call("GET", `/l/${code}`);
      expect(res.headers.get("set-cookie")).toBeNull();
      await expectNotFoundPage(res, JSON.stringify(url));
    }
  });
});

describe("links: no IP address stored", () => {
  it("keeps no IP anywhere in the click row or event, whatever proxy headers say", async () => {
    const tenant = await seedTenant();
    const owner = ownerOf(tenant.tenantId);
    const code = newLinkCode();
    await storeRaw(owner, code, "https://a.example/ip");
    const res = await call("GET", `/l/${code}`, {
      headers: {
        "cf-connecting-ip": "203.0.113.77",
        "cf-connecting-ipv6": "2001:db8::77",
        "x-forwarded-for": "198.51.100.23, 10.0.0.1",
        "x-real-ip": "192.0.2.44",
        "true-client-ip": "192.0.2.45",
        "user-agent": "Bot/1.0",
      },
    });
    expect(res.status).toBe(302);
    const columns = await env.DB.prepare("SELECT name FROM pragma_table_info('link_clicks')").all<{
      name: string;
    }>();
    expect(columns.results.map((c) => c.name).filter((name) => /ip|addr|forward/i.test(name))).toEqual([]);
    const row = await env.DB.prepare("SELECT * FROM link_clicks WHERE code = ?").bind(code).first();
    expect(row).not.toBeNull();
    const event = await env.DB.prepare("SELECT data FROM events WHERE subject_id = ?")
      .bind(owner.messageId)
      .first<{ data: string }>();
    expect(event).not.toBeNull();
    const stored = JSON.stringify(row) + (event?.data ?? "");
    for (const ip of [
      "203.0.113.77",
      "2001:db8::77",
      "198.51.100.23",
      "10.0.0.1",
      "192.0.2.44",
      "192.0.2.45",
    ]) {
      expect(stored).not.toContain(ip);
    }
    expect(row?.user_agent).toBe("Bot/1.0");
  });
});

describe("links: tenant isolation", () => {
  it("a click on tenant A's link emits its event in tenant A only, and no webhook of tenant B fires", async () => {
    const a = await seedTenant();
    const b = await seedTenant();
    // Both tenants subscribe to every event, so a leak would show up as a delivery to B.
    const receiver = fakeReceiver();
    const sinks = [await receiver.createSink(), await receiver.createSink()] as const;
    for (const [tenant, sink] of [
      [a, sinks[0]],
      [b, sinks[1]],
    ] as const) {
      const res = await call("POST", "/v1/webhook-endpoints", {
        key: tenant.secret,
        body: { url: sink.url, events: ["*"] },
      });
      expect(res.status).toBe(201);
    }
    const owner = ownerOf(a.tenantId);
    const code = newLinkCode();
    await storeRaw(owner, code, "https://a.example/isolated");
    expect((await call("GET", `/l/${code}`)).status).toBe(302);

    const events = await env.DB.prepare(
      "SELECT tenant_id, environment FROM events WHERE type = 'link.clicked' AND tenant_id IN (?, ?)",
    )
      .bind(a.tenantId, b.tenantId)
      .all<{ tenant_id: string; environment: string }>();
    expect(events.results).toEqual([{ tenant_id: a.tenantId, environment: "test" }]);
    const deliveries = await env.DB.prepare(
      "SELECT tenant_id, count(*) AS n FROM webhook_deliveries WHERE event_type = 'link.clicked' AND tenant_id IN (?, ?) GROUP BY tenant_id",
    )
      .bind(a.tenantId, b.tenantId)
      .all<{ tenant_id: string; n: number }>();
    expect(deliveries.results).toEqual([{ tenant_id: a.tenantId, n: 1 }]);
    const clicks = await env.DB.prepare("SELECT tenant_id FROM link_clicks WHERE code = ?").bind(code).all();
    expect(clicks.results).toEqual([{ tenant_id: a.tenantId }]);
    const [delivered] = await receiver.waitForRequests(sinks[0].id, 1);
    expect(JSON.parse(delivered?.body ?? "{}")).toMatchObject({ type: "link.clicked" });
    expect(await receiver.requests(sinks[1].id)).toEqual([]);
  });

  it("B's API never lists A's link.clicked event", async () => {
    const a = await seedTenant();
    const b = await seedTenant();
    const owner = ownerOf(a.tenantId);
    const code = newLinkCode();
    await storeRaw(owner, code, "https://a.example/list");
    expect((await call("GET", `/l/${code}`)).status).toBe(302);
    const listedForA = await (
      await call("GET", "/v1/events?type=link.clicked", { key: a.secret })
    ).json<any>();
    expect(listedForA.data.map((e: any) => e.data.message_id)).toEqual([owner.messageId]);
    const listedForB = await (
      await call("GET", "/v1/events?type=link.clicked", { key: b.secret })
    ).json<any>();
    expect(listedForB.data).toEqual([]);
  });
});
