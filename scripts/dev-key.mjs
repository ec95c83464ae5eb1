// `npm run dev:key [-- --live]`: a new all-scope key for the development tenant of the local database
// (creating the tenant and applying migrations when needed), printed once. Works while `npm start` runs.
import { applyMigrations, createDevKey, printKey } from "./lib/local-db.mjs";

const environment = process.argv.includes("--live") ? "live" : "test";

try {
  applyMigrations();
  const key = createDevKey(environment);
  printKey(key, environment);
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
