import type { D1Migration } from "cloudflare:test";
import type { Env as SendwireEnv } from "../src/env";

declare global {
  namespace Cloudflare {
    interface Env extends SendwireEnv {
      TEST_MIGRATIONS: D1Migration[];
      /** Base URLs of the fake providers (test/fakes), for the tests' control client. */
      FAKE_META_BASE: string;
      FAKE_TWILIO_BASE: string;
      FAKE_RESEND_BASE: string;
      FAKE_RECEIVER_BASE: string;
    }
    interface GlobalProps {
      mainModule: typeof import("../src/index");
    }
  }
}
