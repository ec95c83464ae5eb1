import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

// Runs in Node: reads src/ from disk and checks DESIGN.md's "dependencies point down only" on every import.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** One import of one file: the specifier as written, the src/-relative file it resolves to, and whether only types cross. */
interface Import {
  specifier: string;
  target: string;
  typeOnly: boolean;
}

/** Every module an import, `export … from`, `import x = require()`, `import()` or `import("…")` type names. */
function importsOf(path: string, source: string, files: ReadonlySet<string>): Import[] {
  const sf = ts.createSourceFile(path, source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: Import[] = [];
  const add = (literal: ts.Node | undefined, typeOnly: boolean) => {
    if (!literal || !ts.isStringLiteralLike(literal)) return;
    const target = resolve(path, literal.text, files);
    if (target) found.push({ specifier: literal.text, target, typeOnly });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      add(node.moduleSpecifier, isTypeOnlyImport(node.importClause));
    } else if (ts.isExportDeclaration(node)) {
      const named = node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause : undefined;
      add(node.moduleSpecifier, node.isTypeOnly || (named?.elements.every((e) => e.isTypeOnly) ?? false));
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0], false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/** `import type {…}`, or named imports that are each marked `type` (erased: nothing runs across). */
function isTypeOnlyImport(clause: ts.ImportClause | undefined): boolean {
  if (!clause) return false; // a side-effect import runs the module
  if (clause.isTypeOnly) return true;
  if (clause.name) return false;
  const bindings = clause.namedBindings;
  return (
    bindings !== undefined && ts.isNamedImports(bindings) && bindings.elements.every((e) => e.isTypeOnly)
  );
}

/** A relative specifier as the bundler resolves it, as a path relative to the repository; packages are skipped. */
function resolve(from: string, specifier: string, files: ReadonlySet<string>): string | null {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return null;
  const base = posix.normalize(posix.join(posix.dirname(from), specifier));
  const candidates = [base, `${base}.ts`, `${base}.tsx`, `${base}/index.ts`, `${base}/index.tsx`];
  return candidates.find((candidate) => files.has(candidate)) ?? base;
}

const within = (path: string, dir: string) => path.startsWith(`src/${dir}/`);
const isFile = (path: string, file: string) => path === `src/${file}` || path.startsWith(`src/${file}.`);

/** What `src/domain/` may name from below it, by type only (erased at build): nothing of theirs runs in domain. */
const DOMAIN_TYPE_ONLY = [
  "env", // Environment
  "db/schema", // MessageStatus, a column's union; lives in the schema today
  "providers/types", // Channel, MessageContent, MediaType; DESIGN.md wants these in domain/ eventually
];

const DOMAIN_FORBIDDEN = ["db", "providers", "routes", "services", "queues", "webhooks", "inbound"];
const SERVICES_FORBIDDEN = ["routes", "queues"];

/** One line per import that points up, naming the file and the import. */
function layeringViolations(sources: ReadonlyMap<string, string>): string[] {
  const files = new Set(sources.keys());
  const problems: string[] = [];
  for (const [path, source] of sources) {
    for (const imp of importsOf(path, source, files)) {
      const say = (rule: string) =>
        problems.push(`${path} imports "${imp.specifier}" (${imp.target}): ${rule}`);
      if (within(imp.target, "routes") && !within(path, "routes") && path !== "src/app.ts") {
        say("only src/routes/ and src/app.ts may import routes/");
      }
      if (within(path, "domain")) {
        const allowedType = DOMAIN_TYPE_ONLY.some((file) => isFile(imp.target, file));
        if (allowedType && !imp.typeOnly) {
          say("domain/ may import only types from here (use `import type`)");
        } else if (!allowedType && DOMAIN_FORBIDDEN.some((dir) => within(imp.target, dir))) {
          say(`domain/ is pure and may not import ${DOMAIN_FORBIDDEN.map((dir) => `${dir}/`).join(", ")}`);
        }
      }
      if (within(path, "services") && SERVICES_FORBIDDEN.some((dir) => within(imp.target, dir))) {
        say("services/ sit below routes/ and queues/ and may not import them");
      }
    }
  }
  return problems.sort();
}

function readSources(dir: string, into = new Map<string, string>()): Map<string, string> {
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = posix.join(dir, entry.name);
    if (entry.isDirectory()) readSources(path, into);
    else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith(".d.ts")) {
      into.set(path, readFileSync(join(ROOT, path), "utf8"));
    }
  }
  return into;
}

describe("layering (DESIGN.md: dependencies point down only)", () => {
  it("no file of src/ imports a layer above its own", () => {
    const sources = readSources("src");
    expect(sources.size).toBeGreaterThan(50);
    expect(layeringViolations(sources)).toEqual([]);
  });

  it("sees every form of import, resolved from the importing file", () => {
    const sources = new Map([
      ["src/routes/channels.ts", "export const x = 1;"],
      ["src/routes/shared.ts", "export const y = 1;"],
      ["src/routes/index.ts", "export const z = 1;"],
      ["src/db/schema.ts", "export type Row = {};"],
      ["src/db/client.ts", "export const createDb = 1;"],
      ["src/queues/jobs.ts", "export const j = 1;"],
      ["src/env.ts", "export type Env = {};"],
      [
        "src/queues/a.ts",
        [
          "import {",
          "  x,",
          "} from '../routes/channels';",
          "import type { y } from '../db/../routes/shared';",
          'export { z } from "../routes";',
          "export * from '../routes/channels.ts';",
          "const lazy = () => import('../routes/shared');",
          "type T = typeof import('../routes/shared');",
          "import { ok } from './jobs';",
          "import { z as zod } from '@hono/zod-openapi';",
          "// import { commented } from '../routes/channels';",
          "const text = \"import { s } from '../routes/channels'\";",
        ].join("\n"),
      ],
      ["src/app.ts", "import { x } from './routes/channels';"],
      ["src/routes/other.ts", "import { x } from './channels';"],
      [
        "src/domain/rules.ts",
        [
          "import type { Row } from '../db/schema';",
          "import { type Row as R2 } from '../db/schema';",
          "import { createDb } from '../db/client';",
          "import { Env } from '../env';",
          "import type { Env as E2 } from '../env';",
        ].join("\n"),
      ],
      ["src/domain/nested/more.ts", "import type { j } from '../../queues/jobs';"],
      [
        "src/services/s.ts",
        "import { x } from '../routes/channels';\nimport { createDb } from '../db/client';",
      ],
    ]);
    expect(layeringViolations(sources)).toEqual([
      `src/domain/nested/more.ts imports "../../queues/jobs" (src/queues/jobs.ts): domain/ is pure and may not import db/, providers/, routes/, services/, queues/, webhooks/, inbound/`,
      `src/domain/rules.ts imports "../db/client" (src/db/client.ts): domain/ is pure and may not import db/, providers/, routes/, services/, queues/, webhooks/, inbound/`,
      `src/domain/rules.ts imports "../env" (src/env.ts): domain/ may import only types from here (use \`import type\`)`,
      `src/queues/a.ts imports "../db/../routes/shared" (src/routes/shared.ts): only src/routes/ and src/app.ts may import routes/`,
      `src/queues/a.ts imports "../routes" (src/routes/index.ts): only src/routes/ and src/app.ts may import routes/`,
      `src/queues/a.ts imports "../routes/channels" (src/routes/channels.ts): only src/routes/ and src/app.ts may import routes/`,
      `src/queues/a.ts imports "../routes/channels.ts" (src/routes/channels.ts): only src/routes/ and src/app.ts may import routes/`,
      `src/queues/a.ts imports "../routes/shared" (src/routes/shared.ts): only src/routes/ and src/app.ts may import routes/`,
      `src/queues/a.ts imports "../routes/shared" (src/routes/shared.ts): only src/routes/ and src/app.ts may import routes/`,
      `src/services/s.ts imports "../routes/channels" (src/routes/channels.ts): only src/routes/ and src/app.ts may import routes/`,
      `src/services/s.ts imports "../routes/channels" (src/routes/channels.ts): services/ sit below routes/ and queues/ and may not import them`,
    ]);
  });
});
