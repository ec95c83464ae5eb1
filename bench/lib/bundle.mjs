// Bundles a worker exactly as `wrangler deploy` would (same esbuild settings, nodejs_compat polyfills),
// offline, with `wrangler deploy --dry-run --outdir`. Wrangler keeps scratch files in `.wrangler/tmp`
// next to the config it reads, so each bundle gets a generated config inside the benchmark's own temp
// directory: the project's `.wrangler/` is never touched.
import { spawn } from "node:child_process";
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

const BUNDLE_TIMEOUT_MS = 120_000;
const running = new Set();

/** Kills bundlers still running (each its own process group, esbuild included); resolves once they are gone. */
export function stopBundlers() {
  const exits = [...running].map(
    (child) =>
      new Promise((resolve) => {
        child.once("exit", resolve);
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          resolve();
        }
      }),
  );
  const timeout = new Promise((resolve) => setTimeout(resolve, 3000).unref());
  return Promise.race([Promise.all(exits), timeout]);
}

/**
 * @param {object} opts
 * @param {string} opts.wranglerCli  path to wrangler's wrangler-dist/cli.js (run directly: the bin/ launcher
 *                                   re-spawns it, and killing the launcher would orphan the real process)
 * @param {string} opts.dir          a fresh directory for the config, scratch files and output
 * @param {object} opts.config       a wrangler config object (`main` must be absolute)
 * @returns {Promise<{ dir: string, entry: string, bytes: number, ms: number }>}
 */
export async function bundleWorker({ wranglerCli, dir, config }) {
  await mkdir(dir, { recursive: true });
  const configPath = join(dir, "wrangler.json");
  const outDir = join(dir, "out");
  await writeFile(configPath, JSON.stringify(config, null, 2));
  const started = Date.now();
  const args = [
    // the flags wrangler's bin/wrangler.js launcher adds
    "--no-warnings",
    "--experimental-vm-modules",
    wranglerCli,
    ...["deploy", "--dry-run", "--outdir", outDir, "--config", configPath],
  ];
  const output = await runBounded(process.execPath, args, {
    cwd: dir,
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      WRANGLER_LOG_PATH: join(dir, "logs"),
      NO_COLOR: "1",
    },
  });
  const files = (await readdir(outDir)).filter((f) => /\.(m?js)$/.test(f));
  if (files.length !== 1) {
    throw new Error(`expected one bundled module in ${outDir}, found: ${files.join(", ")}\n${output}`);
  }
  const entry = join(outDir, files[0]);
  return { dir: outDir, entry, bytes: (await stat(entry)).size, ms: Date.now() - started };
}

function runBounded(command, args, options) {
  return new Promise((resolve, reject) => {
    // detached: its own process group, so stopBundlers() can kill it together with its esbuild service
    const child = spawn(command, args, { ...options, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    running.add(child);
    child.on("exit", () => running.delete(child));
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    const timer = setTimeout(() => {
      stopBundlers();
      reject(new Error(`wrangler bundling timed out after ${BUNDLE_TIMEOUT_MS / 1000} s\n${output}`));
    }, BUNDLE_TIMEOUT_MS);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`wrangler bundling failed (${signal ?? `exit ${code}`}):\n${output}`));
    });
  });
}
