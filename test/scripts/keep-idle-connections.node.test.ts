import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const PRELOAD = fileURLToPath(new URL("../../scripts/lib/keep-idle-connections.mjs", import.meta.url));

describe("npm start's preload for wrangler dev", () => {
  it("gives every Node HTTP server of the process no idle keep-alive timeout (Node's default is 5 s)", () => {
    const probe = `import http from "node:http"; console.log(http.createServer().keepAliveTimeout);`;
    const run = (args: string[]) =>
      execFileSync(process.execPath, [...args, "--input-type=module", "-e", probe], {
        encoding: "utf8",
      }).trim();
    expect(run([])).toBe("5000");
    expect(run(["--import", PRELOAD])).toBe("0");
  });
});
