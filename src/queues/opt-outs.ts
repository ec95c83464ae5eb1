import { sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import type { InboundMessageRow, MessageRow } from "../db/schema";
import { matchOptKeyword } from "../domain/opt-out";
import { liftStatement, suppress, suppressStatement } from "../services/suppressions";
import { emitGuardedEvent, UPDATE_APPLIED } from "../webhooks/events";
import type { LifecycleContext } from "./message-lifecycle";

/**
 * What inbound traffic does to suppressions: a STOP or START keyword from a customer (SMS, WhatsApp), and an
 * email hard bounce or complaint. Applied by process-inbound.ts as it stores each item.
 */

/** Suppresses the email address a message went to (hard bounce or spam complaint); idempotent. */
export async function suppressEmailOf(
  ctx: LifecycleContext,
  message: MessageRow,
  reason: "bounce" | "complaint",
) {
  if (!message.to.includes("@")) return;
  await suppress(
    ctx.db,
    { tenantId: message.tenantId, environment: message.environment },
    { channel: "email", address: message.to, reason, sourceId: message.id },
    ctx.now,
  );
}

/**
 * A STOP (or START) keyword as the whole text: suppresses (or lifts the opt-out of) the sender's address on
 * this channel, with `contact.opted_out` (`contact.opted_in`) recorded only when this run stored the message
 * and the state really changed, so a redelivered item changes nothing and emits nothing.
 */
export function optKeywordStatements(
  db: Db,
  message: InboundMessageRow,
  text: string | undefined,
  now: Date,
): BatchItem<"sqlite">[] {
  if (message.channel === "email") return [];
  const match = matchOptKeyword(text);
  if (!match) return [];
  const scope = { tenantId: message.tenantId, environment: message.environment };
  const storedNow = sql`EXISTS (SELECT 1 FROM inbound_messages WHERE id = ${message.id})`;
  const change =
    match.action === "opt_out"
      ? suppressStatement(
          db,
          scope,
          { channel: message.channel, address: message.from, reason: "opt_out", sourceId: message.id },
          now,
          storedNow,
        )
      : liftStatement(db, scope, message.channel, message.from, ["opt_out"], storedNow);
  return [
    change,
    ...emitGuardedEvent(
      db,
      {
        ...scope,
        type: match.action === "opt_out" ? "contact.opted_out" : "contact.opted_in",
        subjectId: message.contactId ?? message.from,
        data: {
          channel: message.channel,
          address: message.from,
          contact_id: message.contactId,
          keyword: match.keyword,
          inbound_message_id: message.id,
        },
      },
      now,
      UPDATE_APPLIED,
    ),
  ];
}
