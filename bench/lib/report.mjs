// Plain-text tables for the console.
import { KEYGATE_DO_STAGE } from "./profile.mjs";

export function fmt(value, digits) {
  return value === null || value === undefined || Number.isNaN(value) ? "-" : value.toFixed(digits);
}

/** a ÷ b, or null when either is missing. */
export function ratio(a, b) {
  return a === null || b === null || a === undefined || b === undefined || b === 0 ? null : a / b;
}

const times = (value) => (value === null || value === undefined ? "-" : `${value.toFixed(2)}×`);

function table(headers, rows, align) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells
      .map((cell, i) =>
        align[i] === "l" ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i]),
      )
      .join("  ")
      .trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export function loadTable(results, connectionLevels) {
  const headers = [
    "case",
    "conns",
    "req/s",
    "p50 ms",
    "p99 ms",
    "not 2xx",
    "req/s ÷ bare",
    "p50 ÷ bare",
    "req/s ÷ prims",
    "p50 ÷ prims",
  ];
  const rows = [];
  for (const connections of connectionLevels) {
    const rank = (r) => (r.kind === "app" ? 0 : r.id.startsWith("model:") ? 2 : 1);
    const group = results.filter((x) => x.connections === connections);
    // app paths first, then the plain baselines, then the models (stable within each group)
    group.sort((a, b) => rank(a) - rank(b));
    for (const r of group) {
      rows.push([
        `${r.kind === "app" ? "" : "  "}${r.label}`,
        r.connections,
        fmt(r.rps, 0),
        fmt(r.p50, 2),
        fmt(r.p99, 2),
        `${r.non2xx + r.errors + r.timeouts}/${r.requests + r.errors + r.timeouts}${r.failed ? " FAIL" : ""}`,
        times(r.vsBare?.rps),
        times(r.vsBare?.p50),
        times(r.vsPrimitives?.rps),
        times(r.vsPrimitives?.p50),
      ]);
    }
  }
  return [
    "Throughput and latency (app paths first, baselines indented; 'prims' = the app path's own I/O done back",
    "to back in the bare baseline worker; req/s ratio < 1 and p50 ratio > 1 mean slower than the baseline)",
    "",
    table(headers, rows, ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r"]),
  ].join("\n");
}

const pair = (inline, deferred, digits = 2) => `${fmt(inline, digits)} + ${fmt(deferred, digits)}`;

export function costTable(costRows, costRequests) {
  const headers = [
    "case",
    "D1 round trips",
    "D1 statements",
    "D1 rows written",
    "new rows",
    "DO calls",
    "queue msgs",
    "model check",
  ];
  const rows = costRows.map((r) => {
    const p = r.perRequest;
    const newRows = Object.entries(p.newRows)
      .map(([t, n]) => `${t} ${fmt(n, 2)}`)
      .join(", ");
    const check = r.modelCheck ? (r.modelCheck.matches ? "same calls as model" : "DIFFERS from model") : "";
    return [
      `${r.kind === "app" ? "" : "  "}${r.label}`,
      pair(p.inline.d1RoundTrips, p.deferred.d1RoundTrips),
      pair(p.inline.d1Statements, p.deferred.d1Statements),
      fmt(p.inline.d1RowsWritten + p.deferred.d1RowsWritten, 2),
      newRows || "0",
      pair(p.inline.doCalls, p.deferred.doCalls),
      pair(p.inline.queueMessages, p.deferred.queueMessages),
      check,
    ];
  });
  return [
    "Cost per request ('a + b' = settled before the response + after it, i.e. waitUntil work)",
    "",
    table(headers, rows, ["l", "r", "r", "r", "l", "r", "r", "l"]),
    "",
    "How these were measured:",
    `  - round trips, statements, DO calls, queue msgs: ${costRequests} sequential requests per case to a copy of`,
    "    the worker whose env bindings are wrapped by bench/counting.js (a D1 batch = 1 round trip, n statements).",
    "    The timed runs above use the unwrapped workers.",
    "  - D1 rows written: D1's own meta.rows_written summed over those calls, as D1 bills it (index entries",
    "    count: one audit_logs insert = 1 row + 4 index entries = 5).",
    "  - new rows: SELECT count(*) of every D1 table before and after those requests, once their waitUntil",
    "    writes have drained, divided by the request count (net inserts; updates and deletes do not show).",
    "  All per request. KeyGate's own SQLite writes are inside the DO call and not counted here.",
  ].join("\n");
}

const pct = (value) => (value === null || value === undefined ? "-" : `${(value * 100).toFixed(0)} %`);

/**
 * One app path against its own primitives: req/s and p99 ÷ the model per connection count and whether
 * each meets the path's aims, the primitives measured alone, and the cost pass per accepted request.
 */
export function pathSummary(s, costRequests) {
  const out = [];
  const aims = s.aims
    ? ` (aims: req/s ≥ ${s.aims.rps.toFixed(2)}× and p99 ≤ ${s.aims.p99.toFixed(2)}× the primitives', at every level)`
    : "";
  out.push(`${s.label} against its primitives run back to back${aims}`);
  out.push(`  model: ${s.model}`);
  out.push("");
  const rows = s.runs.map((r) => [
    r.connections,
    fmt(r.rps, 0),
    fmt(r.modelRps, 0),
    r.vsPrimitives === null ? "-" : `${pct(r.vsPrimitives)} (${r.vsPrimitives.toFixed(2)}×)`,
    `${fmt(r.p50, 2)} / ${fmt(r.modelP50, 2)}`,
    `${fmt(r.p99, 2)} / ${fmt(r.modelP99, 2)}`,
    times(r.p99VsPrimitives),
    verdict(r.meetsRps),
    verdict(r.meetsP99),
  ]);
  out.push(
    indent(
      table(
        [
          "conns",
          "path req/s",
          "prims req/s",
          "path ÷ prims",
          "p50 ms path / prims",
          "p99 ms path / prims",
          "p99 ÷ prims",
          "req/s aim",
          "p99 aim",
        ],
        rows,
        ["r", "r", "r", "r", "r", "r", "r", "l", "l"],
      ),
    ),
  );
  if (s.runs.some((r) => (r.roundRatios ?? []).length > 0)) {
    for (const r of s.runs) {
      const each = r.roundRatios.map((x) => (x === null ? "-" : `${x.toFixed(2)}×`)).join(", ");
      const cpu =
        r.cpuMsPerRequest && r.modelCpuMsPerRequest
          ? `; workerd CPU per request ${fmt(r.cpuMsPerRequest, 2)} / ${fmt(r.modelCpuMsPerRequest, 2)} ms ` +
            `(prims ÷ path ${(r.modelCpuMsPerRequest / r.cpuMsPerRequest).toFixed(2)}×)`
          : "";
      out.push(`  c=${r.connections}: path ÷ prims per alternating round: ${each}${cpu}`);
    }
  }
  if (s.primitives.length > 0) {
    out.push("");
    out.push("  Each primitive alone (one per request on the bare baseline worker):");
    const headers = ["primitive"];
    for (const r of s.runs) headers.push(`req/s c=${r.connections}`, `p50 ms c=${r.connections}`);
    const primRows = s.primitives.map((p) => [
      p.label,
      ...p.runs.flatMap((r) => [fmt(r.rps, 0), fmt(r.p50, 2)]),
    ]);
    const sums = s.runs.map((_, i) => {
      const p50s = s.primitives.map((p) => p.runs[i].p50);
      return p50s.some((v) => v === null) ? null : p50s.reduce((a, b) => a + b, 0);
    });
    primRows.push(["sum of the p50s", ...sums.flatMap((sum) => ["", fmt(sum, 2)])]);
    out.push(indent(table(headers, primRows, ["l", ...headers.slice(1).map(() => "r")])));
  }
  const p = s.perRequest;
  if (p) {
    const both = (field, digits = 2) => `${fmt(p.inline[field], digits)} + ${fmt(p.deferred[field], digits)}`;
    const newRows = Object.entries(p.newRows ?? {})
      .map(([t, n]) => `${t} ${fmt(n, 2)}`)
      .join(", ");
    out.push("");
    out.push(
      `  Per accepted request (cost pass: ${costRequests} sequential requests, every one ${s.expectStatus}; ` +
        "'a + b' = before the response + in waitUntil):",
    );
    out.push(`    D1 queries (round trips)  ${both("d1RoundTrips")}   of which batches ${both("d1Batches")}`);
    out.push(`    D1 statements             ${both("d1Statements")}`);
    out.push(
      `    D1 rows written           ${fmt(p.inline.d1RowsWritten + p.deferred.d1RowsWritten, 2)}` +
        `   (${both("d1RowsWritten")}; D1's meta.rows_written, index entries included)`,
    );
    out.push(`    new rows                  ${newRows || "0"}`);
    out.push(`    DO calls                  ${both("doCalls")}`);
    out.push(`    queue sends               ${both("queueCalls")} calls, ${both("queueMessages")} messages`);
    const i = p.inline;
    // What must run before the response (the send path: one KeyGate call, one D1 batch, one queue send,
    // besides the auth key lookup).
    if (s.shape) {
      const other = i.d1RoundTrips - i.d1Batches;
      const shape =
        i.doCalls === s.shape.doCalls &&
        i.d1Batches === s.shape.d1Batches &&
        i.queueCalls === s.shape.queueCalls &&
        other <= s.shape.otherD1Queries;
      out.push(
        `    before the response: ${fmt(i.doCalls, 2)} DO call, ${fmt(i.d1Batches, 2)} D1 batch, ` +
          `${fmt(i.queueCalls, 2)} queue send, ${fmt(other, 2)} other D1 queries ` +
          `(the auth key lookup, at most ${s.shape.otherD1Queries}) → ` +
          `${shape ? "the shape the aim asks for" : "NOT the shape the aim asks for"}`,
      );
    }
  }
  const accepted = s.runs
    .filter((r) => r.accepted !== null)
    .map(
      (r) =>
        `c=${r.connections}: ${r.accepted} accepted` +
        (r.newMessages ? `, ${r.newMessages} new messages rows` : ""),
    );
  if (accepted.length > 0) {
    out.push(`    timed runs: ${accepted.join("; ")} (requests in flight when a run stops land too)`);
  }
  return out.join("\n");
}

const verdict = (meets) => (meets === null ? "-" : meets ? "MEETS" : "MISSES");

/**
 * The aims, one line per path and connection level, e.g.
 * `aim POST /v1/messages c=8: req/s 0.83× prims (≥ 0.80) MEETS · p99 1.40× prims (≤ 2.00) MEETS`.
 */
export function aimLines(aims) {
  const lines = [];
  const seen = new Set();
  for (const a of aims) {
    const key = `${a.case} ${a.connections}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const rps = aims.find((x) => x.case === a.case && x.connections === a.connections && x.metric === "rps");
    const p99 = aims.find((x) => x.case === a.case && x.connections === a.connections && x.metric === "p99");
    lines.push(
      `aim ${a.label} c=${a.connections}: ` +
        `req/s ${times(rps?.ratio)} prims (≥ ${fmt(rps?.target, 2)}) ${verdict(rps?.meets ?? null)} · ` +
        `p99 ${times(p99?.ratio)} prims (≤ ${fmt(p99?.target, 2)}) ${verdict(p99?.meets ?? null)}`,
    );
  }
  return lines.join("\n");
}

function indent(text) {
  return text
    .split("\n")
    .map((line) => `  ${line}`)
    .join("\n");
}

/**
 * The webhook latency case: the app's "event created → receiver got it" beside the bare queue → consumer
 * → fetch() path at the same event rate, and the cost pass per delivered webhook.
 */
export function webhookSummary(w, costRequests) {
  const { app, baseline } = w;
  const out = [];
  const pace = w.rate > 0 ? `paced at ${w.rate} sends/s` : "closed loop";
  out.push(
    `Webhook latency: event created → receiver got it (${app.connections} connections, ${pace}, ` +
      `${fmt(app.durationS, 1)} s of sends; the baseline at the app's accepted rate, ${baseline.overallRate}/s)`,
  );
  out.push(
    `  consumer (wrangler.toml, both paths): batches of ≤ ${w.consumer.maxBatchSize ?? "default"}, ` +
      `max_batch_timeout ${w.consumer.maxBatchTimeout ?? "default"} s, max_retries ` +
      `${w.consumer.maxRetries ?? "default"}`,
  );
  out.push("");
  const row = (label, r) => [
    label,
    fmt(r.sendRps, 0),
    fmt(r.deliveredRps, 0),
    `${r.delivered}/${r.produced}`,
    r.lost,
    fmt(r.p50, 0),
    fmt(r.p90, 0),
    fmt(r.p99, 0),
    fmt(r.max, 0),
    fmt(r.lagMs, 0),
  ];
  const rows = [
    row(w.label, app),
    row(`  ${w.baselineLabel}`, baseline),
    [
      "app ÷ baseline",
      "",
      "",
      "",
      "",
      ...["p50", "p90", "p99", "max"].map((k) => times(w.vsBaseline[k])),
      "",
    ],
  ];
  out.push(
    indent(
      table(
        [
          "path",
          "sent/s",
          "delivered/s",
          "received",
          "lost",
          "p50 ms",
          "p90 ms",
          "p99 ms",
          "max ms",
          "lag ms",
        ],
        rows,
        ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r"],
      ),
    ),
  );
  out.push("");
  out.push("  sent/s = 2xx sends ÷ run time; delivered/s = webhooks received ÷ (last arrival − run start);");
  out.push(
    "  latency = receiver's Date.now() once the body is in − the event's created_at (app) or t (baseline),",
  );
  out.push("  whole ms; lag = last arrival − end of the sends (how far delivery trailed the load).");
  if (app.split?.deliveries > 0) {
    const s = app.split;
    out.push(
      `  app, split at the attempt's start (webhook_attempts.attempted_at, ${s.deliveries} deliveries): ` +
        `created → attempt p50 ${fmt(s.toAttempt.p50, 0)} / p99 ${fmt(s.toAttempt.p99, 0)} ms ` +
        "(accepting batch, queue send, queue, claim); attempt → received " +
        `p50 ${fmt(s.attemptToReceived.p50, 0)} / p99 ${fmt(s.attemptToReceived.p99, 0)} ms (URL guard, sign, POST)`,
    );
  }
  if (app.deliveredRps !== null && app.deliveredRps < 0.9 * app.sendRps) {
    out.push(
      "  NOTE: the app's deliveries fell behind its sends (a backlog grew during the run), so its latency " +
        "grows with --duration; a lower --webhook-rate measures it below saturation.",
    );
  }
  const status = Object.entries(app.deliveryStatus ?? {})
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
  out.push(
    `  app sends: p50 ${fmt(app.sendP50, 2)} ms, p99 ${fmt(app.sendP99, 2)} ms per POST /v1/messages; ` +
      `delivery rows of the endpoint (whole run): ${status || "-"}; duplicates received: ` +
      `${app.duplicates} app, ${baseline.duplicates} baseline`,
  );
  const c = w.cost;
  if (c) {
    const both = (p, field) => `${fmt(p.inline[field], 2)} + ${fmt(p.deferred[field], 2)}`;
    const rowsOf = (p) =>
      Object.entries(p.newRows ?? {})
        .map(([t, n]) => `${t} ${fmt(n, 2)}`)
        .join(", ") || "0";
    out.push("");
    out.push(
      `  Per delivered webhook (cost pass: ${costRequests} sequential sends through the counted app, then each ` +
        "delivery job through its queue() handler;",
    );
    out.push("  'a + b' = before the response, or before queue() returned + in waitUntil):");
    const lines = [
      ["", "accepting POST /v1/messages", "consumer (one delivery job)"],
      ["D1 queries (round trips)", both(c.accept, "d1RoundTrips"), both(c.deliver, "d1RoundTrips")],
      ["  of which batches", both(c.accept, "d1Batches"), both(c.deliver, "d1Batches")],
      ["D1 statements", both(c.accept, "d1Statements"), both(c.deliver, "d1Statements")],
      [
        "D1 rows written",
        fmt(c.accept.inline.d1RowsWritten + c.accept.deferred.d1RowsWritten, 2),
        fmt(c.deliver.inline.d1RowsWritten + c.deliver.deferred.d1RowsWritten, 2),
      ],
      ["DO calls", both(c.accept, "doCalls"), both(c.deliver, "doCalls")],
      ["queue sends (messages)", both(c.accept, "queueMessages"), both(c.deliver, "queueMessages")],
    ];
    out.push(indent(indent(table(lines[0], lines.slice(1), ["l", "r", "r"]))));
    out.push(`    new rows, accepting: ${rowsOf(c.accept)}`);
    out.push(`    new rows, consumer:  ${rowsOf(c.deliver)}`);
    out.push("    The consumer's outbound POST is not counted (one per delivery, all received). Compare the");
    out.push(
      "    accepting column with POST /v1/messages in the cost table: without an endpoint, no webhook job.",
    );
  }
  return out.join("\n");
}

/**
 * `--profile`: one app case's CPU time per request by phase (stage of the request path, and kind of code
 * within it), the same by kind of code alone, and the functions with the most self time.
 */
export function profileSummary(p) {
  const ms = (v) => fmt(v, 3);
  const share = (v) => `${(v * 100).toFixed(1)} %`;
  const out = [];
  out.push(
    `CPU per request: ${p.label} (V8 CPU profile of the app isolate: ${p.connections} connections, ` +
      `${p.requests} responses 2xx at ${fmt(p.rps, 0)} req/s)`,
  );
  out.push(
    `  ${ms(p.cpuMsPerRequest)} CPU ms per request in the app isolate = ${fmt(p.busyMs, 0)} ms sampled busy ÷ ` +
      `${p.requests} responses (of ${fmt(p.wallMs, 0)} ms profiled: ${fmt(p.idleMs, 0)} ms idle, ` +
      `${fmt(p.elsewhereMs, 0)} ms in other isolates or waiting)`,
  );
  out.push(
    `  workerd process, every isolate (D1, queue broker, …) and thread: ${ms(p.workerdCpuMsPerRequest)} CPU ms ` +
      `per request; one sample every ${fmt(p.samplingPeriodUs, 0)} µs while the isolate runs`,
  );
  const m = p.model;
  if (m) {
    const top = m.codes
      .slice(0, 4)
      .map((c) => `${c.name} ${ms(c.msPerRequest)}`)
      .join(", ");
    out.push(
      `  its model (prims, baseline isolate, ${m.requests} responses at ${fmt(m.rps, 0)} req/s): ` +
        `${ms(m.cpuMsPerRequest)} CPU ms per request (${top}); workerd process ${ms(m.workerdCpuMsPerRequest)}`,
    );
    // The model's KeyGate calls run in the app's isolate (the baseline binds the app's class): compare
    // the app without its KeyGate DO work.
    const gate = p.stages.find((x) => x.name === KEYGATE_DO_STAGE)?.msPerRequest ?? 0;
    out.push(
      `  → the app's own CPU beyond its platform calls: about ${ms(p.cpuMsPerRequest - gate - m.cpuMsPerRequest)} ` +
        "ms per request (the app isolate minus the model's" +
        (gate > 0 ? `, less KeyGate DO work hosted in the app isolate, ${ms(gate)} ms)` : ")"),
    );
  }
  out.push("");
  const rows = [];
  for (const s of p.stages) {
    // (code rows under 0.1 % of the isolate's time are left out: sampling noise)
    const codes = p.phases.filter((r) => r.stage === s.name && r.share >= 0.001);
    rows.push([s.name, ms(s.msPerRequest), share(s.share)]);
    if (codes.length > 1 || codes[0]?.code !== "own code") {
      for (const r of codes) rows.push([`    ${r.code}`, ms(r.msPerRequest), share(r.share)]);
    }
  }
  out.push(indent(table(["stage / code within it", "CPU ms/req", "share"], rows, ["l", "r", "r"])));
  out.push("");
  out.push(
    indent(
      table(
        ["by code (all stages)", "CPU ms/req", "share"],
        p.codes.map((c) => [c.name, ms(c.msPerRequest), share(c.share)]),
        ["l", "r", "r"],
      ),
    ),
  );
  out.push("");
  out.push(
    indent(
      table(
        [`top ${p.topFunctions.length} functions by self time`, "where", "CPU ms/req", "share"],
        p.topFunctions.map((f) => [f.name, f.where, ms(f.msPerRequest), share(f.share)]),
        ["l", "l", "r", "r"],
      ),
    ),
  );
  out.push(`  profile: ${p.file} (open in Chrome DevTools → Performance, or speedscope)`);
  return out.join("\n");
}

/**
 * `--profile`: every profiled path side by side as Markdown tables (CPU ms per request by stage, then by
 * kind of code), ready for the "CPU per request" section of bench/README.md.
 */
export function profileMarkdown(profiles) {
  const ms = (v) => fmt(v, 3);
  const cell = (rows, name) => {
    const r = rows.find((x) => x.name === name);
    return r ? `${ms(r.msPerRequest)} (${(r.share * 100).toFixed(0)} %)` : "-";
  };
  const section = (title, key) => {
    const totals = new Map();
    for (const p of profiles) {
      for (const r of p[key]) totals.set(r.name, (totals.get(r.name) ?? 0) + r.share);
    }
    const names = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a));
    return [
      `| ${title} | ${profiles.map((p) => p.label).join(" | ")} |`,
      `| --- | ${profiles.map(() => "---:").join(" | ")} |`,
      ...names.map((n) => `| ${n} | ${profiles.map((p) => cell(p[key], n)).join(" | ")} |`),
    ];
  };
  const row = (name, value) => `| **${name}** | ${profiles.map((p) => `**${ms(value(p))}**`).join(" | ")} |`;
  const gate = (p) => p.stages.find((x) => x.name === KEYGATE_DO_STAGE)?.msPerRequest ?? 0;
  return [
    ...section("stage (CPU ms per request, share)", "stages"),
    row("app isolate, total", (p) => p.cpuMsPerRequest),
    row("its model, baseline isolate", (p) => p.model?.cpuMsPerRequest ?? null),
    row("app beyond its platform calls", (p) =>
      p.model ? p.cpuMsPerRequest - gate(p) - p.model.cpuMsPerRequest : null,
    ),
    row("workerd process, all isolates", (p) => p.workerdCpuMsPerRequest),
    row("its model, workerd process", (p) => p.model?.workerdCpuMsPerRequest ?? null),
    "",
    ...section("code (CPU ms per request, share)", "codes"),
  ].join("\n");
}
