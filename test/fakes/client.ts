/**
 * Typed client for the fake providers' control API, for tests running inside workerd. The base URLs come from
 * the `FAKE_META_BASE`, `FAKE_TWILIO_BASE` and `FAKE_RESEND_BASE` bindings (see vitest.config.ts).
 *
 * Each `createAccount()` registers fresh random credentials and returns them with their `scope`: the key under
 * which the fake keeps that account's recordings and scripts, so concurrent test files never interfere.
 *
 *   const meta = fakeMeta();
 *   const account = await meta.createAccount();
 *   await meta.script(account.scope, [{ status: 500, body: "oops" }]);
 *   const adapter = createWhatsAppCloudAdapter(account, { baseUrl: meta.baseUrl });
 *   …
 *   const [request] = await meta.requests(account.scope);
 */
import { env } from "cloudflare:workers";
import type { ResendCredentials, TwilioCredentials, WhatsAppCredentials } from "../../src/providers/types";

export interface ScriptedResponse {
  status: number;
  /** An object is sent as JSON; a string as-is (text/plain unless `headers` say otherwise). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Wait before answering (capped at 20 s by the fake). */
  delayMs?: number;
  /** Close the connection instead of answering (after `delayMs`). */
  drop?: boolean;
}

export interface ScriptMatch {
  /** Substring of the request path, e.g. `/messages` or `/message_templates`. */
  path?: string;
  /** The request's recipient (Meta `to`, Twilio `To`, Resend first `to`); phone numbers compare as digits. */
  to?: string;
}

export interface RecordedRequest {
  seq: number;
  at: string;
  method: string;
  path: string;
  query: Record<string, string>;
  /** Lower-case header names. */
  headers: Record<string, string>;
  rawBody: string;
  /** Parsed JSON, or form fields (a repeated field becomes an array), or undefined. */
  body: any;
  /** Whether a scripted response answered it. */
  scripted: boolean;
  /** What the fake answered (null when it dropped the connection or is still waiting). */
  response: { status: number; body: any } | null;
}

export class FakeProviderClient {
  constructor(readonly baseUrl: string) {}

  protected async control<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.baseUrl}/__control/${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`fake provider control ${method} ${path} answered ${res.status}: ${text}`);
    return JSON.parse(text) as T;
  }

  /** Registers raw account data (see the fake's doc comment for the fields); returns its scope. */
  async register(account: Record<string, unknown>): Promise<string> {
    const { scope } = await this.control<{ scope: string }>("POST", "accounts", account);
    return scope;
  }

  /** Queues responses for the scope's next matching requests, consumed in order; then normal behaviour resumes. */
  async script(scope: string, responses: ScriptedResponse[], match: ScriptMatch = {}): Promise<void> {
    await this.control("POST", "script", { scope, match, responses });
  }

  /** Everything the fake received for this scope, oldest first (at most the last 200). */
  async requests(scope: string, filter: { path?: string } = {}): Promise<RecordedRequest[]> {
    const query = new URLSearchParams({ scope });
    if (filter.path) query.set("path", filter.path);
    const { data } = await this.control<{ data: RecordedRequest[] }>("GET", `requests?${query}`);
    return data;
  }

  /** The single request recorded for the scope; throws if there is not exactly one. */
  async onlyRequest(scope: string, filter: { path?: string } = {}): Promise<RecordedRequest> {
    const all = await this.requests(scope, filter);
    if (all.length !== 1)
      throw new Error(`expected exactly one recorded request for ${scope}, got ${all.length}`);
    return all[0] as RecordedRequest;
  }

  /** Clears the scope's recordings and scripts (and the account itself with `accounts: true`). */
  async reset(scope: string, options: { accounts?: boolean } = {}): Promise<void> {
    await this.control("POST", "reset", { scope, ...options });
  }
}

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");
}

function randomDigits(length: number): string {
  const digits = Array.from(crypto.getRandomValues(new Uint8Array(length)), (b) => String(b % 10));
  digits[0] = String(1 + ((crypto.getRandomValues(new Uint8Array(1))[0] as number) % 9));
  return digits.join("");
}

function randomAlnum(length: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from(
    crypto.getRandomValues(new Uint8Array(length)),
    (b) => alphabet[b % alphabet.length],
  ).join("");
}

export type FakeWhatsAppAccount = WhatsAppCredentials & { scope: string };
export type FakeTwilioAccount = TwilioCredentials & { scope: string; authToken: string; accountSid: string };
export type FakeResendAccount = ResendCredentials & { scope: string; domain: string };

export class FakeMetaClient extends FakeProviderClient {
  async createAccount(
    options: { strictTemplates?: boolean; templateStatus?: "PENDING" | "APPROVED" | "REJECTED" } = {},
  ): Promise<FakeWhatsAppAccount> {
    const creds: WhatsAppCredentials = {
      phoneNumberId: randomDigits(15),
      wabaId: randomDigits(15),
      accessToken: `EAAG${randomAlnum(120)}`,
      appSecret: randomHex(16),
    };
    const scope = await this.register({
      phone_number_id: creds.phoneNumberId,
      waba_id: creds.wabaId,
      access_token: creds.accessToken,
      strict_templates: options.strictTemplates ?? false,
      template_status: options.templateStatus ?? "PENDING",
    });
    return { ...creds, scope };
  }
}

export class FakeTwilioClient extends FakeProviderClient {
  /** A fresh account with one sending number (`from`), or with a Messaging Service when asked. */
  async createAccount(options: { messagingService?: boolean } = {}): Promise<FakeTwilioAccount> {
    const accountSid = `AC${randomHex(16)}`;
    const authToken = randomHex(16);
    const from = `+1415${randomDigits(7)}`;
    const messagingServiceSid = `MG${randomHex(16)}`;
    const scope = await this.register({
      account_sid: accountSid,
      auth_token: authToken,
      from_numbers: [from],
      messaging_service_sids: [messagingServiceSid],
    });
    return options.messagingService
      ? { accountSid, authToken, messagingServiceSid, scope }
      : { accountSid, authToken, from, scope };
  }
}

export class FakeResendClient extends FakeProviderClient {
  /** A fresh API key whose verified domain is a random `*.example.com`; `from` uses it. */
  async createAccount(): Promise<FakeResendAccount> {
    const apiKey = `re_${randomAlnum(8)}_${randomAlnum(24)}`;
    const domain = `${randomAlnum(10).toLowerCase()}.example.com`;
    const scope = await this.register({ api_key: apiKey, domains: [domain] });
    return { apiKey, from: `Acme <notifications@${domain}>`, domain, scope };
  }
}

function base(name: "FAKE_META_BASE" | "FAKE_TWILIO_BASE" | "FAKE_RESEND_BASE"): string {
  const value = env[name];
  if (!value) throw new Error(`${name} is not bound: is test/fakes/global-setup.ts in vitest.config.ts?`);
  return value;
}

export const fakeMeta = () => new FakeMetaClient(base("FAKE_META_BASE"));
export const fakeTwilio = () => new FakeTwilioClient(base("FAKE_TWILIO_BASE"));
export const fakeResend = () => new FakeResendClient(base("FAKE_RESEND_BASE"));
