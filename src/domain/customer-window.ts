import type { Channel, MessageContent } from "../providers/types";

/**
 * WhatsApp's customer-service window: for 24 hours after a user's last message, a business may send
 * free-form messages; outside it only approved templates are delivered (Meta error 131047). Checking it
 * before the send turns a paid, asynchronous failure into an immediate 4xx the tenant can act on.
 */

export const WINDOW_MS = 24 * 60 * 60 * 1000;

export interface WindowState {
  open: boolean;
  /** When the window closes (or closed, if in the past); null when the contact never wrote to us. */
  expiresAt: Date | null;
}

/** The window is open while `now` is strictly before lastInboundAt + 24 h. */
export function windowState(lastInboundAt: Date | null, now: Date): WindowState {
  if (!lastInboundAt) return { open: false, expiresAt: null };
  const expiresAt = new Date(lastInboundAt.getTime() + WINDOW_MS);
  return { open: now.getTime() < expiresAt.getTime(), expiresAt };
}

export type ContentKind = MessageContent["kind"];

/** Only free-form WhatsApp content needs the window; templates are always allowed, SMS/email never need it. */
export function requiresOpenWindow(channel: Channel, contentKind: ContentKind): boolean {
  return (
    channel === "whatsapp" &&
    (contentKind === "text" || contentKind === "media" || contentKind === "interactive")
  );
}

export type WindowCheck = { ok: true } | { ok: false; expiresAt: Date | null; message: string };

/** requiresOpenWindow + windowState in one call, with a message that tells the tenant what to do instead. */
export function checkCustomerWindow(
  channel: Channel,
  contentKind: ContentKind,
  lastInboundAt: Date | null,
  now: Date,
): WindowCheck {
  if (!requiresOpenWindow(channel, contentKind)) return { ok: true };
  const state = windowState(lastInboundAt, now);
  if (state.open) return { ok: true };
  const when = state.expiresAt
    ? `the 24-hour window closed at ${state.expiresAt.toISOString()}`
    : "this contact has never messaged you";
  return {
    ok: false,
    expiresAt: state.expiresAt,
    message: `Free-form WhatsApp ${contentKind} messages need an open customer-service window, but ${when}. Send an approved template instead.`,
  };
}
