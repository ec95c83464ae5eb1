import type { Db } from "../db/client";
import type { MessageRow } from "../db/schema";
import type { Env } from "../env";
import { createResendEmailAdapter } from "../providers/resend-email";
import { createSandboxAdapter } from "../providers/sandbox";
import { createTwilioSmsAdapter } from "../providers/twilio-sms";
import type { Channel, ProviderAdapter } from "../providers/types";
import { createWhatsAppCloudAdapter } from "../providers/whatsapp-cloud";
import { channelCredentials, findChannelRow, providerBaseUrls, whatsAppConfig } from "../services/channels";

/** The adapter for a hop: test keys always get the sandbox; live ones their connected sender. */
export async function adapterFor(
  env: Env,
  db: Db,
  row: Pick<MessageRow, "environment" | "tenantId" | "channel" | "fromChannelId">,
  channel: Channel,
): Promise<ProviderAdapter | null> {
  if (row.environment === "test") return createSandboxAdapter();
  const channelId = channel === row.channel ? row.fromChannelId : null;
  const found = await findChannelRow(db, row, channel, channelId);
  if (!found) return null;
  const sender = await channelCredentials(env, found);
  const urls = providerBaseUrls(env);
  switch (sender.type) {
    case "whatsapp":
      return createWhatsAppCloudAdapter(sender.credentials, whatsAppConfig(env));
    case "sms":
      return createTwilioSmsAdapter(sender.credentials, {
        baseUrl: urls.twilio,
        statusCallbackUrl: env.PUBLIC_BASE_URL
          ? `${env.PUBLIC_BASE_URL}/inbound/twilio/${found.id}/status`
          : undefined,
      });
    case "email":
      return createResendEmailAdapter(sender.credentials, { baseUrl: urls.resend });
  }
}
