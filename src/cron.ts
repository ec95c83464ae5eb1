import { and, isNotNull, lt } from "drizzle-orm";
import { createDb } from "./db/client";
import { apiKeySecrets, auditLogs } from "./db/schema";
import type { Env } from "./env";

const DAY_MS = 86_400_000;
/** Rotated-out secrets are kept this long past their overlap so a late caller hears "expired", not "invalid". */
const EXPIRED_SECRET_GRACE_MS = 7 * DAY_MS;

/** The minute tick: retention purges. Later capabilities add due schedules and the outbox sweeper here. */
export async function runScheduled(
  env: Env,
  now: Date,
): Promise<{ auditLogsPurged: number; secretsPurged: number }> {
  const db = createDb(env.DB);
  const retentionDays = Number(env.AUDIT_RETENTION_DAYS ?? "90") || 90;
  const [audit, secrets] = await db.batch([
    db.delete(auditLogs).where(lt(auditLogs.createdAt, new Date(now.getTime() - retentionDays * DAY_MS))),
    db
      .delete(apiKeySecrets)
      .where(
        and(
          isNotNull(apiKeySecrets.expiresAt),
          lt(apiKeySecrets.expiresAt, new Date(now.getTime() - EXPIRED_SECRET_GRACE_MS)),
        ),
      ),
  ]);
  return { auditLogsPurged: audit.meta.changes, secretsPurged: secrets.meta.changes };
}
