import { ByteLimitError, byteLimit } from "./guarded-fetch";

/** R2's multipart parts: 5 MiB is the smallest part it takes (bar the last). */
export const R2_PART_BYTES = 5 * 1024 * 1024;

export class UploadTooLargeError extends Error {
  override name = "UploadTooLargeError";
  constructor(readonly maxBytes: number) {
    super(`The file is larger than ${maxBytes} bytes.`);
  }
}

/**
 * Streams `body` into R2 under `key`, failing with UploadTooLargeError past `maxBytes` (the same byteLimit
 * stream guarded fetches use). With a known length R2 takes the stream as it comes; without one it goes up in
 * 5 MiB multipart parts (never the whole file in memory). Returns the number of bytes stored.
 */
export async function putStream(
  bucket: R2Bucket,
  key: string,
  body: ReadableStream<Uint8Array>,
  length: number | null,
  maxBytes: number,
): Promise<number> {
  if (length !== null && length > maxBytes) {
    await body.cancel();
    throw new UploadTooLargeError(maxBytes);
  }
  const limited = body.pipeThrough(byteLimit(maxBytes));
  try {
    if (length !== null) {
      const fixed = new FixedLengthStream(length);
      await Promise.all([bucket.put(key, fixed.readable), limited.pipeTo(fixed.writable)]);
      return length;
    }
    return await putInParts(bucket, key, limited);
  } catch (error) {
    if (error instanceof ByteLimitError) throw new UploadTooLargeError(maxBytes);
    throw error;
  }
}

/** A stream of unknown length as a multipart upload of R2_PART_BYTES parts; aborted if anything fails. */
async function putInParts(bucket: R2Bucket, key: string, body: ReadableStream<Uint8Array>): Promise<number> {
  const upload = await bucket.createMultipartUpload(key);
  try {
    const parts: R2UploadedPart[] = [];
    let part = new Uint8Array(R2_PART_BYTES);
    let filled = 0;
    let total = 0;
    for await (const value of body) {
      total += value.byteLength;
      for (let at = 0; at < value.byteLength; ) {
        const take = Math.min(value.byteLength - at, R2_PART_BYTES - filled);
        part.set(value.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled === R2_PART_BYTES) {
          parts.push(await upload.uploadPart(parts.length + 1, part));
          part = new Uint8Array(R2_PART_BYTES);
          filled = 0;
        }
      }
    }
    if (filled > 0 || parts.length === 0)
      parts.push(await upload.uploadPart(parts.length + 1, part.slice(0, filled)));
    await upload.complete(parts);
    return total;
  } catch (error) {
    await upload.abort().catch(() => undefined);
    throw error;
  }
}
