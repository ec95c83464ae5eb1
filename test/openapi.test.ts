import { describe, expect, it } from "vitest";
import { createApp } from "../src/app";
import { ERROR_CODE_LIST } from "../src/errors";
import { call, json } from "./helpers";

// Served outside the contract on purpose: the document itself and the human docs pages.
const NOT_IN_CONTRACT = new Set(["GET /openapi.json", "GET /docs", "GET /docs/errors"]);

async function document() {
  const res = await call("GET", "/openapi.json");
  expect(res.status).toBe(200);
  return json(res);
}

describe("OpenAPI 3.1 document", () => {
  it("is 3.1 with both security schemes and the error code list", async () => {
    const doc = await document();
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.components.securitySchemes).toEqual({
      bearerAuth: expect.objectContaining({ type: "http", scheme: "bearer" }),
      apiKeyHeader: expect.objectContaining({ type: "apiKey", in: "header", name: "X-API-Key" }),
    });
    expect(doc.components.schemas.ErrorCode.enum).toEqual(ERROR_CODE_LIST);
    expect(doc.components.schemas.Error).toBeDefined();
  });

  it("documents every registered route", async () => {
    const doc = await document();
    const documented = new Set<string>();
    for (const [path, item] of Object.entries<Record<string, unknown>>(doc.paths)) {
      for (const method of Object.keys(item)) documented.add(`${method.toUpperCase()} ${path}`);
    }
    const registered = createApp()
      .routes.filter((route) => route.method !== "ALL")
      .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, "{$1}")}`)
      .filter((route) => !NOT_IN_CONTRACT.has(route));
    expect(registered.length).toBeGreaterThan(5);
    for (const route of registered) expect(documented, route).toContain(route);
  });

  it("gives every /v1 operation a scope, auth errors and examples", async () => {
    const doc = await document();
    for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
      if (!path.startsWith("/v1/")) continue;
      for (const [method, op] of Object.entries<any>(item)) {
        const label = `${method} ${path}`;
        const scope = op["x-required-scope"];
        const accepted: string[] = op["x-accepted-scopes"] ?? [scope];
        expect(accepted[0], label).toBe(scope);
        expect(op.security, label).toHaveLength(2 * accepted.length);
        expect(op.security[0].bearerAuth, label).toEqual([scope]);
        for (const status of ["401", "403", "429", "500"]) {
          expect(op.responses[status], `${label} ${status}`).toBeDefined();
          expect(
            Object.keys(op.responses[status].content["application/json"].examples).length,
          ).toBeGreaterThan(0);
        }
        expect(op.summary, label).toBeTruthy();
      }
    }
  });
});
