import { z } from "@hono/zod-openapi";
import { and, desc, eq } from "drizzle-orm";
import { createDb } from "../db/client";
import { ledgerEntries, wallets } from "../db/schema";
import { ensureWallet, walletOf } from "../db/wallet";
import { formatAmount } from "../domain/money";
import { principalOf } from "../middleware/auth";
import { jsonResponse, newRouter, scopedRoute, Timestamp, toTimestamp } from "./shared";

const LedgerEntrySchema = z
  .object({
    object: z.literal("ledger_entry"),
    id: z.string(),
    kind: z.enum(["grant", "debit", "refund"]),
    amount: z.string().openapi({ example: "-0.0625", description: "Signed decimal: debits are negative." }),
    balance_after: z.string(),
    message_id: z.string().nullable(),
    hop: z.number().int().nullable(),
    description: z.string(),
    created_at: Timestamp,
  })
  .openapi("LedgerEntry");

const BalanceSchema = z
  .object({
    object: z.literal("balance"),
    environment: z.enum(["live", "test"]),
    balance: z.string().openapi({ example: "9.9375" }),
    currency: z.string().openapi({ example: "USD" }),
    recent_entries: z.array(LedgerEntrySchema),
  })
  .openapi("Balance");

const getBalanceRoute = scopedRoute("messages:read", {
  method: "get",
  path: "/v1/balance",
  tags: ["Balance"],
  summary: "Balance and recent ledger entries",
  description:
    "The wallet of the caller's environment (the sandbox starts with free credit) and its last 20 movements.",
  responses: {
    200: jsonResponse("The balance.", BalanceSchema),
  },
});

/** A negative amount formats as "-0.0625"; formatAmount itself handles magnitudes. */
const signed = (micros: number) => (micros < 0 ? `-${formatAmount(-micros)}` : formatAmount(micros));

export const balanceRouter = newRouter().openapi(getBalanceRoute, async (c) => {
  const caller = principalOf(c);
  const db = createDb(c.env.DB);
  const scope = { tenantId: caller.tenantId, environment: caller.environment };
  await ensureWallet(db, scope, new Date());
  const [wallet] = await db.select().from(wallets).where(walletOf(scope)).limit(1);
  const entries = await db
    .select()
    .from(ledgerEntries)
    .where(
      and(eq(ledgerEntries.tenantId, caller.tenantId), eq(ledgerEntries.environment, caller.environment)),
    )
    .orderBy(desc(ledgerEntries.id))
    .limit(20);
  return c.json(
    {
      object: "balance" as const,
      environment: caller.environment,
      balance: signed(wallet?.balanceMicros ?? 0),
      currency: wallet?.currency ?? "USD",
      recent_entries: entries.map((e) => ({
        object: "ledger_entry" as const,
        id: e.id,
        kind: e.kind,
        amount: signed(e.amountMicros),
        balance_after: signed(e.balanceAfterMicros),
        message_id: e.messageId,
        hop: e.hop,
        description: e.description,
        created_at: toTimestamp(e.createdAt),
      })),
    },
    200,
  );
});
