/**
 * Shared by the media tests: tiny real file headers (enough for the magic-byte sniffing), raw-body uploads
 * through the worker, and the bytes of a response.
 */
import { fetchWorker } from "../helpers";

const bytes = (...parts: Array<number[] | string>) => {
  const out: number[] = [];
  for (const part of parts) {
    if (typeof part === "string") for (const ch of part) out.push(ch.charCodeAt(0));
    else out.push(...part);
  }
  return new Uint8Array(out);
};

/** A 1×1 PNG (valid file). `salt` changes the bytes (after IEND) so each test gets its own sha256. */
export function png(salt = ""): Uint8Array {
  const base = bytes(
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    [0, 0, 0, 0x0d],
    "IHDR",
    [0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89],
    [0, 0, 0, 0x0a],
    "IDAT",
    [0x78, 0x9c, 0x63, 0, 1, 0, 0, 5, 0, 1, 0x0d, 0x0a, 0x2d, 0xb4],
    [0, 0, 0, 0],
    "IEND",
    [0xae, 0x42, 0x60, 0x82],
  );
  return concatBytes(base, bytes(salt));
}

export function jpeg(salt = ""): Uint8Array {
  return bytes(
    [0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10],
    "JFIF",
    [0, 1, 1, 0, 0, 1, 0, 1, 0, 0],
    salt,
    [0xff, 0xd9],
  );
}

export function pdf(salt = ""): Uint8Array {
  return bytes(`%PDF-1.4\n1 0 obj<<>>endobj\n% ${salt}\ntrailer<<>>\n%%EOF\n`);
}

export function mp4(salt = ""): Uint8Array {
  return bytes([0, 0, 0, 0x18], "ftypisom", [0, 0, 2, 0], "isomiso2", [0, 0, 0, 8], "free", salt);
}

/** Bytes that are no accepted type (not UTF-8 text either). */
export function noise(length = 64, seed = 7): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[i] = 0x80 | ((x >> 16) % 0x40); // continuation bytes only: never valid UTF-8, no signature
  }
  out[0] = 0x9a;
  return out;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** POST /v1/media with `data` as the raw body. */
export function upload(
  key: string,
  data: Uint8Array | ReadableStream<Uint8Array>,
  contentType: string,
  options: { filename?: string; headers?: Record<string, string>; base?: string } = {},
): Promise<Response> {
  const query = options.filename ? `?filename=${encodeURIComponent(options.filename)}` : "";
  return fetchWorker(
    new Request(`${options.base ?? "http://localhost"}/v1/media${query}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": contentType, ...options.headers },
      body: data,
      // A stream body needs this in workerd's Request constructor.
      ...(data instanceof ReadableStream ? { duplex: "half" } : {}),
    } as RequestInit),
  );
}

/** GET a signed media URL (absolute, as handed out) through the worker. */
export function fetchSigned(url: string): Promise<Response> {
  const parsed = new URL(url);
  return fetchWorker(new Request(`http://localhost${parsed.pathname}${parsed.search}`));
}

export async function bodyBytes(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}
