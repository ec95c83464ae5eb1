import type { SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { SQLiteSyncDialect } from "drizzle-orm/sqlite-core";
import type { Db } from "./client";

/**
 * A hand-written statement (an UPDATE … FROM json_each, say, which drizzle's builders cannot express) as a
 * drizzle batch item, so it runs inside the same `db.batch` (one atomic D1 transaction) as built ones. The
 * result is D1's own (`meta.changes` tells how many rows it touched).
 */
const dialect = new SQLiteSyncDialect();

export function rawStatement(db: Db, query: SQL): BatchItem<"sqlite"> {
  const { sql: text, params } = dialect.sqlToQuery(query);
  const client = (db as unknown as { $client: D1Database }).$client;
  return {
    _prepare: () => ({
      stmt: client.prepare(text),
      getQuery: () => ({ sql: text, params }),
      mapResult: (result: D1Result) => result,
    }),
  } as unknown as BatchItem<"sqlite">;
}
