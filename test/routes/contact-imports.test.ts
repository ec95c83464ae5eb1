import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { newId } from "../../src/ids";
import { runContactImportJob } from "../../src/queues/contact-import";
import { fakeReceiver } from "../fakes/receiver-client";
import { call, expectError, json, type SeededKey, seedTenant } from "../helpers";
import { rowsOf } from "./inbound-support";

function upload(key: string, body: string, query = "", contentType = "text/csv") {
  return call("POST", `/v1/contact-imports${query}`, {
    key,
    rawBody: body,
    headers: { "content-type": contentType },
  });
}

function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error("expected a value");
  return value;
}

/** Polls the import until it has ended (bounded: 200 tries). */
async function finished(key: string, id: string) {
  let last: any;
  for (let i = 0; i < 200; i++) {
    last = await json(await call("GET", `/v1/contact-imports/${id}`, { key }));
    if (last.status === "completed" || last.status === "failed") return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`import ${id} did not end: ${JSON.stringify(last)}`);
}

async function importCsv(tenant: SeededKey, csv: string, query = "", contentType = "text/csv") {
  const res = await upload(tenant.secret, csv, query, contentType);
  const body = await json(res);
  expect(res.status, JSON.stringify(body)).toBe(202);
  expect(body).toMatchObject({ object: "contact_import", status: "pending" });
  expect(body.id).toMatch(/^imp_/);
  return finished(tenant.secret, body.id);
}

const contactsOf = (tenantId: string) =>
  rowsOf<{ id: string; external_id: string | null; name: string | null; tags: string; attributes: string }>(
    "SELECT id, external_id, name, tags, attributes FROM contacts WHERE tenant_id = ? ORDER BY id",
    tenantId,
  );
const addressesOf = (tenantId: string) =>
  rowsOf<{
    channel: string;
    address: string;
    contact_id: string;
    country: string | null;
    line_type: string | null;
  }>(
    "SELECT channel, address, contact_id, country, line_type FROM contact_addresses WHERE tenant_id = ? ORDER BY channel, address",
    tenantId,
  );

describe("POST /v1/contact-imports (CSV body)", () => {
  it("reads quotes, embedded newlines, BOM, CRLF, `;` tags, blank lines, unknown columns and any header case", async () => {
    const tenant = await seedTenant();
    const csv =
      "\ufeffPhone,EMAIL,Name,External_ID,Tags,Plan,Orders,Zip,Notes\r\n" +
      '+5511987654321,maria@Example.com,"Silva, Maria",u1,"vip; Newsletter",pro,12,01310,"line one\r\nline two"\r\n' +
      "\r\n" +
      ",joao@example.com,João,u2,,basic,3,,\r\n" +
      "\r\n" +
      '+14155552671,,"He said ""hi""",u3,a;b;a,,true,,\r\n';
    const done = await importCsv(tenant, csv, "?tags=import-1,Batch");
    expect(done.status).toBe("completed");
    expect(done.counts).toEqual({ rows: 3, created: 3, updated: 0, skipped: 0, failed: 0 });
    expect(done.errors).toEqual([]);
    expect(done.completed_at).not.toBeNull();
    const contacts = await contactsOf(tenant.tenantId);
    const byExt = new Map(contacts.map((c) => [c.external_id, c]));
    const maria = must(byExt.get("u1"));
    expect(maria.name).toBe("Silva, Maria");
    expect(JSON.parse(maria.tags)).toEqual(["import-1", "batch", "vip", "newsletter"]);
    expect(JSON.parse(maria.attributes)).toEqual({
      plan: "pro",
      orders: 12,
      zip: "01310",
      notes: "line one\r\nline two",
    });
    expect(byExt.get("u3")?.name).toBe('He said "hi"');
    expect(JSON.parse(must(byExt.get("u3")).tags)).toEqual(["import-1", "batch", "a", "b"]);
    expect(JSON.parse(must(byExt.get("u3")).attributes)).toEqual({ orders: true });
    const addresses = await addressesOf(tenant.tenantId);
    expect(addresses.filter((a) => a.contact_id === maria.id)).toEqual([
      {
        channel: "email",
        address: "maria@example.com",
        contact_id: maria.id,
        country: null,
        line_type: null,
      },
      { channel: "sms", address: "+5511987654321", contact_id: maria.id, country: "BR", line_type: "mobile" },
      {
        channel: "whatsapp",
        address: "+5511987654321",
        contact_id: maria.id,
        country: "BR",
        line_type: "mobile",
      },
    ]);
    const us = addresses.find((a) => a.address === "+14155552671" && a.channel === "sms");
    expect(us).toMatchObject({ country: "US", line_type: "mobile_or_landline" });
  });

  it("reports invalid rows with their row numbers, skips rows naming no one, and goes on", async () => {
    const tenant = await seedTenant();
    const csv =
      "phone,email,name\n" +
      "+5511987654321,,ok one\n" +
      "+55 11 9,,too short\n" +
      ",not-an-email,bad email\n" +
      ",,nobody\n" +
      "+5511987654322,,ok two\n";
    const done = await importCsv(tenant, csv);
    expect(done.counts).toEqual({ rows: 5, created: 2, updated: 0, skipped: 1, failed: 2 });
    expect(done.errors.map((e: any) => e.row)).toEqual([2, 3]);
    expect(done.errors[0].message).toMatch(/^phone: /);
    expect(done.errors[1].message).toMatch(/^email: /);
    expect(await contactsOf(tenant.tenantId)).toHaveLength(2);
  });

  it("reads national numbers with default_country, and a country column overrides it", async () => {
    const tenant = await seedTenant();
    const csv = "phone,country,external_id\n(11) 98765-4321,,n1\n020 7183 8750,GB,n2\n";
    const done = await importCsv(tenant, csv, "?default_country=br");
    expect(done.counts).toMatchObject({ created: 2, failed: 0 });
    expect(done.default_country).toBe("BR");
    const numbers = (await addressesOf(tenant.tenantId)).filter((a) => a.channel === "sms");
    expect(numbers.map((a) => [a.address, a.country, a.line_type])).toEqual([
      ["+442071838750", "GB", "landline"],
      ["+5511987654321", "BR", "mobile"],
    ]);
  });

  it("a re-import of the same file creates nothing new; a duplicate row updates the contact an earlier row made", async () => {
    const tenant = await seedTenant();
    const csv =
      "phone,email,name,external_id,tags,city\n" +
      "+5511987654321,a@example.com,Ana,e1,x,Recife\n" +
      "+5511987654322,b@example.com,Bia,,y,\n" +
      "+5511987654321,,Ana Maria,,z,Olinda\n";
    const first = await importCsv(tenant, csv);
    expect(first.counts).toEqual({ rows: 3, created: 2, updated: 1, skipped: 0, failed: 0 });
    const before = await contactsOf(tenant.tenantId);
    expect(before).toHaveLength(2);
    const ana = must(before.find((c) => c.external_id === "e1"));
    expect(ana.name).toBe("Ana Maria");
    expect(JSON.parse(ana.tags)).toEqual(["x", "z"]);
    expect(JSON.parse(ana.attributes)).toEqual({ city: "Olinda" });

    const second = await importCsv(tenant, csv);
    expect(second.counts).toEqual({ rows: 3, created: 0, updated: 3, skipped: 0, failed: 0 });
    const after = await contactsOf(tenant.tenantId);
    expect(after.map((c) => c.id)).toEqual(before.map((c) => c.id));
    expect(await addressesOf(tenant.tenantId)).toHaveLength(6); // 2 people × (whatsapp, sms, email)
  });

  it("matches existing contacts by external_id and by address, and refuses a row naming two people", async () => {
    const tenant = await seedTenant();
    const made = await json(
      await call("POST", "/v1/contacts", {
        key: tenant.secret,
        body: {
          external_id: "crm-1",
          addresses: [{ channel: "email", address: "old@example.com" }],
          tags: ["old"],
        },
      }),
    );
    await call("POST", "/v1/contacts", {
      key: tenant.secret,
      body: { addresses: [{ channel: "sms", address: "+5511987654399" }] },
    });
    const csv =
      "external_id,phone,email,tags\n" +
      "crm-1,+5511987654300,,new\n" + // by external_id: gains a phone
      ",,old@example.com,again\n" + // by address
      "crm-1,+5511987654399,,\n"; // the phone belongs to someone else
    const done = await importCsv(tenant, csv);
    expect(done.counts).toEqual({ rows: 3, created: 0, updated: 2, skipped: 0, failed: 1 });
    expect(done.errors[0]).toMatchObject({ row: 3 });
    expect(done.errors[0].message).toContain("+5511987654399");
    const contact = await json(await call("GET", `/v1/contacts/${made.id}`, { key: tenant.secret }));
    expect(contact.tags).toEqual(["old", "new", "again"]);
    expect(contact.addresses.map((a: any) => a.address)).toEqual([
      "+5511987654300",
      "+5511987654300",
      "old@example.com",
    ]);
  });

  it("never gives a contact more than 10 addresses, as the API does", async () => {
    const tenant = await seedTenant();
    const nine = Array.from({ length: 9 }, (_, i) => ({ channel: "sms", address: `+551198765410${i}` }));
    const made = await json(
      await call("POST", "/v1/contacts", {
        key: tenant.secret,
        body: { external_id: "full", addresses: nine },
      }),
    );
    expect(made.addresses).toHaveLength(9);
    const csv =
      "external_id,phone,email\n" +
      "full,+5511987654200,\n" + // a phone is two addresses (whatsapp and sms): 11, refused
      "full,,full@example.com\n"; // one more: 10, fine
    const done = await importCsv(tenant, csv);
    expect(done.counts).toEqual({ rows: 2, created: 0, updated: 1, skipped: 0, failed: 1 });
    expect(done.errors).toEqual([{ row: 1, message: expect.stringContaining("more than 10 addresses") }]);
    const contact = await json(await call("GET", `/v1/contacts/${made.id}`, { key: tenant.secret }));
    expect(contact.addresses).toHaveLength(10);
    expect(contact.addresses.map((a: any) => a.address)).not.toContain("+5511987654200");
  });

  it("adds every contact to list_id; a list of another tenant is a 404", async () => {
    const tenant = await seedTenant();
    const other = await seedTenant();
    const now = Date.now();
    const listId = newId("list");
    const foreignList = newId("list");
    await env.DB.batch([
      env.DB.prepare(
        "INSERT INTO lists (id, tenant_id, environment, name, created_at, updated_at) VALUES (?, ?, 'test', 'l', ?, ?)",
      ).bind(listId, tenant.tenantId, now, now),
      env.DB.prepare(
        "INSERT INTO lists (id, tenant_id, environment, name, created_at, updated_at) VALUES (?, ?, 'test', 'l', ?, ?)",
      ).bind(foreignList, other.tenantId, now, now),
    ]);
    const csv = "phone\n+5511987654321\n+5511987654322\n+5511987654321\n";
    const done = await importCsv(tenant, csv, `?list_id=${listId}`);
    expect(done.list_id).toBe(listId);
    const members = await rowsOf("SELECT contact_id FROM list_members WHERE list_id = ?", listId);
    expect(members).toHaveLength(2);
    await expectError(await upload(tenant.secret, csv, `?list_id=${foreignList}`), 404, "resource_not_found");
  });

  it("imports NDJSON", async () => {
    const tenant = await seedTenant();
    const ndjson =
      '{"phone":"+5511987654321","name":"Ana","tags":["a","B"],"attributes":{"plan":"pro"},"score":7}\n' +
      "\n" +
      "not json\n" +
      '{"email":"c@example.com","tags":"x;y"}';
    const done = await importCsv(tenant, ndjson, "", "application/x-ndjson");
    expect(done.format).toBe("ndjson");
    expect(done.counts).toEqual({ rows: 3, created: 2, updated: 0, skipped: 0, failed: 1 });
    expect(done.errors).toEqual([{ row: 2, message: "This line is not valid JSON." }]);
    const ana = must((await contactsOf(tenant.tenantId)).find((c) => c.name === "Ana"));
    expect(JSON.parse(ana.tags)).toEqual(["a", "b"]);
    expect(JSON.parse(ana.attributes)).toEqual({ plan: "pro", score: 7 });
  });

  it("fails the import, with a reason, when the header names no phone, email or external_id", async () => {
    const tenant = await seedTenant();
    const done = await importCsv(tenant, "name,city\nAna,Recife\n");
    expect(done.status).toBe("failed");
    expect(done.failure_reason).toMatch(/no phone, email or external_id column/);
  });

  it("fires contact_import.completed with the final counts", async () => {
    const tenant = await seedTenant();
    const done = await importCsv(tenant, "email\na@example.com\n");
    const events = await rowsOf<{ type: string; data: string }>(
      "SELECT type, data FROM events WHERE subject_id = ?",
      done.id,
    );
    expect(events.map((e) => e.type)).toEqual(["contact_import.completed"]);
    expect(JSON.parse(must(events[0]).data)).toMatchObject({
      id: done.id,
      status: "completed",
      counts: { created: 1 },
    });
  });

  it("answers 415 for other content types and 413 past 10 MB", async () => {
    const tenant = await seedTenant();
    await expectError(
      await upload(tenant.secret, "a,b", "", "application/pdf"),
      415,
      "unsupported_media_type",
    );
    const big = `phone\n${"+5511987654321\n".repeat(Math.ceil(10_000_001 / 15))}`;
    await expectError(await upload(tenant.secret, big), 413, "payload_too_large");
    expect(await rowsOf("SELECT id FROM contact_imports WHERE tenant_id = ?", tenant.tenantId)).toEqual([]);
  });

  it("lists imports newest first and 404s an unknown id", async () => {
    const tenant = await seedTenant();
    const a = await importCsv(tenant, "email\na@example.com\n");
    const b = await importCsv(tenant, "email\nb@example.com\n");
    const page = await json(await call("GET", "/v1/contact-imports?limit=1", { key: tenant.secret }));
    expect(page.data.map((i: any) => i.id)).toEqual([b.id]);
    const next = await json(
      await call("GET", `/v1/contact-imports?limit=1&cursor=${page.next_cursor}`, { key: tenant.secret }),
    );
    expect(next.data.map((i: any) => i.id)).toEqual([a.id]);
    await expectError(
      await call("GET", `/v1/contact-imports/${newId("contactImport")}`, { key: tenant.secret }),
      404,
      "resource_not_found",
    );
  });
});

describe("URL imports", () => {
  it("fetches a presigned URL (local receiver, ALLOW_LOCAL_WEBHOOKS) and shows only its host", async () => {
    const tenant = await seedTenant();
    const receiver = fakeReceiver();
    const sink = await receiver.createSink();
    await receiver.script(sink.id, [
      { status: 200, headers: { "content-type": "text/csv" }, body: "phone,name\n+5511987654321,Ana\n" },
    ]);
    const url = `${sink.url}?X-Amz-Signature=secret-signature`;
    const res = await call("POST", "/v1/contact-imports", { key: tenant.secret, body: { url } });
    const created = await json(res);
    expect(res.status).toBe(202);
    expect(created.source).toBe("url");
    expect(JSON.stringify(created)).not.toContain("secret-signature");
    expect(created.source_host).toBe(new URL(sink.url).host);
    const done = await finished(tenant.secret, created.id);
    expect(done.counts).toMatchObject({ rows: 1, created: 1 });
    const [row] = await rowsOf<{ source_url_ciphertext: string | null }>(
      "SELECT source_url_ciphertext FROM contact_imports WHERE id = ?",
      created.id,
    );
    expect(row?.source_url_ciphertext).toBeNull();
  });

  it("fails the import when the URL answers an error", async () => {
    const tenant = await seedTenant();
    const receiver = fakeReceiver();
    const sink = await receiver.createSink();
    await receiver.script(sink.id, [{ status: 403, body: "expired" }]);
    const created = await json(
      await call("POST", "/v1/contact-imports", { key: tenant.secret, body: { url: sink.url } }),
    );
    const done = await finished(tenant.secret, created.id);
    expect(done.status).toBe("failed");
    expect(done.failure_reason).toContain("HTTP 403");
    const events = await rowsOf<{ type: string }>("SELECT type FROM events WHERE subject_id = ?", created.id);
    expect(events.map((e) => e.type)).toEqual(["contact_import.failed"]);
  });
});

describe("checkpointed chunks", () => {
  /** An import written straight to R2 + D1 with no queued job, so only this test runs it. */
  async function stagedImport(tenant: SeededKey, csv: string) {
    const id = newId("contactImport");
    const key = `imports/${tenant.tenantId}/${id}`;
    await env.MEDIA.put(key, csv);
    const now = Date.now();
    await env.DB.prepare(
      `INSERT INTO contact_imports (id, tenant_id, environment, status, format, source, tags, object_key, size_bytes,
        counts, errors, created_at, updated_at)
       VALUES (?, ?, 'test', 'pending', 'csv', 'body', '[]', ?, ?, ?, '[]', ?, ?)`,
    )
      .bind(
        id,
        tenant.tenantId,
        key,
        new TextEncoder().encode(csv).byteLength,
        JSON.stringify({ rows: 0, created: 0, updated: 0, skipped: 0, failed: 0 }),
        now,
        now,
      )
      .run();
    const job = {
      outboxId: newId("outbox"),
      kind: "contact_import" as const,
      subjectId: id,
      payload: {},
      priority: 0,
    };
    const ctx = () => ({ env, db: createDb(env.DB), now: new Date() });
    return { id, job, ctx };
  }

  const csv =
    "external_id,phone,name\n" +
    Array.from({ length: 9 }, (_, i) => `x${i},+55119876543${String(i).padStart(2, "0")},"Name\n${i}"`).join(
      "\r\n",
    ) +
    "\r\n,,\r\nx0,,again\r\n";

  it("hands the rest to a fresh queued job when its time budget runs out", async () => {
    const tenant = await seedTenant();
    const { id, job, ctx } = await stagedImport(tenant, csv);
    await env.DB.prepare(
      "INSERT INTO outbox (id, kind, subject_id, payload, priority, available_at, lease_until, attempts, created_at) VALUES (?, 'contact_import', ?, '{}', 0, 0, 0, 0, 0)",
    )
      .bind(job.outboxId, id)
      .run();
    await runContactImportJob(ctx(), job, { maxRows: 2, budgetMs: 0 });
    const jobs = await rowsOf<{ id: string }>("SELECT id FROM outbox WHERE subject_id = ?", id);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.id).not.toBe(job.outboxId);
    const done = await finished(tenant.secret, id);
    expect(done.counts).toEqual({ rows: 11, created: 9, updated: 1, skipped: 1, failed: 0 });
    expect(await rowsOf("SELECT id FROM outbox WHERE subject_id = ?", id)).toEqual([]);
  });

  it("resumes exactly after the worker died between chunks, and a job delivered twice at once applies each row once", async () => {
    const tenant = await seedTenant();
    const { id, job, ctx } = await stagedImport(tenant, csv);
    // One chunk of 2 rows, then the worker "dies".
    await runContactImportJob(ctx(), job, { maxRows: 2, maxChunks: 1 });
    const [mid] = await rowsOf<{ checkpoint_row: number; status: string }>(
      "SELECT checkpoint_row, status FROM contact_imports WHERE id = ?",
      id,
    );
    expect(mid).toEqual({ checkpoint_row: 2, status: "processing" });
    expect(await contactsOf(tenant.tenantId)).toHaveLength(2);
    // The same job, redelivered twice at once, with small chunks and windows so the runs interleave.
    await Promise.all([
      runContactImportJob(ctx(), job, { maxRows: 2, windowBytes: 64 }),
      runContactImportJob(ctx(), job, { maxRows: 3, windowBytes: 64 }),
    ]);
    const done = await json(await call("GET", `/v1/contact-imports/${id}`, { key: tenant.secret }));
    expect(done.status).toBe("completed");
    expect(done.counts).toEqual({ rows: 11, created: 9, updated: 1, skipped: 1, failed: 0 });
    const contacts = await contactsOf(tenant.tenantId);
    expect(contacts).toHaveLength(9);
    expect(contacts.find((c) => c.external_id === "x3")?.name).toBe("Name\n3");
    expect(contacts.find((c) => c.external_id === "x0")?.name).toBe("again");
    expect(await rowsOf("SELECT type FROM events WHERE subject_id = ?", id)).toHaveLength(1);
    // A late redelivery after completion changes nothing.
    await runContactImportJob(ctx(), job);
    expect(await contactsOf(tenant.tenantId)).toHaveLength(9);
  });
});
