import type { KeyGate } from "./durable-objects/key-gate";

/** Bindings and variables the worker receives (see wrangler.toml and .dev.vars). */
export interface Env {
  DB: D1Database;
  KEY_GATE: DurableObjectNamespace<KeyGate>;
  SENDS_QUEUE: Queue<unknown>;
  WEBHOOKS_QUEUE: Queue<unknown>;
  API_VERSION: string;
  AUDIT_RETENTION_DAYS?: string;
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
}

export interface AppVariables {
  requestId: string;
  principal?: Principal;
}

export type AppBindings = { Bindings: Env; Variables: AppVariables };
