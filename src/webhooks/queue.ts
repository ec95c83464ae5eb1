import type { Env } from "../env";
import { describeError } from "../errors";

/**
 * What travels on the `webhooks` queue: pointers to rows, which are the durable truth. A delivery job
 * carries the `next_attempt_at` it was sent for: the consumer acts only while the row still says the
 * same, so duplicated or stale queue messages can never cause a second attempt.
 */
export type WebhookJob =
  | { kind: "delivery"; deliveryId: string; at: number }
  | { kind: "replay"; replayId: string };

export interface DueDelivery {
  id: string;
  /** `next_attempt_at` in ms. */
  at: number;
}

/** Cloudflare Queues delays messages by at most 12 hours; longer waits are chained by the consumer. */
export const MAX_QUEUE_DELAY_SECONDS = 43_200;
const SEND_BATCH_LIMIT = 100;

/**
 * Hands jobs to the webhooks queue (the accelerator). A failure loses nothing: due deliveries and
 * running replays are found again by the minute sweeper.
 */
export async function enqueueWebhookJobs(
  env: Env,
  jobs: { job: WebhookJob; delaySeconds?: number }[],
): Promise<void> {
  try {
    for (let i = 0; i < jobs.length; i += SEND_BATCH_LIMIT) {
      await env.WEBHOOKS_QUEUE.sendBatch(
        jobs.slice(i, i + SEND_BATCH_LIMIT).map(({ job, delaySeconds = 0 }) => ({
          body: job,
          // Rounded down: a job may arrive up to a second early (the consumer waits out the rest), never late.
          delaySeconds: Math.min(Math.max(0, Math.floor(delaySeconds)), MAX_QUEUE_DELAY_SECONDS),
        })),
      );
    }
  } catch (error) {
    console.error("webhooks queue unavailable; the sweeper will re-drive", {
      count: jobs.length,
      error: describeError(error),
    });
  }
}

/** Wakes deliveries at their `next_attempt_at` (at once when it is already due). */
export function enqueueDeliveries(env: Env, deliveries: DueDelivery[], now = new Date()) {
  return enqueueWebhookJobs(
    env,
    deliveries.map(({ id, at }) => ({
      job: { kind: "delivery", deliveryId: id, at },
      delaySeconds: (at - now.getTime()) / 1000,
    })),
  );
}
