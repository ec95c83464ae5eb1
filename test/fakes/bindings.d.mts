/** Types for bindings.mjs, plus the keys global-setup.ts provides to vitest. */

declare module "vitest" {
  export interface ProvidedContext {
    fakeMetaBase: string;
    fakeTwilioBase: string;
    fakeResendBase: string;
    fakeReceiverBase: string;
  }
}

export type FakeProvideKey = "fakeMetaBase" | "fakeTwilioBase" | "fakeResendBase" | "fakeReceiverBase";

/**
 * The bindings that point the worker under test (`WHATSAPP_API_BASE`, `TWILIO_API_BASE`, `RESEND_API_BASE`)
 * and the tests' control client (`FAKE_META_BASE`, `FAKE_TWILIO_BASE`, `FAKE_RESEND_BASE`) at the fakes.
 * Empty when the globalSetup did not run.
 */
export function fakeProviderBindings(
  inject: (key: FakeProvideKey) => string | undefined,
): Record<string, string>;
