import { and, eq, type Placeholder, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { CURRENCY, MICROS_PER_UNIT } from "../domain/money";
import type { Environment } from "../env";
import { newId } from "../ids";
import type { Db } from "./client";
import { compiled, type Ph } from "./compiled";
import { ledgerEntries, wallets } from "./schema";

/** The sandbox starts with free credit so a developer can send right away; live starts empty. */
export const SANDBOX_STARTING_CREDIT_MICROS = 10_000_000;

/** Sandbox credit is free, so its balance is capped (1,000,000.00) to keep test figures plausible. */
export const SANDBOX_BALANCE_CAP_MICROS = 1_000_000 * MICROS_PER_UNIT;

type Scope = { tenantId: string; environment: Environment };

/** A value, or (when the statement is compiled once per isolate) a placeholder for it. */
type V<T> = T | Placeholder;
/** Every bound value of a wallet statement; `now` fills timestamp columns, `nowMs` raw SQL. */
interface WalletValues {
  tenantId: V<string>;
  environment: V<Environment>;
  ledgerId: V<string>;
  now: V<Date>;
  nowMs: V<number>;
}
const valuesOf = (scope: Scope, now: Date) => ({
  ...scope,
  ledgerId: newId("ledgerEntry"),
  now,
  nowMs: now.getTime(),
});
const placeholders = <K extends string>(p: Ph, keys: readonly K[]) =>
  Object.fromEntries(keys.map((key) => [key, p(key)])) as Record<K, Placeholder>;
const WALLET_KEYS = ["tenantId", "environment", "ledgerId", "now", "nowMs"] as const;

const walletIs = (v: Pick<WalletValues, "tenantId" | "environment">) =>
  and(eq(wallets.tenantId, v.tenantId as string), eq(wallets.environment, v.environment as Environment));

function bootstrapQueries(db: Db, v: WalletValues & { grant: V<number> }) {
  const noGrantYet = sql`NOT EXISTS (SELECT 1 FROM ${ledgerEntries} WHERE ${ledgerEntries.tenantId} = ${v.tenantId}
    AND ${ledgerEntries.environment} = ${v.environment} AND ${ledgerEntries.kind} = 'grant')`;
  return [
    db
      .insert(wallets)
      .values({
        tenantId: v.tenantId as string,
        environment: v.environment as Environment,
        balanceMicros: v.grant as number,
        currency: CURRENCY,
        updatedAt: v.now as Date,
      })
      .onConflictDoNothing(),
    db.insert(ledgerEntries).select(
      db
        .select({
          id: sql`${v.ledgerId}`.as("id"),
          tenantId: wallets.tenantId,
          environment: wallets.environment,
          kind: sql`'grant'`.as("kind"),
          amountMicros: sql`${v.grant}`.as("amount_micros"),
          balanceAfterMicros: sql`${v.grant}`.as("balance_after_micros"),
          messageId: sql`NULL`.as("message_id"),
          hop: sql`NULL`.as("hop"),
          description: sql`'Sandbox starting credit'`.as("description"),
          createdAt: sql`${v.nowMs}`.as("created_at"),
        })
        .from(wallets)
        .where(and(walletIs(v), sql`${v.grant} > 0`, noGrantYet)),
    ),
  ] as const;
}

const BOOTSTRAP_KEYS = [...WALLET_KEYS, "grant"] as const;
const compiledBootstrap = [0, 1].map((i) =>
  compiled((db, p) => bootstrapQueries(db, placeholders(p, BOOTSTRAP_KEYS))[i as 0 | 1]),
);

/**
 * Batch statements that create the wallet (and record the sandbox grant) the first time it is needed and
 * do nothing afterwards, so a send's batch can start with them instead of paying a separate round trip.
 */
export function walletBootstrap(db: Db, scope: Scope, now: Date): [BatchItem<"sqlite">, BatchItem<"sqlite">] {
  const values = {
    ...valuesOf(scope, now),
    grant: scope.environment === "test" ? SANDBOX_STARTING_CREDIT_MICROS : 0,
  };
  const [create, grant] = compiledBootstrap.map((statement) => statement(db, values));
  return [create as BatchItem<"sqlite">, grant as BatchItem<"sqlite">];
}

/** Creates the wallet on its own (for reads such as GET /v1/balance). */
export async function ensureWallet(db: Db, scope: Scope, now: Date): Promise<void> {
  const [create, grant] = walletBootstrap(db, scope, now);
  await db.batch([create, grant]);
}

export const walletOf = (scope: Scope) => walletIs(scope);

interface Movement {
  kind: "debit" | "refund";
  amountMicros: number;
  messageId: string;
  hop: number;
  description: string;
}

function movementQueries(
  db: Db,
  v: WalletValues & { [K in keyof Movement]: V<Movement[K]> },
  guard: SQL | undefined,
) {
  // Applies at most once per (message, hop, kind): a repeat matches no wallet row and inserts nothing.
  const notYetRaw = sql`NOT EXISTS (SELECT 1 FROM ${ledgerEntries} WHERE ${ledgerEntries.messageId} = ${v.messageId}
    AND ${ledgerEntries.hop} = ${v.hop} AND ${ledgerEntries.kind} = ${v.kind})`;
  const notYet = guard ? and(notYetRaw, guard) : notYetRaw;
  return [
    db
      .update(wallets)
      .set({ balanceMicros: sql`${wallets.balanceMicros} + ${v.amountMicros}`, updatedAt: v.now as Date })
      .where(and(walletIs(v), notYet)),
    db.insert(ledgerEntries).select(
      db
        .select({
          id: sql`${v.ledgerId}`.as("id"),
          tenantId: wallets.tenantId,
          environment: wallets.environment,
          kind: sql`${v.kind}`.as("kind"),
          amountMicros: sql`${v.amountMicros}`.as("amount_micros"),
          balanceAfterMicros: wallets.balanceMicros,
          messageId: sql`${v.messageId}`.as("message_id"),
          hop: sql`${v.hop}`.as("hop"),
          description: sql`${v.description}`.as("description"),
          createdAt: sql`${v.nowMs}`.as("created_at"),
        })
        .from(wallets)
        .where(and(walletIs(v), notYet)),
    ),
  ] as const;
}

const MOVEMENT_KEYS = [...WALLET_KEYS, "kind", "amountMicros", "messageId", "hop", "description"] as const;
const compiledMovement = [0, 1].map((i) =>
  compiled((db, p) => movementQueries(db, placeholders(p, MOVEMENT_KEYS), undefined)[i as 0 | 1]),
);

/**
 * Batch statements that move `amountMicros` (negative = debit) and record it. The wallet's CHECK
 * (balance >= 0) aborts the whole batch on overdraft; the ledger's unique (message, hop, kind) makes a
 * repeated debit or refund for the same hop abort instead of applying twice. Without a guard (the send
 * path) the statements are compiled once per isolate; a guard is a one-off SQL condition, built each time.
 */
export function walletMovement(
  db: Db,
  scope: Scope,
  movement: Movement,
  now: Date,
  /** Extra condition (e.g. "the message is now canceled") that must hold for the movement to apply. */
  guard?: SQL,
): [BatchItem<"sqlite">, BatchItem<"sqlite">] {
  const values = { ...valuesOf(scope, now), ...movement };
  if (guard) {
    const [update, insert] = movementQueries(db, values, guard);
    return [update, insert];
  }
  const [update, insert] = compiledMovement.map((statement) => statement(db, values));
  return [update as BatchItem<"sqlite">, insert as BatchItem<"sqlite">];
}

/** True when a D1 error is the wallet CHECK refusing an overdraft. */
export function isOverdraft(error: unknown): boolean {
  return (
    String((error as { cause?: unknown })?.cause ?? error).includes("wallets_balance_not_negative") ||
    String(error).includes("CHECK constraint failed")
  );
}

export type LedgerEntryRow = typeof ledgerEntries.$inferSelect;

export type SandboxTopUpResult =
  | { ok: true; entry: LedgerEntryRow; balanceMicros: number }
  /** Nothing was credited: the top-up would have taken the balance past SANDBOX_BALANCE_CAP_MICROS. */
  | { ok: false; reason: "over_cap"; balanceMicros: number };

/**
 * Credits `amountMicros` (> 0) of free sandbox credit and records a `top_up` ledger entry, in one atomic
 * batch that also creates the wallet on first use. The entry is written only if the balance stays within the
 * cap, and the wallet moves only if that entry exists: the cap holds under concurrent top-ups, and balance
 * and ledger never disagree.
 */
export async function sandboxTopUp(
  db: Db,
  scope: { tenantId: string; environment: "test" },
  amountMicros: number,
  now: Date,
): Promise<SandboxTopUpResult> {
  if (!Number.isSafeInteger(amountMicros) || amountMicros <= 0) {
    throw new RangeError(`a top-up must be a positive integer of micros: ${amountMicros}`);
  }
  const [create, grant] = walletBootstrap(db, scope, now);
  // After the bootstrap's id, so a first-use grant lists before this entry (ids sort by creation).
  const ledgerId = newId("ledgerEntry");
  const record = db.insert(ledgerEntries).select(
    db
      .select({
        id: sql`${ledgerId}`.as("id"),
        tenantId: wallets.tenantId,
        environment: wallets.environment,
        kind: sql`'top_up'`.as("kind"),
        amountMicros: sql`${amountMicros}`.as("amount_micros"),
        balanceAfterMicros: sql`${wallets.balanceMicros} + ${amountMicros}`.as("balance_after_micros"),
        messageId: sql`NULL`.as("message_id"),
        hop: sql`NULL`.as("hop"),
        description: sql`'Sandbox top-up'`.as("description"),
        createdAt: sql`${now.getTime()}`.as("created_at"),
      })
      .from(wallets)
      .where(
        and(
          walletIs(scope),
          sql`${wallets.balanceMicros} + ${amountMicros} <= ${SANDBOX_BALANCE_CAP_MICROS}`,
        ),
      ),
  );
  const credit = db
    .update(wallets)
    .set({ balanceMicros: sql`${wallets.balanceMicros} + ${amountMicros}`, updatedAt: now })
    .where(
      and(
        walletIs(scope),
        sql`EXISTS (SELECT 1 FROM ${ledgerEntries} WHERE ${ledgerEntries.id} = ${ledgerId})`,
      ),
    );
  const [, , , , entries, balances] = await db.batch([
    create,
    grant,
    record,
    credit,
    db.select().from(ledgerEntries).where(eq(ledgerEntries.id, ledgerId)).limit(1),
    db.select({ balanceMicros: wallets.balanceMicros }).from(wallets).where(walletIs(scope)).limit(1),
  ]);
  const entry = entries[0];
  const balanceMicros = balances[0]?.balanceMicros ?? 0;
  return entry ? { ok: true, entry, balanceMicros } : { ok: false, reason: "over_cap", balanceMicros };
}
