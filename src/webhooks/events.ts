import { and, eq, type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { events, messages } from "../db/schema";
import type { Environment } from "../env";
import { newId } from "../ids";

/** Event types written so far; the webhooks capability delivers them. */
export type EventType =
  | "message.queued"
  | "message.sent"
  | "message.delivered"
  | "message.read"
  | "message.failed"
  | "message.undelivered"
  | "message.canceled"
  | "template.approved"
  | "template.rejected";

/**
 * An event row for a batch. `sequence` is computed inside the statement (max + 1 for the subject), so
 * it rises per message id even when writers race; the unique (subject, sequence) index turns a lost race
 * into a failed batch rather than a duplicate number.
 */
export function eventInsert(
  db: Db,
  event: {
    tenantId: string;
    environment: Environment;
    type: EventType;
    subjectId: string;
    data: Record<string, unknown>;
  },
  now: Date,
) {
  return db.insert(events).values({
    id: newId("event"),
    tenantId: event.tenantId,
    environment: event.environment,
    type: event.type,
    subjectId: event.subjectId,
    sequence: sql`(SELECT coalesce(max(${events.sequence}), 0) + 1 FROM ${events} WHERE ${events.subjectId} = ${event.subjectId})`,
    data: event.data,
    createdAt: now,
  });
}

/** The same event, written only when `guard` (a condition on the subject's message row) holds in the batch. */
export function guardedMessageEventInsert(
  db: Db,
  event: {
    tenantId: string;
    environment: Environment;
    type: EventType;
    subjectId: string;
    data: Record<string, unknown>;
  },
  now: Date,
  guard: SQL,
) {
  return db.insert(events).select(
    db
      .select({
        id: sql`${newId("event")}`.as("id"),
        tenantId: sql`${event.tenantId}`.as("tenant_id"),
        environment: sql`${event.environment}`.as("environment"),
        type: sql`${event.type}`.as("type"),
        subjectId: sql`${event.subjectId}`.as("subject_id"),
        sequence:
          sql`(SELECT coalesce(max(${events.sequence}), 0) + 1 FROM ${events} WHERE ${events.subjectId} = ${event.subjectId})`.as(
            "sequence",
          ),
        data: sql`${JSON.stringify(event.data)}`.as("data"),
        createdAt: sql`${now.getTime()}`.as("created_at"),
      })
      .from(messages)
      .where(and(eq(messages.id, event.subjectId), guard)),
  );
}
