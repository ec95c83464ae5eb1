/**
 * Money as integer micro-units (1 USD = 1_000_000 micros). Prices such as 0.0079 USD per SMS segment
 * are not exact in binary floating point; summing thousands of them as floats drifts, integers do not.
 * Decimal strings are the only other form (API input/output), so nothing ever goes through a float.
 */

export const CURRENCY = "USD";
export type Currency = typeof CURRENCY;

export const MICROS_PER_UNIT = 1_000_000;

/** Decimals shown to tenants: enough for per-message prices (0.0079), coarser than the stored micros. */
export const DISPLAY_DECIMALS: Record<Currency, number> = { USD: 4 };

/** How many decimals parseAmount accepts: exactly what micros can hold, so parsing never rounds. */
const MAX_INPUT_DECIMALS = 6;
const AMOUNT_PATTERN = /^(-)?(\d+)(?:\.(\d+))?$/;

function assertMicros(micros: number): void {
  if (!Number.isSafeInteger(micros))
    throw new RangeError(`amount must be a safe integer of micros: ${micros}`);
}

/**
 * `25_000` → `"0.0250"`. Micros beyond the display decimals are rounded half away from zero, so a
 * refund formats as the exact negative of the charge. Throws on non-integers: that is a bug, not input.
 */
export function formatAmount(micros: number, currency: Currency = CURRENCY): string {
  assertMicros(micros);
  const decimals = DISPLAY_DECIMALS[currency];
  const step = 10 ** (6 - decimals);
  const negative = micros < 0;
  const abs = Math.abs(micros);
  const scaled = Math.floor(abs / step) + (abs % step >= step / 2 ? 1 : 0);
  const unit = 10 ** decimals;
  const whole = Math.floor(scaled / unit);
  const fraction = String(scaled % unit).padStart(decimals, "0");
  const text = decimals > 0 ? `${whole}.${fraction}` : String(whole);
  return negative && scaled !== 0 ? `-${text}` : text;
}

export type ParsedAmount = { ok: true; micros: number } | { ok: false; reason: string };

/**
 * `"0.0250"` → `{ ok: true, micros: 25_000 }`. Accepts plain decimal strings only (no exponent, no
 * thousands separators, at most 6 decimals) and refuses rather than rounds, so what a tenant typed is
 * exactly what is stored.
 */
export function parseAmount(text: string): ParsedAmount {
  if (typeof text !== "string")
    return { ok: false, reason: "Amount must be a decimal string such as 10.50." };
  const match = AMOUNT_PATTERN.exec(text.trim());
  if (!match) return { ok: false, reason: "Amount must be a decimal string such as 10.50 (no exponent)." };
  const [, sign, wholeDigits = "0", fractionDigits = ""] = match;
  if (fractionDigits.length > MAX_INPUT_DECIMALS) {
    return { ok: false, reason: `Amount has more than ${MAX_INPUT_DECIMALS} decimal places.` };
  }
  const whole = Number(wholeDigits);
  const fraction = Number(fractionDigits.padEnd(MAX_INPUT_DECIMALS, "0"));
  const magnitude = whole * MICROS_PER_UNIT + fraction;
  if (!Number.isSafeInteger(magnitude)) return { ok: false, reason: "Amount is too large." };
  return { ok: true, micros: sign && magnitude !== 0 ? -magnitude : magnitude };
}
