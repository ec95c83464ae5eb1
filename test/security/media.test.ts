/**
 * Attacks on the media library: weaker keys, other tenants' and the other environment's ids, hostile inputs,
 * URLs the guard must refuse as deployed, a fetch job run twice (concurrently), and deleted media at dispatch.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { newId } from "../../src/ids";
import { runMediaFetchJob } from "../../src/queues/media-fetch";
import { encryptSecrets } from "../../src/secrets";
import { fakeReceiver } from "../fakes/receiver-client";
import {
  call,
  expectError,
  json,
  openCustomerWindow,
  seedKey,
  seedTenant,
  send,
  waitForMessage,
} from "../helpers";
import { fetchSigned, jpeg, pdf, png, upload } from "../routes/media-support";
import { callWith, DEPLOYED } from "./support";

const TO = "+5511987654321";

describe("media: scopes", () => {
  it("uploading and deleting take messages:send; reading takes messages:read or messages:send", async () => {
    const owner = await seedTenant();
    const media = await json(await upload(owner.secret, png("scope"), "image/png"));
    const reader = await seedKey(owner.tenantId, { scopes: ["messages:read"] });
    const stranger = await seedKey(owner.tenantId, { scopes: ["contacts:manage", "templates:manage"] });

    const denied = await expectError(
      await upload(reader.secret, png("scope-2"), "image/png"),
      403,
      "insufficient_scope",
    );
    expect(denied.message).toContain("messages:send");
    await expectError(
      await call("POST", "/v1/media", { key: reader.secret, body: { url: "https://example.com/a.png" } }),
      403,
      "insufficient_scope",
    );
    await expectError(
      await call("DELETE", `/v1/media/${media.id}`, { key: reader.secret }),
      403,
      "insufficient_scope",
    );
    expect((await call("GET", `/v1/media/${media.id}`, { key: reader.secret })).status).toBe(200);
    expect((await call("GET", "/v1/media", { key: reader.secret })).status).toBe(200);
    await expectError(await call("GET", "/v1/media", { key: stranger.secret }), 403, "insufficient_scope");
    await expectError(
      await call("GET", `/v1/media/${media.id}`, { key: stranger.secret }),
      403,
      "insufficient_scope",
    );
    // Still there: no refused call changed anything.
    expect((await call("GET", `/v1/media/${media.id}`, { key: owner.secret })).status).toBe(200);
  });
});

describe("media: tenant and environment isolation", () => {
  it("another tenant's or the other environment's media id is a 404 on GET, DELETE and send", async () => {
    const owner = await seedTenant();
    const media = await json(await upload(owner.secret, jpeg("isolation"), "image/jpeg"));
    const other = await seedTenant();
    const live = await seedKey(owner.tenantId, { environment: "live" });
    for (const key of [other.secret, live.secret]) {
      await expectError(await call("GET", `/v1/media/${media.id}`, { key }), 404, "resource_not_found");
      await expectError(await call("DELETE", `/v1/media/${media.id}`, { key }), 404, "resource_not_found");
      const list = await json(await call("GET", "/v1/media", { key }));
      expect(list.data.map((m: any) => m.id)).not.toContain(media.id);
    }
    await openCustomerWindow(other.tenantId, TO);
    await expectError(
      await send(other.secret, { channel: "whatsapp", to: TO, media: { type: "image", media_id: media.id } }),
      404,
      "resource_not_found",
    );
    // The same bytes uploaded by another tenant are that tenant's own media, not a pointer to this one.
    const theirs = await upload(other.secret, jpeg("isolation"), "image/jpeg");
    expect(theirs.status).toBe(201);
    expect((await json(theirs)).id).not.toBe(media.id);
    expect((await call("GET", `/v1/media/${media.id}`, { key: owner.secret })).status).toBe(200);
  });
});

describe("media: hostile input", () => {
  it("oversized or unknown fields, a JSON claim on binary bytes, and odd filenames", async () => {
    const tenant = await seedTenant();
    await expectError(
      await upload(tenant.secret, png("hostile"), "image/png", { filename: "x".repeat(241) }),
      400,
      "validation_error",
    );
    await expectError(
      await call("POST", "/v1/media", {
        key: tenant.secret,
        body: { url: `https://example.com/${"a".repeat(2000)}` },
      }),
      400,
      "validation_error",
    );
    await expectError(
      await call("POST", "/v1/media", {
        key: tenant.secret,
        body: { url: "https://example.com/a.png", bucket: "someone-else" },
      }),
      400,
      "validation_error",
    );
    await expectError(
      await upload(tenant.secret, png("json-claim"), "application/json"),
      400,
      "invalid_json",
    );
    const named = await json(
      await upload(tenant.secret, pdf("name"), "application/pdf", { filename: '../../etc/"passwd"\r\n.pdf' }),
    );
    expect(named.filename).toBe("passwd.pdf");
    const served = await fetchSigned(named.url);
    expect(served.headers.get("content-disposition")).toBe("inline; filename*=UTF-8''passwd.pdf");
    expect(served.headers.get("content-security-policy")).toContain("sandbox");
  });

  it("as deployed, URLs on loopback, private networks or plain http are refused before anything is stored", async () => {
    const tenant = await seedTenant();
    const receiver = fakeReceiver();
    const sink = await receiver.createSink();
    for (const url of [sink.url, "https://127.0.0.1/a.png", "https://10.0.0.8/a.png", "https://[::1]/a"]) {
      const res = await callWith(DEPLOYED, "POST", "/v1/media", { key: tenant.secret, body: { url } });
      const error = await expectError(res, 400, "validation_error");
      expect(error.details[0].path, url).toBe("url");
    }
    const count = await env.DB.prepare("SELECT count(*) AS n FROM media WHERE tenant_id = ?")
      .bind(tenant.tenantId)
      .first<{ n: number }>();
    expect(count?.n).toBe(0);
    expect(await receiver.requests(sink.id)).toEqual([]);
  });
});

describe("media: jobs and dispatch", () => {
  it("the same fetch job run twice, concurrently and again later, stores one file once", async () => {
    const tenant = await seedTenant();
    const receiver = fakeReceiver();
    const sink = await receiver.createSink();
    await receiver.script(sink.id, [], { status: 200, body: "%PDF-1.3 twice" });
    const id = newId("media");
    const now = new Date();
    await env.DB.prepare(
      `INSERT INTO media (id, tenant_id, environment, status, filename, source_url_ciphertext, created_at, updated_at)
       VALUES (?, ?, 'test', 'processing', 'twice.pdf', ?, ?, ?)`,
    )
      .bind(
        id,
        tenant.tenantId,
        await encryptSecrets({ url: `${sink.url}/twice.pdf` }, env.SECRETS_ENCRYPTION_KEY, tenant.tenantId),
        now.getTime(),
        now.getTime(),
      )
      .run();
    const job = {
      outboxId: newId("outbox"),
      kind: "media_fetch" as const,
      subjectId: id,
      payload: {},
      priority: 1,
    };
    const run = () => runMediaFetchJob({ env, db: createDb(env.DB), now: new Date() }, job);
    expect(await Promise.all([run(), run()])).toEqual([{ ack: true }, { ack: true }]);
    const ready = await json(await call("GET", `/v1/media/${id}`, { key: tenant.secret }));
    expect(ready).toMatchObject({ status: "ready", content_type: "application/pdf", size_bytes: 14 });
    const fetchesSoFar = (await receiver.requests(sink.id)).length;
    expect(fetchesSoFar).toBeLessThanOrEqual(2);

    expect(await run()).toEqual({ ack: true });
    expect((await receiver.requests(sink.id)).length).toBe(fetchesSoFar); // a finished job fetches nothing
    const after = await json(await call("GET", `/v1/media/${id}`, { key: tenant.secret }));
    expect(after.updated_at).toBe(ready.updated_at);
    const objects = await env.MEDIA.list({ prefix: `media/${tenant.tenantId}/` });
    expect(objects.objects.map((o) => o.key)).toEqual([`media/${tenant.tenantId}/test/${id}`]);
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM media WHERE tenant_id = ?")
      .bind(tenant.tenantId)
      .first<{ n: number }>();
    expect(rows?.n).toBe(1);
  });

  it("media deleted after the send was accepted is never handed out: the message fails, refunded", async () => {
    const tenant = await seedTenant();
    await openCustomerWindow(tenant.tenantId, TO);
    const media = await json(await upload(tenant.secret, png("deleted-later"), "image/png"));
    const accepted = await json(
      await send(tenant.secret, {
        channel: "whatsapp",
        to: TO,
        media: { type: "image", media_id: media.id },
        schedule_at: new Date(Date.now() + 2000).toISOString(),
      }),
    );
    expect(accepted.status).toBe("scheduled");
    expect((await call("DELETE", `/v1/media/${media.id}`, { key: tenant.secret })).status).toBe(200);
    const failed = await waitForMessage(tenant.secret, accepted.id, (m) => m.status === "failed", 20_000);
    expect(failed.error).toEqual({
      code: "media_unavailable",
      reason: `Media ${media.id} was deleted before it was sent.`,
    });
    expect(failed.cost).toBe("0.0000");
  });
});
