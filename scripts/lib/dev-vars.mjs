// The `.dev.vars` logic of `npm start`, kept pure (text in, text out) so it is tested in Node without a
// file system: create it from `.dev.vars.example`, add the settings an older copy lacks without touching
// what the developer wrote, and refuse values the worker cannot use.

/** `NAME=value`, `NAME = value`, `export NAME=value` (what wrangler's dotenv parser reads). */
const ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/;

/** The value as dotenv reads it: quotes removed, or an unquoted value up to a `#` (a comment). */
function dotenvValue(raw) {
  const text = raw.trim();
  const quote = text[0];
  if ((quote === '"' || quote === "'" || quote === "`") && text.indexOf(quote, 1) > 0) {
    return text.slice(1, text.indexOf(quote, 1));
  }
  return (text.split("#")[0] ?? "").trim();
}

/** Every setting of a `.dev.vars`-format text, name → value (the last assignment wins, as in dotenv). */
export function parseDevVars(text) {
  const vars = new Map();
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*#/.test(line)) continue;
    const match = ASSIGNMENT.exec(line);
    if (match) vars.set(match[1], dotenvValue(match[2]));
  }
  return vars;
}

/**
 * The settings of `.dev.vars.example` in order, each with the comment lines right above it (its
 * explanation) and the value a new `.dev.vars` gets: the example's, or a fresh secret when it is empty.
 */
function exampleSettings(exampleText, generateSecret) {
  const settings = [];
  let comments = [];
  for (const line of exampleText.split(/\r?\n/)) {
    if (/^\s*#/.test(line)) {
      comments.push(line);
      continue;
    }
    const match = ASSIGNMENT.exec(line);
    if (match) {
      const value = dotenvValue(match[2]);
      settings.push({ name: match[1], comments, value: value === "" ? generateSecret() : value });
    }
    comments = [];
  }
  return settings;
}

/** The first `.dev.vars`: the example with every empty value replaced by a fresh secret. */
export function createDevVars(exampleText, generateSecret) {
  const names = new Set();
  const text = exampleText.replace(/^([A-Za-z_][A-Za-z0-9_]*)=[ \t]*(\r?)$/gm, (_, name, cr) => {
    names.add(name);
    return `${name}=${generateSecret()}${cr}`;
  });
  return { text, generated: [...names] };
}

/**
 * An existing `.dev.vars` plus every setting of the example it lacks, appended with its explanation
 * (existing lines are never changed, even when a value is empty or wrong: {@link checkDevVars} says so).
 * `added` names the settings appended, `generated` those of them that got a fresh secret.
 */
export function mergeDevVars(existingText, exampleText, generateSecret) {
  const existing = parseDevVars(existingText);
  const missing = exampleSettings(exampleText, generateSecret).filter((s) => !existing.has(s.name));
  if (missing.length === 0) return { text: existingText, added: [], generated: [] };
  const exampleValues = parseDevVars(exampleText);
  const newline = existingText.includes("\r\n") ? "\r\n" : "\n";
  const lines = [`# Added by \`npm start\` from .dev.vars.example (settings this file lacked):`];
  for (const { name, comments, value } of missing) lines.push("", ...comments, `${name}=${value}`);
  const block = `${lines.join(newline)}${newline}`;
  const kept =
    existingText === "" || existingText.endsWith("\n") ? existingText : `${existingText}${newline}`;
  const text = kept === "" ? block : `${kept}${newline}${block}`;
  return {
    text,
    added: missing.map((s) => s.name),
    generated: missing.filter((s) => exampleValues.get(s.name) === "").map((s) => s.name),
  };
}

/** Standard base64 of exactly `bytes` bytes (what `randomBytes(n).toString("base64")` writes). */
function isBase64Of(value, bytes) {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value) || value.length % 4 !== 0) return false;
  return Buffer.from(value, "base64").length === bytes;
}

/**
 * What the worker cannot use in these settings, one sentence a problem, naming the setting but never
 * quoting its value (it may be a secret). Settings that are absent are not judged here.
 */
export function checkDevVars(vars) {
  const problems = [];
  const key = vars.get("SECRETS_ENCRYPTION_KEY");
  if (key !== undefined && !isBase64Of(key, 32)) {
    problems.push(
      `SECRETS_ENCRYPTION_KEY in .dev.vars ${key === "" ? "is empty" : "is not base64 of 32 bytes"}: ` +
        "delete that line to have `npm start` generate one, or set it to the output of " +
        `node -e "console.log(require('node:crypto').randomBytes(32).toString('base64'))".`,
    );
  }
  const base = vars.get("PUBLIC_BASE_URL");
  if (base !== undefined && !isHttpUrl(base)) {
    problems.push(
      "PUBLIC_BASE_URL in .dev.vars is not an http(s) URL: set it to an origin such as " +
        "http://localhost:8787 (or a tunnel's https:// origin), or delete the line.",
    );
  }
  return problems;
}

function isHttpUrl(value) {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}
