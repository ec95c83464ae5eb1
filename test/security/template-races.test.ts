/**
 * Attack class: concurrent duplicate creates (issue 12, point 6). Sends find a template by name and language,
 * so two live templates may never share them: a unique index decides the race, the loser gets a 409.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, expectError, liveTenant, seedTenant } from "../helpers";
import { whatsAppChannel } from "../routes/inbound-support";

/** How many templates of that name the tenant has that are not deleted. */
async function liveTemplates(tenantId: string, name: string) {
  const row = await env.DB.prepare(
    "SELECT count(*) AS n FROM templates WHERE tenant_id = ? AND name = ? AND deleted_at IS NULL",
  )
    .bind(tenantId, name)
    .first<{ n: number }>();
  return row?.n;
}

describe("promise: concurrent creates of one template make exactly one; the others get 409 template_exists", () => {
  it("ten at once", async () => {
    const tenant = await seedTenant();
    const body = { name: "race_me", language: "en_US", category: "utility", body: "Hello {{1}}, welcome." };
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => call("POST", "/v1/templates", { key: tenant.secret, body })),
    );
    const statuses = answers.map((res) => res.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    for (const res of answers.filter((r) => r.status !== 201)) {
      await expectError(res, 409, "template_exists");
    }
    expect(await liveTemplates(tenant.tenantId, "race_me")).toBe(1);
  });

  it("live: both creates pass the name check while Meta reviews them; the unique index still lets one through", async () => {
    const live = await liveTenant();
    const { meta, account } = await whatsAppChannel(live);
    // Meta takes 400 ms to answer each submission, so both requests are past the check before either inserts.
    const approved = {
      status: 200,
      body: { id: "998877", status: "APPROVED", category: "UTILITY" },
      delayMs: 400,
    };
    await meta.script(account.scope, [approved, approved], { path: "/message_templates" });
    const body = {
      name: "slow_review",
      language: "en_US",
      category: "utility",
      body: "Your order is ready.",
    };
    const answers = await Promise.all(
      [0, 1].map(() => call("POST", "/v1/templates", { key: live.secret, body })),
    );
    expect(answers.map((res) => res.status).sort()).toEqual([201, 409]);
    await expectError(answers.find((res) => res.status === 409) as Response, 409, "template_exists");
    expect(await liveTemplates(live.tenantId, "slow_review")).toBe(1);
  });

  it("a deleted template's name and language can be used again", async () => {
    const tenant = await seedTenant();
    const body = { name: "reuse_me", language: "en_US", category: "utility", body: "Hi" };
    const first = await call("POST", "/v1/templates", { key: tenant.secret, body });
    expect(first.status).toBe(201);
    const { id } = (await first.json()) as { id: string };
    expect((await call("DELETE", `/v1/templates/${id}`, { key: tenant.secret })).status).toBe(200);
    expect((await call("POST", "/v1/templates", { key: tenant.secret, body })).status).toBe(201);
  });
});
