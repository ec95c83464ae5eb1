// Used by the CI smoke: checks that the receiver got an event of the given type whose Standard Webhooks
// signature verifies with the endpoint's secret. Exits 0 when it did, 1 otherwise.
//   node .ci/verify-webhook.mjs <received.jsonl> <whsec_…> <event type>
import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";

const [file, secret, type] = process.argv.slice(2);
const lines = readFileSync(file, "utf8").split("\n").filter(Boolean);
const verified = lines
  .map((line) => JSON.parse(line))
  .filter(({ headers, body }) => {
    try {
      new Webhook(secret).verify(body, headers);
      return JSON.parse(body).type === type;
    } catch {
      return false;
    }
  });
process.exit(verified.length > 0 ? 0 : 1);
