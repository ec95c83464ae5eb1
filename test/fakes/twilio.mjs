// @ts-check
/**
 * Fake Twilio Messages API: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic auth
 * (AccountSid:AuthToken) per registered account, form-encoded fields, Twilio-shaped errors
 * `{ code, message, more_info, status }` and a 201 Message resource on success.
 *
 * Register an account: POST /__control/accounts
 *   { account_sid, auth_token, from_numbers?: string[], messaging_service_sids?: string[] }
 * Scope: the AccountSid.
 */
import { BoundedMap, isHttpUrl, isObject, LIMITS, randomHex } from "./core.mjs";

/**
 * @typedef {{ sid: string, authToken: string, fromNumbers: Set<string>, messagingServiceSids: Set<string> }} TwilioAccount
 * @typedef {import("./core.mjs").FakeResponse} FakeResponse
 */

/**
 * @param {number} status
 * @param {number} code
 * @param {string} message
 * @param {Record<string, string>} [headers]
 * @returns {FakeResponse}
 */
export function twilioError(status, code, message, headers = {}) {
  return {
    status,
    body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
    headers,
  };
}

const E164 = /^\+[1-9]\d{6,14}$/;

/** RFC 2822 dates, as Twilio prints them. @param {Date} d */
function rfc2822(d) {
  return d.toUTCString().replace("GMT", "+0000");
}

/**
 * @param {Record<string, string | string[]>} form
 * @param {string} key
 * @returns {string | undefined}
 */
function field(form, key) {
  const v = form[key];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/** @returns {import("./core.mjs").FakeProvider} */
export function createTwilioFake() {
  /** @type {BoundedMap} AccountSid → TwilioAccount */
  const accounts = new BoundedMap(LIMITS.maxAccounts);
  const pathPattern = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/;

  return {
    name: "twilio",
    register(input) {
      const { account_sid, auth_token } = input;
      if (typeof account_sid !== "string" || !/^AC[0-9a-f]{32}$/.test(account_sid)) {
        return { error: "account_sid must be AC + 32 lowercase hex digits" };
      }
      if (typeof auth_token !== "string" || auth_token === "") return { error: "auth_token is required" };
      const from = Array.isArray(input.from_numbers) ? input.from_numbers.map(String) : [];
      const services = Array.isArray(input.messaging_service_sids)
        ? input.messaging_service_sids.map(String)
        : [];
      accounts.set(account_sid, {
        sid: account_sid,
        authToken: auth_token,
        fromNumbers: new Set(from),
        messagingServiceSids: new Set(services),
      });
      return { scope: account_sid };
    },
    forget(scope) {
      accounts.delete(scope);
    },
    scopeOf(req) {
      return /^\/2010-04-01\/Accounts\/([^/]+)/.exec(req.path)?.[1] ?? "unknown";
    },
    recipientOf(req) {
      return isObject(req.body) ? field(req.body, "To") : undefined;
    },
    handle(req) {
      const m = pathPattern.exec(req.path);
      if (!m) return twilioError(404, 20404, `The requested resource ${req.path} was not found`);
      const sid = m[1];
      const auth = String(req.headers.authorization ?? "");
      const basic = /^Basic (.+)$/i.exec(auth)?.[1];
      const decoded = basic ? Buffer.from(basic, "base64").toString("utf8") : "";
      const colon = decoded.indexOf(":");
      const user = colon >= 0 ? decoded.slice(0, colon) : "";
      const password = colon >= 0 ? decoded.slice(colon + 1) : "";
      /** @type {TwilioAccount | undefined} */
      const account = accounts.get(user);
      if (!account || account.authToken !== password || user !== sid) {
        const out = twilioError(401, 20003, "Authenticate", {
          "www-authenticate": 'Basic realm="Twilio API"',
        });
        return {
          ...out,
          body: {
            .../** @type {object} */ (out.body),
            detail: "Your AccountSid or AuthToken was incorrect.",
          },
        };
      }
      if (req.method !== "POST") return twilioError(405, 20004, "Method not allowed");
      /** @type {Record<string, string | string[]>} */
      const form =
        isObject(req.body) && req.contentType.includes("application/x-www-form-urlencoded") ? req.body : {};
      const to = field(form, "To");
      if (to === undefined || to === "") return twilioError(400, 21604, "A 'To' phone number is required.");
      if (!E164.test(to))
        return twilioError(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
      const from = field(form, "From");
      const service = field(form, "MessagingServiceSid");
      if (!from && !service) return twilioError(400, 21603, "A 'From' phone number is required.");
      if (service) {
        if (!account.messagingServiceSids.has(service)) {
          return twilioError(400, 21701, `The Messaging Service Sid ${service} is invalid.`);
        }
      } else if (from && !account.fromNumbers.has(from)) {
        return twilioError(
          400,
          21606,
          `The From phone number ${from} is not a valid, SMS-capable inbound phone number or short code for your account.`,
        );
      }
      const body = field(form, "Body");
      const mediaRaw = form.MediaUrl;
      const media = mediaRaw === undefined ? [] : Array.isArray(mediaRaw) ? mediaRaw : [mediaRaw];
      if ((body === undefined || body === "") && media.length === 0)
        return twilioError(400, 21602, "Message body is required.");
      if (body !== undefined && body.length > 1600) {
        return twilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.");
      }
      if (media.length > 10 || media.some((u) => !isHttpUrl(u)))
        return twilioError(400, 21620, "Invalid media URL(s).");
      const callback = field(form, "StatusCallback");
      if (callback !== undefined && !isHttpUrl(callback)) {
        return twilioError(400, 21609, `The StatusCallback URL ${callback} is not a valid URL.`);
      }
      const now = rfc2822(new Date());
      const messageSid = `${media.length > 0 ? "MM" : "SM"}${randomHex(16)}`;
      const uri = `/2010-04-01/Accounts/${sid}/Messages/${messageSid}.json`;
      return {
        status: 201,
        body: {
          account_sid: sid,
          api_version: "2010-04-01",
          body: body ?? "",
          date_created: now,
          date_sent: null,
          date_updated: now,
          direction: "outbound-api",
          error_code: null,
          error_message: null,
          from: service ? null : from,
          messaging_service_sid: service ?? null,
          num_media: String(media.length),
          num_segments: String(Math.max(1, Math.ceil((body ?? "").length / 160))),
          price: null,
          price_unit: "USD",
          sid: messageSid,
          status: service ? "accepted" : "queued",
          subresource_uris: { media: `/2010-04-01/Accounts/${sid}/Messages/${messageSid}/Media.json` },
          to,
          uri,
        },
      };
    },
  };
}
