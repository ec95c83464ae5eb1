import { z } from "@hono/zod-openapi";
import { PaginationQuerySchema, Timestamp } from "./shared";

/** Request and response schemas of the media routes (src/routes/media.ts). */

export const MEDIA_EXAMPLE_ID = "med_01jd3x6n2m8q4v7w9y0z1a2b3c";

export const MediaSchema = z
  .object({
    object: z.literal("media"),
    id: z.string().openapi({ example: MEDIA_EXAMPLE_ID }),
    status: z.enum(["processing", "ready", "failed"]).openapi({
      description: "`processing` while a `{url}` upload is fetched; `ready` to send; `failed` with a reason.",
      example: "ready",
    }),
    content_type: z.string().nullable().openapi({
      description: "Detected from the file's bytes, not from the upload's Content-Type.",
      example: "image/png",
    }),
    kind: z
      .enum(["image", "video", "audio", "document"])
      .nullable()
      .openapi({ description: "The `media.type` it can be sent as.", example: "image" }),
    size_bytes: z.number().int().nullable().openapi({ example: 48213 }),
    sha256: z
      .string()
      .nullable()
      .openapi({ example: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" }),
    filename: z.string().nullable().openapi({ example: "receipt.png" }),
    failure_reason: z.string().nullable().openapi({ example: null }),
    url: z
      .string()
      .nullable()
      .openapi({
        description:
          "A signed URL that serves the file without an API key until `url_expires_at` (1 hour); null until ready.",
        example: `http://localhost:8787/media/${MEDIA_EXAMPLE_ID}?exp=1795464000&sig=3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`,
      }),
    url_expires_at: Timestamp.nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Media");

export type MediaView = z.infer<typeof MediaSchema>;
export const UploadFromUrlBody = z
  .strictObject({
    url: z
      .string()
      .min(1)
      .max(2000)
      .openapi({
        description:
          "An https URL the worker fetches in the background (a presigned S3 or R2 URL works), through the same " +
          "guard as webhook URLs: no private or loopback addresses, no redirects, at most 100 MB.",
        example: "https://files.example.com/receipts/1234.png?X-Amz-Signature=…",
      }),
    filename: z.string().min(1).max(240).optional().openapi({ example: "receipt.png" }),
  })
  .openapi("UploadMediaFromUrlRequest");

export const UploadQuery = z.object({
  filename: z
    .string()
    .min(1)
    .max(240)
    .optional()
    .openapi({
      param: { name: "filename", in: "query" },
      description: "The file's name (raw uploads), shown to recipients of documents.",
      example: "receipt.png",
    }),
});

export const ListMediaQuery = PaginationQuerySchema.extend({
  status: z
    .enum(["processing", "ready", "failed"])
    .optional()
    .openapi({ param: { name: "status", in: "query" }, example: "ready" }),
});

export const DeletedMediaSchema = z
  .object({
    object: z.literal("media"),
    id: z.string().openapi({ example: MEDIA_EXAMPLE_ID }),
    deleted: z.literal(true),
  })
  .openapi("DeletedMedia");

export const SignedQuery = z.object({
  exp: z
    .string()
    .max(20)
    .optional()
    .openapi({
      param: { name: "exp", in: "query" },
      description: "Expiry, unix seconds.",
      example: "1795464000",
    }),
  sig: z
    .string()
    .max(100)
    .optional()
    .openapi({
      param: { name: "sig", in: "query" },
      description: "HMAC-SHA256 of the id and expiry, base64url.",
      example: "3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    }),
});
