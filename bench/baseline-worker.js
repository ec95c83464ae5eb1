// Baseline worker for `npm run bench`: a bare Hono app that does nothing but the platform primitives the
// API's hot paths are built from, so each app path can be compared with "the same I/O, back to back, and
// nothing else" measured in the same run on the same runtime. It runs beside the app in one Miniflare
// instance with the same D1 database, queues and KeyGate namespace (see bench/run.mjs).
//
// Add a primitive: one entry in PRIMITIVES. It is then reachable alone and in any sequence:
//   GET|POST /p/<name>                        one primitive
//   GET|POST /seq/<a>,<b>,~<c>                a, then b, awaited in order; ~c is started last and handed to
//                                             waitUntil (not awaited: like the app's audit-log insert)
// Primitives of one request share a small per-request object (its idempotency key, the outbox id).
// The fixed routes in ALIASES are shorthands for sequences.
//
// The webhook latency case's baseline is the bare platform path a webhook takes, without the app:
//   POST /wh/send        one BENCH_WEBHOOKS.send({ id, t: Date.now() }), on a queue only this worker uses
//   GET  /wh/sent        how many sends succeeded so far (the receiver must get as many)
//   queue()              the consumer of that queue: one fetch() per message to BENCH_RECEIVER_URL, body
//                        { id, t }, as the app's consumer POSTs one signed event per delivery job

import { DurableObject } from "cloudflare:workers";
import { Hono } from "hono";

/** A SQLite-backed Durable Object with one RPC method: a transactional counter bump in its own storage. */
export class BenchGate extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS hits (k TEXT PRIMARY KEY, n INTEGER NOT NULL)");
  }

  hit(key) {
    return this.ctx.storage.sql
      .exec("INSERT INTO hits (k, n) VALUES (?, 1) ON CONFLICT (k) DO UPDATE SET n = n + 1 RETURNING n", key)
      .one().n;
  }
}

// Increasing ids with the same shape as the app's (prefix + 26 lowercase chars), so inserts append to the
// primary-key b-tree like ULIDs do. The "bench" marker keeps them apart from the app's rows.
let sequence = 0;
function nextId(prefix) {
  sequence += 1;
  return `${prefix}_bench${Date.now().toString(36).padStart(9, "0")}${sequence.toString(36).padStart(12, "0")}`;
}

// The auth middleware's lookup (src/db/api-keys.ts findKeyBySecretHash): one row by primary key, joined.
const READ_SQL =
  "SELECT k.*, s.expires_at AS secret_expires_at FROM api_key_secrets s " +
  "INNER JOIN api_keys k ON k.id = s.key_id WHERE s.secret_hash = ? LIMIT 1";

// GET /v1/api-keys?limit=20's one query (src/db/api-keys.ts listApiKeyPage) as drizzle renders it: a page
// of 21 keys of the app's tenant, each with its rotated-out secrets' latest expiry, read as objects.
const KEY_PAGE_SQL =
  'select "id", "tenant_id", "environment", "name", "scopes", "prefix", "rate_limit_per_minute", ' +
  '"rate_limit_burst", "expires_at", "revoked_at", "rotated_at", "created_by_key_id", "created_at", ' +
  '(SELECT max(s.expires_at) FROM api_key_secrets s WHERE s.key_id = "api_keys"."id" AND s.expires_at > ?) ' +
  'as "previous_secret_expires_at" from "api_keys" where ("api_keys"."tenant_id" = ? and ' +
  '"api_keys"."environment" = ? and (? IS NULL OR "api_keys"."id" < ?)) order by "api_keys"."id" desc limit ?';

// One audit-log row, the app's most frequent write (src/middleware/audit.ts).
const AUDIT_SQL =
  "INSERT INTO audit_logs (id, tenant_id, environment, key_id, key_prefix, method, route, status, " +
  "request_id, idempotency_key, ip, user_agent, latency_ms, created_at) " +
  "VALUES (?, ?, 'test', ?, ?, 'GET', '/bench', 200, ?, NULL, NULL, 'bench', 0, ?)";

// A key and its first secret, like src/db/api-keys.ts createApiKey (under the baseline tenant).
const KEY_SQL =
  "INSERT INTO api_keys (id, tenant_id, environment, name, scopes, prefix, rate_limit_per_minute, " +
  "rate_limit_burst, expires_at, revoked_at, rotated_at, created_by_key_id, created_at) " +
  "VALUES (?, ?, 'test', 'bench', ?, ?, NULL, NULL, NULL, NULL, NULL, NULL, ?)";
const SECRET_SQL =
  "INSERT INTO api_key_secrets (secret_hash, key_id, prefix, expires_at, created_at) VALUES (?, ?, ?, NULL, ?)";

// POST /v1/messages' accepting batch (src/routes/message-accept.ts), statement for statement as drizzle
// renders it: wallet bootstrap (create-if-missing + sandbox grant, both no-ops once seeded), the debit
// (guarded update + ledger insert-select), the message row, its `message.queued` event (sequence by
// subquery), its outbox job. Written under the baseline tenant, whose wallet the seed worker funded.
const WALLET_CREATE_SQL =
  'insert into "wallets" ("tenant_id", "environment", "balance_micros", "currency", "updated_at") ' +
  "values (?, ?, ?, ?, ?) on conflict do nothing";
const LEDGER_COLUMNS =
  '"id", "tenant_id", "environment", "kind", "amount_micros", "balance_after_micros", "message_id", "hop", ' +
  '"description", "created_at"';
const WALLET_GRANT_SQL =
  `insert into "ledger_entries" (${LEDGER_COLUMNS}) select ? as "id", "tenant_id", "environment", ` +
  `'grant' as "kind", ? as "amount_micros", ? as "balance_after_micros", NULL as "message_id", NULL as "hop", ` +
  `'Sandbox starting credit' as "description", ? as "created_at" from "wallets" where (("wallets"."tenant_id" = ? ` +
  `and "wallets"."environment" = ?) and ? > 0 and NOT EXISTS (SELECT 1 FROM "ledger_entries" WHERE ` +
  `"ledger_entries"."tenant_id" = ? AND "ledger_entries"."environment" = ? AND "ledger_entries"."kind" = 'grant'))`;
const NOT_YET_SQL =
  'NOT EXISTS (SELECT 1 FROM "ledger_entries" WHERE "ledger_entries"."message_id" = ? ' +
  'AND "ledger_entries"."hop" = ? AND "ledger_entries"."kind" = ?)';
const WALLET_DEBIT_SQL =
  'update "wallets" set "balance_micros" = "wallets"."balance_micros" + ?, "updated_at" = ? where ' +
  `(("wallets"."tenant_id" = ? and "wallets"."environment" = ?) and ${NOT_YET_SQL})`;
const LEDGER_DEBIT_SQL =
  `insert into "ledger_entries" (${LEDGER_COLUMNS}) select ? as "id", "tenant_id", "environment", ? as "kind", ` +
  `? as "amount_micros", "balance_micros", ? as "message_id", ? as "hop", ? as "description", ? as "created_at" ` +
  `from "wallets" where (("wallets"."tenant_id" = ? and "wallets"."environment" = ?) and ${NOT_YET_SQL})`;
const MESSAGE_SQL =
  'insert into "messages" ("id", "tenant_id", "environment", "api_key_id", "idempotency_key", "channel", "to", ' +
  '"from_channel_id", "country", "content_kind", "content", "template_id", "category", "priority", "status", ' +
  '"scheduled_at", "metadata", "cost_estimate_micros", "currency", "fallback", "hop", "hops", ' +
  '"provider_message_id", "attempts", "error_code", "error_reason", "timestamps", "created_at", "updated_at") ' +
  "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const EVENT_SQL =
  'insert into "events" ("id", "tenant_id", "environment", "type", "subject_id", "sequence", "data", ' +
  '"created_at") values (?, ?, ?, ?, ?, (SELECT coalesce(max("events"."sequence"), 0) + 1 FROM "events" ' +
  'WHERE "events"."subject_id" = ?), ?, ?)';
// The webhook fan-out the app runs right after the event (no endpoints for this tenant, so it writes nothing).
const FAN_OUT_SQL =
  "insert into \"webhook_deliveries\" select 'whd_' || ? || lower(hex(randomblob(8))), e.tenant_id, e.environment, " +
  "w.id, e.id, e.type, e.subject_id, e.sequence, 1, NULL, 'pending', 0, ?, NULL, NULL, NULL, NULL, NULL, ? " +
  "FROM events e JOIN webhook_endpoints w ON w.tenant_id = e.tenant_id AND w.environment = e.environment " +
  "AND w.enabled = 1 WHERE e.id = ? AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE json_each.value IN " +
  '(e.type, \'*\')) returning "id", "next_attempt_at"';
const OUTBOX_SQL =
  'insert into "outbox" ("id", "kind", "subject_id", "payload", "priority", "available_at", "lease_until", ' +
  '"attempts", "created_at") values (?, ?, ?, ?, ?, ?, ?, ?, ?)';
// The send path's first statement: refuses the batch when the address is suppressed (none is, here).
const SUPPRESSION_GUARD_SQL =
  "SELECT json_extract('{}', coalesce((SELECT '!suppressed' || ':' || channel FROM suppressions " +
  "WHERE tenant_id = ? AND environment = ? AND address = ? AND channel IN (SELECT value FROM json_each(?)) " +
  "LIMIT 1), '$')) AS ok";
const SEND_TO = "+5511987654321";
const SEND_COST_MICROS = 50_000;
const SANDBOX_GRANT_MICROS = 10_000_000;
const JOB_LEASE_MS = 120_000;
/** The messages rows need an api_key_id; a made-up one keeps their idempotency keys apart from the app's. */
const SEND_KEY_ID = "key_benchbaseline0000000000000000";

function sendBatch(env, r) {
  const db = env.DB;
  const tenant = env.BENCH_BASELINE_TENANT_ID;
  const now = Date.now();
  const iso = new Date(now).toISOString();
  const id = nextId("msg");
  const hop = `[{"channel":"sms","status":"queued","costMicros":${SEND_COST_MICROS},"providerMessageId":null,"errorCode":null,"errorReason":null,"startedAt":"${iso}","endedAt":null}]`;
  const event = `{"id":"${id}","status":"queued","channel":"sms","to":"${SEND_TO}","hop":0,"metadata":{}}`;
  const eventId = nextId("evt");
  r.outboxId = nextId("obx");
  return db.batch([
    db.prepare(SUPPRESSION_GUARD_SQL).bind(tenant, "test", SEND_TO, '["sms"]'),
    db.prepare(WALLET_CREATE_SQL).bind(tenant, "test", SANDBOX_GRANT_MICROS, "USD", now),
    db
      .prepare(WALLET_GRANT_SQL)
      .bind(
        nextId("led"),
        SANDBOX_GRANT_MICROS,
        SANDBOX_GRANT_MICROS,
        now,
        tenant,
        "test",
        SANDBOX_GRANT_MICROS,
        tenant,
        "test",
      ),
    db.prepare(WALLET_DEBIT_SQL).bind(-SEND_COST_MICROS, now, tenant, "test", id, 0, "debit"),
    db
      .prepare(LEDGER_DEBIT_SQL)
      .bind(
        nextId("led"),
        "debit",
        -SEND_COST_MICROS,
        id,
        0,
        "sms message",
        now,
        tenant,
        "test",
        id,
        0,
        "debit",
      ),
    db
      .prepare(MESSAGE_SQL)
      .bind(
        id,
        tenant,
        "test",
        SEND_KEY_ID,
        r.idempotencyKey(),
        "sms",
        SEND_TO,
        null,
        "BR",
        "text",
        '{"kind":"text","text":{"body":"bench"}}',
        null,
        "service",
        1,
        "queued",
        null,
        "{}",
        SEND_COST_MICROS,
        "USD",
        "[]",
        0,
        hop,
        null,
        0,
        null,
        null,
        `{"queued":"${iso}"}`,
        now,
        now,
      ),
    db.prepare(EVENT_SQL).bind(eventId, tenant, "test", "message.queued", id, id, event, now),
    db.prepare(FAN_OUT_SQL).bind(now.toString(36), now, now, eventId),
    db.prepare(OUTBOX_SQL).bind(r.outboxId, "dispatch", id, "{}", 1, now, now + JOB_LEASE_MS, 0, now),
  ]);
}

// What KeyGate stores for a finished send (the rendered message, ~0.8 KB), so `keygate-complete` writes
// about as much as the app's completion does.
const STORED_BODY = JSON.stringify({ object: "message", padding: "x".repeat(760) });
const FINGERPRINT = "0".repeat(64);
const baselineGate = (env) => env.KEY_GATE.get(env.KEY_GATE.idFromName("bench-baseline"));

/**
 * name → (env, r) => Promise. Each is one platform round trip. `r` is per request: `r.idempotencyKey()`
 * is the request's Idempotency-Key header (or a fresh UUID), shared by every primitive of one sequence.
 */
export const PRIMITIVES = {
  "d1-ping": (env) => env.DB.prepare("SELECT 1").first(),
  "d1-read": (env) => env.DB.prepare(READ_SQL).bind(env.BENCH_SECRET_HASH).first(),
  "d1-key-page": (env) =>
    env.DB.prepare(KEY_PAGE_SQL).bind(Date.now(), env.BENCH_TENANT_ID, "test", null, null, 21).all(),
  "d1-write": (env) =>
    env.DB.prepare(AUDIT_SQL)
      .bind(
        nextId("log"),
        env.BENCH_BASELINE_TENANT_ID,
        env.BENCH_KEY_ID,
        env.BENCH_KEY_PREFIX,
        nextId("req"),
        Date.now(),
      )
      .run(),
  "d1-batch": (env) => {
    const id = nextId("key");
    const now = Date.now();
    return env.DB.batch([
      env.DB.prepare(KEY_SQL).bind(id, env.BENCH_BASELINE_TENANT_ID, env.BENCH_SCOPES, "sw_test_bench", now),
      env.DB.prepare(SECRET_SQL).bind(nextId("hash").padEnd(64, "0"), id, "sw_test_bench", now),
    ]);
  },
  // The app's own KeyGate (bound from the app worker): rate-limit check for a key with the bench key's
  // limits, no idempotency key. A separate instance from the app's key, so neither sees the other's traffic.
  "keygate-admit": async (env) => {
    const gate = env.KEY_GATE.get(env.KEY_GATE.idFromName("bench-baseline"));
    const answer = await gate.admit({ limits: JSON.parse(env.BENCH_RATE_LIMIT) });
    if (answer.outcome !== "proceed") throw new Error(`KeyGate answered ${answer.outcome}`);
  },
  // The same admit as POST /v1/messages makes: rate limit + idempotency claim (an in-flight record and
  // its expiry alarm in KeyGate's SQLite). The fingerprint is a constant: hashing the body is app cost.
  "keygate-claim": async (env, r) => {
    const answer = await baselineGate(env).admit({
      limits: JSON.parse(env.BENCH_RATE_LIMIT),
      idempotency: { key: r.idempotencyKey(), fingerprint: FINGERPRINT },
    });
    if (answer.outcome !== "proceed") throw new Error(`KeyGate answered ${answer.outcome}`);
  },
  // Completing that claim with the stored response, as the app does in waitUntil after a 2xx. Alone
  // (nothing claimed) it updates no row but still costs the RPC and the alarm check.
  "keygate-complete": (env, r) =>
    baselineGate(env).complete(r.idempotencyKey(), FINGERPRINT, { status: 202, body: STORED_BODY }),
  "d1-batch-send": (env, r) => sendBatch(env, r),
  "do-rpc": (env) => env.BENCH_GATE.get(env.BENCH_GATE.idFromName("bench")).hit("bench"),
  "queue-send": (env) => env.SENDS_QUEUE.send({ id: nextId("msg"), bench: true }),
  // src/queues/jobs.ts enqueue: one sendBatch with one SendJob for the message's dispatch row.
  "queue-send-batch": (env, r) =>
    env.SENDS_QUEUE.sendBatch([
      {
        body: {
          outboxId: r.outboxId ?? nextId("obx"),
          kind: "dispatch",
          subjectId: nextId("msg"),
          payload: {},
          priority: 1,
        },
        delaySeconds: 0,
      },
    ]),
};

/** Fixed routes (brief, stable names) → sequences. */
export const ALIASES = {
  "/d1-read": "d1-read",
  "/d1-read-2": "d1-read,d1-read",
  "/d1-write": "d1-write",
  "/d1-batch": "d1-batch",
};

const parsed = new Map();

/** "a,b,~c" → [{ name: "a", deferred: false }, …]; null when a name is unknown. */
function parseSequence(spec) {
  if (parsed.has(spec)) return parsed.get(spec);
  const ops = spec.split(",").map((part) => {
    const deferred = part.startsWith("~");
    const name = deferred ? part.slice(1) : part;
    return { name, deferred };
  });
  const valid = ops.length > 0 && ops.every((op) => Object.hasOwn(PRIMITIVES, op.name));
  const result = valid ? ops : null;
  if (parsed.size < 100) parsed.set(spec, result);
  return result;
}

async function runSequence(c, spec) {
  const ops = parseSequence(spec);
  if (!ops) return c.json({ error: `unknown primitive in "${spec}"`, known: Object.keys(PRIMITIVES) }, 400);
  let key;
  const r = { idempotencyKey: () => (key ??= c.req.header("idempotency-key") || crypto.randomUUID()) };
  for (const op of ops) {
    const run = PRIMITIVES[op.name](c.env, r);
    if (op.deferred) c.executionCtx.waitUntil(run);
    else await run;
  }
  return c.json({ ok: true, ops: ops.length });
}

// Webhook baseline: ids unique per isolate (the receiver counts distinct ids), sends that succeeded.
let webhookSends = 0;
let webhookSent = 0;

const app = new Hono();

// The bare route: routing + a small JSON response, no I/O.
app.get("/bare", (c) => c.json({ status: "ok" }));
for (const [path, spec] of Object.entries(ALIASES)) {
  app.on(["GET", "POST"], path, (c) => runSequence(c, spec));
}
app.on(["GET", "POST"], "/p/:name", (c) => runSequence(c, c.req.param("name")));
app.on(["GET", "POST"], "/seq/:spec", (c) => runSequence(c, c.req.param("spec")));

app.post("/wh/send", async (c) => {
  webhookSends += 1;
  await c.env.BENCH_WEBHOOKS.send({ id: `bwh_${webhookSends}`, t: Date.now() });
  webhookSent += 1;
  return c.json({ ok: true });
});
app.get("/wh/sent", (c) => c.json({ sent: webhookSent }));

/**
 * Consumer of the baseline webhook queue: each message of the batch POSTed to the receiver at once (the
 * app's consumer also handles a batch's jobs concurrently), the answer read, the message acked; a failed
 * POST is retried by the queue like the app's.
 */
async function queue(batch, env) {
  await Promise.all(
    batch.messages.map(async (message) => {
      try {
        const res = await fetch(env.BENCH_RECEIVER_URL, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(message.body),
          redirect: "manual",
          signal: AbortSignal.timeout(15_000),
        });
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`receiver answered ${res.status}`);
        message.ack();
      } catch (error) {
        console.error("bench baseline webhook failed; retrying", String(error));
        message.retry({ delaySeconds: 5 });
      }
    }),
  );
}

export default { fetch: app.fetch, queue };
