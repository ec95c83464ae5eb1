// `npm start`: everything a fresh clone needs to serve the API locally, in one command, without prompts.
//   1. .dev.vars from .dev.vars.example (empty values become random secrets); an existing one gets the
//      settings it lacks appended, and a value the worker cannot use stops us (lib/dev-vars.mjs)
//   2. local D1 migrations
//   3. the development tenant + one all-scope sandbox key, printed once (lib/local-db.mjs)
//   4. `wrangler dev` on http://localhost:8787 (loopback only; `--port N` or PORT=N for another port), plus
//      the cron triggers of wrangler.toml, because `wrangler dev` never fires them by itself.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { constants } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { checkDevVars, createDevVars, mergeDevVars, parseDevVars } from "./lib/dev-vars.mjs";
import {
  applyMigrations,
  BASE_URL,
  createDevKey,
  DEV_TENANT_NAME,
  findDevTenant,
  PORT,
  printKey,
  ROOT,
  WRANGLER,
} from "./lib/local-db.mjs";
import { DEFAULT_PORT } from "./lib/port.mjs";

// workerd listens on 127.0.0.1 only; `localhost` reaches it too (clients fall back to IPv4).
const ORIGIN = `http://127.0.0.1:${PORT}`;
const MINUTE = 60_000;

const list = (names) => names.join(", ");

/**
 * Makes .dev.vars hold every setting of .dev.vars.example: creates it, or appends what an older copy
 * lacks (never changing a line the developer wrote), and refuses values the worker cannot use. Returns
 * the settings it holds.
 */
function ensureDevVars() {
  const target = join(ROOT, ".dev.vars");
  const example = readFileSync(join(ROOT, ".dev.vars.example"), "utf8");
  // An empty example value is a secret to generate: every clone gets its own, none is committed.
  const secret = () => randomBytes(32).toString("base64");
  if (!existsSync(target)) {
    writeFileSync(target, createDevVars(example, secret).text, { mode: 0o600 });
    console.log("Created .dev.vars from .dev.vars.example");
    return parseDevVars(readFileSync(target, "utf8"));
  }
  const current = readFileSync(target, "utf8");
  const problems = checkDevVars(parseDevVars(current));
  if (problems.length) throw new Error(`Cannot start: ${problems.join("\n")}`);
  const merged = mergeDevVars(current, example, secret);
  if (merged.added.length) {
    writeFileSync(target, merged.text);
    const added = merged.added.map((name) =>
      merged.generated.includes(name) ? `${name} (a new random secret)` : name,
    );
    console.log(
      `.dev.vars lacked settings of .dev.vars.example; added ${list(added)}. Your other lines are unchanged.`,
    );
  }
  return parseDevVars(merged.text);
}

/**
 * `--var PUBLIC_BASE_URL:…` for wrangler dev, so callback URLs (Twilio's StatusCallback, inbound URLs) name
 * the port we serve on: wrangler.toml's value is for 8787. Nothing when .dev.vars sets it (a tunnel, say).
 */
function publicBaseUrlArgs(devVars) {
  const own = devVars.get("PUBLIC_BASE_URL");
  if (own === undefined) return ["--var", `PUBLIC_BASE_URL:${BASE_URL}`];
  const url = new URL(own);
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  if (["localhost", "127.0.0.1"].includes(url.hostname) && port !== PORT) {
    console.warn(
      `Note: PUBLIC_BASE_URL in .dev.vars is ${url.origin}, but the server listens on port ${PORT}.`,
    );
  }
  return [];
}

/** A new sandbox key when the development tenant had to be created; null when it already existed. */
function ensureDevTenant() {
  const tenant = findDevTenant();
  if (!tenant) return createDevKey("test");
  const prefixes = tenant.prefixes.length ? tenant.prefixes.map((p) => `${p}…`).join(", ") : "none active";
  console.log(`${DEV_TENANT_NAME} (${tenant.id}) already exists. Keys: ${prefixes}`);
  console.log("Stored keys are hashed and cannot be shown again; for a new one run: npm run dev:key");
  return null;
}

function portInUse(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function startWrangler(devVars) {
  const args = [
    "dev",
    "--port",
    String(PORT),
    "--ip",
    "127.0.0.1",
    "--show-interactive-dev-session=false",
    "--test-scheduled",
    ...publicBaseUrlArgs(devVars),
  ];
  // No stdin: wrangler stays non-interactive (no hotkey bar), Ctrl+C reaches it as a signal.
  // The preload keeps Miniflare's local queues delivering after a batch longer than 5 s (see the file).
  const preload = ["--import", pathToFileURL(join(ROOT, "scripts/lib/keep-idle-connections.mjs")).href];
  return spawn(process.execPath, [...preload, WRANGLER, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit"],
  });
}

async function waitUntilHealthy(child) {
  while (child.exitCode === null && child.signalCode === null) {
    try {
      const res = await fetch(`${ORIGIN}/healthz`, { signal: AbortSignal.timeout(5_000) });
      await res.body?.cancel();
      if (res.ok) return true;
    } catch {
      // Not listening yet.
    }
    await sleep(300);
  }
  return false;
}

function readCrons() {
  const toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
  const list = /^\s*crons\s*=\s*\[([^\]]*)\]/m.exec(toml)?.[1] ?? "";
  return [...list.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
}

/** Fires a cron trigger the way Cloudflare does: `scheduledTime` is the minute it was due. */
async function fireCron(cron, time) {
  const url = `${ORIGIN}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent(cron)}&time=${time}`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(50_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
  } catch (error) {
    console.error(`[cron] "${cron}" at ${new Date(time).toISOString()} failed: ${error.message}`);
  }
}

/**
 * Fires every-minute crons at the start of each minute until stopped. Other schedules would need a cron
 * parser; none is configured, so they are only announced with the URL to fire them by hand.
 */
function startCronTicker(crons) {
  const everyMinute = crons.filter((cron) => cron.trim().split(/\s+/).join(" ") === "* * * * *");
  for (const cron of crons.filter((c) => !everyMinute.includes(c))) {
    console.warn(
      `[cron] "${cron}" is not fired locally; by hand: curl "${ORIGIN}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent(cron)}"`,
    );
  }
  let timer;
  const tickAt = (due) => {
    timer = setTimeout(() => {
      for (const cron of everyMinute) fireCron(cron, due);
      // Next boundary, skipping minutes missed while the machine slept (Cloudflare does not catch up either).
      tickAt(Math.max(due + MINUTE, Math.ceil(Date.now() / MINUTE) * MINUTE));
    }, due - Date.now());
  };
  if (everyMinute.length) {
    tickAt(Math.ceil(Date.now() / MINUTE) * MINUTE);
    console.log(`Cron ${everyMinute.map((c) => `"${c}"`).join(", ")} fires at the start of every minute.`);
  }
  return () => clearTimeout(timer);
}

async function main() {
  if (await portInUse(PORT)) {
    const other = PORT === DEFAULT_PORT ? " or pick another port: PORT=8788 npm start" : "";
    console.error(
      `Port ${PORT} is already in use (another \`npm start\` or \`wrangler dev\`?). Stop it and retry${other}.`,
    );
    process.exit(1);
  }
  const devVars = ensureDevVars();
  applyMigrations();
  let newKey = ensureDevTenant();
  const showKey = () => {
    if (newKey) printKey(newKey, "test");
    newKey = null;
  };

  const child = startWrangler(devVars);
  let stopCron = () => {};
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  // `npm start` runs us via `sh -c`, which does not pass on the SIGTERM npm forwards: stop with the parent.
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && child.kill("SIGTERM"), 1_000).unref();
  child.on("error", (error) => {
    console.error(`Could not start wrangler: ${error.message}`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => {
    stopCron();
    showKey(); // Never lose a freshly created key, even when the server did not come up.
    process.exit(code ?? 128 + (constants.signals[signal] ?? 0));
  });

  if (!(await waitUntilHealthy(child))) return;
  showKey();
  console.log(`Sendwire is running on ${BASE_URL} (API reference: ${BASE_URL}/docs). Ctrl+C stops it.`);
  stopCron = startCronTicker(readCrons());
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
