import { describe, expect, it } from "vitest";
import { call, expectError, json, seedTenant } from "../helpers";

const lookup = (key: string, phone_numbers: unknown) =>
  call("POST", "/v1/lookups/phone-numbers", { key, body: { phone_numbers } });

describe("POST /v1/lookups/phone-numbers", () => {
  it("answers each number in order: valid ones with E.164, region, line type and national format", async () => {
    const tenant = await seedTenant();
    const res = await lookup(tenant.secret, [
      "+55 11 98765-4321",
      "+44 20 7183 8750",
      "+1 (415) 555-2671",
      "+1 800 253 0000",
      "+1 900 253 0000",
      "+44 56 1234 5678",
      "0033 6 12 34 56 78",
    ]);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.object).toBe("list");
    expect(body.data).toEqual([
      {
        input: "+55 11 98765-4321",
        valid: true,
        e164: "+5511987654321",
        country: "BR",
        line_type: "mobile",
        national_format: "(11) 98765-4321",
        reason: null,
      },
      {
        input: "+44 20 7183 8750",
        valid: true,
        e164: "+442071838750",
        country: "GB",
        line_type: "landline",
        national_format: "020 7183 8750",
        reason: null,
      },
      {
        input: "+1 (415) 555-2671",
        valid: true,
        e164: "+14155552671",
        country: "US",
        line_type: "mobile_or_landline",
        national_format: "(415) 555-2671",
        reason: null,
      },
      expect.objectContaining({ e164: "+18002530000", line_type: "toll_free" }),
      expect.objectContaining({ e164: "+19002530000", line_type: "premium" }),
      expect.objectContaining({ e164: "+445612345678", country: "GB", line_type: "voip" }),
      expect.objectContaining({ e164: "+33612345678", country: "FR", line_type: "mobile" }),
    ]);
  });

  it("answers invalid numbers in place (line_type invalid, with the reason), not with a 400", async () => {
    const tenant = await seedTenant();
    const inputs = [
      "12345",
      "+1 555 555 2671",
      "+55 11 98765-4321",
      "call me",
      "",
      "+999 123",
      "9".repeat(200),
    ];
    const body = await json(await lookup(tenant.secret, inputs));
    expect(body.data.map((d: any) => d.input)).toEqual(inputs);
    expect(body.data.map((d: any) => d.valid)).toEqual([false, false, true, false, false, false, false]);
    for (const entry of body.data.filter((d: any) => !d.valid)) {
      expect(entry).toMatchObject({ e164: null, country: null, line_type: "invalid", national_format: null });
      expect(entry.reason).toEqual(expect.any(String));
    }
    expect(body.data[0].reason).toMatch(/country code/);
  });

  it("takes 1 to 1,000 numbers; more, none, or non-strings are a 400 naming the field", async () => {
    const tenant = await seedTenant();
    const many = Array.from({ length: 1000 }, (_, i) => `+5511987${String(i).padStart(6, "0")}`);
    const res = await lookup(tenant.secret, many);
    expect(res.status).toBe(200);
    expect((await json(res)).data).toHaveLength(1000);
    const tooMany = await expectError(
      await lookup(tenant.secret, [...many, "+5511987650000"]),
      400,
      "validation_error",
    );
    expect(tooMany.details[0].path).toBe("phone_numbers");
    await expectError(await lookup(tenant.secret, []), 400, "validation_error");
    await expectError(await lookup(tenant.secret, [5511987654321]), 400, "validation_error");
    await expectError(
      await call("POST", "/v1/lookups/phone-numbers", { key: tenant.secret, body: { numbers: ["+1"] } }),
      400,
      "validation_error",
    );
  });

  it("a contacts:read key may look up; contacts show the same country and line type on phone addresses", async () => {
    const tenant = await seedTenant();
    const reader = await seedTenant({ scopes: ["contacts:read"] });
    expect((await lookup(reader.secret, ["+5511987654321"])).status).toBe(200);
    const created = await json(
      await call("POST", "/v1/contacts", {
        key: tenant.secret,
        body: {
          addresses: [
            { channel: "whatsapp", address: "+55 11 98765-4321" },
            { channel: "sms", address: "+1 415 555 2671" },
            { channel: "email", address: "ana@example.com" },
          ],
        },
      }),
    );
    expect(created.addresses).toEqual([
      { channel: "whatsapp", address: "+5511987654321", country: "BR", line_type: "mobile" },
      { channel: "sms", address: "+14155552671", country: "US", line_type: "mobile_or_landline" },
      { channel: "email", address: "ana@example.com", country: null, line_type: null },
    ]);
    const shown = await json(await call("GET", `/v1/contacts/${created.id}`, { key: tenant.secret }));
    expect(shown.addresses).toEqual(created.addresses);
  });
});
