// Webhook latency for `npm run bench`: "event created → receiver got it" under load, beside the bare
// platform path a webhook takes (queue send → queue consumer → fetch()), measured in the same run.
//
// The receiver is a Node HTTP server on 127.0.0.1 in the bench process. For every POST it notes when the
// whole request was in (Date.now() once the body has arrived: a receiver can verify and act on it from
// then) and when its event was created, from the body: the app's `created_at` (ISO, ms: `now` of the
// accepting request), the baseline's `t` (Date.now() in the baseline worker right before its queue send).
// Both are this machine's wall clock read in whole milliseconds (workerd's Date.now() and Node's), so the
// latencies are whole milliseconds too.
import { createServer } from "node:http";
import { percentile, runLoad, settledCost } from "./load.mjs";

export const WEBHOOK_LIMITS = Object.freeze({
  /** After a load run, wait at most this long for its last deliveries (whatever is missing then is lost). */
  drainS: 15,
  /** The probe's one delivery must arrive within this. */
  probeS: 10,
  /** Deliveries are "all in" once the count of events produced has not moved for this long. */
  settleMs: 300,
  pollMs: 100,
  maxRecords: 1_000_000,
  maxBodyBytes: 65_536,
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * @typedef {{ id: string, created: number, arrived: number }} Arrival
 * @typedef {object} Sink  what arrived on one receiver path
 * @property {number} requests    every POST
 * @property {number} malformed   bodies without an id and a creation time
 * @property {number} duplicates  an id seen before (a redelivery)
 * @property {Arrival[]} arrivals distinct events in arrival order (at most WEBHOOK_LIMITS.maxRecords)
 */

/** Event id and creation time (ms) from the app's webhook body, or null. */
function readAppEvent(body) {
  const created = typeof body?.created_at === "string" ? Date.parse(body.created_at) : Number.NaN;
  return typeof body?.id === "string" && Number.isFinite(created) ? { id: body.id, created } : null;
}

/** The same from the baseline's `{ id, t }`. */
function readBaselineEvent(body) {
  return typeof body?.id === "string" && Number.isFinite(body?.t) ? { id: body.id, created: body.t } : null;
}

function newSink(read) {
  const ids = new Set();
  /** @type {Sink} */
  const sink = { requests: 0, malformed: 0, duplicates: 0, arrivals: [] };
  const add = (arrived, text) => {
    sink.requests += 1;
    let event = null;
    try {
      event = text === null ? null : read(JSON.parse(text));
    } catch {
      event = null;
    }
    if (!event) sink.malformed += 1;
    else if (ids.has(event.id)) sink.duplicates += 1;
    else if (sink.arrivals.length < WEBHOOK_LIMITS.maxRecords) {
      ids.add(event.id);
      sink.arrivals.push({ id: event.id, created: event.created, arrived });
    }
  };
  return { sink, add };
}

/**
 * Starts the receiver on 127.0.0.1 (a free port): `POST /app` for the app's webhooks, `POST /baseline`
 * for the baseline's; both answer 200 with a 2-byte body as soon as the request body is in.
 * @returns {Promise<{ appUrl: string, baselineUrl: string, sinks: { app: Sink, baseline: Sink },
 *   close: () => Promise<void> }>}
 */
export async function startReceiver() {
  const app = newSink(readAppEvent);
  const baseline = newSink(readBaselineEvent);
  const server = createServer((req, res) => {
    const target =
      req.method !== "POST" ? null : req.url === "/app" ? app : req.url === "/baseline" ? baseline : null;
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size <= WEBHOOK_LIMITS.maxBodyBytes) chunks.push(chunk);
    });
    req.on("end", () => {
      const arrived = Date.now();
      res.writeHead(target ? 200 : 404, { "content-type": "text/plain", "content-length": "2" });
      res.end(target ? "ok" : "no");
      if (target)
        target.add(arrived, size <= WEBHOOK_LIMITS.maxBodyBytes ? Buffer.concat(chunks).toString() : null);
    });
    req.on("error", () => res.destroy());
  });
  // The consumer keeps its connections alive between batches; don't close them under it.
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
  return {
    appUrl: `http://127.0.0.1:${port}/app`,
    baselineUrl: `http://127.0.0.1:${port}/baseline`,
    sinks: { app: app.sink, baseline: baseline.sink },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Waits (bounded: WEBHOOK_LIMITS.drainS) until the sink has as many new events as were produced since
 * `before`, and that count has stopped moving (sends still in flight when the load stopped land too).
 * @param {Sink} sink
 * @param {() => Promise<number>} produced  events produced so far, as the producer counts them
 * @param {{ produced: number, received: number }} before
 */
async function waitForDeliveries(sink, produced, before) {
  const started = Date.now();
  const deadline = started + WEBHOOK_LIMITS.drainS * 1000;
  let expected = (await produced()) - before.produced;
  let stableSince = Date.now();
  const maxPolls = Math.ceil((WEBHOOK_LIMITS.drainS * 1000) / WEBHOOK_LIMITS.pollMs) + 1;
  for (let poll = 0; poll < maxPolls && Date.now() < deadline; poll++) {
    const received = sink.arrivals.length - before.received;
    if (received >= expected && Date.now() - stableSince >= WEBHOOK_LIMITS.settleMs) {
      return { complete: true, expected, waitedMs: Date.now() - started };
    }
    await sleep(WEBHOOK_LIMITS.pollMs);
    const now = (await produced()) - before.produced;
    if (now !== expected) {
      expected = now;
      stableSince = Date.now();
    }
  }
  return {
    complete: sink.arrivals.length - before.received >= expected,
    expected,
    waitedMs: Date.now() - started,
  };
}

/**
 * One path: warm-up (and its deliveries), then the timed load and a bounded wait for its deliveries.
 * @param {object} o
 * @param {string} o.name
 * @param {Sink} o.sink
 * @param {object} o.request    for runLoad: url, method, headers, body, setupRequest
 * @param {() => Promise<number>} o.produced
 * @param {number} o.connections
 * @param {number} o.durationS
 * @param {number} o.warmupS
 * @param {number} [o.overallRate]  sends/s over all connections; undefined = closed loop
 * @returns {Promise<{ result: object, arrivals: Arrival[] }>}
 */
async function measurePath({ name, sink, request, produced, connections, durationS, warmupS, overallRate }) {
  if (warmupS > 0) {
    const before = { produced: await produced(), received: sink.arrivals.length };
    await runLoad({ ...request, connections, durationS: warmupS, overallRate });
    const warm = await waitForDeliveries(sink, produced, before);
    // Its stragglers would land in the timed window: better no figure than a wrong one.
    if (!warm.complete) {
      throw new Error(`${name}: warm-up deliveries still missing after ${WEBHOOK_LIMITS.drainS} s`);
    }
  }
  const before = { produced: await produced(), received: sink.arrivals.length };
  const duplicatesBefore = sink.duplicates;
  const malformedBefore = sink.malformed;
  const startedAt = Date.now();
  const load = await runLoad({ ...request, connections, durationS, overallRate });
  const endedAt = Date.now();
  const wait = await waitForDeliveries(sink, produced, before);
  const arrivals = sink.arrivals.slice(before.received);
  const lastArrival = arrivals.reduce((last, a) => Math.max(last, a.arrived), startedAt);
  const result = {
    connections,
    overallRate: overallRate ?? null,
    durationS: load.durationS,
    // the sends, as autocannon saw them
    accepted: load.ok,
    sendRps: load.rps,
    sendP50: load.p50,
    sendP99: load.p99,
    notOk: load.non2xx + load.errors + load.timeouts,
    statusCodes: load.statusCodes,
    failedShare: load.failedShare,
    // the deliveries, as the receiver saw them
    produced: wait.expected,
    delivered: arrivals.length,
    lost: Math.max(0, wait.expected - arrivals.length),
    duplicates: sink.duplicates - duplicatesBefore,
    malformed: sink.malformed - malformedBefore,
    deliveredRps: lastArrival > startedAt ? arrivals.length / ((lastArrival - startedAt) / 1000) : null,
    lagMs: arrivals.length > 0 ? lastArrival - endedAt : null,
    waitedMs: wait.waitedMs,
    ...latencyStats(arrivals.map((a) => a.arrived - a.created)),
  };
  return { result, arrivals };
}

/** p50/p90/p99/max/min of whole-millisecond latencies (nearest rank). */
function latencyStats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted.at(-1) ?? null,
    min: sorted[0] ?? null,
  };
}

/**
 * The case: the app path at a fixed concurrency (paced at `rate` sends/s, or closed loop when rate is 0),
 * then the baseline at the rate the app accepted (autocannon's overallRate, same connections), so both
 * consumers carry the same event rate.
 * @param {object} o
 * @param {{ sinks: { app: Sink, baseline: Sink } }} o.receiver
 * @param {object} o.appRequest         runLoad request of the send
 * @param {object} o.baselineRequest    runLoad request of the baseline's send
 * @param {() => Promise<number>} o.appProduced       delivery rows of the endpoint
 * @param {() => Promise<number>} o.baselineProduced  the baseline worker's successful sends
 * @param {() => Promise<Record<string, number>>} o.deliveryStatus  delivery rows of the endpoint by status
 * @param {(eventIds: string[]) => Promise<Map<string, number>>} o.attemptTimes  event id → its first
 *                                      attempt's `attempted_at` (ms), from webhook_attempts
 * @param {number} o.connections
 * @param {number} o.rate
 * @param {number} o.durationS
 * @param {number} o.warmupS
 */
export async function measureWebhooks(o) {
  const { connections, durationS, warmupS } = o;
  const { result: app, arrivals } = await measurePath({
    name: "app webhooks",
    sink: o.receiver.sinks.app,
    request: o.appRequest,
    produced: o.appProduced,
    connections,
    durationS,
    warmupS,
    overallRate: o.rate > 0 ? o.rate : undefined,
  });
  app.deliveryStatus = await o.deliveryStatus();
  // Where the app's time goes, split at the attempt's start (after the claim, before guard/sign/fetch).
  const attempted = await o.attemptTimes(arrivals.map((a) => a.id));
  const split = arrivals.filter((a) => attempted.has(a.id));
  app.split = {
    deliveries: split.length,
    toAttempt: latencyStats(split.map((a) => attempted.get(a.id) - a.created)),
    attemptToReceived: latencyStats(split.map((a) => a.arrived - attempted.get(a.id))),
  };
  const rate = Math.max(1, Math.round(app.sendRps));
  const { result: baseline } = await measurePath({
    name: "baseline webhooks",
    sink: o.receiver.sinks.baseline,
    request: o.baselineRequest,
    produced: o.baselineProduced,
    connections,
    durationS,
    warmupS,
    overallRate: rate,
  });
  return { app, baseline };
}

/**
 * Probes both paths once: one send each, and its delivery within WEBHOOK_LIMITS.probeS. On failure, says
 * what the delivery row says (e.g. the URL guard's refusal).
 * @param {object} o
 * @param {{ sinks: { app: Sink, baseline: Sink } }} o.receiver
 * @param {{ url: string, method: string, headers: object, body?: string }} o.appRequest  one ready request
 * @param {{ url: string, method: string, headers: object, body?: string }} o.baselineRequest
 * @param {number} o.expectStatus
 * @param {() => Promise<string>} o.explain  what the app's last delivery row says
 */
export async function probeWebhooks(o) {
  for (const [name, sink, req, status] of [
    ["app", o.receiver.sinks.app, o.appRequest, o.expectStatus],
    ["baseline", o.receiver.sinks.baseline, o.baselineRequest, 200],
  ]) {
    const before = sink.arrivals.length;
    const { method, headers, body } = req;
    const res = await fetch(req.url, { method, headers, body, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (res.status !== status) {
      throw new Error(
        `webhook probe (${name}): expected ${status}, got ${res.status}: ${text.slice(0, 300)}`,
      );
    }
    const deadline = Date.now() + WEBHOOK_LIMITS.probeS * 1000;
    while (sink.arrivals.length === before && Date.now() < deadline) await sleep(20);
    if (sink.arrivals.length === before) {
      const why = name === "app" ? `; delivery row: ${await o.explain()}` : "";
      throw new Error(
        `webhook probe (${name}): nothing reached the receiver in ${WEBHOOK_LIMITS.probeS} s${why}`,
      );
    }
  }
}

/**
 * Cost per delivered webhook, through the counted app worker (bench/counting.js), in two parts:
 *  1. `costRequests` sequential sends by the webhook tenant: the accepting request, fan-out included. The
 *     counted worker's WEBHOOKS_QUEUE goes to a queue nobody consumes (bench/run.mjs), so the deliveries
 *     stay pending;
 *  2. each of those deliveries handed to the counted worker's queue() handler as a one-message batch of the
 *     job the app would have sent ({ kind: "delivery", deliveryId, at: next_attempt_at }), with Miniflare's
 *     getWorker().queue(): the consumer's claim, signed POST (to the same receiver) and record.
 * @param {object} o
 * @param {import("miniflare").Miniflare} o.mf
 * @param {string} o.countedWorker        name of the counted app worker
 * @param {string} o.countedOrigin        its http://127.0.0.1:… origin (/__bench/cost, /__bench/reset)
 * @param {object} o.request              the send, against the counted worker (setupRequest included)
 * @param {D1Database} o.db
 * @param {string} o.endpointId
 * @param {string} o.queueName            the webhooks queue's name (the app's queue() routes on it)
 * @param {number} o.costRequests
 * @param {Sink} o.sink
 * @param {() => Promise<Record<string, number>>} o.rowCounts  settled row count per table
 */
export async function webhookCost(o) {
  const call = async (path, method = "GET") => {
    const res = await fetch(`${o.countedOrigin}${path}`, { method, signal: AbortSignal.timeout(10_000) });
    return res.json();
  };
  const settled = (n, what) => settledCost(call, n, what);
  const newRows = (before, after) => {
    const rows = {};
    for (const t of Object.keys(after)) {
      if (after[t] !== before[t]) rows[t] = (after[t] - before[t]) / o.costRequests;
    }
    return rows;
  };
  const pendingRows = () =>
    o.db
      .prepare(
        "SELECT id, next_attempt_at AS at FROM webhook_deliveries WHERE endpoint_id = ? AND status = 'pending' " +
          "ORDER BY id",
      )
      .bind(o.endpointId)
      .all()
      .then((r) => r.results);
  if ((await pendingRows()).length > 0) throw new Error("webhook cost pass: deliveries pending before it");

  // 1. The accepting requests.
  await call("/__bench/reset", "POST");
  let rows = await o.rowCounts();
  const context = {};
  for (let i = 0; i < o.costRequests; i++) {
    let { method, headers, body } = o.request;
    if (o.request.setupRequest)
      ({ method, headers, body } = o.request.setupRequest({ method, headers, body }, context));
    const res = await fetch(o.request.url, { method, headers, body, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (res.status !== 202)
      throw new Error(`webhook cost pass: send answered ${res.status}: ${text.slice(0, 300)}`);
  }
  const accept = await settled(o.costRequests, "the sends");
  let after = await o.rowCounts();
  accept.newRows = newRows(rows, after);
  rows = after;

  // 2. Their deliveries, one job at a time, through the counted consumer.
  const due = await pendingRows();
  if (due.length !== o.costRequests) {
    throw new Error(`webhook cost pass: ${due.length} pending deliveries for ${o.costRequests} sends`);
  }
  const worker = await o.mf.getWorker(o.countedWorker);
  await call("/__bench/reset", "POST");
  const receivedBefore = o.sink.arrivals.length;
  for (const [i, row] of due.entries()) {
    const result = await worker.queue(o.queueName, [
      {
        id: `bench-cost-${i}`,
        timestamp: new Date(),
        attempts: 1,
        body: { kind: "delivery", deliveryId: row.id, at: Number(row.at) },
      },
    ]);
    if (result.outcome !== "ok" || !result.explicitAcks?.includes(`bench-cost-${i}`)) {
      throw new Error(
        `webhook cost pass: the consumer did not ack delivery ${row.id}: ${JSON.stringify(result)}`,
      );
    }
  }
  const deliver = await settled(due.length, "the deliveries");
  after = await o.rowCounts();
  deliver.newRows = newRows(rows, after);
  const left = (await pendingRows()).length;
  const received = o.sink.arrivals.length - receivedBefore;
  if (left > 0 || received < due.length) {
    throw new Error(
      `webhook cost pass: ${left} deliveries still pending, ${received}/${due.length} received`,
    );
  }
  return { requests: o.costRequests, accept, deliver };
}
