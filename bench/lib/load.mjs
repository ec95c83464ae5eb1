// One bounded load run with autocannon's programmatic API.
//
// Latency percentiles are computed here from autocannon's per-response `responseTime` events (float
// milliseconds from process.hrtime) because autocannon's own histogram stores whole milliseconds, which
// is too coarse for sub-millisecond routes. Like autocannon, only 2xx responses enter the percentiles;
// autocannon's own (integer) p50/p99 are kept in the JSON for reference.
import autocannon from "autocannon";

/** Hard ceilings, whatever the command line says. */
export const LIMITS = { maxDurationS: 30, maxConnections: 256, maxRequests: 2_000_000 };

/**
 * @param {object} opts
 * @param {string} opts.url            absolute http://127.0.0.1:… URL
 * @param {string} [opts.method]
 * @param {Record<string,string>} [opts.headers]
 * @param {string} [opts.body]
 * @param {(req: object, context: object) => object} [opts.setupRequest]  per-request rewrite (autocannon)
 * @param {number} opts.connections
 * @param {number} opts.durationS
 * @param {number} [opts.overallRate]  requests/s over all connections (autocannon's rate limit); default: as
 *                                     fast as the connections go (closed loop)
 */
export function runLoad({
  url,
  method = "GET",
  headers = {},
  body,
  setupRequest,
  connections,
  durationS,
  overallRate,
}) {
  const target = new URL(url);
  if (target.hostname !== "127.0.0.1") throw new Error(`refusing to load anything but 127.0.0.1: ${url}`);
  if (!(connections >= 1 && connections <= LIMITS.maxConnections))
    throw new Error("connections out of range");
  if (!(durationS > 0 && durationS <= LIMITS.maxDurationS)) throw new Error("duration out of range");
  if (overallRate !== undefined && !(Number.isInteger(overallRate) && overallRate >= 1))
    throw new Error("overallRate must be a positive integer");

  return new Promise((resolve, reject) => {
    const latencies = [];
    const started = process.hrtime.bigint();
    let finished = false;

    const options = {
      url,
      method,
      headers,
      body,
      connections,
      pipelining: 1,
      duration: durationS,
      maxOverallRequests: LIMITS.maxRequests,
      timeout: 10,
    };
    if (setupRequest) options.requests = [{ setupRequest }];
    if (overallRate !== undefined) options.overallRate = overallRate;
    const instance = autocannon(options, (error, result) => {
      finished = true;
      clearTimeout(guard);
      if (error) return reject(error);
      const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
      latencies.sort((a, b) => a - b);
      const ok = result["2xx"];
      const failed = result.non2xx + result.errors + result.timeouts;
      resolve({
        connections,
        durationS: elapsedS,
        requests: ok + result.non2xx,
        sent: result.requests.sent,
        ok,
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        statusCodes: Object.fromEntries(
          Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]),
        ),
        failedShare: ok + failed === 0 ? 1 : failed / (ok + failed),
        rps: ok / elapsedS,
        p50: percentile(latencies, 0.5),
        p90: percentile(latencies, 0.9),
        p99: percentile(latencies, 0.99),
        max: latencies.at(-1) ?? null,
        // sorted, for pooling several runs (bench/run.mjs strips it from the JSON report)
        latencies,
        autocannon: {
          p50: result.latency.p50,
          p99: result.latency.p99,
          requestsPerSecAvg: result.requests.average,
        },
      });
    });
    instance.on("response", (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
    // Belt and braces: autocannon stops itself after `duration`; if it ever does not, stop it.
    const guard = setTimeout(
      () => {
        if (!finished) instance.stop();
      },
      (durationS + 15) * 1000,
    );
  });
}

/** Nearest-rank percentile of an ascending array; null when empty. */
export function percentile(sorted, q) {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

/**
 * The counted worker's per-request cost totals once every counted invocation (and its waitUntil work)
 * has settled, bounded to 10 s. `call(path)` GETs a path of the counted worker as JSON.
 * @param {(path: string) => Promise<any>} call
 * @param {number} expected how many counted invocations must have been booked
 * @param {string} what named in the error when they never are
 */
export async function settledCost(call, expected, what) {
  const deadline = Date.now() + 10_000;
  let totals = await call("/__bench/cost");
  while ((totals.pending > 0 || totals.requests < expected) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    totals = await call("/__bench/cost");
  }
  if (totals.requests < expected) throw new Error(`cost pass of ${what}: counted work never settled`);
  /** @param {Record<string, number>} bucket */
  const per = (bucket) =>
    Object.fromEntries(Object.entries(bucket).map(([k, v]) => [k, v / totals.requests]));
  return {
    requests: totals.requests,
    status: totals.status,
    inline: per(totals.inline),
    deferred: per(totals.deferred),
  };
}
