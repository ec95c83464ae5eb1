import type { Channel } from "../providers/types";
import { CURRENCY, type Currency } from "./money";

/**
 * The one price table. Every charge, cost estimate and broadcast dry-run reads it, so a price changes in
 * one place and the documentation can be generated from the exported table. Amounts are micros
 * (1 USD = 1_000_000) and are modelled on public Meta (WhatsApp) and Twilio (SMS) list prices.
 */

export const WHATSAPP_CATEGORIES = ["marketing", "utility", "authentication", "service"] as const;
/** Template categories as Meta bills them; `service` = a free-form message inside the 24 h window. */
export type WhatsAppCategory = (typeof WHATSAPP_CATEGORIES)[number];

type WhatsAppRow = Readonly<Record<Exclude<WhatsAppCategory, "service">, number>>;

/** When the table was last checked against the providers' public rate cards. */
export const PRICE_TABLE_VERSION = "2026-01";

export const PRICE_TABLE = {
  whatsapp: {
    /** Per delivered template message, by recipient country (ISO alpha-2). */
    countries: {
      US: { marketing: 25_000, utility: 4_000, authentication: 13_500 },
      BR: { marketing: 62_500, utility: 8_000, authentication: 31_500 },
      IN: { marketing: 11_800, utility: 1_400, authentication: 1_400 },
      GB: { marketing: 52_900, utility: 22_000, authentication: 35_800 },
      DE: { marketing: 136_500, utility: 55_000, authentication: 76_800 },
      MX: { marketing: 30_500, utility: 8_500, authentication: 23_900 },
      ID: { marketing: 41_100, utility: 25_000, authentication: 30_000 },
      NG: { marketing: 51_600, utility: 6_700, authentication: 6_700 },
    } satisfies Record<string, WhatsAppRow>,
    /** Meta's "rest of world" level, for every country not listed. */
    default: { marketing: 60_400, utility: 7_700, authentication: 22_400 } satisfies WhatsAppRow,
    /** Free-form replies inside the customer-service window: Meta does not charge for them. */
    service: 0,
  },
  sms: {
    /** Per 160/70-character segment, by recipient country. */
    countries: {
      US: 7_900,
      BR: 47_700,
      IN: 83_200,
      GB: 52_400,
      DE: 98_900,
      MX: 85_800,
      ID: 416_800,
      NG: 305_300,
    } satisfies Record<string, number>,
    default: 100_000,
  },
  email: {
    /** Flat per message, any recipient. */
    flat: 400,
  },
} as const;

export interface PriceQuery {
  channel: Channel;
  /** Required for WhatsApp (a template's category, or `service` for free-form); ignored otherwise. */
  category?: WhatsAppCategory | null;
  /** ISO alpha-2 from normalizePhone; unknown or absent → the channel's default row. Ignored for email. */
  country?: string | null;
}

export interface Price {
  amountMicros: number;
  currency: Currency;
  /** Which row matched, e.g. `whatsapp:marketing:BR`, `sms:default`, `email:flat` (for debugging). */
  rule: string;
}

function hasRow<T extends object>(rows: T, country: string): country is Extract<keyof T, string> {
  return Object.hasOwn(rows, country);
}

/**
 * The price of one message (for SMS, of one segment). Throws when a WhatsApp query has no category: the
 * caller always knows it, and guessing would silently under- or over-charge.
 */
export function priceMessage(query: PriceQuery): Price {
  const country = (query.country ?? "").toUpperCase();
  switch (query.channel) {
    case "whatsapp": {
      const category = query.category;
      if (!category || !WHATSAPP_CATEGORIES.includes(category)) {
        throw new TypeError(`whatsapp prices need a category (${WHATSAPP_CATEGORIES.join(", ")})`);
      }
      const table = PRICE_TABLE.whatsapp;
      if (category === "service") return price(table.service, "whatsapp:service");
      if (hasRow(table.countries, country)) {
        return price(table.countries[country][category], `whatsapp:${category}:${country}`);
      }
      return price(table.default[category], `whatsapp:${category}:default`);
    }
    case "sms": {
      const table = PRICE_TABLE.sms;
      if (hasRow(table.countries, country)) return price(table.countries[country], `sms:${country}`);
      return price(table.default, "sms:default");
    }
    case "email":
      return price(PRICE_TABLE.email.flat, "email:flat");
  }
}

function price(amountMicros: number, rule: string): Price {
  return { amountMicros, currency: CURRENCY, rule };
}

// ---- SMS segments ----------------------------------------------------------------------------------

/** GSM 03.38 default alphabet (one septet each). */
const GSM7_BASIC = new Set(
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
);
/** GSM 03.38 extension table: sent as ESC + char, so each costs two septets. */
const GSM7_EXTENSION = new Set("\f^{}\\[~]|€");

export interface SmsSegments {
  /** `gsm7` when every character is in the GSM alphabet; one other character switches the whole text to UCS-2. */
  encoding: "gsm7" | "ucs2";
  /** Septets (GSM-7) or UTF-16 code units (UCS-2) the text occupies. */
  units: number;
  segments: number;
}

const LIMITS = {
  gsm7: { single: 160, concatenated: 153 },
  ucs2: { single: 70, concatenated: 67 },
} as const;

/**
 * How many segments a carrier bills for `text`. Concatenated segments lose room to the UDH header
 * (153 / 67), and an escape pair or a surrogate pair is never split across two segments, so parts are
 * packed greedily like a real SMSC does. An empty text still counts as one segment.
 */
export function smsSegments(text: string): SmsSegments {
  const chars = [...text];
  const gsm = chars.every((c) => GSM7_BASIC.has(c) || GSM7_EXTENSION.has(c));
  const encoding = gsm ? "gsm7" : "ucs2";
  const weights = chars.map((c) => (gsm ? (GSM7_EXTENSION.has(c) ? 2 : 1) : c.length));
  const units = weights.reduce((sum, w) => sum + w, 0);
  const limits = LIMITS[encoding];
  if (units <= limits.single) return { encoding, units, segments: 1 };
  let segments = 1;
  let used = 0;
  for (const weight of weights) {
    if (used + weight > limits.concatenated) {
      segments += 1;
      used = 0;
    }
    used += weight;
  }
  return { encoding, units, segments };
}

export interface CostQuery extends PriceQuery {
  /** SMS body: decides the segment count. Without it an SMS is estimated as one segment. */
  text?: string;
}

export interface CostEstimate extends Price {
  /** Price of one billed unit (a message, or an SMS segment). */
  unitAmountMicros: number;
  /** Billed units: 1, or the SMS segment count. */
  quantity: number;
  /** Present for SMS. */
  sms?: SmsSegments;
}

/** What one message will cost: unit price × billed units (SMS segments), all in integer micros. */
export function estimateCost(query: CostQuery): CostEstimate {
  const unit = priceMessage(query);
  if (query.channel !== "sms") return { ...unit, unitAmountMicros: unit.amountMicros, quantity: 1 };
  const sms = smsSegments(query.text ?? "");
  return {
    ...unit,
    amountMicros: unit.amountMicros * sms.segments,
    unitAmountMicros: unit.amountMicros,
    quantity: sms.segments,
    sms,
  };
}
