/**
 * How fast broadcasts send. Two pure pieces the BroadcastRunner Durable Object combines:
 *
 * 1. allocateRates splits a tenant's broadcast rate between its running broadcasts: strict priority
 *    (critical first), and max-min fairness among equal priorities (water-filling: nobody gets more than it
 *    asked for, and what a small broadcast leaves goes to the larger ones).
 * 2. A token bucket, kept as plain state so the runner can store it between alarms. The runner's loop:
 *
 *      state = refill(state, rate, now, bucketCapacity(rate))
 *      n = releasable(state)            // release n recipients, in jobs of at most 500
 *      state = take(state, n)
 *      setAlarm(now + nextWakeMs(state, rate, now, wakeTarget(rate)))
 *
 *    Tokens accrue continuously, so a wake-up that comes late releases what accrued meanwhile and the
 *    long-run rate holds; the capacity bounds the burst after a long stall to about one job.
 */

export const DEFAULT_TENANT_BROADCAST_RATE = 6000;
/** Recipients per fan-out job: the most a runner should release at once. */
export const MAX_JOB_SIZE = 500;

export interface RunningBroadcast {
  id: string;
  /** 0 low … 3 critical (schedule.ts priorityRank). */
  priority: number;
  requestedPerMinute: number;
}

/** A finite, non-negative number; anything else counts as 0 (a broken input must not create capacity). */
function nonNegative(value: number): number {
  return Number.isFinite(value) && value > 0 ? value : 0;
}

/**
 * Per-minute rate for each running broadcast. Sum ≤ the tenant's rate, each ≤ its request; a priority
 * level is served in full before any lower one gets anything.
 */
export function allocateRates(tenantRatePerMinute: number, running: RunningBroadcast[]): Map<string, number> {
  const allocated = new Map<string, number>();
  let remaining = nonNegative(tenantRatePerMinute);
  const byPriority = [...running].sort((a, b) => b.priority - a.priority);
  for (let i = 0; i < byPriority.length; ) {
    let j = i;
    while (j < byPriority.length && byPriority[j]?.priority === byPriority[i]?.priority) j++;
    remaining = waterFill(byPriority.slice(i, j), remaining, allocated);
    i = j;
  }
  return allocated;
}

/**
 * Max-min fair shares of `available` for one priority level: serve the smallest requests first, each
 * getting at most an equal share of what is left, so leftovers flow to the larger ones. Returns what remains.
 */
function waterFill(level: RunningBroadcast[], available: number, allocated: Map<string, number>): number {
  const ascending = [...level].sort(
    (a, b) => nonNegative(a.requestedPerMinute) - nonNegative(b.requestedPerMinute),
  );
  let remaining = available;
  ascending.forEach((broadcast, index) => {
    const fairShare = remaining / (ascending.length - index);
    const grant = Math.min(nonNegative(broadcast.requestedPerMinute), fairShare);
    allocated.set(broadcast.id, grant);
    // Clamp: float subtraction must never leave "negative capacity" for the next one.
    remaining = Math.max(0, remaining - grant);
  });
  return remaining;
}

// ---- Token bucket ------------------------------------------------------------------------------------

export interface PacingState {
  /** Recipients that may be released now; fractional while accruing, negative after over-taking. */
  tokens: number;
  /** When `tokens` was last brought up to date (ms since the epoch). */
  at: number;
}

/** Float noise from many small refills must not hold back a whole token (0.9999999999 counts as 1). */
const TOKEN_EPSILON = 1e-9;

/** A fresh runner: one token, so the first recipient goes at once and the next follows at the rate. */
export function startPacing(nowMs: number): PacingState {
  return { tokens: 1, at: nowMs };
}

/** Tokens accrued since `state.at` at `ratePerMinute`, capped at `capacity`. A clock going back adds none. */
export function refill(
  state: PacingState,
  ratePerMinute: number,
  nowMs: number,
  capacity: number,
): PacingState {
  const elapsed = Math.max(0, nowMs - state.at);
  const accrued = (nonNegative(ratePerMinute) / 60_000) * elapsed;
  return { tokens: Math.min(capacity, state.tokens + accrued), at: Math.max(state.at, nowMs) };
}

/** After releasing `count` recipients. */
export function take(state: PacingState, count: number): PacingState {
  return { tokens: state.tokens - nonNegative(count), at: state.at };
}

/** Whole recipients that may be released now. */
export function releasable(state: PacingState): number {
  return Math.max(0, Math.floor(state.tokens + TOKEN_EPSILON));
}

/**
 * The most tokens the bucket holds: about one second of sending, at most one job (500) so a runner that
 * wakes late does not burst more than a job, and at least 2 — with a cap of 1 at low rates (37/min), the
 * fraction accrued while a wake-up is late would be thrown away each time and the rate would sag.
 */
export function bucketCapacity(ratePerMinute: number): number {
  return Math.min(MAX_JOB_SIZE, Math.max(2, Math.ceil(nonNegative(ratePerMinute) / 60)));
}

/**
 * How many tokens to wait for between wake-ups: half the bucket (at least 1), so an alarm that fires late
 * by up to half the interval still finds room for everything accrued.
 */
export function wakeTarget(ratePerMinute: number): number {
  return Math.max(1, Math.floor(bucketCapacity(ratePerMinute) / 2));
}

/**
 * Milliseconds from `nowMs` until at least `want` (≥ 1, ≤ the bucket's capacity) whole tokens are
 * available; 0 when they already are, Infinity when the rate is 0 (nothing accrues: set no alarm).
 * Exact against refill's own arithmetic: refilling at `nowMs + wait` gives `want`, a millisecond less does not.
 */
export function nextWakeMs(state: PacingState, ratePerMinute: number, nowMs: number, want: number): number {
  const perMs = nonNegative(ratePerMinute) / 60_000;
  const target = Math.max(1, want);
  const enoughAfter = (wait: number) =>
    releasable({ tokens: state.tokens + perMs * Math.max(0, nowMs + wait - state.at), at: 0 }) >= target;
  if (enoughAfter(0)) return 0;
  if (perMs === 0) return Number.POSITIVE_INFINITY;
  const tokensNow = state.tokens + perMs * Math.max(0, nowMs - state.at);
  // The estimate can be a millisecond off either way through rounding; step to the exact boundary.
  let wait = Math.max(1, Math.ceil((target - TOKEN_EPSILON - tokensNow) / perMs));
  while (!enoughAfter(wait)) wait++;
  while (wait > 1 && enoughAfter(wait - 1)) wait--;
  return wait;
}
