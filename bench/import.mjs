// `npm run bench -- --only import` (or `node bench/import.mjs`): a generated CSV (100,000 rows by default,
// 5 % invalid phone numbers, 5 % duplicates of earlier rows) imported end to end through POST
// /v1/contact-imports as a raw body, on the app as `wrangler deploy` bundles it, in one Miniflare instance
// with its sends queue consumed by the app (the import job runs there), D1 + R2 + KeyGate local.
// Prints rows/s, total seconds, D1 statements per row (bench/counting.js wraps the app) and workerd's peak
// resident memory, for a small file first and then the big one, so memory that grows with the file shows.
//
//   options: --rows N (default 100000)  --small N (default 20000; 0 skips the comparison run)  --keep
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { copyFile, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Log, LogLevel, Miniflare } from "miniflare";
import { unstable_getDurableObjectClassNameToUseSQLiteMap, unstable_readConfig } from "wrangler";
import { bundleWorker, stopBundlers } from "./lib/bundle.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BENCH = join(ROOT, "bench");
const WRANGLER_CLI = join(ROOT, "node_modules", "wrangler", "wrangler-dist", "cli.js");
const SECRETS_KEY = Buffer.from("bench-only-throwaway-key-32bytes").toString("base64");
const AIM_SECONDS = 60;

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== "--only" && a !== "import"),
  options: {
    rows: { type: "string", default: "100000" },
    small: { type: "string", default: "20000" },
    keep: { type: "boolean", default: false },
  },
  strict: false,
});
const bigRows = Number(args.rows);
const smallRows = Number(args.small);

const t0 = performance.now();
const log = (m) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${m}`);

/** A CSV of `n` data rows: 5 % invalid phone numbers, 5 % exact duplicates of an earlier row. */
export function generateCsv(n, seed = 1) {
  let x = seed;
  const rand = () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
  const lines = ["phone,email,name,external_id,tags,plan,orders,city"];
  const made = [];
  const plans = ["free", "pro", "team"];
  const cities = ["São Paulo", "Recife", "Rio de Janeiro", "Curitiba"];
  for (let i = 0; i < n; i++) {
    const r = rand();
    let line;
    if (r < 0.05 && made.length > 0) line = made[Math.floor(rand() * made.length)];
    else if (r < 0.1)
      line = `+55 11 9${String(i % 1000).padStart(3, "0")},bad${i}@example.com,Bad ${i},,x,free,0,Recife`;
    else {
      const phone = `+55119${String(10_000_000 + i).slice(-8)}`;
      line =
        `${phone},user${i}@example.com,"Person ${i}, Jr",ext-${i},vip;b${i % 7},${plans[i % 3]},${i % 50},` +
        `${cities[i % 4]}`;
      made.push(line);
    }
    lines.push(line);
  }
  return `${lines.join("\n")}\n`;
}

/** Resident memory (VmRSS, kB) of every workerd process started by this one, and their pids. */
function workerdRssKb() {
  let total = 0;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      if (!/^Name:\s+workerd/m.test(status)) continue;
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
      if (ppid !== process.pid) continue;
      total += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    } catch {
      // the process ended while we looked
    }
  }
  return total;
}

/**
 * Runs `start` (Miniflare's start-up) with every Node HTTP server it creates keeping idle keep-alive
 * connections open. Miniflare's queue broker reports each batch's outcome ("QUEUE … 1/1") to this process
 * over a pooled connection to its loopback server, a Node http.Server, which closes a connection idle for 5 s
 * (Node's default keepAliveTimeout). An import job works for seconds (JOB_BUDGET_MS), so that connection goes
 * stale under it: the broker's report after the batch then fails with "Network connection lost.", its flush
 * throws before it clears its pending-flush flag, and the queue never delivers again (the job a hand-over
 * queued is never run). Miniflare closes the connections itself on dispose.
 */
async function withIdleConnectionsKept(start) {
  const createServer = http.createServer;
  let servers = 0;
  http.createServer = (...args) => {
    const server = createServer(...args);
    server.keepAliveTimeout = 0; // 0: no idle timeout
    servers += 1;
    return server;
  };
  try {
    await start();
  } finally {
    http.createServer = createServer;
  }
  if (servers === 0) {
    console.warn(
      "bench import: Miniflare created no loopback server through http.createServer; a job longer than 5 s may stall its queue",
    );
  }
}

/** GET with a few retries: a reused keep-alive socket may be closed by workerd while the import job holds
 * the isolate (bounded: 5 tries). */
async function poll(url, secret) {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(url, {
        headers: { authorization: `Bearer ${secret}` },
        signal: AbortSignal.timeout(30_000),
      });
      return await res.json();
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
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

async function main() {
  const work = await mkdtemp(join(tmpdir(), "sendwire-bench-import-"));
  const state = await mkdtemp(join(tmpdir(), "sendwire-bench-import-state-"));
  let mf;
  const cleanup = async () => {
    if (mf) await mf.dispose().catch(() => {});
    await stopBundlers();
    if (!args.keep) {
      rmSync(work, { recursive: true, force: true });
      rmSync(state, { recursive: true, force: true });
    }
  };
  const watchdog = setTimeout(
    () => {
      console.error("bench import: still running after 15 minutes, giving up");
      cleanup().finally(() => process.exit(2));
    },
    15 * 60 * 1000,
  );
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
    // The app wrapped by bench/counting.js: its requests AND its queue batches are counted.
    await copyFile(join(BENCH, "counting.js"), join(app.dir, "bench-counting.js"));
    const module = `./${app.entry.slice(app.dir.length + 1)}`;
    const counted = join(app.dir, "bench-counted.js");
    await writeFile(
      counted,
      `import worker from ${JSON.stringify(module)};\nimport { withCounting } from "./bench-counting.js";\n` +
        `export * from ${JSON.stringify(module)};\nexport default withCounting(worker);\n`,
    );
    log(`bundled app (${(app.bytes / 1024).toFixed(0)} KiB)`);

    const sends = config.queues.consumers.find((q) => q.queue === "sendwire-sends");
    const sqlite = unstable_getDurableObjectClassNameToUseSQLiteMap(config.migrations);
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
      durableObjects: Object.fromEntries(
        config.durable_objects.bindings.map((b) => [
          b.name,
          { className: b.class_name, useSQLite: sqlite.get(b.class_name) ?? false },
        ]),
      ),
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
      ...extra,
    });
    const shared = {
      host: "127.0.0.1",
      port: 0,
      cf: false,
      defaultPersistRoot: state,
      log: new Log(process.env.BENCH_LOG === "debug" ? LogLevel.DEBUG : LogLevel.WARN),
    };
    await withIdleConnectionsKept(() => {
      mf = new Miniflare({
        ...shared,
        workers: [
          worker("sendwire", app, process.env.BENCH_UNCOUNTED ? app.entry : counted, {
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
      return mf.ready;
    });
    await applyMigrations(await mf.getD1Database("DB", "sendwire"));
    const seeded = await fetch(await mf.unsafeGetDirectURL("bench-seed"), {
      method: "POST",
      body: JSON.stringify({ extraKeys: 0, webhookUrl: "http://127.0.0.1:9/unused" }),
    });
    if (!seeded.ok) throw new Error(`seeding failed: ${seeded.status} ${await seeded.text()}`);
    const { secret } = await seeded.json();
    const origin = (await mf.unsafeGetDirectURL("sendwire")).href.replace(/\/$/, "");
    log("app up (counted), tenant seeded");

    const results = [];
    for (const [i, n] of [smallRows, bigRows].filter((r) => r > 0).entries()) {
      const csv = generateCsv(n, i + 1);
      const bytes = Buffer.byteLength(csv);
      await fetch(`${origin}/__bench/reset`, { method: "POST" });
      const baseRss = workerdRssKb();
      let peak = baseRss;
      const sampler = setInterval(() => {
        peak = Math.max(peak, workerdRssKb());
      }, 100);
      const started = performance.now();
      const res = await fetch(`${origin}/v1/contact-imports?tags=bench`, {
        method: "POST",
        headers: { authorization: `Bearer ${secret}`, "content-type": "text/csv" },
        body: csv,
      });
      const created = await res.json();
      if (res.status !== 202) throw new Error(`upload answered ${res.status}: ${JSON.stringify(created)}`);
      const uploadedS = (performance.now() - started) / 1000;
      let last;
      for (let tries = 0; tries < 6000; tries++) {
        last = await poll(`${origin}/v1/contact-imports/${created.id}`, secret);
        if (last.status === "completed" || last.status === "failed") break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const seconds = (performance.now() - started) / 1000;
      clearInterval(sampler);
      peak = Math.max(peak, workerdRssKb());
      if (last?.status !== "completed")
        throw new Error(`import did not complete: ${JSON.stringify(last).slice(0, 500)}`);
      const cost = await (await fetch(`${origin}/__bench/cost`)).json().catch(() => null);
      const statements = cost?.inline ? cost.inline.d1Statements + cost.deferred.d1Statements : Number.NaN;
      const result = {
        rows: n,
        mb: bytes / 1e6,
        seconds,
        uploadedS,
        rowsPerSecond: n / seconds,
        statementsPerRow: statements / n,
        peakRssMb: peak / 1024,
        baseRssMb: baseRss / 1024,
        counts: last.counts,
      };
      results.push(result);
      log(
        `${n} rows (${result.mb.toFixed(1)} MB): ${seconds.toFixed(1)} s (upload ${uploadedS.toFixed(1)} s), ` +
          `${result.rowsPerSecond.toFixed(0)} rows/s, ${result.statementsPerRow.toFixed(4)} D1 statements/row ` +
          `(${statements} in ${cost?.requests} requests/queue batches), workerd peak RSS ${result.peakRssMb.toFixed(0)} MB ` +
          `(${result.baseRssMb.toFixed(0)} MB before); counts ${JSON.stringify(last.counts)}`,
      );
    }
    const big = results.at(-1);
    console.log(
      `\nimport aim: ${big.rows} rows in < ${AIM_SECONDS} s: ${big.seconds.toFixed(1)} s → ${big.seconds < AIM_SECONDS ? "MEETS" : "MISSES"}`,
    );
    if (results.length === 2) {
      const [small] = results;
      const smallGrowth = small.peakRssMb - small.baseRssMb;
      const bigGrowth = big.peakRssMb - big.baseRssMb;
      const extraFileMb = big.mb - small.mb;
      // A file held whole (bytes + parsed rows as JS objects) costs many times its size; D1's and R2's own
      // storage runs in the same workerd process, so some growth with the data imported is expected.
      const streamed = bigGrowth - smallGrowth < 3 * extraFileMb;
      console.log(
        `memory: workerd peak RSS grew ${smallGrowth.toFixed(0)} MB importing ${small.rows} rows (${small.mb.toFixed(1)} MB) and ` +
          `${bigGrowth.toFixed(0)} MB importing ${big.rows} rows (${big.mb.toFixed(1)} MB): ` +
          `${(bigGrowth - smallGrowth).toFixed(0)} MB more for ${extraFileMb.toFixed(1)} MB more file → ` +
          `${streamed ? "MEETS (does not grow with the file)" : "MISSES (grows with the file)"}`,
      );
    }
  } finally {
    clearTimeout(watchdog);
    await cleanup();
  }
}

await main().catch((error) => {
  console.error(
    `bench import: FAILED: ${error?.stack ?? error}${error?.cause ? ` (cause: ${error.cause?.stack ?? error.cause})` : ""}`,
  );
  process.exit(1);
});
