import { createRoute, z } from "@hono/zod-openapi";
import { and, desc, eq, isNull, lt } from "drizzle-orm";
import type { Context } from "hono";
import { createDb } from "../db/client";
import { type MediaRow, media, outbox } from "../db/schema";
import { API_URL_TTL_SECONDS, cleanFilename, kindOf, MAX_MEDIA_BYTES } from "../domain/media";
import type { AppBindings, Principal } from "../env";
import { ApiError } from "../errors";
import { newId } from "../ids";
import { principalOf } from "../middleware/auth";
import { isRawUpload } from "../middleware/json-body";
import { enqueue, newOutboxRow } from "../queues/jobs";
import { encryptSecrets } from "../secrets";
import { findMedia, objectKeyOf, recordUploaded, storeMediaStream } from "../services/media";
import { signedMediaUrl, verifyMediaSignature } from "../services/media-urls";
import { allowLocalWebhooks, checkWebhookUrl } from "../webhooks/url-guard";
import {
  DeletedMediaSchema,
  ListMediaQuery,
  MEDIA_EXAMPLE_ID,
  MediaSchema,
  type MediaView,
  SignedQuery,
  UploadFromUrlBody,
  UploadQuery,
} from "./media-schemas";
import {
  decodeCursor,
  errorResponses,
  IdParamSchema,
  jsonResponse,
  listSchema,
  newRouter,
  page,
  scopedRoute,
  toTimestamp,
} from "./shared";

/**
 * The media library: files uploaded once (as the raw request body, or fetched from a URL in the background),
 * stored in the private MEDIA bucket, deduplicated by SHA-256 per tenant and environment, and sent with
 * `media: {type, media_id}`. Providers fetch them through `GET /media/{id}?exp=…&sig=…`, a signed, expiring
 * URL served here, so the bucket is never public.
 *
 * The type is decided by the file's bytes: a wrong `Content-Type` on the upload is corrected (PNG bytes sent
 * as `application/pdf` are stored as `image/png`); bytes of no accepted type are refused 415 whatever they
 * claim to be.
 */

const tags = ["Media"];
/** Reading the library takes `messages:read`; `messages:send` (which uploads and sends media) includes it. */
const MEDIA_READ = ["messages:read", "messages:send"] as const;

const MediaIdParam = IdParamSchema(MEDIA_EXAMPLE_ID);

const uploadRoute = scopedRoute(
  "messages:send",
  {
    method: "post",
    path: "/v1/media",
    tags,
    summary: "Upload media",
    description:
      "Two ways in. **The file as the raw body**, with its `Content-Type` (any non-JSON type) and `?filename=`: " +
      "streamed into storage (at most 100 MB, the largest any channel sends), its type read from its bytes " +
      "(JPEG, PNG, GIF, MP4, 3GPP, AAC, AMR, MP3, M4A, OGG, PDF, plain text, Word, Excel, PowerPoint); answers " +
      "201 with the ready media, or 200 with the existing one when the same bytes were uploaded before. " +
      "**JSON `{url, filename?}`**: answers 202 `processing`; the file is fetched in the background (poll " +
      "GET /v1/media/{id}). Size limits per channel are checked when the media is sent: WhatsApp image 5 MB, " +
      "video and audio 16 MB, document 100 MB; MMS image 5 MB.",
    request: {
      query: UploadQuery,
      body: {
        required: false,
        content: {
          "application/json": { schema: UploadFromUrlBody },
          "*/*": {
            schema: z.string().openapi({ format: "binary", description: "The file's bytes." }),
          },
        },
      },
    },
    responses: {
      201: jsonResponse("Stored: the new media, ready to send.", MediaSchema),
      200: jsonResponse("The same bytes are already media: that media.", MediaSchema),
      202: jsonResponse("Accepted: the URL is fetched in the background.", MediaSchema),
    },
  },
  ["validation_error", "invalid_json", "payload_too_large", "unsupported_media_type"],
);

const listRoute = scopedRoute(
  MEDIA_READ,
  {
    method: "get",
    path: "/v1/media",
    tags,
    summary: "List media",
    description: "Newest first; deleted media are not listed.",
    request: { query: ListMediaQuery },
    responses: { 200: jsonResponse("A page of media.", listSchema(MediaSchema, "MediaList")) },
  },
  ["validation_error", "invalid_cursor"],
);

const getRoute = scopedRoute(
  MEDIA_READ,
  {
    method: "get",
    path: "/v1/media/{id}",
    tags,
    summary: "Retrieve media",
    description:
      "Its status (poll this after a `{url}` upload) and, once ready, a signed URL valid for 1 hour.",
    request: { params: MediaIdParam },
    responses: { 200: jsonResponse("The media.", MediaSchema) },
  },
  ["resource_not_found"],
);

const deleteRoute = scopedRoute(
  "messages:send",
  {
    method: "delete",
    path: "/v1/media/{id}",
    tags,
    summary: "Delete media",
    description:
      "Deletes the file from storage: its signed URLs stop working at once, and messages not yet dispatched " +
      "with it fail (`media_unavailable`, refunded). Messages already sent are not affected.",
    request: { params: MediaIdParam },
    responses: { 200: jsonResponse("Deleted.", DeletedMediaSchema) },
  },
  ["resource_not_found"],
);

const publicFileRoute = createRoute({
  method: "get",
  path: "/media/{id}",
  tags,
  summary: "Fetch a media file (signed URL)",
  description:
    "What providers fetch: the file's bytes with its stored content type. No API key; the URL's signature and " +
    "expiry are the authority. A missing, altered or expired signature, or deleted media, answers 404 and never " +
    "the bytes. Sendwire hands these URLs to providers itself; GET /v1/media/{id} shows one.",
  request: { params: MediaIdParam, query: SignedQuery },
  responses: {
    200: {
      description: "The file.",
      content: { "*/*": { schema: { type: "string", format: "binary" }, example: "(the file's bytes)" } },
    },
    ...errorResponses("resource_not_found"),
  },
});

const baseUrlOf = (c: Context<AppBindings>) => c.env.PUBLIC_BASE_URL ?? new URL(c.req.url).origin;

async function render(c: Context<AppBindings>, row: MediaRow, now: Date): Promise<MediaView> {
  const signed =
    row.status === "ready"
      ? await signedMediaUrl(c.env, baseUrlOf(c), row.id, API_URL_TTL_SECONDS, now)
      : null;
  return {
    object: "media",
    id: row.id,
    status: row.status,
    content_type: row.contentType,
    kind: row.contentType ? kindOf(row.contentType) : null,
    size_bytes: row.sizeBytes,
    sha256: row.sha256,
    filename: row.filename,
    failure_reason: row.failureReason,
    url: signed?.url ?? null,
    url_expires_at: toTimestamp(signed?.expiresAt ?? null),
    created_at: toTimestamp(row.createdAt),
    updated_at: toTimestamp(row.updatedAt),
  };
}

const notFound = () =>
  new ApiError("resource_not_found", "No media with that id exists in this environment.");

async function findOr404(c: Context<AppBindings>, caller: Principal, id: string) {
  const row = await findMedia(createDb(c.env.DB), caller, id);
  if (!row) throw notFound();
  return row;
}

function invalidUrl(message: string): ApiError {
  return new ApiError("validation_error", `Invalid body. url: ${message}`, {
    details: [{ path: "url", message }],
  });
}

/** The raw-body upload: streamed into R2 under the new id, then recorded (or deduplicated). */
async function uploadRaw(c: Context<AppBindings>, caller: Principal, filename: string | null) {
  const declaredLength = c.req.header("content-length");
  if (
    declaredLength !== undefined &&
    /^\d+$/.test(declaredLength) &&
    Number(declaredLength) > MAX_MEDIA_BYTES
  ) {
    throw new ApiError(
      "payload_too_large",
      `The file is ${declaredLength} bytes; media uploads take at most ${MAX_MEDIA_BYTES} bytes (100 MB).`,
    );
  }
  const body = c.req.raw.body;
  if (!body) throw new ApiError("validation_error", "The request body is empty; send the file's bytes.");
  const id = newId("media");
  const objectKey = objectKeyOf(caller.tenantId, caller.environment, id);
  const stored = await storeMediaStream(c.env.MEDIA, objectKey, body, {
    maxBytes: MAX_MEDIA_BYTES,
    declared: c.req.header("content-type"),
    filename,
  });
  if (!stored.ok) {
    if (stored.problem === "too_large") throw new ApiError("payload_too_large", stored.message);
    if (stored.problem === "empty") {
      throw new ApiError("validation_error", "The request body is empty; send the file's bytes.");
    }
    throw new ApiError("unsupported_media_type", stored.message);
  }
  const now = new Date();
  return recordUploaded(createDb(c.env.DB), c.env.MEDIA, {
    id,
    tenantId: caller.tenantId,
    environment: caller.environment,
    status: "ready",
    contentType: stored.contentType,
    sizeBytes: stored.sizeBytes,
    sha256: stored.sha256,
    filename,
    objectKey,
    sourceUrlCiphertext: null,
    failureReason: null,
    createdAt: now,
    updatedAt: now,
    deletedAt: null,
  });
}

/** The last path segment of a URL, as a default filename (never the query: it holds the presigned signature). */
function filenameFromUrl(url: URL): string | null {
  const last = url.pathname.split("/").pop() ?? "";
  try {
    return cleanFilename(decodeURIComponent(last));
  } catch {
    return cleanFilename(last);
  }
}

export const mediaRouter = newRouter()
  .openapi(uploadRoute, async (c) => {
    const caller = principalOf(c);
    const now = new Date();
    if (isRawUpload(c)) {
      const { row, created } = await uploadRaw(c, caller, cleanFilename(c.req.valid("query").filename));
      return c.json(await render(c, row, now), created ? 201 : 200);
    }
    // Validated when JSON was sent; `{}` when nothing was (the raw-body branch is taken above).
    const body = c.req.valid("json") as Partial<z.infer<typeof UploadFromUrlBody>>;
    if (body.url === undefined) {
      throw new ApiError(
        "validation_error",
        "Send the file as the raw body (with its Content-Type), or JSON {url} to have it fetched.",
        { details: [{ path: "url", message: "Required field is missing." }] },
      );
    }
    const allowLocal = allowLocalWebhooks(c.env.ALLOW_LOCAL_WEBHOOKS, c.env.PUBLIC_BASE_URL);
    const checked = checkWebhookUrl(body.url, { allowLocal });
    if (!checked.ok) {
      throw invalidUrl(
        checked.reason.replace(/^Webhook URL/, "The URL").replace(/^Webhook host/, "The host"),
      );
    }
    const id = newId("media");
    const row: MediaRow = {
      id,
      tenantId: caller.tenantId,
      environment: caller.environment,
      status: "processing",
      contentType: null,
      sizeBytes: null,
      sha256: null,
      filename: cleanFilename(body.filename) ?? filenameFromUrl(checked.url),
      objectKey: null,
      // The URL may carry a presigned credential: encrypted at rest like channel credentials.
      sourceUrlCiphertext: await encryptSecrets(
        { url: checked.url.href },
        c.env.SECRETS_ENCRYPTION_KEY,
        caller.tenantId,
      ),
      failureReason: null,
      createdAt: now,
      updatedAt: now,
      deletedAt: null,
    };
    const db = createDb(c.env.DB);
    const job = newOutboxRow("media_fetch", id, {}, now, now);
    await db.batch([db.insert(media).values(row), db.insert(outbox).values(job)]);
    await enqueue(c.env, [job], now);
    return c.json(await render(c, row, now), 202);
  })
  .openapi(listRoute, async (c) => {
    const caller = principalOf(c);
    const query = c.req.valid("query");
    const after = decodeCursor(query.cursor);
    const now = new Date();
    const rows = await createDb(c.env.DB)
      .select()
      .from(media)
      .where(
        and(
          eq(media.tenantId, caller.tenantId),
          eq(media.environment, caller.environment),
          isNull(media.deletedAt),
          query.status ? eq(media.status, query.status) : undefined,
          after ? lt(media.id, after) : undefined,
        ),
      )
      .orderBy(desc(media.id))
      .limit(query.limit + 1);
    const shown = rows.slice(0, query.limit);
    const rendered = new Map<string, MediaView>();
    for (const row of shown) rendered.set(row.id, await render(c, row, now));
    return c.json(
      page(rows, query.limit, (row) => rendered.get(row.id) as MediaView),
      200,
    );
  })
  .openapi(getRoute, async (c) => {
    const row = await findOr404(c, principalOf(c), c.req.valid("param").id);
    return c.json(await render(c, row, new Date()), 200);
  })
  .openapi(deleteRoute, async (c) => {
    const caller = principalOf(c);
    const row = await findOr404(c, caller, c.req.valid("param").id);
    const now = new Date();
    // The row first: once it is marked deleted no signed URL serves it, even if the object delete fails.
    await createDb(c.env.DB)
      .update(media)
      .set({ deletedAt: now, updatedAt: now, sourceUrlCiphertext: null })
      .where(
        and(
          eq(media.id, row.id),
          eq(media.tenantId, caller.tenantId),
          eq(media.environment, caller.environment),
        ),
      );
    if (row.objectKey) await c.env.MEDIA.delete(row.objectKey);
    return c.json({ object: "media" as const, id: row.id, deleted: true as const }, 200);
  })
  .openapi(publicFileRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { exp, sig } = c.req.valid("query");
    const now = new Date();
    const missing = () =>
      new ApiError("resource_not_found", "No media at this URL, or the link is invalid or has expired.");
    if (!(await verifyMediaSignature(c.env, id, exp, sig, now))) throw missing();
    const [row] = await createDb(c.env.DB)
      .select()
      .from(media)
      .where(and(eq(media.id, id), isNull(media.deletedAt), eq(media.status, "ready")))
      .limit(1);
    const object = row?.objectKey ? await c.env.MEDIA.get(row.objectKey) : null;
    if (!row || !object) throw missing();
    const remaining = Math.max(0, Number(exp) - Math.floor(now.getTime() / 1000));
    const headers = new Headers({
      "content-type": row.contentType ?? "application/octet-stream",
      "content-length": String(object.size),
      "cache-control": `private, max-age=${Math.min(remaining, 3600)}`,
      "x-content-type-options": "nosniff",
      "content-security-policy": "default-src 'none'; sandbox",
      etag: `"${row.sha256 ?? object.etag}"`,
    });
    if (row.filename) {
      headers.set("content-disposition", `inline; filename*=UTF-8''${encodeURIComponent(row.filename)}`);
    }
    return new Response(object.body, { status: 200, headers }) as never;
  });
