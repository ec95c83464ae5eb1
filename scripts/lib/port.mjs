// Which port `npm start` (and `npm run dev:key`, for the URL it prints) uses: `--port N` / `--port=N`,
// else the PORT environment variable, else 8787. Pure, tested in Node.

export const DEFAULT_PORT = 8787;

/** `{ port }`, or `{ error }` naming where the bad value came from. */
export function choosePort(argv, env) {
  let fromArgs;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--port") fromArgs = argv[++i] ?? "";
    else if (arg.startsWith("--port=")) fromArgs = arg.slice("--port=".length);
  }
  const [source, raw] =
    fromArgs !== undefined
      ? ["--port", fromArgs]
      : env.PORT !== undefined && env.PORT !== ""
        ? ["PORT", env.PORT]
        : [null, String(DEFAULT_PORT)];
  const text = raw.trim();
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) {
    return { error: `${source} must be a TCP port number (1-65535); got "${raw}".` };
  }
  return { port };
}
