/**
 * Attack class: storage failing half-way through a send (issue 12, point 5). The provider accepted the
 * message, then D1 refused the write that records it; the retry that follows must not send a second SMS.
 * The failure is injected in the real D1 with a trigger that refuses the `sent` update once, not by stubbing
 * our code; the provider is the fake Twilio, counting what it receives.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { json, liveTenant, runCron, send, waitForMessage } from "../helpers";
import { emailChannel, eventually, rowsOf, smsChannel } from "../routes/inbound-support";

afterEach(() => vi.useRealTimers());

describe("promise: a storage failure after the provider accepted a send never sends it twice", () => {
  it("the `sent` write fails once: exactly one provider call, and the message still ends sent with its id", async () => {
    const live = await liveTenant();
    const { twilio, account } = await smsChannel(live);
    const to = `+1415555${String(Math.floor(Math.random() * 10_000)).padStart(4, "0")}`;
    const trigger = `fail_sent_${crypto.randomUUID().replaceAll("-", "")}`;
    await env.DB.exec(
      `CREATE TRIGGER ${trigger} BEFORE UPDATE OF status ON messages WHEN NEW.status = 'sent' AND NEW."to" = '${to}' BEGIN SELECT RAISE(ABORT, 'injected storage failure'); END`,
    );
    try {
      const accepted = await json(
        await send(live.secret, { channel: "sms", to, text: { body: "Once only" } }),
      );
      expect(accepted.id, JSON.stringify(accepted)).toMatch(/^msg_/);
      // Twilio accepted it; the write after it failed, so the acceptance is kept in the key's KeyGate.
      const [request] = await eventually(
        () => twilio.requests(account.scope, { path: "/Messages.json" }),
        (requests) => requests.length === 1 && requests[0]?.response !== null,
        "Twilio called once",
      );
      const gate = env.KEY_GATE.get(env.KEY_GATE.idFromName(live.keyId));
      const recorded = await eventually(
        () => gate.findDispatch(accepted.id, 0),
        (sid) => sid !== null,
        "acceptance recorded outside D1",
      );
      expect(recorded).toBe(request?.response?.body.sid);
      const stuck = await rowsOf<{ status: string }>("SELECT status FROM messages WHERE id = ?", accepted.id);
      expect(stuck[0]?.status).toBe("sending");
    } finally {
      await env.DB.exec(`DROP TRIGGER IF EXISTS ${trigger}`);
    }

    // Storage is back. Past the dispatch lease, the sweeper (and the queue's own retry) resume the message.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 10 * 60_000);
    await runCron(Date.now());
    const messageId = (await rowsOf<{ id: string }>('SELECT id FROM messages WHERE "to" = ?', to))[0]?.id;
    expect(messageId).toBeDefined();
    const sent = await waitForMessage(live.secret, messageId as string, (m) => m.status === "sent");
    const calls = await twilio.requests(account.scope, { path: "/Messages.json" });
    expect(calls).toHaveLength(1);
    expect(sent.provider_message_id).toBe(calls[0]?.response?.body.sid);
    const debits = await rowsOf(
      "SELECT id FROM ledger_entries WHERE message_id = ? AND kind = 'debit'",
      messageId,
    );
    expect(debits).toHaveLength(1);
  });

  it("Resend gets our message id as its Idempotency-Key, so a resent email is one email", async () => {
    const live = await liveTenant();
    const { resend, account } = await emailChannel(live);
    const accepted = await json(
      await send(live.secret, {
        channel: "email",
        to: "ana@example.com",
        email: { subject: "Receipt", text: "Thanks" },
      }),
    );
    await waitForMessage(live.secret, accepted.id, (m) => m.status === "sent");
    const [request] = await resend.requests(account.scope, { path: "/emails" });
    expect(request?.headers["idempotency-key"]).toBe(accepted.id);
  });
});
