import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../src/app";
import { ERROR_CODES } from "../src/errors";
import { call, expectError, seedTenant } from "./helpers";

describe("error envelope", () => {
  it("unknown route → 404 route_not_found, for public and /v1 paths", async () => {
    const { secret } = await seedTenant();
    const error = await expectError(await call("GET", "/nope"), 404, "route_not_found");
    expect(error.doc_url).toBe("http://localhost/docs/errors#route_not_found");
    await expectError(await call("GET", "/v1/nothing-here", { key: secret }), 404, "route_not_found");
  });

  it("wrong method → 405 with Allow", async () => {
    const { secret, keyId } = await seedTenant();
    const res = await call("PUT", `/v1/api-keys/${keyId}`, { key: secret, body: {} });
    expect(res.headers.get("allow")).toBe("GET, DELETE");
    await expectError(res, 405, "method_not_allowed");
    const root = await call("DELETE", "/v1/api-keys", { key: secret });
    expect(root.headers.get("allow")).toBe("POST, GET");
    await expectError(root, 405, "method_not_allowed");
    await expectError(await call("POST", "/healthz"), 405, "method_not_allowed");
  });

  it("body over 1 MiB → 413, with or without Content-Length", async () => {
    const { secret } = await seedTenant();
    const big = JSON.stringify({ name: "x".repeat(1024 * 1024), scopes: ["messages:read"] });
    await expectError(
      await call("POST", "/v1/api-keys", {
        key: secret,
        rawBody: big,
        headers: { "content-type": "application/json" },
      }),
      413,
      "payload_too_large",
    );
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 20) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    // Straight into the app: a real socket would be torn down once we answer before reading it all.
    const ctx = createExecutionContext();
    const res = await createApp().fetch(
      new Request("http://localhost/v1/api-keys", {
        method: "POST",
        headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
        body: stream,
      }),
      env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    await expectError(res, 413, "payload_too_large");
    expect(sent).toBeLessThan(20);
  });

  it("non-JSON body → 400 invalid_json", async () => {
    const { secret } = await seedTenant();
    const cases: Array<[string, Record<string, string>]> = [
      ["{not json", { "content-type": "application/json" }],
      ['{"name": "a",}', { "content-type": "application/json" }],
      ["name=a&scopes=x", { "content-type": "application/x-www-form-urlencoded" }],
      ['{"name":"a"}', { "content-type": "text/plain" }],
      ['{"name":"a"}', {}],
      ["[1,2]", { "content-type": "application/json" }],
      ["42", { "content-type": "application/json" }],
      ["null", { "content-type": "application/json" }],
    ];
    for (const [rawBody, headers] of cases) {
      const error = await expectError(
        await call("POST", "/v1/api-keys", { key: secret, rawBody, headers }),
        400,
        "invalid_json",
      );
      expect(error.type).toBe("invalid_request");
    }
  });

  it("unexpected exceptions → 500 internal_error without internals", async () => {
    const { secret } = await seedTenant();
    const app = createApp();
    app.get("/v1/boom", () => {
      throw new Error("db password is hunter2 at /src/secret.ts:12");
    });
    const ctx = createExecutionContext();
    const res = await app.fetch(
      new Request("http://localhost/v1/boom", { headers: { authorization: `Bearer ${secret}` } }),
      env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    const text = await res.clone().text();
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("secret.ts");
    const error = await expectError(res, 500, "internal_error");
    expect(error.request_id).toBe(res.headers.get("x-request-id"));
  });

  it("every code maps to one status and a documented type", () => {
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(spec.status, code).toBeGreaterThanOrEqual(400);
      expect(spec.description.length, code).toBeGreaterThan(10);
    }
  });
});

describe("X-Request-Id", () => {
  it("echoes a sane incoming id and generates one otherwise", async () => {
    const echoed = await call("GET", "/healthz", { headers: { "x-request-id": "abc-123.DEF:9" } });
    expect(echoed.headers.get("x-request-id")).toBe("abc-123.DEF:9");
    const generated = await call("GET", "/healthz");
    expect(generated.headers.get("x-request-id")).toMatch(/^req_[0-9a-z]{26}$/);
    for (const bad of ["<script>", "a".repeat(129), "id with spaces"]) {
      const res = await call("GET", "/healthz", { headers: { "x-request-id": bad } });
      expect(res.headers.get("x-request-id")).toMatch(/^req_/);
    }
  });

  it("is on error responses too, and matches the envelope", async () => {
    const res = await call("GET", "/v1/api-keys", { headers: { "x-request-id": "trace-42" } });
    expect(res.headers.get("x-request-id")).toBe("trace-42");
    const error = await expectError(res, 401, "api_key_missing");
    expect(error.request_id).toBe("trace-42");
  });
});

describe("health", () => {
  it("GET /healthz checks D1 and reports the version", async () => {
    const res = await call("GET", "/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: "ok",
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      checks: { database: "ok" },
    });
  });

  it("answers 503 when the database fails", async () => {
    const app = createApp();
    const brokenDb = {
      prepare() {
        throw new Error("D1_ERROR: no such database");
      },
    };
    const res = await app.fetch(
      new Request("http://localhost/healthz"),
      { ...env, DB: brokenDb },
      createExecutionContext(),
    );
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: "unavailable", checks: { database: "unavailable" } });
  });
});

describe("docs", () => {
  it("serves the interactive reference and the error code table", async () => {
    const docs = await call("GET", "/docs");
    expect(docs.status).toBe(200);
    expect(docs.headers.get("content-type")).toContain("text/html");
    expect(await docs.text()).toContain("/openapi.json");
    const errors = await call("GET", "/docs/errors");
    const html = await errors.text();
    for (const code of Object.keys(ERROR_CODES)) expect(html).toContain(`id="${code}"`);
  });
});
