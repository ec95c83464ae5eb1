import { getTableColumns, is, Param, Placeholder, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { drizzle } from "drizzle-orm/d1";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import type { Db } from "./client";

/**
 * Statements of the hot paths, compiled once per isolate. Building a query with drizzle walks its whole SQL
 * tree on every call (0.1–0.3 ms of CPU per statement in `npm run bench -- --profile`); here drizzle builds
 * each statement once, with named placeholders, and every call only binds values into D1's own prepared
 * statement. The result is a drizzle batch item, so compiled statements mix with ordinary ones in one
 * `db.batch` (one atomic D1 transaction), or run alone with `run()`.
 */

/** Builds SQL text only; never runs anything. */
const builder = drizzle({} as D1Database);
export type Builder = typeof builder;
/** A named placeholder; column positions map their value like drizzle does (Date → ms, JSON → text). */
export type Ph = (name: string) => Placeholder;
type Values = Record<string, unknown>;
type Buildable = { toSQL(): { sql: string; params: unknown[] } };

interface Template {
  sql: string;
  bind: ((values: Values) => unknown)[];
}

function binderOf(param: unknown): (values: Values) => unknown {
  if (is(param, Placeholder)) return (values) => values[param.name] ?? null;
  if (is(param, Param) && is(param.value, Placeholder)) {
    const { encoder } = param;
    const { name } = param.value;
    return (values) => {
      const value = values[name];
      return value === undefined || value === null ? null : encoder.mapToDriverValue(value);
    };
  }
  return () => param;
}

function templateOf(query: Buildable): Template {
  const { sql: text, params } = query.toSQL();
  return { sql: text, bind: params.map(binderOf) };
}

/** The protocol drizzle's D1 session uses for batch items: prepare, read the query, map the result. */
class CompiledStatement<R> {
  constructor(
    private readonly client: D1Database,
    private readonly template: Template,
    private readonly values: Values,
    private readonly map: ((result: D1Result) => R) | undefined,
  ) {}

  _prepare() {
    const params = this.template.bind.map((bind) => bind(this.values));
    return {
      stmt: this.client.prepare(this.template.sql),
      getQuery: () => ({ sql: this.template.sql, params }),
      mapResult: (result: D1Result) => (this.map ? this.map(result) : result),
    };
  }

  /** Runs the statement on its own (outside a batch). */
  async run(): Promise<R> {
    const prepared = this._prepare();
    const result = await prepared.stmt.bind(...prepared.getQuery().params).all();
    return prepared.mapResult(result) as R;
  }
}

export type Compiled<R = D1Result> = CompiledStatement<R> & BatchItem<"sqlite">;

/**
 * `build` receives a query builder and a placeholder maker and returns the statement; it runs once per
 * isolate. The returned function binds `values` (by placeholder name) into a batch item for `db`.
 */
export function compiled<V extends object = Values, R = D1Result>(
  build: (db: Builder, p: Ph) => Buildable,
  map?: (result: D1Result) => R,
): (db: Db, values: V) => Compiled<R> {
  let template: Template | undefined;
  return (db, values) => {
    template ??= templateOf(build(builder, (name) => sql.placeholder(name)));
    return new CompiledStatement(db.$client, template, values as Values, map) as Compiled<R>;
  };
}

/** `INSERT INTO table (every column) VALUES (…)` for a row object with the table's property names. */
export function compiledInsert<T extends SQLiteTable>(table: T) {
  return compiled<T["$inferInsert"]>((db, p) =>
    db
      .insert(table)
      .values(Object.fromEntries(Object.keys(getTableColumns(table)).map((key) => [key, p(key)])) as never),
  );
}

/**
 * Maps raw D1 rows (keyed by column name) to `table`'s row objects with drizzle's own column decoders
 * (ms → Date, text → JSON), without drizzle's per-field checks on every row.
 */
export function rowMapper<T extends SQLiteTable>(table: T): (raw: Values) => T["$inferSelect"] {
  const columns = Object.entries(getTableColumns(table)).map(
    ([key, column]) => [key, column.name, column] as const,
  );
  return (raw) => {
    const row: Values = {};
    for (const [key, name, column] of columns) {
      const value = raw[name];
      row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
    }
    return row as T["$inferSelect"];
  };
}
