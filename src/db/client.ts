import { drizzle } from "drizzle-orm/d1";

export type Db = ReturnType<typeof createDb>;

/**
 * No `{ schema }`: we use the query builder only, and passing the schema makes drizzle rebuild its
 * relational config on every call (~0.3 ms of CPU per request in `npm run bench`).
 */
export function createDb(d1: D1Database) {
  let db = clients.get(d1);
  if (!db) {
    db = drizzle(d1);
    clients.set(d1, db);
  }
  return db;
}

/** One drizzle client per D1 binding (per isolate): building one per request is work for nothing. */
const clients = new WeakMap<D1Database, ReturnType<typeof drizzle<Record<string, never>, D1Database>>>();

/** True when D1 refused a write because of a UNIQUE index: a lost race against a concurrent writer. */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof Error && /UNIQUE constraint failed/i.test(`${error.message} ${error.cause ?? ""}`);
}
