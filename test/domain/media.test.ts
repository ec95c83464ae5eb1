import { describe, expect, it } from "vitest";
import {
  ACCEPTED_CONTENT_TYPES,
  CHANNEL_MEDIA_LIMITS,
  checkSendable,
  cleanFilename,
  kindOf,
  MAX_MEDIA_BYTES,
  sniffContentType,
} from "../../src/domain/media";
import { jpeg, mp4, noise, pdf, png } from "../routes/media-support";

const MB = 1024 * 1024;
const ascii = (text: string) => Uint8Array.from(text, (ch) => ch.charCodeAt(0));
const withBytes = (...parts: Array<number[] | string>) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === "string" ? [...ascii(p)] : p)));
const sniff = (head: Uint8Array, options: Parameters<typeof sniffContentType>[1] = {}) =>
  sniffContentType(head, { complete: true, ...options })?.contentType ?? null;

describe("sniffContentType: the bytes decide, not the declared type", () => {
  it("recognises every accepted signature", () => {
    expect(sniff(png())).toBe("image/png");
    expect(sniff(jpeg())).toBe("image/jpeg");
    expect(sniff(ascii("GIF89a\x01\x00\x01\x00"))).toBe("image/gif");
    expect(sniff(pdf())).toBe("application/pdf");
    expect(sniff(mp4())).toBe("video/mp4");
    expect(sniff(withBytes([0, 0, 0, 0x14], "ftyp3gp5", [0, 0, 0, 0]))).toBe("video/3gpp");
    expect(sniff(withBytes([0, 0, 0, 0x20], "ftypM4A ", [0, 0, 0, 0]))).toBe("audio/mp4");
    expect(sniff(ascii("#!AMR\n\x3c"))).toBe("audio/amr");
    expect(sniff(ascii("OggS\x00\x02"))).toBe("audio/ogg");
    expect(sniff(withBytes("ID3", [4, 0, 0, 0, 0, 0, 0]))).toBe("audio/mpeg");
    expect(sniff(withBytes([0xff, 0xfb, 0x90, 0x64]))).toBe("audio/mpeg"); // MPEG-1 layer III frame
    expect(sniff(withBytes([0xff, 0xf1, 0x50, 0x80]))).toBe("audio/aac"); // ADTS
    expect(sniff(ascii("hello, world\r\nsecond line\n"))).toBe("text/plain");
    const utf8 = new TextEncoder().encode("\ufeffcafé ☕\n"); // with a byte order mark
    expect(sniff(utf8)).toBe("text/plain");
  });

  it("ignores a lying declared type and refuses bytes of no accepted type", () => {
    expect(sniff(png(), { declared: "application/pdf" })).toBe("image/png");
    expect(sniff(pdf(), { declared: "image/png" })).toBe("application/pdf");
    expect(sniff(noise(), { declared: "image/png" })).toBeNull();
    expect(sniff(new Uint8Array([0x00, 0x01, 0x02, 0x03]))).toBeNull(); // control bytes: not text
    expect(sniff(ascii("RIFF\x10\x00\x00\x00WEBPVP8 "))).toBeNull(); // WebP: WhatsApp takes it only as stickers
    expect(sniff(ascii("<svg xmlns='http://www.w3.org/2000/svg'/>"))).toBe("text/plain"); // served as text, never as SVG
    expect(sniff(new Uint8Array())).toBeNull();
  });

  it("text: a UTF-8 sequence cut by the sniff window is fine, invalid UTF-8 is not", () => {
    const cut = withBytes("abc", [0xe2, 0x82]); // first two bytes of "€"
    expect(sniffContentType(cut, { complete: false })?.contentType).toBe("text/plain");
    expect(sniffContentType(cut, { complete: true })).toBeNull();
    expect(sniff(withBytes("abc", [0xc0, 0xaf]))).toBeNull(); // overlong encoding
  });

  it("Office containers: the entries or the claim choose among Office types only", () => {
    const zip = (entry: string) => withBytes([0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 8, 0], entry);
    expect(sniff(zip("[Content_Types].xml....word/document.xml"))).toBe(
      "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    );
    expect(sniff(zip("xl/workbook.xml"))).toBe(
      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    );
    expect(sniff(zip("[Content_Types].xml"), { filename: "deck.pptx" })).toBe(
      "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    );
    // A plain ZIP is not a document WhatsApp takes, whatever it claims to be.
    expect(sniff(zip("payload.bin"), { declared: "image/png", filename: "x.png" })).toBeNull();
    const ole = withBytes([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1], [0, 0, 0, 0]);
    expect(sniff(ole, { filename: "Budget.XLS" })).toBe("application/vnd.ms-excel");
    expect(sniff(ole, { declared: "application/msword; charset=binary" })).toBe("application/msword");
    expect(sniff(ole)).toBeNull();
  });

  it("every accepted type has a kind and at least one channel that sends it", () => {
    for (const type of ACCEPTED_CONTENT_TYPES) {
      const kind = kindOf(type);
      expect(kind).not.toBeNull();
      const senders = Object.values(CHANNEL_MEDIA_LIMITS).filter((limits) =>
        kind ? limits[kind]?.contentTypes.includes(type) : false,
      );
      expect(senders.length, type).toBeGreaterThan(0);
    }
  });
});

describe("checkSendable: channel limits", () => {
  const media = (contentType: string, sizeBytes: number) => ({ id: "med_x", contentType, sizeBytes });

  it("WhatsApp: image 5 MB, video and audio 16 MB, document 100 MB", () => {
    expect(checkSendable("whatsapp", "image", media("image/png", 5 * MB)).ok).toBe(true);
    const big = checkSendable("whatsapp", "image", media("image/png", 5 * MB + 1));
    expect(big).toEqual({ ok: false, message: expect.stringContaining("up to 5242880 bytes (5 MB)") });
    expect(checkSendable("whatsapp", "video", media("video/mp4", 16 * MB)).ok).toBe(true);
    expect(checkSendable("whatsapp", "video", media("video/mp4", 16 * MB + 1)).ok).toBe(false);
    expect(checkSendable("whatsapp", "audio", media("audio/ogg", 16 * MB)).ok).toBe(true);
    expect(checkSendable("whatsapp", "audio", media("audio/ogg", 16 * MB + 1)).ok).toBe(false);
    expect(checkSendable("whatsapp", "document", media("application/pdf", 100 * MB)).ok).toBe(true);
    expect(checkSendable("whatsapp", "document", media("application/pdf", 100 * MB + 1)).ok).toBe(false);
    expect(MAX_MEDIA_BYTES).toBe(100 * MB);
  });

  it("MMS: images only, 5 MB, GIF allowed; WhatsApp images are JPEG or PNG", () => {
    expect(checkSendable("sms", "image", media("image/gif", 5 * MB)).ok).toBe(true);
    expect(checkSendable("sms", "image", media("image/jpeg", 5 * MB + 1)).ok).toBe(false);
    const video = checkSendable("sms", "video", media("video/mp4", 1000));
    expect(video).toEqual({ ok: false, message: "sms cannot carry video media (it takes image)." });
    expect(checkSendable("whatsapp", "image", media("image/gif", 1000))).toEqual({
      ok: false,
      message: "Media med_x is image/gif; whatsapp image media must be image/jpeg, image/png.",
    });
    expect(checkSendable("email", "document", media("application/pdf", 10)).ok).toBe(false);
  });

  it("the kind must match the bytes: a PDF is not an image", () => {
    const check = checkSendable("whatsapp", "image", media("application/pdf", 1000));
    expect(check.ok).toBe(false);
    expect(checkSendable("whatsapp", "document", media("image/png", 1000)).ok).toBe(false);
  });
});

describe("cleanFilename", () => {
  it("keeps the last path segment, strips quotes and control characters", () => {
    expect(cleanFilename("../../etc/passwd")).toBe("passwd");
    expect(cleanFilename('C:\\docs\\a"b\r\n.pdf')).toBe("ab.pdf");
    expect(cleanFilename("   ")).toBeNull();
    expect(cleanFilename(undefined)).toBeNull();
    expect(cleanFilename("x".repeat(500))?.length).toBe(240);
  });
});
