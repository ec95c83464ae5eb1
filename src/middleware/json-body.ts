import { createMiddleware } from "hono/factory";
import type { AppBindings } from "../env";
import { ApiError } from "../errors";

const JSON_CONTENT_TYPE = /^application\/([a-z0-9.+-]+\+)?json\b/i;
const METHODS_WITH_BODY = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Routes that also take a file as the raw request body (any other content type than JSON): a CSV or NDJSON
 * contact import, a media upload. Such a body skips the 1 MiB JSON limit and parsing; the route streams it,
 * under its own size limit, and never holds it whole in memory. The same routes with a JSON body are JSON.
 */
const RAW_UPLOAD_ROUTES = new Set(["POST /v1/contact-imports", "POST /v1/media"]);

/** True when the request carries a JSON body (or claims to). */
export function isJsonRequest(contentType: string | undefined): boolean {
  return JSON_CONTENT_TYPE.test(contentType ?? "");
}

/** True when this request is a raw file upload to one of the routes that take one. */
export function isRawUpload(c: {
  req: { method: string; path: string; header(name: string): string | undefined };
}) {
  const contentType = c.req.header("content-type");
  return (
    RAW_UPLOAD_ROUTES.has(`${c.req.method} ${c.req.path.replace(/\/$/, "")}`) &&
    contentType !== undefined &&
    !isJsonRequest(contentType)
  );
}
/** No Sendwire body needs more; deeper ones are refused before anything walks them recursively. */
export const MAX_JSON_DEPTH = 32;

/**
 * How deeply `text` nests arrays and objects, counted without parsing (brackets inside strings do not
 * count), stopping as soon as it passes `limit`. Linear and allocation-free, so a hostile body costs
 * no more than reading it.
 */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c)
        i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > limit) return true;
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return false;
}

/**
 * Parses a JSON body once, up front, so a non-JSON body is a clear 400 `invalid_json` instead of a
 * validator's guess. An empty body parses as `{}` (routes whose fields are all optional accept it).
 */
/**
 * Where a `__proto__` key sits in `value` (as a path), or null. JSON.parse keeps it as an own key, but any
 * later copy by assignment (zod records, spreads) turns it into a prototype change and the key silently
 * vanishes, so such bodies are refused rather than half-stored. Depth is bounded by MAX_JSON_DEPTH.
 */
function protoKeyPath(value: unknown, path: string): string | null {
  if (!value || typeof value !== "object") return null;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = protoKeyPath(item, `${path}[${index}]`);
      if (found) return found;
    }
    return null;
  }
  for (const [key, item] of Object.entries(value)) {
    const here = path ? `${path}.${key}` : key;
    if (key === "__proto__") return here;
    const found = protoKeyPath(item, here);
    if (found) return found;
  }
  return null;
}

export const jsonBody = createMiddleware<AppBindings>(async (c, next) => {
  if (!METHODS_WITH_BODY.has(c.req.method) || isRawUpload(c)) return next();
  const text = await c.req.text();
  if (text.trim() === "") {
    useParsedBody(c, {});
    return next();
  }
  const contentType = c.req.header("content-type") ?? "";
  if (!JSON_CONTENT_TYPE.test(contentType)) {
    throw new ApiError(
      "invalid_json",
      `Request bodies must be JSON sent with \`Content-Type: application/json\` (got ${contentType ? `\`${contentType.slice(0, 60)}\`` : "no Content-Type"}).`,
    );
  }
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
    throw new ApiError(
      "validation_error",
      `The request body nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep; flatten it.`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message.slice(0, 160) : "unparseable";
    throw new ApiError("invalid_json", `The request body is not valid JSON: ${reason}.`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ApiError("invalid_json", "The request body must be a JSON object.");
  }
  // The walk only runs for bodies that could hold the key: spelled out, or hidden in a \u escape.
  const protoPath = /__proto__|\\u/.test(text) ? protoKeyPath(parsed, "") : null;
  if (protoPath) {
    throw new ApiError(
      "validation_error",
      `${protoPath}: a key named __proto__ is not accepted; rename it.`,
      {
        details: [{ path: protoPath, message: "a key named __proto__ is not accepted" }],
      },
    );
  }
  useParsedBody(c, parsed);
  await next();
});

/**
 * Hono's `c.req.json()` parses the cached text again on every call (the KeyGate's idempotency key and
 * fingerprint, then the route's validator: three more parses of every body). This request's calls get the
 * one parse made here instead.
 */
function useParsedBody(c: { req: { json: () => Promise<unknown> } }, parsed: object) {
  const once = Promise.resolve(parsed);
  c.req.json = () => once;
}
