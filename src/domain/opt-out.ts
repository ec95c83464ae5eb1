/**
 * Opt-out and opt-in keywords of inbound SMS and WhatsApp messages. A message counts only when its whole text
 * is the keyword: "STOP" opts out, "please stop sending me promos" does not. Case, accents, surrounding
 * whitespace and surrounding punctuation or symbols are ignored ("Stop!", " párar ", "¡BAJA!", "STOP 🛑").
 */

/** Carrier-standard English keywords plus their Portuguese and Spanish counterparts. */
export const STOP_KEYWORDS = [
  "STOP",
  "STOPALL",
  "UNSUBSCRIBE",
  "CANCEL",
  "END",
  "QUIT",
  "SAIR",
  "PARAR",
  "CANCELAR",
  "BAJA",
] as const;

export const START_KEYWORDS = ["START", "UNSTOP", "VOLTAR"] as const;

export type OptKeyword = { action: "opt_out" | "opt_in"; keyword: string };

/** Longer than any keyword with generous padding: longer texts are never keywords, so no work is done. */
const MAX_KEYWORD_TEXT = 64;

const STOP = new Set<string>(STOP_KEYWORDS);
const START = new Set<string>(START_KEYWORDS);

/** Upper-case, accents removed, surrounding whitespace, punctuation and symbols stripped. */
export function keywordForm(text: string): string {
  return text
    .normalize("NFD")
    .replace(/\p{M}/gu, "")
    .replace(/^[\s\p{P}\p{S}]+|[\s\p{P}\p{S}]+$/gu, "")
    .toUpperCase();
}

/** The keyword the whole text is, with what it asks for; null for any other text. */
export function matchOptKeyword(text: string | null | undefined): OptKeyword | null {
  if (typeof text !== "string" || text.length === 0 || text.length > MAX_KEYWORD_TEXT) return null;
  const form = keywordForm(text);
  if (STOP.has(form)) return { action: "opt_out", keyword: form };
  if (START.has(form)) return { action: "opt_in", keyword: form };
  return null;
}
