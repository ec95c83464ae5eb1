import { eq } from "drizzle-orm";
import { media, outbox } from "../db/schema";
import { MAX_MEDIA_BYTES } from "../domain/media";
import { ApiError, describeError } from "../errors";
import { decryptSecrets } from "../secrets";
import { guardedFetch } from "../services/guarded-fetch";
import { completeFetched, markFetchFailed, objectKeyOf, storeMediaStream } from "../services/media";
import { deleteOutboxRow, type JobOutcome, type SendJob } from "./jobs";
import type { LifecycleContext } from "./message-lifecycle";

/** Tries of a `{url}` upload whose source failed in a way worth retrying (timeouts, 5xx, 429, DNS down). */
export const MEDIA_FETCH_ATTEMPTS = 4;
/** A 100 MB fetch can outlast the normal lease: the sweeper leaves the job alone this long. */
const FETCH_LEASE_MS = 15 * 60_000;
const FETCH_TIMEOUT_MS = 5 * 60_000;

/**
 * A `{url}` media upload: fetch the URL through the webhook SSRF guard (no redirects, byte-limited stream),
 * store it as a raw upload would be (type from the bytes, sha256, dedupe), and move the media to `ready` or
 * `failed`. Safe to run twice: only a `processing` media is worked on, the object key is the media's own (a
 * second run overwrites the same bytes), and the status changes at most once.
 */
export async function runMediaFetchJob(ctx: LifecycleContext, job: SendJob): Promise<JobOutcome> {
  const { env, db, now } = ctx;
  const done = async (): Promise<JobOutcome> => {
    await deleteOutboxRow(db, job.outboxId);
    return { ack: true };
  };
  const [row] = await db.select().from(media).where(eq(media.id, job.subjectId)).limit(1);
  if (row?.status !== "processing" || row.deletedAt) return done();
  const [claim] = await db
    .update(outbox)
    .set({ leaseUntil: new Date(now.getTime() + FETCH_LEASE_MS) })
    .where(eq(outbox.id, job.outboxId))
    .returning({ attempts: outbox.attempts });
  const attempt = (claim?.attempts ?? 0) + 1;
  if (!row.sourceUrlCiphertext) {
    await markFetchFailed(db, row.id, "The source URL is no longer stored; upload the file again.", now);
    return done();
  }
  const { url } = await decryptSecrets(row.sourceUrlCiphertext, env.SECRETS_ENCRYPTION_KEY, row.tenantId);
  const retryOrFail = async (reason: string): Promise<JobOutcome> => {
    if (attempt < MEDIA_FETCH_ATTEMPTS) return { retryAfterSeconds: Math.min(300, 5 * 4 ** (attempt - 1)) };
    await markFetchFailed(db, row.id, `${reason} (gave up after ${attempt} tries)`, now);
    return done();
  };

  const fetched = await guardedFetch(env, url ?? "", {
    maxBytes: MAX_MEDIA_BYTES,
    timeoutMs: FETCH_TIMEOUT_MS,
  });
  if (!fetched.ok) {
    if (fetched.retryable) return retryOrFail(fetched.reason);
    await markFetchFailed(db, row.id, fetched.reason, now);
    return done();
  }
  const objectKey = objectKeyOf(row.tenantId, row.environment, row.id);
  let stored: Awaited<ReturnType<typeof storeMediaStream>>;
  try {
    stored = await storeMediaStream(env.MEDIA, objectKey, fetched.body, {
      maxBytes: MAX_MEDIA_BYTES,
      declared: fetched.contentType,
      filename: row.filename,
    });
  } catch (error) {
    if (error instanceof ApiError) throw error;
    // The connection broke mid-body: nothing was kept (the upload was aborted); try the whole file again.
    return retryOrFail(`The download was interrupted: ${describeError(error).slice(0, 200)}`);
  }
  if (!stored.ok) {
    await markFetchFailed(db, row.id, stored.message, now);
    return done();
  }
  await completeFetched(db, env.MEDIA, row, { ...stored, objectKey }, now);
  return done();
}
