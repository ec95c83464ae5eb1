import { describe, expect, it } from "vitest";
import { call, expectError, json, seedTenant, send } from "../helpers";
import { count, described } from "./support";

/**
 * Concurrent duplicate sends: a client that retries (or a fleet of workers racing on the same job) with one
 * Idempotency-Key creates one message and pays once. Every answer is the original 202, a replay of it
 * (`Idempotent-Replayed: true`), or 409 idempotency_key_in_use while the original is still running.
 */

const N = 20;
const TO = "+5511987654321";

interface Answer {
  status: number;
  text: string;
  replayed: boolean;
}

async function answers(responses: Response[]): Promise<Answer[]> {
  return Promise.all(
    responses.map(async (res) => ({
      ...(await described(res)),
      replayed: res.headers.get("idempotent-replayed") === "true",
    })),
  );
}

/** One original 202, replays of exactly its bytes, and 409s: never a second message id. */
function expectOneOutcome(all: Answer[]): { id: string; text: string } {
  const accepted = all.filter((a) => a.status === 202);
  for (const other of all.filter((a) => a.status !== 202)) {
    expect(other.status, other.text).toBe(409);
    expect(JSON.parse(other.text).error.code).toBe("idempotency_key_in_use");
  }
  expect(accepted.length).toBeGreaterThanOrEqual(1);
  expect(
    accepted.filter((a) => !a.replayed),
    "exactly one original",
  ).toHaveLength(1);
  const first = accepted[0] as Answer;
  for (const a of accepted) expect(a.text).toBe(first.text);
  const id = JSON.parse(first.text).id as string;
  expect(id).toMatch(/^msg_/);
  return { id, text: first.text };
}

/** Every message and every debit of the key's environment, read through the API. */
async function messagesAndDebits(secret: string) {
  const messages = (await json(await call("GET", "/v1/messages?limit=100", { key: secret }))).data as {
    id: string;
  }[];
  const ledger = (await json(await call("GET", "/v1/balance", { key: secret }))).recent_entries as {
    kind: string;
    message_id: string | null;
  }[];
  return {
    messageIds: messages.map((m) => m.id),
    debits: ledger.filter((e) => e.kind === "debit").map((e) => e.message_id),
  };
}

describe("promise: concurrent sends with one idempotency key make one message and one debit", () => {
  it(`${N} concurrent identical sends: one message, one debit, one original 202, replays of it or 409`, async () => {
    const tenant = await seedTenant();
    const body = { channel: "sms", to: TO, text: { body: "exactly once" } };
    const all = await answers(
      await Promise.all(Array.from({ length: N }, () => send(tenant.secret, body, "k-1"))),
    );
    const { id, text } = expectOneOutcome(all);

    // Once settled, a retry is a replay of the same bytes.
    const retry = await send(tenant.secret, body, "k-1");
    expect(retry.status).toBe(202);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.text()).toBe(text);

    expect(await messagesAndDebits(tenant.secret)).toEqual({ messageIds: [id], debits: [id] });
    expect(
      await count(
        "SELECT count(*) AS n FROM messages WHERE api_key_id = ? AND idempotency_key = 'k-1'",
        tenant.keyId,
      ),
    ).toBe(1);
  });

  it("the key sent as the header or as the idempotency_key body field is the same claim", async () => {
    const tenant = await seedTenant();
    const body = { channel: "sms", to: TO, text: { body: "header or field" } };
    const responses = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        i % 2 === 0
          ? send(tenant.secret, body, "k-2")
          : call("POST", "/v1/messages", { key: tenant.secret, body: { ...body, idempotency_key: "k-2" } }),
      ),
    );
    const { id } = expectOneOutcome(await answers(responses));
    expect(await messagesAndDebits(tenant.secret)).toEqual({ messageIds: [id], debits: [id] });
  });

  it("different bodies racing on one key: one message (one of the bodies), the others 422 or 409", async () => {
    const tenant = await seedTenant();
    const bodies = Array.from({ length: N }, (_, i) => ({
      channel: "sms",
      to: TO,
      text: { body: `body ${i}` },
      metadata: { attempt: String(i) },
    }));
    const all = await answers(await Promise.all(bodies.map((body) => send(tenant.secret, body, "k-3"))));
    const accepted = all.filter((a) => a.status === 202);
    expect(new Set(accepted.map((a) => JSON.parse(a.text).id)).size).toBe(1);
    for (const other of all.filter((a) => a.status !== 202)) {
      expect([409, 422], other.text).toContain(other.status);
      expect(["idempotency_key_in_use", "idempotency_key_mismatch"]).toContain(
        JSON.parse(other.text).error.code,
      );
    }
    const { messageIds, debits } = await messagesAndDebits(tenant.secret);
    expect(messageIds).toHaveLength(1);
    expect(debits).toEqual(messageIds);
    const stored = await json(await call("GET", `/v1/messages/${messageIds[0]}`, { key: tenant.secret }));
    expect(bodies.map((b) => b.metadata.attempt)).toContain(stored.metadata.attempt);
    expect(accepted.every((a) => JSON.parse(a.text).metadata.attempt === stored.metadata.attempt)).toBe(true);
    // Whatever body won, a different one is refused from now on.
    await expectError(
      await send(tenant.secret, { channel: "sms", to: TO, text: { body: "yet another" } }, "k-3"),
      422,
      "idempotency_key_mismatch",
    );
  });
});
