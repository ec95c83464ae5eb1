import { afterEach, describe, expect, it, vi } from "vitest";
import { call, expectError, json, seedTenant, send } from "../helpers";

afterEach(() => vi.useRealTimers());

const create = (secret: string, body: Record<string, unknown>) =>
  call("POST", "/v1/templates", { key: secret, body });

describe("templates", () => {
  it("sandbox review: pending, approved after a few seconds; reject_ names are rejected", async () => {
    const { secret } = await seedTenant();
    const ok = await json(
      await create(secret, {
        name: "welcome",
        language: "en",
        category: "marketing",
        body: "Hi {{first_name}}!",
      }),
    );
    expect(ok).toMatchObject({
      object: "template",
      status: "pending",
      placeholders: { style: "named", names: ["first_name"] },
    });
    const no = await json(
      await create(secret, { name: "reject_me", language: "en", category: "utility", body: "Hello" }),
    );
    // While pending, sends are refused before any money moves.
    const pending = await expectError(
      await send(secret, {
        channel: "whatsapp",
        to: "+5511987654321",
        template: { name: "welcome", language: "en", variables: { first_name: "Ana" } },
      }),
      409,
      "template_not_approved",
    );
    expect(pending.message).toContain("pending");
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 5000);
    expect((await json(await call("GET", `/v1/templates/${ok.id}`, { key: secret }))).status).toBe(
      "approved",
    );
    const listed = await json(await call("GET", "/v1/templates?status=rejected", { key: secret }));
    expect(listed.data.map((t: any) => t.id)).toEqual([no.id]);
    expect(listed.data[0].rejection_reason).toContain("reject_");
    vi.useRealTimers();
    await expectError(
      await send(secret, {
        channel: "whatsapp",
        to: "+5511987654321",
        template: { name: "reject_me", language: "en", variables: {} },
      }),
      409,
      "template_not_approved",
    );
    const accepted = await send(secret, {
      channel: "whatsapp",
      to: "+5511987654321",
      template: { name: "welcome", language: "en", variables: { first_name: "Ana" } },
    });
    expect(accepted.status).toBe(202);
  });

  it("checks the definition, names, languages and duplicates", async () => {
    const { secret } = await seedTenant();
    const mixed = await expectError(
      await create(secret, {
        name: "mixed",
        language: "en",
        category: "utility",
        body: "Hi {{1}} and {{name}}",
      }),
      400,
      "validation_error",
    );
    expect(mixed.message).toMatch(/mix/i);
    const gap = await expectError(
      await create(secret, { name: "gap", language: "en", category: "utility", body: "Hi {{1}} and {{3}}" }),
      400,
      "validation_error",
    );
    expect(gap.details.length).toBeGreaterThan(0);
    const name = await expectError(
      await create(secret, { name: "Bad Name", language: "en", category: "utility", body: "x" }),
      400,
      "validation_error",
    );
    expect(name.details[0].path).toBe("name");
    await expectError(
      await create(secret, { name: "x", language: "english", category: "utility", body: "x" }),
      400,
      "validation_error",
    );
    await expectError(
      await create(secret, { name: "x", language: "en", category: "spam", body: "x" }),
      400,
      "validation_error",
    );
    expect(
      (await create(secret, { name: "dup", language: "pt_BR", category: "utility", body: "Olá" })).status,
    ).toBe(201);
    await expectError(
      await create(secret, { name: "dup", language: "pt_BR", category: "utility", body: "Olá" }),
      409,
      "template_exists",
    );
    expect(
      (await create(secret, { name: "dup", language: "en_US", category: "utility", body: "Hello" })).status,
    ).toBe(201);
  });

  it("a send with unknown template or language is a 404; delete hides it; other tenants see nothing", async () => {
    const { secret } = await seedTenant();
    const t = await json(
      await create(secret, { name: "promo", language: "en", category: "marketing", body: "Sale!" }),
    );
    await expectError(
      await send(secret, {
        channel: "whatsapp",
        to: "+5511987654321",
        template: { name: "promo", language: "pt_BR", variables: {} },
      }),
      404,
      "template_not_found",
    );
    const other = await seedTenant();
    await expectError(
      await call("GET", `/v1/templates/${t.id}`, { key: other.secret }),
      404,
      "resource_not_found",
    );
    expect((await json(await call("GET", "/v1/templates", { key: other.secret }))).data).toEqual([]);
    const deleted = await json(await call("DELETE", `/v1/templates/${t.id}`, { key: secret }));
    expect(deleted.id).toBe(t.id);
    await expectError(await call("GET", `/v1/templates/${t.id}`, { key: secret }), 404, "resource_not_found");
  });
});
