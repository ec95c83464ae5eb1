import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseMetaWebhook } from "../../../src/domain/inbound/meta";
import { InboundFormatError, type MessageItem, type StatusItem } from "../../../src/domain/inbound/types";
import {
  audioMessage,
  buttonReplyMessage,
  CUSTOMER_NAME,
  contactsMessage,
  customerMessage,
  deliveredStatus,
  documentMessage,
  failedStatus,
  flowReplyMessage,
  forwardedTextMessage,
  imageMessage,
  inboundWebhook,
  listReplyMessage,
  locationMessage,
  messagesWebhook,
  metadata,
  PHONE_NUMBER_ID,
  quickReplyMessage,
  reactionMessage,
  reactionRemovedMessage,
  readStatus,
  replyTextMessage,
  sentStatus,
  stickerMessage,
  TEMPLATE_TIME,
  TS_DATE,
  templateStatusWebhook,
  textMessage,
  unsupportedMessage,
  videoMessage,
  WABA_ID,
  WAMID_IN,
  WAMID_OUT,
} from "./meta.fixtures";

const RECEIVED_AT = new Date("2024-06-01T12:00:00Z");
const parse = (body: unknown) => parseMetaWebhook(body, RECEIVED_AT);

/** The one message item a single-message webhook must produce, with no problems. */
function onlyMessage(message: Record<string, unknown>): MessageItem {
  const { items, problems } = parse(inboundWebhook(message));
  expect(problems).toEqual([]);
  expect(items).toHaveLength(1);
  expect(items[0]?.kind).toBe("message");
  return items[0] as MessageItem;
}

function onlyStatus(status: Record<string, unknown>): StatusItem {
  const { items, problems } = parse(messagesWebhook({ statuses: [status] }));
  expect(problems).toEqual([]);
  expect(items).toHaveLength(1);
  return items[0] as StatusItem;
}

describe("Meta webhooks: inbound messages", () => {
  it("reads a text message with the sender's profile, in E.164", () => {
    expect(onlyMessage(textMessage)).toEqual({
      kind: "message",
      provider: "meta",
      providerMessageId: WAMID_IN,
      from: "+5511987654321",
      to: "+15550783881",
      phoneNumberId: PHONE_NUMBER_ID,
      account: WABA_ID,
      profileName: CUSTOMER_NAME,
      occurredAt: TS_DATE,
      content: { type: "text", text: "Olá! Meu pedido já saiu?" },
      dedupeKey: `meta:msg:${WAMID_IN}`,
    });
  });

  it("reads every media type with its id, MIME type, caption and filename", () => {
    expect(onlyMessage(imageMessage).content).toEqual({
      type: "media",
      mediaType: "image",
      mediaId: "1037543291543636",
      mimeType: "image/jpeg",
      sha256: "HgkhJ3u1sW9B1ny8o4v1Qv4fKp4mZgq9Jm0yZ1Y8c2s=",
      caption: "Foto do produto",
    });
    expect(onlyMessage(audioMessage).content).toMatchObject({
      type: "media",
      mediaType: "audio",
      mediaId: "1145267489933122",
      mimeType: "audio/ogg; codecs=opus",
    });
    expect(onlyMessage(videoMessage).content).toMatchObject({
      mediaType: "video",
      mediaId: "1529848417875326",
      caption: "Unboxing",
    });
    expect(onlyMessage(documentMessage).content).toMatchObject({
      mediaType: "document",
      mediaId: "1003383421387256",
      mimeType: "application/pdf",
      filename: "nota-fiscal-4521.pdf",
      caption: "Nota fiscal",
    });
    expect(onlyMessage(stickerMessage).content).toMatchObject({
      mediaType: "sticker",
      mediaId: "1228429784606004",
      mimeType: "image/webp",
    });
  });

  it("reads a location", () => {
    expect(onlyMessage(locationMessage).content).toEqual({
      type: "location",
      latitude: -23.561414,
      longitude: -46.655881,
      name: "MASP",
      address: "Av. Paulista, 1578 - Bela Vista, São Paulo - SP",
    });
    const bare = onlyMessage(customerMessage("location", { latitude: 0, longitude: 0 }));
    expect(bare.content).toEqual({ type: "location", latitude: 0, longitude: 0 });
  });

  it("reads template quick replies and interactive button and list replies, with what they answer", () => {
    const quick = onlyMessage(quickReplyMessage);
    expect(quick.content).toEqual({ type: "button_reply", text: "Confirmar", payload: "CONFIRM_ORDER_4521" });
    expect(quick.replyToProviderMessageId).toBe(WAMID_OUT);

    const button = onlyMessage(buttonReplyMessage);
    expect(button.content).toEqual({ type: "button_reply", id: "track-order", text: "Rastrear pedido" });
    expect(button.replyToProviderMessageId).toBe(WAMID_OUT);

    expect(onlyMessage(listReplyMessage).content).toEqual({
      type: "list_reply",
      id: "slot-0900",
      title: "09:00",
      description: "Segunda-feira, manhã",
    });
  });

  it("reads reactions, and a removed reaction as a null emoji", () => {
    expect(onlyMessage(reactionMessage).content).toEqual({
      type: "reaction",
      emoji: "👍",
      reactedToProviderMessageId: WAMID_OUT,
    });
    expect(onlyMessage(reactionRemovedMessage).content).toEqual({
      type: "reaction",
      emoji: null,
      reactedToProviderMessageId: WAMID_OUT,
    });
  });

  it("links replies to the quoted message, but not forwarded messages", () => {
    expect(onlyMessage(replyTextMessage).replyToProviderMessageId).toBe(WAMID_OUT);
    expect(onlyMessage(forwardedTextMessage).replyToProviderMessageId).toBeUndefined();
    expect(onlyMessage(textMessage).replyToProviderMessageId).toBeUndefined();
  });

  it("keeps types it does not understand as unsupported content instead of dropping them", () => {
    expect(onlyMessage(unsupportedMessage).content).toEqual({ type: "unsupported", rawType: "unsupported" });
    expect(onlyMessage(contactsMessage).content).toEqual({ type: "unsupported", rawType: "contacts" });
    expect(onlyMessage(flowReplyMessage).content).toEqual({
      type: "unsupported",
      rawType: "interactive.nfm_reply",
    });
    const future = onlyMessage(customerMessage("hologram", { id: "x" }));
    expect(future.content).toEqual({ type: "unsupported", rawType: "hologram" });
    for (const inherited of ["constructor", "toString", "__proto__"]) {
      expect(onlyMessage(customerMessage(inherited, {})).content).toEqual({
        type: "unsupported",
        rawType: inherited,
      });
    }
  });

  it("normalises senders like our recipients: Mexican 521… WhatsApp ids lose the obsolete 1", () => {
    const mexican = onlyMessage({ ...textMessage, from: "5215512345678" });
    expect(mexican.from).toBe("+525512345678");
  });

  it("leaves the profile name out when no contact matches the sender", () => {
    const { items } = parse(
      messagesWebhook({
        contacts: [{ profile: { name: "Other" }, wa_id: "441632960961" }],
        messages: [textMessage],
      }),
    );
    expect((items[0] as MessageItem).profileName).toBeUndefined();
    const noContacts = parse(messagesWebhook({ contacts: "nope", messages: [textMessage] }));
    expect(noContacts.problems).toEqual([]);
    expect((noContacts.items[0] as MessageItem).profileName).toBeUndefined();
  });
});

describe("Meta webhooks: statuses", () => {
  it("reads sent with the conversation and pricing", () => {
    expect(onlyStatus(sentStatus)).toEqual({
      kind: "status",
      provider: "meta",
      providerMessageId: WAMID_OUT,
      status: "sent",
      occurredAt: TS_DATE,
      recipient: "+5511987654321",
      phoneNumberId: PHONE_NUMBER_ID,
      account: WABA_ID,
      conversationId: "c1b7fa7e4a9ab9f6a3c2b8e2f1d0c4a7",
      pricing: { billable: true, model: "PMP", category: "utility" },
      dedupeKey: `meta:status:${WAMID_OUT}:sent`,
    });
  });

  it("reads delivered and read", () => {
    expect(onlyStatus(deliveredStatus)).toMatchObject({
      status: "delivered",
      occurredAt: new Date(1717171720 * 1000),
      dedupeKey: `meta:status:${WAMID_OUT}:delivered`,
    });
    const read = onlyStatus(readStatus);
    expect(read).toMatchObject({ status: "read", dedupeKey: `meta:status:${WAMID_OUT}:read` });
    expect(read.pricing).toBeUndefined();
    expect(read.error).toBeUndefined();
  });

  it("reads failed with Meta's error code and its most useful words", () => {
    const failed = onlyStatus(failedStatus);
    expect(failed).toMatchObject({
      status: "failed",
      occurredAt: new Date(1717171725 * 1000),
      error: {
        code: "131026",
        reason:
          "Message undeliverable: Unable to deliver message. Reasons can include: the recipient's phone number is not a WhatsApp phone number.",
      },
      dedupeKey: `meta:status:${WAMID_OUT}:failed:131026`,
    });
    const bare = onlyStatus({ ...failedStatus, errors: [{ code: 131049 }] });
    expect(bare.error).toEqual({ code: "131049", reason: "WhatsApp error 131049" });
    const noErrors = onlyStatus({ ...failedStatus, errors: undefined });
    expect(noErrors).toMatchObject({ status: "failed", dedupeKey: `meta:status:${WAMID_OUT}:failed` });
    expect(noErrors.error).toBeUndefined();
  });

  it("notes a status it does not know and keeps the others", () => {
    const { items, problems } = parse(
      messagesWebhook({ statuses: [{ ...sentStatus, status: "deleted" }, deliveredStatus] }),
    );
    expect(items.map((i) => (i as StatusItem).status)).toEqual(["delivered"]);
    expect(problems).toEqual([`entry[0].changes[0].statuses[0] (${WAMID_OUT}): unknown status "deleted"`]);
    expect(parse(messagesWebhook({ statuses: [{ ...sentStatus, status: "constructor" }] })).items).toEqual(
      [],
    );
  });

  it("keeps a recipient that is not a phone number as given", () => {
    expect(onlyStatus({ ...sentStatus, recipient_id: "120363025555555555@g.us" }).recipient).toBe(
      "120363025555555555@g.us",
    );
  });
});

describe("Meta webhooks: template status updates", () => {
  it("reads each review outcome, dated by the entry", () => {
    const cases = [
      ["APPROVED", "approved"],
      ["REJECTED", "rejected"],
      ["PENDING", "pending"],
      ["PAUSED", "paused"],
      ["DISABLED", "disabled"],
      ["REINSTATED", "approved"],
    ] as const;
    for (const [event, status] of cases) {
      const { items, problems } = parse(templateStatusWebhook(event));
      expect(problems).toEqual([]);
      expect(items).toEqual([
        {
          kind: "template_status",
          provider: "meta",
          providerTemplateId: "1982737699205572",
          templateName: "order_shipped",
          language: "pt_BR",
          status,
          providerEvent: event,
          reason: undefined,
          occurredAt: new Date(TEMPLATE_TIME * 1000),
          account: WABA_ID,
          dedupeKey: `meta:template:1982737699205572:${event}:${TEMPLATE_TIME}`,
        },
      ]);
    }
  });

  it("keeps a rejection reason", () => {
    const { items } = parse(templateStatusWebhook("REJECTED", "INVALID_FORMAT"));
    expect(items[0]).toMatchObject({ status: "rejected", reason: "INVALID_FORMAT" });
    const nullReason = parse(templateStatusWebhook("PAUSED", null));
    expect(nullReason.items[0]).toMatchObject({ status: "paused", reason: undefined });
  });

  it("dates an update without entry.time by the receipt time", () => {
    const body = templateStatusWebhook("APPROVED");
    delete (body.entry[0] as { time?: number }).time;
    const { items } = parse(body);
    expect(items[0]).toMatchObject({
      occurredAt: RECEIVED_AT,
      dedupeKey: "meta:template:1982737699205572:APPROVED",
    });
  });

  it("notes template events that do not change whether a template can be sent", () => {
    expect(parse(templateStatusWebhook("toString")).items).toEqual([]);
    const { items, problems } = parse(templateStatusWebhook("FLAGGED"));
    expect(items).toEqual([]);
    expect(problems).toEqual([
      'entry[0].changes[0] (template 1982737699205572): template event "FLAGGED" is not tracked',
    ]);
  });
});

describe("Meta webhooks: batches", () => {
  it("returns every message and status of every change of every entry, in order", () => {
    const secondWamid = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFkJBNUY0NjE0RDI3OEE3RkQ2QzM1AA==";
    const body = {
      object: "whatsapp_business_account",
      entry: [
        {
          id: WABA_ID,
          changes: [
            {
              value: {
                messaging_product: "whatsapp",
                metadata,
                contacts: [{ profile: { name: CUSTOMER_NAME }, wa_id: "5511987654321" }],
                messages: [textMessage, { ...imageMessage, id: secondWamid }],
              },
              field: "messages",
            },
            {
              value: { messaging_product: "whatsapp", metadata, statuses: [sentStatus, deliveredStatus] },
              field: "messages",
            },
          ],
        },
        {
          id: "204873662113745",
          changes: [
            {
              value: {
                messaging_product: "whatsapp",
                metadata: { display_phone_number: "447700900123", phone_number_id: "198273645546372" },
                statuses: [readStatus],
              },
              field: "messages",
            },
          ],
        },
        ...templateStatusWebhook("APPROVED").entry,
      ],
    };
    const { items, problems } = parse(body);
    expect(problems).toEqual([]);
    expect(items.map((i) => i.dedupeKey)).toEqual([
      `meta:msg:${WAMID_IN}`,
      `meta:msg:${secondWamid}`,
      `meta:status:${WAMID_OUT}:sent`,
      `meta:status:${WAMID_OUT}:delivered`,
      `meta:status:${WAMID_OUT}:read`,
      `meta:template:1982737699205572:APPROVED:${TEMPLATE_TIME}`,
    ]);
    expect(items[4]).toMatchObject({ account: "204873662113745", phoneNumberId: "198273645546372" });
  });

  it("skips fields it does not handle without a problem", () => {
    const body = {
      object: "whatsapp_business_account",
      entry: [
        {
          id: WABA_ID,
          time: 1717172000,
          changes: [
            { value: { event: "VERIFIED_ACCOUNT", ban_info: {} }, field: "account_update" },
            {
              value: { display_phone_number: "15550783881", event: "UPGRADE" },
              field: "phone_number_quality_update",
            },
          ],
        },
      ],
    };
    expect(parse(body)).toEqual({ items: [], problems: [] });
    expect(parse({ object: "whatsapp_business_account", entry: [] })).toEqual({ items: [], problems: [] });
  });

  it("notes errors Meta reports for the webhook itself", () => {
    const { items, problems } = parse(
      messagesWebhook({
        errors: [
          {
            code: 131000,
            title: "Something went wrong",
            message: "Something went wrong",
            error_data: { details: "Message failed to send because of an unknown error." },
          },
          "garbage",
        ],
      }),
    );
    expect(items).toEqual([]);
    expect(problems).toEqual([
      "entry[0].changes[0]: Meta reported error 131000: Something went wrong: Message failed to send because of an unknown error.",
      "entry[0].changes[0]: Meta reported an unreadable error",
    ]);
  });
});

describe("Meta webhooks: malformed input", () => {
  it("throws a format error for bodies that are not WhatsApp webhooks at all", () => {
    for (const body of [
      null,
      "whatsapp_business_account",
      [],
      {},
      { object: "page", entry: [] },
      { object: "instagram", entry: [] },
      { object: "whatsapp_business_account" },
      { object: "whatsapp_business_account", entry: {} },
    ]) {
      expect(() => parse(body)).toThrow(InboundFormatError);
    }
    try {
      parse({ object: "page", entry: [] });
    } catch (error) {
      expect(error).toMatchObject({ name: "InboundFormatError", provider: "meta" });
    }
  });

  it("skips malformed messages with a note and keeps the good ones", () => {
    const { items, problems } = parse(
      messagesWebhook({
        messages: [
          { ...textMessage, id: undefined },
          { ...textMessage, timestamp: "yesterday" },
          { ...textMessage, timestamp: "-5" },
          { ...textMessage, from: "+5511987654321" },
          { ...textMessage, text: {} },
          { ...textMessage, type: 7 },
          customerMessage("image", { mime_type: "image/jpeg" }),
          customerMessage("location", { latitude: "-23.5", longitude: "-46.6" }),
          customerMessage("interactive", { type: "button_reply", button_reply: { title: "Sim" } }),
          customerMessage("reaction", { emoji: "👍" }),
          "not a message",
          null,
          textMessage,
        ],
      }),
    );
    expect(items.map((i) => i.dedupeKey)).toEqual([`meta:msg:${WAMID_IN}`]);
    const at = "entry[0].changes[0].messages";
    expect(problems).toEqual([
      `${at}[0]: id: Invalid input: expected string, received undefined`,
      `${at}[1]: timestamp: expected unix seconds`,
      `${at}[2]: timestamp: expected unix seconds`,
      `${at}[3]: from: expected digits`,
      `${at}[4] (${WAMID_IN}) text: body: Invalid input: expected string, received undefined`,
      `${at}[5]: type: Invalid input: expected string, received number`,
      `${at}[6] (${WAMID_IN}) image: media has neither an id nor a url`,
      expect.stringContaining(`${at}[7] (${WAMID_IN}) location: latitude:`),
      expect.stringContaining(`${at}[8] (${WAMID_IN}) interactive: button_reply.id:`),
      expect.stringContaining(`${at}[9] (${WAMID_IN}) reaction: message_id:`),
      `${at}[10]: Invalid input: expected object, received string`,
      `${at}[11]: Invalid input: expected object, received null`,
    ]);
  });

  it("skips malformed statuses with a note and keeps the good ones", () => {
    const { items, problems } = parse(
      messagesWebhook({
        statuses: [
          { ...sentStatus, id: "" },
          { ...sentStatus, timestamp: "17e8" },
          { ...sentStatus, status: undefined },
          { ...failedStatus, errors: [{ title: "no code" }] },
          { ...sentStatus, pricing: "free" },
          readStatus,
        ],
      }),
    );
    expect(items.map((i) => i.dedupeKey)).toEqual([`meta:status:${WAMID_OUT}:read`]);
    expect(problems).toHaveLength(5);
    expect(problems[0]).toMatch(/^entry\[0\]\.changes\[0\]\.statuses\[0\]: id: /);
    expect(problems[1]).toBe("entry[0].changes[0].statuses[1]: timestamp: expected unix seconds");
    expect(problems[3]).toMatch(/statuses\[3\]: errors\.0\.code: /);
  });

  it("skips broken entries, changes and values with a note and keeps the rest", () => {
    const good = messagesWebhook({ messages: [textMessage] }).entry[0];
    const { items, problems } = parse({
      object: "whatsapp_business_account",
      entry: [
        "entry",
        { changes: [] },
        { id: WABA_ID, changes: "none" },
        { id: WABA_ID, time: "soon", changes: [] },
        { id: WABA_ID, changes: [{ value: {} }, { field: "messages", value: { messages: [textMessage] } }] },
        { id: WABA_ID, changes: [{ field: "messages", value: { metadata, messages: "lots" } }] },
        { id: WABA_ID, changes: [{ field: "message_template_status_update", value: { event: "APPROVED" } }] },
        good,
      ],
    });
    expect(items).toHaveLength(1);
    expect(problems).toEqual([
      "entry[0]: Invalid input: expected object, received string",
      "entry[1]: id: Invalid input: expected string, received undefined",
      "entry[2]: changes: Invalid input: expected array, received string",
      "entry[3]: time: expected unix seconds",
      "entry[4].changes[0]: field: Invalid input: expected string, received undefined",
      "entry[4].changes[1]: metadata: Invalid input: expected object, received undefined",
      "entry[5].changes[0]: messages: Invalid input: expected array, received string",
      expect.stringMatching(/^entry\[6\]\.changes\[0\]: message_template_id: .*; message_template_name: /),
    ]);
  });

  it("never throws on arbitrary junk inside a well-formed envelope", () => {
    const junk = fc.anything();
    fc.assert(
      fc.property(junk, junk, junk, fc.string(), (entry, value, item, type) => {
        const body = {
          object: "whatsapp_business_account",
          entry: [
            entry,
            { id: WABA_ID, changes: [{ field: "messages", value }] },
            { id: WABA_ID, changes: [{ field: "message_template_status_update", value }] },
            messagesWebhook({ messages: [item], statuses: [item], contacts: [item], errors: [item] })
              .entry[0],
            inboundWebhook(customerMessage(type, item)).entry[0],
          ],
        };
        const result = parse(body);
        expect(Array.isArray(result.items)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe("Meta webhooks: dedupe keys", () => {
  it("are stable across redeliveries and distinct between events", () => {
    const body = messagesWebhook({
      messages: [textMessage],
      statuses: [
        sentStatus,
        deliveredStatus,
        readStatus,
        failedStatus,
        { ...failedStatus, errors: [{ code: 131047 }] },
      ],
    });
    const first = parse(body).items.map((i) => i.dedupeKey);
    const again = parse(structuredClone(body)).items.map((i) => i.dedupeKey);
    expect(again).toEqual(first);
    expect(new Set(first).size).toBe(first.length);
    // The same status of the same message redelivered later (another timestamp) is still one event.
    expect(onlyStatus({ ...sentStatus, timestamp: "1717179999" }).dedupeKey).toBe(first[1]);
  });
});
