import type { MessageContent } from "../providers/types";
import { type MergeContact, renderContent } from "./merge-fields";
import { renderTemplate } from "./templates";

/**
 * A broadcast's content as stored: the message content with merge fields still in it, and (for a template)
 * the template's text, so each recipient's rendered body is built from that recipient's variables.
 */
export interface BroadcastContent {
  message: MessageContent;
  /** Header and body of the template (`{{1}}` placeholders), or null for other content. */
  templateText: string | null;
}

/** The content one recipient gets: every merge field filled from the contact (or its default). */
export function renderForRecipient(stored: BroadcastContent, contact: MergeContact): MessageContent {
  const message = renderContent(stored.message, contact);
  if (message.kind === "template" && stored.templateText !== null) {
    return {
      kind: "template",
      template: {
        ...message.template,
        renderedBody: renderTemplate(stored.templateText, message.template.variables),
      },
    };
  }
  return message;
}

/** A contact as a recipient row carries it (attributes as stored JSON text) in the shape merge fields read. */
export function mergeContactOf(row: {
  name: string | null;
  external_id: string | null;
  attributes: string | null;
}): MergeContact {
  let attributes: MergeContact["attributes"] = {};
  try {
    const parsed: unknown = row.attributes ? JSON.parse(row.attributes) : {};
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed))
      attributes = parsed as MergeContact["attributes"];
  } catch {
    attributes = {};
  }
  return { name: row.name, externalId: row.external_id, attributes };
}
