import { describe, expect, it } from "vitest";
import { choosePort, DEFAULT_PORT } from "../../scripts/lib/port.mjs";
import { appliedMigrations } from "../../scripts/lib/wrangler-output.mjs";

describe("choosePort", () => {
  it("takes --port, then PORT, then 8787", () => {
    expect(DEFAULT_PORT).toBe(8787);
    expect(choosePort([], {})).toEqual({ port: 8787 });
    expect(choosePort([], { PORT: "" })).toEqual({ port: 8787 });
    expect(choosePort([], { PORT: "9000" })).toEqual({ port: 9000 });
    expect(choosePort(["--port", "9001"], { PORT: "9000" })).toEqual({ port: 9001 });
    expect(choosePort(["--live", "--port=9002"], {})).toEqual({ port: 9002 });
  });

  it("refuses what is not a TCP port, naming where it came from", () => {
    for (const [argv, env, source] of [
      [["--port"], {}, "--port"],
      [["--port", "abc"], {}, "--port"],
      [["--port=0"], {}, "--port"],
      [[], { PORT: "65536" }, "PORT"],
      [[], { PORT: "80.5" }, "PORT"],
      [[], { PORT: "-1" }, "PORT"],
    ] as const) {
      const chosen = choosePort(argv, env);
      expect(chosen.error, JSON.stringify([argv, env])).toContain(source);
      expect(chosen.port).toBeUndefined();
    }
  });
});

/** What `wrangler d1 migrations apply` prints: the status table again after every migration. */
function wranglerOutput(names: string[]) {
  const table = (done: number) =>
    [
      "┌──────────────────┬────────┐",
      "│ name             │ status │",
      "├──────────────────┼────────┤",
      ...names.map((name, i) => `│ ${name.padEnd(16)} │ ${i < done ? "✅" : "🕒️"}     │`),
      "└──────────────────┴────────┘",
    ].join("\n");
  const pending = [
    "Migrations to be applied:",
    "┌──────┐",
    "│ name │",
    ...names.map((n) => `│ ${n} │`),
    "└──────┘",
  ];
  const runs = names.map((_, i) => `🚣 ${i + 2} commands executed successfully.\n${table(i + 1)}`);
  return [...pending, "? About to apply", ...runs].join("\n");
}

describe("appliedMigrations", () => {
  it("lists each applied migration once, from wrangler's last table", () => {
    const names = ["0000_core.sql", "0001_sends.sql", "0002_webhooks.sql"];
    expect(appliedMigrations(wranglerOutput(names))).toEqual(names);
  });

  it("lists nothing when there was nothing to apply, and what ran before a failure", () => {
    expect(appliedMigrations("✅ No migrations to apply!\n")).toEqual([]);
    const partial = wranglerOutput(["0000_a.sql", "0001_b.sql"]).split("🚣").slice(0, 2).join("🚣");
    expect(appliedMigrations(partial)).toEqual(["0000_a.sql"]);
  });
});
