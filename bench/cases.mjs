// What `npm run bench` measures. To add a hot path, add an entry to APP_CASES (see bench/README.md).
//
// App case fields:
//   id, label            short id (used by --only) and the name printed in the table
//   method, path         the request; `auth: true` adds `Authorization: Bearer <seeded sandbox key>`
//   body                 JSON-serialisable body (sent with Content-Type: application/json)
//   setupRequest         optional (req, context) => req, run by autocannon before every request, e.g. to
//                        make an Idempotency-Key unique; used for the model baseline's requests too
//   expectStatus         the status a healthy response has (probe, cost pass)
//   check(body)          true when a probe response body looks right; a broken path fails the run
//   model                the same platform I/O as the path, as a baseline-worker sequence: primitive
//                        names from bench/baseline-worker.js PRIMITIVES, in order, `~name` = handed to
//                        waitUntil instead of awaited. The run measures it as a baseline ("primitives")
//                        and checks in the cost pass that it makes the same calls as the app path.
//   primitives           optional ids of BASELINE_CASES measured alone for this path (selected with it
//                        by --only, so `--only send-message` still prints them)
//   aims                 optional targets against the model, at every connection level: `rps` = minimum of
//                        req/s ÷ prims, `p99` = maximum of p99 ÷ prims; printed as MEETS/MISSES per level
//                        and written to the JSON report (`aims`)
//   with                 optional ids of other app cases that `--only <this id>` selects too
//   shape                optional: what must run before the response (DO calls, D1 batches, queue sends,
//                        other D1 queries at most), checked against the cost pass in the path summary
//
// Baseline case fields: id, label, method, path (on the baseline worker); `extra: true` cases only run
// with --extra.

import { createHmac } from "node:crypto";
import { INBOUND_CHANNEL } from "./lib/inbound-channel.mjs";

let created = 0;
// Idempotency keys: unique within a run (KeyGate and the D1 database are fresh every run), shared by the
// send path and its model so neither ever replays the other's; a counter is cheaper than a UUID on a
// client that shares the CPU with the server.
const RUN = Date.now().toString(36);
let sent = 0;

/**
 * Issue 13: the send path, key creation and the key list each reach at least 80 % of the req/s of their
 * own primitives done back to back (the model), with a p99 at most twice the model's, at every connection
 * level of the run.
 */
const HOT_PATH_AIMS = { rps: 0.8, p99: 2 };

export const APP_CASES = [
  {
    id: "healthz",
    label: "GET /healthz",
    method: "GET",
    path: "/healthz",
    auth: false,
    expectStatus: 200,
    check: (body) => body?.status === "ok",
    model: "d1-ping",
  },
  {
    id: "list-keys",
    label: "GET /v1/api-keys?limit=20",
    method: "GET",
    path: "/v1/api-keys?limit=20",
    auth: true,
    expectStatus: 200,
    check: (body) => body?.object === "list" && body.data?.length === 20 && body.next_cursor !== null,
    // KeyGate admit, one query (the page of keys with each key's rotated-secret expiry); audit-log insert
    // after the response. The auth key lookup is cached per isolate for up to a second
    // (src/middleware/auth.ts), so it is not per request.
    model: "keygate-admit,d1-key-page,~d1-write",
    aims: HOT_PATH_AIMS,
  },
  {
    id: "create-key",
    label: "POST /v1/api-keys",
    method: "POST",
    path: "/v1/api-keys",
    auth: true,
    body: { name: "bench", scopes: ["messages:send", "messages:read"] },
    setupRequest: (req) => {
      created += 1;
      const body = { name: `bench-${created}`, scopes: ["messages:send", "messages:read"] };
      return { ...req, body: JSON.stringify(body) };
    },
    expectStatus: 201,
    check: (body) => body?.object === "api_key" && typeof body.secret === "string",
    // KeyGate admit, one batch (key + secret); audit-log insert after the response (auth lookup: cached)
    model: "keygate-admit,d1-batch,~d1-write",
    aims: HOT_PATH_AIMS,
  },
  {
    id: "send-message",
    label: "POST /v1/messages",
    method: "POST",
    path: "/v1/messages",
    auth: true,
    // The sandbox SMS text path: no template, no customer-window or channel lookup (sw_test_ key, no `from`).
    body: { channel: "sms", to: "+5511987654321", text: { body: "bench" } },
    setupRequest: (req) => {
      sent += 1;
      return { ...req, headers: { ...req.headers, "idempotency-key": `bench-${RUN}-${sent}` } };
    },
    expectStatus: 202,
    check: (body) => body?.object === "message" && body.status === "queued",
    // KeyGate admit + idempotency claim, the accepting batch (wallet bootstrap ×2, debit update + ledger
    // insert, message, event, outbox), one queue sendBatch; after the response, KeyGate completes the claim
    // and the audit-log insert lands. The auth key lookup is cached per isolate (at most one a second).
    model: "keygate-claim,d1-batch-send,queue-send-batch,~keygate-complete,~d1-write",
    primitives: ["keygate-claim", "d1-batch-send", "queue-send-batch"],
    aims: HOT_PATH_AIMS,
    // `--only send-message` measures all three paths of the aim (one command, one run)
    with: ["create-key", "list-keys"],
    // before the response: one KeyGate call, one D1 batch, one queue send, besides the auth key lookup
    shape: { doCalls: 1, d1Batches: 1, queueCalls: 1, otherD1Queries: 1 },
  },
  {
    id: "inbound-meta",
    label: "POST /inbound/whatsapp/{channel}",
    method: "POST",
    path: `/inbound/whatsapp/${INBOUND_CHANNEL.id}`,
    auth: false,
    // Replaced per request by a fresh signed receipt (a placeholder keeps the content-type header).
    body: {},
    setupRequest: signedMetaReceipt,
    expectStatus: 200,
    check: (body) => body?.received === true && body.stored === 1,
    // channel lookup, then one batch (the receipt + its processing job in the outbox), one queue sendBatch;
    // processing happens later in the sends consumer (none in the bench: measured up to the enqueue)
    model: "d1-read,d1-batch,queue-send-batch",
    primitives: ["d1-read", "d1-batch", "queue-send-batch"],
  },
];

let receipts = 0;

/** A Meta `statuses[]` webhook for one delivered receipt, its wamid unique within the run, signed. */
function signedMetaReceipt(req) {
  receipts += 1;
  const body = JSON.stringify({
    object: "whatsapp_business_account",
    entry: [
      {
        id: "102290129340398",
        changes: [
          {
            field: "messages",
            value: {
              messaging_product: "whatsapp",
              metadata: { display_phone_number: "15550783881", phone_number_id: "106540352242922" },
              statuses: [
                {
                  id: `wamid.bench-${RUN}-${receipts}`,
                  status: "delivered",
                  timestamp: String(Math.floor(Date.now() / 1000)),
                  recipient_id: "5511987654321",
                },
              ],
            },
          },
        ],
      },
    ],
  });
  const signature = createHmac("sha256", INBOUND_CHANNEL.appSecret).update(body).digest("hex");
  return { ...req, body, headers: { ...req.headers, "x-hub-signature-256": `sha256=${signature}` } };
}

export const BASELINE_CASES = [
  { id: "bare", label: "bare Hono route", method: "GET", path: "/bare" },
  { id: "d1-read", label: "one D1 read (PK)", method: "GET", path: "/d1-read" },
  { id: "d1-write", label: "one D1 write", method: "POST", path: "/d1-write" },
  { id: "keygate", label: "one KeyGate admit (DO RPC)", method: "POST", path: "/p/keygate-admit" },
  // the send path's own primitives (default run; `--only send-message` selects them too)
  {
    id: "keygate-claim",
    label: "one KeyGate admit + claim (DO RPC)",
    method: "POST",
    path: "/p/keygate-claim",
  },
  { id: "d1-batch-send", label: "one D1 batch (send, 9 stmts)", method: "POST", path: "/p/d1-batch-send" },
  {
    id: "queue-send-batch",
    label: "one queue sendBatch (1 job)",
    method: "POST",
    path: "/p/queue-send-batch",
  },
  { id: "d1-read-2", label: "two D1 reads", method: "GET", path: "/d1-read-2", extra: true },
  { id: "d1-batch", label: "one D1 batch (2 inserts)", method: "POST", path: "/d1-batch", extra: true },
  { id: "do-rpc", label: "one DO RPC (SQLite)", method: "POST", path: "/p/do-rpc", extra: true },
  { id: "queue-send", label: "one queue send", method: "POST", path: "/p/queue-send", extra: true },
];

let webhookSent = 0;

/**
 * Webhook latency (bench/lib/webhook.mjs): not a request/response case. The same sandbox send as
 * `send-message`, by a tenant that has one webhook endpoint (the bench's receiver, subscribed to
 * `message.queued`), so every accepted message becomes a delivery; measured is the time from the event's
 * `created_at` to the receiver getting the signed POST, beside the bare queue → consumer → fetch() path.
 */
export const WEBHOOK_CASE = {
  id: "webhook",
  label: "webhook message.queued",
  baselineLabel: "queue send → consumer → fetch()",
  method: "POST",
  path: "/v1/messages",
  body: { channel: "sms", to: "+5511987654321", text: { body: "bench" } },
  setupRequest: (req) => {
    webhookSent += 1;
    return { ...req, headers: { ...req.headers, "idempotency-key": `bench-${RUN}-wh-${webhookSent}` } };
  },
  expectStatus: 202,
  // Fixed, whatever --connections says; the sends are paced at --webhook-rate over these connections (a
  // closed loop at any concurrency sends faster than Miniflare's consumer delivers, see README.md).
  connections: 8,
  // the baseline worker's routes (bench/baseline-worker.js)
  baselinePath: "/wh/send",
  baselineSentPath: "/wh/sent",
};

/** The baseline every other row is divided by. */
export const BARE_ID = "bare";

/** Model baselines derived from APP_CASES (one per distinct model + request shape). */
export function modelCases(appCases) {
  const seen = new Map();
  for (const c of appCases) {
    if (!c.model) continue;
    const id = `model:${c.method} ${c.model}`;
    if (!seen.has(id)) {
      seen.set(id, {
        id,
        // a long sequence is named after its path (the summary below the tables spells it out)
        label: c.model.length <= 48 ? `prims ${c.model}` : `prims of ${c.label}`,
        method: c.method,
        path: `/seq/${c.model}`,
        auth: c.auth,
        body: c.body,
        setupRequest: c.setupRequest,
        model: c.model,
      });
    }
    c.modelId = id;
  }
  return [...seen.values()];
}
