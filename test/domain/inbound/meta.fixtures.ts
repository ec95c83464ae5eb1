/**
 * Meta WhatsApp Cloud API webhook bodies in the shapes of Meta's webhook reference (messages, statuses,
 * message_template_status_update). Ids and numbers are made up but formatted like real ones.
 */

export const WABA_ID = "102290129340398";
export const PHONE_NUMBER_ID = "106540352242922";
export const DISPLAY_PHONE_NUMBER = "15550783881";
export const CUSTOMER_WA_ID = "5511987654321";
export const CUSTOMER_NAME = "Ana Souza";
/** Unix seconds, as Meta sends them: a string. */
export const TS = "1717171717";
export const TS_DATE = new Date(1717171717 * 1000);

export const WAMID_IN = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBDNzE5QjE0RjREMzM0QTBBAA==";
export const WAMID_OUT = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjdBQjM1QjQ0RjA4QTY0RTJGNwA=";

export const metadata = { display_phone_number: DISPLAY_PHONE_NUMBER, phone_number_id: PHONE_NUMBER_ID };

/** A `messages` webhook with one change holding `value`. */
export function messagesWebhook(value: Record<string, unknown>, wabaId = WABA_ID) {
  return {
    object: "whatsapp_business_account",
    entry: [
      {
        id: wabaId,
        changes: [{ value: { messaging_product: "whatsapp", metadata, ...value }, field: "messages" }],
      },
    ],
  };
}

/** A customer's message as it appears in `value.messages[]`. */
export function customerMessage(type: string, body: unknown, extra: Record<string, unknown> = {}) {
  return { from: CUSTOMER_WA_ID, id: WAMID_IN, timestamp: TS, type, [type]: body, ...extra };
}

/** The webhook Meta sends for one inbound message, with the sender's contact card. */
export function inboundWebhook(message: Record<string, unknown>) {
  return messagesWebhook({
    contacts: [{ profile: { name: CUSTOMER_NAME }, wa_id: CUSTOMER_WA_ID }],
    messages: [message],
  });
}

export const textMessage = customerMessage("text", { body: "Olá! Meu pedido já saiu?" });

export const imageMessage = customerMessage("image", {
  caption: "Foto do produto",
  mime_type: "image/jpeg",
  sha256: "HgkhJ3u1sW9B1ny8o4v1Qv4fKp4mZgq9Jm0yZ1Y8c2s=",
  id: "1037543291543636",
});

export const audioMessage = customerMessage("audio", {
  mime_type: "audio/ogg; codecs=opus",
  sha256: "3hT1X8lq8bX0n8Q5Gx8yJm9x0K3r4Zl5cXn2f1oQm6E=",
  id: "1145267489933122",
  voice: true,
});

export const videoMessage = customerMessage("video", {
  caption: "Unboxing",
  mime_type: "video/mp4",
  sha256: "u8D9aE6b7Q0oM2vKq1p2Xw3Zr4Lm5Nn6Oo7Pp8Qq9Rs=",
  id: "1529848417875326",
});

export const documentMessage = customerMessage("document", {
  caption: "Nota fiscal",
  filename: "nota-fiscal-4521.pdf",
  mime_type: "application/pdf",
  sha256: "Q2p3R4s5T6u7V8w9X0y1Z2a3B4c5D6e7F8g9H0i1J2k=",
  id: "1003383421387256",
});

export const stickerMessage = customerMessage("sticker", {
  mime_type: "image/webp",
  sha256: "S1t2U3v4W5x6Y7z8A9b0C1d2E3f4G5h6I7j8K9l0M1n=",
  id: "1228429784606004",
  animated: false,
});

export const locationMessage = customerMessage("location", {
  latitude: -23.561414,
  longitude: -46.655881,
  name: "MASP",
  address: "Av. Paulista, 1578 - Bela Vista, São Paulo - SP",
});

/** A tap on a template's quick-reply button: `button`, with the template message as context. */
export const quickReplyMessage = customerMessage(
  "button",
  { payload: "CONFIRM_ORDER_4521", text: "Confirmar" },
  { context: { from: DISPLAY_PHONE_NUMBER, id: WAMID_OUT } },
);

export const buttonReplyMessage = customerMessage(
  "interactive",
  { type: "button_reply", button_reply: { id: "track-order", title: "Rastrear pedido" } },
  { context: { from: DISPLAY_PHONE_NUMBER, id: WAMID_OUT } },
);

export const listReplyMessage = customerMessage(
  "interactive",
  {
    type: "list_reply",
    list_reply: { id: "slot-0900", title: "09:00", description: "Segunda-feira, manhã" },
  },
  { context: { from: DISPLAY_PHONE_NUMBER, id: WAMID_OUT } },
);

export const reactionMessage = customerMessage("reaction", { message_id: WAMID_OUT, emoji: "👍" });

/** Meta omits `emoji` when the customer removes their reaction. */
export const reactionRemovedMessage = customerMessage("reaction", { message_id: WAMID_OUT });

export const replyTextMessage = customerMessage(
  "text",
  { body: "Esse mesmo" },
  { context: { from: DISPLAY_PHONE_NUMBER, id: WAMID_OUT } },
);

export const forwardedTextMessage = customerMessage(
  "text",
  { body: "Olha isso" },
  { context: { forwarded: true } },
);

/** A message type the Cloud API cannot deliver to businesses (e.g. a poll). */
export const unsupportedMessage = {
  from: CUSTOMER_WA_ID,
  id: WAMID_IN,
  timestamp: TS,
  type: "unsupported",
  errors: [
    {
      code: 131051,
      title: "Message type unknown",
      message: "Message type unknown",
      error_data: { details: "Message type is currently not supported." },
    },
  ],
};

export const contactsMessage = customerMessage(
  "contacts",
  [{ name: { formatted_name: "João Lima", first_name: "João" }, phones: [{ phone: "+55 21 99876-5432" }] }],
  {},
);

export const flowReplyMessage = customerMessage("interactive", {
  type: "nfm_reply",
  nfm_reply: { name: "flow", body: "Sent", response_json: '{"flow_token":"t"}' },
});

export const sentStatus = {
  id: WAMID_OUT,
  status: "sent",
  timestamp: TS,
  recipient_id: CUSTOMER_WA_ID,
  conversation: {
    id: "c1b7fa7e4a9ab9f6a3c2b8e2f1d0c4a7",
    expiration_timestamp: "1717258117",
    origin: { type: "utility" },
  },
  pricing: { billable: true, pricing_model: "PMP", category: "utility", type: "regular" },
};

export const deliveredStatus = { ...sentStatus, status: "delivered", timestamp: "1717171720" };

export const readStatus = {
  id: WAMID_OUT,
  status: "read",
  timestamp: "1717171790",
  recipient_id: CUSTOMER_WA_ID,
};

export const failedStatus = {
  id: WAMID_OUT,
  status: "failed",
  timestamp: "1717171725",
  recipient_id: CUSTOMER_WA_ID,
  errors: [
    {
      code: 131026,
      title: "Message undeliverable",
      message: "Message undeliverable",
      error_data: {
        details:
          "Unable to deliver message. Reasons can include: the recipient's phone number is not a WhatsApp phone number.",
      },
      href: "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    },
  ],
};

export const TEMPLATE_ID = 1982737699205572;
export const TEMPLATE_TIME = 1717172000;

export function templateStatusWebhook(event: string, reason: string | null = "NONE", time = TEMPLATE_TIME) {
  return {
    object: "whatsapp_business_account",
    entry: [
      {
        id: WABA_ID,
        time,
        changes: [
          {
            value: {
              event,
              message_template_id: TEMPLATE_ID,
              message_template_name: "order_shipped",
              message_template_language: "pt_BR",
              reason,
              message_template_category: "UTILITY",
            },
            field: "message_template_status_update",
          },
        ],
      },
    ],
  };
}
