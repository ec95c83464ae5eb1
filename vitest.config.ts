import { fileURLToPath } from "node:url";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { fakeProviderBindings } from "./test/fakes/bindings.mjs";

const migrationsDir = fileURLToPath(new URL("./migrations", import.meta.url));

export default defineConfig({
  test: {
    projects: [
      {
        // The worker, its D1, Durable Objects and queues, running inside workerd.
        plugins: [
          cloudflareTest(async ({ inject }) => ({
            main: "./src/index.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                TEST_MIGRATIONS: await readD1Migrations(migrationsDir),
                // A fixed test-only key (base64 of 32 bytes) so channel credentials can be encrypted.
                SECRETS_ENCRYPTION_KEY: "c2VuZHdpcmUtdGVzdC1vbmx5LWtleS0zMi1ieXRlcyE=",
                // Retry provider errors without waiting, so retry and dead-letter paths run in seconds.
                SEND_RETRY_BASE_SECONDS: "0",
                // Webhook receivers are on 127.0.0.1, and the retry schedule runs at 1/100 speed (1 s → 10 ms).
                ALLOW_LOCAL_WEBHOOKS: "true",
                WEBHOOK_RETRY_SCALE: "0.01",
                // Fake provider base URLs started by test/fakes/global-setup.ts (FAKE_*_BASE, *_API_BASE).
                ...fakeProviderBindings(inject),
              },
            },
          })),
        ],
        test: {
          name: "workers",
          // Sends go through real queues with real (short) delays; waits are bounded by this.
          testTimeout: 30_000,
          include: ["test/**/*.test.ts"],
          exclude: ["test/**/*.node.test.ts"],
          setupFiles: ["./test/setup.ts"],
          globalSetup: ["./test/fakes/global-setup.ts"],
        },
      },
      {
        // Checks that need Node (e.g. JSON-schema validators that compile code, which workerd forbids).
        test: { name: "node", environment: "node", include: ["test/**/*.node.test.ts"] },
      },
    ],
  },
});
