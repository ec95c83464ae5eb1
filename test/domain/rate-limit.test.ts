import { describe, expect, it } from "vitest";
import {
  decide,
  EMPTY_RATE_LIMIT_STATE,
  isPastWarningThreshold,
  type RateLimitState,
  rateLimitHeaders,
} from "../../src/domain/rate-limit";

function run(
  count: number,
  config: { requestsPerMinute: number; burst: number },
  now: number,
  state: RateLimitState,
) {
  let admitted = 0;
  let current = state;
  for (let i = 0; i < count; i++) {
    const decision = decide(current, config, now);
    current = decision.state;
    if (decision.allowed) admitted++;
  }
  return { admitted, state: current };
}

describe("rolling-window rate limit", () => {
  it("admits the burst at once, then refuses within the same second", () => {
    const { admitted } = run(50, { requestsPerMinute: 6000, burst: 20 }, 1_000_000, EMPTY_RATE_LIMIT_STATE);
    expect(admitted).toBe(20);
  });

  it("never admits more than the quota in any rolling minute", () => {
    let state = EMPTY_RATE_LIMIT_STATE;
    const admittedAt: number[] = [];
    const start = 5_000_000;
    for (let second = 0; second < 180; second++) {
      for (let i = 0; i < 10; i++) {
        const decision = decide(state, { requestsPerMinute: 100, burst: 10 }, start + second * 1000 + i);
        state = decision.state;
        if (decision.allowed) admittedAt.push(second);
      }
    }
    for (let from = 0; from < 120; from++) {
      expect(admittedAt.filter((s) => s >= from && s < from + 60).length).toBeLessThanOrEqual(100);
    }
    expect(admittedAt.length).toBe(300);
    expect(state.seconds.length).toBeLessThanOrEqual(60);
  });

  it("refusals do not consume quota and say when to retry", () => {
    const config = { requestsPerMinute: 60, burst: 60 };
    const { state } = run(60, config, 10_000, EMPTY_RATE_LIMIT_STATE);
    const refused = decide(state, config, 30_000);
    expect(refused.allowed).toBe(false);
    expect(refused.state).toEqual(state);
    expect(refused.remaining).toBe(0);
    expect(refused.retryAfterSeconds).toBe(40);
    expect(decide(state, config, 69_999).allowed).toBe(false);
    expect(decide(state, config, 70_000).allowed).toBe(true);
    const burstOnly = decide(
      run(5, { requestsPerMinute: 100, burst: 5 }, 0, EMPTY_RATE_LIMIT_STATE).state,
      { requestsPerMinute: 100, burst: 5 },
      0,
    );
    expect(burstOnly.retryAfterSeconds).toBe(1);
  });

  it("reports remaining, reset and a warning past 80 %", () => {
    const config = { requestsPerMinute: 10, burst: 10 };
    let state = EMPTY_RATE_LIMIT_STATE;
    const remaining: number[] = [];
    for (let i = 0; i < 10; i++) {
      const decision = decide(state, config, 0);
      state = decision.state;
      remaining.push(decision.remaining);
    }
    expect(remaining).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(decide(state, config, 12_000).resetSeconds).toBe(48);
    expect(isPastWarningThreshold({ limit: 10, remaining: 3 })).toBe(false);
    expect(isPastWarningThreshold({ limit: 10, remaining: 2 })).toBe(true);
    const headers = rateLimitHeaders({ limit: 10, remaining: 2, resetSeconds: 48 }, 1_700_000_000_000);
    expect(headers).toMatchObject({
      "RateLimit-Policy": '"per-key";q=10;w=60',
      RateLimit: '"per-key";r=2;t=48',
      "X-RateLimit-Limit": "10",
      "X-RateLimit-Remaining": "2",
      "X-RateLimit-Reset": String(1_700_000_000 + 48),
    });
    expect(headers["X-RateLimit-Warning"]).toContain("80%");
    expect(
      rateLimitHeaders({ limit: 10, remaining: 5, resetSeconds: 1 }, 0)["X-RateLimit-Warning"],
    ).toBeUndefined();
  });
});
