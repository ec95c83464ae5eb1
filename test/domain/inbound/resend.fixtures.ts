/** Resend webhook bodies in the shapes of Resend's event-type reference (`email.*` events). */

export const EMAIL_ID = "56761188-7520-42d8-8898-ff6fc54ce618";
export const RECIPIENT = "ana.souza@example.com";
export const SVIX_ID = "msg_2pYrNqfGbT7tKx0y9VZ3cW1hL8e";
export const EVENT_AT = "2024-11-22T23:41:12.126Z";

/** A Resend event of `type` about our email, with `data` extras (bounce, click, failed…). */
export function resendEvent(type: string, extra: Record<string, unknown> = {}, createdAt = EVENT_AT) {
  return {
    type,
    created_at: createdAt,
    data: {
      broadcast_id: "8b146471-e88e-4322-86af-016cd36fd216",
      created_at: "2024-11-22T23:41:11.894719+00:00",
      email_id: EMAIL_ID,
      from: "Acme <notifications@acme.com>",
      to: [RECIPIENT],
      subject: "Seu pedido 4521 foi enviado",
      tags: { category: "order_shipped" },
      ...extra,
    },
  };
}

export const permanentBounce = resendEvent("email.bounced", {
  bounce: {
    message:
      "The recipient's email provider sent a hard bounce message, but didn't specify the reason for the hard bounce.",
    subType: "General",
    type: "Permanent",
  },
});

export const suppressedBounce = resendEvent("email.bounced", {
  bounce: {
    message:
      "The recipient's email address is on the suppression list because it has a recent history of producing hard bounces.",
    subType: "Suppressed",
    type: "Permanent",
  },
});

export const transientBounce = resendEvent("email.bounced", {
  bounce: {
    message: "The recipient's inbox is full.",
    subType: "MailboxFull",
    type: "Transient",
  },
});

export const undeterminedBounce = resendEvent("email.bounced", {
  bounce: {
    message: "The recipient's email provider sent a bounce message that didn't contain enough information.",
    subType: "Undetermined",
    type: "Undetermined",
  },
});

export const clicked = resendEvent("email.clicked", {
  click: {
    ipAddress: "122.115.53.11",
    link: "https://acme.com/pedidos/4521",
    timestamp: "2024-11-24T05:00:57.163Z",
    userAgent:
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.1 Safari/605.1.15",
  },
});

export const failed = resendEvent("email.failed", { failed: { reason: "reached_daily_quota" } });

export const suppressed = resendEvent("email.suppressed", {
  suppressed: {
    message: "This email address is on your suppression list.",
    type: "OnAccountSuppressionList",
  },
});

export const received = {
  type: "email.received",
  created_at: EVENT_AT,
  data: {
    email_id: EMAIL_ID,
    created_at: "2024-11-22T23:41:11.894719+00:00",
    from: RECIPIENT,
    to: ["support@acme.com"],
    bcc: [],
    cc: [],
    message_id: "<CAF=abc123@mail.example.com>",
    subject: "Re: Seu pedido 4521 foi enviado",
    attachments: [],
  },
};
