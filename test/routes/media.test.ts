import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_MEDIA_BYTES } from "../../src/domain/media";
import { storeMediaStream } from "../../src/services/media";
import { signedMediaUrl } from "../../src/services/media-urls";
import { fakeMeta } from "../fakes/client";
import { fakeReceiver } from "../fakes/receiver-client";
import {
  call,
  expectError,
  fetchWorker,
  json,
  liveTenant,
  openCustomerWindow,
  seedTenant,
  send,
  waitForMessage,
} from "../helpers";
import {
  bodyBytes,
  concatBytes,
  fetchSigned,
  jpeg,
  noise,
  pdf,
  png,
  sha256Hex,
  upload,
} from "./media-support";

const TO = "+5511987654321";

async function objectsOf(tenantId: string): Promise<string[]> {
  const listed = await env.MEDIA.list({ prefix: `media/${tenantId}/` });
  return listed.objects.map((o) => o.key);
}

async function mediaRowCount(tenantId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT count(*) AS n FROM media WHERE tenant_id = ?")
    .bind(tenantId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** Polls GET /v1/media/{id} until its status is no longer `processing` (bounded: 150 × 50 ms). */
async function settled(key: string, id: string) {
  let last: any;
  for (let i = 0; i < 150; i++) {
    last = await json(await call("GET", `/v1/media/${id}`, { key }));
    if (last.status !== "processing") return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`media ${id} still processing: ${JSON.stringify(last)}`);
}

describe("POST /v1/media (raw body)", () => {
  it("stores a PNG: 201 ready, sha256 and size of the bytes, served back through its signed URL", async () => {
    const tenant = await seedTenant();
    const file = png("a");
    const res = await upload(tenant.secret, file, "image/png", { filename: "receipt.png" });
    expect(res.status).toBe(201);
    const media = await json(res);
    expect(media).toMatchObject({
      object: "media",
      status: "ready",
      content_type: "image/png",
      kind: "image",
      size_bytes: file.byteLength,
      sha256: await sha256Hex(file),
      filename: "receipt.png",
      failure_reason: null,
    });
    expect(media.id).toMatch(/^med_[0-9a-z]{26}$/);
    expect(media.url).toMatch(
      new RegExp(`^http://localhost:8787/media/${media.id}\\?exp=\\d+&sig=[A-Za-z0-9_-]{43}$`),
    );
    expect(Date.parse(media.url_expires_at) - Date.now()).toBeGreaterThan(3500_000);
    expect(await objectsOf(tenant.tenantId)).toEqual([`media/${tenant.tenantId}/test/${media.id}`]);

    const got = await json(await call("GET", `/v1/media/${media.id}`, { key: tenant.secret }));
    expect(got).toMatchObject({ id: media.id, status: "ready", sha256: media.sha256 });

    const served = await fetchSigned(got.url);
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toBe("image/png");
    expect(served.headers.get("x-content-type-options")).toBe("nosniff");
    expect(served.headers.get("content-disposition")).toBe("inline; filename*=UTF-8''receipt.png");
    expect(await bodyBytes(served)).toEqual(file);
  });

  it("JPEG and PDF bytes are stored under their own types", async () => {
    const tenant = await seedTenant();
    const photo = await json(await upload(tenant.secret, jpeg("b"), "image/jpeg"));
    expect(photo).toMatchObject({
      status: "ready",
      content_type: "image/jpeg",
      kind: "image",
      filename: null,
    });
    const doc = await json(await upload(tenant.secret, pdf("b"), "application/pdf", { filename: "a.pdf" }));
    expect(doc).toMatchObject({ status: "ready", content_type: "application/pdf", kind: "document" });
  });

  it("a lying Content-Type is corrected from the bytes; bytes of no accepted type are refused 415", async () => {
    const tenant = await seedTenant();
    const corrected = await upload(tenant.secret, png("lying"), "application/pdf");
    expect(corrected.status).toBe(201);
    expect(await json(corrected)).toMatchObject({ content_type: "image/png", kind: "image" });

    const refused = await expectError(
      await upload(tenant.secret, noise(2048), "image/png"),
      415,
      "unsupported_media_type",
    );
    expect(refused.message).toContain("declared image/png");
    expect(refused.message).toContain("Accepted: JPEG, PNG");
    // Nothing of the refused file is left: one object and one row, the PNG's.
    expect(await objectsOf(tenant.tenantId)).toHaveLength(1);
    expect(await mediaRowCount(tenant.tenantId)).toBe(1);
  });

  it("the same bytes twice are one media (200 the second time); per environment", async () => {
    const tenant = await seedTenant();
    const file = pdf("dedupe");
    const first = await upload(tenant.secret, file, "application/pdf");
    expect(first.status).toBe(201);
    const second = await upload(tenant.secret, file, "application/octet-stream", { filename: "other.pdf" });
    expect(second.status).toBe(200);
    const [a, b] = [await json(first), await json(second)];
    expect(b.id).toBe(a.id);
    expect(await objectsOf(tenant.tenantId)).toHaveLength(1);
    expect(await mediaRowCount(tenant.tenantId)).toBe(1);

    const live = await liveTenant();
    const other = await upload(live.secret, file, "application/pdf");
    expect(other.status).toBe(201);
    expect((await json(other)).id).not.toBe(a.id);
  });

  it("an empty body is a 400; a declared length over 100 MB is a 413 before anything is read", async () => {
    const tenant = await seedTenant();
    const empty = await expectError(
      await upload(tenant.secret, new Uint8Array(), "image/png"),
      400,
      "validation_error",
    );
    expect(empty.message).toContain("empty");
    const huge = await expectError(
      await upload(tenant.secret, png("huge"), "image/png", {
        headers: { "content-length": String(MAX_MEDIA_BYTES + 1) },
      }),
      413,
      "payload_too_large",
    );
    expect(huge.message).toContain(String(MAX_MEDIA_BYTES));
    expect(await mediaRowCount(tenant.tenantId)).toBe(0);
  });

  it("streams a file over one R2 part (multipart) and hashes it whole", async () => {
    const tenant = await seedTenant();
    const size = 11 * 1024 * 1024 + 123; // three parts: 5 MiB, 5 MiB, the rest
    const filler = new Uint8Array(64 * 1024).fill(0x20);
    const head = pdf("big");
    const whole = new Uint8Array(size);
    whole.set(head);
    for (let at = head.byteLength; at < size; at += filler.byteLength) {
      whole.set(filler.subarray(0, Math.min(filler.byteLength, size - at)), at);
    }
    let offset = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= size) return controller.close();
        const end = Math.min(size, offset + 300_000); // chunks that do not line up with parts
        controller.enqueue(whole.slice(offset, end));
        offset = end;
      },
    });
    const res = await upload(tenant.secret, stream, "application/pdf", { filename: "big.pdf" });
    expect(res.status).toBe(201);
    const media = await json(res);
    expect(media).toMatchObject({ size_bytes: size, sha256: await sha256Hex(whole) });
    const served = await fetchSigned(media.url);
    expect(Number(served.headers.get("content-length"))).toBe(size);
    expect(await sha256Hex(await bodyBytes(served))).toBe(media.sha256);
  });

  it("storeMediaStream: past the byte limit nothing is kept", async () => {
    const key = `media/test-limit/${crypto.randomUUID()}`;
    const big = concatBytes(pdf("limit"), new Uint8Array(6 * 1024 * 1024).fill(0x41));
    const outcome = await storeMediaStream(env.MEDIA, key, new Blob([big]).stream(), {
      maxBytes: 5 * 1024 * 1024 + 10,
    });
    expect(outcome).toMatchObject({ ok: false, problem: "too_large" });
    expect(await env.MEDIA.head(key)).toBeNull();
    const uploads = await env.MEDIA.list({ prefix: key });
    expect(uploads.objects).toHaveLength(0);
  });
});

describe("GET, list, DELETE", () => {
  it("lists newest first with a cursor and a status filter", async () => {
    const tenant = await seedTenant();
    const ids: string[] = [];
    for (const salt of ["1", "2", "3"])
      ids.push((await json(await upload(tenant.secret, png(salt), "image/png"))).id);
    const first = await json(await call("GET", "/v1/media?limit=2", { key: tenant.secret }));
    expect(first.data.map((m: any) => m.id)).toEqual([ids[2], ids[1]]);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await json(
      await call("GET", `/v1/media?limit=2&cursor=${first.next_cursor}`, { key: tenant.secret }),
    );
    expect(second.data.map((m: any) => m.id)).toEqual([ids[0]]);
    expect(second.next_cursor).toBeNull();
    const processing = await json(await call("GET", "/v1/media?status=processing", { key: tenant.secret }));
    expect(processing.data).toEqual([]);
    await expectError(
      await call("GET", "/v1/media?cursor=nope", { key: tenant.secret }),
      400,
      "invalid_cursor",
    );
  });

  it("DELETE removes the object; the media is gone, its signed URL 404s, the same bytes upload anew", async () => {
    const tenant = await seedTenant();
    const file = png("delete");
    const media = await json(await upload(tenant.secret, file, "image/png"));
    const deleted = await call("DELETE", `/v1/media/${media.id}`, { key: tenant.secret });
    expect(await json(deleted)).toEqual({ object: "media", id: media.id, deleted: true });
    await expectError(
      await call("GET", `/v1/media/${media.id}`, { key: tenant.secret }),
      404,
      "resource_not_found",
    );
    await expectError(
      await call("DELETE", `/v1/media/${media.id}`, { key: tenant.secret }),
      404,
      "resource_not_found",
    );
    await expectError(await fetchSigned(media.url), 404, "resource_not_found");
    expect(await objectsOf(tenant.tenantId)).toEqual([]);
    const list = await json(await call("GET", "/v1/media", { key: tenant.secret }));
    expect(list.data).toEqual([]);
    const again = await upload(tenant.secret, file, "image/png");
    expect(again.status).toBe(201);
    expect((await json(again)).id).not.toBe(media.id);
  });
});

describe("signed URLs", () => {
  it("a tampered, expired, missing or transplanted signature never gets the bytes", async () => {
    const tenant = await seedTenant();
    const a = await json(await upload(tenant.secret, png("sig-a"), "image/png"));
    const b = await json(await upload(tenant.secret, png("sig-b"), "image/png"));
    const url = new URL(a.url);
    const sig = url.searchParams.get("sig") as string;
    const exp = url.searchParams.get("exp") as string;
    const flipped = `${sig.slice(0, 10)}${sig[10] === "A" ? "B" : "A"}${sig.slice(11)}`;
    const attempts = [
      `/media/${a.id}?exp=${exp}&sig=${flipped}`,
      `/media/${a.id}?exp=${Number(exp) + 1}&sig=${sig}`,
      `/media/${a.id}?exp=${exp}`,
      `/media/${a.id}`,
      `/media/${b.id}?exp=${exp}&sig=${sig}`,
      `/media/${a.id}?exp=${exp}&sig=${sig}==`,
      // The last of 43 characters holds 2 unused bits: its 3 other spellings decode to the same MAC.
      ...sameBitsSpellings(sig).map((other) => `/media/${a.id}?exp=${exp}&sig=${other}`),
    ];
    for (const path of attempts) {
      const res = await fetchSigned(`http://localhost:8787${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.text()).not.toContain("PNG");
    }
    const expired = await signedMediaUrl(env, "http://localhost:8787", a.id, -1, new Date());
    await expectError(await fetchSigned(expired.url), 404, "resource_not_found");
    const fresh = await signedMediaUrl(env, "http://localhost:8787", a.id, 60, new Date());
    expect((await fetchSigned(fresh.url)).status).toBe(200);
    const head = await fetchWorker(
      new Request(fresh.url.replace("http://localhost:8787", "http://localhost"), { method: "HEAD" }),
    );
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe("image/png");
    expect(await head.text()).toBe("");
  });

  it("the OpenAPI document lists the routes, their errors and the send's media_not_ready", async () => {
    const doc = await json(await call("GET", "/openapi.json"));
    const upload = doc.paths["/v1/media"].post;
    expect(Object.keys(upload.requestBody.content)).toEqual(["application/json", "*/*"]);
    expect(Object.keys(upload.responses)).toEqual(
      expect.arrayContaining(["200", "201", "202", "413", "415"]),
    );
    expect(upload["x-required-scope"]).toBe("messages:send");
    expect(doc.paths["/v1/media/{id}"].get["x-accepted-scopes"]).toEqual(["messages:read", "messages:send"]);
    expect(doc.paths["/v1/media/{id}"].delete.responses["404"]).toBeDefined();
    expect(doc.paths["/media/{id}"].get.security).toBeUndefined();
    expect(
      doc.paths["/v1/messages"].post.responses["409"].content["application/json"].examples,
    ).toHaveProperty("media_not_ready");
  });
});

/** The other spellings of a 43-character base64url MAC whose last character differs only in its unused bits. */
function sameBitsSpellings(sig: string): string[] {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const last = alphabet.indexOf(sig.slice(-1));
  const base = last & ~3;
  const others = [0, 1, 2, 3].map((i) => alphabet[base + i]).filter((ch) => ch !== sig.slice(-1));
  expect(others).toHaveLength(3);
  return others.map((ch) => sig.slice(0, -1) + ch);
}

describe("POST /v1/media with {url}", () => {
  it("202 processing, then fetched through the guard into a ready media named after the URL path", async () => {
    const tenant = await seedTenant();
    const receiver = fakeReceiver();
    const sink = await receiver.createSink();
    const content = "%PDF-1.7\nfetched from a presigned URL\n%%EOF\n";
    await receiver.script(sink.id, [
      { status: 200, headers: { "content-type": "image/png" }, body: content },
    ]);
    const res = await call("POST", "/v1/media", {
      key: tenant.secret,
      body: { url: `${sink.url}/invoices/march%202026.pdf?X-Amz-Signature=secret123` },
    });
    expect(res.status).toBe(202);
    const accepted = await json(res);
    expect(accepted).toMatchObject({
      status: "processing",
      content_type: null,
      url: null,
      filename: "march 2026.pdf",
    });
    const stored = await env.DB.prepare("SELECT source_url_ciphertext FROM media WHERE id = ?")
      .bind(accepted.id)
      .first<{ source_url_ciphertext: string | null }>();
    expect(stored?.source_url_ciphertext ?? "").not.toContain("secret123");

    const ready = await settled(tenant.secret, accepted.id);
    const bytes = new TextEncoder().encode(content);
    expect(ready).toMatchObject({
      status: "ready",
      content_type: "application/pdf", // the bytes, not the server's Content-Type
      size_bytes: bytes.byteLength,
      sha256: await sha256Hex(bytes),
      failure_reason: null,
    });
    expect(await receiver.requests(sink.id)).toHaveLength(1);
    expect(await bodyBytes(await fetchSigned(ready.url))).toEqual(bytes);
    const after = await env.DB.prepare("SELECT source_url_ciphertext FROM media WHERE id = ?")
      .bind(accepted.id)
      .first<{ source_url_ciphertext: string | null }>();
    expect(after?.source_url_ciphertext).toBeNull();
  });

  it("fails with a reason: an HTTP error, bytes of no accepted type, bytes already in the library", async () => {
    const tenant = await seedTenant();
    const receiver = fakeReceiver();
    const sink = await receiver.createSink();
    const existing = await json(
      await upload(tenant.secret, new TextEncoder().encode("%PDF-1.1 same bytes"), "application/pdf"),
    );
    await receiver.script(sink.id, [
      { status: 404, body: "no such key" },
      { status: 200, body: "\u0001\u0002\u0003 binary junk" },
      { status: 200, body: "%PDF-1.1 same bytes" },
    ]);
    const failures: any[] = [];
    for (const path of ["a", "b", "c"]) {
      const res = await call("POST", "/v1/media", {
        key: tenant.secret,
        body: { url: `${sink.url}/${path}` },
      });
      failures.push(await settled(tenant.secret, (await json(res)).id));
    }
    expect(failures.map((m) => m.status)).toEqual(["failed", "failed", "failed"]);
    expect(failures[0].failure_reason).toBe("The URL answered HTTP 404.");
    expect(failures[1].failure_reason).toContain("not a type the media library takes");
    expect(failures[2].failure_reason).toBe(
      `The same bytes are already media ${existing.id}; send that id instead.`,
    );
    expect(failures.every((m) => m.url === null && m.sha256 === null)).toBe(true);
    expect(await objectsOf(tenant.tenantId)).toEqual([`media/${tenant.tenantId}/test/${existing.id}`]);
  });

  it("refuses a URL that is not one the guard allows, at once", async () => {
    const tenant = await seedTenant();
    for (const url of ["file:///etc/passwd", "http://169.254.169.254/latest/meta-data", "not a url"]) {
      const error = await expectError(
        await call("POST", "/v1/media", { key: tenant.secret, body: { url } }),
        400,
        "validation_error",
      );
      expect(error.details[0].path).toBe("url");
    }
    await expectError(
      await call("POST", "/v1/media", { key: tenant.secret, body: {} }),
      400,
      "validation_error",
    );
    expect(await mediaRowCount(tenant.tenantId)).toBe(0);
  });
});

describe("sending library media", () => {
  it("checks the media at send time: exists, ready, type and size for the channel", async () => {
    const tenant = await seedTenant();
    await openCustomerWindow(tenant.tenantId, TO);
    const image = await json(await upload(tenant.secret, png("send-check"), "image/png"));
    const doc = await json(await upload(tenant.secret, pdf("send-check"), "application/pdf"));
    const media = (m: Record<string, unknown>) => ({ channel: "whatsapp", to: TO, media: m });

    const both = await expectError(
      await send(tenant.secret, media({ type: "image", media_id: image.id, url: "https://x.example/a.png" })),
      400,
      "validation_error",
    );
    expect(both.message).toContain("exactly one of url or media_id");
    await expectError(await send(tenant.secret, media({ type: "image" })), 400, "validation_error");
    const missing = await expectError(
      await send(tenant.secret, media({ type: "image", media_id: "med_01jd3x6n2m8q4v7w9y0z1a2b3c" })),
      404,
      "resource_not_found",
    );
    expect(missing.message).toContain("POST /v1/media");
    const mismatch = await expectError(
      await send(tenant.secret, media({ type: "image", media_id: doc.id })),
      400,
      "validation_error",
    );
    expect(mismatch.message).toBe(
      `Media ${doc.id} is application/pdf; whatsapp image media must be image/jpeg, image/png.`,
    );
    await env.DB.prepare("UPDATE media SET size_bytes = ? WHERE id = ?")
      .bind(5 * 1024 * 1024 + 1, image.id)
      .run();
    const tooBig = await expectError(
      await send(tenant.secret, media({ type: "image", media_id: image.id })),
      400,
      "validation_error",
    );
    expect(tooBig.message).toContain("up to 5242880 bytes (5 MB)");
    await env.DB.prepare("UPDATE media SET status = 'processing' WHERE id = ?").bind(doc.id).run();
    await expectError(
      await send(tenant.secret, media({ type: "document", media_id: doc.id })),
      409,
      "media_not_ready",
    );
    const none = await env.DB.prepare("SELECT count(*) AS n FROM messages WHERE tenant_id = ?")
      .bind(tenant.tenantId)
      .first<{ n: number }>();
    expect(none?.n).toBe(0);
  });

  it("a sandbox send with media_id is sent; a live one reaches Meta as a signed URL that serves the bytes", async () => {
    const sandbox = await seedTenant();
    await openCustomerWindow(sandbox.tenantId, TO);
    const sandboxImage = await json(await upload(sandbox.secret, jpeg("sandbox"), "image/jpeg"));
    const accepted = await json(
      await send(sandbox.secret, {
        channel: "whatsapp",
        to: TO,
        media: { type: "image", media_id: sandboxImage.id },
      }),
    );
    expect(accepted.content_type).toBe("media");
    await waitForMessage(sandbox.secret, accepted.id, (m) => m.status === "sent" || m.status === "delivered");

    const live = await liveTenant();
    const meta = fakeMeta();
    const account = await meta.createAccount();
    const channel = await call("POST", "/v1/channels", {
      key: live.secret,
      body: {
        type: "whatsapp",
        name: "n",
        phone_number_id: account.phoneNumberId,
        waba_id: account.wabaId,
        access_token: account.accessToken,
        app_secret: account.appSecret,
      },
    });
    expect(channel.status).toBe(201);
    await openCustomerWindow(live.tenantId, TO, new Date(), "live");
    const file = pdf("to-meta");
    const doc = await json(await upload(live.secret, file, "application/pdf", { filename: "Invoice 7.pdf" }));
    const message = await json(
      await send(live.secret, {
        channel: "whatsapp",
        to: TO,
        media: { type: "document", media_id: doc.id, caption: "Your invoice" },
      }),
    );
    await waitForMessage(live.secret, message.id, (m) => m.status === "sent");
    const request = await meta.onlyRequest(account.scope, { path: "/messages" });
    expect(request.body).toMatchObject({
      type: "document",
      document: { caption: "Your invoice", filename: "Invoice 7.pdf" },
    });
    const link: string = request.body.document.link;
    expect(link).toMatch(
      new RegExp(`^http://localhost:8787/media/${doc.id}\\?exp=\\d+&sig=[A-Za-z0-9_-]{43}$`),
    );
    const exp = Number(new URL(link).searchParams.get("exp"));
    expect(exp * 1000 - Date.now()).toBeGreaterThan(23 * 3600_000);
    const served = await fetchSigned(link);
    expect(served.headers.get("content-type")).toBe("application/pdf");
    expect(await bodyBytes(served)).toEqual(file);
    // The stored message keeps a reference, never a URL that could expire before a retry.
    const row = await env.DB.prepare("SELECT content FROM messages WHERE id = ?")
      .bind(message.id)
      .first<{ content: string }>();
    expect(JSON.parse(row?.content ?? "{}").media.url).toBe(`sendwire-media:${doc.id}`);
  });
});
