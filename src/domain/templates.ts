/**
 * WhatsApp template rules, enforced by us before Meta sees anything: a template Meta rejects hours later
 * in review, or a send Meta refuses with error 132000, costs the tenant a round trip; here it is a 400
 * that names the exact variable. The limits are Meta's published ones.
 */

export type PlaceholderStyle = "numbered" | "named" | "none";

export interface Placeholders {
  /** The style of the first placeholder (a template mixing styles is reported by validateTemplateDefinition). */
  style: PlaceholderStyle;
  /** Unique, in order of first appearance; numbered ones as `"1"`, `"2"`. */
  names: string[];
}

/**
 * `{{1}}` or `{{first_name}}`. Whitespace just inside the braces is tolerated (`{{ 1 }}` is `{{1}}`):
 * people type it, and rejecting it would only add an error nobody learns from. canonicalizePlaceholders
 * rewrites it away before a template is submitted to Meta.
 */
const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const NUMBERED = /^[1-9]\d*$/;
const NAMED = /^[a-z][a-z0-9_]*$/;

export const TEMPLATE_LIMITS = {
  body: 1024,
  header: 60,
  footer: 60,
  buttons: 10,
  buttonText: 25,
  urlButtons: 2,
  phoneButtons: 1,
  copyCodeButtons: 1,
  /** Meta allows one variable in a text header. */
  headerVariables: 1,
  variableValue: 1024,
} as const;

function styleOf(name: string): PlaceholderStyle | null {
  if (NUMBERED.test(name)) return "numbered";
  if (NAMED.test(name)) return "named";
  return null;
}

/** The placeholders of one text (body or header). Malformed ones (`{{}}`, `{{First Name}}`) are skipped here. */
export function parsePlaceholders(text: string): Placeholders {
  const names: string[] = [];
  let style: PlaceholderStyle = "none";
  for (const match of text.matchAll(PLACEHOLDER)) {
    const name = match[1] ?? "";
    const kind = styleOf(name);
    if (!kind) continue;
    if (style === "none") style = kind;
    if (!names.includes(name)) names.push(name);
  }
  return { style, names };
}

/** `{{ 1 }}` → `{{1}}`: the form Meta accepts. Malformed placeholders are left as they are. */
export function canonicalizePlaceholders(text: string): string {
  return text.replace(PLACEHOLDER, (whole, name: string) => (styleOf(name) ? `{{${name}}}` : whole));
}

/**
 * Substitutes variables in one pass: a value that itself contains `{{2}}` is not expanded again. A
 * placeholder without a variable is left in place (call checkVariables first).
 */
export function renderTemplate(text: string, variables: Record<string, string>): string {
  return text.replace(PLACEHOLDER, (whole, name: string) =>
    styleOf(name) && Object.hasOwn(variables, name) ? String(variables[name]) : whole,
  );
}

export type TemplateButtonType = "quick_reply" | "url" | "phone_number" | "copy_code";

export interface TemplateDefinition {
  body: string;
  header?: string | null;
  footer?: string | null;
  buttons?: ReadonlyArray<{ type?: TemplateButtonType; text: string }>;
}

export interface TemplateProblem {
  /** `body`, `header`, `footer`, `buttons` or `buttons[2].text`. */
  field: string;
  message: string;
}

const length = (text: string): number => [...text].length;

/** Every problem Meta would reject the template for (or that makes its variables unusable); empty = fine. */
export function validateTemplateDefinition(definition: TemplateDefinition): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  const add = (field: string, message: string) => problems.push({ field, message });
  const { body, header, footer, buttons = [] } = definition;

  if (body.trim() === "") add("body", "Body must not be empty.");
  if (length(body) > TEMPLATE_LIMITS.body)
    add("body", `Body is longer than ${TEMPLATE_LIMITS.body} characters.`);
  checkPlaceholders("body", body, add);
  const styles = new Set<PlaceholderStyle>();
  const bodyStyle = parsePlaceholders(body).style;
  if (bodyStyle !== "none") styles.add(bodyStyle);
  const trimmed = body.trim();
  if (/^\{\{[^{}]*\}\}/.test(trimmed) || /\{\{[^{}]*\}\}$/.test(trimmed)) {
    add("body", "Body must not start or end with a placeholder; put some text around it.");
  }

  if (header != null) {
    if (length(header) > TEMPLATE_LIMITS.header) {
      add("header", `Header is longer than ${TEMPLATE_LIMITS.header} characters.`);
    }
    checkPlaceholders("header", header, add);
    const parsed = parsePlaceholders(header);
    if (parsed.style !== "none") styles.add(parsed.style);
    if (parsed.names.length > TEMPLATE_LIMITS.headerVariables) {
      add("header", `Header may contain at most ${TEMPLATE_LIMITS.headerVariables} placeholder.`);
    }
  }
  if (styles.size > 1) add("header", "Header and body must use the same placeholder style.");

  if (footer != null) {
    if (length(footer) > TEMPLATE_LIMITS.footer) {
      add("footer", `Footer is longer than ${TEMPLATE_LIMITS.footer} characters.`);
    }
    if (footer.match(PLACEHOLDER)) add("footer", "Footer must not contain placeholders.");
  }

  if (buttons.length > TEMPLATE_LIMITS.buttons) {
    add("buttons", `A template may have at most ${TEMPLATE_LIMITS.buttons} buttons.`);
  }
  const count = (type: TemplateButtonType) => buttons.filter((b) => b.type === type).length;
  if (count("url") > TEMPLATE_LIMITS.urlButtons) {
    add("buttons", `A template may have at most ${TEMPLATE_LIMITS.urlButtons} URL buttons.`);
  }
  if (count("phone_number") > TEMPLATE_LIMITS.phoneButtons) {
    add("buttons", `A template may have at most ${TEMPLATE_LIMITS.phoneButtons} phone number button.`);
  }
  if (count("copy_code") > TEMPLATE_LIMITS.copyCodeButtons) {
    add("buttons", `A template may have at most ${TEMPLATE_LIMITS.copyCodeButtons} copy code button.`);
  }
  buttons.forEach((button, i) => {
    if (button.text.trim() === "") add(`buttons[${i}].text`, "Button text must not be empty.");
    else if (length(button.text) > TEMPLATE_LIMITS.buttonText) {
      add(`buttons[${i}].text`, `Button text is longer than ${TEMPLATE_LIMITS.buttonText} characters.`);
    }
  });
  return problems;
}

/** Problems inside one text: malformed or empty placeholders, mixed styles, numbering gaps, stray braces. */
function checkPlaceholders(field: string, text: string, add: (field: string, message: string) => void): void {
  const styles = new Set<PlaceholderStyle>();
  for (const match of text.matchAll(PLACEHOLDER)) {
    const name = match[1] ?? "";
    const kind = styleOf(name);
    if (name === "") add(field, "Placeholder {{}} is empty; use {{1}} or a name like {{first_name}}.");
    else if (!kind) {
      add(
        field,
        `Placeholder {{${name}}} is invalid: use numbers from 1 ({{1}}) or lowercase names with letters, digits and underscores starting with a letter ({{first_name}}).`,
      );
    } else styles.add(kind);
  }
  if (styles.size > 1) add(field, "Do not mix numbered ({{1}}) and named ({{first_name}}) placeholders.");
  const parsed = parsePlaceholders(text);
  if (parsed.style === "numbered" && styles.size === 1) {
    const numbers = parsed.names.map(Number).sort((a, b) => a - b);
    const gap = numbers.findIndex((n, i) => n !== i + 1);
    if (gap !== -1) {
      add(field, `Numbered placeholders must run from {{1}} without gaps; {{${gap + 1}}} is missing.`);
    }
  }
  const rest = text.replace(PLACEHOLDER, "");
  if (rest.includes("{{") || rest.includes("}}")) {
    add(field, "Text has unmatched {{ or }}; placeholders look like {{1}} or {{first_name}}.");
  }
}

export interface VariableProblem {
  name: string;
  message: string;
}

export type VariableCheck =
  | { ok: true }
  | { ok: false; missing: string[]; unexpected: string[]; invalid: VariableProblem[]; message: string };

/** Numbered names read best in numeric order in messages; named ones keep their template order. */
function listOrder(placeholders: Placeholders): string[] {
  if (!placeholders.names.every((name) => NUMBERED.test(name))) return placeholders.names;
  return [...placeholders.names].sort((a, b) => Number(a) - Number(b));
}

/** Meta's rule for parameter text: not empty, ≤ 1024 characters, no newline or tab, ≤ 4 spaces in a row. */
function valueProblem(value: unknown): string | null {
  if (typeof value !== "string") return "must be a string";
  if (value.trim() === "") return "is empty";
  if (length(value) > TEMPLATE_LIMITS.variableValue) {
    return `is longer than ${TEMPLATE_LIMITS.variableValue} characters`;
  }
  if (/[\n\r\t]/.test(value)) return "contains a newline or tab";
  if (/ {5}/.test(value)) return "contains more than 4 consecutive spaces";
  return null;
}

/**
 * Do the variables a sender passed fit the template's placeholders exactly? The message is meant to be
 * shown as is: `Template order_confirmation (pt_BR) expects variables 1,2,3; missing 3.`
 */
export function checkVariables(
  placeholders: Placeholders,
  variables: Record<string, string>,
  template: { name: string; language: string },
): VariableCheck {
  const expected = listOrder(placeholders);
  const missing = expected.filter((name) => !Object.hasOwn(variables, name));
  const unexpected = Object.keys(variables).filter((name) => !expected.includes(name));
  const invalid: VariableProblem[] = [];
  for (const name of expected) {
    if (!Object.hasOwn(variables, name)) continue;
    const problem = valueProblem(variables[name]);
    if (problem) invalid.push({ name, message: `variable ${name} ${problem}` });
  }
  if (missing.length === 0 && unexpected.length === 0 && invalid.length === 0) return { ok: true };

  const parts = [
    expected.length === 0
      ? `Template ${template.name} (${template.language}) expects no variables`
      : `Template ${template.name} (${template.language}) expects variables ${expected.join(",")}`,
  ];
  if (missing.length > 0) parts.push(`missing ${missing.join(",")}`);
  if (unexpected.length > 0) parts.push(`unexpected ${unexpected.join(",")}`);
  for (const problem of invalid) parts.push(problem.message);
  return { ok: false, missing, unexpected, invalid, message: `${parts.join("; ")}.` };
}

const LANGUAGE = /^[a-z]{2,3}(_[A-Z]{2})?$/;
const TEMPLATE_NAME = /^[a-z0-9_]{1,512}$/;

/** Meta's language code form: `en`, `fil`, `en_US`, `pt_BR`, `zh_CN`. */
export function isTemplateLanguage(code: string): boolean {
  return LANGUAGE.test(code);
}

/** Meta's template name rule: lowercase letters, digits and underscores, 1–512 characters. */
export function isTemplateName(name: string): boolean {
  return TEMPLATE_NAME.test(name);
}
