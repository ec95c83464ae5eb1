// Baseline worker for `npm run bench`: a bare Hono app that does nothing but the platform primitives the
// API's hot paths are built from, so each app path can be compared with "the same I/O, back to back, and
// nothing else" measured in the same run on the same runtime. It runs beside the app in one Miniflare
// instance with the same D1 database, queues and KeyGate namespace (see bench/run.mjs).
//
// Add a primitive: one entry in PRIMITIVES. It is then reachable alone and in any sequence:
//   GET|POST /p/<name>                        one primitive
//   GET|POST /seq/<a>,<b>,~<c>                a, then b, awaited in order; ~c is started last and handed to
//                                             waitUntil (not awaited: like the app's audit-log insert)
// The fixed routes in ALIASES are shorthands for sequences.

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

/** name → (env) => Promise. Each is one platform round trip. */
export const PRIMITIVES = {
  "d1-ping": (env) => env.DB.prepare("SELECT 1").first(),
  "d1-read": (env) => env.DB.prepare(READ_SQL).bind(env.BENCH_SECRET_HASH).first(),
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
  "do-rpc": (env) => env.BENCH_GATE.get(env.BENCH_GATE.idFromName("bench")).hit("bench"),
  "queue-send": (env) => env.SENDS_QUEUE.send({ id: nextId("msg"), bench: true }),
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
  for (const op of ops) {
    const run = PRIMITIVES[op.name](c.env);
    if (op.deferred) c.executionCtx.waitUntil(run);
    else await run;
  }
  return c.json({ ok: true, ops: ops.length });
}

const app = new Hono();

// The bare route: routing + a small JSON response, no I/O.
app.get("/bare", (c) => c.json({ status: "ok" }));
for (const [path, spec] of Object.entries(ALIASES)) {
  app.on(["GET", "POST"], path, (c) => runSequence(c, spec));
}
app.on(["GET", "POST"], "/p/:name", (c) => runSequence(c, c.req.param("name")));
app.on(["GET", "POST"], "/seq/:spec", (c) => runSequence(c, c.req.param("spec")));

export default app;
