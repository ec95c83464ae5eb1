import type { PhoneNumber } from "libphonenumber-js/max";
import { ParseError, parsePhoneNumberWithError, validatePhoneNumberLength } from "libphonenumber-js/max";

/**
 * Recipient addresses, checked before anything is stored or charged: a bad number caught here is a 400
 * with a reason, instead of a paid provider call that fails minutes later. Phone checks use the `max`
 * metadata (full per-region number plans), not just lengths, so "+1 555 555 2671" is refused up front.
 */

export type PhoneResult =
  | { ok: true; e164: string /** ISO 3166-1 alpha-2, e.g. `BR` */; country: string }
  | { ok: false; reason: string };

export type EmailResult = { ok: true; address: string } | { ok: false; reason: string };

const E164_HINT = "Send it in E.164 form with a + and the country code, e.g. +14155550123.";
/** Separators people paste from contact cards; anything else (letters, `ext.`, `#`) is refused. */
const SEPARATORS = /[\s().-]/g;
/** Longer than any formatted E.164 number could reasonably be; stops work on junk early. */
const MAX_INPUT_LENGTH = 64;
/** E.164 allows at most 15 digits after the +. */
const MAX_E164_DIGITS = 15;

/**
 * `"+55 (11) 98765-4321"` or `"0055 11 98765 4321"` → `+5511987654321`, `BR`. Only international
 * input is accepted: a number without a country code is ambiguous for an API serving every country.
 */
export function normalizePhone(input: string): PhoneResult {
  const known = recentResults.get(input);
  if (known) return known;
  const result = normalizePhoneUncached(input);
  if (recentResults.size >= MAX_RECENT_RESULTS) {
    const oldest = recentResults.keys().next().value;
    if (oldest !== undefined) recentResults.delete(oldest);
  }
  recentResults.set(input, result);
  return result;
}

/**
 * Results of recent inputs (the answer is a pure function of the input): senders write to the same numbers
 * again and again, and the `max` metadata check is the dearest step of a send's validation.
 */
const recentResults = new Map<string, PhoneResult>();
const MAX_RECENT_RESULTS = 4_096;

function normalizePhoneUncached(input: string): PhoneResult {
  if (typeof input !== "string" || input.trim() === "") {
    return { ok: false, reason: `Phone number is empty. ${E164_HINT}` };
  }
  if (input.length > MAX_INPUT_LENGTH) return { ok: false, reason: "Phone number is too long." };
  const compact = input.trim().replace(SEPARATORS, "");
  let digits: string;
  if (compact.startsWith("+")) digits = compact.slice(1);
  else if (compact.startsWith("00")) digits = compact.slice(2);
  else if (/^\d+$/.test(compact)) {
    return { ok: false, reason: `Phone number has no country code. ${E164_HINT}` };
  } else {
    return {
      ok: false,
      reason: `Phone number may only contain digits, spaces, dashes, dots and parentheses.`,
    };
  }
  if (digits === "") return { ok: false, reason: `Phone number has no digits. ${E164_HINT}` };
  if (!/^\d+$/.test(digits)) {
    return {
      ok: false,
      reason: "Phone number may only contain digits after the leading + (no letters or extensions).",
    };
  }
  if (digits.length > MAX_E164_DIGITS) {
    return {
      ok: false,
      reason: `Phone number is too long: E.164 numbers have at most ${MAX_E164_DIGITS} digits.`,
    };
  }

  let parsed: PhoneNumber;
  try {
    parsed = parsePhoneNumberWithError(`+${digits}`);
  } catch (error) {
    return { ok: false, reason: parseErrorReason(error) };
  }
  parsed = withoutMexicanMobilePrefix(parsed);

  if (!parsed.isValid()) {
    // Only a refused number pays for the second look that says why.
    const where = parsed.country
      ? `${parsed.country} (+${parsed.countryCallingCode})`
      : `country code +${parsed.countryCallingCode}`;
    const lengthProblem = validatePhoneNumberLength(parsed.number);
    if (lengthProblem === "TOO_SHORT")
      return { ok: false, reason: `Phone number is too short for ${where}.` };
    if (lengthProblem === "TOO_LONG") return { ok: false, reason: `Phone number is too long for ${where}.` };
    if (lengthProblem) return { ok: false, reason: `Phone number has an impossible length for ${where}.` };
    return { ok: false, reason: `Phone number is not a valid number for ${where}.` };
  }
  if (!parsed.country) {
    // +800, +882, +883…: valid but non-geographic (international freephone, satellite, networks).
    return { ok: false, reason: `Phone number +${digits} is non-geographic and cannot receive messages.` };
  }
  return { ok: true, e164: parsed.number, country: parsed.country };
}

function parseErrorReason(error: unknown): string {
  const code = error instanceof ParseError ? error.message : "";
  if (code === "INVALID_COUNTRY")
    return `Phone number does not start with a known country code. ${E164_HINT}`;
  if (code === "TOO_SHORT") return "Phone number is too short.";
  if (code === "TOO_LONG") return "Phone number is too long.";
  return `Phone number could not be read. ${E164_HINT}`;
}

/**
 * Mexican mobiles used to be dialled as +52 1 + 10 digits, and WhatsApp still reports some senders that
 * way (`wa_id` 521…). The 1 is obsolete; dropping it when the rest is valid keeps one contact per person.
 */
function withoutMexicanMobilePrefix(parsed: PhoneNumber): PhoneNumber {
  const national = parsed.nationalNumber;
  if (parsed.countryCallingCode !== "52" || national.length !== 11 || !national.startsWith("1"))
    return parsed;
  try {
    const stripped = parsePhoneNumberWithError(`+52${national.slice(1)}`);
    return stripped.isValid() ? stripped : parsed;
  } catch {
    return parsed;
  }
}

export const LINE_TYPES = [
  "mobile",
  "landline",
  "mobile_or_landline",
  "voip",
  "toll_free",
  "premium",
  "unknown",
  "invalid",
] as const;
export type LineType = (typeof LINE_TYPES)[number];

/** libphonenumber's number types (`max` metadata) in the API's words. */
const LINE_TYPE_OF: Record<string, LineType> = {
  MOBILE: "mobile",
  FIXED_LINE: "landline",
  // Most US and Canadian numbers: the plan cannot tell; never refused for it.
  FIXED_LINE_OR_MOBILE: "mobile_or_landline",
  VOIP: "voip",
  TOLL_FREE: "toll_free",
  PREMIUM_RATE: "premium",
  SHARED_COST: "unknown",
  PERSONAL_NUMBER: "unknown",
  PAGER: "unknown",
  UAN: "unknown",
  VOICEMAIL: "unknown",
};

export interface PhoneLine {
  country: string | null;
  lineType: LineType;
}

/**
 * What the numbering plan says about an E.164 number, offline: its region and line type. `invalid` when the
 * plan knows no such number; `unknown` when it is valid but its type is not told apart.
 */
export function describePhone(e164: string): PhoneLine {
  const known = recentLines.get(e164);
  if (known) return known;
  const line = describePhoneUncached(e164);
  if (recentLines.size >= MAX_RECENT_RESULTS) {
    const oldest = recentLines.keys().next().value;
    if (oldest !== undefined) recentLines.delete(oldest);
  }
  recentLines.set(e164, line);
  return line;
}

/** Recent answers of describePhone (a pure function of its input): the send path asks it on every send. */
const recentLines = new Map<string, PhoneLine>();

/** `+5511987654321` → `(11) 98765-4321`: how the number is written inside its country; null if unreadable. */
export function nationalFormat(e164: string): string | null {
  try {
    return parsePhoneNumberWithError(e164).formatNational();
  } catch {
    return null;
  }
}

function describePhoneUncached(e164: string): PhoneLine {
  try {
    const parsed = parsePhoneNumberWithError(e164);
    if (!parsed.isValid()) return { country: parsed.country ?? null, lineType: "invalid" };
    const type = parsed.getType();
    return { country: parsed.country ?? null, lineType: (type && LINE_TYPE_OF[type]) ?? "unknown" };
  } catch {
    return { country: null, lineType: "invalid" };
  }
}

/** Whether SMS and WhatsApp can reach the line: everything but a known landline (and invalid numbers). */
export function canReceiveMobileMessages(line: PhoneLine): boolean {
  return line.lineType !== "landline" && line.lineType !== "invalid";
}

/**
 * Whether the number can be a mobile line (so SMS and WhatsApp can reach it). NANP numbers (+1) are
 * never told apart by the plan, so they report FIXED_LINE_OR_MOBILE and count as capable.
 */
export function isMobileCapable(e164: string): boolean {
  const { lineType } = describePhone(e164);
  return lineType === "mobile" || lineType === "mobile_or_landline";
}

const MAX_EMAIL_LENGTH = 254;
const MAX_LOCAL_LENGTH = 64;
const MAX_LABEL_LENGTH = 63;
/** RFC 5322 atext plus dots; non-ASCII allowed for SMTPUTF8 mailboxes. Quoted local parts are not supported. */
const LOCAL_PART =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uFFFF-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uFFFF-]+)*$/;
/** A DNS label: letters (any script), digits, hyphens, no hyphen at either end. */
const DOMAIN_LABEL = /^[a-z0-9\u0080-\uFFFF](?:[a-z0-9\u0080-\uFFFF-]*[a-z0-9\u0080-\uFFFF])?$/;

/**
 * `" Ana@Example.COM "` → `Ana@example.com`. Domains are case-insensitive and lowercased so one mailbox
 * is one contact; the local part keeps its case (RFC 5321 lets the receiving server decide).
 * Deliberately lite: no quoted local parts, comments or IP-literal domains, which no tenant needs.
 */
export function normalizeEmail(input: string): EmailResult {
  if (typeof input !== "string" || input.trim() === "")
    return { ok: false, reason: "Email address is empty." };
  const trimmed = input.trim();
  if (trimmed.length > MAX_EMAIL_LENGTH) {
    return { ok: false, reason: `Email address is longer than ${MAX_EMAIL_LENGTH} characters.` };
  }
  if (/\s/.test(trimmed)) return { ok: false, reason: "Email address must not contain spaces." };
  const parts = trimmed.split("@");
  if (parts.length !== 2) return { ok: false, reason: "Email address must contain exactly one @." };
  const [local = "", rawDomain = ""] = parts;
  if (local === "") return { ok: false, reason: "Email address has nothing before the @." };
  if (local.length > MAX_LOCAL_LENGTH) {
    return { ok: false, reason: `The part before the @ is longer than ${MAX_LOCAL_LENGTH} characters.` };
  }
  if (!LOCAL_PART.test(local)) {
    return { ok: false, reason: "The part before the @ has invalid characters or misplaced dots." };
  }
  const domain = rawDomain.toLowerCase();
  if (domain === "") return { ok: false, reason: "Email address has no domain after the @." };
  const labels = domain.split(".");
  if (labels.length < 2) return { ok: false, reason: `Email domain "${domain}" must contain a dot.` };
  for (const label of labels) {
    if (label.length > MAX_LABEL_LENGTH || !DOMAIN_LABEL.test(label)) {
      return { ok: false, reason: `Email domain "${domain}" is not a valid domain name.` };
    }
  }
  if (/^\d+$/.test(labels[labels.length - 1] ?? "")) {
    return { ok: false, reason: `Email domain "${domain}" must end in a top-level domain, not a number.` };
  }
  return { ok: true, address: `${local}@${domain}` };
}
