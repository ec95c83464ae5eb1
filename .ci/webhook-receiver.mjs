// A throwaway webhook receiver for the CI smoke: listens on 127.0.0.1 (ephemeral port), prints the port,
// and for each POST appends one JSON line {headers, body} to the file given as the first argument.
// It verifies nothing itself; the smoke checks the signature with the `standardwebhooks` package.
import { appendFileSync } from "node:fs";
import { createServer } from "node:http";

const out = process.argv[2];
if (!out) throw new Error("usage: node .ci/webhook-receiver.mjs <output.jsonl>");
const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    appendFileSync(
      out,
      `${JSON.stringify({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") })}\n`,
    );
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  });
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
// Never outlive the smoke, even if it forgets to stop us.
setTimeout(() => process.exit(0), 10 * 60_000).unref();
process.on("SIGTERM", () => process.exit(0));
