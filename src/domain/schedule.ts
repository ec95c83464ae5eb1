/**
 * When a message should go out. Two ways to say it, because tenants think in both: `schedule_at` is an
 * absolute instant (RFC 3339 with an offset), `send_at` + `timezone` is a wall-clock time where the
 * recipient lives ("9:00 in São Paulo"), converted here with Intl only so DST rules come from ICU's
 * tz database instead of hand-written offsets.
 */

export interface ScheduleInput {
  schedule_at?: string | null;
  send_at?: string | null;
  timezone?: string | null;
}

export type ResolvedSendTime =
  /** `at: null` means send now. */
  | { ok: true; at: Date | null }
  | { ok: false; field: "schedule_at" | "send_at" | "timezone"; message: string };

/** A time at most this far in the past is "now" (clock skew, slow clients); further back is an error. */
export const PAST_TOLERANCE_MS = 60_000;
/** Furthest ahead a message can be scheduled. */
export const MAX_SCHEDULE_AHEAD_MS = 35 * 24 * 60 * 60 * 1000;

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;
const LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;
/** Looks like a date-time that carries an offset: the mistake of using send_at for an absolute time. */
const HAS_OFFSET = /(?:[Zz]|[+-]\d{2}:?\d{2})$/;

interface Fields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** Date.UTC of the fields, or null when a field is out of range (month 13, 30 February, 24:00, second 60). */
function wallClockMs(f: Fields): number | null {
  if (f.month < 1 || f.month > 12 || f.hour > 23 || f.minute > 59 || f.second > 59) return null;
  const ms = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second);
  const check = new Date(ms);
  // Date.UTC maps years 0–99 to 1900–1999; setUTCFullYear keeps them literal.
  check.setUTCFullYear(f.year);
  if (check.getUTCDate() !== f.day || check.getUTCMonth() !== f.month - 1) return null;
  return check.getTime();
}

function fieldsOf(match: RegExpExecArray): Fields {
  const n = (i: number) => Number(match[i] ?? 0);
  return { year: n(1), month: n(2), day: n(3), hour: n(4), minute: n(5), second: n(6) };
}

/** `2026-12-01T09:00:00-03:00` → the instant, or null when it is not RFC 3339 with an offset. */
export function parseRfc3339(text: string): Date | null {
  const match = RFC3339.exec(text);
  if (!match) return null;
  const wall = wallClockMs(fieldsOf(match));
  const offsetHours = Number(match[10] ?? 0);
  const offsetMinutes = Number(match[11] ?? 0);
  if (wall === null || offsetHours > 23 || offsetMinutes > 59) return null;
  const millis = Number((match[7] ?? "").padEnd(3, "0").slice(0, 3));
  const sign = match[9] === "-" ? -1 : 1;
  return new Date(wall + millis - sign * (offsetHours * 60 + offsetMinutes) * 60_000);
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** A formatter for the zone, or null when the zone is unknown to ICU. Cached: construction is not cheap. */
function formatterFor(timeZone: string): Intl.DateTimeFormat | null {
  const cached = formatters.get(timeZone);
  if (cached) return cached;
  try {
    const formatter = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, formatter);
    return formatter;
  } catch {
    return null;
  }
}

/** Whether `timeZone` is an IANA zone name the runtime knows (`America/Sao_Paulo`, `UTC`). */
export function isValidTimeZone(timeZone: string): boolean {
  return timeZone.trim() !== "" && formatterFor(timeZone) !== null;
}

/** The wall-clock time `instantMs` shows on the formatter's zone, as UTC-ms of its fields (seconds precision). */
function wallOf(formatter: Intl.DateTimeFormat, instantMs: number): number {
  const parts: Record<string, number> = {};
  for (const part of formatter.formatToParts(new Date(instantMs))) {
    if (part.type !== "literal") parts[part.type] = Number(part.value);
  }
  return Date.UTC(
    parts.year ?? 0,
    (parts.month ?? 1) - 1,
    parts.day ?? 1,
    (parts.hour ?? 0) % 24,
    parts.minute ?? 0,
    parts.second ?? 0,
  );
}

/** The wall-clock time `instantMs` shows in `timeZone` (UTC-ms of its fields), or null for an unknown zone. */
export function instantToWallTime(instantMs: number, timeZone: string): number | null {
  const formatter = formatterFor(timeZone);
  return formatter ? wallOf(formatter, instantMs) : null;
}

/** The zone's UTC offset at `instantMs`, in ms (e.g. -3 h for São Paulo). */
function offsetAt(formatter: Intl.DateTimeFormat, instantMs: number): number {
  return wallOf(formatter, instantMs) - (instantMs - (((instantMs % 1000) + 1000) % 1000));
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The instant a wall-clock time (given as UTC-ms of its fields) has in `timeZone`. Like Temporal's
 * "compatible" disambiguation: a time skipped by a spring-forward gap moves forward by the gap length
 * (02:30 on a 02:00→03:00 night becomes 03:30), and a time repeated by a fall-back takes the earlier
 * instant (the first 01:30, still on summer time).
 */
export function zonedWallTimeToInstant(wallMs: number, timeZone: string): Date | null {
  const formatter = formatterFor(timeZone);
  if (!formatter) return null;
  // Offsets a day either side bracket any transition near this wall time.
  const before = offsetAt(formatter, wallMs - DAY_MS);
  const after = offsetAt(formatter, wallMs + DAY_MS);
  const candidates = [wallMs - before, wallMs - after].filter((t) => t + offsetAt(formatter, t) === wallMs);
  if (candidates.length > 0) return new Date(Math.min(...candidates));
  // In a gap: applying the offset from before the transition lands the same distance past it.
  return new Date(wallMs - before);
}

/**
 * `schedule_at` / `send_at` + `timezone` → when to send. No time at all, or a time up to 60 s in the
 * past, means now (`at: null`); further in the past or more than 35 days ahead is an error.
 */
export function resolveSendTime(input: ScheduleInput, now: Date): ResolvedSendTime {
  const { schedule_at: scheduleAt, send_at: sendAt, timezone } = input;
  const has = (v: string | null | undefined): v is string => v !== undefined && v !== null;
  if (has(scheduleAt) && has(sendAt)) {
    return {
      ok: false,
      field: "send_at",
      message: "Use either schedule_at or send_at with timezone, not both.",
    };
  }
  if (has(timezone) && !has(sendAt)) {
    return {
      ok: false,
      field: "timezone",
      message: "timezone only applies to send_at; schedule_at already carries its UTC offset.",
    };
  }

  let at: Date;
  let field: "schedule_at" | "send_at";
  if (has(scheduleAt)) {
    field = "schedule_at";
    const parsed = parseRfc3339(scheduleAt);
    if (!parsed) {
      const hint = LOCAL.test(scheduleAt) ? " For a local time, use send_at with timezone." : "";
      return {
        ok: false,
        field,
        message: `schedule_at must be an RFC 3339 date-time with a UTC offset or Z, e.g. 2026-12-01T09:00:00-03:00.${hint}`,
      };
    }
    at = parsed;
  } else if (has(sendAt)) {
    field = "send_at";
    if (!has(timezone)) {
      return {
        ok: false,
        field: "timezone",
        message: "send_at is a local time and needs a timezone, e.g. America/Sao_Paulo.",
      };
    }
    if (!isValidTimeZone(timezone)) {
      return {
        ok: false,
        field: "timezone",
        message: `Unknown timezone "${timezone}"; use an IANA name such as America/Sao_Paulo.`,
      };
    }
    const match = LOCAL.exec(sendAt);
    const wall = match ? wallClockMs(fieldsOf(match)) : null;
    if (wall === null) {
      const hint = HAS_OFFSET.test(sendAt) ? " It must not carry an offset; use schedule_at for that." : "";
      return {
        ok: false,
        field,
        message: `send_at must be a local date-time without offset, e.g. 2026-12-01T09:00:00.${hint}`,
      };
    }
    const instant = zonedWallTimeToInstant(wall, timezone);
    if (!instant) return { ok: false, field: "timezone", message: `Unknown timezone "${timezone}".` };
    at = instant;
  } else {
    return { ok: true, at: null };
  }

  const delta = at.getTime() - now.getTime();
  if (delta < -PAST_TOLERANCE_MS) {
    return { ok: false, field, message: `${field} (${at.toISOString()}) is in the past.` };
  }
  if (delta <= 0) return { ok: true, at: null };
  if (delta > MAX_SCHEDULE_AHEAD_MS) {
    return { ok: false, field, message: `${field} (${at.toISOString()}) is more than 35 days ahead.` };
  }
  return { ok: true, at };
}

/** Dispatch order: a critical OTP overtakes a queued low-priority newsletter. */
export const PRIORITIES = ["low", "default", "high", "critical"] as const;
export type Priority = (typeof PRIORITIES)[number];

export function isPriority(value: string): value is Priority {
  return (PRIORITIES as readonly string[]).includes(value);
}

/** 0 for `low` … 3 for `critical`: higher sends first. */
export function priorityRank(priority: Priority): number {
  return PRIORITIES.indexOf(priority);
}
