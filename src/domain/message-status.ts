import type { MessageStatus } from "../db/schema";

/**
 * Message statuses only move forward: scheduled → queued → sending → sent → delivered → read, or to one of
 * the final failures. Receipts arrive out of order and twice; a late `sent` after `read` must change
 * nothing. Two internal exceptions, both owned by the dispatcher: a retry returns `sending` to `queued`,
 * and a fallback hop starts the lifecycle again from `queued` on the next channel.
 */
const RANK: Record<MessageStatus, number> = {
  scheduled: 0,
  queued: 1,
  sending: 2,
  sent: 3,
  delivered: 4,
  read: 5,
  failed: 6,
  undelivered: 6,
  canceled: 6,
};

export const FINAL_STATUSES: readonly MessageStatus[] = ["read", "failed", "undelivered", "canceled"];

export function isFinal(status: MessageStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

/**
 * Whether a receipt or dispatch result may move `current` to `next`. Nothing leaves a final status: a
 * `failed` after `read` is the provider contradicting itself, and must neither refund nor fall back.
 */
export function canAdvance(current: MessageStatus, next: MessageStatus): boolean {
  if (isFinal(current)) return false;
  return RANK[next] > RANK[current];
}

export const CANCELABLE_STATUSES: readonly MessageStatus[] = ["scheduled", "queued"];

/** Retry delay for a retryable provider error: the provider's Retry-After, else exponential from `baseSeconds`. */
export function retryDelaySeconds(attempt: number, baseSeconds: number, retryAfterSeconds?: number): number {
  if (retryAfterSeconds !== undefined) return Math.min(Math.max(0, Math.ceil(retryAfterSeconds)), 3600);
  return Math.min(baseSeconds * 2 ** Math.max(0, attempt - 1), 900);
}
