import { z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { createDb } from "../db/client";
import { inboundMessages, messages } from "../db/schema";
import { normalizeAddress } from "../domain/contacts";
import { ApiError } from "../errors";
import { newId } from "../ids";
import { SANDBOX_CHANNEL_ID } from "../inbound/ingest";
import { simulateInboundMessage } from "../inbound/sandbox-traffic";
import { principalOf } from "../middleware/auth";
import { sandboxInboundProviderMessageId } from "../providers/sandbox-callbacks";
import { renderInboundMessage } from "../services/inbound-messages";
import { InboundMessageSchema } from "./conversation-schemas";
import { jsonResponse, newRouter, scopedRoute } from "./shared";

const SimulateInboundBody = z
  .strictObject({
    channel: z.enum(["whatsapp", "sms"]).default("whatsapp"),
    from: z.string().min(3).max(32).openapi({
      description: "The customer's phone number (any common spelling; stored as E.164).",
      example: "+5511987654321",
    }),
    text: z.string().min(1).max(4096).optional(),
    media: z
      .strictObject({
        type: z.enum(["image", "audio", "video", "document"]),
        url: z.url({ protocol: /^https?$/ }).max(2048),
        caption: z.string().max(1024).optional(),
      })
      .optional(),
    reply_to_message_id: z.string().max(64).optional().openapi({
      description: "One of your messages to this customer that this one answers (WhatsApp only).",
    }),
    profile_name: z.string().max(256).optional().openapi({ description: "WhatsApp profile name." }),
  })
  .refine((b) => (b.text === undefined) !== (b.media === undefined), {
    message: "Send exactly one of text or media.",
    path: ["text"],
  })
  .openapi("SimulateInboundRequest");

const simulateInboundRoute = scopedRoute(
  "messages:send",
  {
    method: "post",
    path: "/v1/sandbox/inbound",
    tags: ["Sandbox"],
    summary: "Simulate a customer message",
    description:
      "Test keys only. Builds the webhook the live provider would send (Meta for WhatsApp, Twilio for SMS) and " +
      "runs it through the same inbound processing as a real one: the contact is found or created, the " +
      "conversation's WhatsApp customer-service window opens for 24 hours, and `message.received` is emitted.",
    request: {
      body: { required: true, content: { "application/json": { schema: SimulateInboundBody } } },
    },
    responses: { 201: jsonResponse("The inbound message, processed.", InboundMessageSchema) },
  },
  ["validation_error", "invalid_json", "test_mode_only", "resource_not_found"],
);

export const sandboxRouter = newRouter().openapi(simulateInboundRoute, async (c) => {
  const caller = principalOf(c);
  if (caller.environment !== "test") {
    throw new ApiError("test_mode_only", "Simulated customer messages need a test key (sw_test_…).");
  }
  const body = c.req.valid("json");
  const from = normalizeAddress(body.channel, body.from);
  if (!from.ok) {
    throw new ApiError("validation_error", from.reason, {
      details: [{ path: "from", message: from.reason }],
    });
  }
  const db = createDb(c.env.DB);
  let replyToProviderMessageId: string | undefined;
  if (body.reply_to_message_id !== undefined) {
    const [replied] = await db
      .select({ providerMessageId: messages.providerMessageId })
      .from(messages)
      .where(
        and(
          eq(messages.id, body.reply_to_message_id),
          eq(messages.tenantId, caller.tenantId),
          eq(messages.environment, caller.environment),
        ),
      )
      .limit(1);
    if (!replied) {
      throw new ApiError("resource_not_found", "reply_to_message_id names no message in this environment.");
    }
    if (!replied.providerMessageId) {
      throw new ApiError("validation_error", "That message was never sent, so nobody can reply to it.", {
        details: [{ path: "reply_to_message_id", message: "Not sent yet." }],
      });
    }
    replyToProviderMessageId = replied.providerMessageId;
  }
  const providerMessageId = sandboxInboundProviderMessageId(body.channel, newId("inboundMessage"), {
    from: from.address,
    media: body.media !== undefined,
  });
  await simulateInboundMessage(
    c.env,
    db,
    caller,
    {
      channel: body.channel,
      providerMessageId,
      from: from.address,
      text: body.text,
      media: body.media,
      replyToProviderMessageId,
      profileName: body.profile_name,
    },
    new Date(),
  );
  const [row] = await db
    .select()
    .from(inboundMessages)
    .where(
      and(
        eq(inboundMessages.tenantId, caller.tenantId),
        eq(inboundMessages.environment, caller.environment),
        eq(inboundMessages.channelId, SANDBOX_CHANNEL_ID),
        eq(inboundMessages.providerMessageId, providerMessageId),
      ),
    )
    .limit(1);
  if (!row) throw new Error("simulated inbound message was not stored");
  return c.json(renderInboundMessage(row), 201);
});
