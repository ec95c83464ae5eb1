/**
 * Attacks on contact imports: a weaker key, another tenant's or environment's ids, URLs pointing at our own
 * network in the deployed configuration, hostile files, and the same job run twice.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { newId } from "../../src/ids";
import { runContactImportJob } from "../../src/queues/contact-import";
import { call, expectError, json, seedKey, seedTenant } from "../helpers";
import { callWith, count, DEPLOYED, until } from "./support";

const csvUpload = (key: string, body: string, query = "") =>
  call("POST", `/v1/contact-imports${query}`, {
    key,
    rawBody: body,
    headers: { "content-type": "text/csv" },
  });

async function finished(key: string, id: string) {
  return until(
    async () => json(await call("GET", `/v1/contact-imports/${id}`, { key })),
    (row) => row.status === "completed" || row.status === "failed",
    `import ${id} ended`,
  );
}

describe("contact import attacks", () => {
  it("a key without contacts:manage cannot import (403); contacts:read can read", async () => {
    const tenant = await seedTenant();
    const reader = await seedKey(tenant.tenantId, { scopes: ["contacts:read"] });
    const other = await seedKey(tenant.tenantId, { scopes: ["messages:send"] });
    await expectError(await csvUpload(reader.secret, "email\na@example.com\n"), 403, "insufficient_scope");
    await expectError(
      await call("POST", "/v1/contact-imports", {
        key: reader.secret,
        body: { url: "https://example.com/a.csv" },
      }),
      403,
      "insufficient_scope",
    );
    const created = await json(await csvUpload(tenant.secret, "email\na@example.com\n"));
    expect((await call("GET", `/v1/contact-imports/${created.id}`, { key: reader.secret })).status).toBe(200);
    await expectError(
      await call("GET", `/v1/contact-imports/${created.id}`, { key: other.secret }),
      403,
      "insufficient_scope",
    );
    await expectError(
      await call("GET", "/v1/contact-imports", { key: other.secret }),
      403,
      "insufficient_scope",
    );
  });

  it("another tenant's and the other environment's imports are 404 and never listed", async () => {
    const owner = await seedTenant();
    const created = await json(await csvUpload(owner.secret, "email\na@example.com\n"));
    const stranger = await seedTenant();
    const live = await seedKey(owner.tenantId, { environment: "live" });
    for (const key of [stranger.secret, live.secret]) {
      await expectError(
        await call("GET", `/v1/contact-imports/${created.id}`, { key }),
        404,
        "resource_not_found",
      );
      const page = await json(await call("GET", "/v1/contact-imports", { key }));
      expect(page.data.map((i: any) => i.id)).not.toContain(created.id);
    }
    // Nor can another environment's list be the target.
    const listId = newId("list");
    await env.DB.prepare(
      "INSERT INTO lists (id, tenant_id, environment, name, created_at, updated_at) VALUES (?, ?, 'live', 'l', 0, 0)",
    )
      .bind(listId, owner.tenantId)
      .run();
    await expectError(
      await csvUpload(owner.secret, "email\na@example.com\n", `?list_id=${listId}`),
      404,
      "resource_not_found",
    );
  });

  it("deployed, a URL on loopback, a private network or plain http is refused", async () => {
    const tenant = await seedTenant();
    for (const url of [
      "http://127.0.0.1:9/contacts.csv",
      "https://localhost/contacts.csv",
      "https://10.0.0.5/contacts.csv",
      "https://[::1]/contacts.csv",
      "https://user:pass@example.com/contacts.csv",
    ]) {
      const res = await callWith(DEPLOYED, "POST", "/v1/contact-imports", {
        key: tenant.secret,
        body: { url },
      });
      await expectError(res, 400, "validation_error");
    }
    expect(
      await count("SELECT count(*) AS n FROM contact_imports WHERE tenant_id = ?", tenant.tenantId),
    ).toBe(0);
  });

  it("hostile files end as 4xx or as a failed import, never a crash", async () => {
    const tenant = await seedTenant();
    await expectError(
      await call("POST", "/v1/contact-imports", {
        key: tenant.secret,
        rawBody: "x",
        headers: { "content-type": "text/html" },
      }),
      415,
      "unsupported_media_type",
    );
    await expectError(await csvUpload(tenant.secret, "", ""), 400, "validation_error");
    await expectError(
      await csvUpload(tenant.secret, "email\n", "?default_country=ZZ"),
      400,
      "validation_error",
    );
    // A header of 5,000 columns, and an unclosed quote swallowing the rest of the file.
    const wide = json(
      await csvUpload(tenant.secret, `${Array.from({ length: 5000 }, (_, i) => `c${i}`).join(",")}\n`),
    );
    const unclosed = json(
      await csvUpload(tenant.secret, 'email,name\na@example.com,"never closed\nb@example.com,x\n'),
    );
    const wideDone = await finished(tenant.secret, (await wide).id);
    expect(wideDone.status).toBe("failed");
    expect(wideDone.failure_reason).toContain("columns");
    const unclosedDone = await finished(tenant.secret, (await unclosed).id);
    expect(unclosedDone.status).toBe("completed");
    expect(unclosedDone.counts).toMatchObject({ rows: 1, failed: 1 });
    // __proto__ as a column is just an attribute name that is refused, not a prototype change.
    const proto = await json(await csvUpload(tenant.secret, "email,__proto__\na@example.com,x\n"));
    expect((await finished(tenant.secret, proto.id)).status).toMatch(/completed|failed/);
  });

  it("the same job run twice at once imports every row exactly once", async () => {
    const tenant = await seedTenant();
    const rows = Array.from({ length: 30 }, (_, i) => `e${i}@example.com`).join("\n");
    const id = newId("contactImport");
    const key = `imports/${tenant.tenantId}/${id}`;
    const csv = `email\n${rows}\n`;
    await env.MEDIA.put(key, csv);
    await env.DB.prepare(
      `INSERT INTO contact_imports (id, tenant_id, environment, status, format, source, tags, object_key, size_bytes,
        counts, errors, created_at, updated_at)
       VALUES (?, ?, 'test', 'pending', 'csv', 'body', '[]', ?, ?, '{"rows":0,"created":0,"updated":0,"skipped":0,"failed":0}', '[]', 0, 0)`,
    )
      .bind(id, tenant.tenantId, key, csv.length)
      .run();
    const job = {
      outboxId: newId("outbox"),
      kind: "contact_import" as const,
      subjectId: id,
      payload: {},
      priority: 0,
    };
    const ctx = () => ({ env, db: createDb(env.DB), now: new Date() });
    await Promise.all([
      runContactImportJob(ctx(), job, { maxRows: 4 }),
      runContactImportJob(ctx(), job, { maxRows: 4 }),
      runContactImportJob(ctx(), job, { maxRows: 7 }),
    ]);
    const done = await json(await call("GET", `/v1/contact-imports/${id}`, { key: tenant.secret }));
    expect(done.counts).toEqual({ rows: 30, created: 30, updated: 0, skipped: 0, failed: 0 });
    expect(await count("SELECT count(*) AS n FROM contacts WHERE tenant_id = ?", tenant.tenantId)).toBe(30);
    expect(await count("SELECT count(*) AS n FROM events WHERE subject_id = ?", id)).toBe(1);
  });
});
