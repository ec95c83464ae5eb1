/**
 * Finding and rewriting http(s) URLs in message bodies, for link tracking. Pure: no I/O, no randomness.
 *
 * The finder is conservative on purpose: a URL it does not see is merely untracked, while a URL it cuts
 * wrongly would send a recipient somewhere else. So it takes only `http://` and `https://`, stops at
 * whitespace (hence never holds CR/LF, which keeps stored URLs safe to put in a `Location` header), at
 * `<>"'` and the backtick, and drops sentence punctuation and unbalanced closing brackets at the end.
 */

/** Longer URLs are left as they are: they are usually signed or generated, and we store every tracked URL. */
export const MAX_TRACKED_URL_LENGTH = 2048;

/** Short-link codes: 12 base62 characters (~71 bits), drawn by the service from crypto.getRandomValues. */
export const LINK_CODE_LENGTH = 12;
export const LINK_CODE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const LINK_CODE_PATTERN = /^[0-9A-Za-z]{12}$/;

/** True for a string that can be a short-link code; anything else is answered 404 without a lookup. */
export function isLinkCode(code: string): boolean {
  return LINK_CODE_PATTERN.test(code);
}

export interface FoundUrl {
  /** The URL as it should be visited (in HTML: with `&amp;` decoded to `&`). */
  url: string;
  /** Offsets in the text: `text.slice(start, end)` is the URL as written. */
  start: number;
  end: number;
}

export interface FindOptions {
  /**
   * The text is HTML (an email's `html`): `&amp;` inside a URL means `&`, `&quot;` `&lt;` `&gt;` `&#39;`
   * end it like the characters they stand for, and only link targets and visible text count: `href` of
   * `<a>`/`<area>` and bare URLs in text, never `src`, stylesheet `href` or URLs in `<style>`/`<script>`
   * (an image's URL turned into a short link would count every email open as a click).
   */
  html?: boolean;
}

export interface RewriteOptions extends FindOptions {
  /**
   * The short-link origin (`{PUBLIC_BASE_URL}`, no trailing slash): URLs already under `{base}/l/` are
   * left alone, so tracking twice never wraps a short link in another.
   */
  shortLinkBase?: string;
}

/** Characters that end a URL besides whitespace and control characters. */
const URL_STOP_CHARACTERS = `<>"'\``;

/** Whitespace (CR, LF, tab, Unicode spaces) or an ASCII control character: never part of a found URL. */
function isSpaceOrControl(char: string): boolean {
  const code = char.charCodeAt(0);
  return code < 0x20 || code === 0x7f || /\s/.test(char);
}

/** True when `text` holds whitespace or a control character (a URL the finder could not have produced). */
export function hasSpaceOrControl(text: string): boolean {
  for (const char of text) if (isSpaceOrControl(char)) return true;
  return false;
}

const TRAILING_PUNCTUATION = ".,;:!?";
const HTML_STOP_ENTITIES = ["&quot;", "&lt;", "&gt;", "&#39;", "&#x27;", "&apos;"];
/** Tags whose `href` is a link a person follows. */
const LINK_TAGS = new Set(["a", "area"]);

function count(text: string, char: string): number {
  let n = 0;
  for (const c of text) if (c === char) n++;
  return n;
}

/** Drops trailing sentence punctuation and closing brackets that have no opening one inside the URL. */
function trimEnd(candidate: string): string {
  let url = candidate;
  for (;;) {
    const last = url.at(-1);
    if (last === undefined) return url;
    if (TRAILING_PUNCTUATION.includes(last)) {
      url = url.slice(0, -1);
    } else if (last === ")" && count(url, "(") < count(url, ")")) {
      url = url.slice(0, -1);
    } else if (last === "]" && count(url, "[") < count(url, "]")) {
      url = url.slice(0, -1);
    } else {
      return url;
    }
  }
}

/** Needs a host: `https://` alone, or followed by punctuation only, is not a URL. */
function hasHost(url: string): boolean {
  const afterScheme = url.slice(url.indexOf("://") + 3);
  if (!/^[\p{L}\p{N}[]/u.test(afterScheme)) return false;
  try {
    return new URL(url).hostname.length > 0;
  } catch {
    return false;
  }
}

/** Where a URL candidate starting at `start` ends (exclusive), before trimming. */
function scanEnd(text: string, start: number, html: boolean): number {
  let end = start;
  while (end < text.length) {
    const char = text[end] as string;
    if (isSpaceOrControl(char) || URL_STOP_CHARACTERS.includes(char)) break;
    if (html && char === "&" && HTML_STOP_ENTITIES.some((e) => text.startsWith(e, end))) break;
    end++;
  }
  return end;
}

/** Offsets of `<style>…</style>` and `<script>…</script>` (an unclosed one runs to the end). */
function hiddenRanges(html: string): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (const match of html.matchAll(/<(style|script)\b[\s\S]*?(?:<\/\1\s*>|$)/gi)) {
    ranges.push([match.index, match.index + match[0].length]);
  }
  return ranges;
}

/**
 * In HTML, whether the URL at `start` is a link target or visible text (tracked), or the value of another
 * attribute, a CSS `url(…)` or inside `<style>`/`<script>` (left alone).
 */
function isLinkInHtml(html: string, start: number, hidden: Array<[number, number]>): boolean {
  if (hidden.some(([from, to]) => start > from && start < to)) return false;
  if (/url\(\s*["']?$/i.test(html.slice(Math.max(0, start - 8), start))) return false;
  const tagOpen = html.lastIndexOf("<", start);
  if (tagOpen < 0 || tagOpen <= html.lastIndexOf(">", start)) return true; // in text, not inside a tag
  const tag = html.slice(tagOpen, start);
  const name = /^<\s*([a-zA-Z][\w-]*)/.exec(tag)?.[1]?.toLowerCase();
  const attribute = /([\w:-]+)\s*=\s*["']?$/.exec(tag)?.[1]?.toLowerCase();
  return name !== undefined && LINK_TAGS.has(name) && attribute === "href";
}

/** Every http(s) URL of `text`, in order. */
export function findUrls(text: string, options: FindOptions = {}): FoundUrl[] {
  const html = options.html === true;
  const hidden = html ? hiddenRanges(text) : [];
  const found: FoundUrl[] = [];
  const scheme = /https?:\/\//gi;
  for (let match = scheme.exec(text); match !== null; match = scheme.exec(text)) {
    const start = match.index;
    const rawEnd = scanEnd(text, start, html);
    scheme.lastIndex = rawEnd;
    // `xhttps://…` is not a URL start: the scheme must not continue a word or another scheme.
    if (start > 0 && /[\p{L}\p{N}+.-]/u.test(text[start - 1] as string)) continue;
    const written = trimEnd(text.slice(start, rawEnd));
    if (!hasHost(written)) continue;
    if (html && !isLinkInHtml(text, start, hidden)) continue;
    found.push({
      url: html ? written.replaceAll("&amp;", "&") : written,
      start,
      end: start + written.length,
    });
  }
  return found;
}

/** Whether a found URL gets a short link: not too long, and not one of our own short links already. */
export function isTrackable(url: string, shortLinkBase?: string): boolean {
  if (url.length > MAX_TRACKED_URL_LENGTH) return false;
  if (shortLinkBase && url.toLowerCase().startsWith(`${shortLinkBase.toLowerCase()}/l/`)) return false;
  return true;
}

/**
 * `text` with every trackable URL replaced by `replace(url)` (the URL as it should be visited); untrackable
 * URLs and everything around the URLs are kept byte for byte.
 */
export function rewriteUrls(
  text: string,
  replace: (url: string) => string,
  options: RewriteOptions = {},
): string {
  let out = "";
  let copied = 0;
  for (const found of findUrls(text, options)) {
    if (!isTrackable(found.url, options.shortLinkBase)) continue;
    out += text.slice(copied, found.start) + replace(found.url);
    copied = found.end;
  }
  return copied === 0 ? text : out + text.slice(copied);
}
