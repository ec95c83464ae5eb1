/**
 * Attack class: an idempotency key answering for a request it was not made for (issue 12, point 6). A key is
 * bound to the whole request body except its own top-level `idempotency_key` field, and stays bound after the
 * 7-day replay window: a reused key with another body creates nothing and is refused with 422.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, expectError, json, seedTenant, send } from "../helpers";

afterEach(() => vi.useRealTimers());

const TO = "+5511987654321";
const DAY_MS = 86_400_000;

const sms = (body: string, metadata: Record<string, string> = {}) => ({
  channel: "sms",
  to: TO,
  text: { body },
  metadata,
});

async function messageCount(key: string) {
  return (await json(await call("GET", "/v1/messages?limit=100", { key }))).data.length as number;
}

describe("promise: an idempotency key is bound to every field of the request but its own top-level copy", () => {
  it("an idempotency_key nested in metadata is part of the payload", async () => {
    const tenant = await seedTenant();
    const first = await send(tenant.secret, sms("hi", { idempotency_key: "a" }), "nested-key");
    expect(first.status).toBe(202);
    await expectError(
      await send(tenant.secret, sms("hi", { idempotency_key: "b" }), "nested-key"),
      422,
      "idempotency_key_mismatch",
    );
    expect(await messageCount(tenant.secret)).toBe(1);
  });

  it("the top-level idempotency_key field is not part of the payload (header and field may both carry it)", async () => {
    const tenant = await seedTenant();
    const first = await json(await send(tenant.secret, sms("hi"), "top-level"));
    const replay = await call("POST", "/v1/messages", {
      key: tenant.secret,
      body: { ...sms("hi"), idempotency_key: "top-level" },
    });
    expect(replay.status).toBe(202);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect((await json(replay)).id).toBe(first.id);
  });
});

describe("promise: after the 7-day window a reused key never answers for another request", () => {
  it("a different body is refused with 422 and creates nothing; the same body gets its own message back", async () => {
    const tenant = await seedTenant();
    const original = await json(await send(tenant.secret, sms("order 1 shipped"), "reused-after-window"));
    expect(original.id).toMatch(/^msg_/);

    // Eight days later the KeyGate has forgotten the key (its record expired).
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 8 * DAY_MS);
    const error = await expectError(
      await send(tenant.secret, sms("order 2 shipped"), "reused-after-window"),
      422,
      "idempotency_key_mismatch",
    );
    expect(error.message).toContain(original.id);
    expect(await messageCount(tenant.secret)).toBe(1);

    const same = await send(tenant.secret, sms("order 1 shipped"), "reused-after-window");
    expect(same.status).toBe(202);
    expect((await json(same)).id).toBe(original.id);
    expect(await messageCount(tenant.secret)).toBe(1);
  });
});
