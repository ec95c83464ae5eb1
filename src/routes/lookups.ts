import { z } from "@hono/zod-openapi";
import { describePhone, LINE_TYPES, nationalFormat, normalizePhone } from "../domain/phone";
import { CONTACTS_READ } from "./contact-schemas";
import { jsonResponse, newRouter, scopedRoute } from "./shared";

/**
 * Phone number lookups, offline: libphonenumber's full metadata says whether a number is valid, its region
 * and its line type. Nothing is sent to a carrier (no HLR query, no cost), so `mobile_or_landline` stays
 * what it is where the numbering plan cannot tell (most US and Canadian numbers).
 */

export const MAX_LOOKUP_NUMBERS = 1_000;

const PhoneLookupSchema = z
  .object({
    input: z.string().openapi({ description: "The number as sent.", example: "+55 11 98765-4321" }),
    valid: z.boolean().openapi({ example: true }),
    e164: z
      .string()
      .nullable()
      .openapi({ description: "Null when the number is not valid.", example: "+5511987654321" }),
    country: z
      .string()
      .nullable()
      .openapi({ description: "ISO 3166-1 alpha-2 region, when known.", example: "BR" }),
    line_type: z.enum(LINE_TYPES).openapi({
      description:
        "`landline` cannot receive SMS or WhatsApp (sends to it are refused 422 `recipient_not_mobile`); " +
        "`mobile_or_landline` is not refused; `invalid` when the number is not a valid number.",
      example: "mobile",
    }),
    national_format: z
      .string()
      .nullable()
      .openapi({ description: "How it is written inside its country.", example: "(11) 98765-4321" }),
    reason: z.string().nullable().openapi({
      description: "Why the number is not valid; null when it is.",
      example: null,
    }),
  })
  .openapi("PhoneNumberLookup");

const PhoneLookupListSchema = z
  .object({ object: z.literal("list"), data: z.array(PhoneLookupSchema) })
  .openapi("PhoneNumberLookupList");

const LookupBody = z
  .strictObject({
    phone_numbers: z
      .array(z.string().max(256))
      .min(1)
      .max(MAX_LOOKUP_NUMBERS)
      .openapi({
        description: `1 to ${MAX_LOOKUP_NUMBERS} numbers in international form (E.164, any common spelling). Invalid ones are answered in place, not refused.`,
        example: ["+5511987654321", "+1 415 555 2671", "+44 20 7183 8750", "12345"],
      }),
  })
  .openapi("PhoneNumberLookupRequest");

const lookupRoute = scopedRoute(
  CONTACTS_READ,
  {
    method: "post",
    path: "/v1/lookups/phone-numbers",
    tags: ["Lookups"],
    summary: "Look up phone numbers",
    description:
      "Validates numbers and tells their region and line type from the numbering plan, synchronously and " +
      "offline (free; nothing is sent to a carrier). Answers one entry per input, in order; an invalid number " +
      "is answered `valid: false`, `line_type: invalid` with the reason, never a 400. The same rules apply when " +
      "a contact is created or imported and when a message is sent (a `landline` is refused on SMS and WhatsApp).",
    request: { body: { required: true, content: { "application/json": { schema: LookupBody } } } },
    responses: { 200: jsonResponse("One lookup per number, in the order given.", PhoneLookupListSchema) },
  },
  ["validation_error", "invalid_json"],
  // Reads nothing and writes nothing: a retry is simply asked again.
  { idempotency: "none" },
);

function lookupOne(input: string): z.infer<typeof PhoneLookupSchema> {
  const phone = normalizePhone(input);
  if (!phone.ok) {
    return {
      input,
      valid: false,
      e164: null,
      country: null,
      line_type: "invalid",
      national_format: null,
      reason: phone.reason,
    };
  }
  const line = describePhone(phone.e164);
  return {
    input,
    valid: true,
    e164: phone.e164,
    country: line.country ?? phone.country,
    line_type: line.lineType,
    national_format: nationalFormat(phone.e164),
    reason: null,
  };
}

export const lookupsRouter = newRouter().openapi(lookupRoute, async (c) => {
  const { phone_numbers } = c.req.valid("json");
  return c.json({ object: "list" as const, data: phone_numbers.map(lookupOne) }, 200);
});
