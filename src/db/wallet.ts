import { and, eq, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { CURRENCY } from "../domain/money";
import type { Environment } from "../env";
import { newId } from "../ids";
import type { Db } from "./client";
import { ledgerEntries, wallets } from "./schema";

/** The sandbox starts with free credit so a developer can send right away; live starts empty. */
export const SANDBOX_STARTING_CREDIT_MICROS = 10_000_000;

type Scope = { tenantId: string; environment: Environment };

/**
 * Batch statements that create the wallet (and record the sandbox grant) the first time it is needed and
 * do nothing afterwards, so a send's batch can start with them instead of paying a separate round trip.
 */
export function walletBootstrap(db: Db, scope: Scope, now: Date): [BatchItem<"sqlite">, BatchItem<"sqlite">] {
  const grant = scope.environment === "test" ? SANDBOX_STARTING_CREDIT_MICROS : 0;
  const noGrantYet = sql`NOT EXISTS (SELECT 1 FROM ${ledgerEntries} WHERE ${ledgerEntries.tenantId} = ${scope.tenantId}
    AND ${ledgerEntries.environment} = ${scope.environment} AND ${ledgerEntries.kind} = 'grant')`;
  return [
    db
      .insert(wallets)
      .values({ ...scope, balanceMicros: grant, currency: CURRENCY, updatedAt: now })
      .onConflictDoNothing(),
    db.insert(ledgerEntries).select(
      db
        .select({
          id: sql`${newId("ledgerEntry")}`.as("id"),
          tenantId: wallets.tenantId,
          environment: wallets.environment,
          kind: sql`'grant'`.as("kind"),
          amountMicros: sql`${grant}`.as("amount_micros"),
          balanceAfterMicros: sql`${grant}`.as("balance_after_micros"),
          messageId: sql`NULL`.as("message_id"),
          hop: sql`NULL`.as("hop"),
          description: sql`'Sandbox starting credit'`.as("description"),
          createdAt: sql`${now.getTime()}`.as("created_at"),
        })
        .from(wallets)
        .where(and(walletOf(scope), sql`${grant} > 0`, noGrantYet)),
    ),
  ];
}

/** Creates the wallet on its own (for reads such as GET /v1/balance). */
export async function ensureWallet(db: Db, scope: Scope, now: Date): Promise<void> {
  const [create, grant] = walletBootstrap(db, scope, now);
  await db.batch([create, grant]);
}

export const walletOf = (scope: Scope) =>
  and(eq(wallets.tenantId, scope.tenantId), eq(wallets.environment, scope.environment));

/**
 * Batch statements that move `amountMicros` (negative = debit) and record it. The wallet's CHECK
 * (balance >= 0) aborts the whole batch on overdraft; the ledger's unique (message, hop, kind) makes a
 * repeated debit or refund for the same hop abort instead of applying twice.
 */
export function walletMovement(
  db: Db,
  scope: Scope,
  movement: {
    kind: "debit" | "refund";
    amountMicros: number;
    messageId: string;
    hop: number;
    description: string;
  },
  now: Date,
  /** Extra condition (e.g. "the message is now canceled") that must hold for the movement to apply. */
  guard?: SQL,
): [BatchItem<"sqlite">, BatchItem<"sqlite">] {
  // Applies at most once per (message, hop, kind): a repeat matches no wallet row and inserts nothing.
  const notYetRaw = sql`NOT EXISTS (SELECT 1 FROM ${ledgerEntries} WHERE ${ledgerEntries.messageId} = ${movement.messageId}
    AND ${ledgerEntries.hop} = ${movement.hop} AND ${ledgerEntries.kind} = ${movement.kind})`;
  const notYet = guard ? and(notYetRaw, guard) : notYetRaw;
  return [
    db
      .update(wallets)
      .set({ balanceMicros: sql`${wallets.balanceMicros} + ${movement.amountMicros}`, updatedAt: now })
      .where(and(walletOf(scope), notYet)),
    db.insert(ledgerEntries).select(
      db
        .select({
          id: sql`${newId("ledgerEntry")}`.as("id"),
          tenantId: wallets.tenantId,
          environment: wallets.environment,
          kind: sql`${movement.kind}`.as("kind"),
          amountMicros: sql`${movement.amountMicros}`.as("amount_micros"),
          balanceAfterMicros: wallets.balanceMicros,
          messageId: sql`${movement.messageId}`.as("message_id"),
          hop: sql`${movement.hop}`.as("hop"),
          description: sql`${movement.description}`.as("description"),
          createdAt: sql`${now.getTime()}`.as("created_at"),
        })
        .from(wallets)
        .where(and(walletOf(scope), notYet)),
    ),
  ];
}

/** True when a D1 error is the wallet CHECK refusing an overdraft. */
export function isOverdraft(error: unknown): boolean {
  return (
    String((error as { cause?: unknown })?.cause ?? error).includes("wallets_balance_not_negative") ||
    String(error).includes("CHECK constraint failed")
  );
}
