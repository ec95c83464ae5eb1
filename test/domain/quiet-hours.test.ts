import { getAllCountries } from "countries-and-timezones";
import { describe, expect, it } from "vitest";
import {
  countryTimeZone,
  parseClock,
  quietHoursRelease,
  recipientTimeZone,
  validateQuietHours,
} from "../../src/domain/quiet-hours";
import { isValidTimeZone } from "../../src/domain/schedule";

const NIGHT = { start: "21:00", end: "08:00" };

/** The release instant as ISO text, or null. */
function release(q: { start: string; end: string }, zone: string, nowIso: string): string | null {
  return quietHoursRelease(q, zone, new Date(nowIso))?.toISOString() ?? null;
}

describe("parseClock", () => {
  it.each([
    ["00:00", 0],
    ["08:00", 480],
    ["21:30", 1290],
    ["23:59", 1439],
  ])("%s → %i minutes", (text, minutes) => {
    expect(parseClock(text)).toBe(minutes);
  });

  it.each([
    "24:00",
    "7:00",
    "07:0",
    "07:60",
    " 07:00",
    "07:00 ",
    "07:00:00",
    "0700",
    "07.00",
    "",
    "ab:cd",
    "-1:00",
  ])("rejects %j", (text) => {
    expect(parseClock(text)).toBeNull();
  });
});

describe("validateQuietHours", () => {
  it("accepts wrapping and non-wrapping windows", () => {
    expect(validateQuietHours(NIGHT)).toEqual({ ok: true });
    expect(validateQuietHours({ start: "12:00", end: "14:00" })).toEqual({ ok: true });
    expect(validateQuietHours({ start: "00:00", end: "23:59" })).toEqual({ ok: true });
  });

  it("names the bad side", () => {
    expect(validateQuietHours({ start: "9pm", end: "08:00" })).toMatchObject({ ok: false, path: "start" });
    expect(validateQuietHours({ start: "21:00", end: "8:00" })).toMatchObject({ ok: false, path: "end" });
    const same = validateQuietHours({ start: "08:00", end: "08:00" });
    expect(same).toMatchObject({ ok: false, path: "end", message: expect.stringContaining("differ") });
    // Non-strings from unchecked JSON are an answer, not a crash.
    expect(validateQuietHours({ start: 21 as unknown as string, end: "08:00" })).toMatchObject({
      ok: false,
      path: "start",
    });
  });
});

describe("quietHoursRelease", () => {
  it("São Paulo (UTC-3): held at night until 08:00 local, free by day", () => {
    // 22:00 local on the 9th → 08:00 local on the 10th.
    expect(release(NIGHT, "America/Sao_Paulo", "2026-03-10T01:00:00Z")).toBe("2026-03-10T11:00:00.000Z");
    // Exactly at 21:00 the window has begun.
    expect(release(NIGHT, "America/Sao_Paulo", "2026-03-11T00:00:00Z")).toBe("2026-03-11T11:00:00.000Z");
    // One second before 08:00: still held, released a second later.
    expect(release(NIGHT, "America/Sao_Paulo", "2026-03-10T10:59:59Z")).toBe("2026-03-10T11:00:00.000Z");
    // 08:00 and 20:59 local are outside.
    expect(release(NIGHT, "America/Sao_Paulo", "2026-03-10T11:00:00Z")).toBeNull();
    expect(release(NIGHT, "America/Sao_Paulo", "2026-03-10T23:59:00Z")).toBeNull();
  });

  it("Asia/Kolkata (UTC+05:30): half-hour offset", () => {
    // 21:30 IST → 08:00 IST next day (02:30 UTC).
    expect(release(NIGHT, "Asia/Kolkata", "2026-03-10T16:00:00Z")).toBe("2026-03-11T02:30:00.000Z");
    // 07:59 IST → 08:00 IST the same day.
    expect(release(NIGHT, "Asia/Kolkata", "2026-03-11T02:29:00Z")).toBe("2026-03-11T02:30:00.000Z");
    // 20:59 IST is outside.
    expect(release(NIGHT, "Asia/Kolkata", "2026-03-11T15:29:00Z")).toBeNull();
  });

  it("the same instant is quiet in one zone and not in another", () => {
    const now = "2026-06-01T23:30:00Z"; // 20:30 São Paulo, 05:00 Kolkata, 00:30 London, 19:30 New York
    expect(release(NIGHT, "America/Sao_Paulo", now)).toBeNull();
    expect(release(NIGHT, "Asia/Kolkata", now)).toBe("2026-06-02T02:30:00.000Z");
    expect(release(NIGHT, "Europe/London", now)).toBe("2026-06-02T07:00:00.000Z");
    expect(release(NIGHT, "America/New_York", now)).toBeNull();
  });

  it("Europe/London across the spring-forward night (29 March 2026, 01:00 GMT → 02:00 BST)", () => {
    // 22:00 GMT → 08:00 BST, which is 07:00 UTC (not 08:00 UTC).
    expect(release(NIGHT, "Europe/London", "2026-03-28T22:00:00Z")).toBe("2026-03-29T07:00:00.000Z");
    // An end time the jump skips (01:30) ends the window when the clocks jump: 01:00 UTC = 02:00 BST.
    const skipped = { start: "23:00", end: "01:30" };
    expect(release(skipped, "Europe/London", "2026-03-29T00:30:00Z")).toBe("2026-03-29T01:00:00.000Z");
    expect(release(skipped, "Europe/London", "2026-03-28T23:15:00Z")).toBe("2026-03-29T01:00:00.000Z");
    // Just after the jump (02:00 BST) the window is over.
    expect(release(skipped, "Europe/London", "2026-03-29T01:00:00Z")).toBeNull();
  });

  it("Europe/London across the fall-back night (25 October 2026, 02:00 BST → 01:00 GMT)", () => {
    // 22:00 BST → 08:00 GMT, which is 08:00 UTC.
    expect(release(NIGHT, "Europe/London", "2026-10-24T21:00:00Z")).toBe("2026-10-25T08:00:00.000Z");
    // 01:30 happens twice; the window ends at the first 01:30 (00:30 UTC)...
    const repeated = { start: "23:00", end: "01:30" };
    expect(release(repeated, "Europe/London", "2026-10-24T23:00:00Z")).toBe("2026-10-25T00:30:00.000Z");
    // ...between the two 01:30s the clock reads 01:00–01:30 again, so it is quiet until the second one.
    expect(release(repeated, "Europe/London", "2026-10-25T00:45:00Z")).toBeNull(); // 01:45 BST
    expect(release(repeated, "Europe/London", "2026-10-25T01:10:00Z")).toBe("2026-10-25T01:30:00.000Z");
  });

  it("America/New_York: 08:00 local moves in UTC across the DST start (8 March 2026)", () => {
    // 22:00 EST on the 6th → 08:00 EST on the 7th = 13:00 UTC.
    expect(release(NIGHT, "America/New_York", "2026-03-07T03:00:00Z")).toBe("2026-03-07T13:00:00.000Z");
    // 21:00 EST on the 7th → 08:00 EDT on the 8th = 12:00 UTC.
    expect(release(NIGHT, "America/New_York", "2026-03-08T02:00:00Z")).toBe("2026-03-08T12:00:00.000Z");
    // End 02:30 does not exist on the 8th: released at the jump, 03:00 EDT = 07:00 UTC.
    expect(release({ start: "22:00", end: "02:30" }, "America/New_York", "2026-03-08T06:00:00Z")).toBe(
      "2026-03-08T07:00:00.000Z",
    );
    // A start the jump skips (02:30) still begins the window: at 03:00 EDT it is quiet until 06:00 EDT.
    expect(release({ start: "02:30", end: "06:00" }, "America/New_York", "2026-03-08T07:00:00Z")).toBe(
      "2026-03-08T10:00:00.000Z",
    );
  });

  it("a window that does not wrap midnight (12:00–14:00)", () => {
    const lunch = { start: "12:00", end: "14:00" };
    expect(release(lunch, "America/Sao_Paulo", "2026-05-05T15:30:00Z")).toBe("2026-05-05T17:00:00.000Z");
    expect(release(lunch, "America/Sao_Paulo", "2026-05-05T15:00:00Z")).toBe("2026-05-05T17:00:00.000Z");
    expect(release(lunch, "America/Sao_Paulo", "2026-05-05T14:59:59Z")).toBeNull(); // 11:59:59
    expect(release(lunch, "America/Sao_Paulo", "2026-05-05T17:00:00Z")).toBeNull(); // 14:00
    expect(release(lunch, "America/Sao_Paulo", "2026-05-05T03:00:00Z")).toBeNull(); // midnight
  });

  it("the release is always in the future and outside the window", () => {
    const zones = [
      "America/Sao_Paulo",
      "Asia/Kolkata",
      "Europe/London",
      "America/New_York",
      "Australia/Lord_Howe",
    ];
    const windows = [NIGHT, { start: "12:00", end: "14:00" }, { start: "23:00", end: "01:30" }];
    // Every 17 minutes for a year, so DST nights in both hemispheres are crossed.
    for (
      let t = Date.parse("2026-01-01T00:00:00Z");
      t < Date.parse("2027-01-01T00:00:00Z");
      t += 17 * 60_000 * 7
    ) {
      for (const zone of zones) {
        for (const window of windows) {
          const at = quietHoursRelease(window, zone, new Date(t));
          if (!at) continue;
          expect(at.getTime()).toBeGreaterThan(t);
          expect(at.getTime() - t).toBeLessThanOrEqual(24 * 3_600_000);
          expect(quietHoursRelease(window, zone, at)).toBeNull();
          // One second earlier it was still quiet: the release is the first free instant.
          expect(quietHoursRelease(window, zone, new Date(at.getTime() - 1000))).not.toBeNull();
        }
      }
    }
  });

  it("treats an invalid window or zone as no quiet hours", () => {
    expect(release({ start: "25:00", end: "08:00" }, "UTC", "2026-03-10T23:00:00Z")).toBeNull();
    expect(release({ start: "08:00", end: "08:00" }, "UTC", "2026-03-10T08:00:00Z")).toBeNull();
    expect(release(NIGHT, "Mars/Olympus_Mons", "2026-03-10T23:00:00Z")).toBeNull();
    expect(release(NIGHT, "UTC", "2026-03-10T23:00:00Z")).toBe("2026-03-11T08:00:00.000Z");
  });
});

describe("recipientTimeZone", () => {
  it("prefers a valid timezone attribute", () => {
    expect(recipientTimeZone("Asia/Tokyo", "BR", "UTC")).toBe("Asia/Tokyo");
    expect(recipientTimeZone("Europe/Lisbon", null, "UTC")).toBe("Europe/Lisbon");
  });

  it("falls back to the country when the attribute is missing or not a zone", () => {
    expect(recipientTimeZone(undefined, "BR", "UTC")).toBe("America/Sao_Paulo");
    expect(recipientTimeZone("Mars/Base", "BR", "UTC")).toBe("America/Sao_Paulo");
    expect(recipientTimeZone("Mars/Base", "BR", "UTC")).toBe("America/Sao_Paulo"); // remembered as invalid
    expect(recipientTimeZone(42, "IN", "UTC")).toBe("Asia/Kolkata");
    expect(recipientTimeZone("", "GB", "UTC")).toBe("Europe/London");
    expect(recipientTimeZone({ tz: "Asia/Tokyo" }, "gb", "UTC")).toBe("Europe/London");
  });

  it("uses the fallback when neither is usable", () => {
    expect(recipientTimeZone(null, null, "America/Chicago")).toBe("America/Chicago");
    expect(recipientTimeZone(null, "XX", "UTC")).toBe("UTC");
    expect(recipientTimeZone(null, "BRA", "UTC")).toBe("UTC");
    expect(recipientTimeZone(null, "", "UTC")).toBe("UTC");
  });

  it.each([
    ["US", "America/New_York"],
    ["CA", "America/Toronto"],
    ["BR", "America/Sao_Paulo"],
    ["RU", "Europe/Moscow"],
    ["AU", "Australia/Sydney"],
    ["MX", "America/Mexico_City"],
    ["ID", "Asia/Jakarta"],
    ["ES", "Europe/Madrid"],
    ["PT", "Europe/Lisbon"],
    ["IN", "Asia/Kolkata"],
    ["FR", "Europe/Paris"],
    ["NG", "Africa/Lagos"],
  ])("country %s → %s", (country, zone) => {
    expect(countryTimeZone(country)).toBe(zone);
  });

  it("picks a zone the runtime knows for every country the library lists, the same way each time", () => {
    for (const code of Object.keys(getAllCountries())) {
      const zone = countryTimeZone(code);
      if (zone === null) continue;
      expect(isValidTimeZone(zone), `${code} → ${zone}`).toBe(true);
      expect(countryTimeZone(code.toLowerCase())).toBe(zone);
    }
    // Nearly every country resolves.
    const resolved = Object.keys(getAllCountries()).filter((code) => countryTimeZone(code) !== null);
    expect(resolved.length).toBeGreaterThan(230);
  });

  it("is cheap enough to call for every recipient", () => {
    const countries = ["BR", "US", "IN", "GB", "DE", null];
    const started = Date.now();
    for (let i = 0; i < 100_000; i++)
      recipientTimeZone(undefined, countries[i % countries.length] ?? null, "UTC");
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
