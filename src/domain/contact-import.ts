import { isSupportedCountry, parsePhoneNumberWithError } from "libphonenumber-js/max";
import { type AttributeValue, MAX_ATTRIBUTES, MAX_TAGS, normalizeAddress, normalizeTags } from "./contacts";
import type { LineType } from "./phone";

type Channel = "whatsapp" | "sms" | "email";

/**
 * Contact import rules, pure: how a CSV header or an NDJSON object maps onto a contact, and how one row
 * becomes the fields of a contact (or the reason it cannot). Parsing the file itself (quotes, BOM, CRLF)
 * is csv-parse's job in queues/contact-import.ts; this module sees cells.
 *
 * Columns (case-insensitive): `phone`, `email`, `name`, `external_id`, `tags` (`;`-separated), `country`
 * (region of a national phone number); every other column is an attribute named after its header
 * (lower-cased). A phone number becomes the contact's `whatsapp` and `sms` addresses.
 */

export const KNOWN_COLUMNS = ["phone", "email", "name", "external_id", "tags", "country"] as const;
const KNOWN = new Set<string>(KNOWN_COLUMNS);

/** How many columns a file may have (the known ones plus at most MAX_ATTRIBUTES attributes). */
export const MAX_COLUMNS = KNOWN_COLUMNS.length + MAX_ATTRIBUTES;
export const MAX_NAME_LENGTH = 200;
export const MAX_EXTERNAL_ID_LENGTH = 255;
export const MAX_ATTRIBUTE_VALUE_LENGTH = 1000;
const MAX_TAG_LENGTH = 64;
const ATTRIBUTE_KEY = /^[A-Za-z0-9_.-]{1,64}$/;

export interface ImportedAddress {
  channel: Channel;
  address: string;
  country: string | null;
  lineType: LineType | null;
}

/** The fields one row sets on its contact; empty cells set nothing. */
export interface ImportedContact {
  externalId: string | null;
  name: string | null;
  tags: string[];
  attributes: Record<string, AttributeValue>;
  addresses: ImportedAddress[];
}

export type RowResult =
  | { kind: "contact"; contact: ImportedContact }
  /** Nothing identifies a contact (no phone, email or external_id): counted in `skipped`. */
  | { kind: "skip" }
  | { kind: "invalid"; message: string };

export interface RowOptions {
  /** ISO 3166-1 alpha-2 region for national phone numbers, unless the row has a `country`. */
  defaultCountry: string | null;
  /** Tags every imported contact gets. */
  tags: readonly string[];
}

/** A header cell as a column name: trimmed, lower-cased, inner spaces as `_`. */
export function columnName(cell: string): string {
  return cell.trim().toLowerCase().replace(/\s+/g, "_");
}

/** The columns of a CSV header, or why the file cannot be imported (named so it can be fixed). */
export function mapHeader(
  cells: readonly string[],
): { ok: true; columns: string[] } | { ok: false; reason: string } {
  const columns = cells.map(columnName);
  if (columns.length > MAX_COLUMNS) {
    return { ok: false, reason: `The file has ${columns.length} columns; at most ${MAX_COLUMNS} are read.` };
  }
  const seen = new Set<string>();
  for (const [i, column] of columns.entries()) {
    if (column === "") continue; // an unnamed column is ignored
    if (seen.has(column)) return { ok: false, reason: `Column "${column}" appears twice in the header.` };
    seen.add(column);
    if (!KNOWN.has(column) && !ATTRIBUTE_KEY.test(column)) {
      return {
        ok: false,
        reason: `Column ${i + 1} ("${cells[i]?.slice(0, 64)}") cannot be an attribute name: use letters, digits, \`_\`, \`.\` or \`-\` (at most 64).`,
      };
    }
  }
  if (!columns.some((c) => c === "phone" || c === "email" || c === "external_id")) {
    return {
      ok: false,
      reason: "The header has no phone, email or external_id column, so no row could name a contact.",
    };
  }
  return { ok: true, columns };
}

/** A CSV cell as an attribute value: integers and decimals become numbers (not ones with a leading zero,
 * such as postal codes), `true`/`false` booleans, anything else stays text. */
export function attributeValue(cell: string): AttributeValue {
  if (/^-?(0|[1-9]\d{0,14})(\.\d{1,10})?$/.test(cell)) return Number(cell);
  const lower = cell.toLowerCase();
  if (lower === "true") return true;
  if (lower === "false") return false;
  return cell;
}

/** `"vip; Newsletter;;"` → `["vip", "newsletter"]`. */
export function splitTags(cell: string): string[] {
  return cell
    .split(";")
    .map((tag) => tag.trim())
    .filter((tag) => tag !== "");
}

/**
 * A phone cell in E.164 (or any spelling `normalizeAddress` takes), or a national number read in `region`.
 * Returns the canonical address with its country and line type, or why it is not a number.
 */
export function importPhone(
  cell: string,
  region: string | null,
):
  | { ok: true; address: string; country: string | null; lineType: LineType | null }
  | { ok: false; reason: string } {
  const trimmed = cell.trim();
  const international = trimmed.startsWith("+") || trimmed.startsWith("00");
  if (!international && region) {
    if (!isSupportedCountry(region)) return { ok: false, reason: `Unknown country "${region}".` };
    try {
      const parsed = parsePhoneNumberWithError(trimmed, region);
      if (!parsed.isValid())
        return { ok: false, reason: `Phone number is not a valid number for ${region}.` };
      return normalizeAddress("sms", parsed.number);
    } catch {
      return { ok: false, reason: `Phone number could not be read as a ${region} number.` };
    }
  }
  return normalizeAddress("sms", trimmed);
}

function regionOf(
  value: string | null,
  fallback: string | null,
): { ok: true; region: string | null } | { ok: false; reason: string } {
  if (value === null || value === "") return { ok: true, region: fallback };
  const region = value.trim().toUpperCase();
  if (!/^[A-Z]{2}$/.test(region) || !isSupportedCountry(region)) {
    return {
      ok: false,
      reason: `country "${value.slice(0, 20)}" is not an ISO 3166-1 alpha-2 code such as BR or US.`,
    };
  }
  return { ok: true, region };
}

/** Raw fields of one row, whatever the format. */
interface RawRow {
  phone: string | null;
  email: string | null;
  name: string | null;
  externalId: string | null;
  tags: string[];
  country: string | null;
  attributes: Record<string, AttributeValue>;
}

function build(raw: RawRow, options: RowOptions): RowResult {
  if (!raw.phone && !raw.email && !raw.externalId) return { kind: "skip" };
  const problems: string[] = [];
  const addresses: ImportedAddress[] = [];
  if (raw.phone) {
    const region = regionOf(raw.country, options.defaultCountry);
    if (!region.ok) problems.push(region.reason);
    else {
      const phone = importPhone(raw.phone, region.region);
      if (!phone.ok) problems.push(`phone: ${phone.reason}`);
      else {
        const line = { address: phone.address, country: phone.country, lineType: phone.lineType };
        addresses.push({ channel: "whatsapp", ...line }, { channel: "sms", ...line });
      }
    }
  }
  if (raw.email) {
    const email = normalizeAddress("email", raw.email);
    if (!email.ok) problems.push(`email: ${email.reason}`);
    else addresses.push({ channel: "email", address: email.address, country: null, lineType: null });
  }
  if (raw.name && raw.name.length > MAX_NAME_LENGTH)
    problems.push(`name: longer than ${MAX_NAME_LENGTH} characters.`);
  if (raw.externalId && raw.externalId.length > MAX_EXTERNAL_ID_LENGTH) {
    problems.push(`external_id: longer than ${MAX_EXTERNAL_ID_LENGTH} characters.`);
  }
  const tags = normalizeTags([...options.tags, ...raw.tags]);
  const longTag = tags.find((tag) => tag.length > MAX_TAG_LENGTH);
  if (longTag) problems.push(`tags: "${longTag.slice(0, 20)}…" is longer than ${MAX_TAG_LENGTH} characters.`);
  if (tags.length > MAX_TAGS) problems.push(`tags: at most ${MAX_TAGS} per contact.`);
  for (const [key, value] of Object.entries(raw.attributes)) {
    if (typeof value === "string" && value.length > MAX_ATTRIBUTE_VALUE_LENGTH) {
      problems.push(`${key}: longer than ${MAX_ATTRIBUTE_VALUE_LENGTH} characters.`);
    }
  }
  if (Object.keys(raw.attributes).length > MAX_ATTRIBUTES) {
    problems.push(`at most ${MAX_ATTRIBUTES} attributes per contact.`);
  }
  if (problems.length > 0) return { kind: "invalid", message: problems.join(" ") };
  return {
    kind: "contact",
    contact: {
      externalId: raw.externalId || null,
      name: raw.name || null,
      tags,
      attributes: raw.attributes,
      addresses,
    },
  };
}

const emptyRow = (): RawRow => ({
  phone: null,
  email: null,
  name: null,
  externalId: null,
  tags: [],
  country: null,
  attributes: {},
});

/** One CSV record (cells in header order) as a contact. Empty cells and unnamed columns set nothing. */
export function csvRow(cells: readonly string[], columns: readonly string[], options: RowOptions): RowResult {
  const raw = emptyRow();
  for (const [i, column] of columns.entries()) {
    const cell = cells[i]?.trim() ?? "";
    if (cell === "" || column === "") continue;
    switch (column) {
      case "phone":
        raw.phone = cell;
        break;
      case "email":
        raw.email = cell;
        break;
      case "name":
        raw.name = cell;
        break;
      case "external_id":
        raw.externalId = cell;
        break;
      case "tags":
        raw.tags = splitTags(cell);
        break;
      case "country":
        raw.country = cell;
        break;
      default:
        raw.attributes[column] = attributeValue(cell);
    }
  }
  return build(raw, options);
}

const text = (value: unknown): string | null => {
  if (typeof value === "string") return value.trim() === "" ? null : value.trim();
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return null;
};

/**
 * One NDJSON line (already JSON-parsed) as a contact: the same field names as the CSV columns (`tags` an
 * array or a `;`-separated string), attributes in `attributes` and/or as other top-level keys.
 */
export function ndjsonRow(value: unknown, options: RowOptions): RowResult {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { kind: "invalid", message: "Each line must be a JSON object." };
  }
  const record = value as Record<string, unknown>;
  const raw = emptyRow();
  const problems: string[] = [];
  const putAttribute = (key: string, item: unknown) => {
    const name = key.toLowerCase();
    if (!ATTRIBUTE_KEY.test(name)) {
      problems.push(
        `"${key.slice(0, 64)}" cannot be an attribute name: use letters, digits, \`_\`, \`.\` or \`-\`.`,
      );
    } else if (item === null || item === "") {
      // an empty value sets nothing, as an empty CSV cell
    } else if (
      typeof item === "string" ||
      typeof item === "boolean" ||
      (typeof item === "number" && Number.isFinite(item))
    ) {
      raw.attributes[name] = item;
    } else problems.push(`${name}: an attribute is a string, a number or a boolean.`);
  };
  for (const [key, item] of Object.entries(record)) {
    const name = columnName(key);
    switch (name) {
      case "phone":
      case "email":
      case "name":
      case "external_id":
      case "country": {
        if (item !== null && item !== undefined && text(item) === null && item !== "") {
          problems.push(`${name}: must be a string.`);
          break;
        }
        const cell = text(item);
        if (name === "phone") raw.phone = cell;
        else if (name === "email") raw.email = cell;
        else if (name === "name") raw.name = cell;
        else if (name === "external_id") raw.externalId = cell;
        else raw.country = cell;
        break;
      }
      case "tags":
        if (typeof item === "string") raw.tags = splitTags(item);
        else if (Array.isArray(item) && item.every((tag) => typeof tag === "string")) {
          raw.tags = (item as string[]).map((tag) => tag.trim()).filter((tag) => tag !== "");
        } else if (item !== null) problems.push("tags: an array of strings or a `;`-separated string.");
        break;
      case "attributes":
        if (item && typeof item === "object" && !Array.isArray(item)) {
          for (const [k, v] of Object.entries(item as Record<string, unknown>)) putAttribute(k, v);
        } else if (item !== null) problems.push("attributes: must be an object.");
        break;
      default:
        putAttribute(key, item);
    }
  }
  if (problems.length > 0) return { kind: "invalid", message: problems.join(" ") };
  return build(raw, options);
}

/** `"vip, newsletter"` (the `tags` query parameter) → normalised tags, or why not. */
export function parseTagsOption(
  value: string | undefined,
): { ok: true; tags: string[] } | { ok: false; reason: string } {
  if (value === undefined || value.trim() === "") return { ok: true, tags: [] };
  const tags = normalizeTags(value.split(",").filter((tag) => tag.trim() !== ""));
  if (tags.length > MAX_TAGS) return { ok: false, reason: `At most ${MAX_TAGS} tags.` };
  const long = tags.find((tag) => tag.length > MAX_TAG_LENGTH);
  if (long)
    return { ok: false, reason: `Tag "${long.slice(0, 20)}…" is longer than ${MAX_TAG_LENGTH} characters.` };
  return { ok: true, tags };
}

/** Whether `value` is a region libphonenumber knows (ISO 3166-1 alpha-2, upper-case). */
export function isKnownRegion(value: string): boolean {
  return /^[A-Z]{2}$/.test(value) && isSupportedCountry(value);
}
