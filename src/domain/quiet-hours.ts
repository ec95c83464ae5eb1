import { getCountry, getTimezone } from "countries-and-timezones";
import { instantToWallTime, isValidTimeZone, zonedWallTimeToInstant } from "./schedule";

/**
 * Quiet hours `{start: "21:00", end: "08:00"}` hold a broadcast's recipient while it is night where they
 * live, and release them when the window ends on their own clock. The window may wrap midnight
 * (21:00–08:00) or not (12:00–14:00); start and end are never equal. Local time comes from Intl, so DST
 * rules are ICU's, not hand-written offsets.
 */

export interface QuietHoursWindow {
  start: string;
  end: string;
}

export type QuietHoursCheck = { ok: true } | { ok: false; path: "start" | "end"; message: string };

const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$/;
const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

/** "HH:MM" on a 24-hour clock (exactly two digits each, 00:00–23:59) → minutes after midnight, else null. */
export function parseClock(text: string): number | null {
  const match = CLOCK.exec(text);
  if (!match) return null;
  return Number(match[1]) * 60 + Number(match[2]);
}

export function validateQuietHours(q: QuietHoursWindow): QuietHoursCheck {
  const start = typeof q.start === "string" ? parseClock(q.start) : null;
  if (start === null) {
    return {
      ok: false,
      path: "start",
      message: 'quiet_hours.start must be "HH:MM" on a 24-hour clock, e.g. "21:00".',
    };
  }
  const end = typeof q.end === "string" ? parseClock(q.end) : null;
  if (end === null) {
    return {
      ok: false,
      path: "end",
      message: 'quiet_hours.end must be "HH:MM" on a 24-hour clock, e.g. "08:00".',
    };
  }
  if (start === end) {
    return {
      ok: false,
      path: "end",
      message: "quiet_hours.end must differ from start; an empty or all-day window has no meaning.",
    };
  }
  return { ok: true };
}

/** The wall-clock time `instantMs` shows in `timeZone` (seconds precision); zones are checked before use. */
const wallTimeMs = (instantMs: number, timeZone: string): number =>
  instantToWallTime(instantMs, timeZone) ?? instantMs;

/**
 * The first instant after `afterMs` whose local wall time is `targetWallMs`, or — when that wall time is
 * skipped by a DST jump — the first instant after the gap (the moment the clocks jump past it).
 */
function nextInstantOfWallTime(targetWallMs: number, timeZone: string, afterMs: number): number {
  const first = zonedWallTimeToInstant(targetWallMs, timeZone)?.getTime() ?? targetWallMs;
  const firstWall = wallTimeMs(first, timeZone);
  if (firstWall !== targetWallMs) return firstInstantAtOrPast(targetWallMs, timeZone, first, firstWall);
  if (first > afterMs) return first;
  // A fall-back night shows this wall time twice and `first` has passed: take the repeat, an offset later.
  const offsetNow = wallTimeMs(afterMs, timeZone) - (afterMs - (afterMs % 1000));
  const repeat = targetWallMs - offsetNow;
  return repeat > afterMs && wallTimeMs(repeat, timeZone) === targetWallMs ? repeat : first;
}

/**
 * In a spring-forward gap zonedWallTimeToInstant moves the time forward by the gap length (02:30 → 03:30);
 * quiet hours should end when the clocks jump (03:00). Binary search, by whole seconds, for the first
 * instant whose wall time is at or past the target: transitions are rare, so the cost is too.
 */
function firstInstantAtOrPast(
  targetWallMs: number,
  timeZone: string,
  shiftedMs: number,
  shiftedWallMs: number,
): number {
  // `shiftedMs` is the target moved forward by the gap length, so the jump lies within one gap before it.
  let high = shiftedMs;
  let low = shiftedMs - (shiftedWallMs - targetWallMs) - 1000;
  while (high - low > 1000) {
    const mid = low + Math.max(1000, Math.floor((high - low) / 2000) * 1000);
    if (wallTimeMs(mid, timeZone) >= targetWallMs) high = mid;
    else low = mid;
  }
  return high;
}

/**
 * When a recipient in `timeZone` may be sent to: null when `now` is outside the quiet window there,
 * otherwise the instant the window ends (the next local `end` after now). An invalid window or zone is
 * treated as no quiet hours (both are validated before a broadcast is stored).
 */
export function quietHoursRelease(q: QuietHoursWindow, timeZone: string, now: Date): Date | null {
  const start = parseClock(q.start);
  const end = parseClock(q.end);
  if (start === null || end === null || start === end || !isValidTimeZone(timeZone)) return null;
  const nowMs = now.getTime();
  const wall = wallTimeMs(nowMs, timeZone);
  const minuteOfDay = Math.floor((((wall % DAY_MS) + DAY_MS) % DAY_MS) / MINUTE_MS);
  const wraps = start > end;
  const inWindow = wraps
    ? minuteOfDay >= start || minuteOfDay < end
    : minuteOfDay >= start && minuteOfDay < end;
  if (!inWindow) return null;
  const midnight = wall - (((wall % DAY_MS) + DAY_MS) % DAY_MS);
  // Before `end` today the window ends today; in the evening part of a wrapping window it ends tomorrow.
  const endDay = minuteOfDay < end ? midnight : midnight + DAY_MS;
  return new Date(nextInstantOfWallTime(endDay + end * MINUTE_MS, timeZone, nowMs));
}

// ---- Recipient time zone ---------------------------------------------------------------------------------

/**
 * For countries spanning several zones, the zone most of the population lives in (its largest metro
 * area). countries-and-timezones lists zones alphabetically (US → America/Adak), which would hold most
 * recipients at the wrong hour.
 */
const MOST_POPULOUS_ZONE: Readonly<Record<string, string>> = {
  AR: "America/Argentina/Buenos_Aires",
  AU: "Australia/Sydney",
  BR: "America/Sao_Paulo",
  CA: "America/Toronto",
  CD: "Africa/Kinshasa",
  CL: "America/Santiago",
  CN: "Asia/Shanghai",
  CY: "Asia/Nicosia",
  DE: "Europe/Berlin",
  EC: "America/Guayaquil",
  ES: "Europe/Madrid",
  FM: "Pacific/Pohnpei",
  GL: "America/Nuuk",
  ID: "Asia/Jakarta",
  KI: "Pacific/Tarawa",
  KZ: "Asia/Almaty",
  MH: "Pacific/Majuro",
  MN: "Asia/Ulaanbaatar",
  MX: "America/Mexico_City",
  MY: "Asia/Kuala_Lumpur",
  NZ: "Pacific/Auckland",
  PF: "Pacific/Tahiti",
  PG: "Pacific/Port_Moresby",
  PS: "Asia/Hebron",
  PT: "Europe/Lisbon",
  RU: "Europe/Moscow",
  UA: "Europe/Kyiv",
  US: "America/New_York",
  UZ: "Asia/Tashkent",
  VN: "Asia/Ho_Chi_Minh",
};

const COUNTRY_CODE = /^[A-Za-z]{2}$/;
const zoneByCountry = new Map<string, string | null>();

/**
 * The zone for an ISO 3166-1 alpha-2 country, or null when unknown. Rule: the most populous zone from the
 * table above; otherwise the first zone countries-and-timezones lists for the country that names this
 * country first (the library orders a zone's countries by relevance); otherwise its first zone at all.
 * Only zones the runtime's ICU knows are returned.
 */
export function countryTimeZone(country: string): string | null {
  // Only two-letter codes are looked up and cached, so the cache holds at most 26 × 26 entries.
  if (!COUNTRY_CODE.test(country)) return null;
  const code = country.toUpperCase();
  const cached = zoneByCountry.get(code);
  if (cached !== undefined) return cached;
  const zones = getCountry(code)?.timezones ?? [];
  const candidates = [
    MOST_POPULOUS_ZONE[code],
    // Older ICU builds know Kyiv only by its former spelling.
    code === "UA" ? "Europe/Kiev" : undefined,
    ...zones.filter((z) => isHomeZone(z, code)),
    ...zones,
  ];
  const zone = candidates.find((z): z is string => z !== undefined && isValidTimeZone(z)) ?? null;
  zoneByCountry.set(code, zone);
  return zone;
}

/** Whether the library names `country` first among the countries using `zone` (its home country). */
function isHomeZone(zone: string, country: string): boolean {
  return getTimezone(zone)?.countries[0] === country;
}

/** Zone names from attributes that failed the check, so a bad value is not re-tried per recipient. */
const invalidZones = new Set<string>();
const INVALID_ZONES_LIMIT = 1000;

/**
 * The zone a recipient's quiet hours are read in: the contact's `timezone` attribute when it is a valid
 * IANA zone, else the zone of its phone number's country (see countryTimeZone), else `fallback`.
 * Runs once per recipient: both lookups are memoised.
 */
export function recipientTimeZone(attribute: unknown, country: string | null, fallback: string): string {
  if (typeof attribute === "string" && attribute !== "" && !invalidZones.has(attribute)) {
    if (isValidTimeZone(attribute)) return attribute;
    if (invalidZones.size >= INVALID_ZONES_LIMIT) invalidZones.clear();
    invalidZones.add(attribute);
  }
  return (country ? countryTimeZone(country) : null) ?? fallback;
}
