import type { BroadcastRunner } from "./durable-objects/broadcast-runner";
import type { KeyGate } from "./durable-objects/key-gate";

/** Bindings and variables the worker receives (see wrangler.toml and .dev.vars). */
export interface Env {
  DB: D1Database;
  KEY_GATE: DurableObjectNamespace<KeyGate>;
  /** One BroadcastRunner per broadcast id: paces its fan-out. */
  BROADCAST_RUNNER: DurableObjectNamespace<BroadcastRunner>;
  SENDS_QUEUE: Queue<unknown>;
  WEBHOOKS_QUEUE: Queue<unknown>;
  /** R2: the media library's files and contact-import files (private; served through signed URLs). */
  MEDIA: R2Bucket;
  API_VERSION: string;
  AUDIT_RETENTION_DAYS?: string;
  /** base64 of 32 bytes: encrypts provider credentials and webhook signing secrets at rest (a Worker secret;
   * `.dev.vars` locally). Missing, malformed or replaced: what needs it answers 503 `misconfigured`. */
  SECRETS_ENCRYPTION_KEY?: string;
  /** Where providers reach us (status callbacks); defaults to the request's origin. `npm start` sets it to
   * http://localhost:<its port> unless `.dev.vars` does. */
  PUBLIC_BASE_URL?: string;
  /** Provider API origins; tests point them at local fake servers. */
  WHATSAPP_API_BASE?: string;
  WHATSAPP_API_VERSION?: string;
  TWILIO_API_BASE?: string;
  RESEND_API_BASE?: string;
  /** First retry delay for retryable provider errors (doubles each attempt); tests set 0. */
  SEND_RETRY_BASE_SECONDS?: string;
  /** "true" lets webhook endpoints be http:// or on loopback/private networks: local development only
   * (`.dev.vars`), and ignored unless PUBLIC_BASE_URL is set to a localhost/loopback URL. */
  ALLOW_LOCAL_WEBHOOKS?: string;
  /** DNS-over-HTTPS (JSON) resolver used to check webhook hostnames before delivery. */
  WEBHOOK_DNS_RESOLVER?: string;
  /** Multiplies the webhook retry schedule and its 24 h window; tests shrink it. Default 1. */
  WEBHOOK_RETRY_SCALE?: string;
}

export type Environment = "live" | "test";

/** What the auth middleware learned about the caller; every query is scoped by tenantId + environment. */
export interface Principal {
  tenantId: string;
  keyId: string;
  keyPrefix: string;
  environment: Environment;
  scopes: readonly string[];
  rateLimit: { requestsPerMinute: number; burst: number };
  /** When the caller's key stops working (null: never); keys it creates or rotates may not outlive it. */
  expiresAt: Date | null;
}

export interface AppVariables {
  requestId: string;
  principal?: Principal;
  /** The claimed idempotency key and the fingerprint of the request it is bound to. */
  idempotency?: { key: string; fingerprint: string };
}

export type AppBindings = { Bindings: Env; Variables: AppVariables };
