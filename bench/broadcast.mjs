// `npm run bench -- --only broadcast` (or `node bench/broadcast.mjs`): one broadcast to a list of 100,000
// contacts (imported first through POST /v1/contact-imports, the audiences path) at rate_limit_per_minute
// 60,000 on the sandbox SMS channel (test key), end to end on the app as `wrangler deploy` bundles it: the
// snapshot job, the BroadcastRunner Durable Object pacing on its alarm, the fan-out jobs on the sends queue
// (consumed by the app, wrangler.toml settings), sandbox receipts. One Miniflare instance, D1/R2/DOs local.
//
// Prints the achieved send rate (counts.sent + counts.failed, polled every second) per 10 s window and over
// sliding 60 s windows against the requested rate, the time from the create call to the last message sent,
// D1 statements, rows written, queue messages and DO calls per recipient (during the broadcast only), and
// workerd's resident memory before and during it; then one MEETS/MISSES line per aim.
//
//   options: --recipients N (default 100000)  --rate N (per minute, default 60000)  --max-minutes M (how
//            long to wait for the broadcast to complete, default 10)  --keep (keep the scratch directories)
//            --extra-sql "CREATE INDEX …" (run on the bench's D1 after the migrations, e.g. to try an index
//            before writing its migration; repeatable; the report names it)
import "../scripts/lib/keep-idle-connections.mjs";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { copyFile, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Log, LogLevel, Miniflare } from "miniflare";
import { unstable_getDurableObjectClassNameToUseSQLiteMap, unstable_readConfig } from "wrangler";
import WebSocket from "ws";
import { bundleWorker, stopBundlers } from "./lib/bundle.mjs";

// keep-idle-connections (imported first): Miniflare's queue broker reports each consumed batch over a pooled
// connection to Miniflare's loopback http.Server; a fan-out job or a snapshot job can outlast Node's 5 s idle
// timeout, after which the local queue would never deliver again (see bench/README.md, "Contact import").

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BENCH = join(ROOT, "bench");
const WRANGLER_CLI = join(ROOT, "node_modules", "wrangler", "wrangler-dist", "cli.js");
const SECRETS_KEY = Buffer.from("bench-only-throwaway-key-32bytes").toString("base64");
const SENDS_QUEUE = "sendwire-sends";
/** The aims of issue 15. */
const AIM_RATE_DEVIATION = 0.02;
const AIM_STATEMENTS_PER_RECIPIENT = 2;
const AIM_RSS_GROWTH_MB = 100;
/** Window lengths (seconds) of the rate report; the first 10 s window is the warm-up and not judged. */
const SHORT_WINDOW_S = 10;
const LONG_WINDOW_S = 60;
/** The sandbox's starting credit (src/db/wallet.ts SANDBOX_STARTING_CREDIT_MICROS) and the most one top-up adds. */
const STARTING_CREDIT_MICROS = 10_000_000;
const TOP_UP_AMOUNT = "10000.00";
const MICROS = 1_000_000;
/** The dry run and the create both price the whole audience in D1: bounded, but not by the 30 s of a poll. */
const PLAN_TIMEOUT_S = 120;

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => !["--only", "broadcast", "--only=broadcast"].includes(a)),
  options: {
    recipients: { type: "string", default: "100000" },
    rate: { type: "string", default: "60000" },
    "max-minutes": { type: "string", default: "10" },
    keep: { type: "boolean", default: false },
    "extra-sql": { type: "string", multiple: true, default: [] },
  },
  strict: false,
});
const recipientsWanted = Number(args.recipients);
const ratePerMinute = Number(args.rate);
const maxMinutes = Number(args["max-minutes"]);
if (!(Number.isInteger(recipientsWanted) && recipientsWanted >= 1 && recipientsWanted <= 1_000_000)) {
  fail("--recipients must be an integer in [1, 1000000]");
}
if (!(Number.isInteger(ratePerMinute) && ratePerMinute >= 1 && ratePerMinute <= 60_000)) {
  fail("--rate must be an integer in [1, 60000] (the API's bounds for rate_limit_per_minute)");
}
if (!(maxMinutes > 0 && maxMinutes <= 60)) fail("--max-minutes must be in (0, 60]");

const t0 = performance.now();
const log = (m) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${m}`);

function fail(message) {
  console.error(`bench broadcast: ${message}`);
  process.exit(1);
}

/**
 * A CSV of `n` contacts with valid, unique Brazilian mobile numbers (+55 11 9…). Every number ends in 5, so
 * none hits the sandbox's magic endings 0001–0004 (invalid, undelivered, flaky, opted out): every recipient
 * is sent once, on the straight path. Every other contact has no name, so half the messages use the merge
 * field's default.
 */
export function generateContactsCsv(n) {
  const lines = ["phone,name,external_id,city"];
  const cities = ["São Paulo", "Recife", "Rio de Janeiro", "Curitiba"];
  for (let i = 0; i < n; i++) {
    const phone = `+55119${20_000_000 + i * 10 + 5}`;
    lines.push(`${phone},${i % 2 === 0 ? `Person ${i}` : ""},bc-${i},${cities[i % 4]}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Resident memory (VmRSS, kB) of every workerd process started by this one. */
function workerdRssKb() {
  let total = 0;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      if (!/^Name:\s+workerd/m.test(status)) continue;
      if (Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) !== process.pid) continue;
      total += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    } catch {
      // the process ended while we looked
    }
  }
  return total;
}

/**
 * The V8 heap of the app's isolate (the worker, its queue consumer and the BroadcastRunner run in it), read
 * through workerd's inspector with Runtime.getHeapUsage: unlike workerd's RSS, it leaves out the local D1
 * database that runs in the same process, so an audience held in memory would show here.
 */
async function heapReader(inspectorUrl, workerName) {
  const ws = new WebSocket(`${inspectorUrl.replace(/\/$/, "")}/core:user:${workerName}`, {
    perMessageDeflate: false,
  });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  ws.on("error", () => {});
  let nextId = 0;
  const pending = new Map();
  ws.on("message", (data) => {
    const message = JSON.parse(data.toString());
    pending.get(message.id)?.(message.result ?? null);
    pending.delete(message.id);
  });
  return {
    /** Bytes used on the isolate's heap, or null when the inspector did not answer within 5 s. */
    used: () =>
      new Promise((resolve) => {
        if (ws.readyState !== WebSocket.OPEN) return resolve(null);
        const id = ++nextId;
        const timer = setTimeout(() => {
          pending.delete(id);
          resolve(null);
        }, 5_000);
        pending.set(id, (result) => {
          clearTimeout(timer);
          resolve(result?.usedSize ?? null);
        });
        ws.send(JSON.stringify({ id, method: "Runtime.getHeapUsage" }));
      }),
    close: () => ws.close(),
  };
}

/** Bytes of the local D1 database files (SQLite + WAL): what the broadcast wrote shows up in workerd's RSS. */
function d1Bytes(stateDir) {
  const dir = join(stateDir, "d1", "miniflare-D1DatabaseObject");
  let total = 0;
  try {
    for (const file of readdirSync(dir)) {
      if (!file.startsWith("metadata")) total += statSync(join(dir, file)).size;
    }
  } catch {
    // not created yet
  }
  return total;
}

async function applyMigrations(db) {
  const dir = join(ROOT, "migrations");
  for (const file of (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort()) {
    const sql = await readFile(join(dir, file), "utf8");
    const statements = sql
      .split("--> statement-breakpoint")
      .map((s) => s.trim())
      .filter(Boolean);
    await db.batch(statements.map((s) => db.prepare(s)));
  }
}

/**
 * The app's entry as the bench runs it. Requests and queue batches go through bench/counting.js, except
 * the bench's own progress polls (header `x-bench-observer`), which reach the app unwrapped so the observer's
 * cost is not booked to the broadcast. The BroadcastRunner Durable Object is the app's class with counting
 * bindings (its D1 statements and queue sends happen in alarms, outside any request counting.js sees) and a
 * count of its alarms; every message the sends queue hands the consumer is counted by job kind.
 * `GET /__bench/harness` answers these counters and `POST /__bench/harness-reset` zeroes them.
 */
const HARNESS_ENTRY = (appModule) => `
import worker, { BroadcastRunner as AppBroadcastRunner } from ${JSON.stringify(appModule)};
import { withCounting } from "./bench-counting.js";
export * from ${JSON.stringify(appModule)};

const INNER = Symbol("inner statement");
let runner;
let consumed;
function reset() {
  // releases: [epoch ms, recipients] per sendBatch of fan-out jobs (a few hundred entries per 100,000).
  runner = { alarms: 0, d1Statements: 0, d1Batches: 0, d1RowsWritten: 0, d1StatementsWithMeta: 0, queueCalls: 0, queueMessages: 0, releases: [], ticks: [] };
  consumed = { batches: 0, messages: 0, byKind: {}, busyMs: 0 };
}
reset();

function meta(result) {
  if (!result || typeof result.meta !== "object" || result.meta === null) return;
  runner.d1StatementsWithMeta += 1;
  runner.d1RowsWritten += Number(result.meta.rows_written ?? 0);
}
function statement(inner) {
  const one = (method) => async (...a) => {
    const result = await inner[method](...a);
    runner.d1Statements += 1;
    if (method === "run" || method === "all") meta(result);
    return result;
  };
  return {
    [INNER]: inner,
    bind: (...params) => statement(inner.bind(...params)),
    first: one("first"),
    all: one("all"),
    run: one("run"),
    raw: one("raw"),
  };
}
function bound(target, overrides) {
  return new Proxy(target, {
    get(t, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop];
      const value = Reflect.get(t, prop);
      return typeof value === "function" ? value.bind(t) : value;
    },
  });
}
function runnerEnv(env) {
  const out = {};
  for (const [name, value] of Object.entries(env)) {
    if (typeof value?.prepare === "function" && typeof value?.batch === "function") {
      out[name] = bound(value, {
        prepare: (sql) => statement(value.prepare(sql)),
        batch: async (statements) => {
          const results = await value.batch(statements.map((s) => s[INNER] ?? s));
          runner.d1Batches += 1;
          runner.d1Statements += statements.length;
          for (const r of results ?? []) meta(r);
          return results;
        },
        exec: async (sql) => {
          const result = await value.exec(sql);
          runner.d1Statements += Number(result?.count ?? 1);
          return result;
        },
      });
    } else if (typeof value?.send === "function" && typeof value?.sendBatch === "function") {
      out[name] = bound(value, {
        send: async (...a) => {
          const r = await value.send(...a);
          runner.queueCalls += 1;
          runner.queueMessages += 1;
          return r;
        },
        sendBatch: async (messages, ...rest) => {
          const r = await value.sendBatch(messages, ...rest);
          runner.queueCalls += 1;
          runner.queueMessages += [...messages].length;
          let recipients = 0;
          for (const m of messages) {
            const p = m.body?.kind === "broadcast_batch" ? m.body.payload : null;
            if (p) recipients += Number(p.to) - Number(p.from);
          }
          if (recipients > 0) runner.releases.push([Date.now(), recipients]);
          return r;
        },
      });
    } else out[name] = value;
  }
  return out;
}

export class BroadcastRunner extends AppBroadcastRunner {
  constructor(ctx, env) {
    super(ctx, runnerEnv(env));
  }
  // Each alarm: when it ran against when the previous one asked for it, and the bucket it found (read from
  // the runner's own storage, so what a late alarm lost to the bucket's cap can be computed outside).
  async alarm(...a) {
    runner.alarms += 1;
    const began = Date.now();
    const before = await this.ctx.storage.get("state");
    try {
      return await super.alarm(...a);
    } finally {
      const next = await this.ctx.storage.getAlarm();
      if (before && runner.ticks.length < 20000) {
        runner.ticks.push({
          began,
          ended: Date.now(),
          next,
          tokens: before.bucket?.tokens,
          at: before.bucket?.at,
          perMinute: before.allocation?.perMinute,
          allocatedAt: before.allocation?.at,
        });
      }
    }
  }
}

const counted = withCounting(worker);
export default {
  async fetch(request, env, ctx) {
    const { pathname } = new URL(request.url);
    if (pathname === "/__bench/harness") return Response.json({ runner, consumed });
    if (pathname === "/__bench/harness-reset") {
      reset();
      return Response.json({ ok: true });
    }
    if (request.headers.has("x-bench-observer")) return worker.fetch(request, env, ctx);
    return counted.fetch(request, env, ctx);
  },
  async queue(batch, env, ctx) {
    consumed.batches += 1;
    for (const message of batch.messages) {
      consumed.messages += 1;
      const kind = batch.queue + ":" + (message.body?.kind ?? "?");
      consumed.byKind[kind] = (consumed.byKind[kind] ?? 0) + 1;
    }
    const began = Date.now();
    try {
      return await counted.queue(batch, env, ctx);
    } finally {
      consumed.busyMs += Date.now() - began;
    }
  },
};
`;

/** One API call; a reused keep-alive socket may be closed by workerd while a job holds the isolate (5 tries). */
async function api(
  origin,
  secret,
  method,
  path,
  { body, headers = {}, observer = false, timeoutS = 30 } = {},
) {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(`${origin}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${secret}`,
          ...(typeof body === "string" ? {} : { "content-type": "application/json" }),
          ...(observer ? { "x-bench-observer": "1" } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutS * 1000),
      });
      const text = await res.text();
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        json = { raw: text.slice(0, 500) };
      }
      return { status: res.status, json };
    } catch (error) {
      // Only reads are retried: a write may have been applied before the socket dropped.
      if (method !== "GET" || attempt >= 5) {
        throw new Error(
          `${method} ${path} (try ${attempt}, ${timeoutS} s timeout): ${error?.message ?? error}`,
          {
            cause: error,
          },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

function expectStatus(what, res, status) {
  if (res.status !== status) {
    throw new Error(
      `${what} answered ${res.status}, expected ${status}: ${JSON.stringify(res.json).slice(0, 800)}`,
    );
  }
  return res.json;
}

const amountMicros = (amount) => Math.round(Number(amount) * MICROS);
const money = (micros) => (micros / MICROS).toFixed(2);

/**
 * The cumulative series `points` ([{t: seconds, n}], t ascending, n non-decreasing) at time `t`, linear
 * between points: a poll sees the count somewhere inside its round trip, so nothing finer is known.
 */
function at(points, t) {
  if (t <= points[0].t) return points[0].n;
  for (let i = 1; i < points.length; i++) {
    const b = points[i];
    if (t <= b.t) {
      const a = points[i - 1];
      return a.n + ((b.n - a.n) * (t - a.t)) / (b.t - a.t || 1);
    }
  }
  return points.at(-1).n;
}

/**
 * Rates per window of a cumulative series: `start` = when sending began, `end` = when the last message
 * went out. Fixed 10 s windows from `start` (the first is warm-up; a last partial one is shown, not judged)
 * and sliding 60 s windows, 1 s apart, from the end of the warm-up to `end`.
 */
function windowRates(points, start, end, requested) {
  const rate = (from, to) => ((at(points, to) - at(points, from)) / (to - from)) * 60;
  const deviation = (r) => (r - requested) / requested;
  const short = [];
  for (let k = 0; start + k * SHORT_WINDOW_S < end; k++) {
    const from = start + k * SHORT_WINDOW_S;
    const to = Math.min(end, from + SHORT_WINDOW_S);
    if (to - from < 1) break; // a sliver at the end says nothing about a rate
    const r = rate(from, to);
    short.push({
      from: from - start,
      to: to - start,
      rate: r,
      deviation: deviation(r),
      warmup: k === 0,
      partial: end < from + SHORT_WINDOW_S,
    });
  }
  const long = [];
  for (let k = 0; start + SHORT_WINDOW_S + k + LONG_WINDOW_S <= end; k++) {
    const from = start + SHORT_WINDOW_S + k;
    const r = rate(from, from + LONG_WINDOW_S);
    long.push({ from: from - start, rate: r, deviation: deviation(r) });
  }
  return { short, long };
}

const pct = (d) => `${d >= 0 ? "+" : ""}${(d * 100).toFixed(2)} %`;
const verdict = (ok) => (ok ? "MEETS" : "MISSES");

function printWindows(label, { short, long }, requested) {
  console.log(`\nachieved rate per ${SHORT_WINDOW_S} s window (${label}), requested ${requested}/min:`);
  for (const w of short) {
    const note = w.warmup ? "  (warm-up, not judged)" : w.partial ? "  (partial window, not judged)" : "";
    console.log(
      `  ${w.from.toFixed(0).padStart(4)}–${w.to.toFixed(0).padEnd(4)} s  ${w.rate.toFixed(0).padStart(6)}/min  ${pct(w.deviation).padStart(9)}${note}`,
    );
  }
  if (long.length === 0) {
    console.log(
      `sliding ${LONG_WINDOW_S} s windows (${label}): none fit (sending must last more than ${SHORT_WINDOW_S + LONG_WINDOW_S} s)`,
    );
  } else {
    const worst = long.reduce((a, b) => (Math.abs(b.deviation) > Math.abs(a.deviation) ? b : a));
    const min = Math.min(...long.map((w) => w.rate));
    const max = Math.max(...long.map((w) => w.rate));
    console.log(
      `sliding ${LONG_WINDOW_S} s windows (${label}), ${long.length} of them, 1 s apart after the warm-up: ` +
        `${min.toFixed(0)}–${max.toFixed(0)}/min, worst ${pct(worst.deviation)} (window at ${worst.from.toFixed(0)} s)`,
    );
  }
}

async function main() {
  const work = await mkdtemp(join(tmpdir(), "sendwire-bench-broadcast-"));
  const state = await mkdtemp(join(tmpdir(), "sendwire-bench-broadcast-state-"));
  let mf;
  const cleanup = async () => {
    if (mf) await mf.dispose().catch(() => {});
    await stopBundlers();
    if (!args.keep) {
      rmSync(work, { recursive: true, force: true });
      rmSync(state, { recursive: true, force: true });
    }
  };
  // Bundling, the import and the broadcast's own bounded wait, with room to spare.
  const budgetMs = (8 + maxMinutes) * 60_000;
  const watchdog = setTimeout(() => {
    console.error(`bench broadcast: still running after ${budgetMs / 60_000} minutes, giving up`);
    cleanup().finally(() => process.exit(2));
  }, budgetMs);
  watchdog.unref();
  try {
    const config = unstable_readConfig({ config: join(ROOT, "wrangler.toml") }, { hideWarnings: true });
    const common = {
      compatibility_date: config.compatibility_date,
      compatibility_flags: config.compatibility_flags,
    };
    const [app, seed] = await Promise.all([
      bundleWorker({
        wranglerCli: WRANGLER_CLI,
        dir: join(work, "app"),
        config: { name: "sendwire", main: join(ROOT, "src", "index.ts"), ...common },
      }),
      bundleWorker({
        wranglerCli: WRANGLER_CLI,
        dir: join(work, "seed"),
        config: { name: "bench-seed", main: join(BENCH, "seed-worker.js"), ...common },
      }),
    ]);
    await copyFile(join(BENCH, "counting.js"), join(app.dir, "bench-counting.js"));
    const harness = join(app.dir, "bench-broadcast.js");
    await writeFile(harness, HARNESS_ENTRY(`./${app.entry.slice(app.dir.length + 1)}`));
    log(`bundled app (${(app.bytes / 1024).toFixed(0)} KiB)`);

    const sends = config.queues.consumers.find((q) => q.queue === SENDS_QUEUE);
    const sqlite = unstable_getDurableObjectClassNameToUseSQLiteMap(config.migrations);
    if (!config.durable_objects.bindings.some((b) => b.class_name === "BroadcastRunner")) {
      throw new Error("wrangler.toml binds no BroadcastRunner Durable Object");
    }
    const worker = (name, bundle, entry, extra = {}) => ({
      name,
      scriptPath: entry,
      modulesRoot: bundle.dir,
      modules: true,
      modulesRules: [{ type: "ESModule", include: ["**/*.js"] }],
      compatibilityDate: config.compatibility_date,
      compatibilityFlags: config.compatibility_flags,
      d1Databases: Object.fromEntries(config.d1_databases.map((d) => [d.binding, d.database_id])),
      r2Buckets: Object.fromEntries(config.r2_buckets.map((b) => [b.binding, b.bucket_name])),
      queueProducers: Object.fromEntries(
        config.queues.producers.map((q) => [q.binding, { queueName: q.queue }]),
      ),
      bindings: { ...config.vars, SECRETS_ENCRYPTION_KEY: SECRETS_KEY },
      // KEY_GATE and BROADCAST_RUNNER, each with the SQLite storage its wrangler.toml migration gives it.
      durableObjects: Object.fromEntries(
        config.durable_objects.bindings.map((b) => [
          b.name,
          { className: b.class_name, useSQLite: sqlite.get(b.class_name) ?? false },
        ]),
      ),
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
      ...extra,
    });
    mf = new Miniflare({
      host: "127.0.0.1",
      port: 0,
      cf: false,
      inspectorPort: 0, // heap readings only (heapReader); nothing is profiled or paused
      defaultPersistRoot: state,
      log: new Log(process.env.BENCH_LOG === "debug" ? LogLevel.DEBUG : LogLevel.WARN),
      workers: [
        worker("sendwire", app, harness, {
          queueConsumers: {
            [sends.queue]: {
              maxBatchSize: sends.max_batch_size,
              maxBatchTimeout: sends.max_batch_timeout,
              maxRetries: sends.max_retries,
            },
          },
        }),
        worker("bench-seed", seed, seed.entry, { durableObjects: {} }),
      ],
    });
    await mf.ready;
    const db = await mf.getD1Database("DB", "sendwire");
    await applyMigrations(db);
    for (const statement of args["extra-sql"]) {
      await db.prepare(statement).run();
      log(`--extra-sql applied (not in migrations/): ${statement}`);
    }
    const seeded = await fetch(await mf.unsafeGetDirectURL("bench-seed"), {
      method: "POST",
      body: JSON.stringify({ extraKeys: 0, webhookUrl: "http://127.0.0.1:9/unused" }),
    });
    if (!seeded.ok) throw new Error(`seeding failed: ${seeded.status} ${await seeded.text()}`);
    const { secret, tenantId } = await seeded.json();
    const origin = (await mf.unsafeGetDirectURL("sendwire")).href.replace(/\/$/, "");
    const call = (method, path, options) => api(origin, secret, method, path, options);
    log("app up, tenant seeded");

    // 1. The audience, through the audiences path: a list and a raw-CSV import into it.
    const list = expectStatus(
      "POST /v1/lists",
      await call("POST", "/v1/lists", { body: { name: `bench broadcast ${recipientsWanted}` } }),
      201,
    );
    const csv = generateContactsCsv(recipientsWanted);
    const importStarted = performance.now();
    const created = expectStatus(
      "POST /v1/contact-imports",
      await call("POST", `/v1/contact-imports?list_id=${list.id}`, {
        body: csv,
        headers: { "content-type": "text/csv" },
      }),
      202,
    );
    let imported;
    for (let tries = 0; tries < 6000; tries++) {
      imported = (await call("GET", `/v1/contact-imports/${created.id}`, { observer: true })).json;
      if (imported.status === "completed" || imported.status === "failed") break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const importS = (performance.now() - importStarted) / 1000;
    if (imported?.status !== "completed") {
      throw new Error(`import did not complete: ${JSON.stringify(imported).slice(0, 500)}`);
    }
    log(
      `import (not part of the broadcast figures): ${recipientsWanted} contacts (${(Buffer.byteLength(csv) / 1e6).toFixed(1)} MB CSV) ` +
        `into ${list.id} in ${importS.toFixed(1)} s; counts ${JSON.stringify(imported.counts)}`,
    );

    // 2. The tenant's broadcast rate (a tenant setting with no API yet) and sandbox money as a customer has
    // it: the starting credit, then top-ups through the API until the dry run's estimate is covered (the
    // seed funded this wallet far beyond the sandbox cap, which no top-up may pass).
    const now = Date.now();
    await db
      .prepare(
        "INSERT INTO tenant_broadcast_settings (tenant_id, environment, rate_per_minute, updated_at) VALUES (?, 'test', ?, ?) " +
          "ON CONFLICT (tenant_id, environment) DO UPDATE SET rate_per_minute = excluded.rate_per_minute, updated_at = excluded.updated_at",
      )
      .bind(tenantId, ratePerMinute, now)
      .run();
    await db
      .prepare(
        "UPDATE wallets SET balance_micros = ?, updated_at = ? WHERE tenant_id = ? AND environment = 'test'",
      )
      .bind(STARTING_CREDIT_MICROS, now, tenantId)
      .run();
    const broadcastBody = {
      name: `bench ${recipientsWanted} at ${ratePerMinute}/min`,
      channel: "sms",
      text: { body: "Hi {{contact.name|there}}, your {{contact.attributes.city|city}} offer is ready." },
      audience: { list_id: list.id },
      rate_limit_per_minute: ratePerMinute,
    };
    const previewStarted = performance.now();
    const preview = expectStatus(
      "POST /v1/broadcasts/preview",
      await call("POST", "/v1/broadcasts/preview", { body: broadcastBody, timeoutS: PLAN_TIMEOUT_S }),
      200,
    );
    log(`dry run answered in ${((performance.now() - previewStarted) / 1000).toFixed(1)} s`);
    log(
      `dry run: ${preview.recipients} recipients, ${preview.eligible} eligible, skipped ${JSON.stringify(preview.skipped)}, ` +
        `cost estimate ${preview.cost_estimate} ${preview.currency}, balance ${preview.balance}; sample: ${JSON.stringify(preview.sample?.[0]?.content)}`,
    );
    let balanceMicros = amountMicros(preview.balance);
    let topUps = 0;
    while (balanceMicros < amountMicros(preview.cost_estimate)) {
      const topUp = expectStatus(
        "POST /v1/balance/top-ups",
        await call("POST", "/v1/balance/top-ups", { body: { amount: TOP_UP_AMOUNT } }),
        201,
      );
      balanceMicros = amountMicros(topUp.balance);
      topUps++;
    }
    log(`${topUps} top-up(s) of ${TOP_UP_AMOUNT}: balance ${money(balanceMicros)} before the broadcast`);

    // 3. The broadcast. Counters start from zero here: everything below is the broadcast's cost.
    await fetch(`${origin}/__bench/reset`, { method: "POST" });
    await fetch(`${origin}/__bench/harness-reset`, { method: "POST" });
    const heap = await heapReader((await mf.getInspectorURL()).href, "sendwire");
    const heapBefore = await heap.used();
    const rssBefore = workerdRssKb();
    const d1Before = d1Bytes(state);
    let rssPeak = rssBefore;
    const rssSeries = [];
    const startedAt = performance.now();
    const startedAtMs = Date.now();
    const sampler = setInterval(() => {
      const rss = workerdRssKb();
      rssPeak = Math.max(rssPeak, rss);
      rssSeries.push({ t: (performance.now() - startedAt) / 1000, rss });
    }, 100);
    const heapSeries = [];
    let heapSampling = true;
    const heapSampler = (async () => {
      while (heapSampling) {
        const used = await heap.used();
        if (used !== null) heapSeries.push({ t: (performance.now() - startedAt) / 1000, used });
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    })();
    const broadcast = expectStatus(
      "POST /v1/broadcasts",
      await call("POST", "/v1/broadcasts", {
        body: broadcastBody,
        headers: { "idempotency-key": `bench-broadcast-${startedAtMs}` },
        timeoutS: PLAN_TIMEOUT_S,
      }),
      201,
    );
    log(
      `created ${broadcast.id}: status ${broadcast.status}; polling GET /v1/broadcasts/${broadcast.id} every 1 s`,
    );

    const samples = [];
    let last = broadcast;
    let lastLoggedAt = 0;
    const deadline = startedAt + maxMinutes * 60_000;
    while (performance.now() < deadline) {
      const before = performance.now();
      const res = await call("GET", `/v1/broadcasts/${broadcast.id}`, { observer: true });
      const after = performance.now();
      if (res.status === 200) {
        last = res.json;
        const t = ((before + after) / 2 - startedAt) / 1000;
        samples.push({
          t,
          n: last.counts.sent + last.counts.failed,
          counts: last.counts,
          status: last.status,
        });
        if (t - lastLoggedAt >= 10) {
          lastLoggedAt = t;
          log(`  t=${t.toFixed(1)} s ${last.status} ${JSON.stringify(last.counts)}`);
        }
      }
      if (["completed", "failed", "canceled"].includes(last.status)) break;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1000 - (performance.now() - before))));
    }
    clearInterval(sampler);
    heapSampling = false;
    await heapSampler;
    heap.close();
    rssPeak = Math.max(rssPeak, workerdRssKb());
    const rssAfter = workerdRssKb();
    const d1After = d1Bytes(state);
    const completedAt = (performance.now() - startedAt) / 1000;
    const finished = last.status === "completed";
    log(
      `broadcast ${finished ? "completed" : `did NOT complete within ${maxMinutes} min (status ${last.status})`}: ${JSON.stringify(last.counts)}`,
    );

    // Costs of the broadcast, read before anything else touches the app.
    const cost = await (await fetch(`${origin}/__bench/cost`)).json();
    const harnessCounts = await (await fetch(`${origin}/__bench/harness`)).json();

    // What the messages themselves say (read straight from D1, outside the counted app).
    const sent = await db
      .prepare(
        `SELECT coalesce(json_extract(timestamps, '$.sent'), json_extract(timestamps, '$.failed')) AS at, count(*) AS n
         FROM messages WHERE broadcast_id = ? AND test = 0 AND at IS NOT NULL GROUP BY at ORDER BY at`,
      )
      .bind(broadcast.id)
      .all();
    const [uniq] = (
      await db
        .prepare(
          "SELECT count(*) AS messages, count(DISTINCT contact_id) AS contacts FROM messages WHERE broadcast_id = ? AND test = 0",
        )
        .bind(broadcast.id)
        .all()
    ).results;
    const balanceAfter = (await call("GET", "/v1/balance", { observer: true })).json.balance;
    const runnerState = await db
      .prepare("SELECT count(*) AS n FROM broadcast_recipients WHERE broadcast_id = ?")
      .bind(broadcast.id)
      .all();

    // ------------------------------------------------------------------------------------------- report
    const total = last.counts.total;
    const out = last.counts.sent + last.counts.failed;
    const eligible = total - last.counts.skipped;
    console.log(
      `\nbroadcast ${broadcast.id}: ${total} recipients in the snapshot (${runnerState.results[0].n} rows), ${last.counts.skipped} skipped, ${out} went out (sent ${last.counts.sent}, failed ${last.counts.failed}, delivered ${last.counts.delivered}), status ${last.status}`,
    );
    console.log(
      `exactly once: ${uniq.messages} messages for ${uniq.contacts} distinct contacts → ` +
        `${uniq.messages === uniq.contacts && uniq.messages === eligible ? "no duplicate, none missing" : `MISMATCH (eligible ${eligible})`}`,
    );
    console.log(
      `money: balance ${money(balanceMicros)} → ${balanceAfter} (${money(balanceMicros - amountMicros(balanceAfter))} held/charged; dry-run estimate ${preview.cost_estimate})`,
    );

    const firstOut = samples.find((s) => s.n > 0);
    const reachedFinal = samples.find((s) => s.n === out && out > 0);
    let polledWindows = null;
    let stampWindows = null;
    if (firstOut && reachedFinal && reachedFinal.t > firstOut.t) {
      // Sending began between the last poll that saw nothing and the first that saw something.
      const before = samples[samples.indexOf(firstOut) - 1];
      const start = before ? before.t : 0;
      const points = [
        { t: start, n: 0 },
        ...samples.filter((s) => s.t > start).map(({ t, n }) => ({ t, n })),
      ];
      polledWindows = windowRates(points, start, reachedFinal.t, ratePerMinute);
      printWindows("polled counts.sent + counts.failed", polledWindows, ratePerMinute);
      console.log(
        `first message out ≤ ${firstOut.t.toFixed(1)} s after the create call (snapshot of the audience + first job), ` +
          `last ≤ ${reachedFinal.t.toFixed(1)} s (polled)`,
      );
    } else {
      console.log("\nno message went out: no rate to report");
    }
    // Cross-check from the messages' own `sent` times (one time per job: a job records its messages together).
    const stamps = sent.results.map((r) => ({ t: (Date.parse(r.at) - startedAtMs) / 1000, n: Number(r.n) }));
    if (stamps.length > 1) {
      let cumulative = 0;
      const points = [];
      for (const s of stamps) {
        points.push({ t: s.t - 0.0005, n: cumulative });
        cumulative += s.n;
        points.push({ t: s.t, n: cumulative });
      }
      stampWindows = windowRates(points, stamps[0].t - 0.001, stamps.at(-1).t, ratePerMinute);
      printWindows("messages' sent timestamps", stampWindows, ratePerMinute);
      console.log(
        `time from the create call to the last message sent: ${stamps.at(-1).t.toFixed(1)} s ` +
          `(first ${stamps[0].t.toFixed(1)} s; ${out} messages over ${(stamps.at(-1).t - stamps[0].t).toFixed(1)} s ` +
          `= ${((out / Math.max(0.001, stamps.at(-1).t - stamps[0].t)) * 60).toFixed(0)}/min on average)`,
      );
    }

    // Where the time went: the runner's pacing alone, and how busy the sends consumer (one batch at a time
    // under Miniflare) was.
    const releases = harnessCounts.runner.releases.map(([ms, n]) => ({ t: (ms - startedAtMs) / 1000, n }));
    if (releases.length > 1) {
      let cumulative = 0;
      const points = [];
      for (const r of releases) {
        points.push({ t: r.t - 0.0005, n: cumulative });
        cumulative += r.n;
        points.push({ t: r.t, n: cumulative });
      }
      printWindows(
        "recipients released by the BroadcastRunner",
        windowRates(points, releases[0].t - 0.001, releases.at(-1).t, ratePerMinute),
        ratePerMinute,
      );
      console.log(
        `runner: ${cumulative} recipients released in ${releases.length} sendBatch calls from ${releases[0].t.toFixed(1)} s to ${releases.at(-1).t.toFixed(1)} s`,
      );
    }
    const ticks = harnessCounts.runner.ticks;
    if (ticks.length > 1) {
      const late = [];
      const took = [];
      let lost = 0;
      let capped = 0;
      for (let i = 0; i < ticks.length; i++) {
        const tick = ticks[i];
        took.push(tick.ended - tick.began);
        if (i > 0 && ticks[i - 1].next !== null) late.push(tick.began - ticks[i - 1].next);
        if (tick.perMinute > 0 && tick.at) {
          // The runner's bucket cap (src/durable-objects/broadcast-runner.ts capacityOf): what accrued beyond it is gone.
          const capacity = Math.min(1000, Math.max(2, Math.ceil(tick.perMinute / 30)));
          const over = tick.tokens + (tick.perMinute / 60_000) * (tick.began - tick.at) - capacity;
          if (over > 0) {
            lost += over;
            capped += 1;
          }
        }
      }
      const q = (xs, p) =>
        [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? 0;
      console.log(
        `runner alarms: ${ticks.length}; late against the time set by the previous one p50 ${q(late, 0.5)} ms, p90 ${q(late, 0.9)} ms, ` +
          `max ${q(late, 1)} ms; each took p50 ${q(took, 0.5)} ms, max ${q(took, 1)} ms; ${capped} found the bucket full, ` +
          `losing ${lost.toFixed(0)} recipients' worth of tokens (${((lost / Math.max(1, eligible)) * 100).toFixed(1)} % of the audience)`,
      );
    }
    console.log(
      `sends consumer: busy ${(harnessCounts.consumed.busyMs / 1000).toFixed(1)} s of the ${completedAt.toFixed(1)} s from the create call to the end of polling ` +
        `(${((harnessCounts.consumed.busyMs / 1000 / completedAt) * 100).toFixed(0)} %; Miniflare hands it one batch at a time)`,
    );

    const both = (field) => cost.inline[field] + cost.deferred[field];
    const statements = both("d1Statements") + harnessCounts.runner.d1Statements;
    const withMeta = both("d1StatementsWithMeta") + harnessCounts.runner.d1StatementsWithMeta;
    const rowsWritten = both("d1RowsWritten") + harnessCounts.runner.d1RowsWritten;
    const queueMessages = both("queueMessages") + harnessCounts.runner.queueMessages;
    const perRecipient = (x) => (eligible > 0 ? x / eligible : Number.NaN);
    console.log(
      `\ncost of the broadcast (from the create call on; the bench's own polls not included), per eligible recipient (${eligible}):`,
    );
    console.log(
      `  D1 statements: ${statements} = ${perRecipient(statements).toFixed(3)}/recipient ` +
        `(${both("d1Statements")} in ${cost.requests} requests/queue batches [${JSON.stringify(cost.status)}], ` +
        `${harnessCounts.runner.d1Statements} in the BroadcastRunner's ${harnessCounts.runner.alarms} alarms; ` +
        `${both("d1Batches") + harnessCounts.runner.d1Batches} batches, ${both("d1RoundTrips")} round trips outside the runner)`,
    );
    console.log(
      `  D1 rows written: ${rowsWritten} = ${perRecipient(rowsWritten).toFixed(2)}/recipient ` +
        `(D1's meta.rows_written, seen on ${withMeta} of ${statements} statements: first()/raw() results carry none, so this is a lower bound)`,
    );
    const byKind = Object.entries(harnessCounts.consumed.byKind)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k.replace(`${SENDS_QUEUE}:`, "")} ${n}`)
      .join(", ");
    console.log(
      `  queue messages: ${queueMessages} sent = ${perRecipient(queueMessages).toFixed(4)}/recipient ` +
        `(${harnessCounts.runner.queueMessages} by the runner in ${harnessCounts.runner.queueCalls} sendBatch calls); ` +
        `${harnessCounts.consumed.messages} consumed in ${harnessCounts.consumed.batches} batches: ${byKind}`,
    );
    console.log(
      `  Durable Object calls: ${both("doCalls")} RPCs from requests and queue batches (${perRecipient(both("doCalls")).toFixed(4)}/recipient) ` +
        `+ ${harnessCounts.runner.alarms} runner alarms`,
    );
    const windowRss = [];
    for (let from = 0; from <= (rssSeries.at(-1)?.t ?? 0); from += SHORT_WINDOW_S) {
      const inside = rssSeries.filter((s) => s.t >= from && s.t < from + SHORT_WINDOW_S);
      if (inside.length) windowRss.push(Math.max(...inside.map((s) => s.rss)));
    }
    console.log(
      `  workerd RSS: ${(rssBefore / 1024).toFixed(0)} MB before, peak ${(rssPeak / 1024).toFixed(0)} MB during, ` +
        `${(rssAfter / 1024).toFixed(0)} MB after; peak per ${SHORT_WINDOW_S} s: ${windowRss.map((kb) => (kb / 1024).toFixed(0)).join(" ")} MB ` +
        `(the local D1 database, in the same process, grew ${((d1After - d1Before) / 1e6).toFixed(0)} MB on disk: ${(d1Before / 1e6).toFixed(0)} → ${(d1After / 1e6).toFixed(0)} MB)`,
    );

    const heapWindows = [];
    for (let from = 0; from <= (heapSeries.at(-1)?.t ?? 0); from += SHORT_WINDOW_S) {
      const inside = heapSeries.filter((x) => x.t >= from && x.t < from + SHORT_WINDOW_S);
      if (inside.length) heapWindows.push(Math.max(...inside.map((x) => x.used)));
    }
    const heapPeak = Math.max(heapBefore ?? 0, ...heapSeries.map((x) => x.used));
    const mb = (bytes) => (bytes / 1024 / 1024).toFixed(0);
    console.log(
      heapSeries.length === 0 || heapBefore === null
        ? "  app isolate JS heap: the inspector gave no reading"
        : `  app isolate JS heap (worker + queue consumer + BroadcastRunner): ${mb(heapBefore)} MB before, peak ${mb(heapPeak)} MB ` +
            `(+${mb(heapPeak - heapBefore)} MB); peak per ${SHORT_WINDOW_S} s: ${heapWindows.map(mb).join(" ")} MB`,
    );

    // ---------------------------------------------------------------------------------------------- aims
    console.log("\naims (issue 15):");
    console.log(`  completed within ${maxMinutes} min: ${finished ? "yes" : "no"} → ${verdict(finished)}`);
    // Judged on the messages' own sent times (exact); the 1 s polls add up to a second of jitter per window.
    const judgedWindows = stampWindows ?? polledWindows;
    if (judgedWindows) {
      const judged = judgedWindows.short.filter((w) => !w.warmup && !w.partial);
      const worstShort = judged.reduce((a, w) => Math.max(a, Math.abs(w.deviation)), 0);
      console.log(
        `  rate within ±${AIM_RATE_DEVIATION * 100} % over every sliding ${LONG_WINDOW_S} s window (primary, ${stampWindows ? "sent timestamps" : "polled"}): ` +
          (judgedWindows.long.length === 0
            ? "n/a (no full window: run more recipients)"
            : `worst ${pct(judgedWindows.long.reduce((a, w) => (Math.abs(w.deviation) > Math.abs(a.deviation) ? w : a)).deviation)} → ` +
              verdict(judgedWindows.long.every((w) => Math.abs(w.deviation) <= AIM_RATE_DEVIATION))) +
          ` (one job (a quarter second of recipients, at most 500) recorded together, is ${((Math.min(500, Math.max(1, Math.floor(ratePerMinute / 240))) / ratePerMinute) * 100).toFixed(2)} % of a ${LONG_WINDOW_S} s window)`,
      );
      console.log(
        `  (not an aim) ${SHORT_WINDOW_S} s windows after the first: ` +
          (judged.length === 0
            ? "n/a (no full window after the warm-up)"
            : `${judged.length} windows, worst ±${(worstShort * 100).toFixed(2)} %`) +
          ` (a fan-out job goes out at once: ${((Math.min(500, Math.max(1, Math.floor(ratePerMinute / 240))) / ((ratePerMinute / 60) * SHORT_WINDOW_S)) * 100).toFixed(1)} % of a ${SHORT_WINDOW_S} s window)`,
      );
    } else {
      console.log(`  rate within ±${AIM_RATE_DEVIATION * 100} %: nothing was sent → MISSES`);
    }
    console.log(
      `  ≤ ${AIM_STATEMENTS_PER_RECIPIENT} D1 statements per recipient: ${perRecipient(statements).toFixed(3)} → ` +
        verdict(perRecipient(statements) <= AIM_STATEMENTS_PER_RECIPIENT),
    );
    // Memory flat means the worker's: workerd's RSS also holds the local D1 database (SQLite in the same
    // process, growing with every row written), which a deployed worker does not.
    const growthMb = (rssPeak - rssBefore) / 1024;
    const heapGrowthMb =
      heapBefore === null || heapSeries.length === 0 ? null : (heapPeak - heapBefore) / 1024 / 1024;
    console.log(
      `  app isolate heap growth < ${AIM_RSS_GROWTH_MB} MB during the broadcast (memory flat): ` +
        (heapGrowthMb === null
          ? "n/a (inspector unavailable)"
          : `${heapGrowthMb.toFixed(0)} MB → ${verdict(heapGrowthMb < AIM_RSS_GROWTH_MB)}`) +
        ` (workerd RSS +${growthMb.toFixed(0)} MB, most of it the local D1 database in the same process)`,
    );
  } finally {
    clearTimeout(watchdog);
    await cleanup();
  }
}

await main().catch((error) => {
  console.error(
    `bench broadcast: FAILED: ${error?.stack ?? error}${error?.cause ? ` (cause: ${error.cause?.stack ?? error.cause})` : ""}`,
  );
  process.exit(1);
});
