/**
 * `salvage demo`: the whole system on one machine. The devnet (chains, protocol, borrowers, market
 * simulation and crash), the Ponder indexer with its GraphQL API, and the relayer, each in its own
 * process with prefixed logs. Ctrl-C stops all of them.
 *
 * It says how long the point took: `[demo] first recovery N s after start` when the relayer logs its first
 * `recovered` (collateral seized on the spoke), and `[demo] stopped N s after the interrupt` once every process has
 * exited.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { sleep } from "../util/concurrency.js";
import { type DevnetOptions, runDevnet } from "./run.js";

const require = createRequire(import.meta.url);

export interface DemoOptions extends DevnetOptions {
  apiPort: number;
  metricsPort: number;
}

function prefixed(child: ChildProcess, name: string, log: (line: string) => void, onLine?: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    let buffer = "";
    stream?.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      for (const line of lines) {
        if (!line.trim()) continue;
        log(`[${name}] ${line}`);
        onLine?.(line);
      }
    });
  }
}

/** Whether a relayer log line (pino JSON) is a recovery's end: collateral seized on the spoke. */
function isRecovered(line: string): boolean {
  if (!line.startsWith("{")) return false;
  try {
    return (JSON.parse(line) as { msg?: unknown }).msg === "recovered";
  } catch {
    return false;
  }
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);

export async function runDemo(options: DemoOptions, log: (line: string) => void, signal: AbortSignal): Promise<void> {
  const started = Date.now();
  let interruptedAt: number | undefined;
  signal.addEventListener("abort", () => (interruptedAt = Date.now()), { once: true });
  const root = resolve(dirname(require.resolve("../../package.json")));
  const manifest = resolve(options.manifest);
  rmSync(manifest, { force: true });
  const devnet = runDevnet({ ...options, once: false }, (line) => log(`[devnet] ${line}`), signal).then(
    () => undefined,
    (error: Error) => log(`[devnet] stopped on error: ${error.message}`),
  );
  while (!existsSync(manifest) && !signal.aborted) await sleep(200, signal);
  if (signal.aborted) return void (await devnet);

  const env = { ...process.env, SALVAGE_MANIFEST: manifest, PONDER_TELEMETRY_DISABLED: "true" };
  // ponder exports no package.json subpath: find its CLI beside its entry module.
  const ponderBin = join(dirname(fileURLToPath(import.meta.resolve("ponder"))), "bin/ponder.js");
  const children: ChildProcess[] = [
    // The page's recoveries panel shows what only the relayer knows from the relayer's own server.
    spawn(process.execPath, [ponderBin, "start", "--schema", `demo_${Date.now()}`, "--port", String(options.apiPort)], {
      cwd: root,
      env: { ...env, SALVAGE_RELAYER_URL: `http://127.0.0.1:${options.metricsPort}` },
    }),
    spawn(
      process.execPath,
      // The devnet process already delivers LayerZero packets with the verifier key; one deliverer per key.
      [join(root, "bin/salvage.mjs"), "relay", "--devnet-keys", "--no-deliver", "--manifest", manifest, "--pglite-dir", join(dirname(manifest), `relayer-${Date.now()}`), "--metrics-port", String(options.metricsPort)],
      { cwd: root, env },
    ),
  ];
  prefixed(children[0]!, "indexer", log);
  let recovered = false;
  prefixed(children[1]!, "relayer", log, (line) => {
    if (recovered || !isRecovered(line)) return;
    recovered = true;
    log(`[demo] first recovery ${seconds(Date.now() - started)} s after start (collateral seized on the spoke)`);
  });
  log(`page: http://127.0.0.1:${options.apiPort}/ · GraphQL: http://127.0.0.1:${options.apiPort}/graphql and /salvage/graphql (subscriptions: SSE and WebSocket) · at-risk: http://127.0.0.1:${options.apiPort}/at-risk · relayer metrics: http://127.0.0.1:${options.metricsPort}/metrics`);
  try {
    await devnet;
  } finally {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once("exit", () => done());
            child.kill("SIGTERM");
            setTimeout(() => child.kill("SIGKILL"), 15_000).unref();
          }),
      ),
    );
    if (interruptedAt !== undefined) log(`[demo] stopped ${seconds(Date.now() - interruptedAt)} s after the interrupt`);
  }
}
