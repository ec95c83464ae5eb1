/**
 * Sandbox provider: what `sw_test_…` keys send through. Nothing leaves the platform; every outcome is
 * deterministic, decided by the recipient, and shaped exactly like the live provider's answer for that channel
 * (same error codes, same provider message id formats), so code written against the sandbox works on live.
 *
 * Magic recipients (phone numbers on WhatsApp and SMS, by their last four digits; email by the local part)
 *
 * | recipient      | WhatsApp                      | SMS                         | email                        |
 * |----------------|-------------------------------|-----------------------------|------------------------------|
 * | `…0001`        | permanent `131026`            | permanent `21211`           |                              |
 * |                | (undeliverable)               | (invalid To)                |                              |
 * | `…0002`        | accepted, then `failed`       | accepted, then `undelivered`|                              |
 * |                | (Meta `failed`, 131026)       | (30003)                     |                              |
 * | `…0003`        | `timeout` (retryable) on      | same as WhatsApp            |                              |
 * |                | attempts 1-2, accepted on 3   |                             |                              |
 * | `…0004`        | permanent `131047` (over 24 h | permanent `21610`           |                              |
 * |                | since the customer replied)   | (recipient sent STOP)       |                              |
 * | `fail@…`       |                               |                             | permanent `validation_error` |
 * | `bounce@…`     |                               |                             | accepted, then bounced       |
 * |                |                               |                             | (`failed`, permanent bounce) |
 * | `timeout@…`    |                               |                             | like `…0003`                 |
 * | anything else  | accepted                      | accepted                    | accepted                     |
 *
 * A malformed recipient fails as on live: WhatsApp `131026`, SMS `21211`, email `validation_error`.
 * Permanent failures produce no receipts.
 *
 * Normal receipts (delays after the previous receipt): WhatsApp `sent` (0 s), `delivered` (+1 s), `read`
 * (+2 s); SMS `sent` (0 s), `delivered` (+1 s); email `sent` (0 s), `delivered` (+1 s). Undelivered receipts
 * come 1 s after `sent` and carry the live error: WhatsApp `failed` with `131026`, SMS `undelivered` with
 * `30003` (unreachable handset), email `email.bounced`. They are delivered as the provider's webhook through the
 * inbound path (src/inbound/sandbox-traffic.ts), so the message ends as live: WhatsApp and email `failed`
 * (refunded), SMS `undelivered` (charged, as carriers charge).
 *
 * Email local parts match case-insensitively and may carry a `+tag` (`bounce+order42@example.com`).
 * Content the live channel cannot carry (e.g. interactive over SMS) fails with `unsupported_content`, as live.
 *
 * Provider message ids look like live ones and derive only from our message id, so retries and replays see the
 * same id: WhatsApp `wamid.` + base64, Twilio `SM` + 32 hex digits, Resend a UUID.
 */

import { toHex } from "../domain/encoding";
import { failure, unsupportedContent } from "./http";
import type { Channel, OutboundMessage, ProviderAdapter, SendResult } from "./types";

export type SandboxReceiptStatus = "sent" | "delivered" | "read" | "undelivered";

export interface SandboxReceipt {
  status: SandboxReceiptStatus;
  /** Seconds after the previous receipt in the plan (for the first one: after the provider accepted the send). */
  delaySeconds: number;
  /** Seconds after the provider accepted the send. */
  atSeconds: number;
  /** The status as the live provider names it (Meta `failed`, Twilio `undelivered`, Resend `email.bounced`). */
  providerStatus: string;
  /** The live provider's error code for an undelivered receipt, where it gives one. */
  errorCode?: string;
  reason?: string;
}

type Behaviour = "ok" | "invalid_recipient" | "undelivered" | "flaky" | "outside_window";

/** Attempts 1..FLAKY_FAILURES of a `0003` / `timeout` recipient time out; the next one succeeds. */
const FLAKY_FAILURES = 2;

function behaviourOf(message: OutboundMessage): Behaviour {
  if (message.channel === "email") {
    const local = (message.to.split("@")[0] ?? "").toLowerCase().split("+")[0];
    if (local === "fail") return "invalid_recipient";
    if (local === "bounce") return "undelivered";
    if (local === "timeout") return "flaky";
    return "ok";
  }
  const digits = message.to.replace(/[^\d]/g, "");
  if (!/^\+?\d[\d\s-]{6,}$/.test(message.to.trim()) || digits.length < 7 || digits.length > 15) {
    return "invalid_recipient";
  }
  if (digits.endsWith("0001")) return "invalid_recipient";
  if (digits.endsWith("0002")) return "undelivered";
  if (digits.endsWith("0003")) return "flaky";
  if (digits.endsWith("0004")) return "outside_window";
  return "ok";
}

function isValidEmail(address: string): boolean {
  return /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(address);
}

/**
 * The failure the live adapter would return for each channel in these situations: the provider's code, and its
 * message composed as the adapter composes it (Meta `message: details`, Twilio `message (more_info)`).
 */
function invalidRecipient(message: OutboundMessage): SendResult {
  switch (message.channel) {
    case "whatsapp":
      return failure(
        "131026",
        "(#131026) Message Undeliverable.: Unable to deliver the message. This recipient may not be a WhatsApp user, or may not have accepted the latest Terms of Service.",
        false,
      );
    case "sms":
      return failure(
        "21211",
        `The 'To' number ${message.to} is not a valid phone number. (https://www.twilio.com/docs/errors/21211)`,
        false,
      );
    case "email":
      return failure(
        "validation_error",
        "Invalid `to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.",
        false,
      );
  }
}

function outsideWindow(message: OutboundMessage): SendResult {
  if (message.channel === "sms") {
    return failure(
      "21610",
      "Attempt to send to unsubscribed recipient (https://www.twilio.com/docs/errors/21610)",
      false,
    );
  }
  return failure(
    "131047",
    "Re-engagement message: More than 24 hours have passed since the recipient last replied to the sender number.",
    false,
  );
}

/** The sandbox's answer to a send: deterministic by recipient (and, for the flaky recipients, the attempt). */
export function sandboxOutcome(message: OutboundMessage): SendResult {
  const unsupported = unsupportedContent(message.channel, message.content);
  if (unsupported) return unsupported;
  if (message.channel === "email" && !isValidEmail(message.to)) return invalidRecipient(message);
  switch (behaviourOf(message)) {
    case "invalid_recipient":
      return invalidRecipient(message);
    case "outside_window":
      return message.channel === "email" ? accepted(message) : outsideWindow(message);
    case "flaky":
      if (message.attempt <= FLAKY_FAILURES) {
        return failure("timeout", `${providerName(message.channel)} did not answer within 15000 ms`, true);
      }
      return accepted(message);
    default:
      return accepted(message);
  }
}

function accepted(message: OutboundMessage): SendResult {
  return { ok: true, providerMessageId: sandboxProviderMessageId(message) };
}

function providerName(channel: Channel): string {
  return channel === "whatsapp" ? "WhatsApp Cloud API" : channel === "sms" ? "Twilio" : "Resend";
}

/**
 * The status receipts the sandbox will simulate for an accepted message, in order. Empty when the send itself
 * fails permanently (nothing was accepted, so nothing is reported by the provider).
 */
export function sandboxReceiptPlan(message: OutboundMessage): SandboxReceipt[] {
  const outcome = sandboxOutcome({ ...message, attempt: Math.max(message.attempt, FLAKY_FAILURES + 1) });
  if (!outcome.ok) return [];
  const channel = message.channel;
  const steps: Array<Omit<SandboxReceipt, "atSeconds">> = [];
  const sentName = channel === "email" ? "email.sent" : "sent";
  steps.push({ status: "sent", delaySeconds: 0, providerStatus: sentName });
  if (behaviourOf(message) === "undelivered") {
    if (channel === "whatsapp") {
      steps.push({
        status: "undelivered",
        delaySeconds: 1,
        providerStatus: "failed",
        errorCode: "131026",
        reason: "Message undeliverable",
      });
    } else if (channel === "sms") {
      steps.push({
        status: "undelivered",
        delaySeconds: 1,
        providerStatus: "undelivered",
        errorCode: "30003",
        reason: "Unreachable destination handset",
      });
    } else {
      steps.push({
        status: "undelivered",
        delaySeconds: 1,
        providerStatus: "email.bounced",
        reason: "The recipient's mail server permanently rejected the email.",
      });
    }
  } else {
    steps.push({
      status: "delivered",
      delaySeconds: 1,
      providerStatus: channel === "email" ? "email.delivered" : "delivered",
    });
    if (channel === "whatsapp") steps.push({ status: "read", delaySeconds: 2, providerStatus: "read" });
  }
  let at = 0;
  return steps.map((step) => {
    at += step.delaySeconds;
    return { ...step, atSeconds: at };
  });
}

/** A provider message id in the live provider's format, derived only from our message id. */
export function sandboxProviderMessageId(message: Pick<OutboundMessage, "id" | "channel" | "to">): string {
  const hash = sha256(new TextEncoder().encode(`sendwire-sandbox:${message.channel}:${message.id}`));
  const hex = toHex(hash);
  switch (message.channel) {
    case "sms":
      return `SM${hex.slice(0, 32)}`;
    case "email": {
      const b = hash.slice(0, 16);
      b[6] = ((b[6] as number) & 0x0f) | 0x40;
      b[8] = ((b[8] as number) & 0x3f) | 0x80;
      const h = toHex(b);
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
    }
    case "whatsapp": {
      // Live wamids are base64 of: 0x1c 0x18 <len> <recipient digits> 0x15 0x02 0x00 0x11 0x18 0x12 <18 hex> 0x00
      const digits = new TextEncoder().encode(message.to.replace(/[^\d]/g, "").slice(0, 20));
      const tail = new TextEncoder().encode(hex.slice(0, 18).toUpperCase());
      const bytes = [0x1c, 0x18, digits.length, ...digits, 0x15, 0x02, 0x00, 0x11, 0x18, 0x12, ...tail, 0x00];
      return `wamid.${btoa(String.fromCharCode(...bytes))}`;
    }
  }
}

export function createSandboxAdapter(): ProviderAdapter {
  return {
    async send(message: OutboundMessage): Promise<SendResult> {
      return sandboxOutcome(message);
    },
  };
}

// A small synchronous SHA-256 (FIPS 180-4), so ids can be derived without awaiting WebCrypto.
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

export function sha256(data: Uint8Array): Uint8Array {
  const bitLength = data.length * 8;
  const padded = new Uint8Array(Math.ceil((data.length + 9) / 64) * 64);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLength / 2 ** 32));
  view.setUint32(padded.length - 4, bitLength >>> 0);
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const w = new Uint32Array(64);
  const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));
  for (let offset = 0; offset < padded.length; offset += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(offset + i * 4);
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15] as number;
      const b = w[i - 2] as number;
      const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
      const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
      w[i] = ((w[i - 16] as number) + s0 + (w[i - 7] as number) + s1) >>> 0;
    }
    const v = Array.from(h);
    for (let i = 0; i < 64; i++) {
      const [a, b, c, d, e, f, g, hh] = v as [number, number, number, number, number, number, number, number];
      const s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + s1 + ch + (K[i] as number) + (w[i] as number)) >>> 0;
      const s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (s0 + maj) >>> 0;
      v[7] = g;
      v[6] = f;
      v[5] = e;
      v[4] = (d + t1) >>> 0;
      v[3] = c;
      v[2] = b;
      v[1] = a;
      v[0] = (t1 + t2) >>> 0;
    }
    for (let i = 0; i < 8; i++) h[i] = (h[i] as number) + (v[i] as number);
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) outView.setUint32(i * 4, h[i] as number);
  return out;
}
