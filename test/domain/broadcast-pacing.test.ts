import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  allocateRates,
  bucketCapacity,
  DEFAULT_TENANT_BROADCAST_RATE,
  MAX_JOB_SIZE,
  nextWakeMs,
  type PacingState,
  type RunningBroadcast,
  refill,
  releasable,
  startPacing,
  take,
  wakeTarget,
} from "../../src/domain/broadcast-pacing";

/** Float slack for sums of shares (rates are messages per minute; 1e-6 of a message is nothing). */
const EPS = 1e-6;

function allocate(tenantRate: number, running: RunningBroadcast[]): Record<string, number> {
  return Object.fromEntries(allocateRates(tenantRate, running));
}

describe("allocateRates", () => {
  it("gives everyone what they ask when it fits", () => {
    expect(
      allocate(6000, [
        { id: "a", priority: 1, requestedPerMinute: 1000 },
        { id: "b", priority: 1, requestedPerMinute: 2000 },
      ]),
    ).toEqual({ a: 1000, b: 2000 });
  });

  it("shares equally between equal priorities when both want more", () => {
    expect(
      allocate(6000, [
        { id: "a", priority: 1, requestedPerMinute: 6000 },
        { id: "b", priority: 1, requestedPerMinute: 6000 },
      ]),
    ).toEqual({ a: 3000, b: 3000 });
  });

  it("water-fills: a small request is met in full and its leftover goes to the others", () => {
    expect(
      allocate(6000, [
        { id: "small", priority: 1, requestedPerMinute: 1000 },
        { id: "big1", priority: 1, requestedPerMinute: 60000 },
        { id: "big2", priority: 1, requestedPerMinute: 60000 },
      ]),
    ).toEqual({ small: 1000, big1: 2500, big2: 2500 });
  });

  it("serves higher priority first; lower ones get what is left, possibly nothing", () => {
    expect(
      allocate(6000, [
        { id: "low", priority: 0, requestedPerMinute: 6000 },
        { id: "critical", priority: 3, requestedPerMinute: 4000 },
        { id: "high", priority: 2, requestedPerMinute: 1500 },
      ]),
    ).toEqual({ critical: 4000, high: 1500, low: 500 });
    expect(
      allocate(6000, [
        { id: "low", priority: 0, requestedPerMinute: 100 },
        { id: "critical", priority: 3, requestedPerMinute: 60000 },
      ]),
    ).toEqual({ critical: 6000, low: 0 });
  });

  it("handles nothing running, a zero tenant rate and broken requests without creating capacity", () => {
    expect(allocateRates(6000, []).size).toBe(0);
    expect(allocate(0, [{ id: "a", priority: 1, requestedPerMinute: 10 }])).toEqual({ a: 0 });
    expect(
      allocate(100, [
        { id: "neg", priority: 1, requestedPerMinute: -50 },
        { id: "nan", priority: 1, requestedPerMinute: Number.NaN },
        { id: "ok", priority: 1, requestedPerMinute: 500 },
      ]),
    ).toEqual({ neg: 0, nan: 0, ok: 100 });
    expect(allocate(Number.NaN, [{ id: "a", priority: 1, requestedPerMinute: 10 }])).toEqual({ a: 0 });
  });

  it("defaults to 6,000 per minute", () => {
    expect(DEFAULT_TENANT_BROADCAST_RATE).toBe(6000);
  });

  const runningArb = fc.uniqueArray(
    fc.record({
      id: fc.string({ minLength: 1, maxLength: 6 }),
      priority: fc.integer({ min: 0, max: 3 }),
      requestedPerMinute: fc.oneof(
        fc.integer({ min: 1, max: 60_000 }),
        fc.double({ min: 0, max: 60_000, noNaN: true }),
      ),
    }),
    { selector: (b) => b.id, maxLength: 12 },
  );
  const tenantArb = fc.oneof(
    fc.integer({ min: 0, max: 100_000 }),
    fc.double({ min: 0, max: 100_000, noNaN: true }),
  );

  it("property: every broadcast gets an allocation in [0, requested]; the sum stays within the tenant rate", () => {
    fc.assert(
      fc.property(tenantArb, runningArb, (tenantRate, running) => {
        const rates = allocateRates(tenantRate, running);
        expect(rates.size).toBe(running.length);
        let sum = 0;
        for (const b of running) {
          const rate = rates.get(b.id) ?? Number.NaN;
          expect(rate).toBeGreaterThanOrEqual(0);
          expect(rate).toBeLessThanOrEqual(b.requestedPerMinute);
          sum += rate;
        }
        expect(sum).toBeLessThanOrEqual(tenantRate + EPS);
        // Work-conserving: capacity is only left unused when every request is met.
        const requested = running.reduce((total, b) => total + b.requestedPerMinute, 0);
        expect(sum).toBeCloseTo(Math.min(tenantRate, requested), 4);
      }),
      { numRuns: 500 },
    );
  });

  it("property: strict priority — while a broadcast is short, every lower priority gets nothing", () => {
    fc.assert(
      fc.property(tenantArb, runningArb, (tenantRate, running) => {
        const rates = allocateRates(tenantRate, running);
        for (const short of running) {
          if ((rates.get(short.id) ?? 0) >= short.requestedPerMinute - EPS) continue;
          for (const lower of running.filter((b) => b.priority < short.priority)) {
            expect(rates.get(lower.id) ?? 0).toBeLessThanOrEqual(EPS);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it("property: max-min fairness within a priority — a short broadcast has the largest share of its level", () => {
    fc.assert(
      fc.property(tenantArb, runningArb, (tenantRate, running) => {
        const rates = allocateRates(tenantRate, running);
        for (const short of running) {
          const mine = rates.get(short.id) ?? 0;
          if (mine >= short.requestedPerMinute - EPS) continue;
          for (const peer of running.filter((b) => b.priority === short.priority)) {
            expect(rates.get(peer.id) ?? 0).toBeLessThanOrEqual(mine + EPS);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it("property: equal requests at equal priority get equal shares, whatever the order", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 2, max: 10 }),
        fc.integer({ min: 1, max: 60_000 }),
        (tenantRate, count, request) => {
          const running = Array.from({ length: count }, (_, i) => ({
            id: `b${i}`,
            priority: 1,
            requestedPerMinute: request,
          }));
          const shares = [...allocateRates(tenantRate, running).values()];
          for (const share of shares) expect(share).toBeCloseTo(Math.min(request, tenantRate / count), 6);
        },
      ),
    );
  });
});

describe("token bucket", () => {
  it("refills at the rate, capped at the capacity; time going back adds nothing", () => {
    const state: PacingState = { tokens: 0, at: 1000 };
    expect(refill(state, 6000, 2000, 100)).toEqual({ tokens: 100, at: 2000 }); // 100/s for 1 s
    expect(refill(state, 6000, 1500, 100)).toEqual({ tokens: 50, at: 1500 });
    expect(refill(state, 6000, 61_000, 100)).toEqual({ tokens: 100, at: 61_000 }); // capped
    expect(refill(state, 6000, 500, 100)).toEqual({ tokens: 0, at: 1000 }); // clock went back
    expect(refill({ tokens: 3, at: 0 }, 0, 10_000, 100)).toEqual({ tokens: 3, at: 10_000 });
  });

  it("take spends tokens (going into debt if asked) and releasable counts whole ones", () => {
    const state: PacingState = { tokens: 10.7, at: 0 };
    expect(releasable(state)).toBe(10);
    expect(take(state, 10)).toEqual({ tokens: expect.closeTo(0.7, 9), at: 0 });
    expect(releasable(take(state, 12))).toBe(0);
    expect(take(state, 12).tokens).toBeCloseTo(-1.3, 9);
    expect(take(state, -5)).toEqual(state);
    // Float noise just under a whole token still counts as one.
    expect(releasable({ tokens: 0.9999999999, at: 0 })).toBe(1);
    expect(releasable({ tokens: 0.99, at: 0 })).toBe(0);
  });

  it("bucket capacity is about one second of sending, between 2 and one job", () => {
    expect(bucketCapacity(60_000)).toBe(MAX_JOB_SIZE);
    expect(bucketCapacity(1_000_000)).toBe(500);
    expect(bucketCapacity(6000)).toBe(100);
    expect(bucketCapacity(37)).toBe(2);
    expect(bucketCapacity(1)).toBe(2);
    expect(bucketCapacity(0)).toBe(2);
    expect(wakeTarget(60_000)).toBe(250);
    expect(wakeTarget(6000)).toBe(50);
    expect(wakeTarget(37)).toBe(1);
  });

  it("nextWakeMs is the wait until `want` tokens are there", () => {
    expect(nextWakeMs({ tokens: 0, at: 0 }, 60_000, 0, 250)).toBe(250); // 1 per ms
    expect(nextWakeMs({ tokens: 100, at: 0 }, 60_000, 50, 250)).toBe(100);
    expect(nextWakeMs({ tokens: 300, at: 0 }, 60_000, 0, 250)).toBe(0);
    expect(nextWakeMs({ tokens: 0, at: 0 }, 37, 0, 1)).toBe(1622); // 60000/37 = 1621.6 ms
    expect(nextWakeMs({ tokens: -2, at: 0 }, 60, 0, 1)).toBe(3000); // debt is repaid first
    expect(nextWakeMs({ tokens: 0, at: 0 }, 60, 0, 0)).toBe(1000); // want is at least 1
    expect(nextWakeMs({ tokens: 0, at: 0 }, 0, 0, 1)).toBe(Number.POSITIVE_INFINITY);
    // Sleeping that long is enough, exactly.
    fc.assert(
      fc.property(
        fc.double({ min: -10, max: 10, noNaN: true }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.integer({ min: 1, max: 500 }),
        (tokens, rate, want) => {
          const state = { tokens, at: 0 };
          const wait = nextWakeMs(state, rate, 0, want);
          expect(releasable(refill(state, rate, wait, Number.POSITIVE_INFINITY))).toBeGreaterThanOrEqual(
            want,
          );
          if (wait > 0)
            expect(releasable(refill(state, rate, wait - 1, Number.POSITIVE_INFINITY))).toBeLessThan(want);
        },
      ),
    );
  });

  /** Deterministic PRNG so a failing run can be replayed. */
  function mulberry32(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /**
   * A runner's loop for `minutes`: wake, refill, release everything releasable, sleep until the next
   * target, waking late by a random 1..maxLateMs (alarms never fire early). Returns release times.
   */
  function simulate(rate: number, minutes: number, maxLateMs: number, seed: number) {
    const random = mulberry32(seed);
    const capacity = bucketCapacity(rate);
    const end = minutes * 60_000;
    const releases: { at: number; count: number }[] = [];
    let now = 0;
    let state = startPacing(now);
    let largestRelease = 0;
    while (now < end) {
      state = refill(state, rate, now, capacity);
      const count = releasable(state);
      if (count > 0) releases.push({ at: now, count });
      largestRelease = Math.max(largestRelease, count);
      state = take(state, count);
      const late = 1 + Math.floor(random() * maxLateMs);
      now += nextWakeMs(state, rate, now, wakeTarget(rate)) + late;
    }
    return { releases, largestRelease };
  }

  function perWindow(releases: { at: number; count: number }[], minutes: number, offsetMs = 0): number[] {
    const windows = new Array<number>(minutes).fill(0);
    for (const { at, count } of releases) {
      const index = Math.floor((at - offsetMs) / 60_000);
      if (index >= 0 && index < minutes) windows[index] = (windows[index] ?? 0) + count;
    }
    return windows;
  }

  it.each([
    [60_000, 100, 1],
    [60_000, 200, 2],
    [37, 100, 3],
    [37, 1000, 4],
    [6000, 50, 5],
  ])(
    "a 10-minute run at %i/min with wake-ups up to %i ms late stays within 1 percent of the rate in every 60 s window (seed %i)",
    (rate, maxLate, seed) => {
      const { releases, largestRelease } = simulate(rate, 10, maxLate, seed);
      const windows = perWindow(releases, 10);
      for (const count of windows) {
        expect(count).toBeGreaterThanOrEqual(rate * 0.99);
        expect(count).toBeLessThanOrEqual(rate * 1.01);
      }
      // No release is bigger than a job.
      expect(largestRelease).toBeLessThanOrEqual(MAX_JOB_SIZE);
      if (rate >= 600) {
        // At higher rates, sliding windows (every 5 s) also hold: releases are small next to a minute.
        for (let offset = 5000; offset < 60_000; offset += 5000) {
          for (const count of perWindow(releases, 9, offset)) {
            expect(count).toBeGreaterThanOrEqual(rate * 0.99);
            expect(count).toBeLessThanOrEqual(rate * 1.01);
          }
        }
      }
    },
  );

  it("a runner that stalls does not burst more than the bucket after it wakes", () => {
    const rate = 60_000;
    let state = refill(startPacing(0), rate, 0, bucketCapacity(rate));
    state = take(state, releasable(state));
    // Asleep for 30 s (an evicted Durable Object): 30,000 tokens accrued, but at most one job is released.
    state = refill(state, rate, 30_000, bucketCapacity(rate));
    expect(releasable(state)).toBe(500);
  });
});
