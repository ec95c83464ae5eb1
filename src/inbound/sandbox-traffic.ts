import type { Db } from "../db/client";
import type { MessageRow } from "../db/schema";
import { parseMetaWebhook } from "../domain/inbound/meta";
import { parseResendEvent } from "../domain/inbound/resend";
import { parseTwilioWebhook } from "../domain/inbound/twilio";
import type { InboundParseResult } from "../domain/inbound/types";
import type { Env, Environment } from "../env";
import type { SandboxReceiptStatus } from "../providers/sandbox";
import {
  type SandboxCallback,
  type SandboxInboundMedia,
  sandboxInboundMessageCallback,
  sandboxStatusCallback,
} from "../providers/sandbox-callbacks";
import type { Channel } from "../providers/types";
import { processInboundJob } from "../queues/process-inbound";
import { persistInbound, SANDBOX_CHANNEL_ID } from "./ingest";

/**
 * The sandbox's provider traffic: receipts for test messages and simulated customer messages are built as
 * the live provider's webhook (sandbox-callbacks), parsed by the same parsers, stored and processed by the
 * same code as a real webhook. Only the signature check is skipped: nothing crossed a network.
 */

/** The sandbox's own senders, as the providers would name them. */
export const SANDBOX_SENDERS = {
  whatsapp: {
    phoneNumberId: "100000000000001",
    wabaId: "100000000000002",
    displayPhoneNumber: "15550100001",
  },
  sms: { accountSid: `AC${"0".repeat(31)}1`, from: "+15550100001" },
  email: { from: "Sendwire Sandbox <sandbox@sendwire.dev>" },
} as const;

export function parseCallback(callback: SandboxCallback, receivedAt: Date): InboundParseResult {
  switch (callback.provider) {
    case "meta":
      return parseMetaWebhook(callback.body, receivedAt);
    case "twilio":
      return parseTwilioWebhook(callback.params, receivedAt);
    case "resend":
      return parseResendEvent(callback.body, callback.svixId);
  }
}

/** A step of sandboxReceiptPlan, as the dispatcher queued it for the current hop. */
export interface SimulatedReceipt {
  hop: number;
  status: SandboxReceiptStatus;
  /** The live provider's name for it (Meta `failed`, Twilio `undelivered`, Resend `email.bounced`). */
  providerStatus: string;
  code?: string;
  reason?: string;
}

/** Stores the parsed items as a webhook would, then processes them right away (we are off the request path). */
async function ingestNow(
  env: Env,
  db: Db,
  scope: { tenantId: string; environment: Environment },
  channel: Channel,
  parsed: InboundParseResult,
  now: Date,
) {
  const source = { ...scope, channelId: SANDBOX_CHANNEL_ID, channel };
  const { newIds, jobs } = await persistInbound(env, db, source, parsed.items, now, { enqueue: false });
  for (const job of jobs) await processInboundJob(env, db, job.outboxId, job.ids);
  return newIds;
}

/** A simulated provider receipt for the current hop of a sandbox message. */
export async function simulateReceipt(
  env: Env,
  db: Db,
  row: MessageRow,
  receipt: SimulatedReceipt,
  now: Date,
): Promise<void> {
  const hop = row.hops[receipt.hop];
  if (!hop?.providerMessageId) return;
  const base = {
    providerMessageId: hop.providerMessageId,
    recipient: row.to,
    status: receipt.status,
    providerStatus: receipt.providerStatus,
    errorCode: receipt.code,
    reason: receipt.reason,
    occurredAt: now,
  };
  const callback =
    hop.channel === "whatsapp"
      ? sandboxStatusCallback({ ...base, channel: "whatsapp", sender: SANDBOX_SENDERS.whatsapp })
      : hop.channel === "sms"
        ? sandboxStatusCallback({ ...base, channel: "sms", sender: SANDBOX_SENDERS.sms })
        : sandboxStatusCallback({ ...base, channel: "email", sender: SANDBOX_SENDERS.email });
  await ingestNow(env, db, row, hop.channel, parseCallback(callback, now), now);
}

export interface SimulatedInbound {
  channel: "whatsapp" | "sms";
  providerMessageId: string;
  from: string;
  text?: string;
  media?: SandboxInboundMedia;
  replyToProviderMessageId?: string;
  profileName?: string;
}

/** A simulated customer message to the sandbox sender; returns the ids of the stored inbound items. */
export async function simulateInboundMessage(
  env: Env,
  db: Db,
  scope: { tenantId: string; environment: Environment },
  input: SimulatedInbound,
  now: Date,
): Promise<string[]> {
  const base = {
    providerMessageId: input.providerMessageId,
    from: input.from,
    text: input.text,
    media: input.media,
    occurredAt: now,
  };
  const callback =
    input.channel === "whatsapp"
      ? sandboxInboundMessageCallback({
          ...base,
          channel: "whatsapp",
          to: `+${SANDBOX_SENDERS.whatsapp.displayPhoneNumber}`,
          sender: SANDBOX_SENDERS.whatsapp,
          replyToProviderMessageId: input.replyToProviderMessageId,
          profileName: input.profileName,
        })
      : sandboxInboundMessageCallback({
          ...base,
          channel: "sms",
          to: SANDBOX_SENDERS.sms.from,
          sender: SANDBOX_SENDERS.sms,
        });
  return ingestNow(env, db, scope, input.channel, parseCallback(callback, now), now);
}
