import { z } from "@hono/zod-openapi";
import { and, desc, eq, lt } from "drizzle-orm";
import { createMiddleware } from "hono/factory";
import { createDb, type Db } from "../db/client";
import { type ContactImportRow, contactImports, lists, outbox } from "../db/schema";
import { isKnownRegion, parseTagsOption } from "../domain/contact-import";
import type { AppBindings, Principal } from "../env";
import { ApiError } from "../errors";
import { newId } from "../ids";
import { principalOf } from "../middleware/auth";
import { isJsonRequest } from "../middleware/json-body";
import { importObjectKey, MAX_BODY_IMPORT_BYTES, MAX_REPORTED_ERRORS } from "../queues/contact-import";
import { enqueue, newOutboxRow } from "../queues/jobs";
import { encryptSecrets } from "../secrets";
import { renderImport } from "../services/contact-upsert";
import { putStream, UploadTooLargeError } from "../services/r2-upload";
import { allowLocalWebhooks, checkWebhookUrl } from "../webhooks/url-guard";
import { CONTACTS_READ } from "./contact-schemas";
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
} from "./shared";

const IMPORT_EXAMPLE_ID = "imp_01jd3x6n2m8q4v7w9y0z1a2b3c";
const LIST_EXAMPLE_ID = "lst_01jd3x6n2m8q4v7w9y0z1a2b3c";
const tags = ["Contacts"];

/** Raw uploads: the file's content type says its format. */
const RAW_FORMATS: Record<string, "csv" | "ndjson"> = {
  "text/csv": "csv",
  "application/x-ndjson": "ndjson",
};
const formatOf = (contentType: string | undefined) =>
  RAW_FORMATS[(contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? ""];

const CountsSchema = z
  .object({
    rows: z
      .number()
      .int()
      .openapi({ description: "Data rows read so far (header and blank lines not counted).", example: 1000 }),
    created: z.number().int().openapi({ example: 950 }),
    updated: z.number().int().openapi({ description: "Rows that matched an existing contact.", example: 30 }),
    skipped: z
      .number()
      .int()
      .openapi({ description: "Rows with no phone, email or external_id.", example: 5 }),
    failed: z.number().int().openapi({ example: 15 }),
  })
  .openapi("ContactImportCounts");

export const ContactImportSchema = z
  .object({
    object: z.literal("contact_import"),
    id: z.string().openapi({ example: IMPORT_EXAMPLE_ID }),
    status: z.enum(["pending", "processing", "completed", "failed"]).openapi({ example: "processing" }),
    format: z.enum(["csv", "ndjson"]).openapi({ example: "csv" }),
    source: z
      .enum(["body", "url"])
      .openapi({ description: "`body`: uploaded as the request body; `url`: fetched.", example: "body" }),
    source_host: z.string().nullable().openapi({
      description: "Host of the source URL (never the URL itself).",
      example: "my-bucket.s3.amazonaws.com",
    }),
    list_id: z
      .string()
      .nullable()
      .openapi({ description: "Every imported contact is added to this list.", example: LIST_EXAMPLE_ID }),
    tags: z
      .array(z.string())
      .openapi({ description: "Added to every imported contact.", example: ["import-2026-11"] }),
    default_country: z
      .string()
      .nullable()
      .openapi({ description: "Region of phone numbers written without a country code.", example: "BR" }),
    size_bytes: z.number().int().nullable().openapi({ example: 7340032 }),
    counts: CountsSchema,
    errors: z.array(z.object({ row: z.number().int(), message: z.string() })).openapi({
      description: `The first ${MAX_REPORTED_ERRORS} failed rows. \`row\` is the 1-based data row (the CSV header and blank lines are not counted; for NDJSON, the 1-based non-blank line).`,
      example: [{ row: 17, message: "phone: Phone number is too short for BR (+55)." }],
    }),
    failure_reason: z
      .string()
      .nullable()
      .openapi({ description: "Why a `failed` import stopped.", example: null }),
    created_at: Timestamp,
    completed_at: Timestamp.nullable(),
  })
  .openapi("ContactImport");

const DefaultCountry = z
  .string()
  .regex(/^[A-Za-z]{2}$/, "Use an ISO 3166-1 alpha-2 code such as BR or US.")
  .transform((value) => value.toUpperCase())
  .openapi({
    description: "Region of phone numbers written without a country code (a `country` column overrides it).",
    example: "BR",
  });

const CreateImportJson = z
  .strictObject({
    url: z.string().min(1).max(4096).openapi({
      description:
        "A presigned HTTPS URL of the file (S3, R2 or any host), fetched by Sendwire; at most 100 MB. Stored encrypted; only its host is shown.",
      example: "https://my-bucket.s3.amazonaws.com/contacts.csv?X-Amz-Signature=…",
    }),
    format: z.enum(["csv", "ndjson"]).default("csv").openapi({ example: "csv" }),
    list_id: z.string().max(64).optional().openapi({ example: LIST_EXAMPLE_ID }),
    tags: z
      .array(z.string().trim().min(1).max(64))
      .max(50)
      .optional()
      .openapi({ example: ["import-2026-11"] }),
    default_country: DefaultCountry.optional(),
  })
  .openapi("CreateContactImportRequest");

const CreateImportQuery = z.object({
  list_id: z
    .string()
    .max(64)
    .optional()
    .openapi({
      param: { name: "list_id", in: "query" },
      description: "Raw uploads: add every contact to this list.",
      example: LIST_EXAMPLE_ID,
    }),
  tags: z
    .string()
    .max(3300)
    .optional()
    .openapi({
      param: { name: "tags", in: "query" },
      description: "Raw uploads: comma-separated tags for every contact.",
      example: "import-2026-11,newsletter",
    }),
  default_country: DefaultCountry.optional().openapi({ param: { name: "default_country", in: "query" } }),
});

const CSV_EXAMPLE =
  "phone,email,name,external_id,tags,plan\n+5511987654321,maria@example.com,Maria Silva,user_4815,vip;newsletter,pro\n";

const createImportRoute = scopedRoute(
  "contacts:manage",
  {
    method: "post",
    path: "/v1/contact-imports",
    tags,
    summary: "Import contacts",
    description:
      "Imports contacts in the background; poll GET /v1/contact-imports/{id} or wait for the `contact_import.completed` " +
      "(or `.failed`) webhook. Send the file itself as the body (`Content-Type: text/csv` or `application/x-ndjson`, " +
      "at most 10 MB, options as query parameters), or JSON `{url, format, list_id, tags, default_country}` with a " +
      "presigned HTTPS URL (at most 100 MB). CSV columns (case-insensitive): `phone`, `email`, `name`, `external_id`, " +
      "`tags` (`;`-separated), `country`; every other column becomes an attribute (numbers and true/false are typed). " +
      "A phone number becomes the contact's `whatsapp` and `sms` address. A row that matches an existing contact by " +
      "`external_id` or by an address updates it (tags and attributes merged); an invalid row is counted in `failed` and " +
      "listed in `errors`; a row with no phone, email or external_id is `skipped`.",
    request: {
      query: CreateImportQuery,
      body: {
        required: false,
        content: {
          "application/json": { schema: CreateImportJson },
          "text/csv": { schema: z.string().openapi({ example: CSV_EXAMPLE }) },
          "application/x-ndjson": {
            schema: z.string().openapi({
              example:
                '{"phone":"+5511987654321","name":"Maria Silva","tags":["vip"],"attributes":{"plan":"pro"}}\n',
            }),
          },
        },
      },
    },
    responses: {
      202: jsonResponse("The import, accepted; it continues in the background.", ContactImportSchema),
    },
  },
  ["validation_error", "invalid_json", "resource_not_found", "payload_too_large", "unsupported_media_type"],
);

const getImportRoute = scopedRoute(
  CONTACTS_READ,
  {
    method: "get",
    path: "/v1/contact-imports/{id}",
    tags,
    summary: "Retrieve a contact import",
    description: "Its status, counts so far and the first failed rows.",
    request: { params: IdParamSchema(IMPORT_EXAMPLE_ID) },
    responses: { 200: jsonResponse("The import.", ContactImportSchema) },
  },
  ["resource_not_found"],
);

const listImportsRoute = scopedRoute(
  CONTACTS_READ,
  {
    method: "get",
    path: "/v1/contact-imports",
    tags,
    summary: "List contact imports",
    description: "Newest first.",
    request: { query: PaginationQuerySchema },
    responses: {
      200: jsonResponse("A page of imports.", listSchema(ContactImportSchema, "ContactImportList")),
    },
  },
  ["validation_error", "invalid_cursor"],
);

const importScope = (caller: Principal) =>
  and(eq(contactImports.tenantId, caller.tenantId), eq(contactImports.environment, caller.environment));

function invalid(path: string, message: string): never {
  throw new ApiError("validation_error", `Invalid request. ${path}: ${message}`, {
    details: [{ path, message }],
  });
}

async function assertList(db: Db, caller: Principal, listId: string | undefined) {
  if (listId === undefined) return null;
  const [found] = await db
    .select({ id: lists.id })
    .from(lists)
    .where(
      and(
        eq(lists.tenantId, caller.tenantId),
        eq(lists.environment, caller.environment),
        eq(lists.id, listId),
      ),
    )
    .limit(1);
  if (!found)
    throw new ApiError("resource_not_found", `No list ${listId.slice(0, 64)} exists in this environment.`);
  return found.id;
}

function checkCountry(value: string | undefined) {
  if (value !== undefined && !isKnownRegion(value))
    invalid("default_country", `${value} is not a region we know.`);
  return value ?? null;
}

/** A body that is neither JSON nor a file format we read: 415 before anything else reads it. */
const rawContentType = createMiddleware<AppBindings>(async (c, next) => {
  const contentType = c.req.header("content-type");
  if (c.req.method === "POST" && contentType && !isJsonRequest(contentType) && !formatOf(contentType)) {
    throw new ApiError(
      "unsupported_media_type",
      `Send the file as \`text/csv\` or \`application/x-ndjson\`, or JSON \`{"url": …}\` (got \`${contentType.slice(0, 60)}\`).`,
    );
  }
  await next();
});

export const contactImportsRouter = newRouter();
contactImportsRouter.use("/v1/contact-imports", rawContentType);
contactImportsRouter
  .openapi(createImportRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const now = new Date();
    const id = newId("contactImport");
    const contentType = c.req.header("content-type");
    let row: ContactImportRow;
    if (contentType && !isJsonRequest(contentType)) {
      const format = formatOf(contentType);
      if (!format)
        throw new ApiError(
          "unsupported_media_type",
          "Send the file as `text/csv` or `application/x-ndjson`.",
        );
      const query = c.req.valid("query");
      const listId = await assertList(db, caller, query.list_id);
      const tagOption = parseTagsOption(query.tags);
      if (!tagOption.ok) invalid("tags", tagOption.reason);
      const defaultCountry = checkCountry(query.default_country);
      const declared = c.req.header("content-length");
      const length = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : null;
      if (!c.req.raw.body || length === 0) invalid("body", "The file is empty.");
      const key = importObjectKey(caller.tenantId, id);
      let size: number;
      try {
        size = await putStream(c.env.MEDIA, key, c.req.raw.body, length, MAX_BODY_IMPORT_BYTES);
      } catch (error) {
        if (error instanceof UploadTooLargeError) {
          throw new ApiError(
            "payload_too_large",
            'The file is larger than 10 MB: upload it somewhere and send JSON `{"url": …}` with a presigned URL (up to 100 MB).',
          );
        }
        throw error;
      }
      if (size === 0) {
        await c.env.MEDIA.delete(key);
        invalid("body", "The file is empty.");
      }
      row = {
        id,
        tenantId: caller.tenantId,
        environment: caller.environment,
        status: "pending",
        format,
        source: "body",
        sourceUrlCiphertext: null,
        sourceHost: null,
        listId,
        tags: tagOption.tags,
        defaultCountry,
        objectKey: key,
        sizeBytes: size,
        columns: null,
        checkpointOffset: 0,
        checkpointRow: 0,
        counts: { rows: 0, created: 0, updated: 0, skipped: 0, failed: 0 },
        errors: [],
        failureReason: null,
        createdAt: now,
        updatedAt: now,
        completedAt: null,
      };
    } else {
      // The JSON validator ran only for a JSON body (this branch); its type also covers the file bodies.
      const body = c.req.valid("json") as Partial<z.infer<typeof CreateImportJson>>;
      if (!body.url)
        invalid(
          "body",
          'Send the file as the body (`text/csv`, `application/x-ndjson`) or JSON `{"url": …}`.',
        );
      const checked = checkWebhookUrl(body.url, {
        allowLocal: allowLocalWebhooks(c.env.ALLOW_LOCAL_WEBHOOKS, c.env.PUBLIC_BASE_URL),
      });
      if (!checked.ok) invalid("url", checked.reason);
      const listId = await assertList(db, caller, body.list_id);
      const tagOption = parseTagsOption((body.tags ?? []).join(","));
      if (!tagOption.ok) invalid("tags", tagOption.reason);
      row = {
        id,
        tenantId: caller.tenantId,
        environment: caller.environment,
        status: "pending",
        format: body.format ?? "csv",
        source: "url",
        sourceUrlCiphertext: await encryptSecrets(
          { url: body.url },
          c.env.SECRETS_ENCRYPTION_KEY,
          caller.tenantId,
        ),
        sourceHost: checked.url.host,
        listId,
        tags: tagOption.tags,
        defaultCountry: checkCountry(body.default_country),
        objectKey: null,
        sizeBytes: null,
        columns: null,
        checkpointOffset: 0,
        checkpointRow: 0,
        counts: { rows: 0, created: 0, updated: 0, skipped: 0, failed: 0 },
        errors: [],
        failureReason: null,
        createdAt: now,
        updatedAt: now,
        completedAt: null,
      };
    }
    const job = newOutboxRow("contact_import", id, {}, now, now, 0);
    await db.batch([db.insert(contactImports).values(row), db.insert(outbox).values(job)]);
    c.executionCtx.waitUntil(enqueue(c.env, [job], now));
    return c.json(renderImport(row), 202);
  })
  .openapi(getImportRoute, async (c) => {
    const caller = principalOf(c);
    const db = createDb(c.env.DB);
    const [row] = await db
      .select()
      .from(contactImports)
      .where(and(importScope(caller), eq(contactImports.id, c.req.valid("param").id)))
      .limit(1);
    if (!row)
      throw new ApiError("resource_not_found", "No contact import with that id exists in this environment.");
    return c.json(renderImport(row), 200);
  })
  .openapi(listImportsRoute, async (c) => {
    const caller = principalOf(c);
    const query = c.req.valid("query");
    const after = decodeCursor(query.cursor);
    const db = createDb(c.env.DB);
    const rows = await db
      .select()
      .from(contactImports)
      .where(and(importScope(caller), after ? lt(contactImports.id, after) : undefined))
      .orderBy(desc(contactImports.id))
      .limit(query.limit + 1);
    return c.json(page(rows, query.limit, renderImport), 200);
  });
