import { z } from "@hono/zod-openapi";
import { and, desc, eq, lt } from "drizzle-orm";
import { createDb } from "../db/client";
import { type ChannelRow, channels } from "../db/schema";
import { ApiError } from "../errors";
import { newId } from "../ids";
import { principalOf } from "../middleware/auth";
import { encryptSecrets } from "../secrets";
import {
  channelScope,
  channelSecrets,
  findOwnChannel,
  inboundUrl,
  maskedCredentials,
  publicOrigin,
} from "../services/channels";
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

const Secret = z.string().min(8).max(1024);
const VerifyToken = z
  .string()
  .regex(/^[\x21-\x7e]{8,128}$/, "8–128 printable ASCII characters without spaces.");
const WebhookSecret = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/=]{16,200}$/, "Resend's signing secret looks like whsec_ followed by base64.")
  .openapi({
    description:
      "The signing secret of the Resend webhook pointed at `inbound_url` (Svix `whsec_…`); without it email events are refused.",
  });

const CreateChannelBody = z
  .discriminatedUnion("type", [
    z.strictObject({
      type: z.literal("whatsapp"),
      name: z.string().trim().min(1).max(100),
      phone_number_id: z.string().regex(/^\d{5,30}$/, "Meta phone number ids are digits."),
      waba_id: z.string().regex(/^\d{5,30}$/, "WhatsApp Business Account ids are digits."),
      access_token: Secret,
      app_secret: Secret,
      verify_token: VerifyToken.optional().openapi({
        description:
          "What Meta's webhook handshake must send as `hub.verify_token`; generated when omitted (shown in `config`).",
      }),
    }),
    z.strictObject({
      type: z.literal("sms"),
      name: z.string().trim().min(1).max(100),
      account_sid: z
        .string()
        .regex(/^AC[0-9a-fA-F]{32}$/, "Twilio Account SIDs look like AC followed by 32 hex digits."),
      auth_token: Secret,
      from: z.string().max(20).optional(),
      messaging_service_sid: z
        .string()
        .regex(/^MG[0-9a-fA-F]{32}$/)
        .optional(),
    }),
    z.strictObject({
      type: z.literal("email"),
      name: z.string().trim().min(1).max(100),
      api_key: Secret,
      from: z.string().min(3).max(320).openapi({ example: "Acme <notifications@acme.com>" }),
      webhook_secret: WebhookSecret.optional(),
    }),
  ])
  .refine((b) => b.type !== "sms" || (b.from === undefined) !== (b.messaging_service_sid === undefined), {
    message: "Send exactly one of from or messaging_service_sid.",
    path: ["from"],
  })
  .openapi("CreateChannelRequest");

export const ChannelSchema = z
  .object({
    object: z.literal("channel"),
    id: z.string().openapi({ example: "chn_01jd3x6n2m8q4v7w9y0z1a2b3c" }),
    type: z.enum(["whatsapp", "sms", "email"]),
    name: z.string(),
    environment: z.enum(["live", "test"]),
    config: z.record(z.string(), z.string()).openapi({ description: "Non-secret settings (ids, sender)." }),
    credentials: z
      .record(z.string(), z.string())
      .openapi({ description: "Which credentials are stored, each shown only as its last 4 characters." }),
    inbound_url: z.string().openapi({ description: "Point the provider's webhooks here." }),
    created_at: Timestamp,
  })
  .openapi("Channel");

type ChannelBody = z.infer<typeof CreateChannelBody>;

function split(body: ChannelBody): { config: Record<string, string>; secrets: Record<string, string> } {
  switch (body.type) {
    case "whatsapp":
      return {
        config: {
          phone_number_id: body.phone_number_id,
          waba_id: body.waba_id,
          verify_token: body.verify_token ?? generateVerifyToken(),
        },
        secrets: { access_token: body.access_token, app_secret: body.app_secret },
      };
    case "sms":
      return {
        config: {
          account_sid: body.account_sid,
          ...(body.from ? { from: body.from } : {}),
          ...(body.messaging_service_sid ? { messaging_service_sid: body.messaging_service_sid } : {}),
        },
        secrets: { auth_token: body.auth_token },
      };
    case "email":
      return {
        config: { from: body.from },
        secrets: {
          api_key: body.api_key,
          ...(body.webhook_secret ? { webhook_secret: body.webhook_secret } : {}),
        },
      };
  }
}

/** Meta echoes it in the handshake; it only proves the URL is the one the tenant registered. */
function generateVerifyToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return `vt_${btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")}`;
}

function renderChannel(
  row: ChannelRow,
  origin: string,
  masked: Record<string, string>,
): z.infer<typeof ChannelSchema> {
  return {
    object: "channel",
    id: row.id,
    type: row.type,
    name: row.name,
    environment: row.environment,
    config: row.config,
    credentials: masked,
    inbound_url: inboundUrl(origin, row),
    created_at: toTimestamp(row.createdAt),
  };
}

const createChannelRoute = scopedRoute(
  "messages:send",
  {
    method: "post",
    path: "/v1/channels",
    tags: ["Channels"],
    summary: "Connect a sender",
    description:
      "Connects a WhatsApp number (Meta Cloud API), a Twilio SMS sender or a Resend email sender. Credentials are " +
      "encrypted at rest and never returned. Test keys always send through the built-in sandbox and need no channel.",
    request: { body: { required: true, content: { "application/json": { schema: CreateChannelBody } } } },
    responses: {
      201: jsonResponse("The channel.", ChannelSchema),
    },
  },
  ["validation_error", "invalid_json"],
);

const listChannelsRoute = scopedRoute(
  "messages:read",
  {
    method: "get",
    path: "/v1/channels",
    tags: ["Channels"],
    summary: "List senders",
    request: { query: PaginationQuerySchema },
    responses: {
      200: jsonResponse("A page of channels.", listSchema(ChannelSchema, "ChannelList")),
    },
  },
  ["validation_error", "invalid_cursor"],
);

const getChannelRoute = scopedRoute(
  "messages:read",
  {
    method: "get",
    path: "/v1/channels/{id}",
    tags: ["Channels"],
    summary: "Retrieve a sender",
    request: { params: IdParamSchema("chn_01jd3x6n2m8q4v7w9y0z1a2b3c") },
    responses: {
      200: jsonResponse("The channel.", ChannelSchema),
    },
  },
  ["resource_not_found"],
);

const deleteChannelRoute = scopedRoute(
  "messages:send",
  {
    method: "delete",
    path: "/v1/channels/{id}",
    tags: ["Channels"],
    summary: "Disconnect a sender",
    description:
      "Its credentials are erased; messages not yet dispatched through it fail with `channel_not_configured`.",
    request: { params: IdParamSchema("chn_01jd3x6n2m8q4v7w9y0z1a2b3c") },
    responses: {
      200: jsonResponse("The deleted channel.", ChannelSchema),
    },
  },
  ["resource_not_found"],
);

const UpdateChannelBody = z
  .strictObject({
    name: z.string().trim().min(1).max(100).optional(),
    verify_token: VerifyToken.optional().openapi({ description: "WhatsApp channels only." }),
    webhook_secret: WebhookSecret.optional().openapi({ description: "Email channels only." }),
  })
  .openapi("UpdateChannelRequest");

const updateChannelRoute = scopedRoute(
  "messages:send",
  {
    method: "patch",
    path: "/v1/channels/{id}",
    tags: ["Channels"],
    summary: "Update a sender",
    description:
      "Renames a channel, or sets what its inbound webhooks are checked with: a WhatsApp channel's `verify_token`, " +
      "an email channel's Resend `webhook_secret` (known only once the Resend webhook exists, so it is set here).",
    request: {
      params: IdParamSchema("chn_01jd3x6n2m8q4v7w9y0z1a2b3c"),
      body: { required: true, content: { "application/json": { schema: UpdateChannelBody } } },
    },
    responses: {
      200: jsonResponse("The channel.", ChannelSchema),
    },
  },
  ["validation_error", "invalid_json", "resource_not_found"],
);

export const channelsRouter = newRouter()
  .openapi(createChannelRoute, async (c) => {
    const caller = principalOf(c);
    const body = c.req.valid("json");
    const { config, secrets } = split(body);
    const now = new Date();
    const row: ChannelRow = {
      id: newId("channel"),
      tenantId: caller.tenantId,
      environment: caller.environment,
      type: body.type,
      name: body.name,
      config,
      secretsCiphertext: await encryptSecrets(secrets, c.env.SECRETS_ENCRYPTION_KEY, caller.tenantId),
      createdAt: now,
      deletedAt: null,
    };
    await createDb(c.env.DB).insert(channels).values(row);
    return c.json(
      renderChannel(row, publicOrigin(c.env, c.req.url), await maskedCredentials(c.env, row)),
      201,
    );
  })
  .openapi(listChannelsRoute, async (c) => {
    const caller = principalOf(c);
    const { limit, cursor } = c.req.valid("query");
    const after = decodeCursor(cursor);
    const rows = await createDb(c.env.DB)
      .select()
      .from(channels)
      .where(and(channelScope(caller), after ? lt(channels.id, after) : undefined))
      .orderBy(desc(channels.id))
      .limit(limit + 1);
    const origin = publicOrigin(c.env, c.req.url);
    const masked = new Map(
      await Promise.all(rows.map(async (row) => [row.id, await maskedCredentials(c.env, row)] as const)),
    );
    return c.json(
      page(rows, limit, (row) => renderChannel(row, origin, masked.get(row.id) ?? {})),
      200,
    );
  })
  .openapi(getChannelRoute, async (c) => {
    const row = await findOwnChannel(createDb(c.env.DB), principalOf(c), c.req.valid("param").id);
    return c.json(
      renderChannel(row, publicOrigin(c.env, c.req.url), await maskedCredentials(c.env, row)),
      200,
    );
  })
  .openapi(updateChannelRoute, async (c) => {
    const db = createDb(c.env.DB);
    const row = await findOwnChannel(db, principalOf(c), c.req.valid("param").id);
    const body = c.req.valid("json");
    const misplaced = [
      ...(body.verify_token !== undefined && row.type !== "whatsapp" ? ["verify_token"] : []),
      ...(body.webhook_secret !== undefined && row.type !== "email" ? ["webhook_secret"] : []),
    ];
    if (misplaced.length > 0) {
      throw new ApiError("validation_error", `A ${row.type} channel has no ${misplaced.join(" or ")}.`, {
        details: misplaced.map((path) => ({ path, message: `Not a setting of ${row.type} channels.` })),
      });
    }
    const config = body.verify_token ? { ...row.config, verify_token: body.verify_token } : row.config;
    let secretsCiphertext = row.secretsCiphertext;
    if (body.webhook_secret) {
      const secrets = await channelSecrets(c.env, row);
      secretsCiphertext = await encryptSecrets(
        { ...secrets, webhook_secret: body.webhook_secret },
        c.env.SECRETS_ENCRYPTION_KEY,
        row.tenantId,
      );
    }
    const updated: ChannelRow = { ...row, name: body.name ?? row.name, config, secretsCiphertext };
    await db
      .update(channels)
      .set({ name: updated.name, config, secretsCiphertext })
      .where(eq(channels.id, row.id));
    return c.json(
      renderChannel(updated, publicOrigin(c.env, c.req.url), await maskedCredentials(c.env, updated)),
      200,
    );
  })
  .openapi(deleteChannelRoute, async (c) => {
    const db = createDb(c.env.DB);
    const row = await findOwnChannel(db, principalOf(c), c.req.valid("param").id);
    const masked = await maskedCredentials(c.env, row);
    const now = new Date();
    // Erase the credentials, keep the row so old messages still name their sender.
    await db
      .update(channels)
      .set({ deletedAt: now, secretsCiphertext: "erased" })
      .where(eq(channels.id, row.id));
    return c.json(renderChannel({ ...row, deletedAt: now }, publicOrigin(c.env, c.req.url), masked), 200);
  });
