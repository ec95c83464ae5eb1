import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";

/**
 * One instance per API key id (stable across rotation). It will hold the key's rate-limit state and
 * idempotency records in its own SQLite storage so both are decided in one single-threaded round trip.
 */
export class KeyGate extends DurableObject<Env> {}
