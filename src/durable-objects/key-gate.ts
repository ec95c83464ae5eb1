import { DurableObject } from "cloudflare:workers";
import {
  decide,
  EMPTY_RATE_LIMIT_STATE,
  type RateLimitConfig,
  type RateLimitDecision,
  type RateLimitState,
} from "../domain/rate-limit";
import type { Env } from "../env";

/** Finished idempotent responses are replayed for 7 days. */
export const IDEMPOTENCY_TTL_MS = 7 * 86_400_000;
/** A claim whose request never completed (the worker died) can be taken over after this long. */
export const IN_FLIGHT_LEASE_MS = 60_000;
/** How long a provider's acceptance recorded here (because D1 failed) is kept for a retry to find. */
export const DISPATCH_RECORD_TTL_MS = 7 * 86_400_000;

export interface StoredResponse {
  status: number;
  body: string;
}

export interface GateRequest {
  limits: RateLimitConfig;
  idempotency?: { key: string; fingerprint: string };
}

export type RateLimitSnapshot = Pick<RateLimitDecision, "limit" | "remaining" | "resetSeconds">;

export type GateAnswer =
  | { outcome: "proceed"; rateLimit: RateLimitSnapshot; claimed: boolean }
  | { outcome: "rate_limited"; rateLimit: RateLimitSnapshot; retryAfterSeconds: number }
  | { outcome: "replay"; rateLimit: RateLimitSnapshot; response: StoredResponse }
  | { outcome: "mismatch"; rateLimit: RateLimitSnapshot }
  | { outcome: "in_flight"; rateLimit: RateLimitSnapshot };

interface IdempotencyRow extends Record<string, SqlStorageValue> {
  fingerprint: string;
  state: "in_flight" | "done";
  status: number | null;
  body: string | null;
  expires_at: number;
}

function snapshot(decision: RateLimitDecision): RateLimitSnapshot {
  return { limit: decision.limit, remaining: decision.remaining, resetSeconds: decision.resetSeconds };
}

/**
 * One instance per API key id (stable across rotation). Rate limit and idempotency are decided together in
 * one single-threaded call (`admit`), so concurrent requests with one key can never both win a claim, and
 * a replay or refusal never consumes quota. State lives in the object's own SQLite storage.
 */
export class KeyGate extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private rateState: RateLimitState;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS idempotency (
      key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, state TEXT NOT NULL,
      status INTEGER, body TEXT, expires_at INTEGER NOT NULL)`);
    this.sql.exec("CREATE INDEX IF NOT EXISTS idempotency_expires_at ON idempotency (expires_at)");
    this.sql.exec(
      "CREATE TABLE IF NOT EXISTS rate_limit (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL)",
    );
    this.sql.exec(`CREATE TABLE IF NOT EXISTS dispatches (
      message_id TEXT NOT NULL, hop INTEGER NOT NULL, provider_message_id TEXT NOT NULL,
      expires_at INTEGER NOT NULL, PRIMARY KEY (message_id, hop))`);
    const saved = this.sql.exec<{ state: string }>("SELECT state FROM rate_limit WHERE id = 1").toArray()[0];
    this.rateState = saved ? (JSON.parse(saved.state) as RateLimitState) : EMPTY_RATE_LIMIT_STATE;
  }

  /** Rate limit + idempotency claim in one round trip, before the request does any outbound I/O. */
  async admit(request: GateRequest): Promise<GateAnswer> {
    const now = Date.now();
    const existing = request.idempotency ? this.findRecord(request.idempotency.key, now) : undefined;
    if (existing && request.idempotency) {
      // Replays, mismatches and in-flight answers look at the quota without spending it.
      const peek = snapshot(decide(this.rateState, request.limits, now));
      if (existing.fingerprint !== request.idempotency.fingerprint)
        return { outcome: "mismatch", rateLimit: peek };
      if (existing.state === "in_flight") return { outcome: "in_flight", rateLimit: peek };
      return {
        outcome: "replay",
        rateLimit: peek,
        response: { status: existing.status ?? 200, body: existing.body ?? "" },
      };
    }

    const decision = decide(this.rateState, request.limits, now);
    if (!decision.allowed) {
      return {
        outcome: "rate_limited",
        rateLimit: snapshot(decision),
        retryAfterSeconds: decision.retryAfterSeconds,
      };
    }
    this.rateState = decision.state;
    this.sql.exec(
      "INSERT INTO rate_limit (id, state) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state",
      JSON.stringify(decision.state),
    );
    if (request.idempotency) {
      this.sql.exec(
        `INSERT INTO idempotency (key, fingerprint, state, status, body, expires_at) VALUES (?, ?, 'in_flight', NULL, NULL, ?)
         ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'in_flight', status = NULL,
         body = NULL, expires_at = excluded.expires_at`,
        request.idempotency.key,
        request.idempotency.fingerprint,
        now + IN_FLIGHT_LEASE_MS,
      );
      await this.ensureAlarm(now + IN_FLIGHT_LEASE_MS);
    }
    return { outcome: "proceed", rateLimit: snapshot(decision), claimed: request.idempotency !== undefined };
  }

  /** Stores the finished response for replay (7 days). Only the claim's own fingerprint may complete it. */
  async complete(key: string, fingerprint: string, response: StoredResponse): Promise<void> {
    const expiresAt = Date.now() + IDEMPOTENCY_TTL_MS;
    this.sql.exec(
      `UPDATE idempotency SET state = 'done', status = ?, body = ?, expires_at = ?
       WHERE key = ? AND fingerprint = ? AND state = 'in_flight'`,
      response.status,
      response.body,
      expiresAt,
      key,
      fingerprint,
    );
    await this.ensureAlarm(expiresAt);
  }

  /** Drops a claim whose request did not succeed (validation errors and the like are not stored). */
  async release(key: string, fingerprint: string): Promise<void> {
    this.sql.exec(
      "DELETE FROM idempotency WHERE key = ? AND fingerprint = ? AND state = 'in_flight'",
      key,
      fingerprint,
    );
  }

  /**
   * Remembers that the provider accepted a message's hop when D1 could not record it. This is the
   * send's idempotency toward the provider: the dispatcher consults it before sending a message whose
   * last attempt ended unknown, so a storage failure after the provider's "accepted" never sends twice.
   */
  async recordDispatch(messageId: string, hop: number, providerMessageId: string): Promise<void> {
    const expiresAt = Date.now() + DISPATCH_RECORD_TTL_MS;
    this.sql.exec(
      `INSERT INTO dispatches (message_id, hop, provider_message_id, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (message_id, hop) DO NOTHING`,
      messageId,
      hop,
      providerMessageId,
      expiresAt,
    );
    await this.ensureAlarm(expiresAt);
  }

  /** The provider message id recorded by {@link recordDispatch} for this hop, if any. */
  async findDispatch(messageId: string, hop: number): Promise<string | null> {
    const row = this.sql
      .exec<{ provider_message_id: string }>(
        "SELECT provider_message_id FROM dispatches WHERE message_id = ? AND hop = ?",
        messageId,
        hop,
      )
      .toArray()[0];
    return row?.provider_message_id ?? null;
  }

  /** Purges expired records, then sleeps until the next one expires. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    this.sql.exec("DELETE FROM idempotency WHERE expires_at <= ?", now);
    this.sql.exec("DELETE FROM dispatches WHERE expires_at <= ?", now);
    const next = this.sql
      .exec<{ at: number | null }>(
        "SELECT min(at) AS at FROM (SELECT min(expires_at) AS at FROM idempotency UNION ALL SELECT min(expires_at) FROM dispatches)",
      )
      .one().at;
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }

  /** How many idempotency records are stored (for tests and diagnostics). */
  async recordCount(): Promise<number> {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM idempotency").one().n;
  }

  private findRecord(key: string, now: number): IdempotencyRow | undefined {
    const row = this.sql
      .exec<IdempotencyRow>(
        "SELECT fingerprint, state, status, body, expires_at FROM idempotency WHERE key = ?",
        key,
      )
      .toArray()[0];
    // An expired record (or an abandoned in-flight lease) no longer counts, even before the alarm purges it.
    return row && row.expires_at > now ? row : undefined;
  }

  private async ensureAlarm(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }
}
