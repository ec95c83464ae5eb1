import { Validator } from "@seriousme/openapi-schema-validator";
import { expect, it } from "vitest";
import { createApp } from "../src/app";

// Runs in Node: the validator compiles JSON Schemas into functions, which workerd does not allow.
it("the served document validates against the OpenAPI 3.1 schema", async () => {
  const res = await createApp().request("http://localhost/openapi.json");
  expect(res.status).toBe(200);
  const doc = (await res.json()) as Record<string, unknown>;
  const validator = new Validator();
  const result = await validator.validate(doc);
  expect(result.errors ?? []).toEqual([]);
  expect(result.valid).toBe(true);
  expect(validator.version).toBe("3.1");
});
