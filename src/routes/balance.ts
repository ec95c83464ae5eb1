import { z } from "@hono/zod-openapi";
import { and, desc, eq } from "drizzle-orm";
import { createDb } from "../db/client";
import { ledgerEntries, wallets } from "../db/schema";
import {
  ensureWallet,
  type LedgerEntryRow,
  SANDBOX_BALANCE_CAP_MICROS,
  sandboxTopUp,
  walletOf,
} from "../db/wallet";
import { formatAmount, MICROS_PER_UNIT, parseAmount } from "../domain/money";
import { ApiError } from "../errors";
import { principalOf } from "../middleware/auth";
import { jsonResponse, newRouter, scopedRoute, Timestamp, toTimestamp } from "./shared";

const LedgerEntrySchema = z
  .object({
    object: z.literal("ledger_entry"),
    id: z.string(),
    kind: z.enum(["grant", "debit", "refund", "top_up"]).openapi({
      description:
        "`grant`: the sandbox's starting credit; `debit`/`refund`: a message hop charged or refunded; `top_up`: sandbox credit added with POST /v1/balance/top-ups.",
    }),
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

function renderLedgerEntry(e: LedgerEntryRow) {
  return {
    object: "ledger_entry" as const,
    id: e.id,
    kind: e.kind,
    amount: formatAmount(e.amountMicros),
    balance_after: formatAmount(e.balanceAfterMicros),
    message_id: e.messageId,
    hop: e.hop,
    description: e.description,
    created_at: toTimestamp(e.createdAt),
  };
}

/** One top-up may add at most this much, so a typo cannot fill the sandbox wallet in one call. */
export const MAX_TOP_UP_MICROS = 10_000 * MICROS_PER_UNIT;

/**
 * Non-negative micros written exactly, as a top-up amount may be sent: 10_000_000_000 → "10000.00",
 * 1_500 → "0.0015" (formatAmount rounds to display decimals, which would misstate what still fits).
 */
function inUnits(micros: number): string {
  const fraction = String(micros % MICROS_PER_UNIT)
    .padStart(6, "0")
    .replace(/0{1,4}$/, "");
  return `${Math.floor(micros / MICROS_PER_UNIT)}.${fraction}`;
}

const AMOUNT_FORMAT = 'a decimal string such as "25.00" or a number, with at most 6 decimal places';

/** `"25.00"` or `25` → micros. Refuses (never rounds) anything else, always naming `amount`. */
const TopUpAmount = z
  .union([z.string().max(64), z.number()], {
    error: (issue) =>
      issue.input === undefined ? "Required field is missing." : `Amount must be ${AMOUNT_FORMAT}.`,
  })
  .transform((value, ctx) => {
    // A JSON number prints back as its shortest exact form (25.5 → "25.5", 1e-7 → "1e-7", refused below).
    const parsed = parseAmount(typeof value === "number" ? String(value) : value);
    if (!parsed.ok) {
      ctx.addIssue({ code: "custom", message: `${parsed.reason} Send ${AMOUNT_FORMAT}.` });
      return z.NEVER;
    }
    if (parsed.micros <= 0) {
      ctx.addIssue({ code: "custom", message: "Amount must be greater than 0." });
      return z.NEVER;
    }
    if (parsed.micros > MAX_TOP_UP_MICROS) {
      ctx.addIssue({
        code: "custom",
        message: `Amount must be at most ${inUnits(MAX_TOP_UP_MICROS)} per top-up.`,
      });
      return z.NEVER;
    }
    return parsed.micros;
  })
  .openapi({
    description: `Credit to add: ${AMOUNT_FORMAT}; more than 0 and at most ${inUnits(MAX_TOP_UP_MICROS)} per call.`,
    example: "25.00",
  });

const TopUpBody = z
  .strictObject({
    amount: TopUpAmount,
    idempotency_key: z.string().max(255).optional(),
  })
  .openapi("TopUpRequest", { example: { amount: "25.00" } });

const TopUpSchema = LedgerEntrySchema.extend({
  balance: z.string().openapi({ description: "The balance after this top-up.", example: "35.0000" }),
}).openapi("TopUp", {
  example: {
    object: "ledger_entry",
    id: "led_01jd3x6n2m8q4v7w9y0z1a2b3c",
    kind: "top_up",
    amount: "25.0000",
    balance_after: "35.0000",
    message_id: null,
    hop: null,
    description: "Sandbox top-up",
    created_at: "2026-11-23T18:00:00.000Z",
    balance: "35.0000",
  },
});

const topUpRoute = scopedRoute(
  "messages:send",
  {
    method: "post",
    path: "/v1/balance/top-ups",
    tags: ["Balance"],
    summary: "Add sandbox credit",
    description:
      "Test keys only: adds free credit to the sandbox wallet so broadcasts and sends can be tried at any " +
      "volume, and records it in the ledger (`kind: top_up`, listed by GET /v1/balance). The credit and its " +
      `ledger entry are written together or not at all. At most ${inUnits(MAX_TOP_UP_MICROS)} per call; ` +
      `the sandbox balance never goes above ${inUnits(SANDBOX_BALANCE_CAP_MICROS)} (a top-up that would ` +
      "pass it is refused whole). With an `Idempotency-Key`, a retried top-up is replayed, never credited " +
      "twice. Live keys get 403 `test_mode_only`: live credit comes from billing.",
    request: {
      body: { required: true, content: { "application/json": { schema: TopUpBody } } },
    },
    responses: {
      201: jsonResponse("The ledger entry of the credit, with the new balance.", TopUpSchema),
    },
  },
  ["validation_error", "invalid_json", "test_mode_only"],
);

export const balanceRouter = newRouter()
  .openapi(getBalanceRoute, async (c) => {
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
        balance: formatAmount(wallet?.balanceMicros ?? 0),
        currency: wallet?.currency ?? "USD",
        recent_entries: entries.map(renderLedgerEntry),
      },
      200,
    );
  })
  .openapi(topUpRoute, async (c) => {
    const caller = principalOf(c);
    if (caller.environment !== "test") {
      throw new ApiError(
        "test_mode_only",
        "Top-ups add sandbox credit and need a test key (sw_test_…); live credit comes from billing.",
      );
    }
    const { amount } = c.req.valid("json");
    const db = createDb(c.env.DB);
    const scope = { tenantId: caller.tenantId, environment: "test" as const };
    const result = await sandboxTopUp(db, scope, amount, new Date());
    if (!result.ok) {
      const room = Math.max(0, SANDBOX_BALANCE_CAP_MICROS - result.balanceMicros);
      const message =
        `This top-up would take the sandbox balance above its cap of ${inUnits(SANDBOX_BALANCE_CAP_MICROS)} ` +
        `(balance ${inUnits(result.balanceMicros)}); at most ${inUnits(room)} can be added now.`;
      throw new ApiError("validation_error", message, { details: [{ path: "amount", message }] });
    }
    return c.json({ ...renderLedgerEntry(result.entry), balance: formatAmount(result.balanceMicros) }, 201);
  });
