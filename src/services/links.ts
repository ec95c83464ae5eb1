import { sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { compiled } from "../db/compiled";
import { type TrackedLinkRow, trackedLinks } from "../db/schema";
import { LINK_CODE_ALPHABET, LINK_CODE_LENGTH, rewriteUrls } from "../domain/links";
import { newId } from "../ids";
import type { MessageContent } from "../providers/types";

/**
 * Link tracking: the URLs of a message's text or email body become `{PUBLIC_BASE_URL}/l/{code}` short links,
 * one per message and URL, stored in `tracked_links`; GET /l/{code} (routes/links.ts) redirects and counts.
 */

/** Whose links these are: every tracked link and click carries it, and `link.clicked` reports it. */
export interface LinkOwner {
  tenantId: string;
  environment: "live" | "test";
  messageId: string;
  broadcastId: string | null;
  contactId: string | null;
}

/** Largest multiple of 62 below 256: bytes at or above it are redrawn, so every character is equally likely. */
const UNBIASED_BYTE_LIMIT = 62 * 4;

/** A fresh code: 12 base62 characters from crypto.getRandomValues (~71 bits, not guessable or enumerable). */
export function newLinkCode(): string {
  let code = "";
  while (code.length < LINK_CODE_LENGTH) {
    for (const byte of crypto.getRandomValues(new Uint8Array(2 * LINK_CODE_LENGTH))) {
      if (byte >= UNBIASED_BYTE_LIMIT) continue;
      code += LINK_CODE_ALPHABET[byte % 62];
      if (code.length === LINK_CODE_LENGTH) break;
    }
  }
  return code;
}

/** `clk_…`, time-sortable like every other id. */
export function newLinkClickId(): string {
  return newId("linkClick");
}

/**
 * The message's content with the URLs of `text.body`, `email.text` and `email.html` replaced by short links,
 * and the links to store (with {@link insertTrackedLinks}, in the batch that stores the message). The same URL
 * anywhere in one message gets one code. Templates, media and interactive content come back unchanged: their
 * text is fixed by the template's review or carries no body to rewrite.
 */
export function trackContentLinks(
  content: MessageContent,
  owner: LinkOwner,
  baseUrl: string,
  now: Date,
): { content: MessageContent; links: TrackedLinkRow[] } {
  const codes = new Map<string, string>();
  const links: TrackedLinkRow[] = [];
  const shortLink = (url: string) => {
    let code = codes.get(url);
    if (code === undefined) {
      code = newLinkCode();
      codes.set(url, code);
      links.push({ code, ...owner, url, createdAt: now });
    }
    return `${baseUrl}/l/${code}`;
  };
  const rewrite = (text: string, html = false) =>
    rewriteUrls(text, shortLink, { html, shortLinkBase: baseUrl });

  if (content.kind === "text") {
    return { content: { ...content, text: { ...content.text, body: rewrite(content.text.body) } }, links };
  }
  if (content.kind === "email") {
    const email = { ...content.email };
    // The text part first: its URLs are written as they are visited (the HTML's may hold `&amp;`).
    if (email.text !== undefined) email.text = rewrite(email.text);
    if (email.html !== undefined) email.html = rewrite(email.html, true);
    return { content: { ...content, email }, links };
  }
  return { content, links };
}

/**
 * One INSERT … SELECT over `json_each` of one JSON parameter, whatever the number of links (1,000 in one
 * statement; D1's 100-parameter limit never comes near). A link already stored for the same message and
 * URL is kept (ON CONFLICT DO NOTHING on that index): a redelivered job re-rendering a message whose row
 * already exists then changes nothing. A colliding code still fails the batch rather than misdirect anyone.
 */
const compiledInsertLinks = compiled<{ rows: string }>((db, p) =>
  // insert().select() fills every column in table order (drizzle's rule).
  db
    .insert(trackedLinks)
    .select(sql`
      SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6,
        value ->> 7
      FROM json_each(${p("rows")}) WHERE true`)
    .onConflictDoNothing({ target: [trackedLinks.messageId, trackedLinks.url] }),
);

/** The statement storing `links` (put it in the batch that stores their message), or null for none. */
export function insertTrackedLinks(db: Db, links: TrackedLinkRow[]) {
  if (links.length === 0) return null;
  const rows = links.map((link) => [
    link.code,
    link.tenantId,
    link.environment,
    link.messageId,
    link.broadcastId,
    link.contactId,
    link.url,
    link.createdAt.getTime(),
  ]);
  return compiledInsertLinks(db, { rows: JSON.stringify(rows) });
}

/** The stored link of a code (codes are case-sensitive), or null. */
export async function findTrackedLink(db: Db, code: string): Promise<TrackedLinkRow | null> {
  const row = await db.$client
    .prepare(
      `SELECT code, tenant_id, environment, message_id, broadcast_id, contact_id, url, created_at
       FROM tracked_links WHERE code = ?`,
    )
    .bind(code)
    .first<{
      code: string;
      tenant_id: string;
      environment: "live" | "test";
      message_id: string;
      broadcast_id: string | null;
      contact_id: string | null;
      url: string;
      created_at: number;
    }>();
  if (!row) return null;
  return {
    code: row.code,
    tenantId: row.tenant_id,
    environment: row.environment,
    messageId: row.message_id,
    broadcastId: row.broadcast_id,
    contactId: row.contact_id,
    url: row.url,
    createdAt: new Date(row.created_at),
  };
}

/**
 * Clicks on a broadcast's links: every click, and the number of its messages clicked at least once. Clicks
 * on the broadcast's test sends (`test = 1`) are left out, like the rest of its counts.
 */
export async function linkClickCounts(
  db: Db,
  broadcastId: string,
): Promise<{ clicks: number; unique_clicks: number }> {
  return (await linkClickCountsOf(db, [broadcastId])).get(broadcastId) ?? { clicks: 0, unique_clicks: 0 };
}

/** The click counts of several broadcasts (a page of the list) in one query; test sends' clicks left out. */
export async function linkClickCountsOf(
  db: Db,
  broadcastIds: string[],
): Promise<Map<string, { clicks: number; unique_clicks: number }>> {
  const counts = new Map(broadcastIds.map((id) => [id, { clicks: 0, unique_clicks: 0 }]));
  if (broadcastIds.length === 0) return counts;
  const { results } = await db.$client
    .prepare(
      `SELECT broadcast_id, count(*) AS clicks, count(DISTINCT message_id) AS unique_clicks
       FROM link_clicks
       WHERE broadcast_id IN (SELECT value FROM json_each(?1))
         AND message_id NOT IN (SELECT id FROM messages WHERE broadcast_id = link_clicks.broadcast_id AND test = 1)
       GROUP BY broadcast_id`,
    )
    .bind(JSON.stringify(broadcastIds))
    .all<{ broadcast_id: string; clicks: number; unique_clicks: number }>();
  for (const row of results)
    counts.set(row.broadcast_id, { clicks: row.clicks, unique_clicks: row.unique_clicks });
  return counts;
}
