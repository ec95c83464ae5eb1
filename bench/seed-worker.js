// Seeds the benchmark's throwaway D1 database through the app's own code (src/db/api-keys.ts), so the
// tenant and keys are exactly what the API would create. Bundled and run only by bench/run.mjs, in a
// Miniflare instance that exists just for seeding; never deployed.
//
// POST / {"extraKeys": n} → the tenant, one all-scope sandbox key with the highest rate limit the API
// allows (secret included: the database is a temporary one), n more keys in the same tenant so GET /v1/api-keys returns full pages, and a second
// tenant that the baseline worker writes under (so its rows never show up in the app's lists).

import { createApiKey, createTenant } from "../src/db/api-keys";
import { createDb } from "../src/db/client";
import { hashKeySecret, SCOPES } from "../src/domain/api-keys";

// The most the API lets a key have (src/routes/api-keys.ts RateLimitSchema): the per-key limiter runs on
// every request, as it would for a customer, but never refuses one at the rates a benchmark reaches.
const BENCH_RATE_LIMIT = { rateLimitPerMinute: 1_000_000, rateLimitBurst: 100_000 };

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
    return Response.json({
      tenantId: tenant.id,
      baselineTenantId: baselineTenant.id,
      keyId: key.id,
      keyPrefix: key.prefix,
      scopes: key.scopes,
      rateLimit: { requestsPerMinute: key.rateLimitPerMinute, burst: key.rateLimitBurst },
      secret,
      secretHash: await hashKeySecret(secret),
    });
  },
};
