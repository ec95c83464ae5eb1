import { describe, expect, it } from "vitest";
import { isMobileCapable, normalizeEmail, normalizePhone } from "../../src/domain/phone";

function reasonOf(input: string): string {
  const result = normalizePhone(input);
  if (result.ok) throw new Error(`expected ${input} to be rejected, got ${result.e164}`);
  return result.reason;
}

describe("normalizePhone", () => {
  it.each([
    ["+14155552671", "+14155552671", "US"],
    ["+5511987654321", "+5511987654321", "BR"],
    ["+447400123456", "+447400123456", "GB"],
    ["+442071838750", "+442071838750", "GB"],
    ["+919876543210", "+919876543210", "IN"],
    ["+4915112345678", "+4915112345678", "DE"],
    ["+525512345678", "+525512345678", "MX"],
    ["+6281234567890", "+6281234567890", "ID"],
    ["+2348031234567", "+2348031234567", "NG"],
    ["+5491123456789", "+5491123456789", "AR"],
    ["+16847331234", "+16847331234", "AS"],
    // +44 7911 12xxxx is a Guernsey range in the real plan: the region comes from the number, not the code.
    ["+447911123456", "+447911123456", "GG"],
  ])("accepts %s", (input, e164, country) => {
    expect(normalizePhone(input)).toEqual({ ok: true, e164, country });
  });

  it.each([
    ["+1 (415) 555-2671", "+14155552671"],
    ["+1.415.555.2671", "+14155552671"],
    ["  +1 415 555 2671  ", "+14155552671"],
    ["001 415 555 2671", "+14155552671"],
    ["+55 (11) 98765-4321", "+5511987654321"],
    ["0055 11 98765 4321", "+5511987654321"],
    ["+44 (0)7400 123456", "+447400123456"],
    ["+44 7400 123 456", "+447400123456"],
    ["+91 98765 43210", "+919876543210"],
    ["+91\t98765\u00a043210", "+919876543210"],
    ["+49 151 1234 5678", "+4915112345678"],
  ])("tolerates formatting: %j", (input, e164) => {
    const result = normalizePhone(input);
    expect(result.ok && result.e164).toBe(e164);
  });

  it("drops the obsolete Mexican mobile 1 (+52 1 …) that WhatsApp still reports", () => {
    expect(normalizePhone("+52 1 55 1234 5678")).toEqual({ ok: true, e164: "+525512345678", country: "MX" });
    expect(normalizePhone("+5215512345678")).toEqual(normalizePhone("+525512345678"));
  });

  it("rejects numbers without a country code and tells the sender to use E.164", () => {
    for (const input of ["4155552671", "(415) 555-2671", "011 44 7400 123456", "14155552671"]) {
      const reason = reasonOf(input);
      expect(reason).toContain("no country code");
      expect(reason).toContain("+14155550123");
    }
  });

  it("rejects empty input, letters, extensions and stray plus signs", () => {
    expect(reasonOf("")).toMatch(/empty/);
    expect(reasonOf("   ")).toMatch(/empty/);
    expect(reasonOf("+1 415 CALL NOW")).toMatch(/only contain digits/);
    expect(reasonOf("+1 415 555 2671 ext. 12")).toMatch(/only contain digits/);
    expect(reasonOf("+1+4155552671")).toMatch(/only contain digits/);
    expect(reasonOf("call me")).toMatch(/only contain digits/);
    expect(reasonOf("+")).toMatch(/no digits/);
    expect(reasonOf("00")).toMatch(/no digits/);
    expect(reasonOf("+ ( ) -")).toMatch(/no digits/);
    expect(reasonOf(`+1${"2".repeat(70)}`)).toMatch(/too long/);
  });

  it("rejects too short and too long numbers, naming the country", () => {
    expect(reasonOf("+1415")).toBe("Phone number is too short for country code +1.");
    expect(reasonOf("+12")).toMatch(/too short/);
    expect(reasonOf("+55119876543210")).toBe("Phone number is too long for BR (+55).");
    expect(reasonOf("+1 415 555 26711")).toMatch(/too long for country code \+1/);
    expect(reasonOf("+1415555267112345")).toMatch(/at most 15 digits/);
    expect(reasonOf("+234 1 234 5678")).toMatch(/too short/);
  });

  it("rejects numbers of a possible length that the region's plan does not allow", () => {
    expect(reasonOf("+15555552671")).toBe("Phone number is not a valid number for country code +1.");
    expect(reasonOf("+11234567890")).toMatch(/not a valid number/);
    // Brazilian mobiles start with 9 after the area code.
    expect(reasonOf("+5511187654321")).toBe("Phone number is not a valid number for BR (+55).");
    expect(reasonOf("+551198765432")).toMatch(/not a valid number for BR/);
  });

  it("rejects unknown country codes and non-geographic numbers", () => {
    expect(reasonOf("+999123456")).toMatch(/known country code/);
    expect(reasonOf("+0123456789")).toMatch(/known country code/);
    expect(reasonOf("+800 1234 5678")).toMatch(/non-geographic/);
  });
});

describe("isMobileCapable", () => {
  it("is true for mobiles and NANP numbers, false for fixed lines, toll-free and junk", () => {
    expect(isMobileCapable("+5511987654321")).toBe(true);
    expect(isMobileCapable("+447400123456")).toBe(true);
    expect(isMobileCapable("+919876543210")).toBe(true);
    expect(isMobileCapable("+14155552671")).toBe(true); // FIXED_LINE_OR_MOBILE
    expect(isMobileCapable("+442071838750")).toBe(false); // London landline
    expect(isMobileCapable("+4930123456")).toBe(false); // Berlin landline
    expect(isMobileCapable("+18005550199")).toBe(false); // toll-free
    expect(isMobileCapable("not a number")).toBe(false);
    expect(isMobileCapable("")).toBe(false);
  });
});

describe("normalizeEmail", () => {
  it("trims and lowercases the domain only", () => {
    expect(normalizeEmail("  Ana.Souza@Example.COM ")).toEqual({
      ok: true,
      address: "Ana.Souza@example.com",
    });
    expect(normalizeEmail("ops+alerts@mail.acme.co.uk")).toEqual({
      ok: true,
      address: "ops+alerts@mail.acme.co.uk",
    });
    expect(normalizeEmail("o'brien@xn--bcher-kva.de")).toEqual({
      ok: true,
      address: "o'brien@xn--bcher-kva.de",
    });
    expect(normalizeEmail("josé@exemplo.com.br").ok).toBe(true);
  });

  it.each([
    ["", /empty/],
    ["   ", /empty/],
    ["ana", /exactly one @/],
    ["ana@@example.com", /exactly one @/],
    ["ana@b@example.com", /exactly one @/],
    ["@example.com", /nothing before/],
    ["ana@", /no domain/],
    ["ana@localhost", /must contain a dot/],
    ["ana souza@example.com", /spaces/],
    ["ana@exa mple.com", /spaces/],
    [".ana@example.com", /misplaced dots/],
    ["ana.@example.com", /misplaced dots/],
    ["an..a@example.com", /misplaced dots/],
    ["ana(x)@example.com", /invalid characters/],
    ["ana@example..com", /not a valid domain/],
    ["ana@.example.com", /not a valid domain/],
    ["ana@example.com.", /not a valid domain/],
    ["ana@-example.com", /not a valid domain/],
    ["ana@example-.com", /not a valid domain/],
    ["ana@exa_mple.com", /not a valid domain/],
    ["ana@[127.0.0.1]", /not a valid domain/],
    ["ana@10.0.0.1", /top-level domain/],
    [`${"a".repeat(65)}@example.com`, /longer than 64/],
    [`ana@${"a".repeat(64)}.com`, /not a valid domain/],
    [`ana@${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(60)}.com`, /longer than 254/],
  ])("rejects %j", (input, reason) => {
    const result = normalizeEmail(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it("accepts exactly 254 characters and a 64-character local part", () => {
    const domain = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.com`; // 195 chars
    const local = "x".repeat(254 - 1 - domain.length);
    expect(local.length).toBeLessThanOrEqual(64);
    expect(normalizeEmail(`${local}@${domain}`)).toEqual({ ok: true, address: `${local}@${domain}` });
    expect(normalizeEmail(`${"a".repeat(64)}@example.com`).ok).toBe(true);
  });
});
