/**
 * Per-key rate limit as a rolling window of one-second counters: a request is admitted when the last 60
 * seconds hold fewer than `requestsPerMinute` admitted requests AND the current second holds fewer than
 * `burst`. Unlike a token bucket (which lets a full bucket plus its refill through in one minute), this
 * never admits more than the quota in any rolling minute. Refused requests are not counted.
 */

export interface RateLimitConfig {
  requestsPerMinute: number;
  burst: number;
}

/** Admitted requests per epoch second, only for the last 60 seconds, oldest first. */
export interface RateLimitState {
  seconds: Array<[second: number, count: number]>;
}

export interface RateLimitDecision {
  allowed: boolean;
  state: RateLimitState;
  limit: number;
  /** Requests left in the rolling minute after this one. */
  remaining: number;
  /** Seconds until every request now counted has left the window (the quota is whole again). */
  resetSeconds: number;
  /** When refused: seconds until a request would be admitted. */
  retryAfterSeconds: number;
}

const WINDOW_SECONDS = 60;

export const EMPTY_RATE_LIMIT_STATE: RateLimitState = { seconds: [] };

export function decide(state: RateLimitState, config: RateLimitConfig, nowMs: number): RateLimitDecision {
  const now = Math.floor(nowMs / 1000);
  const live = state.seconds.filter(([second]) => second > now - WINDOW_SECONDS);
  const usedInWindow = live.reduce((sum, [, count]) => sum + count, 0);
  const usedThisSecond = live.find(([second]) => second === now)?.[1] ?? 0;
  const allowed = usedInWindow < config.requestsPerMinute && usedThisSecond < config.burst;

  let seconds = live;
  if (allowed) {
    seconds = usedThisSecond > 0 ? live.map(([s, c]) => [s, s === now ? c + 1 : c]) : [...live, [now, 1]];
  }
  const used = usedInWindow + (allowed ? 1 : 0);
  const oldest = seconds[0]?.[0];
  return {
    allowed,
    state: { seconds },
    limit: config.requestsPerMinute,
    remaining: Math.max(0, config.requestsPerMinute - used),
    resetSeconds: oldest === undefined ? 0 : oldest + WINDOW_SECONDS - now,
    retryAfterSeconds: allowed ? 0 : retryAfter(live, usedInWindow, usedThisSecond, config, now),
  };
}

/** Seconds until both limits admit one more: the burst frees up next second; the quota when old seconds expire. */
function retryAfter(
  live: Array<[number, number]>,
  usedInWindow: number,
  usedThisSecond: number,
  config: RateLimitConfig,
  now: number,
): number {
  let wait = usedThisSecond >= config.burst ? 1 : 0;
  let excess = usedInWindow - config.requestsPerMinute + 1;
  for (const [second, count] of live) {
    if (excess <= 0) break;
    excess -= count;
    wait = Math.max(wait, second + WINDOW_SECONDS - now);
  }
  return Math.max(1, wait);
}

/** The share of the per-minute quota after which responses carry a warning header. */
export const WARNING_THRESHOLD = 0.8;

export function isPastWarningThreshold(decision: Pick<RateLimitDecision, "limit" | "remaining">): boolean {
  return decision.limit - decision.remaining >= decision.limit * WARNING_THRESHOLD;
}

/** The response headers every rate-limited route carries (IETF draft fields and the X- ones clients know). */
export function rateLimitHeaders(
  decision: Pick<RateLimitDecision, "limit" | "remaining" | "resetSeconds">,
  nowMs: number,
): Record<string, string> {
  const headers: Record<string, string> = {
    "RateLimit-Policy": `"per-key";q=${decision.limit};w=${WINDOW_SECONDS}`,
    RateLimit: `"per-key";r=${decision.remaining};t=${decision.resetSeconds}`,
    "X-RateLimit-Limit": String(decision.limit),
    "X-RateLimit-Remaining": String(decision.remaining),
    "X-RateLimit-Reset": String(Math.floor(nowMs / 1000) + decision.resetSeconds),
  };
  if (isPastWarningThreshold(decision)) {
    headers["X-RateLimit-Warning"] =
      `Over ${WARNING_THRESHOLD * 100}% of this key's per-minute quota is used; ${decision.remaining} requests left.`;
  }
  return headers;
}
