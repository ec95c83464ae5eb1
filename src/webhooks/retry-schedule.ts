/**
 * When a failed webhook delivery is tried again. Pure: the deliverer passes the clock and a random source.
 *
 * After the first try: 1 s, 5 s, 30 s, 2 min, 10 min, 1 h, 6 h, then every 6 h, for as long as the next try
 * still falls within 24 h of the first one. Every scheduled delay gets ±10 % jitter so receivers that came back up
 * are not hit by every queued retry in the same second. A `Retry-After` from a 429/503 replaces the
 * scheduled delay, capped at one hour so a receiver cannot park its events for a day.
 */

export const RETRY_DELAYS_SECONDS = [1, 5, 30, 120, 600, 3_600, 21_600] as const;
const REPEAT_DELAY_SECONDS = 21_600;
export const RETRY_WINDOW_MS = 24 * 3_600_000;
export const RETRY_AFTER_CAP_SECONDS = 3_600;
const JITTER = 0.1;

/** The delay before try number `failedAttempts + 1`, unjittered (1-based count of failed tries). */
export function baseDelaySeconds(failedAttempts: number): number {
  return RETRY_DELAYS_SECONDS[failedAttempts - 1] ?? REPEAT_DELAY_SECONDS;
}

/**
 * Seconds from a `Retry-After` header (delta-seconds or an HTTP date), clamped to [1 s, cap]; null when
 * absent or unreadable, in which case the schedule applies.
 */
export function parseRetryAfter(value: string | null | undefined, now: Date): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  let seconds: number;
  if (/^\d+$/.test(trimmed)) seconds = Number(trimmed);
  else {
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return null;
    seconds = Math.ceil((at - now.getTime()) / 1000);
  }
  return Math.min(Math.max(seconds, 1), RETRY_AFTER_CAP_SECONDS);
}

export interface NextAttemptInput {
  /** Tries made so far, all failed (≥ 1). */
  failedAttempts: number;
  firstAttemptAt: Date;
  now: Date;
  /** Parsed `Retry-After` of the last answer, if it was a 429 or 503 that sent one. */
  retryAfterSeconds?: number | null;
  /** Shrinks every delay and the 24 h window (tests run the schedule in milliseconds); default 1. */
  scale?: number;
  /** A number in [0, 1); defaults to Math.random. */
  random?: () => number;
}

/**
 * When to try next, or null when the 24 h window is spent and the delivery has failed for good. The
 * scale shrinks our schedule only: a receiver's `Retry-After` is its own instruction and is never
 * shortened (its jitter only adds).
 */
export function nextAttemptAt(input: NextAttemptInput): Date | null {
  const scale = input.scale ?? 1;
  const random = input.random ?? Math.random;
  const delayMs =
    input.retryAfterSeconds != null
      ? input.retryAfterSeconds * 1000 * (1 + JITTER * random())
      : baseDelaySeconds(input.failedAttempts) * 1000 * scale * (1 + JITTER * (2 * random() - 1));
  const at = input.now.getTime() + delayMs;
  if (at - input.firstAttemptAt.getTime() > RETRY_WINDOW_MS * scale) return null;
  return new Date(at);
}

/** An endpoint whose every try has failed for this long is disabled. */
export const DISABLE_AFTER_FAILING_MS = 5 * 24 * 3_600_000;
