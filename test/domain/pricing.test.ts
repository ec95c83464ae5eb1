import { describe, expect, it } from "vitest";
import { normalizePhone } from "../../src/domain/phone";
import {
  estimateCost,
  PRICE_TABLE,
  priceMessage,
  smsSegments,
  WHATSAPP_CATEGORIES,
} from "../../src/domain/pricing";

describe("priceMessage", () => {
  it("prices WhatsApp by category and country", () => {
    expect(priceMessage({ channel: "whatsapp", category: "marketing", country: "BR" })).toEqual({
      amountMicros: 62_500,
      currency: "USD",
      rule: "whatsapp:marketing:BR",
    });
    expect(priceMessage({ channel: "whatsapp", category: "utility", country: "BR" }).amountMicros).toBe(
      8_000,
    );
    expect(
      priceMessage({ channel: "whatsapp", category: "authentication", country: "BR" }).amountMicros,
    ).toBe(31_500);
    expect(priceMessage({ channel: "whatsapp", category: "marketing", country: "US" })).toMatchObject({
      amountMicros: 25_000,
      rule: "whatsapp:marketing:US",
    });
    expect(priceMessage({ channel: "whatsapp", category: "utility", country: "IN" }).rule).toBe(
      "whatsapp:utility:IN",
    );
  });

  it("has a row for every required country and every billed category", () => {
    for (const country of ["US", "BR", "IN", "GB", "DE", "MX", "ID", "NG"]) {
      for (const category of ["marketing", "utility", "authentication"] as const) {
        const price = priceMessage({ channel: "whatsapp", category, country });
        expect(price.rule).toBe(`whatsapp:${category}:${country}`);
        expect(Number.isSafeInteger(price.amountMicros) && price.amountMicros > 0).toBe(true);
      }
      expect(priceMessage({ channel: "sms", country }).rule).toBe(`sms:${country}`);
    }
  });

  it("falls back to the default row for unlisted, missing or odd countries", () => {
    const def = PRICE_TABLE.whatsapp.default;
    expect(priceMessage({ channel: "whatsapp", category: "marketing", country: "FR" })).toEqual({
      amountMicros: def.marketing,
      currency: "USD",
      rule: "whatsapp:marketing:default",
    });
    expect(priceMessage({ channel: "whatsapp", category: "utility", country: null }).rule).toBe(
      "whatsapp:utility:default",
    );
    expect(priceMessage({ channel: "whatsapp", category: "utility" }).rule).toBe("whatsapp:utility:default");
    // Not an own property of the table: must not resolve to Object.prototype members.
    expect(priceMessage({ channel: "whatsapp", category: "utility", country: "toString" }).rule).toBe(
      "whatsapp:utility:default",
    );
    expect(priceMessage({ channel: "sms", country: "FR" })).toEqual({
      amountMicros: PRICE_TABLE.sms.default,
      currency: "USD",
      rule: "sms:default",
    });
    expect(priceMessage({ channel: "sms", country: "constructor" }).rule).toBe("sms:default");
    expect(priceMessage({ channel: "sms" }).rule).toBe("sms:default");
  });

  it("accepts lower-case country codes", () => {
    expect(priceMessage({ channel: "sms", country: "us" })).toMatchObject({
      amountMicros: 7_900,
      rule: "sms:US",
    });
  });

  it("prices free-form service messages as service, whatever the country", () => {
    for (const country of ["BR", "US", "FR", null]) {
      expect(priceMessage({ channel: "whatsapp", category: "service", country })).toEqual({
        amountMicros: 0,
        currency: "USD",
        rule: "whatsapp:service",
      });
    }
  });

  it("charges email a flat price and ignores country and category", () => {
    const flat = { amountMicros: 400, currency: "USD", rule: "email:flat" };
    expect(priceMessage({ channel: "email" })).toEqual(flat);
    expect(priceMessage({ channel: "email", country: "BR", category: "marketing" })).toEqual(flat);
  });

  it("refuses a WhatsApp price without a (known) category", () => {
    expect(() => priceMessage({ channel: "whatsapp", country: "BR" })).toThrow(/category/);
    expect(() => priceMessage({ channel: "whatsapp", category: null, country: "BR" })).toThrow(/category/);
    expect(() => priceMessage({ channel: "whatsapp", category: "promo" as never, country: "BR" })).toThrow(
      /category/,
    );
    expect(WHATSAPP_CATEGORIES).toEqual(["marketing", "utility", "authentication", "service"]);
  });

  it("works with countries from normalizePhone", () => {
    const br = normalizePhone("+55 11 98765-4321");
    const gg = normalizePhone("+447911123456");
    if (!br.ok || !gg.ok) throw new Error("fixture numbers must be valid");
    expect(priceMessage({ channel: "whatsapp", category: "marketing", country: br.country }).rule).toBe(
      "whatsapp:marketing:BR",
    );
    // Guernsey is its own region; it is not in the table, so it takes the default row.
    expect(priceMessage({ channel: "sms", country: gg.country }).rule).toBe("sms:default");
  });
});

describe("smsSegments", () => {
  it("counts an empty text as one GSM-7 segment", () => {
    expect(smsSegments("")).toEqual({ encoding: "gsm7", units: 0, segments: 1 });
  });

  it("GSM-7: 160 fits one segment, 161 needs two, 153 per concatenated segment", () => {
    expect(smsSegments("a".repeat(160))).toEqual({ encoding: "gsm7", units: 160, segments: 1 });
    expect(smsSegments("a".repeat(161))).toEqual({ encoding: "gsm7", units: 161, segments: 2 });
    expect(smsSegments("a".repeat(306)).segments).toBe(2);
    expect(smsSegments("a".repeat(307)).segments).toBe(3);
    expect(smsSegments("a".repeat(459)).segments).toBe(3);
    expect(smsSegments("a".repeat(460)).segments).toBe(4);
  });

  it("accepts the whole GSM basic alphabet (accents, Greek capitals, newlines) as GSM-7", () => {
    const text = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà";
    expect(smsSegments(text)).toEqual({ encoding: "gsm7", units: [...text].length, segments: 1 });
  });

  it("counts extension characters (€ { } [ ] ~ \\ | ^ form feed) as two septets", () => {
    expect(smsSegments("€")).toEqual({ encoding: "gsm7", units: 2, segments: 1 });
    expect(smsSegments("{}[]~\\|^\f€").units).toBe(20);
    expect(smsSegments("€".repeat(80))).toEqual({ encoding: "gsm7", units: 160, segments: 1 });
    expect(smsSegments(`${"€".repeat(80)}a`)).toEqual({ encoding: "gsm7", units: 161, segments: 2 });
    expect(smsSegments(`${"a".repeat(159)}{`)).toEqual({ encoding: "gsm7", units: 161, segments: 2 });
    expect(smsSegments(`${"a".repeat(158)}{`)).toEqual({ encoding: "gsm7", units: 160, segments: 1 });
  });

  it("never splits an escape pair across segments", () => {
    // 152 + € (2) = 154 > 153, so the € starts segment two, which then holds € + 151 = 153 septets.
    expect(smsSegments(`${"a".repeat(152)}€${"a".repeat(151)}`).segments).toBe(2);
    // 306 septets would fill exactly two segments if the pair could be split; it cannot, so three.
    expect(smsSegments(`${"a".repeat(152)}€${"a".repeat(152)}`)).toEqual({
      encoding: "gsm7",
      units: 306,
      segments: 3,
    });
  });

  it("UCS-2: 70 fits one segment, 71 needs two, 67 per concatenated segment", () => {
    expect(smsSegments("ж".repeat(70))).toEqual({ encoding: "ucs2", units: 70, segments: 1 });
    expect(smsSegments("ж".repeat(71))).toEqual({ encoding: "ucs2", units: 71, segments: 2 });
    expect(smsSegments("ж".repeat(134)).segments).toBe(2);
    expect(smsSegments("ж".repeat(135)).segments).toBe(3);
  });

  it("switches the whole text to UCS-2 for one non-GSM character", () => {
    expect(smsSegments(`${"a".repeat(69)}ç`)).toEqual({ encoding: "ucs2", units: 70, segments: 1 });
    expect(smsSegments(`${"a".repeat(70)}ç`)).toEqual({ encoding: "ucs2", units: 71, segments: 2 });
    expect(smsSegments("Olá, seu código é 1234").encoding).toBe("ucs2"); // á, ó are not GSM
    expect(smsSegments("Hello ‘quoted’").encoding).toBe("ucs2"); // curly quotes
    // In UCS-2 the € and { are ordinary single units.
    expect(smsSegments("ж€{").units).toBe(3);
  });

  it("counts emoji as two UTF-16 units and never splits a surrogate pair", () => {
    expect(smsSegments("🎉")).toEqual({ encoding: "ucs2", units: 2, segments: 1 });
    expect(smsSegments("🎉".repeat(35))).toEqual({ encoding: "ucs2", units: 70, segments: 1 });
    expect(smsSegments("🎉".repeat(36)).segments).toBe(2);
    // 66 units + emoji (2) = 68 > 67: the emoji starts segment two.
    expect(smsSegments(`${"ж".repeat(66)}🎉${"ж".repeat(65)}`)).toEqual({
      encoding: "ucs2",
      units: 133,
      segments: 2,
    });
    expect(smsSegments(`${"ж".repeat(66)}🎉${"ж".repeat(66)}`).segments).toBe(3);
  });
});

describe("estimateCost", () => {
  it("multiplies the SMS segment price by the segment count", () => {
    expect(estimateCost({ channel: "sms", country: "US", text: "a".repeat(161) })).toEqual({
      amountMicros: 15_800,
      currency: "USD",
      rule: "sms:US",
      unitAmountMicros: 7_900,
      quantity: 2,
      sms: { encoding: "gsm7", units: 161, segments: 2 },
    });
    expect(estimateCost({ channel: "sms", country: "BR", text: "ж".repeat(135) })).toMatchObject({
      amountMicros: 3 * PRICE_TABLE.sms.countries.BR,
      quantity: 3,
    });
    expect(estimateCost({ channel: "sms", country: "FR", text: "hi" })).toMatchObject({
      amountMicros: PRICE_TABLE.sms.default,
      rule: "sms:default",
      quantity: 1,
    });
  });

  it("estimates an SMS without text as one segment", () => {
    expect(estimateCost({ channel: "sms", country: "US" })).toMatchObject({
      amountMicros: 7_900,
      quantity: 1,
    });
  });

  it("charges WhatsApp and email once, whatever the text length", () => {
    expect(
      estimateCost({ channel: "whatsapp", category: "marketing", country: "BR", text: "a".repeat(1000) }),
    ).toEqual({
      amountMicros: 62_500,
      currency: "USD",
      rule: "whatsapp:marketing:BR",
      unitAmountMicros: 62_500,
      quantity: 1,
    });
    expect(estimateCost({ channel: "email", text: "a".repeat(5000) })).toMatchObject({
      amountMicros: 400,
      quantity: 1,
    });
  });
});

describe("PRICE_TABLE", () => {
  it("holds only non-negative integer micros", () => {
    const amounts: number[] = [
      ...Object.values(PRICE_TABLE.whatsapp.countries).flatMap((row) => Object.values(row)),
      ...Object.values(PRICE_TABLE.whatsapp.default),
      PRICE_TABLE.whatsapp.service,
      ...Object.values(PRICE_TABLE.sms.countries),
      PRICE_TABLE.sms.default,
      PRICE_TABLE.email.flat,
    ];
    for (const amount of amounts) expect(Number.isSafeInteger(amount) && amount >= 0).toBe(true);
  });

  it("keeps the documented reference prices", () => {
    expect(PRICE_TABLE.sms.countries.US).toBe(7_900);
    expect(PRICE_TABLE.email.flat).toBe(400);
    expect(PRICE_TABLE.whatsapp.countries.BR).toEqual({
      marketing: 62_500,
      utility: 8_000,
      authentication: 31_500,
    });
  });
});
