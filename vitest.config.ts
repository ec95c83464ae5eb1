import { fileURLToPath } from "node:url";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

const migrationsDir = fileURLToPath(new URL("./migrations", import.meta.url));

export default defineConfig({
  test: {
    projects: [
      {
        // The worker, its D1, Durable Objects and queues, running inside workerd.
        plugins: [
          cloudflareTest(async () => ({
            main: "./src/index.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: { TEST_MIGRATIONS: await readD1Migrations(migrationsDir) },
            },
          })),
        ],
        test: {
          name: "workers",
          include: ["test/**/*.test.ts"],
          exclude: ["test/**/*.node.test.ts"],
          setupFiles: ["./test/setup.ts"],
        },
      },
      {
        // Checks that need Node (e.g. JSON-schema validators that compile code, which workerd forbids).
        test: { name: "node", environment: "node", include: ["test/**/*.node.test.ts"] },
      },
    ],
  },
});
