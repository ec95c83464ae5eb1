import { and, eq } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { type TemplateRow, templates } from "../db/schema";
import type { Env } from "../env";
import { commit, emitGuardedEvent, UPDATE_APPLIED } from "../webhooks/events";

/**
 * Finishes a sandbox review once it is due. Called wherever a template is read (and by the queue/cron),
 * so the answer never depends on a background job having run. The status moves only pending → decided.
 */
export async function settleSandboxReview(
  env: Env,
  db: Db,
  row: TemplateRow,
  now: Date,
): Promise<TemplateRow> {
  if (row.environment !== "test" || row.status !== "pending" || !row.reviewDueAt || row.reviewDueAt > now)
    return row;
  const rejected = row.name.startsWith("reject_");
  const status = rejected ? "rejected" : "approved";
  const rejectionReason = rejected
    ? "Sandbox: template names starting with reject_ are always rejected."
    : null;
  const [updated] = await commit(env, db, decideTemplate(db, row, status, rejectionReason, now));
  return updated[0] ?? (await db.select().from(templates).where(eq(templates.id, row.id)))[0] ?? row;
}

/**
 * The statements that record a review decision (sandbox or Meta's) and its `template.approved` /
 * `template.rejected` event; guarded on the status it was read with, so a repeated decision emits nothing.
 * The first statement returns the updated row.
 */
export function decideTemplate(
  db: Db,
  row: TemplateRow,
  status: "approved" | "rejected",
  rejectionReason: string | null,
  now: Date,
) {
  const update = db
    .update(templates)
    .set({ status, rejectionReason, updatedAt: now })
    .where(and(eq(templates.id, row.id), eq(templates.status, row.status)))
    .returning();
  return [
    update,
    ...emitGuardedEvent(
      db,
      {
        tenantId: row.tenantId,
        environment: row.environment,
        type: status === "approved" ? "template.approved" : "template.rejected",
        subjectId: row.id,
        data: {
          id: row.id,
          name: row.name,
          language: row.language,
          status,
          rejection_reason: rejectionReason,
        },
      },
      now,
      UPDATE_APPLIED,
    ),
  ] as [typeof update, ...BatchItem<"sqlite">[]];
}

/** The queued/swept job: settle one template's sandbox review if it is due. */
export async function settleTemplateReview(env: Env, db: Db, templateId: string, now: Date): Promise<void> {
  const [row] = await db.select().from(templates).where(eq(templates.id, templateId)).limit(1);
  if (row) await settleSandboxReview(env, db, row, now);
}
