// `npm run bench`: throughput and latency of the API's hot paths beside baselines measured in the same
// run, on the same runtime (workerd via Miniflare), loaded by autocannon over 127.0.0.1. See README.md.
//
//   npm run bench                          the default cases, 5 s per case, 8 and 32 connections
//   npm run bench -- --extra               also the extra primitives (two reads, batch, DO RPC, queue send)
//   npm run bench -- --only healthz,bare   only the cases whose id contains one of these strings (an app
//                                          path brings its own primitives and the paths in its `with`:
//                                          --only send-message runs the send path, create-key and list-keys)
//   npm run bench -- --quick               1 s per case: a smoke test of the benchmark itself
//   npm run bench -- --only webhook        only the webhook latency case (and the bare route)
//   options: --duration S  --warmup S  --connections 8,32  --cost-requests N  --out FILE  --keep  --disk
//            --webhook-rate N (sends/s of the webhook case, default 50; 0 = as fast as 8 connections go)
//            --profile (after the timed runs, a V8 CPU profile of the app per app case: CPU ms per request
//            by phase, .cpuprofile files next to the JSON report)
import { execFileSync } from "node:child_process";
import { constants, rmSync } from "node:fs";
import { access, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Log, LogLevel, Miniflare } from "miniflare";
import {
  experimental_readRawConfig,
  unstable_getDurableObjectClassNameToUseSQLiteMap,
  unstable_readConfig,
} from "wrangler";
import { APP_CASES, BARE_ID, BASELINE_CASES, modelCases, WEBHOOK_CASE } from "./cases.mjs";
import { bundleWorker, stopBundlers } from "./lib/bundle.mjs";
import { LIMITS, percentile, runLoad, settledCost } from "./lib/load.mjs";
import { analyseProfile, connectProfiler, loadSourceMap, workerdCpuMs } from "./lib/profile.mjs";
import {
  aimLines,
  costTable,
  fmt,
  loadTable,
  pathSummary,
  profileMarkdown,
  profileSummary,
  ratio,
  webhookSummary,
} from "./lib/report.mjs";
import {
  measureWebhooks,
  probeWebhooks,
  startReceiver,
  WEBHOOK_LIMITS,
  webhookCost,
} from "./lib/webhook.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BENCH = join(ROOT, "bench");
const WRANGLER_CLI = join(ROOT, "node_modules", "wrangler", "wrangler-dist", "cli.js");
const APP = "sendwire";
const APP_COUNTED = "sendwire-counted";
/** The app bundle once more, hosting the KeyGate Durable Objects in an isolate of their own (see step 4). */
const GATE = "sendwire-gate";
const BASELINE = "bench-baseline";
const BASELINE_COUNTED = "bench-baseline-counted";
const EXTRA_KEYS = 24; // + the caller's own key: GET /v1/api-keys?limit=20 returns full pages
const FAIL_SHARE = 0.01;
/** The app's webhooks queue (wrangler.toml), consumed by the app during the bench. */
const WEBHOOKS_QUEUE = "sendwire-webhooks";
/** Where the counted app's webhook jobs go instead: nobody consumes it (see the webhook cost pass). */
const HELD_WEBHOOKS_QUEUE = "bench-webhooks-held";
/** The baseline worker's own webhook queue, consumed by the baseline worker. */
const BASELINE_WEBHOOKS_QUEUE = "bench-baseline-webhooks";
/** A fixed throwaway SECRETS_ENCRYPTION_KEY (base64 of 32 bytes): seals the bench endpoint's secret. */
const BENCH_SECRETS_KEY = Buffer.from("bench-only-throwaway-key-32bytes").toString("base64");
/** Connections of the --profile runs. */
const PROFILE_CONNECTIONS = 8;
/** What a model sequence must reproduce of its app path, per request, inline and deferred. */
const MODEL_FIELDS = ["d1RoundTrips", "d1Statements", "d1Batches", "doCalls", "queueCalls", "queueMessages"];

// ---------------------------------------------------------------------------------------------- options

// `--only import`: the contact-import benchmark, a run of its own (bench/import.mjs, see README.md).
if (/(^| )--only(=| )import( |$)/.test(process.argv.slice(2).join(" "))) {
  await import("./import.mjs");
  process.exit(0);
}

// `--only broadcast`: the broadcast benchmark, a run of its own (bench/broadcast.mjs, see README.md).
if (/(^| )--only(=| )broadcast( |$)/.test(process.argv.slice(2).join(" "))) {
  await import("./broadcast.mjs");
  process.exit(0);
}

const { values: args } = parseArgs({
  options: {
    duration: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    warmup: { type: "string", default: "1" },
    connections: { type: "string", default: "8,32" },
    "cost-requests": { type: "string", default: "50" },
    only: { type: "string" },
    extra: { type: "boolean", default: false },
    quick: { type: "boolean", default: false },
    out: { type: "string" },
    keep: { type: "boolean", default: false },
    disk: { type: "boolean", default: false },
    "webhook-rate": { type: "string", default: "50" },
    profile: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (args.help) {
  const header = (await readFile(fileURLToPath(import.meta.url), "utf8")).split("\nimport")[0];
  console.log(header.replaceAll(/^\/\/ ?/gm, ""));
  process.exit(0);
}
const durationS = args.quick ? 1 : Number(args.duration);
const rounds = args.quick ? 1 : Number(args.rounds);
if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 9)) fatal("--rounds must be an integer in [1, 9]");
const warmupS = args.quick ? 0.5 : Number(args.warmup);
const costRequests = args.quick ? 10 : Number(args["cost-requests"]);
const connectionLevels = args.connections.split(",").map(Number);
if (!(durationS > 0 && durationS <= LIMITS.maxDurationS))
  fatal(`--duration must be in (0, ${LIMITS.maxDurationS}]`);
if (!(warmupS >= 0 && warmupS <= LIMITS.maxDurationS))
  fatal(`--warmup must be in [0, ${LIMITS.maxDurationS}]`);
if (!connectionLevels.every((n) => Number.isInteger(n) && n >= 1 && n <= LIMITS.maxConnections)) {
  fatal(`--connections must be integers in [1, ${LIMITS.maxConnections}]`);
}
if (!(Number.isInteger(costRequests) && costRequests >= 1 && costRequests <= 1000)) {
  fatal("--cost-requests must be in [1, 1000]");
}
const webhookRate = Number(args["webhook-rate"]);
if (!(Number.isInteger(webhookRate) && webhookRate >= 0 && webhookRate <= 10_000)) {
  fatal("--webhook-rate must be an integer in [0, 10000] (0 = closed loop)");
}

const only = args.only?.split(",").filter(Boolean);
const selected = (c) => !only || only.some((s) => c.id.includes(s)) || c.id === BARE_ID;
// A selected app path brings the paths it names in `with` (`--only send-message`: all three paths of the
// issue-13 aims in one run).
const withIds = new Set(APP_CASES.filter(selected).flatMap((c) => c.with ?? []));
const appCases = APP_CASES.filter((c) => selected(c) || withIds.has(c.id));
// A selected app path brings its own primitives (measured alone) along, whatever --only says.
const pathPrimitives = new Set(appCases.flatMap((c) => c.primitives ?? []));
const baselineCases = [
  ...BASELINE_CASES.filter(
    (c) => pathPrimitives.has(c.id) || (selected(c) && (args.extra || !c.extra || only)),
  ),
  ...modelCases(appCases),
];
for (const id of pathPrimitives) {
  if (!BASELINE_CASES.some((c) => c.id === id)) fatal(`unknown primitive case "${id}" in cases.mjs`);
}
const webhookSelected = selected(WEBHOOK_CASE);

// Whole-run watchdog: every load run is bounded on its own; this catches anything else that hangs.
// app paths and their models: `rounds` runs each (baselineCases includes the models once)
const runs = (appCases.length * (2 * rounds - 1) + baselineCases.length) * connectionLevels.length;
// the webhook case: two paths, each a warm-up and a timed run, each followed by a bounded drain
const webhookBudgetS = webhookSelected
  ? 2 * (durationS + warmupS + 2 * (WEBHOOK_LIMITS.drainS + 15)) + 60
  : 0;
// --profile: one warm-up and one sampled run per app case and per its model, plus loading the source maps
const profileBudgetS = args.profile ? 60 + 2 * appCases.length * (durationS + warmupS + 30) : 0;
const budgetS = 180 + runs * (durationS + warmupS + 15) * 2 + webhookBudgetS + profileBudgetS;
const watchdog = setTimeout(() => {
  console.error(`\nbench: still running after ${budgetS} s (budget), giving up`);
  cleanup().finally(() => process.exit(2));
}, budgetS * 1000);
watchdog.unref();

// ------------------------------------------------------------------------------------------------- run

const startedAt = new Date();
const t0 = performance.now();
const work = await mkdtemp(join(tmpdir(), "sendwire-bench-"));
const stateDir = await makeStateDir();
let mf;
let receiver;
let stopping = false;
// Last resort, synchronous: once Miniflare runs, its own SIGINT/SIGTERM hook stops workerd and exits at
// once, so the async cleanup may never run.
process.on("exit", () => {
  if (!args.keep) {
    rmSync(work, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  }
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  // Importing wrangler installs a handler that exits at once, leaving the bundlers running: replace it.
  // (Miniflare adds its own once it starts; it runs after this one and stops workerd synchronously.)
  process.removeAllListeners(signal);
  process.once(signal, () => {
    stopping = true;
    console.error(`\nbench: ${signal}, stopping`);
    // Bundlers first, so none writes into the scratch directory after the exit handler removed it.
    stopBundlers().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  });
}

const runtimeLog = logCollector();

try {
  await main();
} catch (error) {
  // After Ctrl+C, failures are just the interruption: the signal handler is already exiting.
  if (!stopping) {
    console.error(`\nbench: FAILED: ${error?.stack ?? error}`);
    runtimeLog.printSummary();
    await cleanup();
    process.exit(1);
  }
}

async function main() {
  const wranglerConfigPath = join(ROOT, "wrangler.toml");
  const config = unstable_readConfig({ config: wranglerConfigPath }, { hideWarnings: true });
  const { rawConfig } = experimental_readRawConfig({ config: wranglerConfigPath });
  const versions = await readVersions();
  log(
    `sendwire bench: node ${process.version}, ${availableParallelism()} cpu (${cpus()[0]?.model?.trim()}), ` +
      `wrangler ${versions.wrangler}, miniflare ${versions.miniflare}, autocannon ${versions.autocannon}`,
  );
  log(`scratch dirs: bundles ${work}, D1/DO storage ${stateDir} (both removed at the end unless --keep)`);

  // 1. Bundles: the app exactly as `wrangler deploy` builds it, and the bench's own two workers.
  const common = {
    compatibility_date: config.compatibility_date,
    compatibility_flags: config.compatibility_flags,
  };
  const sourceMaps = args.profile ? { upload_source_maps: true } : {};
  const [appBundle, baselineBundle, seedBundle] = await Promise.all([
    bundleWorker({
      wranglerCli: WRANGLER_CLI,
      dir: join(work, "build", "app"),
      // --profile: wrangler writes index.js.map beside the bundle, to map profile frames to sources
      config: { ...rawConfig, main: config.main, ...sourceMaps },
    }),
    bundleWorker({
      wranglerCli: WRANGLER_CLI,
      dir: join(work, "build", "baseline"),
      config: { name: BASELINE, main: join(BENCH, "baseline-worker.js"), ...common, ...sourceMaps },
    }),
    bundleWorker({
      wranglerCli: WRANGLER_CLI,
      dir: join(work, "build", "seed"),
      config: { name: "bench-seed", main: join(BENCH, "seed-worker.js"), ...common },
    }),
  ]);
  for (const [name, b] of [
    ["app", appBundle],
    ["baseline", baselineBundle],
    ["seed", seedBundle],
  ]) {
    log(`bundled ${name}: ${(b.bytes / 1024).toFixed(0)} KiB in ${(b.ms / 1000).toFixed(1)} s`);
  }
  const appCounted = await writeCountedEntry(appBundle);
  const baselineCounted = await writeCountedEntry(baselineBundle);

  // 2. Bindings, from wrangler.toml. Queue consumers: only the webhooks queue's, in the app, with its
  // wrangler.toml settings (the webhook case measures up to the receiver); the sends queue has none, so a
  // send is measured up to the enqueue. Nothing is put on the webhooks queue but the webhook case's jobs.
  const sqliteClasses = unstable_getDurableObjectClassNameToUseSQLiteMap(config.migrations);
  const d1Databases = Object.fromEntries(config.d1_databases.map((d) => [d.binding, d.database_id]));
  const queueProducers = Object.fromEntries(
    config.queues.producers.map((q) => [q.binding, { queueName: q.queue }]),
  );
  const webhooksBinding = config.queues.producers.find((q) => q.queue === WEBHOOKS_QUEUE)?.binding;
  const webhooksConsumer = config.queues.consumers?.find((q) => q.queue === WEBHOOKS_QUEUE);
  if (!webhooksBinding || !webhooksConsumer) {
    throw new Error(`wrangler.toml has no producer binding or consumer for ${WEBHOOKS_QUEUE}`);
  }
  const consumerSettings = {
    maxBatchSize: webhooksConsumer.max_batch_size,
    maxBatchTimeout: webhooksConsumer.max_batch_timeout,
    maxRetries: webhooksConsumer.max_retries,
    // no dead-letter queue: a job that fails every retry is a lost webhook, which the case reports
  };
  const doBindings = (scriptName) =>
    Object.fromEntries(
      config.durable_objects.bindings.map((b) => [
        b.name,
        scriptName || b.script_name
          ? { className: b.class_name, scriptName: scriptName ?? b.script_name }
          : { className: b.class_name, useSQLite: sqliteClasses.get(b.class_name) ?? false },
      ]),
    );
  const worker = (name, bundle, entry, extra) => ({
    name,
    scriptPath: entry,
    modulesRoot: bundle.dir,
    modules: true,
    // Bundles are ES modules named .js (Miniflare's default rules would read an imported .js as CommonJS).
    modulesRules: [{ type: "ESModule", include: ["**/*.js"] }],
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags,
    d1Databases,
    queueProducers: { ...queueProducers, ...extra?.queueProducers },
    queueConsumers: extra?.queueConsumers ?? {},
    bindings: { ...config.vars, ...extra?.bindings },
    durableObjects: extra?.durableObjects ?? {},
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
  });
  const shared = {
    host: "127.0.0.1",
    port: 0,
    cf: false, // no fetch of the Request.cf placeholder from the internet
    defaultPersistRoot: stateDir,
    log: new Log(LogLevel.WARN),
    handleStructuredLogs: runtimeLog.handle,
  };

  // The webhook receiver, first: the seed stores its URL as the webhook tenant's endpoint.
  receiver = await startReceiver();

  // 3. Schema + fixtures, in a first Miniflare instance that only runs the seed worker.
  const seeding = new Miniflare({
    ...shared,
    workers: [
      worker("bench-seed", seedBundle, seedBundle.entry, {
        bindings: { SECRETS_ENCRYPTION_KEY: BENCH_SECRETS_KEY },
      }),
    ],
  });
  mf = seeding;
  const seedDb = await seeding.getD1Database("DB", "bench-seed");
  const migrations = await applyMigrations(seedDb);
  const seedRes = await fetch(await seeding.unsafeGetDirectURL("bench-seed"), {
    method: "POST",
    body: JSON.stringify({ extraKeys: EXTRA_KEYS, webhookUrl: receiver.appUrl }),
    signal: AbortSignal.timeout(30_000),
  });
  if (!seedRes.ok) throw new Error(`seeding failed: ${seedRes.status} ${await seedRes.text()}`);
  const fixture = await seedRes.json();
  await seeding.dispose();
  mf = undefined;
  log(
    `migrations: ${migrations.join(", ")}; seeded tenant ${fixture.tenantId} with ${EXTRA_KEYS + 1} keys ` +
      `(caller ${fixture.keyPrefix}…, all ${fixture.scopes.length} scopes, sandbox); webhook tenant ` +
      `${fixture.webhook.tenantId} with endpoint ${fixture.webhook.endpointId} → ${receiver.appUrl}`,
  );

  // 4. The bench instance: app + baseline, each with a counted twin for the cost pass.
  const baselineBindings = {
    BENCH_SECRET_HASH: fixture.secretHash,
    BENCH_KEY_ID: fixture.keyId,
    BENCH_TENANT_ID: fixture.tenantId,
    BENCH_KEY_PREFIX: fixture.keyPrefix,
    BENCH_BASELINE_TENANT_ID: fixture.baselineTenantId,
    BENCH_SCOPES: JSON.stringify(fixture.scopes),
    BENCH_RATE_LIMIT: JSON.stringify(fixture.rateLimit),
  };
  // The app may deliver webhooks to the receiver on 127.0.0.1: ALLOW_LOCAL_WEBHOOKS, which the URL guard
  // honours only while PUBLIC_BASE_URL is local (wrangler.toml's is http://localhost:8787).
  const appBindings = { ALLOW_LOCAL_WEBHOOKS: "true", SECRETS_ENCRYPTION_KEY: BENCH_SECRETS_KEY };
  const baselineQueue = { BENCH_WEBHOOKS: { queueName: BASELINE_WEBHOOKS_QUEUE } };
  mf = new Miniflare({
    ...shared,
    // --profile: workerd's V8 inspector on a free port (localhost), attached only for the profiled runs
    ...(args.profile ? { inspectorPort: 0 } : {}),
    // KeyGate lives in its own worker, as a deployed Durable Object runs apart from the worker calling it.
    // Hosted by the app's worker, every KeyGate call of the app *and* of its model would run in the app's
    // isolate, which (single-threaded) would then do the request's work and the DO's in turn while the
    // model's request work ran beside it in the baseline isolate: an artefact of one local process.
    workers: [
      worker(APP, appBundle, appBundle.entry, {
        bindings: appBindings,
        durableObjects: doBindings(GATE),
        queueConsumers: { [WEBHOOKS_QUEUE]: consumerSettings },
      }),
      worker(GATE, appBundle, appBundle.entry, {
        bindings: appBindings,
        durableObjects: doBindings(),
      }),
      worker(APP_COUNTED, appBundle, appCounted, {
        bindings: appBindings,
        durableObjects: doBindings(GATE),
        queueProducers: { [webhooksBinding]: { queueName: HELD_WEBHOOKS_QUEUE } },
      }),
      worker(BASELINE, baselineBundle, baselineBundle.entry, {
        bindings: { ...baselineBindings, BENCH_RECEIVER_URL: receiver.baselineUrl },
        durableObjects: { ...doBindings(GATE), BENCH_GATE: { className: "BenchGate", useSQLite: true } },
        queueProducers: baselineQueue,
        // the same consumer settings as the app's, so the two paths differ only in what the workers do
        queueConsumers: { [BASELINE_WEBHOOKS_QUEUE]: consumerSettings },
      }),
      worker(BASELINE_COUNTED, baselineBundle, baselineCounted, {
        bindings: { ...baselineBindings, BENCH_RECEIVER_URL: receiver.baselineUrl },
        durableObjects: { ...doBindings(GATE), BENCH_GATE: { className: "BenchGate", scriptName: BASELINE } },
        queueProducers: baselineQueue,
      }),
    ],
  });
  await mf.ready;
  const urls = {};
  for (const name of [APP, APP_COUNTED, BASELINE, BASELINE_COUNTED]) {
    urls[name] = (await mf.unsafeGetDirectURL(name)).href.replace(/\/$/, "");
  }
  const db = await mf.getD1Database("DB", APP);
  const tables = await userTables(db);
  log(`workers up: app ${urls[APP]}, baseline ${urls[BASELINE]} (direct sockets, no proxy in between)`);

  const authHeaders = { authorization: `Bearer ${fixture.secret}` };
  const requestOf = (c, origin) => ({
    url: `${origin}${c.path}`,
    method: c.method ?? "GET",
    headers: {
      ...(c.auth ? authHeaders : {}),
      ...(c.body !== undefined ? { "content-type": "application/json" } : {}),
    },
    body: c.body !== undefined ? JSON.stringify(c.body) : undefined,
    setupRequest: c.setupRequest,
  });
  const all = [
    ...appCases.map((c) => ({ ...c, kind: "app", worker: APP, counted: APP_COUNTED })),
    ...baselineCases.map((c) => ({ ...c, kind: "baseline", worker: BASELINE, counted: BASELINE_COUNTED })),
  ];

  // 5. Probe: every case answers correctly once before anything is timed.
  for (const c of all) {
    const req = requestOf(c, urls[c.worker]);
    let { method, headers, body: reqBody } = req;
    // The same per-request rewrite as the load runs (e.g. a fresh Idempotency-Key).
    if (req.setupRequest) {
      ({ method, headers, body: reqBody } = req.setupRequest({ method, headers, body: reqBody }, {}));
    }
    const res = await fetch(req.url, {
      method,
      headers,
      body: reqBody,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    const body = safeJson(text);
    const expected = c.expectStatus ?? 200;
    if (res.status !== expected || (c.check && !c.check(body))) {
      throw new Error(`probe of ${c.label}: expected ${expected}, got ${res.status}: ${text.slice(0, 400)}`);
    }
  }
  log(`probe: all ${all.length} cases answer as expected`);

  // 6. Cost pass: sequential requests through the counted twins.
  const cost = {};
  for (const c of all) {
    const before = await settledCounts(db, tables);
    cost[c.id] = await costPass(c, requestOf(c, urls[c.counted]), urls[c.counted]);
    const after = await settledCounts(db, tables);
    cost[c.id].newRows = {};
    for (const t of tables) {
      if (after[t] !== before[t]) cost[c.id].newRows[t] = (after[t] - before[t]) / cost[c.id].requests;
    }
  }
  log(`cost pass: ${costRequests} sequential requests per case through the counting wrappers`);

  // 6b. The webhook case: probe (one delivery each way) and cost per delivered webhook.
  const webhookAuth = { authorization: `Bearer ${fixture.webhook.secret}` };
  const webhookRequest = (origin) => ({
    url: `${origin}${WEBHOOK_CASE.path}`,
    method: WEBHOOK_CASE.method,
    headers: { ...webhookAuth, "content-type": "application/json" },
    body: JSON.stringify(WEBHOOK_CASE.body),
    setupRequest: WEBHOOK_CASE.setupRequest,
  });
  const baselineWebhookRequest = {
    url: `${urls[BASELINE]}${WEBHOOK_CASE.baselinePath}`,
    method: "POST",
    headers: {},
  };
  const endpointId = fixture.webhook.endpointId;
  const deliveryStatus = async () => {
    const { results } = await db
      .prepare("SELECT status, count(*) AS n FROM webhook_deliveries WHERE endpoint_id = ? GROUP BY status")
      .bind(endpointId)
      .all();
    return Object.fromEntries(results.map((r) => [r.status, r.n]));
  };
  /** event id → attempted_at (ms) of its first delivery attempt to the bench endpoint. */
  const attemptTimes = async (eventIds) => {
    const times = new Map();
    for (let i = 0; i < eventIds.length; i += 500) {
      const { results } = await db
        .prepare(
          "SELECT d.event_id AS e, min(a.attempted_at) AS t FROM webhook_deliveries d " +
            "JOIN webhook_attempts a ON a.delivery_id = d.id WHERE d.endpoint_id = ? " +
            "AND d.event_id IN (SELECT value FROM json_each(?)) GROUP BY d.id",
        )
        .bind(endpointId, JSON.stringify(eventIds.slice(i, i + 500)))
        .all();
      for (const r of results) times.set(r.e, r.t);
    }
    return times;
  };
  let webhookCostResult = null;
  if (webhookSelected) {
    const once = webhookRequest(urls[APP]);
    const { method, headers, body } = once.setupRequest(once, {});
    await probeWebhooks({
      receiver,
      appRequest: { url: once.url, method, headers, body },
      baselineRequest: baselineWebhookRequest,
      expectStatus: WEBHOOK_CASE.expectStatus,
      explain: async () => {
        const row = await db
          .prepare(
            "SELECT status, attempts, last_status_code, last_error FROM webhook_deliveries " +
              "WHERE endpoint_id = ? ORDER BY id DESC LIMIT 1",
          )
          .bind(endpointId)
          .first();
        return row ? JSON.stringify(row) : "none (no delivery row: is the endpoint subscribed?)";
      },
    });
    webhookCostResult = await webhookCost({
      mf,
      countedWorker: APP_COUNTED,
      countedOrigin: urls[APP_COUNTED],
      request: webhookRequest(urls[APP_COUNTED]),
      db,
      endpointId,
      queueName: WEBHOOKS_QUEUE,
      costRequests,
      sink: receiver.sinks.app,
      rowCounts: () => settledCounts(db, tables),
    });
    log(`webhook probe: both paths deliver; cost pass: ${costRequests} sends and their deliveries`);
  }

  // 7. Load. Each app path and its model are measured in `--rounds` alternating pairs (A B, B A, A B, …)
  // and each side's rounds are pooled: on a shared two-core machine throughput drifts and stalls come in
  // bursts, and alternation spreads them over both sides instead of charging one run with them. All cases
  // at one connection count, then all at the next.
  const byId = new Map(all.map((c) => [c.id, c]));
  const results = [];
  for (const connections of connectionLevels) {
    /** id → the case's runs at this connection count */
    const runsOf = new Map();
    const measure = async (c) => {
      const req = requestOf(c, urls[c.worker]);
      if (warmupS > 0) await runLoad({ ...req, connections, durationS: warmupS });
      const before = await settledCounts(db, tables);
      const cpuBefore = workerdCpuMs();
      const r = await runLoad({ ...req, connections, durationS });
      const cpuAfter = workerdCpuMs();
      const after = await settledCounts(db, tables);
      r.rows = Object.fromEntries(tables.map((t) => [t, after[t] - before[t]]));
      // every isolate and thread of workerd (D1, the queue broker, KeyGate, both workers) during the run
      r.workerdCpuMs = cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore;
      runsOf.set(c.id, [...(runsOf.get(c.id) ?? []), r]);
      log(
        `  ${c.label.padEnd(44)} c=${String(connections).padStart(3)}  ${fmt(r.rps, 0).padStart(7)} req/s  ` +
          `p50 ${fmt(r.p50, 2)} ms  p99 ${fmt(r.p99, 2)} ms  non-2xx ${r.non2xx + r.errors + r.timeouts}`,
      );
    };
    await measure(byId.get(BARE_ID));
    for (const { id } of appCases) {
      const app = byId.get(id);
      const model = byId.get(app.modelId);
      for (let round = 0; round < rounds; round++) {
        for (const c of round % 2 === 0 ? [app, model] : [model, app]) if (c) await measure(c);
      }
    }
    for (const c of all) if (!runsOf.has(c.id)) await measure(c);
    for (const c of all) {
      const runs = runsOf.get(c.id);
      if (runs) results.push({ id: c.id, label: c.label, kind: c.kind, modelId: c.modelId, ...pooled(runs) });
    }
  }

  // 7b. Webhook latency, after every other run: its consumer traffic never overlaps them.
  let webhook = null;
  if (webhookSelected) {
    const counter = async () => {
      const res = await fetch(`${urls[BASELINE]}${WEBHOOK_CASE.baselineSentPath}`, {
        signal: AbortSignal.timeout(10_000),
      });
      return (await res.json()).sent;
    };
    const measured = await measureWebhooks({
      receiver,
      appRequest: webhookRequest(urls[APP]),
      baselineRequest: baselineWebhookRequest,
      appProduced: async () =>
        (
          await db
            .prepare("SELECT count(*) AS n FROM webhook_deliveries WHERE endpoint_id = ?")
            .bind(endpointId)
            .first()
        ).n,
      baselineProduced: counter,
      deliveryStatus,
      attemptTimes,
      connections: WEBHOOK_CASE.connections,
      rate: webhookRate,
      durationS,
      warmupS,
    });
    webhook = {
      id: WEBHOOK_CASE.id,
      label: WEBHOOK_CASE.label,
      baselineLabel: WEBHOOK_CASE.baselineLabel,
      consumer: consumerSettings,
      rate: webhookRate,
      ...measured,
      vsBaseline: {
        p50: ratio(measured.app.p50, measured.baseline.p50),
        p90: ratio(measured.app.p90, measured.baseline.p90),
        p99: ratio(measured.app.p99, measured.baseline.p99),
        max: ratio(measured.app.max, measured.baseline.max),
      },
      cost: webhookCostResult,
    };
    for (const [label, r] of [
      [WEBHOOK_CASE.label, measured.app],
      [WEBHOOK_CASE.baselineLabel, measured.baseline],
    ]) {
      log(
        `  ${label.padEnd(44)} c=${String(r.connections).padStart(3)}  ${fmt(r.deliveredRps, 0).padStart(7)} ` +
          `webhooks/s  p50 ${fmt(r.p50, 0)} ms  p99 ${fmt(r.p99, 0)} ms  lost ${r.lost}/${r.produced}`,
      );
    }
  }

  // 7c. --profile: one sampled load run per app case, after every timed run, so sampling never slows them.
  const outPath = args.out ?? join(tmpdir(), "sendwire-bench", "latest.json");
  await mkdir(dirname(outPath), { recursive: true });
  const profiles = [];
  let profileError = null;
  if (args.profile) {
    const maps = {};
    const profilers = {};
    /** One sampled load run of a case on its worker: the breakdown, the .cpuprofile written out. */
    const profileRun = async (c, name) => {
      const req = requestOf(c, urls[c.worker]);
      const connections = PROFILE_CONNECTIONS;
      // with the Debugger domain on, V8 may recompile: warm up again before sampling
      if (warmupS > 0) await runLoad({ ...req, connections, durationS: warmupS });
      const cpuBefore = workerdCpuMs();
      await profilers[c.worker].start();
      const r = await runLoad({ ...req, connections, durationS });
      // the last responses' waitUntil work (audit insert, KeyGate completion) lands in the window too
      await new Promise((resolve) => setTimeout(resolve, 300));
      const profile = await profilers[c.worker].stop();
      const cpuAfter = workerdCpuMs();
      const file = join(dirname(outPath), `${basename(outPath, ".json")}.${name}.cpuprofile`);
      await writeFile(file, JSON.stringify(profile));
      return {
        connections,
        rps: r.rps,
        p50: r.p50,
        p99: r.p99,
        failedShare: r.failedShare,
        file,
        ...analyseProfile(profile, maps[c.worker], r.ok),
        // every isolate of the process (D1, the queue broker, …), the inspector and the sampler included
        workerdCpuMsPerRequest:
          cpuBefore === null || cpuAfter === null || r.ok === 0 ? null : (cpuAfter - cpuBefore) / r.ok,
      };
    };
    try {
      const inspector = (await mf.getInspectorURL()).href;
      for (const [name, bundle] of [
        [APP, appBundle],
        [BASELINE, baselineBundle],
      ]) {
        maps[name] = await loadSourceMap(bundle.entry, ROOT);
        profilers[name] = await connectProfiler(inspector, name);
      }
      for (const c of appCases) {
        const app = await profileRun(byId.get(c.id), c.id);
        // its model in the baseline worker's isolate: the CPU the platform calls alone cost there
        const model = c.modelId ? await profileRun(byId.get(c.modelId), `${c.id}.model`) : null;
        profiles.push({ id: c.id, label: c.label, ...app, model });
        log(
          `  profiled ${c.label.padEnd(35)} c=${String(app.connections).padStart(3)}  ` +
            `${fmt(app.cpuMsPerRequest, 3)} CPU ms per request (model ${fmt(model?.cpuMsPerRequest, 3)}) → ${app.file}`,
        );
      }
    } catch (error) {
      // the timed runs above still get reported; the run fails at the end
      profileError = `--profile: ${error?.message ?? error}`;
      log(profileError);
    } finally {
      for (const profiler of Object.values(profilers)) await profiler.close();
    }
  }

  // 8. Ratios, cost, model checks.
  const find = (id, connections) => results.find((r) => r.id === id && r.connections === connections);
  for (const r of results) {
    const bare = find(BARE_ID, r.connections);
    const model = r.modelId ? find(r.modelId, r.connections) : undefined;
    r.vsBare = bare && r.id !== BARE_ID ? { rps: ratio(r.rps, bare.rps), p50: ratio(r.p50, bare.p50) } : null;
    r.vsPrimitives = model ? { rps: ratio(r.rps, model.rps), p50: ratio(r.p50, model.p50) } : null;
  }
  const costRows = all.map((c) => {
    const modelCheck = c.model ? compareModel(cost[c.id], cost[c.modelId]) : null;
    return { id: c.id, label: c.label, kind: c.kind, model: c.model, perRequest: cost[c.id], modelCheck };
  });
  // Paths with aims or their own primitives: ratios to the model per connection count, verdicts, cost.
  const pathSummaries = appCases
    .filter((c) => c.aims || c.primitives)
    .map((c) => ({
      id: c.id,
      label: c.label,
      model: c.model,
      aims: c.aims ?? null,
      shape: c.shape ?? null,
      expectStatus: c.expectStatus ?? 200,
      perRequest: cost[c.id],
      runs: connectionLevels.map((connections) => {
        const app = find(c.id, connections);
        const model = find(c.modelId, connections);
        const vs = app?.vsPrimitives?.rps ?? null;
        const p99Vs = ratio(app?.p99 ?? null, model?.p99 ?? null);
        return {
          connections,
          rps: app?.rps ?? null,
          p50: app?.p50 ?? null,
          p99: app?.p99 ?? null,
          modelRps: model?.rps ?? null,
          modelP50: model?.p50 ?? null,
          modelP99: model?.p99 ?? null,
          vsPrimitives: vs,
          // workerd process CPU per 2xx response (all isolates and threads), path and model
          cpuMsPerRequest: app?.workerdCpuMsPerRequest ?? null,
          modelCpuMsPerRequest: model?.workerdCpuMsPerRequest ?? null,
          // path ÷ model req/s of each alternating round (the verdict uses the pooled ratio above)
          roundRatios: (app?.rounds ?? []).map((r, i) => {
            const m = model?.rounds?.[i];
            return m?.rps ? r.rps / m.rps : null;
          }),
          p99VsPrimitives: p99Vs,
          meetsRps: !c.aims || vs === null ? null : vs >= c.aims.rps,
          meetsP99: !c.aims || p99Vs === null ? null : p99Vs <= c.aims.p99,
          accepted: app?.ok ?? null,
          newMessages: app?.rows?.messages ?? null,
        };
      }),
      primitives: (c.primitives ?? []).map((id) => ({
        id,
        label: byId.get(id)?.label ?? id,
        runs: connectionLevels.map((connections) => {
          const r = find(id, connections);
          return { connections, rps: r?.rps ?? null, p50: r?.p50 ?? null, p99: r?.p99 ?? null };
        }),
      })),
    }));

  // One verdict per path, connection level and metric (JSON `aims`, the last lines of the output).
  const aims = pathSummaries
    .filter((s) => s.aims)
    .flatMap((s) =>
      s.runs.flatMap((r) => [
        aimOf(s, r, "rps", r.rps, r.modelRps, r.vsPrimitives, r.meetsRps),
        aimOf(s, r, "p99", r.p99, r.modelP99, r.p99VsPrimitives, r.meetsP99),
      ]),
    );

  for (const r of results) r.failed = r.failedShare > FAIL_SHARE || r.ok === 0;
  const failures = results
    .filter((r) => r.failed)
    .map(
      (r) =>
        `${r.label} at ${r.connections} connections: ${(r.failedShare * 100).toFixed(2)}% not 2xx ` +
        `(status ${JSON.stringify(r.statusCodes)}, errors ${r.errors}, timeouts ${r.timeouts})`,
    );
  // The webhook case fails on failed sends as the others do, and on any webhook not delivered in time.
  for (const [label, r] of webhook
    ? [
        [webhook.label, webhook.app],
        [webhook.baselineLabel, webhook.baseline],
      ]
    : []) {
    if (r.failedShare > FAIL_SHARE || r.accepted === 0) {
      failures.push(
        `${label}: ${(r.failedShare * 100).toFixed(2)}% of sends not 2xx (status ${JSON.stringify(r.statusCodes)})`,
      );
    }
    if (r.lost > 0) {
      failures.push(
        `${label}: ${r.lost} of ${r.produced} webhooks not received within ${WEBHOOK_LIMITS.drainS} s of the last send`,
      );
    }
  }
  if (profileError) failures.push(profileError);
  const modelWarnings = costRows
    .filter((r) => r.modelCheck && !r.modelCheck.matches)
    .map((r) => `${r.label}: model "${r.model}" does not match the path: ${r.modelCheck.diff.join("; ")}`);

  const totalS = (performance.now() - t0) / 1000;
  console.log("");
  console.log(loadTable(results, connectionLevels));
  console.log("");
  console.log(costTable(costRows, costRequests));
  console.log("");
  for (const summary of pathSummaries) {
    console.log(pathSummary(summary, costRequests));
    console.log("");
  }
  if (webhook) {
    console.log(webhookSummary(webhook, costRequests));
    console.log("");
  }
  for (const p of profiles) {
    console.log(profileSummary(p));
    console.log("");
  }
  if (profiles.length > 0) {
    console.log("CPU per request, every profiled path, as Markdown (the tables of bench/README.md):");
    console.log("");
    console.log(profileMarkdown(profiles));
    console.log("");
  }
  console.log(
    `Total run time: ${totalS.toFixed(1)} s (${runs + (webhook ? 2 : 0)} load runs of ${durationS} s + ${warmupS} s warm-up).`,
  );

  const report = {
    startedAt: startedAt.toISOString(),
    totalSeconds: totalS,
    settings: {
      durationS,
      warmupS,
      connectionLevels,
      costRequests,
      only: only ?? null,
      extra: args.extra,
      webhookRate,
      storage: stateDir.startsWith("/dev/shm/") ? "tmpfs" : "disk",
    },
    environment: {
      node: process.version,
      cpus: availableParallelism(),
      cpuModel: cpus()[0]?.model?.trim(),
      ...versions,
      git: gitInfo(),
      compatibilityDate: config.compatibility_date,
      compatibilityFlags: config.compatibility_flags,
    },
    bundles: { app: appBundle.bytes, baseline: baselineBundle.bytes, seed: seedBundle.bytes },
    method: {
      transport: "autocannon → workerd direct socket per worker on 127.0.0.1 (Miniflare unsafeDirectSockets)",
      latency: "nearest-rank percentiles of per-response hrtime (2xx only), ms",
      rps: "2xx responses / wall time of the run",
      costPass:
        "counting wrapper around env bindings, sequential requests, separate counted copy of the worker",
      newRows:
        "Δ SELECT count(*) per table around the cost pass (after waitUntil writes drained) / its requests; " +
        "results[].rows holds the same delta around each timed run (includes requests in flight when " +
        "autocannon stopped, so it is slightly above responses)",
      webhook:
        "receiver (Node, 127.0.0.1) Date.now() once a webhook's body is in − the event's created_at (app) or " +
        "t (baseline), whole ms; the app paced at --webhook-rate by 8 connections, the baseline at the app's " +
        "accepted rate; split at webhook_attempts.attempted_at (after the claim, before guard/sign/fetch)",
    },
    results,
    cost: costRows,
    paths: pathSummaries,
    aims,
    profiles: args.profile ? profiles : null,
    webhook,
    failures,
    modelWarnings,
    runtimeLogLines: runtimeLog.count(),
  };
  await writeFile(outPath, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`JSON: ${outPath}`);

  runtimeLog.printSummary();
  for (const warning of modelWarnings) console.log(`WARNING: ${warning}`);
  if (aims.length > 0) {
    console.log("");
    console.log(aimLines(aims));
  }
  await cleanup();
  if (failures.length > 0) {
    console.error(
      `\nbench: FAILED: ${profileError ? "profiling failed, or " : ""}more than ${FAIL_SHARE * 100}% of ` +
        "responses were not 2xx:",
    );
    for (const f of failures) console.error(`  - ${f}`);
    process.exit(1);
  }
  process.exit(0);
}

// ------------------------------------------------------------------------------------------- helpers

function log(message) {
  console.log(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${message}`);
}

function fatal(message) {
  console.error(`bench: ${message}`);
  process.exit(2);
}

async function cleanup() {
  clearTimeout(watchdog);
  const instance = mf;
  mf = undefined;
  if (instance) await instance.dispose().catch(() => {});
  const server = receiver;
  receiver = undefined;
  if (server) await server.close().catch(() => {});
  if (!args.keep) {
    await rm(work, { recursive: true, force: true }).catch(() => {});
    await rm(stateDir, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * D1 and Durable Object storage goes on tmpfs (/dev/shm) when there is one. Miniflare runs every D1 query
 * in a SQLite transaction on its storage files; on a VM disk, waiting for the disk made even `SELECT 1`
 * 2–6× slower and far noisier while workerd sat mostly idle, which hides the worker-side cost this bench
 * is after. `--disk` keeps storage under os.tmpdir() instead.
 */
async function makeStateDir() {
  if (!args.disk) {
    try {
      await access("/dev/shm", constants.W_OK);
      return await mkdtemp("/dev/shm/sendwire-bench-state-");
    } catch {
      // no tmpfs here: fall through
    }
  }
  return mkdtemp(join(tmpdir(), "sendwire-bench-state-"));
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

async function readVersions() {
  const version = async (pkg) =>
    JSON.parse(await readFile(join(ROOT, "node_modules", pkg, "package.json"), "utf8")).version;
  return {
    wrangler: await version("wrangler"),
    miniflare: await version("miniflare"),
    autocannon: await version("autocannon"),
  };
}

function gitInfo() {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT }).toString().trim();
    const dirty = execFileSync("git", ["status", "--porcelain"], { cwd: ROOT }).toString().trim() !== "";
    return { commit, dirty };
  } catch {
    return null;
  }
}

/** Entry module that wraps a bundle's default export with bench/counting.js (same directory). */
async function writeCountedEntry(bundle) {
  await copyFile(join(BENCH, "counting.js"), join(bundle.dir, "bench-counting.js"));
  const module = `./${bundle.entry.slice(bundle.dir.length + 1)}`;
  const entry = join(bundle.dir, "bench-counted.js");
  await writeFile(
    entry,
    [
      `import worker from ${JSON.stringify(module)};`,
      `import { withCounting } from "./bench-counting.js";`,
      `export * from ${JSON.stringify(module)};`,
      "export default withCounting(worker);",
      "",
    ].join("\n"),
  );
  return entry;
}

/** migrations/*.sql in order, each split on drizzle's `--> statement-breakpoint`, one batch per file. */
async function applyMigrations(db) {
  const dir = join(ROOT, "migrations");
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  for (const file of files) {
    const sql = await readFile(join(dir, file), "utf8");
    const statements = sql
      .split("--> statement-breakpoint")
      .map((s) => s.trim())
      .filter(Boolean);
    await db.batch(statements.map((s) => db.prepare(s)));
  }
  return files;
}

async function userTables(db) {
  const { results } = await db
    .prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' " +
        "AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%' ORDER BY name",
    )
    .all();
  return results.map((r) => r.name);
}

async function counts(db, tables) {
  const rows = await db.batch(tables.map((t) => db.prepare(`SELECT count(*) AS n FROM "${t}"`)));
  return Object.fromEntries(tables.map((t, i) => [t, rows[i].results[0].n]));
}

/** Row counts once waitUntil writes have landed: two equal reads 150 ms apart (at most 10 s). */
async function settledCounts(db, tables) {
  const deadline = Date.now() + 10_000;
  let previous = await counts(db, tables);
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    const current = await counts(db, tables);
    if (tables.every((t) => current[t] === previous[t])) return current;
    previous = current;
  }
  return previous;
}

async function costPass(c, req, origin) {
  const call = (path, method = "GET") =>
    fetch(`${origin}${path}`, { method, signal: AbortSignal.timeout(10_000) }).then((r) => r.json());
  await call("/__bench/reset", "POST");
  const expected = String(c.expectStatus ?? 200);
  const context = {};
  for (let i = 0; i < costRequests; i++) {
    let { method, headers, body } = req;
    if (req.setupRequest) ({ method, headers, body } = req.setupRequest({ method, headers, body }, context));
    const res = await fetch(req.url, { method, headers, body, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (String(res.status) !== expected) {
      throw new Error(
        `cost pass of ${c.label}: expected ${expected}, got ${res.status}: ${text.slice(0, 300)}`,
      );
    }
  }
  // The counted wrapper books a request once its waitUntil work has settled.
  return settledCost(call, costRequests, c.label);
}

/** One aim verdict: the path's value of a metric against its model's, and the target ratio. */
function aimOf(summary, run, metric, value, modelValue, vs, meets) {
  return {
    case: summary.id,
    label: summary.label,
    connections: run.connections,
    metric,
    value,
    primitives: modelValue,
    ratio: vs,
    target: summary.aims[metric],
    meets,
  };
}

/** Several runs of one case as one: counts summed, req/s over their summed time, percentiles pooled. */
function pooled(runs) {
  const sum = (field) => runs.reduce((total, r) => total + r[field], 0);
  const latencies = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const ok = sum("ok");
  const failed = sum("non2xx") + sum("errors") + sum("timeouts");
  const statusCodes = {};
  const rows = {};
  for (const r of runs) {
    for (const [code, n] of Object.entries(r.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + n;
    for (const [table, n] of Object.entries(r.rows)) rows[table] = (rows[table] ?? 0) + n;
  }
  return {
    connections: runs[0].connections,
    durationS: sum("durationS"),
    requests: sum("requests"),
    sent: sum("sent"),
    ok,
    non2xx: sum("non2xx"),
    errors: sum("errors"),
    timeouts: sum("timeouts"),
    statusCodes,
    failedShare: ok + failed === 0 ? 1 : failed / (ok + failed),
    rps: ok / sum("durationS"),
    p50: percentile(latencies, 0.5),
    p90: percentile(latencies, 0.9),
    p99: percentile(latencies, 0.99),
    max: latencies.at(-1) ?? null,
    rows,
    workerdCpuMsPerRequest:
      runs.every((r) => r.workerdCpuMs !== null) && ok > 0 ? sum("workerdCpuMs") / ok : null,
    rounds: runs.map((r) => ({ rps: r.rps, p50: r.p50, p99: r.p99, ok: r.ok })),
  };
}

/** Does the model sequence make the same calls, inline and deferred, as the app path? */
function compareModel(app, model) {
  if (!app || !model) return null;
  const diff = [];
  for (const phase of ["inline", "deferred"]) {
    for (const field of MODEL_FIELDS) {
      const a = app[phase][field];
      const m = model[phase][field];
      // 0.15: the cached auth key lookup still reaches D1 about once a second (once in a --quick cost pass of
      // 10 requests); a query the path really makes per request shows as 1.
      if (Math.abs(a - m) > 0.15) diff.push(`${phase} ${field}: path ${fmt(a, 2)} vs model ${fmt(m, 2)}`);
    }
  }
  return { matches: diff.length === 0, diff };
}

/** Collects workerd's log lines; prints the first few as they come, counts the rest. */
function logCollector() {
  const SHOWN = 20;
  let total = 0;
  return {
    handle({ level, message }) {
      total += 1;
      if (total <= SHOWN) console.log(`  [workerd ${level}] ${message.trimEnd()}`);
      else if (total === SHOWN + 1)
        console.log("  [workerd] … further runtime log lines are counted, not shown");
    },
    count: () => total,
    printSummary() {
      if (total > 0)
        console.log(`workerd wrote ${total} log line(s) during the run (first ${SHOWN} shown above).`);
    },
  };
}
