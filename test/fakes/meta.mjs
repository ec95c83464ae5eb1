// @ts-check
/**
 * Fake Meta WhatsApp Cloud API (Graph API): `POST /{version}/{phone_number_id}/messages` and
 * `POST /{version}/{waba_id}/message_templates`, Bearer-token auth per registered phone number, payload checks,
 * and Graph-shaped errors `{ error: { message, type, code, error_subcode?, error_data?, fbtrace_id } }`.
 *
 * Register an account: POST /__control/accounts
 *   { phone_number_id, waba_id, access_token, strict_templates?: boolean, template_status?: "PENDING"|"APPROVED"|"REJECTED" }
 * Scope: the phone_number_id (template calls on its waba_id are recorded under it too).
 * Templates submitted through message_templates are remembered: sending one with the wrong parameter count
 * answers 132000; with `strict_templates`, sending an unknown or unapproved template answers 132001.
 */
import { randomBytes } from "node:crypto";
import { BoundedMap, isHttpUrl, isObject, LIMITS, randomDigits, randomHex } from "./core.mjs";

/**
 * @typedef {{ id: string, name: string, language: string, category: string, status: string, format: "NAMED" | "POSITIONAL", bodyParams: string[] }} StoredTemplate
 * @typedef {{ phoneNumberId: string, wabaId: string, accessToken: string, strictTemplates: boolean, templateStatus: string, templates: Map<string, StoredTemplate> }} MetaAccount
 * @typedef {import("./core.mjs").FakeRequest} FakeRequest
 * @typedef {import("./core.mjs").FakeResponse} FakeResponse
 */

const MEDIA_TYPES = new Set(["image", "video", "audio", "document", "sticker"]);
const OTHER_TYPES = new Set(["location", "contacts", "reaction"]);

function fbtraceId() {
  return randomBytes(8)
    .toString("base64")
    .replace(/[^A-Za-z0-9]/g, "x")
    .slice(0, 11);
}

/**
 * @param {number} status
 * @param {number} code
 * @param {string} message
 * @param {{ type?: string, subcode?: number, details?: string, userTitle?: string, userMsg?: string, headers?: Record<string, string> }} [extra]
 * @returns {FakeResponse}
 */
export function metaError(status, code, message, extra = {}) {
  /** @type {Record<string, unknown>} */
  const error = { message, type: extra.type ?? "OAuthException", code };
  if (extra.subcode !== undefined) error.error_subcode = extra.subcode;
  if (extra.userTitle !== undefined) error.error_user_title = extra.userTitle;
  if (extra.userMsg !== undefined) error.error_user_msg = extra.userMsg;
  if (extra.details !== undefined)
    error.error_data = { messaging_product: "whatsapp", details: extra.details };
  error.fbtrace_id = fbtraceId();
  return { status, body: { error }, headers: extra.headers ?? {} };
}

/** @param {string} param */
const required = (param) => metaError(400, 100, `(#100) The parameter ${param} is required.`);
/** @param {string} key @param {string} param */
const unexpected = (key, param) => metaError(400, 100, `(#100) Unexpected key "${key}" on param "${param}".`);
/** @param {string} details */
const invalidValue = (details) =>
  metaError(400, 131009, "(#131009) Parameter value is not valid", { details });

/**
 * @param {Record<string, any>} obj
 * @param {string[]} allowed
 * @param {string} param
 */
function checkKeys(obj, allowed, param) {
  for (const key of Object.keys(obj)) if (!allowed.includes(key)) return unexpected(key, param);
  return null;
}

/**
 * @param {unknown} value
 * @param {number} max
 */
const isText = (value, max) => typeof value === "string" && value.length > 0 && value.length <= max;

/** A wamid as Meta formats them: base64 of a small binary record holding the recipient and a hex id. */
function wamid(/** @type {string} */ to) {
  const digits = Buffer.from(to.replace(/\D/g, "").slice(0, 20), "ascii");
  const tail = Buffer.from(randomHex(9).toUpperCase(), "ascii");
  const bytes = Buffer.concat([
    Buffer.from([0x1c, 0x18, digits.length]),
    digits,
    Buffer.from([0x15, 0x02, 0x00, 0x11, 0x18, 0x12]),
    tail,
    Buffer.from([0x00]),
  ]);
  return `wamid.${bytes.toString("base64")}`;
}

/** @param {string} text */
function placeholderNames(text) {
  /** @type {string[]} */
  const out = [];
  for (const m of text.matchAll(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g)) if (!out.includes(m[1])) out.push(m[1]);
  return out;
}

/**
 * @param {Record<string, any>} media
 * @param {string} type
 */
function checkMedia(media, type) {
  const allowed = ["link", "id"];
  if (type !== "audio" && type !== "sticker") allowed.push("caption");
  if (type === "document") allowed.push("filename");
  const bad = checkKeys(media, allowed, type);
  if (bad) return bad;
  if (media.link === undefined && media.id === undefined) return required(`${type}['link'] or ${type}['id']`);
  if (media.link !== undefined && (typeof media.link !== "string" || !isHttpUrl(media.link))) {
    return invalidValue(`${type}['link'] must be an http(s) URL`);
  }
  if (media.caption !== undefined && !isText(media.caption, 1024)) {
    return invalidValue(`${type}['caption'] must be 1-1024 characters`);
  }
  if (media.filename !== undefined && !isText(media.filename, 240)) {
    return invalidValue(`${type}['filename'] must be 1-240 characters`);
  }
  return null;
}

/** @param {Record<string, any>} interactive */
function checkInteractive(interactive) {
  const bad = checkKeys(interactive, ["type", "header", "body", "footer", "action"], "interactive");
  if (bad) return bad;
  if (interactive.type !== "button" && interactive.type !== "list") {
    return interactive.type === undefined
      ? required("interactive['type']")
      : invalidValue(`Interactive type "${interactive.type}" is not supported here`);
  }
  if (!isObject(interactive.body) || interactive.body.text === undefined)
    return required("interactive['body']['text']");
  if (!isText(interactive.body.text, 1024))
    return invalidValue("Body text length invalid. Min length: 1, Max length: 1024");
  if (interactive.header !== undefined) {
    const h = interactive.header;
    if (!isObject(h) || h.type !== "text")
      return invalidValue("Only text headers are supported in this fake");
    if (!isText(h.text, 60)) return invalidValue("Header text length invalid. Min length: 1, Max length: 60");
  }
  if (interactive.footer !== undefined) {
    if (!isObject(interactive.footer) || !isText(interactive.footer.text, 60)) {
      return invalidValue("Footer text length invalid. Min length: 1, Max length: 60");
    }
  }
  const action = interactive.action;
  if (!isObject(action)) return required("interactive['action']");
  if (interactive.type === "button") {
    const bad2 = checkKeys(action, ["buttons"], "interactive['action']");
    if (bad2) return bad2;
    if (!Array.isArray(action.buttons) || action.buttons.length < 1 || action.buttons.length > 3) {
      return invalidValue("Buttons count invalid. Min: 1, Max: 3");
    }
    const ids = new Set();
    for (const b of action.buttons) {
      if (!isObject(b) || b.type !== "reply" || !isObject(b.reply))
        return invalidValue("Each button must be {type: reply, reply: {id, title}}");
      if (!isText(b.reply.id, 256))
        return invalidValue("Button id length invalid. Min length: 1, Max length: 256");
      if (!isText(b.reply.title, 20))
        return invalidValue("Button title length invalid. Min length: 1, Max length: 20");
      if (ids.has(b.reply.id)) return invalidValue("Button IDs must be unique");
      ids.add(b.reply.id);
    }
    return null;
  }
  const bad3 = checkKeys(action, ["button", "sections"], "interactive['action']");
  if (bad3) return bad3;
  if (!isText(action.button, 20))
    return invalidValue("Button text length invalid. Min length: 1, Max length: 20");
  if (!Array.isArray(action.sections) || action.sections.length < 1 || action.sections.length > 10) {
    return invalidValue("Sections count invalid. Min: 1, Max: 10");
  }
  let rows = 0;
  for (const s of action.sections) {
    if (!isObject(s) || !Array.isArray(s.rows))
      return required("interactive['action']['sections'][]['rows']");
    if (action.sections.length > 1 && !isText(s.title, 24))
      return invalidValue("Section title length invalid. Min length: 1, Max length: 24");
    if (s.title !== undefined && !isText(s.title, 24))
      return invalidValue("Section title length invalid. Min length: 1, Max length: 24");
    for (const r of s.rows) {
      if (!isObject(r)) return invalidValue("Each row must be an object");
      const badRow = checkKeys(
        r,
        ["id", "title", "description"],
        "interactive['action']['sections'][]['rows'][]",
      );
      if (badRow) return badRow;
      if (!isText(r.id, 200)) return invalidValue("Row id length invalid. Min length: 1, Max length: 200");
      if (!isText(r.title, 24))
        return invalidValue("Row title length invalid. Min length: 1, Max length: 24");
      if (r.description !== undefined && !isText(r.description, 72)) {
        return invalidValue("Row description length invalid. Min length: 1, Max length: 72");
      }
      rows++;
    }
  }
  if (rows < 1 || rows > 10) return invalidValue("Total row count exceed max allowed count: 10");
  return null;
}

/**
 * @param {Record<string, any>} template
 * @param {MetaAccount} account
 */
function checkTemplate(template, account) {
  const bad = checkKeys(template, ["name", "language", "components", "namespace"], "template");
  if (bad) return bad;
  if (!isText(template.name, 512)) return required("template['name']");
  if (!isObject(template.language) || !isText(template.language.code, 20))
    return required("template['language']['code']");
  /** @type {Record<string, any>[]} */
  let bodyParams = [];
  if (template.components !== undefined) {
    if (!Array.isArray(template.components)) return invalidValue("template['components'] must be an array");
    for (const c of template.components) {
      if (!isObject(c) || typeof c.type !== "string") return required("template['components'][]['type']");
      if (!["header", "body", "button"].includes(c.type.toLowerCase())) {
        return invalidValue(`Unknown template component type "${c.type}"`);
      }
      if (c.parameters !== undefined && !Array.isArray(c.parameters))
        return invalidValue("parameters must be an array");
      if (c.type.toLowerCase() === "body") bodyParams = c.parameters ?? [];
    }
  }
  let named = 0;
  for (const p of bodyParams) {
    if (!isObject(p) || typeof p.type !== "string")
      return required("template['components'][]['parameters'][]['type']");
    if (p.type === "text") {
      const badP = checkKeys(
        p,
        ["type", "text", "parameter_name"],
        "template['components'][]['parameters'][]",
      );
      if (badP) return badP;
      if (typeof p.text !== "string" || p.text === "")
        return required("template['components'][]['parameters'][]['text']");
      if (p.parameter_name !== undefined) {
        if (typeof p.parameter_name !== "string" || !/^[a-z_][a-z0-9_]*$/.test(p.parameter_name)) {
          return invalidValue("parameter_name must be lowercase letters, digits and underscores");
        }
        named++;
      }
    }
  }
  if (named > 0 && named !== bodyParams.length) {
    return invalidValue("Named and positional parameters cannot be mixed in one component");
  }
  const stored = account.templates.get(`${template.name}|${template.language.code}`);
  if (!stored) {
    if (account.strictTemplates) {
      return metaError(404, 132001, "(#132001) Template name does not exist in the translation", {
        details: `template name (${template.name}) does not exist in ${template.language.code}`,
      });
    }
    return null;
  }
  if (account.strictTemplates && stored.status !== "APPROVED") {
    return metaError(404, 132001, "(#132001) Template name does not exist in the translation", {
      details: `template name (${template.name}) does not exist in ${template.language.code}`,
    });
  }
  const expected = stored.bodyParams.length;
  const names = bodyParams.map((p) => p.parameter_name).filter((n) => typeof n === "string");
  const mismatch =
    bodyParams.length !== expected ||
    (stored.format === "NAMED" &&
      (names.length !== expected || !stored.bodyParams.every((n) => names.includes(n))));
  if (mismatch) {
    return metaError(
      400,
      132000,
      "(#132000) Number of parameters does not match the expected number of params",
      {
        details: `body: number of localizable_params (${bodyParams.length}) does not match the expected number of params (${expected})`,
      },
    );
  }
  return null;
}

/**
 * @param {unknown} body
 * @param {MetaAccount} account
 * @returns {FakeResponse}
 */
function sendMessage(body, account) {
  if (!isObject(body)) return required("messaging_product");
  if (body.messaging_product === undefined) return required("messaging_product");
  if (body.messaging_product !== "whatsapp") {
    return metaError(
      400,
      100,
      `(#100) Param messaging_product must be one of {WHATSAPP} - got "${body.messaging_product}".`,
    );
  }
  if (body.recipient_type !== undefined && body.recipient_type !== "individual") {
    return metaError(
      400,
      100,
      `(#100) Param recipient_type must be one of {INDIVIDUAL, GROUP} - got "${body.recipient_type}".`,
    );
  }
  if (body.to === undefined) return required("to");
  if (typeof body.to !== "string" || !/^\+?\d{7,15}$/.test(body.to)) {
    return metaError(400, 100, "(#100) Invalid parameter", {
      details: `Invalid WhatsApp recipient "${String(body.to)}"`,
    });
  }
  const type = body.type ?? "text";
  if (
    typeof type !== "string" ||
    !(
      type === "text" ||
      type === "template" ||
      type === "interactive" ||
      MEDIA_TYPES.has(type) ||
      OTHER_TYPES.has(type)
    )
  ) {
    return metaError(400, 131051, "(#131051) Unsupported message type", {
      details: `Message type "${String(type)}" is not supported`,
    });
  }
  const topKeys = [
    "messaging_product",
    "recipient_type",
    "to",
    "type",
    "context",
    "biz_opaque_callback_data",
    type,
  ];
  const badTop = checkKeys(body, topKeys, "<root>");
  if (badTop) return badTop;
  const inner = body[type];
  if (!isObject(inner)) return required(type);
  /** @type {FakeResponse | null} */
  let problem = null;
  if (type === "text") {
    problem = checkKeys(inner, ["body", "preview_url"], "text");
    if (!problem && inner.body === undefined) problem = required("text['body']");
    if (!problem && !isText(inner.body, 4096))
      problem = invalidValue("text['body'] must be 1-4096 characters");
    if (!problem && inner.preview_url !== undefined && typeof inner.preview_url !== "boolean") {
      problem = invalidValue("text['preview_url'] must be a boolean");
    }
  } else if (MEDIA_TYPES.has(type)) {
    problem = checkMedia(inner, type);
  } else if (type === "template") {
    problem = checkTemplate(inner, account);
  } else if (type === "interactive") {
    problem = checkInteractive(inner);
  }
  if (problem) return problem;
  /** @type {Record<string, string>} */
  const message = { id: wamid(body.to) };
  if (type === "template") message.message_status = "accepted";
  return {
    status: 200,
    body: {
      messaging_product: "whatsapp",
      contacts: [{ input: body.to, wa_id: body.to.replace(/\D/g, "") }],
      messages: [message],
    },
  };
}

/**
 * @param {string} userTitle
 * @param {string} userMsg
 * @param {number} [subcode]
 */
const templateError = (userTitle, userMsg, subcode = 2388040) =>
  metaError(400, 100, "Invalid parameter", { subcode, userTitle, userMsg, details: userMsg });

/**
 * @param {unknown} body
 * @param {MetaAccount} account
 * @returns {FakeResponse}
 */
function createTemplate(body, account) {
  if (!isObject(body)) return required("name");
  const bad = checkKeys(
    body,
    ["name", "language", "category", "components", "parameter_format", "allow_category_change"],
    "<root>",
  );
  if (bad) return bad;
  if (body.name === undefined) return required("name");
  if (typeof body.name !== "string" || !/^[a-z0-9_]{1,512}$/.test(body.name)) {
    return templateError(
      "Invalid template name",
      "Template names may only contain lowercase letters, numbers and underscores.",
    );
  }
  if (!isText(body.language, 20)) return required("language");
  if (!["MARKETING", "UTILITY", "AUTHENTICATION"].includes(body.category)) {
    return metaError(
      400,
      100,
      `(#100) Param category must be one of {AUTHENTICATION, MARKETING, UTILITY} - got "${body.category}".`,
    );
  }
  const format = body.parameter_format ?? "POSITIONAL";
  if (format !== "NAMED" && format !== "POSITIONAL") {
    return metaError(
      400,
      100,
      `(#100) Param parameter_format must be one of {NAMED, POSITIONAL} - got "${format}".`,
    );
  }
  if (!Array.isArray(body.components)) return required("components");
  const bodies = body.components.filter((c) => isObject(c) && c.type === "BODY");
  if (bodies.length !== 1)
    return templateError("Message template body is missing", "A template needs exactly one BODY component.");
  for (const c of body.components) {
    if (!isObject(c) || !["HEADER", "BODY", "FOOTER", "BUTTONS"].includes(c.type)) {
      return metaError(
        400,
        100,
        `(#100) Param components[].type must be one of {BODY, BUTTONS, FOOTER, HEADER} - got "${isObject(c) ? c.type : c}".`,
      );
    }
  }
  const component = bodies[0];
  if (!isText(component.text, 1024))
    return templateError("Invalid body text", "BODY text must be 1-1024 characters.");
  const names = placeholderNames(component.text);
  if (names.length > 0) {
    const example = component.example;
    const missing = templateError(
      'Message template "components" param is missing expected field(s)',
      "component of type BODY is missing expected field(s) (example)",
      2388043,
    );
    if (format === "NAMED") {
      if (!names.every((n) => /^[a-z_][a-z0-9_]*$/.test(n))) {
        return templateError(
          "Invalid parameter name",
          "Named parameters must be lowercase letters, digits and underscores.",
        );
      }
      const params = isObject(example) ? example.body_text_named_params : undefined;
      if (!Array.isArray(params)) return missing;
      const given = params.map((p) => (isObject(p) ? p.param_name : undefined));
      if (
        given.length !== names.length ||
        !names.every((n) => given.includes(n)) ||
        params.some((p) => !isText(p.example, 1024))
      ) {
        return templateError(
          "Examples do not match parameters",
          "body_text_named_params must give one example per named parameter.",
        );
      }
    } else {
      const sequential = names.map(Number).sort((a, b) => a - b);
      if (!sequential.every((n, i) => n === i + 1)) {
        return templateError(
          "Invalid variable parameters",
          "Positional parameters must be {{1}}, {{2}}, … in sequence.",
        );
      }
      const rows = isObject(example) ? example.body_text : undefined;
      if (!Array.isArray(rows) || !Array.isArray(rows[0])) return missing;
      if (rows[0].length !== names.length || rows[0].some((/** @type {unknown} */ v) => !isText(v, 1024))) {
        return templateError(
          "Examples do not match parameters",
          `body_text needs ${names.length} example value(s).`,
        );
      }
    }
  }
  const key = `${body.name}|${body.language}`;
  if (account.templates.has(key)) {
    return templateError(
      "Content in This Language Already Exists",
      `There's already ${body.language} content for this template. You can create a new template and try again.`,
      2388024,
    );
  }
  /** @type {StoredTemplate} */
  const stored = {
    id: randomDigits(16),
    name: body.name,
    language: body.language,
    category: body.category,
    status: account.templateStatus,
    format,
    bodyParams: names,
  };
  account.templates.set(key, stored);
  return { status: 200, body: { id: stored.id, status: stored.status, category: stored.category } };
}

/** @returns {import("./core.mjs").FakeProvider} */
export function createMetaFake() {
  /** @type {BoundedMap} phone_number_id → MetaAccount */
  const accounts = new BoundedMap(LIMITS.maxAccounts);
  /** @type {BoundedMap} waba_id → phone_number_id */
  const wabas = new BoundedMap(LIMITS.maxAccounts);

  /** @param {string} path */
  const parsePath = (path) => /^\/([^/]+)\/([^/]+)\/(messages|message_templates)$/.exec(path);

  return {
    name: "meta",
    register(input) {
      const { phone_number_id, waba_id, access_token } = input;
      if (typeof phone_number_id !== "string" || !/^\d+$/.test(phone_number_id))
        return { error: "phone_number_id (digits) is required" };
      if (typeof waba_id !== "string" || !/^\d+$/.test(waba_id))
        return { error: "waba_id (digits) is required" };
      if (typeof access_token !== "string" || access_token === "")
        return { error: "access_token is required" };
      const templateStatus = input.template_status ?? "PENDING";
      if (!["PENDING", "APPROVED", "REJECTED"].includes(String(templateStatus)))
        return { error: "bad template_status" };
      accounts.set(phone_number_id, {
        phoneNumberId: phone_number_id,
        wabaId: waba_id,
        accessToken: access_token,
        strictTemplates: input.strict_templates === true,
        templateStatus: String(templateStatus),
        templates: new Map(),
      });
      wabas.set(waba_id, phone_number_id);
      return { scope: phone_number_id };
    },
    forget(scope) {
      const account = accounts.get(scope);
      if (account) wabas.delete(account.wabaId);
      accounts.delete(scope);
    },
    scopeOf(req) {
      const m = parsePath(req.path);
      if (!m) return req.path.split("/")[2] ?? "unknown";
      return m[3] === "message_templates" ? (wabas.get(m[2]) ?? m[2]) : m[2];
    },
    recipientOf(req) {
      return isObject(req.body) && typeof req.body.to === "string" ? req.body.to : undefined;
    },
    handle(req) {
      const m = parsePath(req.path);
      if (!m) return metaError(400, 2500, `Unknown path components: ${req.path}`);
      const [, version, objectId, edge] = m;
      if (!/^v\d+\.\d+$/.test(version)) return metaError(400, 2500, `Unknown path components: /${version}`);
      if (req.method !== "POST") {
        return metaError(
          400,
          100,
          `Unsupported ${req.method.toLowerCase()} request. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
          { type: "GraphMethodException" },
        );
      }
      const auth = String(req.headers.authorization ?? "");
      const token = /^(?:Bearer|OAuth) (.+)$/i.exec(auth)?.[1];
      if (!token) return metaError(400, 104, "An access token is required to request this resource.");
      const phoneId = edge === "message_templates" ? wabas.get(objectId) : objectId;
      /** @type {MetaAccount | undefined} */
      const account = phoneId === undefined ? undefined : accounts.get(phoneId);
      if (!account) {
        return metaError(
          400,
          100,
          `Unsupported post request. Object with ID '${objectId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
          { type: "GraphMethodException", subcode: 33 },
        );
      }
      if (token !== account.accessToken) {
        return metaError(401, 190, "Invalid OAuth access token - Cannot parse access token", {
          headers: {
            "www-authenticate":
              'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token - Cannot parse access token"',
          },
        });
      }
      return edge === "messages" ? sendMessage(req.body, account) : createTemplate(req.body, account);
    },
  };
}
