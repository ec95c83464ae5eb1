import { describe, expect, it } from "vitest";
import {
  attributeValue,
  csvRow,
  importPhone,
  mapHeader,
  ndjsonRow,
  parseTagsOption,
  splitTags,
} from "../../src/domain/contact-import";

const options = { defaultCountry: null, tags: [] as string[] };

describe("mapHeader", () => {
  it("lower-cases, trims and turns inner spaces into _", () => {
    expect(mapHeader([" Phone ", "EMAIL", "First Name", "External_ID"])).toEqual({
      ok: true,
      columns: ["phone", "email", "first_name", "external_id"],
    });
  });
  it("refuses a header without an identifying column, duplicates and unusable attribute names", () => {
    expect(mapHeader(["name", "city"])).toMatchObject({ ok: false });
    expect(mapHeader(["phone", "Phone"])).toMatchObject({
      ok: false,
      reason: expect.stringContaining("twice"),
    });
    expect(mapHeader(["phone", "preço (R$)"])).toMatchObject({
      ok: false,
      reason: expect.stringContaining("Column 2"),
    });
    expect(mapHeader(["phone", ...Array.from({ length: 60 }, (_, i) => `c${i}`)])).toMatchObject({
      ok: false,
    });
  });
});

describe("cells", () => {
  it("types attribute cells, keeping leading-zero codes as text", () => {
    expect(attributeValue("12")).toBe(12);
    expect(attributeValue("-3.5")).toBe(-3.5);
    expect(attributeValue("01310")).toBe("01310");
    expect(attributeValue("TRUE")).toBe(true);
    expect(attributeValue("false")).toBe(false);
    expect(attributeValue("12abc")).toBe("12abc");
  });
  it("splits tags on ;", () => {
    expect(splitTags(" vip; Newsletter;;a ")).toEqual(["vip", "Newsletter", "a"]);
    expect(parseTagsOption("A, b ,a")).toEqual({ ok: true, tags: ["a", "b"] });
    expect(parseTagsOption("x".repeat(65))).toMatchObject({ ok: false });
  });
});

describe("importPhone", () => {
  it("reads E.164 and, with a region, national numbers", () => {
    expect(importPhone("+55 11 98765-4321", null)).toMatchObject({
      ok: true,
      address: "+5511987654321",
      lineType: "mobile",
    });
    expect(importPhone("(11) 98765-4321", "BR")).toMatchObject({
      ok: true,
      address: "+5511987654321",
      country: "BR",
    });
    expect(importPhone("020 7183 8750", "GB")).toMatchObject({
      ok: true,
      address: "+442071838750",
      lineType: "landline",
    });
    expect(importPhone("11987654321", null)).toMatchObject({ ok: false });
    expect(importPhone("123", "BR")).toMatchObject({ ok: false });
  });
});

describe("csvRow", () => {
  const columns = ["phone", "email", "name", "external_id", "tags", "country", "plan"];
  it("maps known columns, gives a phone both whatsapp and sms, and makes the rest attributes", () => {
    const result = csvRow(["+5511987654321", "A@Example.com", "Ana", "u1", "x;Y", "", "pro"], columns, {
      defaultCountry: null,
      tags: ["imported"],
    });
    expect(result).toEqual({
      kind: "contact",
      contact: {
        externalId: "u1",
        name: "Ana",
        tags: ["imported", "x", "y"],
        attributes: { plan: "pro" },
        addresses: [
          { channel: "whatsapp", address: "+5511987654321", country: "BR", lineType: "mobile" },
          { channel: "sms", address: "+5511987654321", country: "BR", lineType: "mobile" },
          { channel: "email", address: "A@example.com", country: null, lineType: null },
        ],
      },
    });
  });
  it("uses the row's country for a national number over the default", () => {
    const result = csvRow(["020 7183 8750", "", "", "", "", "gb", ""], columns, {
      defaultCountry: "BR",
      tags: [],
    });
    expect(result).toMatchObject({
      kind: "contact",
      contact: { addresses: [{ address: "+442071838750" }, {}] },
    });
  });
  it("skips a row naming no one and fails one with any bad field", () => {
    expect(csvRow(["", "", "Ana", "", "", "", "pro"], columns, options)).toEqual({ kind: "skip" });
    expect(csvRow(["+5511", "", "", "u1", "", "", ""], columns, options)).toMatchObject({ kind: "invalid" });
    expect(csvRow(["", "", "", "u1", "", "XX", ""], columns, options)).toMatchObject({ kind: "contact" });
    expect(csvRow(["", "", "", "u1", "", "", "x".repeat(1001)], columns, options)).toMatchObject({
      kind: "invalid",
      message: expect.stringContaining("plan"),
    });
  });
});

describe("ndjsonRow", () => {
  it("takes the same fields, tags as an array, attributes nested or top-level", () => {
    expect(
      ndjsonRow({ email: "a@example.com", tags: ["A"], attributes: { n: 1 }, city: "Recife" }, options),
    ).toMatchObject({
      kind: "contact",
      contact: { tags: ["a"], attributes: { n: 1, city: "Recife" } },
    });
  });
  it("refuses non-objects and nested attribute values", () => {
    expect(ndjsonRow([1], options)).toMatchObject({ kind: "invalid" });
    expect(ndjsonRow({ email: "a@example.com", deep: { x: 1 } }, options)).toMatchObject({ kind: "invalid" });
  });
});
