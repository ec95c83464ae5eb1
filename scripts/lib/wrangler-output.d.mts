// Types of wrangler-output.mjs, for the Node tests (test/scripts).
export function appliedMigrations(output: string): string[];
