import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkDevVars, createDevVars, mergeDevVars, parseDevVars } from "../../scripts/lib/dev-vars.mjs";

// The real example, so a setting added to it later is covered too.
const EXAMPLE = readFileSync(new URL("../../.dev.vars.example", import.meta.url), "utf8");
const EXAMPLE_NAMES = [...parseDevVars(EXAMPLE).keys()];
const GOOD_KEY = Buffer.alloc(32, 7).toString("base64");

/** Distinct, valid secrets, so a test can tell which one went where. */
function secrets() {
  let n = 0;
  return () => Buffer.alloc(32, ++n).toString("base64");
}

describe(".dev.vars.example", () => {
  it("holds the settings the worker needs in development, the secret left empty", () => {
    expect(EXAMPLE_NAMES).toEqual(expect.arrayContaining(["ALLOW_LOCAL_WEBHOOKS", "SECRETS_ENCRYPTION_KEY"]));
    expect(parseDevVars(EXAMPLE).get("SECRETS_ENCRYPTION_KEY")).toBe("");
    // Documented but commented out: npm start passes PUBLIC_BASE_URL for its port unless .dev.vars sets it.
    expect(parseDevVars(EXAMPLE).has("PUBLIC_BASE_URL")).toBe(false);
  });
});

describe("createDevVars", () => {
  it("copies the example, generating every empty value, and the result passes the checks", () => {
    const { text, generated } = createDevVars(EXAMPLE, secrets());
    expect(generated).toEqual(["SECRETS_ENCRYPTION_KEY"]);
    const vars = parseDevVars(text);
    expect([...vars.keys()]).toEqual(EXAMPLE_NAMES);
    expect(vars.get("SECRETS_ENCRYPTION_KEY")).toBe(Buffer.alloc(32, 1).toString("base64"));
    expect(vars.get("ALLOW_LOCAL_WEBHOOKS")).toBe("true");
    expect(checkDevVars(vars)).toEqual([]);
    expect(text).toContain("# Key that encrypts secrets stored at rest");
  });
});

describe("mergeDevVars", () => {
  it("appends what an older .dev.vars lacks, with its explanation, and changes none of its lines", () => {
    const existing = "# mine\nALLOW_LOCAL_WEBHOOKS=false\nMY_OWN_SETTING=1"; // no final newline
    const { text, added, generated } = mergeDevVars(existing, EXAMPLE, secrets());
    expect(added).toEqual(["SECRETS_ENCRYPTION_KEY"]);
    expect(generated).toEqual(["SECRETS_ENCRYPTION_KEY"]);
    expect(text.startsWith(`${existing}\n`)).toBe(true);
    const vars = parseDevVars(text);
    expect(vars.get("ALLOW_LOCAL_WEBHOOKS")).toBe("false"); // the developer's choice stands
    expect(vars.get("MY_OWN_SETTING")).toBe("1");
    expect(vars.get("SECRETS_ENCRYPTION_KEY")).toBe(Buffer.alloc(32, 1).toString("base64"));
    expect(checkDevVars(vars)).toEqual([]);
    const appended = text.slice(existing.length);
    expect(appended).toContain("Added by `npm start`");
    expect(appended).toContain("# Key that encrypts secrets stored at rest");
    expect(appended).not.toContain("ALLOW_LOCAL_WEBHOOKS");
  });

  it("adds an example setting with a value as that value, not a secret", () => {
    const existing = `SECRETS_ENCRYPTION_KEY=${GOOD_KEY}\n`;
    const { text, added, generated } = mergeDevVars(existing, EXAMPLE, secrets());
    expect(added).toEqual(["ALLOW_LOCAL_WEBHOOKS"]);
    expect(generated).toEqual([]);
    expect(parseDevVars(text).get("ALLOW_LOCAL_WEBHOOKS")).toBe("true");
    expect(parseDevVars(text).get("SECRETS_ENCRYPTION_KEY")).toBe(GOOD_KEY);
  });

  it("leaves a complete file byte for byte alone, and a second merge adds nothing", () => {
    const complete = createDevVars(EXAMPLE, secrets()).text;
    expect(mergeDevVars(complete, EXAMPLE, secrets())).toEqual({ text: complete, added: [], generated: [] });
    const once = mergeDevVars("ALLOW_LOCAL_WEBHOOKS=true\n", EXAMPLE, secrets()).text;
    expect(mergeDevVars(once, EXAMPLE, secrets()).added).toEqual([]);
  });

  it("counts quoted, exported and spaced assignments as present, and ignores commented ones", () => {
    const existing = [`export SECRETS_ENCRYPTION_KEY="${GOOD_KEY}"`, "# ALLOW_LOCAL_WEBHOOKS=true", ""].join(
      "\n",
    );
    const { added } = mergeDevVars(existing, EXAMPLE, secrets());
    expect(added).toEqual(["ALLOW_LOCAL_WEBHOOKS"]);
    expect(parseDevVars(`A = 'x y' \nB=plain # comment\nC="q#r"\n`)).toEqual(
      new Map([
        ["A", "x y"],
        ["B", "plain"],
        ["C", "q#r"],
      ]),
    );
  });

  it("keeps Windows line endings, and fills an empty file with every setting", () => {
    const { text } = mergeDevVars("MY_OWN=1\r\n", EXAMPLE, secrets());
    expect(text.startsWith("MY_OWN=1\r\n")).toBe(true);
    expect(text.replace(/\r\n/g, "")).not.toContain("\n");
    const empty = mergeDevVars("", EXAMPLE, secrets());
    expect(empty.added).toEqual(EXAMPLE_NAMES);
    expect(checkDevVars(parseDevVars(empty.text))).toEqual([]);
  });
});

describe("checkDevVars", () => {
  it("names a SECRETS_ENCRYPTION_KEY the worker cannot use, without quoting it", () => {
    const bad = [
      "",
      Buffer.alloc(16, 1).toString("base64"), // base64, but 16 bytes
      Buffer.alloc(33, 1).toString("base64"),
      "this is not base64 at all, and has spaces",
      `${GOOD_KEY.slice(0, -1)}`, // truncated
    ];
    for (const value of bad) {
      const problems = checkDevVars(new Map([["SECRETS_ENCRYPTION_KEY", value]]));
      expect(problems, value).toHaveLength(1);
      expect(problems[0]).toContain("SECRETS_ENCRYPTION_KEY");
      if (value !== "") expect(problems[0]).not.toContain(value);
    }
    expect(checkDevVars(new Map([["SECRETS_ENCRYPTION_KEY", GOOD_KEY]]))).toEqual([]);
    // Absent settings are not problems here: mergeDevVars adds them.
    expect(checkDevVars(new Map())).toEqual([]);
  });

  it("names a PUBLIC_BASE_URL that is not an http(s) URL", () => {
    for (const value of ["localhost:8787", "ftp://example.com", ""]) {
      const problems = checkDevVars(new Map([["PUBLIC_BASE_URL", value]]));
      expect(problems, value).toHaveLength(1);
      expect(problems[0]).toContain("PUBLIC_BASE_URL");
    }
    for (const value of ["http://localhost:9000", "https://abc.trycloudflare.com"]) {
      expect(checkDevVars(new Map([["PUBLIC_BASE_URL", value]])), value).toEqual([]);
    }
  });
});
