import { LINE_TYPES, type LineType } from "./phone";

/**
 * The segment filter grammar, pure: `{all: [...]}` or `{any: [...]}`, nestable, where an item is another group
 * or a condition `{field, op, value}`. parseSegmentFilter checks a tenant's JSON against it and returns the
 * normalised filter (tags lower-case, countries upper-case, instants in ISO form) or one issue per problem,
 * each with the path of the bad part (`filter.all[2].op`). services/segments.ts compiles the result to SQL.
 *
 * Limits keep the compiled statement well under D1's 100 bound parameters (each condition binds at most 2:
 * list values travel as one JSON array) and the work per contact small.
 */

export const MAX_FILTER_DEPTH = 5;
export const MAX_FILTER_CONDITIONS = 40;
export const MAX_IN_VALUES = 100;
export const MAX_FILTER_STRING = 1000;
const MAX_ISSUES = 20;

export const SEGMENT_CHANNELS = ["whatsapp", "sms", "email"] as const;
export type SegmentChannel = (typeof SEGMENT_CHANNELS)[number];

/** Same rule as a contact's attribute keys (routes/contacts.ts). */
export const ATTRIBUTE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const COUNTRY = /^[A-Za-z]{2}$/;
/** RFC 3339 with a zone (`Z` or `±hh:mm`); fractional seconds optional. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

export type AttributeScalar = string | number | boolean;

export type SegmentCondition =
  | { field: "tags"; op: "contains" | "not_contains"; value: string }
  | { field: `attributes.${string}`; op: "eq" | "neq"; value: AttributeScalar }
  | { field: `attributes.${string}`; op: "in"; value: AttributeScalar[] }
  | { field: `attributes.${string}`; op: "gt" | "gte" | "lt" | "lte"; value: number | string }
  | { field: `attributes.${string}`; op: "exists"; value: boolean }
  | { field: "list_id"; op: "in"; value: string[] }
  | { field: "channel"; op: "has"; value: SegmentChannel }
  | { field: "country"; op: "in"; value: string[] }
  | { field: "line_type"; op: "in"; value: LineType[] }
  | { field: "created_at"; op: "gte" | "lte"; value: string };

export type SegmentFilter = { all: SegmentNode[] } | { any: SegmentNode[] };
export type SegmentNode = SegmentFilter | SegmentCondition;

export interface FilterIssue {
  path: string;
  message: string;
}

export type FilterResult = { ok: true; filter: SegmentFilter } | { ok: false; issues: FilterIssue[] };

/** The operators each field takes (attributes.<name> is one entry for every name). */
export const FIELD_OPERATORS = {
  tags: ["contains", "not_contains"],
  "attributes.<name>": ["eq", "neq", "in", "gt", "gte", "lt", "lte", "exists"],
  list_id: ["in"],
  channel: ["has"],
  country: ["in"],
  line_type: ["in"],
  created_at: ["gte", "lte"],
} as const;

const FIELD_LIST = Object.keys(FIELD_OPERATORS)
  .map((f) => `\`${f}\``)
  .join(", ");

export function isCondition(node: SegmentNode): node is SegmentCondition {
  return "field" in node;
}

/** The conditions of a group, whichever combinator it uses. */
export function childrenOf(filter: SegmentFilter): SegmentNode[] {
  return "all" in filter ? filter.all : filter.any;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const describe = (value: unknown) =>
  value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;

class Collector {
  readonly issues: FilterIssue[] = [];
  conditions = 0;
  add(path: string, message: string) {
    if (this.issues.length < MAX_ISSUES) this.issues.push({ path, message });
  }
}

/** Checks `input` against the grammar; `path` prefixes every issue (the body field the filter came in). */
export function parseSegmentFilter(input: unknown, path = "filter"): FilterResult {
  const collector = new Collector();
  const filter = parseGroup(input, path, 1, collector);
  if (collector.conditions > MAX_FILTER_CONDITIONS) {
    collector.add(
      path,
      `A filter holds at most ${MAX_FILTER_CONDITIONS} conditions; this one has ${collector.conditions}.`,
    );
  }
  if (collector.issues.length > 0 || !filter) return { ok: false, issues: collector.issues };
  return { ok: true, filter };
}

function parseGroup(input: unknown, path: string, depth: number, c: Collector): SegmentFilter | null {
  if (!isRecord(input)) {
    c.add(path, `Expected an object {"all": [...]} or {"any": [...]}, got ${describe(input)}.`);
    return null;
  }
  const keys = Object.keys(input);
  const unknown = keys.filter((k) => k !== "all" && k !== "any");
  if (unknown.length > 0) {
    c.add(path, `Unknown key(s) ${unknown.map((k) => `\`${k}\``).join(", ")}: a group has "all" or "any".`);
    return null;
  }
  if (keys.length !== 1) {
    c.add(path, `A group has exactly one of "all" or "any"${keys.length > 1 ? ", not both" : ""}.`);
    return null;
  }
  if (depth > MAX_FILTER_DEPTH) {
    c.add(path, `Groups nest at most ${MAX_FILTER_DEPTH} deep.`);
    return null;
  }
  const combinator = keys[0] as "all" | "any";
  const items = input[combinator];
  const itemsPath = `${path}.${combinator}`;
  if (!Array.isArray(items)) {
    c.add(itemsPath, `Expected an array of conditions, got ${describe(items)}.`);
    return null;
  }
  if (items.length === 0) {
    c.add(itemsPath, "A group needs at least one condition.");
    return null;
  }
  if (items.length > MAX_FILTER_CONDITIONS) {
    c.add(itemsPath, `A group holds at most ${MAX_FILTER_CONDITIONS} items.`);
    return null;
  }
  const nodes: SegmentNode[] = [];
  items.forEach((item, i) => {
    const itemPath = `${itemsPath}[${i}]`;
    const node =
      isRecord(item) && !("field" in item) && ("all" in item || "any" in item)
        ? parseGroup(item, itemPath, depth + 1, c)
        : parseCondition(item, itemPath, c);
    if (node) nodes.push(node);
  });
  if (nodes.length !== items.length) return null;
  return combinator === "all" ? { all: nodes } : { any: nodes };
}

function parseCondition(input: unknown, path: string, c: Collector): SegmentCondition | null {
  c.conditions += 1;
  if (!isRecord(input)) {
    c.add(path, `Expected a condition {"field", "op", "value"} or a group, got ${describe(input)}.`);
    return null;
  }
  const unknown = Object.keys(input).filter((k) => k !== "field" && k !== "op" && k !== "value");
  if (unknown.length > 0) {
    c.add(
      path,
      `Unknown key(s) ${unknown.map((k) => `\`${k}\``).join(", ")}: a condition has field, op, value.`,
    );
    return null;
  }
  const { field, op, value } = input;
  if (typeof field !== "string") {
    c.add(`${path}.field`, `Required: one of ${FIELD_LIST}.`);
    return null;
  }
  const key = field.startsWith("attributes.") ? "attributes.<name>" : field;
  const allowed = Object.hasOwn(FIELD_OPERATORS, key)
    ? (FIELD_OPERATORS as Record<string, readonly string[]>)[key]
    : undefined;
  if (!allowed) {
    c.add(`${path}.field`, `Unknown field \`${field.slice(0, 80)}\`: use one of ${FIELD_LIST}.`);
    return null;
  }
  if (key === "attributes.<name>") {
    const name = field.slice("attributes.".length);
    if (!ATTRIBUTE_NAME.test(name)) {
      c.add(
        `${path}.field`,
        "Attribute names are 1–64 letters, digits, `_`, `.` or `-` (as in `attributes.plan`).",
      );
      return null;
    }
  }
  if (typeof op !== "string" || !allowed.includes(op)) {
    const shown = typeof op === "string" ? `\`${op.slice(0, 40)}\`` : describe(op);
    c.add(`${path}.op`, `Operator ${shown} is not allowed on \`${key}\`: use ${allowed.join(", ")}.`);
    return null;
  }
  const valuePath = `${path}.value`;
  const bad = (message: string) => {
    c.add(valuePath, message);
    return null;
  };
  switch (key) {
    case "tags": {
      if (typeof value !== "string" || value.trim() === "" || value.trim().length > 64)
        return bad("Expected a tag: a string of 1–64 characters.");
      return { field: "tags", op: op as "contains" | "not_contains", value: value.trim().toLowerCase() };
    }
    case "attributes.<name>": {
      const attr = field as `attributes.${string}`;
      if (op === "exists") {
        if (value !== undefined && typeof value !== "boolean")
          return bad("Expected true (the attribute is set) or false (it is not); omit for true.");
        return { field: attr, op: "exists", value: value ?? true };
      }
      if (op === "in") {
        const list = stringList(value, valuePath, c, isScalar, "strings, numbers or booleans");
        return list ? { field: attr, op: "in", value: list as AttributeScalar[] } : null;
      }
      if (op === "eq" || op === "neq") {
        if (!isScalar(value)) return bad(`Expected a string, number or boolean, got ${describe(value)}.`);
        return { field: attr, op, value };
      }
      if (!(typeof value === "number" && Number.isFinite(value)) && !isShortString(value))
        return bad(`Expected a number (or a string, compared as text), got ${describe(value)}.`);
      return { field: attr, op: op as "gt" | "gte" | "lt" | "lte", value: value as number | string };
    }
    case "list_id": {
      const list = stringList(
        value,
        valuePath,
        c,
        (v) => typeof v === "string" && v.length <= 64,
        "list ids",
      );
      return list ? { field: "list_id", op: "in", value: list as string[] } : null;
    }
    case "channel": {
      if (typeof value !== "string" || !(SEGMENT_CHANNELS as readonly string[]).includes(value))
        return bad(`Expected one of ${SEGMENT_CHANNELS.join(", ")}.`);
      return { field: "channel", op: "has", value: value as SegmentChannel };
    }
    case "country": {
      const list = stringList(
        value,
        valuePath,
        c,
        (v) => typeof v === "string" && COUNTRY.test(v),
        "two-letter ISO 3166-1 country codes (e.g. GB)",
      );
      return list
        ? { field: "country", op: "in", value: (list as string[]).map((v) => v.toUpperCase()) }
        : null;
    }
    case "line_type": {
      const list = stringList(
        value,
        valuePath,
        c,
        (v) => typeof v === "string" && (LINE_TYPES as readonly string[]).includes(v),
        `line types (${LINE_TYPES.join(", ")})`,
      );
      return list ? { field: "line_type", op: "in", value: list as LineType[] } : null;
    }
    case "created_at": {
      const instant = typeof value === "string" && RFC3339.test(value) ? new Date(value) : null;
      if (!instant || Number.isNaN(instant.getTime()))
        return bad("Expected an RFC 3339 timestamp with a zone, e.g. 2026-01-31T00:00:00Z.");
      return { field: "created_at", op: op as "gte" | "lte", value: instant.toISOString() };
    }
  }
  return null;
}

function isShortString(value: unknown): value is string {
  return typeof value === "string" && value.length <= MAX_FILTER_STRING;
}

function isScalar(value: unknown): value is AttributeScalar {
  return (
    isShortString(value) ||
    typeof value === "boolean" ||
    (typeof value === "number" && Number.isFinite(value))
  );
}

/** A non-empty array of at most MAX_IN_VALUES items each passing `check`, without duplicates. */
function stringList(
  value: unknown,
  path: string,
  c: Collector,
  check: (v: unknown) => boolean,
  what: string,
): unknown[] | null {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_IN_VALUES) {
    c.add(path, `Expected an array of 1–${MAX_IN_VALUES} ${what}.`);
    return null;
  }
  const badIndex = value.findIndex((v) => !check(v));
  if (badIndex >= 0) {
    c.add(`${path}[${badIndex}]`, `Expected ${what}, got ${describe(value[badIndex])}.`);
    return null;
  }
  return [...new Set(value)];
}
