import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import type { SendJob } from "../../src/queues/jobs";
import { call, json, seedTenant } from "../helpers";
import { rowsOf } from "../routes/inbound-support";
import { until } from "./support";

/**
 * Background work whose retries ran out lands on the sends dead-letter queue. Nothing may then wait forever:
 * an import or a media fetch still `processing` ends `failed` with a reason (and the import's event), once,
 * however often the dead letter is delivered.
 */

async function deadLetter(job: SendJob) {
  const batch = createMessageBatch<SendJob>("sendwire-sends-dlq", [
    { id: `dlq-${job.subjectId}`, timestamp: new Date(), attempts: 1, body: job },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch, env);
  return getQueueResult(batch, ctx);
}

const job = (kind: SendJob["kind"], subjectId: string): SendJob => ({
  outboxId: `obx_dead_${subjectId}`,
  kind,
  subjectId,
  payload: {},
  priority: 0,
});

describe("promise: a job that kept failing ends its import or media fetch as failed, never stuck", () => {
  it("a dead-lettered import ends failed with a reason and one contact_import.failed event", async () => {
    const tenant = await seedTenant();
    const res = await call("POST", "/v1/contact-imports", {
      key: tenant.secret,
      rawBody: "external_id,name\nx1,One\n",
      headers: { "content-type": "text/csv" },
    });
    const created = await json(res);
    expect(res.status, JSON.stringify(created)).toBe(202);
    // Let the real job end, then put back the state a job that kept crashing leaves behind.
    await until(
      async () =>
        (await json(await call("GET", `/v1/contact-imports/${created.id}`, { key: tenant.secret }))).status,
      (status) => status === "completed",
      "import completed",
    );
    await env.DB.prepare("UPDATE contact_imports SET status = 'processing', completed_at = NULL WHERE id = ?")
      .bind(created.id)
      .run();
    vi.spyOn(console, "error").mockImplementation(() => {});
    for (let i = 0; i < 2; i++) {
      const result = await deadLetter(job("contact_import", created.id));
      expect(result.retryMessages).toEqual([]);
    }
    const shown = await json(await call("GET", `/v1/contact-imports/${created.id}`, { key: tenant.secret }));
    expect(shown.status).toBe("failed");
    expect(shown.failure_reason).toMatch(/kept failing/);
    const events = await rowsOf<{ n: number }>(
      "SELECT count(*) AS n FROM events WHERE subject_id = ? AND type = 'contact_import.failed'",
      created.id,
    );
    expect(events[0]?.n).toBe(1);
  });

  it("a dead-lettered media fetch ends failed with a reason", async () => {
    const tenant = await seedTenant();
    const id = `med_dead${crypto.randomUUID().replaceAll("-", "").slice(0, 18)}`;
    const now = Date.now();
    await env.DB.prepare(
      `INSERT INTO media (id, tenant_id, environment, status, created_at, updated_at)
       VALUES (?, ?, 'test', 'processing', ?, ?)`,
    )
      .bind(id, tenant.tenantId, now, now)
      .run();
    const result = await deadLetter(job("media_fetch", id));
    expect(result.retryMessages).toEqual([]);
    const shown = await json(await call("GET", `/v1/media/${id}`, { key: tenant.secret }));
    expect(shown).toMatchObject({ status: "failed" });
    expect(shown.failure_reason).toMatch(/kept failing/);
  });
});
