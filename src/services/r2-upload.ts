/** R2's multipart parts: 5 MiB is the smallest part it takes (bar the last). */
export const R2_PART_BYTES = 5 * 1024 * 1024;

export class UploadTooLargeError extends Error {
  override name = "UploadTooLargeError";
  constructor(readonly maxBytes: number) {
    super(`The file is larger than ${maxBytes} bytes.`);
  }
}

/**
 * Streams `body` into R2 under `key`, failing with UploadTooLargeError past `maxBytes`. With a known length
 * R2 takes the stream as it comes; without one it goes up in 5 MiB multipart parts (never the whole file in
 * memory). Returns the number of bytes stored.
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
  let seen = 0;
  let over = false;
  const counted = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > maxBytes) {
          over = true;
          controller.error(new UploadTooLargeError(maxBytes));
        } else controller.enqueue(chunk);
      },
    }),
  );
  try {
    if (length !== null) {
      const fixed = new FixedLengthStream(length);
      const piping = counted.pipeTo(fixed.writable);
      await Promise.all([bucket.put(key, fixed.readable), piping]);
      return length;
    }
    const upload = await bucket.createMultipartUpload(key);
    try {
      const parts: R2UploadedPart[] = [];
      const reader = counted.getReader();
      let part = new Uint8Array(R2_PART_BYTES);
      let filled = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        let at = 0;
        while (at < value.byteLength) {
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
      return seen;
    } catch (error) {
      await upload.abort().catch(() => undefined);
      throw error;
    }
  } catch (error) {
    if (over) throw new UploadTooLargeError(maxBytes);
    throw error;
  }
}
