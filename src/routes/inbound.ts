import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { createDb } from "../db/client";
import type { ChannelRow } from "../db/schema";
import { parseMetaWebhook } from "../domain/inbound/meta";
import { parseResendEvent } from "../domain/inbound/resend";
import { parseTwilioWebhook } from "../domain/inbound/twilio";
import { InboundFormatError, type InboundParseResult } from "../domain/inbound/types";
import type { AppBindings } from "../env";
import { ApiError, type ErrorCode } from "../errors";
import { type InboundSource, persistInbound } from "../inbound/ingest";
import { verifyMetaSignature, verifySvixSignature, verifyTwilioSignature } from "../inbound/verify";
import { channelSecrets, findInboundChannel, publicOrigin } from "../services/channels";
import { errorResponses, newRouter } from "./shared";

/**
 * Provider webhooks: Meta (WhatsApp), Twilio (SMS) and Resend (email) call these URLs, one per channel
 * (`inbound_url` of the channel). Each request is verified on its raw bytes with the channel's secret before
 * anything is parsed; an unsigned or badly signed one is refused with 401 and nothing is stored. A verified
 * one is stored (deduplicated) and acknowledged at once; processing happens off the request path.
 */

const ChannelParam = z.object({
  channel_id: z
    .string()
    .max(64)
    .openapi({ param: { name: "channel_id", in: "path" }, example: "chn_01jd3x6n2m8q4v7w9y0z1a2b3c" }),
});

const Ack = z.object({ received: z.literal(true), stored: z.number().int() }).openapi("InboundAck");

const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

const INBOUND_ERRORS: ErrorCode[] = [
  "inbound_signature_invalid",
  "inbound_payload_invalid",
  "resource_not_found",
  "payload_too_large",
  "misconfigured",
];

const AckResponse = {
  description: "Verified and stored (`stored`: items new to us; a redelivery stores 0).",
  content: { "application/json": { schema: Ack } },
};

function providerRoute<
  const Ok extends { description: string; content: Record<string, { schema: z.ZodType }> },
>(path: string, summary: string, description: string, ok: Ok) {
  return createRoute({
    method: "post",
    path,
    tags: ["Inbound"],
    summary,
    description,
    security: [],
    request: { params: ChannelParam },
    responses: { 200: ok, ...errorResponses(...INBOUND_ERRORS) },
  });
}

const metaHandshakeRoute = createRoute({
  method: "get",
  path: "/inbound/whatsapp/{channel_id}",
  tags: ["Inbound"],
  summary: "WhatsApp webhook verification",
  description:
    "Meta's subscription handshake: answers `hub.challenge` as plain text when `hub.mode` is `subscribe` and " +
    "`hub.verify_token` is the channel's `config.verify_token`.",
  security: [],
  request: {
    params: ChannelParam,
    query: z.object({
      "hub.mode": z.string().max(64).optional(),
      "hub.verify_token": z.string().max(256).optional(),
      "hub.challenge": z.string().max(256).optional(),
    }),
  },
  responses: {
    200: { description: "The challenge, echoed.", content: { "text/plain": { schema: z.string() } } },
    ...errorResponses("inbound_verify_token_mismatch", "resource_not_found", "validation_error"),
  },
});

const metaRoute = providerRoute(
  "/inbound/whatsapp/{channel_id}",
  "WhatsApp Cloud API webhook",
  "Meta's `whatsapp_business_account` webhooks: `statuses[]` move your messages forward, `messages[]` become " +
    "inbound messages, `message_template_status_update` updates templates. Signed with `X-Hub-Signature-256` " +
    "(HMAC-SHA256 of the raw body with the channel's app secret).",
  AckResponse,
);

const twilioStatusRoute = providerRoute(
  "/inbound/twilio/{channel_id}/status",
  "Twilio status callback",
  "Twilio's `StatusCallback` for messages sent through the channel (form-encoded), signed with " +
    "`X-Twilio-Signature` (HMAC-SHA1 with the auth token over the URL and the sorted parameters).",
  AckResponse,
);

const twilioMessagesRoute = providerRoute(
  "/inbound/twilio/{channel_id}/messages",
  "Twilio incoming message",
  "Set as the number's (or messaging service's) incoming-message webhook. Answers empty TwiML, so Twilio " +
    "sends no automatic reply.",
  {
    description: "Verified and stored; empty TwiML.",
    content: { "text/xml": { schema: z.string().openapi({ example: EMPTY_TWIML }) } },
  },
);

const resendRoute = providerRoute(
  "/inbound/resend/{channel_id}",
  "Resend webhook",
  "Resend email events (`email.delivered`, `email.bounced`, `email.complained`, `email.opened`, …), signed " +
    "by Svix (`svix-id`, `svix-timestamp`, `svix-signature`) with the channel's `webhook_secret`.",
  AckResponse,
);

async function channelOr404(c: Context<AppBindings>, type: ChannelRow["type"]): Promise<ChannelRow> {
  const id = c.req.param("channel_id") ?? "";
  const row = await findInboundChannel(createDb(c.env.DB), id, type);
  if (!row) throw new ApiError("resource_not_found", `No ${type} channel ${id.slice(0, 64)} is connected.`);
  return row;
}

const refused = (why: string) => new ApiError("inbound_signature_invalid", `${why} Nothing was stored.`);

/** The secret a channel's webhooks are checked with; without one nothing can be verified, so all is refused. */
async function verificationSecret(
  c: Context<AppBindings>,
  row: ChannelRow,
  name: "app_secret" | "auth_token" | "webhook_secret",
  missing: string,
): Promise<string> {
  const secret = (await channelSecrets(c.env, row))[name];
  if (!secret) throw refused(missing);
  return secret;
}

/** Runs a parser on a verified body: not JSON, or not that provider's format, is the sender's 400. */
function parseOr400(parse: () => InboundParseResult): InboundParseResult {
  try {
    return parse();
  } catch (error) {
    if (error instanceof InboundFormatError) throw new ApiError("inbound_payload_invalid", error.message);
    if (error instanceof SyntaxError) throw new ApiError("inbound_payload_invalid", "The body is not JSON.");
    throw error;
  }
}

/** Stores the verified items and answers the provider. Skipped pieces are logged (never whole payloads). */
async function acknowledge(c: Context<AppBindings>, row: ChannelRow, parsed: InboundParseResult) {
  const source: InboundSource = {
    tenantId: row.tenantId,
    environment: row.environment,
    channelId: row.id,
    channel: row.type,
  };
  if (parsed.problems.length > 0) {
    console.warn("inbound webhook: skipped parts", {
      channel: row.id,
      problems: parsed.problems.slice(0, 20),
    });
  }
  const { newIds } = await persistInbound(c.env, createDb(c.env.DB), source, parsed.items, new Date());
  return newIds.length;
}

export const inboundRouter = newRouter()
  .openapi(metaHandshakeRoute, async (c) => {
    const row = await channelOr404(c, "whatsapp");
    const query = c.req.valid("query");
    const expected = row.config.verify_token;
    if (query["hub.mode"] !== "subscribe" || !expected || query["hub.verify_token"] !== expected) {
      throw new ApiError(
        "inbound_verify_token_mismatch",
        "hub.mode must be subscribe and hub.verify_token the channel's config.verify_token.",
      );
    }
    return c.text(query["hub.challenge"] ?? "", 200);
  })
  .openapi(metaRoute, async (c) => {
    const row = await channelOr404(c, "whatsapp");
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const appSecret = await verificationSecret(c, row, "app_secret", "This channel has no app secret.");
    if (!(await verifyMetaSignature(raw, c.req.header("x-hub-signature-256"), appSecret))) {
      throw refused(
        "X-Hub-Signature-256 is missing or does not match the body and the channel's app secret.",
      );
    }
    const text = new TextDecoder().decode(raw);
    const parsed = parseOr400(() => parseMetaWebhook(JSON.parse(text), new Date()));
    return c.json({ received: true as const, stored: await acknowledge(c, row, parsed) }, 200);
  })
  .openapi(twilioStatusRoute, async (c) => c.json({ received: true as const, stored: await twilio(c) }, 200))
  .openapi(twilioMessagesRoute, async (c) => {
    await twilio(c);
    return c.body(EMPTY_TWIML, 200, { "Content-Type": "text/xml; charset=utf-8" });
  })
  .openapi(resendRoute, async (c) => {
    const row = await channelOr404(c, "email");
    const body = await c.req.text();
    const secret = await verificationSecret(
      c,
      row,
      "webhook_secret",
      "This email channel has no webhook_secret: set Resend's signing secret with PATCH /v1/channels/{id}.",
    );
    const verified = await verifySvixSignature(body, c.req.raw.headers, secret);
    if (!verified.ok) throw refused(verified.reason);
    const parsed = parseOr400(() => parseResendEvent(JSON.parse(body), verified.id));
    return c.json({ received: true as const, stored: await acknowledge(c, row, parsed) }, 200);
  });

/** Both Twilio routes: the signature covers the public URL Twilio called and every form parameter. */
async function twilio(c: Context<AppBindings>): Promise<number> {
  const row = await channelOr404(c, "sms");
  const params = [...new URLSearchParams(await c.req.text())];
  const url = new URL(c.req.url);
  const called = `${publicOrigin(c.env, c.req.url)}${url.pathname}${url.search}`;
  const token = await verificationSecret(c, row, "auth_token", "This channel has no auth token.");
  if (!(await verifyTwilioSignature(called, params, c.req.header("x-twilio-signature"), token))) {
    throw refused("X-Twilio-Signature is missing or does not match the URL, parameters and auth token.");
  }
  const parsed = parseOr400(() => parseTwilioWebhook(Object.fromEntries(params), new Date()));
  return acknowledge(c, row, parsed);
}
