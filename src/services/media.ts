import { and, eq, isNull } from "drizzle-orm";
import { type Db, isUniqueViolation } from "../db/client";
import { type MediaRow, media } from "../db/schema";
import { toHex } from "../domain/encoding";
import {
  type AcceptedType,
  checkSendable,
  essenceOf,
  extensionOf,
  PROVIDER_URL_TTL_SECONDS,
  SNIFF_BYTES,
  sniffContentType,
} from "../domain/media";
import type { Env, Environment } from "../env";
import { ApiError } from "../errors";
import type { Channel, MediaType, MessageContent } from "../providers/types";
import { ByteLimitError } from "./guarded-fetch";
import { signedMediaUrl } from "./media-urls";

/**
 * The media library's storage: bytes streamed into the private MEDIA bucket (sha256 computed on the way, the
 * type sniffed from the first bytes), one row per distinct file per tenant and environment, and the signed,
 * expiring URLs through which providers fetch a file from the worker.
 */

/** R2 multipart parts: all but the last the same size, at least 5 MiB. Memory per upload stays near this. */
export const PART_BYTES = 5 * 1024 * 1024;

export const objectKeyOf = (tenantId: string, environment: Environment, id: string) =>
  `media/${tenantId}/${environment}/${id}`;

export type StoreOutcome =
  | { ok: true; contentType: string; sizeBytes: number; sha256: string }
  | { ok: false; problem: "empty" | "too_large" | "unsupported"; message: string };

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk.subarray(0, Math.min(chunk.byteLength, total - at)), at);
    at += chunk.byteLength;
    if (at >= total) break;
  }
  return out;
}

/** Takes exactly `bytes` off the front of `pending` (which holds at least that many). */
function takeFront(pending: Uint8Array[], bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let at = 0;
  while (at < bytes) {
    const chunk = pending[0] as Uint8Array;
    const need = bytes - at;
    if (chunk.byteLength <= need) {
      out.set(chunk, at);
      at += chunk.byteLength;
      pending.shift();
    } else {
      out.set(chunk.subarray(0, need), at);
      pending[0] = chunk.subarray(need);
      at += need;
    }
  }
  return out;
}

/**
 * Streams `body` into `bucket` at `key`: hashed (SHA-256) as it passes, its type sniffed from the first
 * SNIFF_BYTES, refused (nothing left behind) when empty, larger than `maxBytes` or of no accepted type. Files
 * up to PART_BYTES are one put; larger ones a multipart upload, so at most about two parts are ever in memory.
 * Errors of the source stream other than a byte limit are rethrown after the upload is aborted.
 */
export async function storeMediaStream(
  bucket: R2Bucket,
  key: string,
  body: ReadableStream<Uint8Array>,
  options: { maxBytes: number; declared?: string | null; filename?: string | null },
): Promise<StoreOutcome> {
  const reader = body.getReader();
  const digest = new crypto.DigestStream("SHA-256");
  const hasher = digest.getWriter();
  // Aborting the hasher (a refused file) rejects its digest: nobody waits for it then.
  digest.digest.catch(() => {});
  const pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let total = 0;
  let type: AcceptedType | null = null;
  let upload: R2MultipartUpload | null = null;
  const parts: R2UploadedPart[] = [];
  const tooLarge = {
    ok: false as const,
    problem: "too_large" as const,
    message: `The file is larger than ${options.maxBytes} bytes, the largest any channel sends.`,
  };
  const unsupported = () => ({
    ok: false as const,
    problem: "unsupported" as const,
    message: `The file's bytes are not a type the media library takes${options.declared ? ` (it was declared ${essenceOf(options.declared).slice(0, 100)})` : ""}. Accepted: JPEG, PNG, GIF, MP4, 3GPP, AAC, AMR, MP3, M4A, OGG, PDF, plain text, Word, Excel, PowerPoint.`,
  });
  const giveUp = async <T>(outcome: T): Promise<T> => {
    await reader.cancel().catch(() => {});
    await hasher.abort().catch(() => {});
    await upload?.abort().catch(() => {});
    return outcome;
  };
  const sniff = (complete: boolean) =>
    sniffContentType(concat(pending, Math.min(pendingBytes, SNIFF_BYTES)), {
      declared: options.declared,
      filename: options.filename,
      complete,
    });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value.byteLength === 0) continue;
      total += value.byteLength;
      if (total > options.maxBytes) return giveUp(tooLarge);
      await hasher.write(value);
      pending.push(value);
      pendingBytes += value.byteLength;
      if (!type && pendingBytes >= SNIFF_BYTES) {
        type = sniff(false);
        if (!type) return giveUp(unsupported());
      }
      while (type && pendingBytes >= PART_BYTES) {
        upload ??= await bucket.createMultipartUpload(key, {
          httpMetadata: { contentType: type.contentType },
        });
        parts.push(await upload.uploadPart(parts.length + 1, takeFront(pending, PART_BYTES)));
        pendingBytes -= PART_BYTES;
      }
    }
  } catch (error) {
    await giveUp(null);
    if (error instanceof ByteLimitError) return tooLarge;
    throw error;
  }
  if (total === 0) return giveUp({ ok: false, problem: "empty", message: "The file is empty." });
  type ??= sniff(true);
  if (!type) return giveUp(unsupported());
  await hasher.close();
  const sha256 = toHex(new Uint8Array(await digest.digest));
  const httpMetadata = { contentType: type.contentType };
  if (upload) {
    if (pendingBytes > 0)
      parts.push(await upload.uploadPart(parts.length + 1, concat(pending, pendingBytes)));
    await upload.complete(parts);
  } else {
    await bucket.put(key, concat(pending, pendingBytes), { httpMetadata, sha256 });
  }
  return { ok: true, contentType: type.contentType, sizeBytes: total, sha256 };
}

// ---- rows --------------------------------------------------------------------------------------------

export interface MediaScope {
  tenantId: string;
  environment: Environment;
}

const scoped = (scope: MediaScope) =>
  and(eq(media.tenantId, scope.tenantId), eq(media.environment, scope.environment), isNull(media.deletedAt));

export async function findMedia(db: Db, scope: MediaScope, id: string): Promise<MediaRow | null> {
  const [row] = await db
    .select()
    .from(media)
    .where(and(scoped(scope), eq(media.id, id)))
    .limit(1);
  return row ?? null;
}

async function findBySha(db: Db, scope: MediaScope, sha256: string): Promise<MediaRow | null> {
  const [row] = await db
    .select()
    .from(media)
    .where(and(scoped(scope), eq(media.sha256, sha256)))
    .limit(1);
  return row ?? null;
}

/**
 * Records a file just stored under `row.objectKey`. When the same bytes are already media of this tenant and
 * environment, the new object is deleted and the existing media returned (`created: false`); a concurrent
 * upload of the same bytes is caught by the unique index the same way.
 */
export async function recordUploaded(
  db: Db,
  bucket: R2Bucket,
  row: MediaRow & { sha256: string; objectKey: string },
): Promise<{ row: MediaRow; created: boolean }> {
  const duplicate = async () => {
    const existing = await findBySha(db, row, row.sha256);
    if (!existing) return null;
    await bucket.delete(row.objectKey);
    return { row: existing, created: false };
  };
  const before = await duplicate();
  if (before) return before;
  try {
    await db.insert(media).values(row);
  } catch (error) {
    const after = isUniqueViolation(error) ? await duplicate() : null;
    if (after) return after;
    await bucket.delete(row.objectKey);
    throw error;
  }
  return { row, created: true };
}

/**
 * A `{url}` upload's bytes are in R2: the media becomes ready (once: only from `processing`). Bytes another
 * media of the tenant already holds are not kept twice: this one fails, naming the existing id.
 */
export async function completeFetched(
  db: Db,
  bucket: R2Bucket,
  row: MediaRow,
  stored: { contentType: string; sizeBytes: number; sha256: string; objectKey: string },
  now: Date,
): Promise<void> {
  const duplicateOf = async () => {
    const existing = await findBySha(db, row, stored.sha256);
    return existing && existing.id !== row.id ? existing : null;
  };
  const failAsDuplicate = async (existing: MediaRow) => {
    await bucket.delete(stored.objectKey);
    await markFetchFailed(
      db,
      row.id,
      `The same bytes are already media ${existing.id}; send that id instead.`,
      now,
    );
  };
  const existing = await duplicateOf();
  if (existing) return failAsDuplicate(existing);
  try {
    await db
      .update(media)
      .set({
        status: "ready",
        contentType: stored.contentType,
        sizeBytes: stored.sizeBytes,
        sha256: stored.sha256,
        objectKey: stored.objectKey,
        sourceUrlCiphertext: null,
        failureReason: null,
        updatedAt: now,
      })
      .where(and(eq(media.id, row.id), eq(media.status, "processing"), isNull(media.deletedAt)));
  } catch (error) {
    const raced = isUniqueViolation(error) ? await duplicateOf() : null;
    if (!raced) throw error;
    await failAsDuplicate(raced);
  }
}

/** A `{url}` upload that cannot be fetched or stored: `failed` with a reason (once: only from `processing`). */
export async function markFetchFailed(db: Db, id: string, reason: string, now: Date): Promise<void> {
  await db
    .update(media)
    .set({ status: "failed", failureReason: reason.slice(0, 500), sourceUrlCiphertext: null, updatedAt: now })
    .where(and(eq(media.id, id), eq(media.status, "processing")));
}

// ---- sends -------------------------------------------------------------------------------------------

/**
 * A send with `media: {media_id}` stores this reference as the content's url; every dispatch (first try,
 * retry, fallback hop) turns it into a fresh signed URL, so a late retry never carries an expired one.
 */
const REF_SCHEME = "sendwire-media:";
export const mediaRef = (id: string) => `${REF_SCHEME}${id}`;
export const mediaIdOfRef = (url: string) =>
  url.startsWith(REF_SCHEME) ? url.slice(REF_SCHEME.length) : null;

/**
 * The media a send names, checked for every channel the message may go out on: it exists here (404), is
 * ready (409), and its type and size suit each channel (400 naming the rule). Returns its filename.
 */
export async function mediaForSend(
  db: Db,
  scope: MediaScope,
  id: string,
  kind: MediaType,
  channels: Channel[],
): Promise<MediaRow> {
  const row = await findMedia(db, scope, id);
  if (!row) {
    throw new ApiError(
      "resource_not_found",
      `No media ${id.slice(0, 64)} exists in this environment; upload it with POST /v1/media.`,
    );
  }
  if (row.status !== "ready" || !row.contentType || row.sizeBytes === null) {
    throw new ApiError(
      "media_not_ready",
      row.status === "failed"
        ? `Media ${row.id} failed (${row.failureReason ?? "no reason recorded"}); upload it again.`
        : `Media ${row.id} is still being fetched; send it once GET /v1/media/${row.id} says ready.`,
    );
  }
  for (const channel of channels) {
    const check = checkSendable(channel, kind, {
      id: row.id,
      contentType: row.contentType,
      sizeBytes: row.sizeBytes,
    });
    if (!check.ok) {
      throw new ApiError("validation_error", check.message, {
        details: [{ path: "media.media_id", message: check.message }],
      });
    }
  }
  return row;
}

/** A default filename for a document without one: `med_….pdf`. */
export function fallbackFilename(row: Pick<MediaRow, "id" | "filename" | "contentType">): string {
  return row.filename ?? `${row.id}.${extensionOf(row.contentType ?? "") ?? "bin"}`;
}

export type ResolvedContent =
  | { ok: true; content: MessageContent }
  | { ok: false; code: string; reason: string };

/**
 * The content a provider gets: a library reference becomes a signed URL (PUBLIC_BASE_URL, valid
 * PROVIDER_URL_TTL_SECONDS); other content is unchanged. Media deleted since the send was accepted fails
 * the hop; a missing setting too (a provider cannot fetch a URL without an origin).
 */
export async function resolveMediaContent(
  env: Env,
  db: Db,
  scope: MediaScope,
  content: MessageContent,
  now: Date,
): Promise<ResolvedContent> {
  if (content.kind !== "media") return { ok: true, content };
  const id = mediaIdOfRef(content.media.url);
  if (!id) return { ok: true, content };
  const row = await findMedia(db, scope, id);
  if (row?.status !== "ready") {
    return { ok: false, code: "media_unavailable", reason: `Media ${id} was deleted before it was sent.` };
  }
  if (!env.PUBLIC_BASE_URL) {
    return {
      ok: false,
      code: "misconfigured",
      reason: "PUBLIC_BASE_URL is not set, so providers cannot be given a URL to fetch the media from.",
    };
  }
  const { url } = await signedMediaUrl(env, env.PUBLIC_BASE_URL, id, PROVIDER_URL_TTL_SECONDS, now);
  return { ok: true, content: { kind: "media", media: { ...content.media, url } } };
}
