import { DurableObject } from "cloudflare:workers";
import { createDb } from "../db/client";
import { allocateRates, type PacingState, refill, releasable, take } from "../domain/broadcast-pacing";
import type { Env, Environment } from "../env";
import { describeError } from "../errors";
import { emitProgressIfChanged, finishIfDone, recordPause } from "../queues/broadcast-lifecycle";
import { BATCH_SIZE, batchJob, loadBroadcast, runningRatesOf } from "../queues/broadcast-state";
import { sendJobs } from "../queues/jobs";

/**
 * Paces one broadcast (one object per broadcast id). The audience snapshot is numbered 0…end-1; on each
 * alarm the runner takes tokens from a bucket filled at the broadcast's share of the tenant's broadcast rate
 * and releases the next range of recipients as one `broadcast_batch` job. A released batch stays in
 * `inflight` until its job reports it done, so a lost queue message is released again after
 * INFLIGHT_LEASE_MS and a pause keeps it to release on resume; the job itself is idempotent.
 */

export interface RunnerConfig {
  broadcastId: string;
  tenantId: string;
  environment: Environment;
  priority: number;
  requestedPerMinute: number;
  /** One past the last seq of the snapshot. */
  end: number;
  paused: boolean;
}

interface Batch {
  from: number;
  to: number;
  releasedAt: number;
  /** Times it went out again because its job never reported back. */
  retries?: number;
}

interface RunnerState extends RunnerConfig {
  status: "running" | "paused" | "canceled" | "finished";
  nextSeq: number;
  nextBatch: number;
  inflight: Record<string, Batch>;
  bucket: PacingState;
  allocation: { perMinute: number; at: number };
  lastProgressAt: number;
  lastProgressKey: string;
}

/** A released batch whose job has not reported back in this long is released again (lost queue message). */
export const INFLIGHT_LEASE_MS = 60_000;
/** A batch released this many times without its job finishing is stuck (a job that keeps failing): the
 * broadcast pauses with `pause_reason: "batch_failing"` for a person to look at, resume or cancel. */
export const MAX_BATCH_RETRIES = 5;
/** The tenant-wide allocation is read again this often (D1: the tenant's running broadcasts). */
const ALLOCATION_TTL_MS = 5_000;
/** With everything released, the runner looks at leases and completion this often. */
const IDLE_TICK_MS = 2_000;
/** Everything released and done but messages still held (quiet hours): completion is checked this often. */
const HELD_TICK_MS = 30_000;
/** Progress webhook events at most this often. */
const PROGRESS_EVERY_MS = 10_000;

const CATCH_UP_MS = 5_000;
/**
 * Five seconds' worth (at least two jobs): an alarm that fires late releases what accrued instead of losing
 * it, so the rate holds over any minute; only a stall longer than that is not made up in a burst.
 */
const capacityOf = (perMinute: number) =>
  Math.max(2 * jobSizeOf(perMinute), Math.ceil((perMinute * CATCH_UP_MS) / 60_000));
/** Recipients per job: a quarter second's worth, at most BATCH_SIZE: small steps keep every minute on rate. */
const jobSizeOf = (perMinute: number) => Math.min(BATCH_SIZE, Math.max(1, Math.floor(perMinute / 240)));

export class BroadcastRunner extends DurableObject<Env> {
  private async load(): Promise<RunnerState | undefined> {
    return this.ctx.storage.get<RunnerState>("state");
  }

  private async save(state: RunnerState) {
    await this.ctx.storage.put("state", state);
  }

  /** Begins pacing (idempotent: a second call with the same broadcast changes nothing). */
  async start(config: RunnerConfig): Promise<void> {
    const existing = await this.load();
    if (existing) {
      if (existing.status === "running" && (await this.ctx.storage.getAlarm()) === null) {
        await this.ctx.storage.setAlarm(Date.now());
      }
      return;
    }
    const now = Date.now();
    await this.save({
      ...config,
      status: config.paused ? "paused" : "running",
      nextSeq: 0,
      nextBatch: 0,
      inflight: {},
      bucket: { tokens: 0, at: now },
      allocation: { perMinute: 0, at: 0 },
      lastProgressAt: 0,
      lastProgressKey: "",
    });
    if (!config.paused) await this.ctx.storage.setAlarm(now);
  }

  /** Stops releasing; what is in flight stays there and goes again on resume. */
  async pause(): Promise<void> {
    const state = await this.load();
    if (state?.status !== "running") return;
    state.status = "paused";
    await this.save(state);
    await this.ctx.storage.deleteAlarm();
  }

  /** Continues from the cursor; batches that were in flight at the pause are released again at once. */
  async resume(): Promise<void> {
    const state = await this.load();
    if (state?.status !== "paused") return;
    state.status = "running";
    for (const batch of Object.values(state.inflight)) batch.releasedAt = 0;
    state.bucket = { tokens: 0, at: Date.now() };
    await this.save(state);
    await this.ctx.storage.setAlarm(Date.now());
  }

  async cancel(): Promise<void> {
    const state = await this.load();
    if (!state) return;
    state.status = "canceled";
    state.inflight = {};
    await this.save(state);
    await this.ctx.storage.deleteAlarm();
  }

  /** A batch's job finished (sent, skipped or found the broadcast stopped for good). */
  async batchDone(batch: number): Promise<void> {
    const state = await this.load();
    if (!state || !(String(batch) in state.inflight)) return;
    delete state.inflight[String(batch)];
    await this.save(state);
    if (
      state.status === "running" &&
      state.nextSeq >= state.end &&
      Object.keys(state.inflight).length === 0
    ) {
      await this.ctx.storage.setAlarm(Date.now());
    }
  }

  /** The cron's check: a running runner always has an alarm (one lost with a crash is set again). */
  async poke(): Promise<"running" | "paused" | "canceled" | "finished" | "absent"> {
    const state = await this.load();
    if (!state) return "absent";
    if (state.status === "running" && (await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Date.now());
    }
    return state.status;
  }

  /** For tests and the bench: where the cursor is. */
  async snapshot(): Promise<Pick<
    RunnerState,
    "status" | "nextSeq" | "end" | "nextBatch" | "inflight" | "allocation"
  > | null> {
    const state = await this.load();
    if (!state) return null;
    const { status, nextSeq, end, nextBatch, inflight, allocation } = state;
    return { status, nextSeq, end, nextBatch, inflight, allocation };
  }

  override async alarm(): Promise<void> {
    const state = await this.load();
    if (state?.status !== "running") return;
    const now = Date.now();
    try {
      await this.tick(state, now);
    } catch (error) {
      // The state saved so far stands; try again shortly rather than stop pacing.
      console.error("broadcast runner tick failed", {
        broadcast: state.broadcastId,
        error: describeError(error),
      });
      await this.ctx.storage.setAlarm(now + IDLE_TICK_MS);
    }
  }

  /** Pauses the broadcast itself (D1 and its own state): a batch keeps failing. Resume starts its count anew. */
  private async stallPause(state: RunnerState, now: number) {
    const db = createDb(this.env.DB);
    const row = await loadBroadcast(db, state.broadcastId);
    if (row) await recordPause(this.env, db, row, "batch_failing", new Date(now));
    for (const batch of Object.values(state.inflight)) batch.retries = 0;
    state.status = "paused";
    await this.save(state);
  }

  private async tick(state: RunnerState, now: number) {
    if (now - state.allocation.at >= ALLOCATION_TTL_MS) {
      const { tenantRate, running } = await runningRatesOf(this.env, state);
      const shares = allocateRates(tenantRate, running);
      state.allocation = { perMinute: shares.get(state.broadcastId) ?? 0, at: now };
    }
    const perMinute = state.allocation.perMinute;
    state.bucket = refill(state.bucket, perMinute, now, capacityOf(perMinute));
    const released: { batch: number; range: Batch }[] = [];
    for (const [key, batch] of Object.entries(state.inflight)) {
      if (now - batch.releasedAt < INFLIGHT_LEASE_MS) continue;
      if ((batch.retries ?? 0) >= MAX_BATCH_RETRIES) {
        await this.stallPause(state, now);
        return;
      }
      batch.retries = (batch.retries ?? 0) + 1;
      batch.releasedAt = now;
      released.push({ batch: Number(key), range: batch });
    }
    const jobSize = jobSizeOf(perMinute);
    while (state.nextSeq < state.end) {
      const size = Math.min(jobSize, state.end - state.nextSeq);
      if (releasable(state.bucket) < size) break;
      const range = { from: state.nextSeq, to: state.nextSeq + size, releasedAt: now };
      state.inflight[String(state.nextBatch)] = range;
      released.push({ batch: state.nextBatch, range });
      state.nextBatch++;
      state.nextSeq = range.to;
      state.bucket = take(state.bucket, size);
    }
    // Durable before the jobs go: a crash after this re-releases them (idempotent), never skips them.
    await this.save(state);
    if (released.length > 0) {
      await sendJobs(
        this.env,
        released.map(({ batch, range }) => ({
          body: batchJob(state.broadcastId, state.priority, batch, range.from, range.to),
        })),
      );
    }
    if (now - state.lastProgressAt >= PROGRESS_EVERY_MS) {
      const key = await emitProgressIfChanged(
        this.env,
        state.broadcastId,
        state.lastProgressKey,
        new Date(now),
      );
      state.lastProgressAt = now;
      state.lastProgressKey = key;
      await this.save(state);
    }
    const inflight = Object.keys(state.inflight).length;
    if (state.nextSeq < state.end) {
      const size = Math.min(jobSize, state.end - state.nextSeq);
      const missing = Math.max(0, size - state.bucket.tokens);
      const waitMs = perMinute > 0 ? Math.ceil((missing * 60_000) / perMinute) : ALLOCATION_TTL_MS;
      await this.ctx.storage.setAlarm(now + Math.max(1, Math.min(waitMs, ALLOCATION_TTL_MS)));
    } else if (inflight > 0) {
      await this.ctx.storage.setAlarm(now + IDLE_TICK_MS);
    } else {
      const outcome = await finishIfDone(this.env, state.broadcastId, new Date(now));
      if (outcome === "done") {
        state.status = "finished";
        await this.save(state);
      } else {
        await this.ctx.storage.setAlarm(now + (outcome === "held" ? HELD_TICK_MS : IDLE_TICK_MS));
      }
    }
  }
}
