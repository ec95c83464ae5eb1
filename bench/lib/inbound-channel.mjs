/** The live WhatsApp channel bench/seed-worker.js creates for the inbound case, and the throwaway app secret
 * bench/cases.mjs signs its Meta webhooks with. */
export const INBOUND_CHANNEL = {
  id: "chn_01jd3x6n2m8q4v7w9y0z1a2b3c",
  appSecret: "bench-app-secret-0123456789abcdef",
};
