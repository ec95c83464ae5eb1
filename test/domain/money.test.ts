import { describe, expect, it } from "vitest";
import { CURRENCY, formatAmount, MICROS_PER_UNIT, parseAmount } from "../../src/domain/money";

describe("money", () => {
  it("uses USD micros", () => {
    expect(CURRENCY).toBe("USD");
    expect(MICROS_PER_UNIT).toBe(1_000_000);
  });

  it.each([
    [0, "0.0000"],
    [25_000, "0.0250"],
    [7_900, "0.0079"],
    [400, "0.0004"],
    [1_000_000, "1.0000"],
    [12_345_678_900, "12345.6789"],
    [49, "0.0000"], // below half of 0.0001 rounds down
    [50, "0.0001"], // half rounds away from zero
    [149, "0.0001"],
    [150, "0.0002"],
    [999_950, "1.0000"], // rounding carries into the whole part
    [-25_000, "-0.0250"],
    [-50, "-0.0001"],
    [-49, "0.0000"], // no "-0.0000"
    [Number.MAX_SAFE_INTEGER, "9007199254.7410"],
  ])("formats %i micros as %s", (micros, text) => {
    expect(formatAmount(micros)).toBe(text);
    expect(formatAmount(micros, "USD")).toBe(text);
  });

  it("refuses non-integer micros (a bug, not input)", () => {
    expect(() => formatAmount(0.5)).toThrow(RangeError);
    expect(() => formatAmount(Number.NaN)).toThrow(RangeError);
    expect(() => formatAmount(2 ** 60)).toThrow(RangeError);
  });

  it.each([
    ["0", 0],
    ["0.0250", 25_000],
    ["0.0079", 7_900],
    ["12", 12_000_000],
    ["12.5", 12_500_000],
    ["  10.50 ", 10_500_000],
    ["0.000001", 1],
    ["-1.25", -1_250_000],
    ["-0", 0],
    ["007.10", 7_100_000],
    ["9007199254.740991", Number.MAX_SAFE_INTEGER],
  ])("parses %j", (text, micros) => {
    expect(parseAmount(text)).toEqual({ ok: true, micros });
  });

  it("adds 0.1 + 0.2 exactly (the reason for micros)", () => {
    const a = parseAmount("0.1");
    const b = parseAmount("0.2");
    if (!a.ok || !b.ok) throw new Error("parse failed");
    expect(formatAmount(a.micros + b.micros)).toBe("0.3000");
    expect(a.micros + b.micros).toBe(300_000);
  });

  it.each([
    ["", /decimal string/],
    ["abc", /decimal string/],
    ["1e3", /no exponent/],
    ["1,000.00", /decimal string/],
    [".5", /decimal string/],
    ["5.", /decimal string/],
    ["+5", /decimal string/],
    ["$5", /decimal string/],
    ["0.0000001", /more than 6 decimal places/],
    ["9007199254.740992", /too large/],
    ["99999999999999999999", /too large/],
  ])("rejects %j", (text, reason) => {
    const result = parseAmount(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it("round-trips every 4-decimal amount it formats", () => {
    for (const micros of [0, 100, 25_000, 7_900, 62_500, 1_234_567_800, -400]) {
      const parsed = parseAmount(formatAmount(micros));
      expect(parsed).toEqual({ ok: true, micros });
    }
  });
});
