import { monotonicFactory } from "ulidx";

/**
 * ulidx's default source asks WebCrypto for one byte per character (16 calls, each a fresh array, per id);
 * this one draws the same cryptographic bytes from a pool refilled 4 KiB at a time. Filled lazily: Workers
 * allow no random values in global scope.
 */
const pool = new Uint8Array(4096);
let used = pool.length;
function pooledRandom(): number {
  if (used >= pool.length) {
    crypto.getRandomValues(pool);
    used = 0;
  }
  return (pool[used++] as number) / 256;
}

// ULIDs sort by creation time, so ids double as stable pagination keys ("newest first" = id desc).
const ulid = monotonicFactory(pooledRandom);

export const ID_PREFIXES = {
  tenant: "ten",
  apiKey: "key",
  auditLog: "log",
  request: "req",
  message: "msg",
  event: "evt",
  template: "tpl",
  webhookEndpoint: "whe",
  webhookDelivery: "whd",
  webhookAttempt: "wha",
  webhookReplay: "whr",
  channel: "chn",
  contact: "con",
  ledgerEntry: "led",
  outbox: "obx",
  conversation: "cnv",
  inboundMessage: "inm",
  inboundEvent: "ibe",
  list: "lst",
  contactImport: "imp",
  segment: "seg",
  suppression: "sup",
  media: "med",
  broadcast: "bc",
  linkClick: "clk",
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

export function newId(kind: IdKind): string {
  return `${ID_PREFIXES[kind]}_${ulid().toLowerCase()}`;
}

/** True when `id` has the shape of an id of `kind` (used to 404 early on garbage path params). */
export function isIdOf(kind: IdKind, id: string): boolean {
  return new RegExp(`^${ID_PREFIXES[kind]}_[0-9a-hjkmnp-tv-z]{26}$`).test(id);
}
