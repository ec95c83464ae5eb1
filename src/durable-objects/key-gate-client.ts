import type { Env } from "../env";

/**
 * How callers reach a key's KeyGate. Apart from the class, so code that only calls it (middleware, queues)
 * loads without the Workers runtime module the Durable Object class needs (the OpenAPI check runs in Node).
 */

/** KeyGate ids by API key id, per isolate: deriving one hashes the name, on every request otherwise. */
const gateIds = new Map<string, DurableObjectId>();
const MAX_GATE_IDS = 1_024;

/** The KeyGate of an API key (one per key id, stable across rotation). */
export function keyGateOf(env: Pick<Env, "KEY_GATE">, keyId: string) {
  let id = gateIds.get(keyId);
  if (!id) {
    if (gateIds.size >= MAX_GATE_IDS) gateIds.clear();
    id = env.KEY_GATE.idFromName(keyId);
    gateIds.set(keyId, id);
  }
  return env.KEY_GATE.get(id);
}
