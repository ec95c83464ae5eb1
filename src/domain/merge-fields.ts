import { ATTRIBUTE_NAME } from "./segments";

/**
 * Merge fields personalise a broadcast's content per recipient: `{{contact.name}}`, `{{contact.external_id}}`
 * and `{{contact.attributes.<key>}}`, each with an optional default after a pipe (`{{contact.name|there}}`).
 * Anything else in double braces is left literal, because template bodies use `{{1}}` for their own
 * variables. Parsing is strict (a typo in `{{contact.…}}` is an error naming the field, caught before a
 * broadcast is stored); rendering is lenient and fast, since it runs once per recipient.
 */

export type MergeContact = {
  name: string | null;
  externalId: string | null;
  attributes: Record<string, string | number | boolean>;
};

export type MergeFieldPath = "name" | "external_id" | `attributes.${string}`;

export interface MergeField {
  path: MergeFieldPath;
  /** The default after the pipe, trimmed; `""` for `{{contact.name|}}`; null when there is no pipe. */
  fallback: string | null;
  /** The field as written, braces included: `{{ contact.name | there }}`. */
  raw: string;
}

export type MergeFieldsResult = { ok: true; fields: MergeField[] } | { ok: false; message: string };

/** Rendered in previews and test sends when no contact is given. */
export const SAMPLE_CONTACT: MergeContact = { name: "Alex Sample", externalId: "sample-1", attributes: {} };

/** Deepest nesting of objects/arrays collectMergeFields walks; content is a few levels deep at most. */
export const MAX_CONTENT_DEPTH = 10;

/**
 * A closed `{{…}}` (group 1: inside, no braces), or else an opening `{{` that starts a contact field but is
 * never closed properly (group 2), e.g. a default containing a brace. Compiled once; matchAll works on a
 * copy, so the shared lastIndex is never disturbed.
 */
const BRACES = /\{\{([^{}]*)\}\}|\{\{(\s*contact)/gi;
/** What claims to be a merge field: the inside, trimmed, starts with `contact` (any case, to catch typos). */
const CLAIMS_CONTACT = /^contact/i;
const ATTRIBUTES_PREFIX = "contact.attributes.";
const VALID_FIELDS_HINT = "use contact.name, contact.external_id or contact.attributes.<key>";

type Parsed = { kind: "literal" } | { kind: "field"; field: MergeField } | { kind: "error"; message: string };

/** How much of an unclosed field the error quotes. */
const UNCLOSED_SNIPPET = 40;

/** One `{{…}}` match (`inside` undefined: an unclosed contact field) → a field, a literal or an error. */
function parseMatch(match: RegExpExecArray | RegExpMatchArray, text: string): Parsed {
  const raw = match[0];
  const inside = match[1];
  if (inside === undefined) {
    const start = match.index ?? 0;
    const snippet = text.slice(start, start + UNCLOSED_SNIPPET);
    return {
      kind: "error",
      message: `Merge field starting "${snippet}" is not closed with }}; a default cannot contain { or }.`,
    };
  }
  const pipe = inside.indexOf("|");
  const path = (pipe === -1 ? inside : inside.slice(0, pipe)).trim();
  if (!CLAIMS_CONTACT.test(path)) return { kind: "literal" };
  const fallback = pipe === -1 ? null : inside.slice(pipe + 1).trim();
  if (path === "contact.name") return { kind: "field", field: { path: "name", fallback, raw } };
  if (path === "contact.external_id") return { kind: "field", field: { path: "external_id", fallback, raw } };
  if (path.startsWith(ATTRIBUTES_PREFIX)) {
    const key = path.slice(ATTRIBUTES_PREFIX.length);
    if (!ATTRIBUTE_NAME.test(key)) {
      return {
        kind: "error",
        message: `Merge field ${raw} names an invalid attribute key "${key}"; keys are 1–64 letters, digits, _, . or -.`,
      };
    }
    return { kind: "field", field: { path: `attributes.${key}`, fallback, raw } };
  }
  return { kind: "error", message: `Unknown merge field ${raw}; ${VALID_FIELDS_HINT}.` };
}

/** Every merge field in `text`, in order (duplicates kept), or the first invalid one. */
export function parseMergeFields(text: string): MergeFieldsResult {
  const fields: MergeField[] = [];
  if (!text.includes("{{")) return { ok: true, fields };
  for (const match of text.matchAll(BRACES)) {
    const parsed = parseMatch(match, text);
    if (parsed.kind === "error") return { ok: false, message: parsed.message };
    if (parsed.kind === "field") fields.push(parsed.field);
  }
  return { ok: true, fields };
}

/** The contact's value for a field as text, or null when it has none (absent, null or blank). */
function contactValue(path: MergeFieldPath, contact: MergeContact): string | null {
  let value: string | number | boolean | null | undefined;
  if (path === "name") value = contact.name;
  else if (path === "external_id") value = contact.externalId;
  else {
    const key = path.slice("attributes.".length);
    // Own keys only: `attributes.constructor` must not reach Object.prototype.
    value = Object.hasOwn(contact.attributes, key) ? contact.attributes[key] : undefined;
  }
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value.trim() === "" ? null : value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return null;
}

/**
 * A string split once into literal text and fields, so rendering 100,000 recipients does not re-run the
 * regex each time. Odd indexes are fields, even indexes literals.
 */
type CompiledText = (string | MergeField)[];

const COMPILED_CACHE_LIMIT = 512;
const compiledCache = new Map<string, CompiledText>();

function compile(text: string): CompiledText {
  const cached = compiledCache.get(text);
  if (cached) return cached;
  const parts: CompiledText = [];
  let literal = "";
  let last = 0;
  for (const match of text.matchAll(BRACES)) {
    const parsed = parseMatch(match, text);
    // Unvalidated text renders leniently: literals and errors stay as written.
    if (parsed.kind !== "field") continue;
    literal += text.slice(last, match.index);
    parts.push(literal, parsed.field);
    literal = "";
    last = match.index + match[0].length;
  }
  parts.push(literal + text.slice(last));
  // Content strings repeat across every recipient of a broadcast; a bounded cache keeps memory flat.
  if (compiledCache.size >= COMPILED_CACHE_LIMIT) compiledCache.clear();
  compiledCache.set(text, parts);
  return parts;
}

/**
 * `text` with each merge field replaced by the contact's value, else its default, else "". One pass: a
 * value that itself contains `{{contact.name}}` is inserted as is, never rendered again.
 */
export function renderMergeFields(text: string, contact: MergeContact): string {
  if (!text.includes("{{")) return text;
  const parts = compile(text);
  if (parts.length === 1) return text;
  let out = "";
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string | MergeField;
    out += typeof part === "string" ? part : (contactValue(part.path, contact) ?? part.fallback ?? "");
  }
  return out;
}

export type CollectResult = { ok: true; fields: MergeField[] } | { ok: false; message: string; path: string };

/**
 * Every merge field in every string of a JSON-like value (the content of a broadcast), deduplicated by how
 * it is written, or the first problem with the JSON path of the string holding it (`template.variables.1`).
 */
export function collectMergeFields(value: unknown): CollectResult {
  const fields = new Map<string, MergeField>();
  const walk = (node: unknown, path: string[], depth: number): CollectResult | null => {
    if (typeof node === "string") {
      const parsed = parseMergeFields(node);
      if (!parsed.ok) return { ok: false, message: parsed.message, path: path.join(".") };
      for (const field of parsed.fields) if (!fields.has(field.raw)) fields.set(field.raw, field);
      return null;
    }
    if (node === null || typeof node !== "object") return null;
    if (depth >= MAX_CONTENT_DEPTH) {
      return {
        ok: false,
        message: `Content is nested more than ${MAX_CONTENT_DEPTH} levels deep.`,
        path: path.join("."),
      };
    }
    const entries: [string, unknown][] = Array.isArray(node)
      ? node.map((item, index) => [String(index), item])
      : Object.entries(node);
    for (const [key, child] of entries) {
      const problem = walk(child, [...path, key], depth + 1);
      if (problem) return problem;
    }
    return null;
  };
  return walk(value, [], 0) ?? { ok: true, fields: [...fields.values()] };
}

/** A copy of `value` with every string rendered for `contact`; object keys and non-strings are untouched. */
export function renderContent<T>(value: T, contact: MergeContact): T {
  return renderNode(value, contact) as T;
}

function renderNode(node: unknown, contact: MergeContact): unknown {
  if (typeof node === "string") return renderMergeFields(node, contact);
  if (node === null || typeof node !== "object") return node;
  if (Array.isArray(node)) return node.map((item) => renderNode(item, contact));
  // fromEntries defines own properties, so a `__proto__` key in parsed JSON stays a plain key.
  return Object.fromEntries(Object.entries(node).map(([key, child]) => [key, renderNode(child, contact)]));
}

/** The fields every recipient must have a value for: those without a default. */
export function requiredFields(fields: MergeField[]): MergeField[] {
  return fields.filter((field) => field.fallback === null);
}
