import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { createDb } from "../db/client";
import { linkClicks, type TrackedLinkRow } from "../db/schema";
import { hasSpaceOrControl, isLinkCode } from "../domain/links";
import type { AppBindings } from "../env";
import { findTrackedLink, newLinkClickId } from "../services/links";
import { commit, emitEvent } from "../webhooks/events";
import { newRouter } from "./shared";

/**
 * Short links of tracked messages: `GET /l/{code}` redirects to the URL the message held and records the
 * click. Public (the recipient has no API key); the code's ~71 random bits are the only authority, and the
 * only place a redirect can lead is a URL stored for that code, so this can never be an open redirect.
 */

const tags = ["Links"];
const MAX_USER_AGENT_LENGTH = 512;
const CODE_EXAMPLE = "Xb3kP9qL2mZa";

const NOT_FOUND_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Link not found</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem">
<h1>Link not found</h1><p>This link does not exist or has expired.</p></body></html>
`;

/** Headers of every answer here: never cached (each visit is a click), never leaking the URL onwards. */
const COMMON_HEADERS = {
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "x-robots-tag": "noindex",
} as const;

function notFoundPage(): Response {
  return new Response(NOT_FOUND_PAGE, {
    status: 404,
    headers: {
      ...COMMON_HEADERS,
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    },
  });
}

/**
 * The stored URL as a `Location` value: as stored when it is printable ASCII (the usual case, byte for byte),
 * else its parsed, percent-encoded form. Null for anything the URL finder never yields (not an absolute
 * http(s) URL, or holding whitespace or control characters such as CR/LF): the redirect does not rely on
 * every writer of `tracked_links` having used the finder.
 */
function redirectTarget(url: string): string | null {
  if (hasSpaceOrControl(url)) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return null;
  return /^[\x21-\x7e]+$/.test(url) ? url : parsed.href;
}

const redirectRoute = createRoute({
  method: "get",
  path: "/l/{code}",
  tags,
  summary: "Follow a tracked link",
  description:
    "Where the short links of messages sent with `link_tracking: true` point (`{PUBLIC_BASE_URL}/l/{code}`). " +
    "No API key. Answers 302 to the URL the message held and records the click (time and user agent, never " +
    "the IP address), emitting `link.clicked`. `HEAD` answers the same redirect without recording a click " +
    "(link previews and prefetchers send it). An unknown code answers a 404 page, never a redirect.",
  request: {
    params: z.object({
      // No length or pattern check here: a malformed code gets the same 404 page as an unknown one.
      code: z.string().openapi({
        param: { name: "code", in: "path" },
        description: "The short link's code: 12 characters, A–Z, a–z, 0–9.",
        example: CODE_EXAMPLE,
      }),
    }),
  },
  responses: {
    302: {
      description: "Redirect to the original URL; the click is recorded.",
      headers: {
        Location: { description: "The original URL.", schema: { type: "string", format: "uri" } },
        "Cache-Control": { description: "`no-store`: every visit reaches us.", schema: { type: "string" } },
        "Referrer-Policy": { description: "`no-referrer`.", schema: { type: "string" } },
      },
    },
    404: {
      description: "No link with this code: a small HTML page, never a redirect.",
      content: {
        "text/html": {
          schema: { type: "string" },
          example: "<h1>Link not found</h1><p>This link does not exist or has expired.</p>",
        },
      },
    },
  },
});

/** The click row and its `link.clicked` event, in one batch; the deliveries are woken by commit(). */
async function recordClick(c: Context<AppBindings>, link: TrackedLinkRow, now: Date) {
  const db = createDb(c.env.DB);
  const userAgent = c.req.header("user-agent")?.slice(0, MAX_USER_AGENT_LENGTH) || null;
  await commit(c.env, db, [
    db.insert(linkClicks).values({
      id: newLinkClickId(),
      code: link.code,
      tenantId: link.tenantId,
      environment: link.environment,
      messageId: link.messageId,
      broadcastId: link.broadcastId,
      contactId: link.contactId,
      url: link.url,
      userAgent,
      clickedAt: now,
    }),
    ...emitEvent(
      db,
      {
        tenantId: link.tenantId,
        environment: link.environment,
        type: "link.clicked",
        subjectId: link.messageId,
        data: {
          message_id: link.messageId,
          broadcast_id: link.broadcastId,
          contact_id: link.contactId,
          url: link.url,
          clicked_at: now.toISOString(),
        },
      },
      now,
    ),
  ]);
}

/** Runs after the response where the platform allows it (the visitor is not kept waiting for the write). */
function inBackground(c: Context<AppBindings>, work: Promise<unknown>): Promise<unknown> | undefined {
  const logged = work.catch((error: unknown) => {
    // A lost click must not turn into a failed redirect; it is logged, without the URL or any header.
    console.error("link click not recorded", { error: error instanceof Error ? error.message : "unknown" });
  });
  try {
    c.executionCtx.waitUntil(logged);
    return undefined;
  } catch {
    return logged; // no execution context (e.g. app.request in a test): wait for it instead
  }
}

export const linksRouter = newRouter();

// Any other path under /l/ (`/l//evil.com`, `/l/a/b`, `/l/`) gets the same page as an unknown code, not the
// API's JSON 404. Middleware, so it stays out of the route list the OpenAPI document must cover.
linksRouter.use("/l/*", async (c, next) => {
  await next();
  if (c.res.status === 404 && !c.res.headers.get("content-type")?.startsWith("text/html")) {
    c.res = undefined as never; // hono: reset before replacing, so the new headers are not merged into the old
    c.res = notFoundPage();
  }
});

linksRouter.openapi(redirectRoute, async (c) => {
  const { code } = c.req.valid("param");
  if (!isLinkCode(code)) return notFoundPage() as never;
  const link = await findTrackedLink(createDb(c.env.DB), code);
  const location = link ? redirectTarget(link.url) : null;
  if (!link || !location) return notFoundPage() as never;
  // HEAD is what link unfurlers and prefetchers send: the same answer, but no click.
  if (c.req.method === "GET") {
    const pending = inBackground(c, recordClick(c, link, new Date()));
    if (pending) await pending;
  }
  return new Response(null, { status: 302, headers: { ...COMMON_HEADERS, location } }) as never;
});
