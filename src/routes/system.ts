import { createRoute, z } from "@hono/zod-openapi";
import { Scalar } from "@scalar/hono-api-reference";
import { ERROR_CODE_LIST, ERROR_CODES } from "../errors";
import { VERSION } from "../version";
import { jsonResponse, newRouter } from "./shared";

const HealthSchema = z
  .object({
    status: z.enum(["ok", "unavailable"]),
    version: z.string().openapi({ example: VERSION }),
    checks: z.object({ database: z.enum(["ok", "unavailable"]) }),
  })
  .openapi("Health");

const healthRoute = createRoute({
  method: "get",
  path: "/healthz",
  tags: ["System"],
  summary: "Health check",
  description: "Checks that the database answers. No authentication.",
  responses: {
    200: jsonResponse("Healthy.", HealthSchema),
    503: jsonResponse("A dependency is down.", HealthSchema),
  },
});

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** The error-code table that every error's `doc_url` points into (self-contained: works offline). */
function errorsPage(): string {
  const rows = ERROR_CODE_LIST.map((code) => {
    const { status, type, description } = ERROR_CODES[code];
    return `<tr id="${code}"><td><code>${code}</code></td><td>${status}</td><td>${type}</td><td>${escapeHtml(description)}</td></tr>`;
  }).join("\n");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sendwire error codes</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left}
tr:target{background:#fff6d5}</style></head><body>
<h1>Error codes</h1><p>Every error uses one envelope: <code>{"error": {type, code, message, request_id, doc_url, details}}</code>.
Each code always comes with the same HTTP status. Full API reference: <a href="/docs">/docs</a>.</p>
<table><thead><tr><th>code</th><th>status</th><th>type</th><th>meaning</th></tr></thead><tbody>
${rows}
</tbody></table></body></html>`;
}

export const systemRouter = newRouter()
  .openapi(healthRoute, async (c) => {
    let database: "ok" | "unavailable" = "ok";
    try {
      await c.env.DB.prepare("SELECT 1").first();
    } catch (error) {
      console.error("health check: database unavailable", String(error));
      database = "unavailable";
    }
    const status = database === "ok" ? "ok" : "unavailable";
    return c.json({ status, version: VERSION, checks: { database } }, status === "ok" ? 200 : 503);
  })
  .get("/docs", Scalar({ url: "/openapi.json", pageTitle: "Sendwire API reference" }))
  .get("/docs/errors", (c) => c.html(errorsPage()));
