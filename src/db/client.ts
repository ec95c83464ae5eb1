import { drizzle } from "drizzle-orm/d1";

export type Db = ReturnType<typeof createDb>;

/**
 * No `{ schema }`: we use the query builder only, and passing the schema makes drizzle rebuild its
 * relational config on every call (~0.3 ms of CPU per request in `npm run bench`).
 */
export function createDb(d1: D1Database) {
  return drizzle(d1);
}

/** True when D1 refused a write because of a UNIQUE index: a lost race against a concurrent writer. */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof Error && /UNIQUE constraint failed/i.test(`${error.message} ${error.cause ?? ""}`);
}
