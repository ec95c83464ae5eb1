import { and, eq, lt, or } from "drizzle-orm";
import { createDb, type Db } from "../db/client";
import { contactImports, type MessageRow, messages, outbox } from "../db/schema";
import { retryDelaySeconds } from "../domain/message-status";
import { keyGateOf } from "../durable-objects/key-gate-client";
import type { Env } from "../env";
import { describeError } from "../errors";
import { type SimulatedReceipt, simulateReceipt } from "../inbound/sandbox-traffic";
import { sandboxReceiptPlan } from "../providers/sandbox";
import type { MessageContent, OutboundMessage } from "../providers/types";
import { markFetchFailed, resolveMediaContent } from "../services/media";
import { commit } from "../webhooks/events";
import { adapterFor } from "./adapters";
import { runBroadcastBatch } from "./broadcast-fanout";
import { failBroadcastStart, runSnapshotJob } from "./broadcast-lifecycle";
import { runBroadcastReceipts } from "./broadcast-outcomes";
import { failImport, runContactImportJob } from "./contact-import";
import { deleteOutboxRow, JOB_LEASE_MS, type JobOutcome, newOutboxRow, type SendJob } from "./jobs";
import { runMediaFetchJob } from "./media-fetch";
import {
  checkFallbackDeadline,
  endHop,
  type LifecycleContext,
  loadMessage,
  markRetrying,
  markSent,
  messageEvent,
} from "./message-lifecycle";
import { processInboundJob } from "./process-inbound";
import { settleTemplateReview } from "./template-review";

/** A dispatch stuck in `sending` this long (the worker died mid-call) may be claimed again. */
const SENDING_LEASE_MS = JOB_LEASE_MS;

/**
 * Claims the message for this attempt. A scheduled message that is due is first moved to `queued` (with
 * its `message.queued` event); a `sending` one is only taken over once its lease has run out.
 */
async function claim(
  ctx: LifecycleContext,
  id: string,
): Promise<{ row: MessageRow; resumed: boolean } | null> {
  const row = await loadMessage(ctx.db, id);
  if (!row) return null;
  if (row.status === "scheduled") {
    if (row.scheduledAt && row.scheduledAt > ctx.now) return null;
    await commit(ctx.env, ctx.db, [
      ctx.db
        .update(messages)
        .set({
          status: "queued",
          timestamps: { ...row.timestamps, queued: ctx.now.toISOString() },
          updatedAt: ctx.now,
        })
        .where(and(eq(messages.id, id), eq(messages.status, "scheduled"))),
      ...messageEvent(ctx, row, "queued"),
    ]);
  }
  const [claimed] = await ctx.db
    .update(messages)
    .set({ status: "sending", attempts: row.attempts + 1, updatedAt: ctx.now })
    .where(
      and(
        eq(messages.id, id),
        or(
          eq(messages.status, "queued"),
          and(
            eq(messages.status, "sending"),
            lt(messages.updatedAt, new Date(ctx.now.getTime() - SENDING_LEASE_MS)),
          ),
        ),
      ),
    )
    .returning();
  // Taken over from `sending`: the last attempt's outcome is unknown (it may have reached the provider).
  return claimed ? { row: claimed, resumed: row.status === "sending" } : null;
}

const gateOf = (env: Env, row: MessageRow) => keyGateOf(env, row.apiKeyId);

/**
 * The provider accepted the hop: record it as `sent`. When D1 refuses that write, the acceptance is kept
 * in the sending key's KeyGate before the error propagates, so the attempt that resumes this message
 * finds it instead of sending a second SMS or WhatsApp message (see `dispatch`).
 */
async function recordAccepted(
  ctx: LifecycleContext,
  row: MessageRow,
  outbound: OutboundMessage,
  providerMessageId: string,
) {
  const follow = [];
  if (row.environment === "test") {
    for (const receipt of sandboxReceiptPlan(outbound)) {
      if (receipt.status === "sent") continue;
      const at = new Date(ctx.now.getTime() + receipt.atSeconds * 1000);
      follow.push(
        newOutboxRow(
          "sandbox_receipt",
          row.id,
          {
            hop: row.hop,
            status: receipt.status,
            providerStatus: receipt.providerStatus,
            code: receipt.errorCode,
            reason: receipt.reason,
          },
          at,
          ctx.now,
        ),
      );
    }
  }
  const next = row.fallback[row.hop];
  if (next) {
    const at = new Date(ctx.now.getTime() + next.afterSeconds * 1000);
    follow.push(newOutboxRow("fallback_check", row.id, { hop: row.hop }, at, ctx.now));
  }
  try {
    await markSent(ctx, row, providerMessageId, follow);
  } catch (error) {
    await gateOf(ctx.env, row)
      .recordDispatch(row.id, row.hop, providerMessageId)
      .catch((gateError: unknown) =>
        console.error("provider acceptance could not be recorded anywhere", {
          message: row.id,
          error: String(gateError),
        }),
      );
    throw error;
  }
}

type Outcome = JobOutcome;

async function dispatch(ctx: LifecycleContext, job: SendJob): Promise<Outcome> {
  const claimed = await claim(ctx, job.subjectId);
  if (!claimed) return { ack: true };
  const { row } = claimed;
  const channel = row.hops[row.hop]?.channel ?? row.channel;
  const adapter = await adapterFor(ctx.env, ctx.db, row, channel);
  if (!adapter) {
    await endHop(ctx, row, {
      status: "failed",
      code: "channel_not_configured",
      reason: `No ${channel} sender is connected; connect one with POST /v1/channels.`,
      refund: true,
      from: ["sending"],
    });
    return { ack: true };
  }
  // A media library reference becomes a fresh signed URL for this attempt (see src/services/media.ts).
  const content = await resolveMediaContent(
    ctx.env,
    ctx.db,
    row,
    row.content as unknown as MessageContent,
    ctx.now,
  );
  if (!content.ok) {
    await endHop(ctx, row, {
      status: "failed",
      code: content.code,
      reason: content.reason,
      refund: true,
      from: ["sending"],
    });
    return { ack: true };
  }
  const outbound: OutboundMessage = {
    id: row.id,
    channel,
    to: row.to,
    content: content.content,
    attempt: row.attempts,
  };
  if (claimed.resumed) {
    // Only on this rare path (a lost or failed attempt) is the KeyGate asked: the normal send pays nothing.
    const accepted = await gateOf(ctx.env, row).findDispatch(row.id, row.hop);
    if (accepted) {
      await recordAccepted(ctx, row, outbound, accepted);
      return { ack: true };
    }
  }
  const result = await adapter.send(outbound);
  if (result.ok) {
    await recordAccepted(ctx, row, outbound, result.providerMessageId);
    return { ack: true };
  }
  if (result.retryable) {
    await markRetrying(ctx, row, result.code, result.reason);
    const base = Number(ctx.env.SEND_RETRY_BASE_SECONDS ?? "2");
    return {
      retryAfterSeconds: retryDelaySeconds(
        row.attempts,
        Number.isFinite(base) ? base : 2,
        result.retryAfterSeconds,
      ),
    };
  }
  await endHop(ctx, row, {
    status: "failed",
    code: result.code,
    reason: result.reason,
    refund: true,
    from: ["sending"],
  });
  return { ack: true };
}

async function handle(ctx: LifecycleContext, job: SendJob): Promise<Outcome> {
  switch (job.kind) {
    case "dispatch":
      return dispatch(ctx, job);
    case "sandbox_receipt": {
      const receipt = job.payload as unknown as SimulatedReceipt;
      const row = await loadMessage(ctx.db, job.subjectId);
      if (row) await simulateReceipt(ctx.env, ctx.db, row, receipt, ctx.now);
      await deleteOutboxRow(ctx.db, job.outboxId);
      return { ack: true };
    }
    case "inbound":
      await processInboundJob(ctx.env, ctx.db, job.outboxId, (job.payload.ids as string[]) ?? []);
      return { ack: true };
    case "fallback_check":
      await checkFallbackDeadline(ctx, job.subjectId, Number(job.payload.hop));
      await deleteOutboxRow(ctx.db, job.outboxId);
      return { ack: true };
    case "template_review":
      await settleTemplateReview(ctx.env, ctx.db, job.subjectId, ctx.now);
      await deleteOutboxRow(ctx.db, job.outboxId);
      return { ack: true };
    case "contact_import":
      return runContactImportJob(ctx, job);
    case "media_fetch":
      return runMediaFetchJob(ctx, job);
    case "broadcast_start":
      return runSnapshotJob(ctx, job);
    case "broadcast_batch":
      return runBroadcastBatch(ctx, job);
    case "broadcast_receipts":
      return runBroadcastReceipts(ctx, job);
  }
}

/** Long-running kinds (seconds each: an import chunk run, a file fetch) run beside the batch's other jobs. */
const BACKGROUND_KINDS: ReadonlySet<SendJob["kind"]> = new Set([
  "contact_import",
  "media_fetch",
  "broadcast_start",
  "broadcast_batch",
]);

/**
 * The `sends` consumer. Higher priorities go first within a batch. Retryable provider errors go back on
 * the queue with backoff; when the queue's retries run out the job lands in the dead-letter queue, whose
 * consumer fails the message. Anything thrown is retried the same way. Imports and media fetches run
 * concurrently with the sends of the same batch, so a send never waits seconds behind an import chunk.
 */
export async function consumeSends(batch: MessageBatch<SendJob>, env: Env): Promise<void> {
  const db = createDb(env.DB);
  const ordered = [...batch.messages].sort((a, b) => (b.body.priority ?? 0) - (a.body.priority ?? 0));
  const background = ordered.filter((message) => BACKGROUND_KINDS.has(message.body.kind));
  const inline = ordered.filter((message) => !BACKGROUND_KINDS.has(message.body.kind));
  const runInline = async () => {
    for (const message of inline) await consumeOne(db, env, message);
  };
  await Promise.all([runInline(), ...background.map((message) => consumeOne(db, env, message))]);
}

async function consumeOne(db: Db, env: Env, message: Message<SendJob>): Promise<void> {
  const ctx: LifecycleContext = { env, db, now: new Date() };
  try {
    const outcome = await handle(ctx, message.body);
    if ("ack" in outcome) message.ack();
    else {
      // Keep the outbox row leased for the retry, so the sweeper does not double it.
      await db
        .update(outbox)
        .set({
          leaseUntil: new Date(ctx.now.getTime() + (outcome.retryAfterSeconds * 1000 + JOB_LEASE_MS)),
          attempts: message.attempts,
        })
        .where(eq(outbox.id, message.body.outboxId));
      message.retry({ delaySeconds: outcome.retryAfterSeconds });
    }
  } catch (error) {
    console.error("sends job failed", {
      kind: message.body.kind,
      subject: message.body.subjectId,
      error: describeError(error),
    });
    message.retry({ delaySeconds: Math.min(60, 2 ** message.attempts) });
  }
}

/**
 * Jobs whose retries ran out: a dispatch fails its message for good (and refunds what was not sent); an import
 * or a media fetch ends `failed` with a reason, so nothing waits forever in `processing`.
 */
export async function consumeSendsDeadLetters(batch: MessageBatch<SendJob>, env: Env): Promise<void> {
  const db = createDb(env.DB);
  for (const message of batch.messages) {
    const ctx: LifecycleContext = { env, db, now: new Date() };
    try {
      if (message.body.kind === "dispatch") {
        const row = await loadMessage(db, message.body.subjectId);
        if (row && (row.status === "queued" || row.status === "sending")) {
          await endHop(ctx, row, {
            status: "failed",
            code: row.errorCode ?? "retries_exhausted",
            reason: `Gave up after ${row.attempts} attempts: ${row.errorReason ?? "the provider kept failing"}.`,
            refund: true,
            from: ["queued", "sending"],
          });
        }
      } else if (message.body.kind === "contact_import") {
        // An import whose job kept throwing ends failed (with its event) instead of staying `processing`.
        const [row] = await db
          .select()
          .from(contactImports)
          .where(eq(contactImports.id, message.body.subjectId))
          .limit(1);
        if (row)
          await failImport(
            ctx,
            row,
            "Processing kept failing; nothing after the last checkpoint was imported. Import the file again to finish it.",
          );
      } else if (message.body.kind === "broadcast_start") {
        await failBroadcastStart(ctx, message.body.subjectId);
      } else if (message.body.kind === "media_fetch") {
        await markFetchFailed(
          db,
          message.body.subjectId,
          "Fetching or storing the file kept failing; upload it again.",
          ctx.now,
        );
      }
      await deleteOutboxRow(db, message.body.outboxId);
      message.ack();
    } catch (error) {
      console.error("dead-letter job failed", {
        subject: message.body.subjectId,
        error: describeError(error),
      });
      message.retry({ delaySeconds: 30 });
    }
  }
}
