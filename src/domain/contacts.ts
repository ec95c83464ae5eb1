import type { Channel } from "../providers/types";
import { describePhone, type LineType, normalizeEmail, normalizePhone } from "./phone";

/**
 * Contact rules: addresses are stored in one canonical form per channel (E.164 for WhatsApp and SMS, a
 * lower-case domain for email) so an inbound message from "+55 11 98765-4321" finds the contact saved as
 * "+5511987654321"; attributes are a flat map merged like Stripe metadata (null removes a key).
 */

export const MAX_ADDRESSES = 10;
export const MAX_TAGS = 50;
export const MAX_ATTRIBUTES = 50;

export type AttributeValue = string | number | boolean;

export type AddressResult =
  | { ok: true; address: string; country: string | null; lineType: LineType | null }
  | { ok: false; reason: string };

/** The canonical form of `address` on `channel`, or why it is not one. */
export function normalizeAddress(channel: Channel, address: string): AddressResult {
  if (channel === "email") {
    const email = normalizeEmail(address);
    return email.ok ? { ok: true, address: email.address, country: null, lineType: null } : email;
  }
  const phone = normalizePhone(address);
  if (!phone.ok) return phone;
  // Country and line type come from the numbering plan, offline (see describePhone).
  const { country, lineType } = describePhone(phone.e164);
  return { ok: true, address: phone.e164, country: country ?? phone.country, lineType };
}

/** Tags compare case-insensitively: stored lower-case, each once, in the order given. */
export function normalizeTags(tags: readonly string[]): string[] {
  return [...new Set(tags.map((tag) => tag.trim().toLowerCase()))];
}

/** Applies a patch to attributes: a value sets the key, null removes it. */
export function mergeAttributes(
  current: Record<string, AttributeValue>,
  patch: Record<string, AttributeValue | null>,
): Record<string, AttributeValue> {
  const merged: Record<string, AttributeValue> = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}
