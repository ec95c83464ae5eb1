import { parse } from "csv-parse/sync";
import { and, eq, inArray, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { type ContactImportRow, contactImports, outbox } from "../db/schema";
import { csvRow, mapHeader, ndjsonRow, type RowOptions, type RowResult } from "../domain/contact-import";
import type { Env } from "../env";
import { decryptSecrets } from "../secrets";
import { addCounts, type ChunkRow, chunkWrites, planChunk, renderImport } from "../services/contact-upsert";
import { guardedFetch } from "../services/guarded-fetch";
import { putStream, UploadTooLargeError } from "../services/r2-upload";
import { commit, emitEvent, emitGuardedEvent, UPDATE_APPLIED } from "../webhooks/events";
import { deleteOutboxRow, enqueue, type JobOutcome, newOutboxRow, type SendJob } from "./jobs";
import type { LifecycleContext } from "./message-lifecycle";

/**
 * The `contact_import` job: reads the import's file from R2 in chunks, from `checkpoint_offset` (a byte
 * offset, always at a record boundary) with a range read, and applies each chunk in ONE D1 batch that also
 * moves the checkpoint. The batch starts with a guard (the checkpoint must still be where this chunk
 * started, else the batch fails and rolls back), so a redelivered job, a job run twice at once or a
 * worker that died between chunks resumes exactly: no row lost, none applied twice.
 *
 * One job works through chunks for up to `budgetMs`, then hands the rest to a fresh outbox row (+ queue
 * message); the outbox row stays until the import has ended, so the sweeper re-drives a lost job.
 * URL imports are first copied into R2 (streamed; the signed URL is dropped once copied).
 */

/** Rows per chunk (one D1 read batch + one write batch each). */
export const CHUNK_ROWS = 1000;
/** First range read of a chunk; doubled (up to MAX_RECORD_BYTES) while not one whole record fits. */
const WINDOW_BYTES = 256 * 1024;
const MAX_RECORD_BYTES = 4 * 1024 * 1024;
/** How long one job works before handing over to a new one (~50,000 rows in `npm run bench -- --only import`,
 * so its 100,000-row file goes through a hand-over; far inside a queue consumer's 30 s default CPU limit, since
 * the wall time includes D1 and R2 waits). */
const JOB_BUDGET_MS = 5_000;
export const MAX_BODY_IMPORT_BYTES = 10_000_000;
export const MAX_URL_IMPORT_BYTES = 100_000_000;
/** The first row errors kept on the import. */
export const MAX_REPORTED_ERRORS = 100;
/** Fetching the URL is retried (queue backoff) this many times when the failure may pass. */
const FETCH_ATTEMPTS = 5;

export interface ImportJobOptions {
  maxRows?: number;
  budgetMs?: number;
  windowBytes?: number;
  /** Stop after this many chunks (tests: "the worker died between chunks"). */
  maxChunks?: number;
}

export const importObjectKey = (tenantId: string, id: string) => `imports/${tenantId}/${id}`;

type Db = LifecycleContext["db"];

async function loadImport(db: Db, id: string): Promise<ContactImportRow | null> {
  const [row] = await db.select().from(contactImports).where(eq(contactImports.id, id)).limit(1);
  return row ?? null;
}

/** Ends the import as failed (once: a repeated call changes nothing) with its event. */
export async function failImport(
  ctx: LifecycleContext,
  row: ContactImportRow,
  reason: string,
  outboxId?: string,
) {
  const { db, now } = ctx;
  const failed: ContactImportRow = {
    ...row,
    status: "failed",
    failureReason: reason,
    completedAt: now,
    updatedAt: now,
  };
  await commit(ctx.env, db, [
    db
      .update(contactImports)
      .set({ status: "failed", failureReason: reason, completedAt: now, updatedAt: now })
      .where(and(eq(contactImports.id, row.id), inArray(contactImports.status, ["pending", "processing"]))),
    ...emitGuardedEvent(
      db,
      {
        tenantId: row.tenantId,
        environment: row.environment,
        type: "contact_import.failed",
        subjectId: row.id,
        data: renderImport(failed),
      },
      now,
      UPDATE_APPLIED,
    ),
    ...(outboxId ? [deleteOutboxRow(db, outboxId)] : []),
  ]);
}

// ------------------------------------------------------------------------------------------- reading

type Record_ = { row: number; result: RowResult };
type Chunk =
  | { ok: true; records: Record_[]; end: number; columns: string[] | null }
  | { ok: false; reason: string };

const BufferOf = (bytes: ArrayBuffer) =>
  (globalThis as unknown as { Buffer: { from(b: ArrayBuffer): Uint8Array } }).Buffer.from(bytes);

async function readRange(env: Env, row: ContactImportRow, offset: number, length: number) {
  if (length === 0) return new ArrayBuffer(0);
  const object = await env.MEDIA.get(row.objectKey ?? "", { range: { offset, length } });
  if (!object) return null;
  return object.arrayBuffer();
}

/** The next chunk of CSV records from `row.checkpointOffset` (the header first, at offset 0). */
async function readCsv(env: Env, row: ContactImportRow, options: Required<ImportJobOptions>): Promise<Chunk> {
  const size = row.sizeBytes ?? 0;
  const offset = row.checkpointOffset;
  const rowOptions: RowOptions = { defaultCountry: row.defaultCountry, tags: row.tags };
  let window = options.windowBytes;
  for (;;) {
    const length = Math.min(window, size - offset);
    const eof = offset + length >= size;
    const bytes = await readRange(env, row, offset, length);
    if (!bytes) return { ok: false, reason: "The import file is gone from storage." };
    const needHeader = row.columns === null;
    const limit = options.maxRows + 1 + (needHeader ? 1 : 0);
    let unclosed = false;
    const parsed = (bytes.byteLength === 0
      ? []
      : parse(BufferOf(bytes), {
          bom: offset === 0,
          info: true,
          relax_quotes: true,
          relax_column_count: true,
          skip_empty_lines: true,
          skip_records_with_error: true,
          on_skip: () => {
            unclosed = true;
          },
          to: limit,
        })) as unknown as Array<{ record: string[]; info: { bytes: number } }>;
    // Only whole records count: the last one of a window that did not reach the end may be cut short.
    const complete = parsed.length === limit || !eof ? parsed.slice(0, -1) : parsed;
    if (complete.length === 0 && !eof) {
      if (window >= MAX_RECORD_BYTES) {
        return {
          ok: false,
          reason: `A row starting at byte ${offset} is longer than ${MAX_RECORD_BYTES} bytes (a quote that is never closed?).`,
        };
      }
      window *= 2;
      continue;
    }
    const last = complete.at(-1);
    const end = eof && complete.length === parsed.length ? size : offset + (last?.info.bytes ?? 0);
    let columns = row.columns;
    let records = complete.map((r) => r.record);
    if (needHeader) {
      const header = records[0];
      if (!header) return { ok: false, reason: "The file is empty: the first line must name the columns." };
      const mapped = mapHeader(header);
      if (!mapped.ok) return { ok: false, reason: mapped.reason };
      columns = mapped.columns;
      records = records.slice(1);
    }
    const out: Record_[] = records.map((cells, i) => ({
      row: row.checkpointRow + i + 1,
      result: csvRow(cells, columns ?? [], rowOptions),
    }));
    if (unclosed && eof && end === size) {
      out.push({
        row: row.checkpointRow + out.length + 1,
        result: {
          kind: "invalid",
          message:
            "A quoted field opened in this row is never closed; the rest of the file was read as part of it.",
        },
      });
    }
    return { ok: true, records: out, end, columns };
  }
}

/** The next chunk of NDJSON lines (blank lines skipped, not counted). */
async function readNdjson(
  env: Env,
  row: ContactImportRow,
  options: Required<ImportJobOptions>,
): Promise<Chunk> {
  const size = row.sizeBytes ?? 0;
  const offset = row.checkpointOffset;
  const rowOptions: RowOptions = { defaultCountry: row.defaultCountry, tags: row.tags };
  const decoder = new TextDecoder();
  let window = options.windowBytes;
  for (;;) {
    const length = Math.min(window, size - offset);
    const eof = offset + length >= size;
    const buffer = await readRange(env, row, offset, length);
    if (!buffer) return { ok: false, reason: "The import file is gone from storage." };
    const bytes = new Uint8Array(buffer);
    const lines: Array<{ start: number; end: number }> = [];
    let start = offset === 0 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    let consumed = 0;
    let nonEmpty = 0;
    for (let i = start; i < bytes.length && nonEmpty < options.maxRows; i++) {
      if (bytes[i] !== 0x0a) continue;
      if (i > start) nonEmpty++;
      lines.push({ start, end: i });
      start = i + 1;
      consumed = start;
    }
    if (eof && nonEmpty < options.maxRows && start < bytes.length) {
      lines.push({ start, end: bytes.length });
      consumed = bytes.length;
    }
    if (lines.length === 0 && !eof) {
      if (window >= MAX_RECORD_BYTES) {
        return {
          ok: false,
          reason: `A line starting at byte ${offset} is longer than ${MAX_RECORD_BYTES} bytes.`,
        };
      }
      window *= 2;
      continue;
    }
    const records: Record_[] = [];
    for (const line of lines) {
      const text = decoder.decode(bytes.subarray(line.start, line.end)).trim();
      if (text === "") continue;
      let value: unknown;
      let result: RowResult;
      try {
        value = JSON.parse(text);
        result = ndjsonRow(value, rowOptions);
      } catch {
        result = { kind: "invalid", message: "This line is not valid JSON." };
      }
      records.push({ row: row.checkpointRow + records.length + 1, result });
    }
    return {
      ok: true,
      records,
      end: eof && consumed === bytes.length ? size : offset + consumed,
      columns: null,
    };
  }
}

// --------------------------------------------------------------------------------------------- the job

/** One chunk read, matched and applied atomically with its checkpoint. Returns the import after it. */
async function applyChunk(
  ctx: LifecycleContext,
  row: ContactImportRow,
  outboxId: string,
  options: Required<ImportJobOptions>,
): Promise<
  { kind: "next"; row: ContactImportRow } | { kind: "done" } | { kind: "lost" } | { kind: "failed" }
> {
  const { db } = ctx;
  const chunk =
    row.format === "csv" ? await readCsv(ctx.env, row, options) : await readNdjson(ctx.env, row, options);
  if (!chunk.ok) {
    await failImport(ctx, row, chunk.reason, outboxId);
    return { kind: "failed" };
  }
  const now = new Date();
  const scope = { tenantId: row.tenantId, environment: row.environment };
  const contactsRows: ChunkRow[] = [];
  const invalid: Array<{ row: number; message: string }> = [];
  let skipped = 0;
  for (const { row: n, result } of chunk.records) {
    if (result.kind === "contact") contactsRows.push({ row: n, contact: result.contact });
    else if (result.kind === "skip") skipped++;
    else invalid.push({ row: n, message: result.message });
  }
  const plan = await planChunk(ctx.env.DB, scope, contactsRows);
  const { counts, errors } = addCounts(
    row.counts,
    row.errors,
    {
      rows: chunk.records.length,
      created: plan.created,
      updated: plan.updated,
      skipped,
      failed: [...invalid, ...plan.failed],
    },
    MAX_REPORTED_ERRORS,
  );
  const done = chunk.end >= (row.sizeBytes ?? 0);
  const after: ContactImportRow = {
    ...row,
    status: done ? "completed" : "processing",
    checkpointOffset: chunk.end,
    checkpointRow: row.checkpointRow + chunk.records.length,
    columns: chunk.columns,
    counts,
    errors,
    completedAt: done ? now : null,
    updatedAt: now,
  };
  const items: BatchItem<"sqlite">[] = [
    db
      .update(contactImports)
      .set({
        checkpointOffset: after.checkpointOffset,
        checkpointRow: after.checkpointRow,
        columns: after.columns,
        counts,
        errors,
        status: after.status,
        completedAt: after.completedAt,
        updatedAt: now,
      })
      .where(
        and(
          eq(contactImports.id, row.id),
          eq(contactImports.status, "processing"),
          eq(contactImports.checkpointOffset, row.checkpointOffset),
        ),
      ),
    // Another run applied this chunk first: fail (and so roll back) the whole batch.
    db
      .select({ guard: sql`CASE WHEN changes() = 1 THEN 1 ELSE json('checkpoint moved ' || changes()) END` })
      .from(contactImports)
      .where(eq(contactImports.id, row.id)),
    ...chunkWrites(db, scope, plan, row.listId, now),
  ];
  if (done) {
    items.push(
      ...emitEvent(
        db,
        {
          tenantId: row.tenantId,
          environment: row.environment,
          type: "contact_import.completed",
          subjectId: row.id,
          data: renderImport(after),
        },
        now,
      ),
      deleteOutboxRow(db, outboxId),
    );
  }
  try {
    await commit(ctx.env, db, items as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  } catch (error) {
    const current = await loadImport(db, row.id);
    if (current && (current.checkpointOffset !== row.checkpointOffset || current.status !== "processing")) {
      return { kind: "lost" };
    }
    throw error;
  }
  return done ? { kind: "done" } : { kind: "next", row: after };
}

/** URL imports: the file is streamed into R2 first (through the webhook SSRF guard), then read like an upload. */
async function copyFromUrl(
  ctx: LifecycleContext,
  row: ContactImportRow,
  job: SendJob,
): Promise<JobOutcome | ContactImportRow> {
  const { db, env } = ctx;
  if (!row.sourceUrlCiphertext) {
    await failImport(ctx, row, "The import has no file and no source URL.", job.outboxId);
    return { ack: true };
  }
  const { url } = await decryptSecrets(row.sourceUrlCiphertext, env.SECRETS_ENCRYPTION_KEY, row.tenantId);
  const fetched = await guardedFetch(env, url ?? "", { maxBytes: MAX_URL_IMPORT_BYTES, timeoutMs: 60_000 });
  if (!fetched.ok) {
    const [lease] = await db
      .select({ attempts: outbox.attempts })
      .from(outbox)
      .where(eq(outbox.id, job.outboxId));
    if (fetched.retryable && (lease?.attempts ?? 0) < FETCH_ATTEMPTS) return { retryAfterSeconds: 30 };
    await failImport(ctx, row, `The file could not be fetched: ${fetched.reason}`, job.outboxId);
    return { ack: true };
  }
  const key = importObjectKey(row.tenantId, row.id);
  let size: number;
  try {
    size = await putStream(env.MEDIA, key, fetched.body, fetched.contentLength, MAX_URL_IMPORT_BYTES);
  } catch (error) {
    const reason =
      error instanceof UploadTooLargeError
        ? `The file is larger than ${MAX_URL_IMPORT_BYTES} bytes (100 MB).`
        : `The file could not be read: ${error instanceof Error ? error.message.slice(0, 200) : "the transfer failed"}.`;
    await failImport(ctx, row, reason, job.outboxId);
    return { ack: true };
  }
  const now = new Date();
  await db
    .update(contactImports)
    .set({ objectKey: key, sizeBytes: size, sourceUrlCiphertext: null, status: "processing", updatedAt: now })
    .where(and(eq(contactImports.id, row.id), eq(contactImports.status, "pending")));
  return { ...row, objectKey: key, sizeBytes: size, sourceUrlCiphertext: null, status: "processing" };
}

export async function runContactImportJob(
  ctx: LifecycleContext,
  job: SendJob,
  options: ImportJobOptions = {},
): Promise<JobOutcome> {
  const opts: Required<ImportJobOptions> = {
    maxRows: options.maxRows ?? CHUNK_ROWS,
    budgetMs: options.budgetMs ?? JOB_BUDGET_MS,
    windowBytes: options.windowBytes ?? WINDOW_BYTES,
    maxChunks: options.maxChunks ?? Number.POSITIVE_INFINITY,
  };
  const { db } = ctx;
  let row = await loadImport(db, job.subjectId);
  if (!row || row.status === "completed" || row.status === "failed") {
    await deleteOutboxRow(db, job.outboxId);
    return { ack: true };
  }
  if (row.status === "pending") {
    if (row.objectKey === null) {
      const copied = await copyFromUrl(ctx, row, job);
      if (!("id" in copied)) return copied;
      row = copied;
    } else {
      await db
        .update(contactImports)
        .set({ status: "processing", updatedAt: new Date() })
        .where(and(eq(contactImports.id, row.id), eq(contactImports.status, "pending")));
      row = { ...row, status: "processing" };
    }
  }
  const deadline = Date.now() + opts.budgetMs;
  for (let chunks = 0; ; chunks++) {
    if (chunks >= opts.maxChunks) return { ack: true };
    if (Date.now() > deadline) {
      // Hand the rest to a fresh job; this row goes in the same batch, so exactly one stays.
      const now = new Date();
      const next = newOutboxRow("contact_import", row.id, {}, now, now, 0);
      await db.batch([db.insert(outbox).values(next), deleteOutboxRow(db, job.outboxId)]);
      await enqueue(ctx.env, [next], now);
      return { ack: true };
    }
    const step = await applyChunk(ctx, row, job.outboxId, opts);
    if (step.kind !== "next") return { ack: true };
    row = step.row;
  }
}
