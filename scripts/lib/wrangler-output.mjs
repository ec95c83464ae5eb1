// Reading what `wrangler d1 migrations apply` printed (kept pure, tested in Node).

const STATUS_HEADER = /│\s*name\s*│\s*status\s*│/;
const APPLIED_ROW = /│\s*(\S+\.sql)\s*│\s*✅/;

/**
 * The migrations one `wrangler d1 migrations apply` run applied, in order, each once. Wrangler reprints
 * its whole status table after every migration (the first with one ✅, the next with two, …), so only
 * the last table counts; reading every table would list the first migration n times.
 */
export function appliedMigrations(output) {
  let applied = [];
  for (const line of output.split(/\r?\n/)) {
    if (STATUS_HEADER.test(line)) {
      applied = [];
      continue;
    }
    const match = APPLIED_ROW.exec(line);
    if (match && !applied.includes(match[1])) applied.push(match[1]);
  }
  return applied;
}
