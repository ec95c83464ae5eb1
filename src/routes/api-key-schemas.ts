import { z } from "@hono/zod-openapi";
import type { ApiKeyRow } from "../db/schema";
import {
  DEFAULT_RATE_LIMIT,
  ENVIRONMENTS,
  keyStatus,
  MAX_KEY_TTL_SECONDS,
  MAX_ROTATION_OVERLAP_SECONDS,
  SCOPES,
} from "../domain/api-keys";
import { Timestamp, toTimestamp } from "./shared";

// The API key object, its renderer and request bodies.

const ScopeSchema = z.enum(SCOPES).openapi("Scope");
const EnvironmentSchema = z.enum(ENVIRONMENTS).openapi("Environment");

const RateLimitSchema = z
  .strictObject({
    requests_per_minute: z.number().int().min(1).max(1_000_000).openapi({ example: 6000 }),
    burst: z.number().int().min(1).max(100_000).openapi({ example: 1200 }),
  })
  .openapi("RateLimit");

export const ApiKeySchema = z
  .object({
    object: z.literal("api_key"),
    id: z.string().openapi({ example: "key_01jd3x6n2m8q4v7w9y0z1a2b3c" }),
    name: z.string(),
    environment: EnvironmentSchema,
    scopes: z.array(ScopeSchema),
    prefix: z
      .string()
      .openapi({ description: "First characters of the current secret, for recognising it." }),
    status: z.enum(["active", "expired", "revoked"]),
    rate_limit: RateLimitSchema,
    created_at: Timestamp,
    expires_at: Timestamp.nullable(),
    revoked_at: Timestamp.nullable(),
    rotated_at: Timestamp.nullable(),
    previous_secret_expires_at: Timestamp.nullable().openapi({
      description: "While a rotation overlap lasts, when the previous secret stops working.",
    }),
    created_by_key_id: z.string().nullable(),
  })
  .openapi("ApiKey");

export const ApiKeyWithSecretSchema = ApiKeySchema.extend({
  secret: z
    .string()
    .nullable()
    .openapi({
      description:
        "The full key (`sw_test_` or `sw_live_` + 43 base64url characters). Shown only in this response; store it " +
        "in a secret manager. An idempotent replay of this call (`Idempotent-Replayed: true`) answers the same " +
        "object with `secret: null`: the secret is never stored, so it cannot be shown twice; rotate the key to " +
        "get a new one.",
      // Truncated on purpose: a full-length example reads like a leaked key to secret scanners and readers.
      example: "sw_test_4fZq9k…",
    }),
}).openapi("ApiKeyWithSecret");

type ApiKey = z.infer<typeof ApiKeySchema>;

export function renderApiKey(key: ApiKeyRow, now: Date, previousSecretExpiresAt: Date | null = null): ApiKey {
  return {
    object: "api_key",
    id: key.id,
    name: key.name,
    environment: key.environment,
    scopes: key.scopes as ApiKey["scopes"],
    prefix: key.prefix,
    status: keyStatus(key, now),
    rate_limit: {
      requests_per_minute: key.rateLimitPerMinute ?? DEFAULT_RATE_LIMIT.requestsPerMinute,
      burst: key.rateLimitBurst ?? DEFAULT_RATE_LIMIT.burst,
    },
    created_at: toTimestamp(key.createdAt),
    expires_at: toTimestamp(key.expiresAt),
    revoked_at: toTimestamp(key.revokedAt),
    rotated_at: toTimestamp(key.rotatedAt),
    previous_secret_expires_at: key.revokedAt ? null : toTimestamp(previousSecretExpiresAt),
    created_by_key_id: key.createdByKeyId,
  };
}

export const CreateApiKeyBody = z
  .strictObject({
    name: z.string().trim().min(1).max(100).openapi({ example: "checkout-service" }),
    environment: EnvironmentSchema.optional().openapi({
      description: "Defaults to the calling key's environment, the only one it may create keys in.",
    }),
    scopes: z
      .array(ScopeSchema)
      .min(1)
      .max(SCOPES.length)
      .openapi({ example: ["messages:send", "messages:read"] }),
    expires_at: z.iso
      .datetime({ offset: true })
      .optional()
      .openapi({
        description:
          "RFC 3339 time after which the key stops working. Exclusive with ttl_seconds. Defaults to the calling " +
          "key's own expiry (none if it has none), and may not be later than it.",
      }),
    ttl_seconds: z.number().int().min(60).max(MAX_KEY_TTL_SECONDS).optional().openapi({
      description: "Lifetime in seconds from now. Exclusive with expires_at.",
      example: 2_592_000,
    }),
    rate_limit: RateLimitSchema.optional().openapi({
      description:
        "Per-key limits; defaults 6,000/min, burst 1,200, or the calling key's own if lower. May not exceed the calling key's.",
    }),
  })
  .refine((body) => body.expires_at === undefined || body.ttl_seconds === undefined, {
    message: "Send either expires_at or ttl_seconds, not both.",
    path: ["ttl_seconds"],
  })
  .openapi("CreateApiKeyRequest");

export const RotateApiKeyBody = z
  .strictObject({
    overlap_seconds: z.number().int().min(0).max(MAX_ROTATION_OVERLAP_SECONDS).optional().openapi({
      description: "How long the previous secret keeps working (default 86400; 0 revokes it now).",
      example: 86400,
    }),
  })
  .openapi("RotateApiKeyRequest");
