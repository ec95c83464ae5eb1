import { createMiddleware } from "hono/factory";
import type { AppBindings } from "../env";
import { ApiError } from "../errors";

const JSON_CONTENT_TYPE = /^application\/([a-z0-9.+-]+\+)?json\b/i;
const METHODS_WITH_BODY = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Parses a JSON body once, up front, so a non-JSON body is a clear 400 `invalid_json` instead of a
 * validator's guess. An empty body parses as `{}` (routes whose fields are all optional accept it).
 */
export const jsonBody = createMiddleware<AppBindings>(async (c, next) => {
  if (!METHODS_WITH_BODY.has(c.req.method)) return next();
  const text = await c.req.text();
  if (text.trim() === "") {
    c.req.bodyCache.json = Promise.resolve({});
    return next();
  }
  const contentType = c.req.header("content-type") ?? "";
  if (!JSON_CONTENT_TYPE.test(contentType)) {
    throw new ApiError(
      "invalid_json",
      `Request bodies must be JSON sent with \`Content-Type: application/json\` (got ${contentType ? `\`${contentType.slice(0, 60)}\`` : "no Content-Type"}).`,
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
  c.req.bodyCache.json = Promise.resolve(parsed);
  await next();
});
