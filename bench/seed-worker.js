// Seeds the benchmark's throwaway D1 database through the app's own code (src/db/api-keys.ts), so the
// tenant and keys are exactly what the API would create. Bundled and run only by bench/run.mjs, in a
// Miniflare instance that exists just for seeding; never deployed.
//
// POST / {"extraKeys": n, "webhookUrl": url} → the tenant, one all-scope sandbox key with the highest rate
// limit the API allows (secret included: the database is a temporary one), n more keys in the same tenant so
// GET /v1/api-keys returns full pages, a second tenant that the baseline worker writes under (so its rows
// never show up in the app's lists), and a third tenant for the webhook latency case: its own key and one
// webhook endpoint (`webhookUrl`, the bench's receiver) subscribed to `message.queued`. Only that tenant's
// sends fan out to a delivery, so the other send cases write no delivery rows and enqueue no webhook job.
// Every tenant's sandbox wallet is funded far beyond what a run spends (see BENCH_BALANCE_MICROS).

import { and, eq } from "drizzle-orm";
import { createApiKey, createTenant } from "../src/db/api-keys";
import { createDb } from "../src/db/client";
import { channels, wallets, webhookEndpoints } from "../src/db/schema";
import { ensureWallet } from "../src/db/wallet";
import { hashKeySecret, SCOPES } from "../src/domain/api-keys";
import { newId } from "../src/ids";
import { encryptSecrets } from "../src/secrets";
import { sealEndpointSecret } from "../src/webhooks/endpoint-secrets";
import { INBOUND_CHANNEL } from "./lib/inbound-channel.mjs";

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
    const { extraKeys = 0, webhookUrl } = await request.json();
    const db = createDb(env.DB);
    const now = new Date();
    const tenant = await createTenant(db, "bench", now);
    const newKey = (tenantId, name) =>
      createApiKey(
        db,
        {
          tenantId,
          environment: "test",
          name,
          scopes: [...SCOPES],
          expiresAt: null,
          ...BENCH_RATE_LIMIT,
          createdByKeyId: null,
        },
        now,
      );
    const { key, secret } = await newKey(tenant.id, "bench");
    for (let i = 0; i < extraKeys; i++) await newKey(tenant.id, `bench-extra-${i}`);
    const baselineTenant = await createTenant(db, "bench-baseline", new Date());
    const webhook = await seedWebhookTenant(env, db, newKey, webhookUrl, now);
    await seedInboundChannel(env, db, tenant.id, now);
    for (const tenantId of [tenant.id, baselineTenant.id, webhook.tenantId]) {
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
      webhook: { tenantId: webhook.tenantId, endpointId: webhook.endpointId, secret: webhook.secret },
    });
  },
};

/**
 * The webhook case's tenant: a key like the caller's and one enabled endpoint, inserted as the endpoint
 * API would store it (secret sealed with the app's own code, URL normalised to its `href`), with no
 * per-endpoint rate limit so every delivery goes out as soon as the consumer gets its job.
 */
async function seedWebhookTenant(env, db, newKey, webhookUrl, now) {
  if (typeof webhookUrl !== "string") throw new Error("webhookUrl is required");
  const tenant = await createTenant(db, "bench-webhooks", now);
  const { secret } = await newKey(tenant.id, "bench-webhooks");
  const signing = `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(24))))}`;
  const endpointId = newId("webhookEndpoint");
  await db.insert(webhookEndpoints).values({
    id: endpointId,
    tenantId: tenant.id,
    environment: "test",
    url: new URL(webhookUrl).href,
    events: ["message.queued"],
    description: "bench receiver",
    enabled: true,
    rateLimitPerSecond: null,
    secretCiphertext: await sealEndpointSecret(env, tenant.id, signing),
    createdAt: now,
    updatedAt: now,
  });
  return { tenantId: tenant.id, endpointId, secret };
}

/**
 * The inbound case's WhatsApp channel (live, in the caller's tenant), with the fixed id and app secret
 * bench/cases.mjs signs its Meta webhooks with; credentials encrypted by the app's own code.
 */
async function seedInboundChannel(env, db, tenantId, now) {
  await db.insert(channels).values({
    id: INBOUND_CHANNEL.id,
    tenantId,
    environment: "live",
    type: "whatsapp",
    name: "bench inbound",
    config: { phone_number_id: "106540352242922", waba_id: "102290129340398", verify_token: "vt_bench" },
    secretsCiphertext: await encryptSecrets(
      { access_token: "EAAG-bench", app_secret: INBOUND_CHANNEL.appSecret },
      env.SECRETS_ENCRYPTION_KEY,
      tenantId,
    ),
    createdAt: now,
    deletedAt: null,
  });
}
