import { and, asc, eq, isNull } from "drizzle-orm";
import type { Db } from "../db/client";
import { type ChannelRow, channels } from "../db/schema";
import type { Env, Principal } from "../env";
import { ApiError } from "../errors";
import { RESEND_DEFAULT_BASE_URL } from "../providers/resend-email";
import { TWILIO_DEFAULT_BASE_URL } from "../providers/twilio-sms";
import type { ResendCredentials, TwilioCredentials, WhatsAppCredentials } from "../providers/types";
import {
  WHATSAPP_DEFAULT_API_VERSION,
  WHATSAPP_DEFAULT_BASE_URL,
  type WhatsAppConfig,
} from "../providers/whatsapp-cloud";
import { decryptSecrets } from "../secrets";

// Channel lookups and credentials, shared by the channel and send routes, the inbound webhooks and the send
// queue: everything about a sender that is not HTTP.

/** Who is asking: a channel belongs to one tenant and one environment. */
type ChannelScope = Pick<Principal, "tenantId" | "environment">;

export type LiveChannel =
  | { id: string; type: "whatsapp"; credentials: WhatsAppCredentials }
  | { id: string; type: "sms"; credentials: TwilioCredentials }
  | { id: string; type: "email"; credentials: ResendCredentials };

/** Where the API is reachable from outside (PUBLIC_BASE_URL, else the request's own origin), without a trailing slash. */
export function publicOrigin(env: Env, requestUrl: string): string {
  return (env.PUBLIC_BASE_URL ?? new URL(requestUrl).origin).replace(/\/$/, "");
}

/** Where the channel's provider must send its webhooks. */
export function inboundUrl(origin: string, row: Pick<ChannelRow, "id" | "type">): string {
  const provider = row.type === "whatsapp" ? "whatsapp" : row.type === "sms" ? "twilio" : "resend";
  return `${origin}/inbound/${provider}/${row.id}`;
}

export function whatsAppConfig(env: Env): WhatsAppConfig {
  return {
    baseUrl: env.WHATSAPP_API_BASE ?? WHATSAPP_DEFAULT_BASE_URL,
    apiVersion: env.WHATSAPP_API_VERSION ?? WHATSAPP_DEFAULT_API_VERSION,
  };
}

export const providerBaseUrls = (env: Env) => ({
  twilio: env.TWILIO_API_BASE ?? TWILIO_DEFAULT_BASE_URL,
  resend: env.RESEND_API_BASE ?? RESEND_DEFAULT_BASE_URL,
});

/** A channel's stored credentials, decrypted (for its adapters, its inbound checks and their masked view). */
export function channelSecrets(env: Env, row: ChannelRow): Promise<Record<string, string>> {
  return decryptSecrets(row.secretsCiphertext, env.SECRETS_ENCRYPTION_KEY, row.tenantId);
}

/** Stored credential names with only their last 4 characters, decrypted on demand (never the values). */
export async function maskedCredentials(env: Env, row: ChannelRow): Promise<Record<string, string>> {
  const secrets = await channelSecrets(env, row);
  return Object.fromEntries(Object.entries(secrets).map(([name, value]) => [name, `…${value.slice(-4)}`]));
}

/** A channel row with its credentials decrypted, for the provider adapters. */
export async function channelCredentials(env: Env, row: ChannelRow): Promise<LiveChannel> {
  const secrets = await channelSecrets(env, row);
  const config = row.config;
  switch (row.type) {
    case "whatsapp":
      return {
        id: row.id,
        type: "whatsapp",
        credentials: {
          phoneNumberId: config.phone_number_id ?? "",
          wabaId: config.waba_id ?? "",
          accessToken: secrets.access_token ?? "",
          appSecret: secrets.app_secret ?? "",
        },
      };
    case "sms":
      return {
        id: row.id,
        type: "sms",
        credentials: {
          accountSid: config.account_sid ?? "",
          authToken: secrets.auth_token ?? "",
          from: config.from,
          messagingServiceSid: config.messaging_service_sid,
        },
      };
    case "email":
      return {
        id: row.id,
        type: "email",
        credentials: { apiKey: secrets.api_key ?? "", from: config.from ?? "" },
      };
  }
}

/** The caller's connected (not deleted) channels. */
export const channelScope = (caller: ChannelScope) =>
  and(
    eq(channels.tenantId, caller.tenantId),
    eq(channels.environment, caller.environment),
    isNull(channels.deletedAt),
  );

/** The caller's channel with that id, or 404 (another tenant's or environment's id is not found). */
export async function findOwnChannel(db: Db, caller: ChannelScope, id: string): Promise<ChannelRow> {
  const [row] = await db
    .select()
    .from(channels)
    .where(and(channelScope(caller), eq(channels.id, id)))
    .limit(1);
  if (!row) throw new ApiError("resource_not_found", "No channel with that id exists in this environment.");
  return row;
}

/** The named channel, or the oldest connected one of that type. */
export async function findChannelRow(
  db: Db,
  caller: ChannelScope,
  type: ChannelRow["type"],
  id: string | null,
): Promise<ChannelRow | null> {
  const [row] = await db
    .select()
    .from(channels)
    .where(and(channelScope(caller), eq(channels.type, type), id ? eq(channels.id, id) : undefined))
    .orderBy(asc(channels.id))
    .limit(1);
  return row ?? null;
}

/** The channel an inbound webhook URL names (the id is the only identity providers give us). */
export async function findInboundChannel(
  db: Db,
  id: string,
  type: ChannelRow["type"],
): Promise<ChannelRow | null> {
  const [row] = await db
    .select()
    .from(channels)
    .where(and(eq(channels.id, id), eq(channels.type, type), isNull(channels.deletedAt)))
    .limit(1);
  return row ?? null;
}

/** Live sends and template submissions need a real sender; say how to connect one when there is none. */
export async function findLiveChannel(
  db: Db,
  env: Env,
  caller: ChannelScope,
  type: ChannelRow["type"],
  id: string | null,
): Promise<LiveChannel> {
  const row = await findChannelRow(db, caller, type, id);
  if (!row) {
    if (id) throw new ApiError("resource_not_found", `No ${type} channel ${id} exists in this environment.`);
    throw new ApiError(
      "channel_not_configured",
      `No ${type} sender is connected in live mode. Connect one with POST /v1/channels (type "${type}").`,
    );
  }
  return channelCredentials(env, row);
}
