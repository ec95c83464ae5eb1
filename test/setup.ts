import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

// Runs before each test file: the same SQL migrations wrangler applies locally and remotely.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
