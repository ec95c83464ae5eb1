// Plain-text tables for the console.

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
 * One app path against its own primitives: req/s ÷ the model per connection count and whether it meets
 * the path's aim, the primitives measured alone, and the cost pass per accepted request.
 */
export function pathSummary(s, costRequests) {
  const out = [];
  const aim = s.aim === null ? "" : ` (aim: at least ${pct(s.aim)} of the primitives' req/s)`;
  out.push(`${s.label} against its primitives run back to back${aim}`);
  out.push(`  model: ${s.model}`);
  out.push("");
  const rows = s.runs.map((r) => [
    r.connections,
    fmt(r.rps, 0),
    fmt(r.modelRps, 0),
    r.vsPrimitives === null ? "-" : `${pct(r.vsPrimitives)} (${r.vsPrimitives.toFixed(2)}×)`,
    `${fmt(r.p50, 2)} / ${fmt(r.modelP50, 2)}`,
    `${fmt(r.p99, 2)} / ${fmt(r.modelP99, 2)}`,
    r.meetsAim === null ? "-" : r.meetsAim ? "MEETS" : "MISSES",
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
          "aim",
        ],
        rows,
        ["r", "r", "r", "r", "r", "r", "l"],
      ),
    ),
  );
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
    // The send path's aim: one KeyGate call, one D1 batch and one queue send, besides the auth key lookup.
    if (s.aim !== null) {
      const shape =
        i.doCalls === 1 && i.d1Batches === 1 && i.queueCalls === 1 && i.d1RoundTrips - i.d1Batches === 1;
      out.push(
        `    before the response: ${fmt(i.doCalls, 2)} DO call, ${fmt(i.d1Batches, 2)} D1 batch, ` +
          `${fmt(i.queueCalls, 2)} queue send, ${fmt(i.d1RoundTrips - i.d1Batches, 2)} other D1 queries ` +
          `(the auth key lookup is 1) → ${shape ? "as the aim asks" : "NOT the shape the aim asks for"}`,
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
