import { describe, expect, it } from "vitest";
import {
  baseDelaySeconds,
  nextAttemptAt,
  parseRetryAfter,
  RETRY_AFTER_CAP_SECONDS,
} from "../../src/webhooks/retry-schedule";

const first = new Date("2026-11-23T00:00:00Z");
const mid = () => 0.5; // no jitter

/** Walks the schedule from the first try until it gives up; returns the offsets (s) of every try. */
function tries(random: () => number = mid): number[] {
  const offsets = [0];
  let now = first;
  for (let failed = 1; failed < 100; failed++) {
    const next = nextAttemptAt({ failedAttempts: failed, firstAttemptAt: first, now, random });
    if (!next) break;
    offsets.push((next.getTime() - first.getTime()) / 1000);
    now = next;
  }
  return offsets;
}

describe("webhook retry schedule", () => {
  it("retries after 1 s, 5 s, 30 s, 2 m, 10 m, 1 h, 6 h, then every 6 h within 24 h of the first try", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9].map(baseDelaySeconds)).toEqual([
      1, 5, 30, 120, 600, 3600, 21600, 21600, 21600,
    ]);
    const offsets = tries();
    const gaps = offsets.slice(1).map((t, i) => t - (offsets[i] ?? 0));
    expect(gaps).toEqual([1, 5, 30, 120, 600, 3600, 21600, 21600, 21600]);
    expect(offsets.at(-1)).toBeLessThanOrEqual(86_400);
    // The try after the last would fall past 24 h: the delivery has failed for good.
    expect((offsets.at(-1) ?? 0) + 21_600).toBeGreaterThan(86_400);
  });

  it("adds at most ±10 % jitter, so gaps still grow", () => {
    const low = tries(() => 0);
    const high = tries(() => 0.999999);
    for (const [i, t] of low.entries()) {
      if (i === 0) continue;
      const gap = t - (low[i - 1] ?? 0);
      const planned = baseDelaySeconds(i);
      expect(gap).toBeGreaterThanOrEqual(planned * 0.9 - 1e-6);
      expect((high[i] ?? 0) - (high[i - 1] ?? 0)).toBeLessThanOrEqual(planned * 1.1 + 1e-6);
    }
  });

  it("honours Retry-After (never earlier, capped at an hour) and the scale shrinks only our own delays", () => {
    const now = new Date(first.getTime() + 1000);
    const at = nextAttemptAt({
      failedAttempts: 1,
      firstAttemptAt: first,
      now,
      retryAfterSeconds: 120,
      random: () => 0,
    });
    expect(at?.getTime()).toBe(now.getTime() + 120_000);
    const scaled = nextAttemptAt({ failedAttempts: 1, firstAttemptAt: first, now, scale: 0.01, random: mid });
    expect(scaled?.getTime()).toBe(now.getTime() + 10);
    const scaledRetryAfter = nextAttemptAt({
      failedAttempts: 1,
      firstAttemptAt: first,
      now,
      scale: 0.01,
      retryAfterSeconds: 2,
      random: () => 0,
    });
    expect(scaledRetryAfter?.getTime()).toBe(now.getTime() + 2000);

    expect(parseRetryAfter("7", now)).toBe(7);
    expect(parseRetryAfter("0", now)).toBe(1);
    expect(parseRetryAfter("999999", now)).toBe(RETRY_AFTER_CAP_SECONDS);
    expect(parseRetryAfter(new Date(now.getTime() + 30_000).toUTCString(), now)).toBe(30);
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });
});
