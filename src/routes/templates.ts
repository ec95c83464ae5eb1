import { z } from "@hono/zod-openapi";
import { and, desc, eq, isNull, lt, lte } from "drizzle-orm";
import type { Context } from "hono";
import { createDb, type Db, isUniqueViolation } from "../db/client";
import { outbox, type TemplateRow, templates } from "../db/schema";
import {
  isTemplateLanguage,
  isTemplateName,
  parsePlaceholders,
  validateTemplateDefinition,
} from "../domain/templates";
import type { AppBindings, Env, Principal } from "../env";
import { ApiError } from "../errors";
import { newId } from "../ids";
import { principalOf } from "../middleware/auth";
import { submitTemplate } from "../providers/whatsapp-cloud";
import { enqueue, newOutboxRow } from "../queues/jobs";
import { settleSandboxReview } from "../queues/template-review";
import { findLiveChannel, whatsAppConfig } from "../services/channels";
import {
  decodeCursor,
  IdParamSchema,
  jsonResponse,
  listSchema,
  newRouter,
  PaginationQuerySchema,
  page,
  scopedRoute,
  Timestamp,
  toTimestamp,
} from "./shared";

/** The sandbox "reviews" a template for this long; names starting with `reject_` are rejected. */
export const SANDBOX_REVIEW_MS = 3_000;

const ButtonSchema = z
  .strictObject({
    type: z.enum(["quick_reply", "url", "phone_number", "copy_code"]),
    text: z.string().min(1).max(25),
    url: z
      .url({ protocol: /^https$/ })
      .max(2000)
      .optional(),
    phone_number: z.string().max(20).optional(),
  })
  .openapi("TemplateButton");

export const TemplateSchema = z
  .object({
    object: z.literal("template"),
    id: z.string().openapi({ example: "tpl_01jd3x6n2m8q4v7w9y0z1a2b3c" }),
    name: z.string().openapi({ example: "order_confirmation" }),
    language: z.string().openapi({ example: "pt_BR" }),
    category: z.enum(["marketing", "utility", "authentication"]),
    channel: z.enum(["whatsapp", "sms", "email"]),
    body: z.string().openapi({ example: "Olá {{1}}, seu pedido {{2}} foi confirmado." }),
    header: z.string().nullable(),
    buttons: z.array(ButtonSchema),
    placeholders: z.object({ style: z.enum(["numbered", "named", "none"]), names: z.array(z.string()) }),
    status: z.enum(["pending", "approved", "rejected"]),
    rejection_reason: z.string().nullable(),
    channel_id: z.string().nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Template");

function renderTemplate(row: TemplateRow): z.infer<typeof TemplateSchema> {
  return {
    object: "template",
    id: row.id,
    name: row.name,
    language: row.language,
    category: row.category,
    channel: row.channel,
    body: row.body,
    header: row.header,
    buttons: (row.buttons ?? []) as z.infer<typeof ButtonSchema>[],
    placeholders: { style: row.placeholderStyle, names: row.placeholders },
    status: row.status,
    rejection_reason: row.rejectionReason,
    channel_id: row.channelId,
    created_at: toTimestamp(row.createdAt),
    updated_at: toTimestamp(row.updatedAt),
  };
}

function scopeOf(caller: Principal) {
  return and(
    eq(templates.tenantId, caller.tenantId),
    eq(templates.environment, caller.environment),
    isNull(templates.deletedAt),
  );
}

/** The template a send names, by name and language, in the caller's environment (settled if due). */
export async function findTemplateForSend(
  env: Env,
  db: Db,
  caller: Principal,
  name: string,
  language: string,
  now: Date,
) {
  const [row] = await db
    .select()
    .from(templates)
    .where(and(scopeOf(caller), eq(templates.name, name), eq(templates.language, language)))
    .limit(1);
  return row ? settleSandboxReview(env, db, row, now) : null;
}

const CreateTemplateBody = z
  .strictObject({
    name: z
      .string()
      .refine(
        isTemplateName,
        "Use lowercase letters, digits and underscores (Meta's rule), e.g. order_confirmation.",
      ),
    language: z.string().refine(isTemplateLanguage, "Use a language code such as en, en_US or pt_BR."),
    category: z.enum(["marketing", "utility", "authentication"]),
    channel: z.enum(["whatsapp", "sms", "email"]).default("whatsapp"),
    body: z.string().min(1).max(1024),
    header: z.string().min(1).max(60).optional(),
    footer: z.string().min(1).max(60).optional(),
    buttons: z.array(ButtonSchema).max(10).optional(),
    examples: z
      .record(z.string().max(64), z.string().min(1).max(200))
      .optional()
      .openapi({
        description: "Example value per placeholder, sent to Meta for review.",
        example: { "1": "Maria" },
      }),
    channel_id: z
      .string()
      .max(64)
      .optional()
      .openapi({ description: "Live WhatsApp: the channel (WABA) to submit to." }),
  })
  .openapi("CreateTemplateRequest");

const createTemplateRoute = scopedRoute(
  "templates:manage",
  {
    method: "post",
    path: "/v1/templates",
    tags: ["Templates"],
    summary: "Create a template",
    description:
      "Stores a template as `pending`. In the sandbox it is approved after about 3 seconds (rejected when its name " +
      "starts with `reject_`); in live, WhatsApp templates are submitted to Meta for review.",
    request: { body: { required: true, content: { "application/json": { schema: CreateTemplateBody } } } },
    responses: {
      201: jsonResponse("The template.", TemplateSchema),
    },
  },
  ["validation_error", "invalid_json", "template_exists", "channel_not_configured", "provider_error"],
);

const ListTemplatesQuery = PaginationQuerySchema.extend({
  name: z
    .string()
    .max(512)
    .optional()
    .openapi({ param: { name: "name", in: "query" } }),
  language: z
    .string()
    .max(16)
    .optional()
    .openapi({ param: { name: "language", in: "query" } }),
  status: z
    .enum(["pending", "approved", "rejected"])
    .optional()
    .openapi({ param: { name: "status", in: "query" } }),
});

const listTemplatesRoute = scopedRoute(
  "templates:read",
  {
    method: "get",
    path: "/v1/templates",
    tags: ["Templates"],
    summary: "List templates",
    request: { query: ListTemplatesQuery },
    responses: {
      200: jsonResponse("A page of templates.", listSchema(TemplateSchema, "TemplateList")),
    },
  },
  ["validation_error", "invalid_cursor"],
);

const getTemplateRoute = scopedRoute(
  "templates:read",
  {
    method: "get",
    path: "/v1/templates/{id}",
    tags: ["Templates"],
    summary: "Retrieve a template",
    request: { params: IdParamSchema("tpl_01jd3x6n2m8q4v7w9y0z1a2b3c") },
    responses: {
      200: jsonResponse("The template.", TemplateSchema),
    },
  },
  ["resource_not_found"],
);

const deleteTemplateRoute = scopedRoute(
  "templates:manage",
  {
    method: "delete",
    path: "/v1/templates/{id}",
    tags: ["Templates"],
    summary: "Delete a template",
    description: "The template can no longer be sent; messages already accepted are not affected.",
    request: { params: IdParamSchema("tpl_01jd3x6n2m8q4v7w9y0z1a2b3c") },
    responses: {
      200: jsonResponse("The deleted template.", TemplateSchema),
    },
  },
  ["resource_not_found"],
);

async function findTemplate(env: Env, db: Db, caller: Principal, id: string, now: Date) {
  const [row] = await db
    .select()
    .from(templates)
    .where(and(scopeOf(caller), eq(templates.id, id)))
    .limit(1);
  if (!row) throw new ApiError("resource_not_found", "No template with that id exists in this environment.");
  return settleSandboxReview(env, db, row, now);
}

/** Live WhatsApp: submit to Meta and take its verdict (or its refusal) as the template's status. */
async function submitToMeta(
  c: Context<AppBindings>,
  caller: Principal,
  body: z.infer<typeof CreateTemplateBody>,
) {
  const channel = await findLiveChannel(
    createDb(c.env.DB),
    c.env,
    caller,
    "whatsapp",
    body.channel_id ?? null,
  );
  if (channel.type !== "whatsapp")
    throw new ApiError("channel_not_configured", "Templates are reviewed by Meta: pick a WhatsApp channel.");
  const placeholders = parsePlaceholders(`${body.header ?? ""} ${body.body}`);
  const examples = Object.fromEntries(
    placeholders.names.map((name) => [name, body.examples?.[name] ?? `example ${name}`]),
  );
  const answer = await submitTemplate(
    channel.credentials,
    {
      name: body.name,
      language: body.language,
      category: body.category.toUpperCase() as "MARKETING" | "UTILITY" | "AUTHENTICATION",
      body: body.body,
      placeholderStyle: placeholders.style,
      examples,
      header: body.header
        ? { text: body.header, example: examples[parsePlaceholders(body.header).names[0] ?? ""] }
        : undefined,
      footer: body.footer,
      buttons: body.buttons
        ?.filter((b) => b.type !== "copy_code")
        .map((b) =>
          b.type === "url"
            ? { type: "url" as const, text: b.text, url: b.url ?? "" }
            : b.type === "phone_number"
              ? { type: "phone_number" as const, text: b.text, phoneNumber: b.phone_number ?? "" }
              : { type: "quick_reply" as const, text: b.text },
        ),
    },
    whatsAppConfig(c.env),
  );
  if (answer.ok) {
    return {
      channelId: channel.id,
      status: answer.status.toLowerCase() as "pending" | "approved" | "rejected",
      providerTemplateId: answer.providerTemplateId,
      rejectionReason: null,
    };
  }
  if (answer.retryable) {
    throw new ApiError(
      "provider_error",
      `Meta did not accept the template right now (${answer.code}): ${answer.reason}. Retry later.`,
    );
  }
  return {
    channelId: channel.id,
    status: "rejected" as const,
    providerTemplateId: null,
    rejectionReason: `${answer.code}: ${answer.reason}`,
  };
}

function templateExists(name: string, language: string, id: string | null) {
  return new ApiError(
    "template_exists",
    `A template named ${name} in ${language} already exists${id ? ` (${id})` : ""}; delete it first or pick another name.`,
  );
}

export const templatesRouter = newRouter()
  .openapi(createTemplateRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    const problems = validateTemplateDefinition({
      body: body.body,
      header: body.header,
      footer: body.footer,
      buttons: body.buttons,
    });
    if (problems.length > 0) {
      throw new ApiError(
        "validation_error",
        `The template is not valid: ${problems.map((p) => p.message).join(" ")}`,
        {
          details: problems.map((p) => ({ path: p.field, message: p.message })),
        },
      );
    }
    const db = createDb(c.env.DB);
    const now = new Date();
    const [clash] = await db
      .select({ id: templates.id })
      .from(templates)
      .where(and(scopeOf(caller), eq(templates.name, body.name), eq(templates.language, body.language)))
      .limit(1);
    if (clash) throw templateExists(body.name, body.language, clash.id);
    const review =
      caller.environment === "live" && body.channel === "whatsapp"
        ? await submitToMeta(c, caller, body)
        : caller.environment === "live"
          ? { channelId: null, status: "approved" as const, providerTemplateId: null, rejectionReason: null }
          : {
              channelId: body.channel_id ?? null,
              status: "pending" as const,
              providerTemplateId: null,
              rejectionReason: null,
            };
    const placeholders = parsePlaceholders(`${body.header ?? ""} ${body.body}`);
    const row: TemplateRow = {
      id: newId("template"),
      tenantId: caller.tenantId,
      environment: caller.environment,
      channelId: review.channelId,
      name: body.name,
      language: body.language,
      category: body.category,
      channel: body.channel,
      body: body.body,
      header: body.header ?? null,
      buttons: body.buttons ?? [],
      placeholderStyle: placeholders.style,
      placeholders: placeholders.names,
      status: review.status,
      rejectionReason: review.rejectionReason,
      providerTemplateId: review.providerTemplateId,
      reviewDueAt: caller.environment === "test" ? new Date(now.getTime() + SANDBOX_REVIEW_MS) : null,
      createdAt: now,
      updatedAt: now,
      deletedAt: null,
    };
    // The sandbox review finishes by itself: a delayed job, re-driven by the sweeper if it is lost.
    const reviewJobs = row.reviewDueAt
      ? [newOutboxRow("template_review", row.id, {}, row.reviewDueAt, now)]
      : [];
    try {
      await db.batch([
        db.insert(templates).values(row),
        ...reviewJobs.map((job) => db.insert(outbox).values(job)),
      ]);
    } catch (error) {
      // A concurrent create of the same name and language won the unique index.
      if (isUniqueViolation(error)) throw templateExists(body.name, body.language, null);
      throw error;
    }
    await enqueue(c.env, reviewJobs, now);
    return c.json(renderTemplate(row), 201);
  })
  .openapi(listTemplatesRoute, async (c) => {
    const caller = principalOf(c);
    const query = c.req.valid("query");
    const after = decodeCursor(query.cursor);
    const db = createDb(c.env.DB);
    const now = new Date();
    // Settle due sandbox reviews first, so the status filter below sees the real status.
    const due = await db
      .select()
      .from(templates)
      .where(and(scopeOf(caller), eq(templates.status, "pending"), lte(templates.reviewDueAt, now)));
    await Promise.all(due.map((row) => settleSandboxReview(c.env, db, row, now)));
    const rows = await db
      .select()
      .from(templates)
      .where(
        and(
          scopeOf(caller),
          query.name ? eq(templates.name, query.name) : undefined,
          query.language ? eq(templates.language, query.language) : undefined,
          query.status ? eq(templates.status, query.status) : undefined,
          after ? lt(templates.id, after) : undefined,
        ),
      )
      .orderBy(desc(templates.id))
      .limit(query.limit + 1);
    return c.json(page(rows, query.limit, renderTemplate), 200);
  })
  .openapi(getTemplateRoute, async (c) => {
    const caller = principalOf(c);
    const row = await findTemplate(c.env, createDb(c.env.DB), caller, c.req.valid("param").id, new Date());
    return c.json(renderTemplate(row), 200);
  })
  .openapi(deleteTemplateRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const now = new Date();
    const row = await findTemplate(c.env, db, caller, c.req.valid("param").id, now);
    await db.update(templates).set({ deletedAt: now, updatedAt: now }).where(eq(templates.id, row.id));
    return c.json(renderTemplate({ ...row, deletedAt: now, updatedAt: now }), 200);
  });
