/**
 * Meta WhatsApp Cloud API adapter.
 *
 * Send: `POST {base}/{version}/{phone_number_id}/messages`, `Authorization: Bearer {access_token}`, JSON body
 * `{ messaging_product: "whatsapp", recipient_type: "individual", to, type, [type]: {...} }`; the answer carries
 * the wamid in `messages[0].id`. Errors are Graph API errors:
 * `{ error: { message, type, code, error_subcode?, error_data?: { messaging_product, details }, fbtrace_id } }`,
 * classified by `code` (Meta recommends building on `code`, not on the HTTP status or the subcode).
 *
 * Templates: `POST {base}/{version}/{waba_id}/message_templates` answers `{ id, status, category }`.
 */
import {
  describeBody,
  failure,
  isFailure,
  isRetryableStatus,
  joinUrl,
  type ProviderHttpConfig,
  type ProviderResponse,
  parseRetryAfter,
  providerFetch,
  redact,
  type SendFailure,
  unsupportedContent,
} from "./http";
import type { OutboundMessage, ProviderAdapter, SendResult, WhatsAppCredentials } from "./types";

export const WHATSAPP_DEFAULT_BASE_URL = "https://graph.facebook.com";
export const WHATSAPP_DEFAULT_API_VERSION = "v21.0";

export interface WhatsAppConfig extends ProviderHttpConfig {
  /** Graph API version segment, `v21.0` unless told otherwise. */
  apiVersion?: string;
}

/** Meta codes worth retrying: throttling (4, 80007, 130429, 131056) and Meta-side trouble (1, 2, 131000, 131016). */
const RETRYABLE_META_CODES = new Set([1, 2, 4, 80007, 130429, 131000, 131016, 131056]);

/** Meta codes that are definitely the request's fault whatever the HTTP status (listed for documentation). */
const PERMANENT_META_CODES = new Set([
  0, // AuthException
  10, // permission denied
  100, // invalid parameter
  190, // access token expired / invalid
  131008, // required parameter missing
  131009, // parameter value not valid
  131026, // message undeliverable (not on WhatsApp, old app, terms not accepted)
  131047, // re-engagement: more than 24 h since the customer last replied
  131051, // unsupported message type
  132000, // template parameter count mismatch
  132001, // template does not exist (in that language)
]);

/** `+5511987654321` → `5511987654321`: Meta's examples address recipients as digits without the plus. */
export function toWhatsAppRecipient(e164: string): string {
  return e164.replace(/[^\d]/g, "");
}

/** The JSON body Meta expects for this message (exported for tests and the sandbox). */
export function buildWhatsAppPayload(message: OutboundMessage): Record<string, unknown> {
  const base = {
    messaging_product: "whatsapp",
    recipient_type: "individual",
    to: toWhatsAppRecipient(message.to),
  };
  const content = message.content;
  switch (content.kind) {
    case "text":
      return {
        ...base,
        type: "text",
        text: { body: content.text.body, preview_url: content.text.previewUrl ?? false },
      };
    case "media": {
      const { type, url, caption, filename } = content.media;
      const media: Record<string, string> = { link: url };
      // Meta rejects a caption on audio, and only documents carry a filename.
      if (caption !== undefined && type !== "audio") media.caption = caption;
      if (filename !== undefined && type === "document") media.filename = filename;
      return { ...base, type, [type]: media };
    }
    case "template": {
      const { name, language, variables, placeholderStyle } = content.template;
      const template: Record<string, unknown> = { name, language: { code: language } };
      const parameters = templateParameters(variables, placeholderStyle);
      if (parameters.length > 0) template.components = [{ type: "body", parameters }];
      return { ...base, type: "template", template };
    }
    case "interactive":
      return { ...base, type: "interactive", interactive: interactivePayload(content.interactive) };
    case "email":
      throw new Error("email content cannot be sent over WhatsApp");
  }
}

function templateParameters(
  variables: Record<string, string>,
  style: "numbered" | "named" | "none",
): Array<Record<string, string>> {
  if (style === "none") return [];
  const entries = Object.entries(variables);
  if (style === "named") {
    return entries.map(([name, text]) => ({ type: "text", parameter_name: name, text }));
  }
  // Positional: Meta fills {{1}}, {{2}}, … from the array order, so order by the placeholder number.
  return entries.sort(([a], [b]) => Number(a) - Number(b)).map(([, text]) => ({ type: "text", text }));
}

type Interactive = Extract<OutboundMessage["content"], { kind: "interactive" }>["interactive"];

function interactivePayload(interactive: Interactive): Record<string, unknown> {
  const out: Record<string, unknown> = { type: interactive.type };
  if (interactive.header !== undefined) out.header = { type: "text", text: interactive.header };
  out.body = { text: interactive.body };
  if (interactive.footer !== undefined) out.footer = { text: interactive.footer };
  if (interactive.type === "button") {
    out.action = {
      buttons: interactive.buttons.map((b) => ({ type: "reply", reply: { id: b.id, title: b.title } })),
    };
  } else {
    out.action = {
      button: interactive.button,
      sections: interactive.sections.map((section) => ({
        title: section.title,
        rows: section.rows.map((row) =>
          row.description === undefined
            ? { id: row.id, title: row.title }
            : { id: row.id, title: row.title, description: row.description },
        ),
      })),
    };
  }
  return out;
}

interface MetaErrorBody {
  error?: {
    message?: unknown;
    type?: unknown;
    code?: unknown;
    error_subcode?: unknown;
    error_user_title?: unknown;
    error_user_msg?: unknown;
    error_data?: { details?: unknown };
    fbtrace_id?: unknown;
  };
}

/** Maps a non-2xx Graph API answer to a failure, classified by Meta's `code`, then by the HTTP status. */
export function mapMetaError(res: ProviderResponse, secrets: readonly string[]): SendFailure {
  const retryAfter = parseRetryAfter(res.headers.get("retry-after"));
  const err = (res.json as MetaErrorBody | undefined)?.error;
  const code = typeof err?.code === "number" ? err.code : Number(err?.code);
  if (!err || !Number.isFinite(code)) {
    return failure(
      `http_${res.status}`,
      redact(`WhatsApp Cloud API answered HTTP ${res.status}: ${describeBody(res.text, secrets)}`, secrets),
      isRetryableStatus(res.status),
      retryAfter,
    );
  }
  const message = typeof err.message === "string" ? err.message : "WhatsApp Cloud API error";
  // Meta's most useful words are in error_data.details (sends) or error_user_title/_msg (template calls).
  const parts = [message, err.error_user_title, err.error_data?.details ?? err.error_user_msg];
  const reason = parts
    .filter((p, i): p is string => typeof p === "string" && p !== "" && parts.indexOf(p) === i)
    .join(": ");
  let retryable: boolean;
  if (RETRYABLE_META_CODES.has(code)) retryable = true;
  else if (PERMANENT_META_CODES.has(code)) retryable = false;
  else retryable = isRetryableStatus(res.status);
  return failure(String(code), redact(reason, secrets), retryable, retryAfter);
}

function secretsOf(creds: WhatsAppCredentials): string[] {
  return [creds.accessToken, creds.appSecret];
}

function graphUrl(config: WhatsAppConfig, objectId: string, edge: string): string {
  const version = config.apiVersion ?? WHATSAPP_DEFAULT_API_VERSION;
  return joinUrl(config.baseUrl, `${version}/${encodeURIComponent(objectId)}/${edge}`);
}

export function createWhatsAppCloudAdapter(
  creds: WhatsAppCredentials,
  config: WhatsAppConfig,
): ProviderAdapter {
  const secrets = secretsOf(creds);
  return {
    async send(message: OutboundMessage): Promise<SendResult> {
      const unsupported = unsupportedContent("whatsapp", message.content);
      if (unsupported) return unsupported;
      const res = await providerFetch(
        "WhatsApp Cloud API",
        graphUrl(config, creds.phoneNumberId, "messages"),
        {
          method: "POST",
          headers: { authorization: `Bearer ${creds.accessToken}`, "content-type": "application/json" },
          body: JSON.stringify(buildWhatsAppPayload(message)),
        },
        config,
        secrets,
      );
      if (isFailure(res)) return res;
      if (res.status < 200 || res.status >= 300) return mapMetaError(res, secrets);
      const id = (res.json as { messages?: Array<{ id?: unknown }> } | undefined)?.messages?.[0]?.id;
      if (typeof id !== "string" || id === "") {
        // Meta took the request; retrying could send it twice, so this is not retryable.
        return failure(
          "invalid_response",
          `WhatsApp Cloud API answered HTTP ${res.status} without a message id: ${describeBody(res.text, secrets)}`,
          false,
        );
      }
      return { ok: true, providerMessageId: id };
    },
  };
}

export type TemplateCategory = "MARKETING" | "UTILITY" | "AUTHENTICATION";
export type TemplateReviewStatus = "PENDING" | "APPROVED" | "REJECTED";

export type TemplateButton =
  | { type: "quick_reply"; text: string }
  | { type: "url"; text: string; url: string; example?: string }
  | { type: "phone_number"; text: string; phoneNumber: string };

/** A template as we submit it for Meta's review. */
export interface TemplateSubmission {
  /** Lowercase letters, digits and underscores (Meta's rule). */
  name: string;
  /** e.g. `pt_BR` */
  language: string;
  category: TemplateCategory;
  /** Body text with `{{1}}`-style (numbered) or `{{first_name}}`-style (named) placeholders. */
  body: string;
  placeholderStyle: "numbered" | "named" | "none";
  /** An example value per placeholder name (`"1"`, `"first_name"`): Meta requires examples for variables. */
  examples: Record<string, string>;
  /** Optional text header; may hold one placeholder, whose example is `header.example`. */
  header?: { text: string; example?: string };
  footer?: string;
  buttons?: TemplateButton[];
}

export type TemplateSubmitResult =
  | { ok: true; providerTemplateId: string; status: TemplateReviewStatus }
  | SendFailure;

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

/** Placeholder names in order of first appearance. */
function placeholders(text: string): string[] {
  const seen: string[] = [];
  for (const match of text.matchAll(PLACEHOLDER)) {
    const name = match[1] as string;
    if (!seen.includes(name)) seen.push(name);
  }
  return seen;
}

/** The JSON body of `POST /{waba_id}/message_templates` (exported for tests). */
export function buildTemplateSubmission(template: TemplateSubmission): Record<string, unknown> {
  const named = template.placeholderStyle === "named";
  const components: Array<Record<string, unknown>> = [];
  if (template.header) {
    const header: Record<string, unknown> = { type: "HEADER", format: "TEXT", text: template.header.text };
    const names = placeholders(template.header.text);
    if (names.length > 0 && template.header.example !== undefined) {
      header.example = named
        ? { header_text_named_params: [{ param_name: names[0], example: template.header.example }] }
        : { header_text: [template.header.example] };
    }
    components.push(header);
  }
  const body: Record<string, unknown> = { type: "BODY", text: template.body };
  const bodyNames = template.placeholderStyle === "none" ? [] : placeholders(template.body);
  if (bodyNames.length > 0) {
    const withExamples = bodyNames.filter((n) => template.examples[n] !== undefined);
    body.example = named
      ? {
          body_text_named_params: withExamples.map((n) => ({ param_name: n, example: template.examples[n] })),
        }
      : {
          body_text: [
            withExamples.sort((a, b) => Number(a) - Number(b)).map((n) => template.examples[n] as string),
          ],
        };
  }
  components.push(body);
  if (template.footer !== undefined) components.push({ type: "FOOTER", text: template.footer });
  if (template.buttons && template.buttons.length > 0) {
    components.push({
      type: "BUTTONS",
      buttons: template.buttons.map((b) => {
        if (b.type === "quick_reply") return { type: "QUICK_REPLY", text: b.text };
        if (b.type === "phone_number")
          return { type: "PHONE_NUMBER", text: b.text, phone_number: b.phoneNumber };
        return b.example === undefined
          ? { type: "URL", text: b.text, url: b.url }
          : { type: "URL", text: b.text, url: b.url, example: [b.example] };
      }),
    });
  }
  const out: Record<string, unknown> = {
    name: template.name,
    language: template.language,
    category: template.category,
  };
  if (named) out.parameter_format = "NAMED";
  out.components = components;
  return out;
}

/** Submits a template for review; Meta answers `{ id, status, category }` (status usually PENDING). */
export async function submitTemplate(
  creds: WhatsAppCredentials,
  template: TemplateSubmission,
  config: WhatsAppConfig,
): Promise<TemplateSubmitResult> {
  const secrets = secretsOf(creds);
  const res = await providerFetch(
    "WhatsApp Cloud API",
    graphUrl(config, creds.wabaId, "message_templates"),
    {
      method: "POST",
      headers: { authorization: `Bearer ${creds.accessToken}`, "content-type": "application/json" },
      body: JSON.stringify(buildTemplateSubmission(template)),
    },
    config,
    secrets,
  );
  if (isFailure(res)) return res;
  if (res.status < 200 || res.status >= 300) return mapMetaError(res, secrets);
  const answer = res.json as { id?: unknown; status?: unknown } | undefined;
  if (typeof answer?.id !== "string" || answer.id === "") {
    return failure(
      "invalid_response",
      `WhatsApp Cloud API answered HTTP ${res.status} without a template id: ${describeBody(res.text, secrets)}`,
      false,
    );
  }
  const status: TemplateReviewStatus =
    answer.status === "APPROVED" || answer.status === "REJECTED" ? answer.status : "PENDING";
  return { ok: true, providerTemplateId: answer.id, status };
}
