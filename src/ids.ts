import { monotonicFactory } from "ulidx";

// ULIDs sort by creation time, so ids double as stable pagination keys ("newest first" = id desc).
const ulid = monotonicFactory();

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
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

export function newId(kind: IdKind): string {
  return `${ID_PREFIXES[kind]}_${ulid().toLowerCase()}`;
}

/** True when `id` has the shape of an id of `kind` (used to 404 early on garbage path params). */
export function isIdOf(kind: IdKind, id: string): boolean {
  return new RegExp(`^${ID_PREFIXES[kind]}_[0-9a-hjkmnp-tv-z]{26}$`).test(id);
}
