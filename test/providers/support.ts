/** Builders shared by the provider tests. */
import { expect } from "vitest";
import type { Channel, MessageContent, OutboundMessage, SendResult } from "../../src/providers/types";

/** Nothing listens on port 1 of loopback (binding it needs privileges no test has): a guaranteed refusal. */
export const CLOSED_PORT_URL = "http://127.0.0.1:1";

export function messageId(): string {
  return `msg_${crypto.randomUUID().replace(/-/g, "").toUpperCase().slice(0, 26)}`;
}

export function outbound(
  channel: Channel,
  to: string,
  content: MessageContent,
  overrides: Partial<OutboundMessage> = {},
): OutboundMessage {
  return { id: messageId(), channel, to, content, attempt: 1, ...overrides };
}

export const textContent = (body: string, previewUrl?: boolean): MessageContent =>
  previewUrl === undefined ? { kind: "text", text: { body } } : { kind: "text", text: { body, previewUrl } };

export const emailContent = (subject: string, html?: string, text?: string): MessageContent => ({
  kind: "email",
  email: { subject, ...(html === undefined ? {} : { html }), ...(text === undefined ? {} : { text }) },
});

export type Failure = Extract<SendResult, { ok: false }>;

/** Asserts a failure and returns it, typed. */
export function expectFailure(result: SendResult | { ok: boolean }, expected: Partial<Failure>): Failure {
  expect(result.ok, JSON.stringify(result)).toBe(false);
  const failure = result as Failure;
  expect(failure).toMatchObject(expected);
  expect(typeof failure.reason).toBe("string");
  expect(failure.reason.length).toBeGreaterThan(0);
  return failure;
}

export function expectOk(result: SendResult): string {
  expect(result, JSON.stringify(result)).toMatchObject({ ok: true });
  return (result as { providerMessageId: string }).providerMessageId;
}

/** No credential (nor its Basic encoding) appears anywhere in the result. */
export function expectNoSecrets(result: SendResult, secrets: string[]) {
  const serialised = JSON.stringify(result);
  for (const secret of secrets) expect(serialised).not.toContain(secret);
}
