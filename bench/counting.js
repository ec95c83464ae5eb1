// Cost accounting for `npm run bench`. Not part of the deployed worker.
//
// `withCounting(worker)` wraps a worker's default export so every request gets its own view of `env` in
// which D1 databases, Durable Object namespaces and queue producers are replaced by counting proxies.
// Only the "counted" copies of the workers use it, and only in the sequential cost pass: the load runs
// hit the unwrapped workers, so the proxies never touch a throughput or latency figure.
//
// An operation is "inline" when it settled before the worker returned its response (the caller waited
// for it) and "deferred" when it settled afterwards (waitUntil work such as the audit-log insert).
// `GET /__bench/cost` returns the totals, `POST /__bench/reset` zeroes them; both are answered by the
// wrapper itself and never reach the wrapped worker. A queue() handler, when the worker has one, is
// counted the same way, one queue batch = one "request".

function zero() {
  return {
    d1RoundTrips: 0,
    d1Statements: 0,
    d1Batches: 0,
    // Summed from the `meta` D1 returns with run()/all()/batch() results; first() and raw() carry none,
    // hence the separate count of statements whose meta was seen.
    d1RowsRead: 0,
    d1RowsWritten: 0,
    d1StatementsWithMeta: 0,
    doCalls: 0,
    queueCalls: 0,
    queueMessages: 0,
  };
}

function add(into, from) {
  for (const key of Object.keys(from)) into[key] += from[key];
}

function newTotals() {
  return { requests: 0, status: {}, inline: zero(), deferred: zero() };
}

/** Bucket for an operation that settles now: inline until the response has been returned. */
function bucket(k) {
  return k.responded ? k.deferred : k.inline;
}

function addMeta(b, meta) {
  if (!meta || typeof meta !== "object") return;
  b.d1StatementsWithMeta += 1;
  b.d1RowsRead += Number(meta.rows_read ?? 0);
  b.d1RowsWritten += Number(meta.rows_written ?? 0);
}

function settle(k, promise, onValue) {
  return Promise.resolve(promise).then(
    (value) => {
      onValue(bucket(k), value);
      return value;
    },
    (error) => {
      onValue(bucket(k), undefined);
      throw error;
    },
  );
}

const INNER = Symbol("inner statement");

function countedStatement(inner, k) {
  const one = (value, method) =>
    settle(k, value, (b, result) => {
      b.d1RoundTrips += 1;
      b.d1Statements += 1;
      if (method === "run" || method === "all") addMeta(b, result?.meta);
    });
  return {
    [INNER]: inner,
    bind: (...params) => countedStatement(inner.bind(...params), k),
    first: (...args) => one(inner.first(...args)),
    all: (...args) => one(inner.all(...args), "all"),
    run: (...args) => one(inner.run(...args), "run"),
    raw: (...args) => one(inner.raw(...args)),
  };
}

function countedD1(db, k) {
  const overrides = {
    prepare: (sql) => countedStatement(db.prepare(sql), k),
    batch: (statements) =>
      settle(k, db.batch(statements.map((s) => s[INNER] ?? s)), (b, results) => {
        b.d1RoundTrips += 1;
        b.d1Batches += 1;
        b.d1Statements += statements.length;
        for (const result of results ?? []) addMeta(b, result?.meta);
      }),
    exec: (sql) =>
      settle(k, db.exec(sql), (b, result) => {
        b.d1RoundTrips += 1;
        b.d1Statements += Number(result?.count ?? 1);
      }),
  };
  return passThrough(db, overrides);
}

function countedStub(stub, k) {
  return new Proxy(stub, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (prop === "then" || typeof prop === "symbol" || typeof value !== "function") return value;
      if (prop === "id" || prop === "name") return value;
      // Reflect.apply, not value.apply: on an RPC stub every property (`.apply` too) is a remote name.
      return (...args) => settle(k, Reflect.apply(value, target, args), (b) => (b.doCalls += 1));
    },
  });
}

function countedNamespace(ns, k) {
  return passThrough(ns, {
    get: (...args) => countedStub(ns.get(...args), k),
    ...(typeof ns.getByName === "function"
      ? { getByName: (...args) => countedStub(ns.getByName(...args), k) }
      : {}),
  });
}

function countedQueue(queue, k) {
  return passThrough(queue, {
    send: (...args) =>
      settle(k, queue.send(...args), (b) => {
        b.queueCalls += 1;
        b.queueMessages += 1;
      }),
    sendBatch: (messages, ...rest) =>
      settle(k, queue.sendBatch(messages, ...rest), (b) => {
        b.queueCalls += 1;
        b.queueMessages += [...messages].length;
      }),
  });
}

function passThrough(target, overrides) {
  return new Proxy(target, {
    get(t, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop];
      const value = Reflect.get(t, prop);
      return typeof value === "function" ? value.bind(t) : value;
    },
  });
}

const isFn = (value, name) => typeof value?.[name] === "function";

function countedEnv(env, k) {
  const out = {};
  for (const [name, value] of Object.entries(env)) {
    if (isFn(value, "prepare") && isFn(value, "batch")) out[name] = countedD1(value, k);
    else if (isFn(value, "idFromName") && isFn(value, "get")) out[name] = countedNamespace(value, k);
    else if (isFn(value, "send") && isFn(value, "sendBatch")) out[name] = countedQueue(value, k);
    else out[name] = value;
  }
  return out;
}

export function withCounting(worker) {
  let totals = newTotals();
  let pending = 0;

  /**
   * Runs one invocation (a request, or a queue batch) with counting bindings; books it once it and its
   * waitUntil work have settled. Returns what the handler returned.
   */
  async function counted(handler, ctx, statusOf) {
    const k = { responded: false, inline: zero(), deferred: zero() };
    const waits = [];
    const countedCtx = new Proxy(ctx, {
      get(target, prop) {
        if (prop === "waitUntil") {
          return (promise) => {
            waits.push(promise);
            target.waitUntil(promise);
          };
        }
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });

    pending += 1;
    let status = "threw";
    try {
      const result = await handler(k, countedCtx);
      status = statusOf(result);
      return result;
    } finally {
      k.responded = true;
      const finish = async () => {
        // waitUntil work may register more waitUntil work: wait until the list stops growing.
        let seen = -1;
        while (seen !== waits.length) {
          seen = waits.length;
          await Promise.allSettled(waits);
        }
        totals.requests += 1;
        totals.status[status] = (totals.status[status] ?? 0) + 1;
        add(totals.inline, k.inline);
        add(totals.deferred, k.deferred);
        pending -= 1;
      };
      ctx.waitUntil(finish());
    }
  }

  const wrapped = {
    async fetch(request, env, ctx) {
      const { pathname } = new URL(request.url);
      if (pathname === "/__bench/cost") return Response.json({ ...totals, pending });
      if (pathname === "/__bench/reset") {
        totals = newTotals();
        return Response.json({ ok: true, pending });
      }
      return counted(
        (k, countedCtx) => worker.fetch(request, countedEnv(env, k), countedCtx),
        ctx,
        (response) => String(response.status),
      );
    },
  };
  // A queue consumer's batch is booked like a request ("inline" = settled before the handler returned),
  // status "queue". The bench delivers batches to it directly (Miniflare getWorker().queue()), never
  // through a queue: the counted workers consume no queue (bench/lib/webhook.mjs, cost pass).
  if (typeof worker.queue === "function") {
    wrapped.queue = (batch, env, ctx) =>
      counted(
        (k, countedCtx) => worker.queue(batch, countedEnv(env, k), countedCtx),
        ctx,
        () => "queue",
      );
  }
  return wrapped;
}
