/** Types for servers.mjs (Node side), so TypeScript files can import it without Node's types. */
export interface FakeProviders {
  /** Base URL of the fake Meta Graph API, e.g. `http://127.0.0.1:41234` */
  meta: string;
  /** Base URL of the fake Twilio REST API */
  twilio: string;
  /** Base URL of the fake Resend API */
  resend: string;
  /** Base URL of the fake webhook receiver; its DNS-over-HTTPS resolver is at `/dns-query` */
  receiver: string;
  close(): Promise<void>;
}

export function startFakeProviders(): Promise<FakeProviders>;
