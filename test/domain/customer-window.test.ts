import { describe, expect, it } from "vitest";
import {
  checkCustomerWindow,
  requiresOpenWindow,
  WINDOW_MS,
  windowState,
} from "../../src/domain/customer-window";

const inbound = new Date("2026-05-10T12:00:00.000Z");
const at = (ms: number) => new Date(inbound.getTime() + ms);

describe("windowState", () => {
  it("is 24 hours", () => {
    expect(WINDOW_MS).toBe(86_400_000);
  });

  it("is closed with no expiry when the contact never wrote", () => {
    expect(windowState(null, inbound)).toEqual({ open: false, expiresAt: null });
  });

  it("is open until just before lastInboundAt + 24 h and closed from then on", () => {
    const expiresAt = new Date("2026-05-11T12:00:00.000Z");
    expect(windowState(inbound, inbound)).toEqual({ open: true, expiresAt });
    expect(windowState(inbound, at(WINDOW_MS - 1))).toEqual({ open: true, expiresAt });
    expect(windowState(inbound, at(WINDOW_MS))).toEqual({ open: false, expiresAt });
    expect(windowState(inbound, at(WINDOW_MS + 1))).toEqual({ open: false, expiresAt });
    expect(windowState(inbound, at(30 * WINDOW_MS))).toEqual({ open: false, expiresAt });
  });

  it("treats an inbound time slightly ahead of our clock as open", () => {
    expect(windowState(at(5_000), inbound)).toEqual({ open: true, expiresAt: at(WINDOW_MS + 5_000) });
  });

  it("does not mutate its input", () => {
    const copy = new Date(inbound);
    windowState(copy, at(1));
    expect(copy.getTime()).toBe(inbound.getTime());
  });
});

describe("requiresOpenWindow", () => {
  it("is true only for free-form WhatsApp content", () => {
    expect(requiresOpenWindow("whatsapp", "text")).toBe(true);
    expect(requiresOpenWindow("whatsapp", "media")).toBe(true);
    expect(requiresOpenWindow("whatsapp", "interactive")).toBe(true);
    expect(requiresOpenWindow("whatsapp", "template")).toBe(false);
    for (const kind of ["text", "media", "interactive", "template", "email"] as const) {
      expect(requiresOpenWindow("sms", kind)).toBe(false);
      expect(requiresOpenWindow("email", kind)).toBe(false);
    }
  });
});

describe("checkCustomerWindow", () => {
  it("lets templates, SMS and email through with no inbound at all", () => {
    expect(checkCustomerWindow("whatsapp", "template", null, inbound)).toEqual({ ok: true });
    expect(checkCustomerWindow("sms", "text", null, inbound)).toEqual({ ok: true });
    expect(checkCustomerWindow("email", "email", null, inbound)).toEqual({ ok: true });
  });

  it("lets free-form WhatsApp through while the window is open", () => {
    expect(checkCustomerWindow("whatsapp", "text", inbound, at(WINDOW_MS - 1))).toEqual({ ok: true });
  });

  it("refuses free-form WhatsApp outside the window with an actionable message", () => {
    expect(checkCustomerWindow("whatsapp", "media", inbound, at(WINDOW_MS))).toEqual({
      ok: false,
      expiresAt: new Date("2026-05-11T12:00:00.000Z"),
      message:
        "Free-form WhatsApp media messages need an open customer-service window, but the 24-hour window closed at 2026-05-11T12:00:00.000Z. Send an approved template instead.",
    });
    const never = checkCustomerWindow("whatsapp", "text", null, inbound);
    expect(never).toMatchObject({ ok: false, expiresAt: null });
    expect(never.ok === false && never.message).toContain("this contact has never messaged you");
  });
});
