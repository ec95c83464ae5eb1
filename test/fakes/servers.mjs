// @ts-check
/**
 * Starts the three fake providers (Meta WhatsApp Cloud API, Twilio, Resend) and the fake webhook receiver (with
 * its DNS-over-HTTPS resolver), each a Node HTTP server on 127.0.0.1 with an ephemeral port. Used by `global-setup.ts`; can also run alone for `wrangler dev`:
 *   node test/fakes/servers.mjs   # prints the three base URLs, Ctrl-C stops them
 */
import { startFakeServer } from "./core.mjs";
import { createMetaFake } from "./meta.mjs";
import { startFakeReceiver } from "./receiver.mjs";
import { createResendFake } from "./resend.mjs";
import { createTwilioFake } from "./twilio.mjs";

/** @returns {Promise<{ meta: string, twilio: string, resend: string, receiver: string, close: () => Promise<void> }>} */
export async function startFakeProviders() {
  const servers = await Promise.all([
    startFakeServer(createMetaFake()),
    startFakeServer(createTwilioFake()),
    startFakeServer(createResendFake()),
    startFakeReceiver(),
  ]);
  const [meta, twilio, resend, receiver] = servers;
  return {
    meta: meta.url,
    twilio: twilio.url,
    resend: resend.url,
    receiver: receiver.url,
    close: async () => {
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const fakes = await startFakeProviders();
  console.log(
    `WHATSAPP_API_BASE=${fakes.meta}\nTWILIO_API_BASE=${fakes.twilio}\nRESEND_API_BASE=${fakes.resend}\nFAKE_RECEIVER_BASE=${fakes.receiver}\nWEBHOOK_DNS_RESOLVER=${fakes.receiver}/dns-query`,
  );
  process.on("SIGINT", () => fakes.close().then(() => process.exit(0)));
}
