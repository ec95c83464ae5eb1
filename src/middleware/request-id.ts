import { createMiddleware } from "hono/factory";
import type { AppBindings } from "../env";
import { newId } from "../ids";

// An incoming id is echoed only when it is short and plain, so it is safe to log and to put in headers.
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const requestId = createMiddleware<AppBindings>(async (c, next) => {
  const incoming = c.req.header("x-request-id");
  const id = incoming && SANE_REQUEST_ID.test(incoming) ? incoming : newId("request");
  c.set("requestId", id);
  c.header("X-Request-Id", id);
  await next();
  // onError builds a fresh response, so set the header again on whatever is going out.
  c.res.headers.set("X-Request-Id", id);
});
