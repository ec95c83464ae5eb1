import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it, vi } from "vitest";
import worker from "../src/index";
import { call, expectError, json, seedTenant } from "./helpers";

it("the minute tick purges old audit rows and long-expired rotated secrets", async () => {
  const admin = await seedTenant();
  const rotated = await json(
    await call("POST", `/v1/api-keys/${admin.keyId}/rotate`, {
      key: admin.secret,
      body: { overlap_seconds: 60 },
    }),
  );
  await vi.waitFor(async () => {
    const row = await env.DB.prepare("SELECT count(*) AS n FROM audit_logs WHERE tenant_id = ?")
      .bind(admin.tenantId)
      .first<{ n: number }>();
    expect(row?.n).toBe(1);
  });

  const ninetyOneDaysLater = Date.now() + 91 * 86_400_000;
  const ctx = createExecutionContext();
  await worker.scheduled(
    createScheduledController({ scheduledTime: ninetyOneDaysLater, cron: "* * * * *" }),
    env,
    ctx,
  );
  await waitOnExecutionContext(ctx);

  const audit = await env.DB.prepare("SELECT count(*) AS n FROM audit_logs WHERE tenant_id = ?")
    .bind(admin.tenantId)
    .first<{ n: number }>();
  expect(audit?.n).toBe(0);
  const secrets = await env.DB.prepare("SELECT count(*) AS n FROM api_key_secrets WHERE key_id = ?")
    .bind(admin.keyId)
    .first<{ n: number }>();
  expect(secrets?.n).toBe(1);
  // The current secret survives; the purged one is simply unknown now.
  expect((await call("GET", "/v1/api-keys", { key: rotated.secret })).status).toBe(200);
  await expectError(await call("GET", "/v1/api-keys", { key: admin.secret }), 401, "api_key_invalid");
});
