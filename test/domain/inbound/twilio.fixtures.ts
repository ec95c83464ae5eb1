/**
 * Twilio Programmable Messaging webhook parameters, as Twilio posts them (form-encoded): the status
 * callback of an outbound SMS and the incoming-message webhook (SMS and MMS).
 */

export const ACCOUNT_SID = "AC3f6c1e0b9d2a4c7e8f1a2b3c4d5e6f70";
export const MESSAGING_SERVICE_SID = "MG9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d";
export const OUTBOUND_SID = "SM1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c";
export const INBOUND_SMS_SID = "SM7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f";
export const INBOUND_MMS_SID = "MM2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e";
export const OUR_NUMBER = "+14155550123";
export const CUSTOMER = "+5511987654321";

/** The status callback Twilio posts to our StatusCallback URL for an outbound message. */
export function statusCallback(status: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SmsSid: OUTBOUND_SID,
    SmsStatus: status,
    MessageStatus: status,
    To: CUSTOMER,
    MessagingServiceSid: MESSAGING_SERVICE_SID,
    MessageSid: OUTBOUND_SID,
    AccountSid: ACCOUNT_SID,
    From: OUR_NUMBER,
    ApiVersion: "2010-04-01",
    ...extra,
  };
}

export const deliveredCallback = statusCallback("delivered", { RawDlrDoneDate: "2406011201" });

export const undeliveredCallback = statusCallback("undelivered", {
  ErrorCode: "30003",
  RawDlrDoneDate: "2406011203",
});

export const failedCallback = statusCallback("failed", {
  ErrorCode: "30007",
  ErrorMessage: "Message filtered by the carrier.",
});

/** An incoming SMS: what Twilio posts to the number's messaging webhook URL. */
export const inboundSms: Record<string, string> = {
  ToCountry: "US",
  ToState: "CA",
  SmsMessageSid: INBOUND_SMS_SID,
  NumMedia: "0",
  ToCity: "SAN FRANCISCO",
  FromZip: "",
  SmsSid: INBOUND_SMS_SID,
  FromState: "SP",
  SmsStatus: "received",
  FromCity: "SAO PAULO",
  Body: "STOP? não, só quero saber do pedido 4521",
  FromCountry: "BR",
  To: OUR_NUMBER,
  MessagingServiceSid: MESSAGING_SERVICE_SID,
  ToZip: "94105",
  NumSegments: "1",
  MessageSid: INBOUND_SMS_SID,
  AccountSid: ACCOUNT_SID,
  From: CUSTOMER,
  ApiVersion: "2010-04-01",
};

export const mediaUrl = (i: number) =>
  `https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/${INBOUND_MMS_SID}/Media/ME0${i}a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d`;

/** An incoming MMS with `Body` and the given attachments' content types. */
export function inboundMms(body: string, contentTypes: string[]): Record<string, string> {
  const params: Record<string, string> = {
    ...inboundSms,
    SmsMessageSid: INBOUND_MMS_SID,
    SmsSid: INBOUND_MMS_SID,
    MessageSid: INBOUND_MMS_SID,
    Body: body,
    NumMedia: String(contentTypes.length),
  };
  contentTypes.forEach((type, i) => {
    params[`MediaContentType${i}`] = type;
    params[`MediaUrl${i}`] = mediaUrl(i);
  });
  return params;
}
