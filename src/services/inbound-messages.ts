import type { InboundMessageRow } from "../db/schema";
import type { InboundContent, InboundMedia, InboundMediaType } from "../domain/inbound/types";

// A customer's message as the API shows it: the conversation routes answer it and the inbound processor puts
// it into `message.received`. Plain objects; the schema documenting them is InboundMessageSchema in routes/.

export type InboundMediaView = {
  media_type: InboundMediaType;
  media_id?: string;
  url?: string;
  mime_type?: string;
  sha256?: string;
  filename?: string;
};

/** The domain's content, snake_case where its field names are not already one word. */
export type InboundContentView =
  | Exclude<InboundContent, { type: "media" | "media_group" | "reaction" | "unsupported" }>
  | ({ type: "media"; caption?: string } & InboundMediaView)
  | { type: "media_group"; caption?: string; media: InboundMediaView[] }
  | { type: "reaction"; emoji: string | null; reacted_to_provider_message_id: string }
  | { type: "unsupported"; raw_type: string };

/** A type, not an interface: event data is a `Record<string, unknown>`, which only type literals satisfy. */
export type InboundMessageView = {
  object: "inbound_message";
  id: string;
  direction: "inbound";
  environment: InboundMessageRow["environment"];
  conversation_id: string;
  contact_id: string | null;
  channel: InboundMessageRow["channel"];
  channel_id: string;
  from: string;
  to: string;
  provider_message_id: string;
  profile_name: string | null;
  content: InboundContentView;
  reply_to: { message_id: string } | null;
  received_at: string;
  created_at: string;
};

function renderMedia(media: InboundMedia): InboundMediaView {
  return {
    media_type: media.mediaType,
    ...(media.mediaId !== undefined ? { media_id: media.mediaId } : {}),
    ...(media.url !== undefined ? { url: media.url } : {}),
    ...(media.mimeType !== undefined ? { mime_type: media.mimeType } : {}),
    ...(media.sha256 !== undefined ? { sha256: media.sha256 } : {}),
    ...(media.filename !== undefined ? { filename: media.filename } : {}),
  };
}

function renderInboundContent(content: InboundContent): InboundContentView {
  switch (content.type) {
    case "media":
      return {
        type: "media",
        ...renderMedia(content),
        ...(content.caption !== undefined ? { caption: content.caption } : {}),
      };
    case "media_group":
      return {
        type: "media_group",
        ...(content.caption !== undefined ? { caption: content.caption } : {}),
        media: content.media.map(renderMedia),
      };
    case "reaction":
      return {
        type: "reaction",
        emoji: content.emoji,
        reacted_to_provider_message_id: content.reactedToProviderMessageId,
      };
    case "unsupported":
      return { type: "unsupported", raw_type: content.rawType };
    default:
      return content;
  }
}

export function renderInboundMessage(row: InboundMessageRow): InboundMessageView {
  return {
    object: "inbound_message",
    id: row.id,
    direction: "inbound",
    environment: row.environment,
    conversation_id: row.conversationId,
    contact_id: row.contactId,
    channel: row.channel,
    channel_id: row.channelId,
    from: row.from,
    to: row.to,
    provider_message_id: row.providerMessageId,
    profile_name: row.profileName,
    content: renderInboundContent(row.content),
    reply_to: row.replyToMessageId ? { message_id: row.replyToMessageId } : null,
    received_at: row.receivedAt.toISOString(),
    created_at: row.createdAt.toISOString(),
  };
}
