import { describe, expect, it } from "vitest";
import {
  isPriority,
  isValidTimeZone,
  MAX_SCHEDULE_AHEAD_MS,
  PAST_TOLERANCE_MS,
  PRIORITIES,
  parseRfc3339,
  priorityRank,
  resolveSendTime,
  zonedWallTimeToInstant,
} from "../../src/domain/schedule";

const NOW = new Date("2026-02-20T12:00:00.000Z");

/** The instant send_at + timezone resolves to, with `now` chosen so the time is in range. */
function local(sendAt: string, timezone: string, now = NOW): string {
  const result = resolveSendTime({ send_at: sendAt, timezone }, now);
  if (!result.ok) throw new Error(`${sendAt} ${timezone}: ${result.message}`);
  if (!result.at) throw new Error(`${sendAt} ${timezone}: resolved to now`);
  return result.at.toISOString();
}

function error(input: Parameters<typeof resolveSendTime>[0], now = NOW) {
  const result = resolveSendTime(input, now);
  if (result.ok) throw new Error(`expected an error, got ${result.at?.toISOString() ?? "now"}`);
  return { field: result.field, message: result.message };
}

describe("resolveSendTime: schedule_at", () => {
  it("sends now when nothing is given", () => {
    expect(resolveSendTime({}, NOW)).toEqual({ ok: true, at: null });
    expect(resolveSendTime({ schedule_at: null, send_at: null, timezone: null }, NOW)).toEqual({
      ok: true,
      at: null,
    });
  });

  it.each([
    ["2026-03-01T09:00:00Z", "2026-03-01T09:00:00.000Z"],
    ["2026-03-01T09:00:00z", "2026-03-01T09:00:00.000Z"],
    ["2026-03-01t09:00:00Z", "2026-03-01T09:00:00.000Z"],
    ["2026-03-01T09:00:00-03:00", "2026-03-01T12:00:00.000Z"],
    ["2026-03-01T09:00:00+05:30", "2026-03-01T03:30:00.000Z"],
    ["2026-03-01T09:00:00+00:00", "2026-03-01T09:00:00.000Z"],
    ["2026-03-01T09:00:00-00:00", "2026-03-01T09:00:00.000Z"],
    ["2026-03-01T09:00:00.5Z", "2026-03-01T09:00:00.500Z"],
    ["2026-03-01T09:00:00.123456789+01:00", "2026-03-01T08:00:00.123Z"],
    ["2026-03-01T00:30:00+14:00", "2026-02-28T10:30:00.000Z"],
  ])("parses %s", (text, iso) => {
    expect(resolveSendTime({ schedule_at: text }, NOW)).toEqual({ ok: true, at: new Date(iso) });
  });

  it.each([
    "2026-03-01T09:00:00",
    "2026-03-01 09:00:00Z",
    "2026-03-01T09:00Z",
    "2026-03-01",
    "2026-03-01T09:00:00+0300",
    "2026-03-01T09:00:00+03",
    "2026-02-30T09:00:00Z",
    "2026-13-01T09:00:00Z",
    "2026-03-01T24:00:00Z",
    "2026-03-01T09:60:00Z",
    "2026-03-01T09:00:60Z",
    "2026-03-01T09:00:00+24:00",
    "2026-03-01T09:00:00+03:60",
    "1772355600",
    "",
    "next tuesday",
  ])("rejects %j", (text) => {
    const e = error({ schedule_at: text });
    expect(e.field).toBe("schedule_at");
    expect(e.message).toMatch(/^schedule_at must be an RFC 3339 date-time with a UTC offset or Z/);
  });

  it("points local times to send_at", () => {
    expect(error({ schedule_at: "2026-03-01T09:00:00" }).message).toContain("use send_at with timezone");
    expect(error({ schedule_at: "2026-03-01T09:00:00Z!" }).message).not.toContain("send_at");
  });

  it("knows leap years", () => {
    expect(parseRfc3339("2028-02-29T00:00:00Z")?.toISOString()).toBe("2028-02-29T00:00:00.000Z");
    expect(parseRfc3339("2026-02-29T00:00:00Z")).toBeNull();
    expect(parseRfc3339("2100-02-29T00:00:00Z")).toBeNull();
    expect(parseRfc3339("2000-02-29T00:00:00Z")?.toISOString()).toBe("2000-02-29T00:00:00.000Z");
  });

  it("treats up to 60 s in the past as now, and errors beyond", () => {
    const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
    expect(PAST_TOLERANCE_MS).toBe(60_000);
    expect(resolveSendTime({ schedule_at: ago(0) }, NOW)).toEqual({ ok: true, at: null });
    expect(resolveSendTime({ schedule_at: ago(60_000) }, NOW)).toEqual({ ok: true, at: null });
    expect(error({ schedule_at: ago(61_000) })).toEqual({
      field: "schedule_at",
      message: "schedule_at (2026-02-20T11:58:59.000Z) is in the past.",
    });
    expect(resolveSendTime({ schedule_at: new Date(NOW.getTime() + 1000).toISOString() }, NOW)).toEqual({
      ok: true,
      at: new Date(NOW.getTime() + 1000),
    });
  });

  it("allows exactly 35 days ahead, not a second more", () => {
    expect(MAX_SCHEDULE_AHEAD_MS).toBe(35 * 86_400_000);
    const limit = new Date(NOW.getTime() + MAX_SCHEDULE_AHEAD_MS);
    expect(resolveSendTime({ schedule_at: limit.toISOString() }, NOW)).toEqual({ ok: true, at: limit });
    expect(error({ schedule_at: new Date(limit.getTime() + 1000).toISOString() })).toEqual({
      field: "schedule_at",
      message: "schedule_at (2026-03-27T12:00:01.000Z) is more than 35 days ahead.",
    });
  });
});

describe("resolveSendTime: send_at + timezone", () => {
  it("converts fixed-offset zones", () => {
    // São Paulo has had no DST since 2019: -03:00 all year.
    expect(local("2026-03-01T09:00:00", "America/Sao_Paulo")).toBe("2026-03-01T12:00:00.000Z");
    expect(local("2026-11-01T00:00", "America/Sao_Paulo", new Date("2026-10-20T00:00:00Z"))).toBe(
      "2026-11-01T03:00:00.000Z",
    );
    expect(local("2026-03-01T09:00:00", "Asia/Kolkata")).toBe("2026-03-01T03:30:00.000Z");
    expect(local("2026-03-01T09:00", "Asia/Kolkata")).toBe("2026-03-01T03:30:00.000Z");
    expect(local("2026-03-01T09:00:00", "UTC")).toBe("2026-03-01T09:00:00.000Z");
    expect(local("2026-03-01T00:15:00", "Asia/Kathmandu")).toBe("2026-02-28T18:30:00.000Z"); // +05:45
  });

  it("America/New_York: standard and daylight time around the transitions", () => {
    const now = new Date("2026-03-01T00:00:00Z");
    expect(local("2026-03-08T01:59:59", "America/New_York", now)).toBe("2026-03-08T06:59:59.000Z"); // EST
    expect(local("2026-03-08T03:00:00", "America/New_York", now)).toBe("2026-03-08T07:00:00.000Z"); // EDT
    expect(local("2026-03-09T09:00:00", "America/New_York", now)).toBe("2026-03-09T13:00:00.000Z");
  });

  it("America/New_York 2026-03-08 02:30 does not exist: moves forward by the 1 h gap to 03:30 EDT", () => {
    const now = new Date("2026-03-01T00:00:00Z");
    expect(local("2026-03-08T02:30:00", "America/New_York", now)).toBe("2026-03-08T07:30:00.000Z");
    expect(local("2026-03-08T02:00:00", "America/New_York", now)).toBe("2026-03-08T07:00:00.000Z");
    expect(local("2026-03-08T02:59:59", "America/New_York", now)).toBe("2026-03-08T07:59:59.000Z");
  });

  it("America/New_York 2026-11-01 01:30 happens twice: takes the earlier (EDT) instant", () => {
    const now = new Date("2026-10-20T00:00:00Z");
    expect(local("2026-11-01T01:30:00", "America/New_York", now)).toBe("2026-11-01T05:30:00.000Z");
    expect(local("2026-11-01T00:59:59", "America/New_York", now)).toBe("2026-11-01T04:59:59.000Z");
    expect(local("2026-11-01T02:00:00", "America/New_York", now)).toBe("2026-11-01T07:00:00.000Z"); // EST
  });

  it("Europe/Berlin: gap on 2026-03-29, overlap on 2026-10-25", () => {
    const march = new Date("2026-03-20T00:00:00Z");
    expect(local("2026-03-29T01:59:00", "Europe/Berlin", march)).toBe("2026-03-29T00:59:00.000Z"); // CET
    expect(local("2026-03-29T02:30:00", "Europe/Berlin", march)).toBe("2026-03-29T01:30:00.000Z"); // → 03:30 CEST
    expect(local("2026-03-29T03:00:00", "Europe/Berlin", march)).toBe("2026-03-29T01:00:00.000Z");
    const october = new Date("2026-10-20T00:00:00Z");
    expect(local("2026-10-25T02:30:00", "Europe/Berlin", october)).toBe("2026-10-25T00:30:00.000Z"); // CEST
    expect(local("2026-10-25T03:00:00", "Europe/Berlin", october)).toBe("2026-10-25T02:00:00.000Z"); // CET
  });

  it("handles a 30-minute DST shift (Australia/Lord_Howe, 2026-10-04 02:00 → 02:30)", () => {
    const now = new Date("2026-09-20T00:00:00Z");
    expect(local("2026-10-04T01:59:00", "Australia/Lord_Howe", now)).toBe("2026-10-03T15:29:00.000Z"); // +10:30
    expect(local("2026-10-04T02:15:00", "Australia/Lord_Howe", now)).toBe("2026-10-03T15:45:00.000Z"); // → 02:45 +11
    expect(local("2026-10-04T02:30:00", "Australia/Lord_Howe", now)).toBe("2026-10-03T15:30:00.000Z");
  });

  it("round-trips every hour of a DST year in New York (except the gap hour)", () => {
    const formatter = new Intl.DateTimeFormat("sv-SE", {
      timeZone: "America/New_York",
      dateStyle: "short",
      timeStyle: "medium",
    });
    for (let t = Date.UTC(2026, 0, 1); t < Date.UTC(2027, 0, 1); t += 3_600_000) {
      const wall = formatter.format(new Date(t)).replace(" ", "T");
      const [date = "", time = ""] = wall.split("T");
      const [y, m, d] = date.split("-").map(Number);
      const [hh, mm, ss] = time.split(":").map(Number);
      const back = zonedWallTimeToInstant(
        Date.UTC(y ?? 0, (m ?? 1) - 1, d ?? 1, hh ?? 0, mm ?? 0, ss ?? 0),
        "America/New_York",
      );
      // Ambiguous hours map to the earlier instant, which is t itself or t - 1 h.
      const diff = t - (back?.getTime() ?? Number.NaN);
      expect([0, 3_600_000], wall).toContain(diff);
      if (diff !== 0) expect(wall.startsWith("2026-11-01T01:")).toBe(true);
    }
  });

  it("requires a timezone with send_at and send_at with a timezone", () => {
    expect(error({ send_at: "2026-03-01T09:00:00" })).toEqual({
      field: "timezone",
      message: "send_at is a local time and needs a timezone, e.g. America/Sao_Paulo.",
    });
    expect(error({ timezone: "America/Sao_Paulo" })).toEqual({
      field: "timezone",
      message: "timezone only applies to send_at; schedule_at already carries its UTC offset.",
    });
    expect(error({ schedule_at: "2026-03-01T09:00:00Z", timezone: "UTC" }).field).toBe("timezone");
  });

  it("refuses both schedule_at and send_at", () => {
    expect(
      error({ schedule_at: "2026-03-01T09:00:00Z", send_at: "2026-03-01T09:00:00", timezone: "UTC" }),
    ).toEqual({ field: "send_at", message: "Use either schedule_at or send_at with timezone, not both." });
  });

  it("names an unknown timezone", () => {
    for (const zone of ["Mars/Olympus_Mons", "America/Sao Paulo", "", "   "]) {
      expect(error({ send_at: "2026-03-01T09:00:00", timezone: zone })).toEqual({
        field: "timezone",
        message: `Unknown timezone "${zone}"; use an IANA name such as America/Sao_Paulo.`,
      });
    }
    expect(isValidTimeZone("America/Sao_Paulo")).toBe(true);
    expect(isValidTimeZone("Europe/Berlin")).toBe(true);
    expect(isValidTimeZone("Nowhere/Else")).toBe(false);
  });

  it.each([
    ["2026-03-01T09:00:00Z", true],
    ["2026-03-01T09:00:00-03:00", true],
    ["2026-03-01T09:00:00.000", false],
    ["2026-03-01 09:00:00", false],
    ["2026-03-01", false],
    ["2026-02-29T09:00:00", false],
    ["2026-03-01T25:00:00", false],
    ["2026-03-01T9:00", false],
  ])("rejects send_at %j", (sendAt, offsetHint) => {
    const e = error({ send_at: sendAt, timezone: "America/Sao_Paulo" });
    expect(e.field).toBe("send_at");
    expect(e.message).toMatch(/^send_at must be a local date-time without offset/);
    expect(e.message.includes("use schedule_at")).toBe(offsetHint);
  });

  it("applies the past and 35-day limits to local times too", () => {
    expect(error({ send_at: "2026-02-20T08:58:00", timezone: "America/Sao_Paulo" })).toEqual({
      field: "send_at",
      message: "send_at (2026-02-20T11:58:00.000Z) is in the past.",
    });
    expect(resolveSendTime({ send_at: "2026-02-20T08:59:30", timezone: "America/Sao_Paulo" }, NOW)).toEqual({
      ok: true,
      at: null,
    });
    expect(error({ send_at: "2026-03-27T09:00:01", timezone: "America/Sao_Paulo" }).message).toMatch(
      /more than 35 days ahead/,
    );
    expect(local("2026-03-27T09:00:00", "America/Sao_Paulo")).toBe("2026-03-27T12:00:00.000Z");
  });
});

describe("priorities", () => {
  it("ranks low < default < high < critical", () => {
    expect(PRIORITIES).toEqual(["low", "default", "high", "critical"]);
    expect(PRIORITIES.map(priorityRank)).toEqual([0, 1, 2, 3]);
    const sorted = (["default", "critical", "low", "high"] as const)
      .slice()
      .sort((a, b) => priorityRank(b) - priorityRank(a));
    expect(sorted).toEqual(["critical", "high", "default", "low"]);
  });

  it("recognises priority strings", () => {
    for (const p of PRIORITIES) expect(isPriority(p)).toBe(true);
    for (const p of ["", "urgent", "HIGH", "normal"]) expect(isPriority(p)).toBe(false);
  });
});
