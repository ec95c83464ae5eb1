import type { Channel, MediaType } from "../providers/types";

/**
 * The media library's rules, pure: which files it takes (decided from the bytes, never from the upload's
 * `Content-Type`), what kind of media each one is, and how large each channel lets it be.
 *
 * Sniffing is hand-written for the accepted types (no dependency): every one of them starts with a fixed
 * signature, except the two container families (ZIP for Office Open XML, OLE2 for legacy Office), where the
 * bytes say "an Office document" and the declared type or the filename's extension says which one (only an
 * Office type is believed there), and plain text, which is recognised as valid UTF-8 without control bytes.
 */

const MB = 1024 * 1024;

export interface AcceptedType {
  contentType: string;
  kind: MediaType;
  /** The usual extension, for a filename when none is given. */
  extension: string;
}

const TYPES = {
  jpeg: { contentType: "image/jpeg", kind: "image", extension: "jpg" },
  png: { contentType: "image/png", kind: "image", extension: "png" },
  gif: { contentType: "image/gif", kind: "image", extension: "gif" },
  mp4: { contentType: "video/mp4", kind: "video", extension: "mp4" },
  threeGpp: { contentType: "video/3gpp", kind: "video", extension: "3gp" },
  aac: { contentType: "audio/aac", kind: "audio", extension: "aac" },
  amr: { contentType: "audio/amr", kind: "audio", extension: "amr" },
  mpeg: { contentType: "audio/mpeg", kind: "audio", extension: "mp3" },
  m4a: { contentType: "audio/mp4", kind: "audio", extension: "m4a" },
  ogg: { contentType: "audio/ogg", kind: "audio", extension: "ogg" },
  pdf: { contentType: "application/pdf", kind: "document", extension: "pdf" },
  text: { contentType: "text/plain", kind: "document", extension: "txt" },
  doc: { contentType: "application/msword", kind: "document", extension: "doc" },
  xls: { contentType: "application/vnd.ms-excel", kind: "document", extension: "xls" },
  ppt: { contentType: "application/vnd.ms-powerpoint", kind: "document", extension: "ppt" },
  docx: {
    contentType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    kind: "document",
    extension: "docx",
  },
  xlsx: {
    contentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    kind: "document",
    extension: "xlsx",
  },
  pptx: {
    contentType: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    kind: "document",
    extension: "pptx",
  },
} as const satisfies Record<string, AcceptedType>;

/** Every content type the media library stores. */
export const ACCEPTED_TYPES: readonly AcceptedType[] = Object.values(TYPES);
export const ACCEPTED_CONTENT_TYPES = ACCEPTED_TYPES.map((t) => t.contentType);

/** How many leading bytes `sniffContentType` wants (it works with fewer when the file is shorter). */
export const SNIFF_BYTES = 4096;

/** The largest file any channel takes (a WhatsApp document): the upload limit. */
export const MAX_MEDIA_BYTES = 100 * MB;

/**
 * What each channel sends per media kind: the content types and the largest size. WhatsApp (Meta Cloud API):
 * images JPEG/PNG ≤ 5 MB, video MP4/3GPP ≤ 16 MB, audio AAC/AMR/MP3/M4A/OGG ≤ 16 MB, documents ≤ 100 MB. SMS
 * (Twilio MMS): images JPEG/PNG/GIF ≤ 5 MB, nothing else. Email carries no media content.
 */
export const CHANNEL_MEDIA_LIMITS: Record<
  Channel,
  Partial<Record<MediaType, { maxBytes: number; contentTypes: readonly string[] }>>
> = {
  whatsapp: {
    image: { maxBytes: 5 * MB, contentTypes: ["image/jpeg", "image/png"] },
    video: { maxBytes: 16 * MB, contentTypes: ["video/mp4", "video/3gpp"] },
    audio: {
      maxBytes: 16 * MB,
      contentTypes: ["audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"],
    },
    document: {
      maxBytes: 100 * MB,
      contentTypes: ACCEPTED_TYPES.filter((t) => t.kind === "document").map((t) => t.contentType),
    },
  },
  sms: { image: { maxBytes: 5 * MB, contentTypes: ["image/jpeg", "image/png", "image/gif"] } },
  email: {},
};

export function kindOf(contentType: string): MediaType | null {
  return ACCEPTED_TYPES.find((t) => t.contentType === contentType)?.kind ?? null;
}

export function extensionOf(contentType: string): string | null {
  return ACCEPTED_TYPES.find((t) => t.contentType === contentType)?.extension ?? null;
}

const startsWith = (bytes: Uint8Array, signature: readonly number[], offset = 0) =>
  bytes.length >= offset + signature.length && signature.every((b, i) => bytes[offset + i] === b);

const ascii = (bytes: Uint8Array, from: number, to: number) =>
  String.fromCharCode(...bytes.subarray(from, Math.min(to, bytes.length)));

/** `image/png; charset=x` → `image/png`. */
export function essenceOf(contentType: string | null | undefined): string {
  return (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

const extensionOfName = (filename: string | null | undefined) =>
  filename?.toLowerCase().match(/\.([a-z0-9]{1,8})$/)?.[1] ?? null;

/** A container's concrete type, from what the caller claims (a declared type or an extension) among `choices`. */
function claimedAmong(
  choices: readonly AcceptedType[],
  declared: string | null | undefined,
  filename: string | null | undefined,
): AcceptedType | null {
  const essence = essenceOf(declared);
  const extension = extensionOfName(filename);
  return (
    choices.find((t) => t.contentType === essence) ?? choices.find((t) => t.extension === extension) ?? null
  );
}

/** The Office Open XML flavour named by a part path in the first local file headers of a ZIP. */
function ooxmlFromEntries(head: Uint8Array): AcceptedType | null {
  const text = ascii(head, 0, head.length);
  if (text.includes("word/")) return TYPES.docx;
  if (text.includes("xl/")) return TYPES.xlsx;
  if (text.includes("ppt/")) return TYPES.pptx;
  return null;
}

/** Valid UTF-8 (a sequence cut at the end of the window is fine) with no control bytes but tab/CR/LF/FF. */
function looksLikeText(head: Uint8Array, complete: boolean): boolean {
  if (head.length === 0) return false;
  let i = 0;
  while (i < head.length) {
    const byte = head[i] as number;
    if (byte < 0x80) {
      if (byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d && byte !== 0x0c) return false;
      if (byte === 0x7f) return false;
      i++;
      continue;
    }
    let length = 0;
    if (byte >= 0xc2 && byte <= 0xdf) length = 2;
    else if (byte >= 0xe0 && byte <= 0xef) length = 3;
    else if (byte >= 0xf0 && byte <= 0xf4) length = 4;
    if (length === 0) return false;
    for (let k = 1; k < length; k++) {
      if (i + k >= head.length) return !complete; // cut mid-character by the window
      const next = head[i + k] as number;
      if ((next & 0xc0) !== 0x80) return false;
    }
    i += length;
  }
  return true;
}

/**
 * The accepted type the leading bytes of a file are, or null. `head` is the first SNIFF_BYTES bytes (or the
 * whole file when shorter: then `complete`); `declared` and `filename` only choose among Office formats.
 */
export function sniffContentType(
  head: Uint8Array,
  options: { declared?: string | null; filename?: string | null; complete?: boolean } = {},
): AcceptedType | null {
  if (startsWith(head, [0xff, 0xd8, 0xff])) return TYPES.jpeg;
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return TYPES.png;
  const first6 = ascii(head, 0, 6);
  if (first6 === "GIF87a" || first6 === "GIF89a") return TYPES.gif;
  if (ascii(head, 0, 5) === "%PDF-") return TYPES.pdf;
  if (ascii(head, 4, 8) === "ftyp") {
    const brand = ascii(head, 8, 12);
    if (brand.startsWith("3gp") || brand.startsWith("3g2")) return TYPES.threeGpp;
    if (brand === "M4A " || brand === "M4B ") return TYPES.m4a;
    return TYPES.mp4;
  }
  if (ascii(head, 0, 6) === "#!AMR\n" || ascii(head, 0, 9) === "#!AMR-WB\n") return TYPES.amr;
  if (ascii(head, 0, 4) === "OggS") return TYPES.ogg;
  if (ascii(head, 0, 3) === "ID3") return TYPES.mpeg;
  if (head.length >= 2 && head[0] === 0xff) {
    const second = head[1] as number;
    // ADTS (AAC): 12 sync bits, then layer 00. MPEG audio frame: 11 sync bits, layer ≠ 00.
    if ((second & 0xf6) === 0xf0) return TYPES.aac;
    if ((second & 0xe0) === 0xe0 && (second & 0x06) !== 0) return TYPES.mpeg;
  }
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04])) {
    return (
      claimedAmong([TYPES.docx, TYPES.xlsx, TYPES.pptx], options.declared, options.filename) ??
      ooxmlFromEntries(head)
    );
  }
  if (startsWith(head, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])) {
    return claimedAmong([TYPES.doc, TYPES.xls, TYPES.ppt], options.declared, options.filename);
  }
  // A UTF-8 byte order mark is text too.
  if (looksLikeText(head, options.complete ?? false)) return TYPES.text;
  return null;
}

export type SendCheck = { ok: true } | { ok: false; message: string };

/** Whether stored media of `contentType` and `sizeBytes` can go out as `kind` over `channel`. */
export function checkSendable(
  channel: Channel,
  kind: MediaType,
  media: { id: string; contentType: string; sizeBytes: number },
): SendCheck {
  const limit = CHANNEL_MEDIA_LIMITS[channel][kind];
  if (!limit) {
    const kinds = Object.keys(CHANNEL_MEDIA_LIMITS[channel]);
    return {
      ok: false,
      message: `${channel} cannot carry ${kind} media${kinds.length > 0 ? ` (it takes ${kinds.join(", ")})` : ""}.`,
    };
  }
  if (kindOf(media.contentType) !== kind || !limit.contentTypes.includes(media.contentType)) {
    return {
      ok: false,
      message: `Media ${media.id} is ${media.contentType}; ${channel} ${kind} media must be ${limit.contentTypes.join(", ")}.`,
    };
  }
  if (media.sizeBytes > limit.maxBytes) {
    return {
      ok: false,
      message: `Media ${media.id} is ${media.sizeBytes} bytes; ${channel} takes ${kind} media up to ${limit.maxBytes} bytes (${limit.maxBytes / MB} MB).`,
    };
  }
  return { ok: true };
}

/** A filename safe to show in a Content-Disposition header and JSON: no paths, no control characters. */
export function cleanFilename(input: string | null | undefined): string | null {
  if (!input) return null;
  const base = input.split(/[\\/]/).pop() ?? "";
  const cleaned = [...base]
    .filter((ch) => ch !== '"' && ch.charCodeAt(0) >= 0x20 && ch.charCodeAt(0) !== 0x7f)
    .join("")
    .trim()
    .slice(0, 240);
  return cleaned === "" ? null : cleaned;
}

/** What the signed URL signs: the media id and its expiry (unix seconds). */
export const signedUrlMaterial = (mediaId: string, expiresAt: number) => `media:${mediaId}:${expiresAt}`;

/** How long a signed media URL handed to a provider stays valid. */
export const PROVIDER_URL_TTL_SECONDS = 24 * 3600;
/** How long the URL shown in API answers stays valid. */
export const API_URL_TTL_SECONDS = 3600;
