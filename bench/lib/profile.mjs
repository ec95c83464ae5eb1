// `--profile`: CPU time per request by phase, from a V8 CPU profile of the app's isolate in workerd.
//
// The bench's Miniflare instance gets an inspector port; after the timed runs, one load run per app case
// is sampled through the Chrome DevTools Protocol (Profiler domain) on the app worker's target. Every
// sample's stack is mapped back to the original sources through the bundle's source map and classified
// by PHASE_RULES below: the innermost frame with a `stage` rule says which part of the request path it
// is, the innermost frame with a `code` rule says what kind of code burns the time.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, relative, resolve } from "node:path";
import { SourceMapConsumer } from "source-map-js";
import WebSocket from "ws";

/** Sampling interval of the V8 profiler, µs. Fine enough for 0.1 % phases over a few seconds of load. */
export const SAMPLING_INTERVAL_US = 125;

/** D1 results handled after `await` (drizzle, the binding's JS): the caller is no longer on the stack. */
const D1_RESULTS = "D1 results after await (caller not on the stack)";
/** The KeyGate Durable Object runs in the app's isolate (for the models' calls too). */
/** KeyGate's own code: in the bench it runs in a worker of its own, so this stage stays empty unless the
 * app worker hosts it (e.g. a bench configured like `wrangler dev`, where calls and DO share one isolate). */
export const KEYGATE_DO_STAGE = "KeyGate DO (same isolate)";

/**
 * What each frame of a sampled stack means, first matching rule wins. `file` is matched against the
 * frame's original source (relative to the project: `src/…`, `node_modules/<pkg>/…`), `fn` against its
 * function name. `stage`: where on the request path (the innermost frame that has one decides; a frame
 * of Hono's middleware chain starts a new stage, so a middleware's continuation after `await next()` does
 * not claim what runs after it; `orphan`: the stage of a frame no caller gave one, e.g. a library resumed
 * after `await`). `code`: what kind of code (the innermost frame that has one decides). Frames without a
 * source (V8 builtins such as JSON.parse, workerd's C++ APIs such as crypto.subtle.digest) take both
 * from their caller.
 */
export const PHASE_RULES = [
  // our code: the stage of the request path
  { file: /^src\/middleware\/request-id\.ts$/, stage: "request id", code: "own code" },
  { file: /^src\/middleware\/auth\.ts$/, stage: "auth + key lookup", code: "own code" },
  { file: /^src\/db\/api-keys\.ts$/, fn: /^findKeyBy/, stage: "auth + key lookup", code: "own code" },
  {
    file: /^src\/middleware\/key-gate\.ts$/,
    fn: /^(canonicalJson|requestFingerprint|fingerprintMaterial|withoutSecrets)$/,
    stage: "idempotency fingerprint",
    code: "own code",
  },
  { file: /^src\/middleware\/key-gate\.ts$/, stage: "KeyGate client", code: "own code" },
  { file: /^src\/durable-objects\/key-gate\.ts$/, stage: KEYGATE_DO_STAGE, code: "own code" },
  { file: /^src\/middleware\/json-body\.ts$/, stage: "JSON body parse", code: "own code" },
  { file: /^src\/middleware\/audit\.ts$/, stage: "audit", code: "own code" },
  // drizzle renders a batch's SQL when it is sent: commit() is "build the batch's SQL + send it"
  {
    file: /^src\/webhooks\/events\.ts$/,
    fn: /^commit$/,
    stage: "D1 batch: SQL build + send",
    code: "own code",
  },
  {
    file: /^src\/(routes|services)\//,
    fn: /^render[A-Z]/,
    stage: "response serialisation",
    code: "own code",
  },
  { file: /^src\/(routes|services)\//, stage: "route handler", code: "own code" },
  { file: /^src\/(index|app)\.ts$/, stage: "worker entry", code: "own code" },
  // our code that serves any stage (it keeps its caller's stage): the kind of work
  { file: /^src\/domain\/phone\.ts$/, code: "phone parsing" },
  { file: /^src\/domain\/pricing\.ts$/, code: "pricing" },
  { file: /^src\/ids\.ts$/, code: "ids (ULID)" },
  { file: /^src\//, code: "own code" },
  // libraries
  { file: /^node_modules\/zod\//, code: "Zod validation" },
  {
    file: /^node_modules\/(@hono\/zod-openapi|@hono\/zod-validator|hono\/dist\/validator)\//,
    stage: "request validation",
    code: "Zod validation",
  },
  { file: /^node_modules\/drizzle-orm\//, orphan: D1_RESULTS, code: "drizzle: SQL build / row mapping" },
  { file: /^node_modules\/libphonenumber-js\//, code: "phone parsing" },
  { file: /^node_modules\/ulidx\//, code: "ids (ULID)" },
  {
    file: /^node_modules\/hono\/dist\/context\.js$/,
    fn: /^(json|body|text|#?newResponse)$/,
    stage: "response serialisation",
    code: "Hono routing/context/response",
  },
  {
    file: /^node_modules\/hono\/dist\/(hono-base|compose)\.js$|^node_modules\/hono\/dist\/router\//,
    stage: "Hono routing + middleware chain",
    code: "Hono routing/context/response",
  },
  { file: /^node_modules\/(hono|@hono)\//, code: "Hono routing/context/response" },
  {
    file: /^node_modules\/(unenv|@cloudflare\/unenv-preset|wrangler)\//,
    code: "bundle glue (wrangler, unenv)",
  },
  { file: /^node_modules\//, code: "other libraries" },
  { file: /^bundle$/, code: "bundle glue (wrangler, unenv)" },
  // workerd's built-in JS, in the app isolate: the D1 binding's client, the rest
  {
    file: /^runtime:cloudflare-internal:(d1-api|tracing-helpers)/,
    orphan: D1_RESULTS,
    code: "D1 binding (workerd JS)",
  },
  { file: /^runtime:/, code: "workerd built-in JS" },
];

const UNKNOWN_CODE = "runtime native (outside JS: I/O, serialisation)";
/** V8's pseudo-frames (children of the root): the whole sample is theirs. */
const SPECIAL = {
  "(garbage collector)": { stage: "(none: GC)", code: "GC" },
  "(program)": { stage: "(none: outside JS)", code: UNKNOWN_CODE },
};
// a continuation resumed by the event loop with no frame of ours on the stack (e.g. drizzle mapping rows
// after `await`), and workerd's C++ callbacks (I/O completions, RPC) called with no JS caller
const UNKNOWN_STAGE = "(no stage: library continuation, event loop)";
// ------------------------------------------------------------------------------------------- capture

/**
 * Connects to one worker's V8 inspector target through workerd's inspector port.
 * @param {string} inspectorUrl ws://127.0.0.1:<port> (Miniflare's getInspectorURL())
 * @param {string} workerName   the Miniflare worker name; workerd's target id is `core:user:<name>`
 */
export async function connectProfiler(inspectorUrl, workerName) {
  const httpBase = inspectorUrl.replace(/^ws:/, "http:").replace(/\/$/, "");
  const targets = await (await fetch(`${httpBase}/json`, { signal: AbortSignal.timeout(10_000) })).json();
  const id = `core:user:${workerName}`;
  if (!targets.some((t) => t.id === id)) {
    throw new Error(`no inspector target ${id}; targets: ${targets.map((t) => t.id).join(", ")}`);
  }
  const ws = new WebSocket(`${inspectorUrl.replace(/\/$/, "")}/${id}`, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  // after the handshake, an error is followed by "close", which fails whatever is pending
  ws.on("error", () => {});
  let nextId = 0;
  const pending = new Map();
  ws.on("message", (data) => {
    const message = JSON.parse(data.toString());
    const waiter = message.id !== undefined ? pending.get(message.id) : undefined;
    if (!waiter) return; // events (Debugger.scriptParsed, …)
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(`${waiter.method}: ${message.error.message}`));
    else waiter.resolve(message.result);
  });
  ws.on("close", () => {
    for (const waiter of pending.values()) waiter.reject(new Error("inspector connection closed"));
    pending.clear();
  });
  /** @returns {Promise<any>} */
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      if (ws.readyState !== WebSocket.OPEN) {
        reject(new Error(`${method}: the inspector connection is closed`));
        return;
      }
      const id = ++nextId;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${method}: no answer from the inspector within 60 s`));
      }, 60_000);
      pending.set(id, {
        method,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      ws.send(JSON.stringify({ id, method, params }));
    });
  // Without the Debugger domain workerd's samples carry no JS frames (all "(program)").
  await send("Runtime.enable");
  await send("Debugger.enable");
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: SAMPLING_INTERVAL_US });
  return {
    start: () => send("Profiler.start"),
    /** @returns {Promise<CpuProfile>} */
    stop: async () => (await send("Profiler.stop")).profile,
    close: async () => {
      await send("Profiler.disable").catch(() => {});
      await send("Debugger.disable").catch(() => {});
      ws.close();
    },
  };
}

/**
 * @typedef {{ id: number, callFrame: { functionName: string, url: string, lineNumber: number,
 *   columnNumber: number, scriptId: string }, children?: number[] }} ProfileNode
 * @typedef {{ nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number,
 *   endTime: number }} CpuProfile
 */

// ------------------------------------------------------------------------------------------ analysis

/**
 * Maps positions in the bundle back to project files: the source map gives the original file and line;
 * where a package's own source map names a file that is not there (drizzle-orm's point at `../src/*.ts`,
 * which it does not ship), the module esbuild says the code came from (its `// path` markers) names it.
 * @param {string} bundlePath the bundled module; its map is `<bundlePath>.map` (wrangler
 *                            `upload_source_maps`), its wrangler config one directory up
 * @param {string} root       the project root: files come out as `src/…`, `node_modules/<pkg>/…`
 */
export async function loadSourceMap(bundlePath, root) {
  const mapPath = `${bundlePath}.map`;
  const outDir = dirname(bundlePath);
  const raw = JSON.parse(await readFile(mapPath, "utf8"));
  const consumer = new SourceMapConsumer(raw);
  const projectPath = (abs) => {
    const path = relative(root, abs).replaceAll("\\", "/");
    // a dependency's dependency (node_modules/a/node_modules/b/…) counts as b
    const nm = path.lastIndexOf("node_modules/");
    return nm > 0 ? path.slice(nm) : path;
  };
  // esbuild's module markers: `// ../../src/app.ts` starts the code of that module (paths relative to
  // the wrangler config's directory); lines up to the next marker belong to it.
  const markers = [];
  const lines = (await readFile(bundlePath, "utf8")).split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^\/\/ ((?:\.\.\/)*[\w@.+-]+(?:\/[\w@.+-]+)+)$/.exec(lines[i]);
    if (m) markers.push({ line: i, file: projectPath(resolve(outDir, "..", m[1])) });
  }
  const moduleAt = (line) => {
    let lo = 0;
    let hi = markers.length - 1;
    let found = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (markers[mid].line <= line) {
        found = markers[mid].file;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
  const sources = new Map();
  const source = (name) => {
    let known = sources.get(name);
    if (known === undefined) {
      const abs = resolve(outDir, name.replace(/^file:\/\//, ""));
      known = { file: projectPath(abs), exists: existsSync(abs) };
      sources.set(name, known);
    }
    return known;
  };
  return {
    bundleName: basename(bundlePath),
    /** 0-based line/column in the bundle → { file, line (1-based, original), mapped (the map's file) } */
    lookup(line, column) {
      const pos = consumer.originalPositionFor({
        line: line + 1,
        column,
        bias: SourceMapConsumer.GREATEST_LOWER_BOUND,
      });
      const mapped = pos.source ? source(pos.source) : null;
      if (mapped?.exists) return { file: mapped.file, line: pos.line, mapped: null };
      const file = moduleAt(line);
      if (!file) return null;
      return { file, line: mapped ? pos.line : line + 1, mapped: mapped?.file ?? null };
    },
  };
}

/**
 * CPU time by phase per request: every sample but `(idle)` stands for one sampling period of CPU in the
 * isolate (see samplingPeriod), classified by its stack.
 * @param {CpuProfile} profile
 * @param {Awaited<ReturnType<typeof loadSourceMap>>} map
 * @param {number} requests 2xx responses completed in the profiling window
 */
export function analyseProfile(profile, map, requests) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const root = profile.nodes.find((n) => !parent.has(n.id));

  // Each node: its frame's source, and the stage/code inherited from its callers (innermost wins).
  const frames = new Map();
  const state = new Map();
  const frameOf = (n) => {
    const { url, lineNumber, columnNumber, functionName } = n.callFrame;
    const name = functionName || "(anonymous)";
    if (!url) return { file: null, where: "(native)", name };
    if (url === map.bundleName || url.endsWith(`/${map.bundleName}`)) {
      const pos = map.lookup(lineNumber, columnNumber);
      if (!pos) return { file: "bundle", where: `${map.bundleName}:${lineNumber + 1}`, name };
      // a package whose own map names a missing file: its module, and the line in that map's source
      const where = pos.mapped
        ? `${pos.file} (${pos.mapped.replace(/^node_modules\//, "")}:${pos.line})`
        : `${pos.file}:${pos.line}`;
      return { file: pos.file, where, name };
    }
    return { file: `runtime:${url}`, where: `${url}:${lineNumber + 1}`, name };
  };
  const ruleOf = (frame) =>
    frame.file === null
      ? null
      : (PHASE_RULES.find((r) => r.file.test(frame.file) && (!r.fn || r.fn.test(frame.name))) ?? null);
  /** @type {{ id: number, inherited: { stage: string, code: string } }[]} */
  const walk = [{ id: root.id, inherited: { stage: UNKNOWN_STAGE, code: UNKNOWN_CODE } }];
  while (walk.length > 0) {
    const { id, inherited } = walk.pop();
    const n = byId.get(id);
    const frame = frameOf(n);
    frames.set(id, frame);
    const rule = ruleOf(frame);
    const orphan = inherited.stage === UNKNOWN_STAGE ? rule?.orphan : undefined;
    const own = SPECIAL[n.callFrame.functionName] ?? {
      stage: rule?.stage ?? orphan ?? inherited.stage,
      code: rule?.code ?? inherited.code,
    };
    state.set(id, own);
    for (const c of n.children ?? []) walk.push({ id: c, inherited: own });
  }

  const periodUs = samplingPeriod(profile);
  const phases = new Map();
  const self = new Map();
  let busy = 0;
  let idle = 0;
  for (const id of profile.samples) {
    if (byId.get(id).callFrame.functionName === "(idle)") {
      idle += 1;
      continue;
    }
    busy += 1;
    const { stage, code } = state.get(id);
    const key = `${stage}\u0000${code}`;
    phases.set(key, (phases.get(key) ?? 0) + periodUs);
    const f = frames.get(id);
    const fn = `${f.name}\u0000${f.where}`;
    self.set(fn, (self.get(fn) ?? 0) + periodUs);
  }
  const busyUs = busy * periodUs;
  const idleUs = idle * periodUs;
  const wallUs = profile.endTime - profile.startTime;

  const perRequest = (us) => (requests > 0 ? us / 1000 / requests : null);
  const entry = (us) => ({ ms: us / 1000, msPerRequest: perRequest(us), share: us / busyUs });
  const rows = [...phases.entries()].map(([key, us]) => {
    const [stage, code] = key.split("\u0000");
    return { stage, code, ...entry(us) };
  });
  const sum = (field) => {
    const totals = new Map();
    for (const r of rows) totals.set(r[field], (totals.get(r[field]) ?? 0) + r.ms * 1000);
    return [...totals.entries()].map(([name, us]) => ({ name, ...entry(us) })).sort((a, b) => b.ms - a.ms);
  };
  const stages = sum("stage");
  const stageRank = new Map(stages.map((s, i) => [s.name, i]));
  rows.sort((a, b) => stageRank.get(a.stage) - stageRank.get(b.stage) || b.ms - a.ms);
  const topFunctions = [...self.entries()]
    .map(([key, us]) => {
      const [name, where] = key.split("\u0000");
      return { name, where, ...entry(us) };
    })
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 15);
  return {
    requests,
    samplingIntervalUs: SAMPLING_INTERVAL_US,
    samplingPeriodUs: periodUs,
    samples: profile.samples.length,
    wallMs: wallUs / 1000,
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    elsewhereMs: Math.max(0, wallUs - busyUs - idleUs) / 1000,
    cpuMsPerRequest: perRequest(busyUs),
    phases: rows,
    stages,
    codes: sum("code"),
    topFunctions,
  };
}

/**
 * The sampling period V8 actually achieved, µs (on a loaded 2-core machine about twice the interval asked
 * for): the mean of the short intervals, those up to 1.5× the lower quartile. Longer ones are gaps: V8
 * takes no sample while the thread runs another isolate, which is most of the time for a light one.
 * @param {CpuProfile} profile
 */
function samplingPeriod(profile) {
  const intervals = profile.timeDeltas
    .slice(1)
    .filter((d) => d > 0)
    .sort((a, b) => a - b);
  if (intervals.length === 0) return SAMPLING_INTERVAL_US;
  const quartile = intervals[Math.floor(intervals.length / 4)];
  const short = intervals.filter((d) => d <= 1.5 * quartile);
  return short.reduce((a, b) => a + b, 0) / short.length;
}

/**
 * CPU time (user + system, all threads) of the workerd processes Miniflare started from this process,
 * in ms; null where /proc is not there. Clock ticks are USER_HZ, 100 on Linux.
 */
export function workerdCpuMs() {
  try {
    let ticks = 0;
    let found = false;
    for (const pid of readdirSync("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      let stat;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      } catch {
        continue; // gone meanwhile
      }
      // pid (comm) state ppid … utime(14) stime(15)
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const fields = stat.slice(close + 2).split(" ");
      if (comm !== "workerd" || Number(fields[1]) !== process.pid) continue;
      found = true;
      ticks += Number(fields[11]) + Number(fields[12]);
    }
    return found ? ticks * 10 : null;
  } catch {
    return null;
  }
}
