// @ts-check
/**
 * How the fake providers' base URLs travel from the vitest globalSetup (Node) into workerd: global-setup.ts
 * `provide`s them, vitest.config.ts `inject`s them into the workers project's miniflare bindings. Imported by
 * vitest.config.ts (hence plain JavaScript: no TypeScript-extension import in the config); types in bindings.d.mts.
 */

/**
 * The bindings that point the worker under test (`WHATSAPP_API_BASE`, `TWILIO_API_BASE`, `RESEND_API_BASE`)
 * and the tests' control client (`FAKE_*_BASE`) at the fakes, and webhook DNS at the fake resolver. Empty when the globalSetup did not run.
 * @param {(key: "fakeMetaBase" | "fakeTwilioBase" | "fakeResendBase" | "fakeReceiverBase") => string | undefined} inject
 * @returns {Record<string, string>}
 */
export function fakeProviderBindings(inject) {
  const meta = inject("fakeMetaBase");
  const twilio = inject("fakeTwilioBase");
  const resend = inject("fakeResendBase");
  const receiver = inject("fakeReceiverBase");
  if (!meta || !twilio || !resend || !receiver) return {};
  return {
    FAKE_META_BASE: meta,
    FAKE_TWILIO_BASE: twilio,
    FAKE_RESEND_BASE: resend,
    WHATSAPP_API_BASE: meta,
    TWILIO_API_BASE: twilio,
    RESEND_API_BASE: resend,
    FAKE_RECEIVER_BASE: receiver,
    // Webhook hostnames resolve through the fake's DNS-over-HTTPS endpoint, never the network.
    WEBHOOK_DNS_RESOLVER: `${receiver}/dns-query`,
  };
}
