// Types of port.mjs, for the Node tests (test/scripts).
export const DEFAULT_PORT: number;
export function choosePort(
  argv: readonly string[],
  env: Record<string, string | undefined>,
): { port: number; error?: undefined } | { error: string; port?: undefined };
