// Seeds the benchmark's throwaway D1 database through the app's own code (src/db/api-keys.ts), so the
// tenant and keys are exactly what the API would create. Bundled and run only by bench/run.mjs, in a
// Miniflare instance that exists just for seeding; never deployed.
//
// POST / {"extraKeys": n} → the tenant, one all-scope sandbox key with the highest rate limit the API
// allows (secret included: the database is a temporary one), n more keys in the same tenant so GET /v1/api-keys returns full pages, and a second
// tenant that the baseline worker writes under (so its rows never show up in the app's lists). Both tenants'
// sandbox wallets are funded far beyond what a run spends (see BENCH_BALANCE_MICROS).

import { and, eq } from "drizzle-orm";
import { createApiKey, createTenant } from "../src/db/api-keys";
import { createDb } from "../src/db/client";
import { wallets } from "../src/db/schema";
import { ensureWallet } from "../src/db/wallet";
import { hashKeySecret, SCOPES } from "../src/domain/api-keys";

// The most the API lets a key have (src/routes/api-keys.ts RateLimitSchema): the per-key limiter runs on
// every request, as it would for a customer, but never refuses one at the rates a benchmark reaches.
const BENCH_RATE_LIMIT = { rateLimitPerMinute: 1_000_000, rateLimitBurst: 100_000 };
// The sandbox wallet starts with 10 USD (a few hundred sends): both tenants' sandbox wallets are created
// by the app's own ensureWallet (wallet + starting-credit grant, so the send batch's bootstrap statements
// are no-ops as for any customer past their first send) and then topped up to 1 billion USD, so
// POST /v1/messages never answers 402 during a run.
const BENCH_BALANCE_MICROS = 1_000_000_000_000_000;

export default {
  async fetch(request, env) {
    if (request.method !== "POST") return new Response("POST only", { status: 405 });
    const { extraKeys = 0 } = await request.json();
    const db = createDb(env.DB);
    const now = new Date();
    const tenant = await createTenant(db, "bench", now);
    const newKey = (name) =>
      createApiKey(
        db,
        {
          tenantId: tenant.id,
          environment: "test",
          name,
          scopes: [...SCOPES],
          expiresAt: null,
          ...BENCH_RATE_LIMIT,
          createdByKeyId: null,
        },
        now,
      );
    const { key, secret } = await newKey("bench");
    for (let i = 0; i < extraKeys; i++) await newKey(`bench-extra-${i}`);
    const baselineTenant = await createTenant(db, "bench-baseline", new Date());
    for (const tenantId of [tenant.id, baselineTenant.id]) {
      const scope = { tenantId, environment: "test" };
      await ensureWallet(db, scope, now);
      await db
        .update(wallets)
        .set({ balanceMicros: BENCH_BALANCE_MICROS, updatedAt: now })
        .where(and(eq(wallets.tenantId, tenantId), eq(wallets.environment, "test")));
    }
    return Response.json({
      tenantId: tenant.id,
      baselineTenantId: baselineTenant.id,
      keyId: key.id,
      keyPrefix: key.prefix,
      scopes: key.scopes,
      rateLimit: { requestsPerMinute: key.rateLimitPerMinute, burst: key.rateLimitBurst },
      walletMicros: BENCH_BALANCE_MICROS,
      secret,
      secretHash: await hashKeySecret(secret),
    });
  },
};
