/**
 * A real `ponder start` (PGlite by default, or PostgreSQL) over a devnet manifest, for the API and feed tests:
 * spawned in its own process group, its port read from its log, stopped with SIGTERM then SIGKILL.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../src/chains/anvil.js";
import { type Manifest, writeManifest } from "../../src/deployment/manifest.js";
import { stopProcessGroup } from "../../src/util/process-group.js";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface GqlResult<T> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

export interface PonderOptions {
  manifest: Manifest;
  /** PostgreSQL connection string; PGlite in a temporary directory without it. */
  databaseUrl?: string;
  /** Extra environment for the Ponder process (webhook settings, poll intervals). */
  env?: Record<string, string>;
  /** `serve`: the API alone over an indexer's schema (needs `databaseUrl` and that indexer's `schema`). */
  command?: "start" | "serve";
  /** The database schema (a fresh one by default). */
  schema?: string;
}

export interface PonderApp {
  readonly port: number;
  readonly pid: number;
  readonly url: string;
  /** The last ~100 kB of Ponder's JSON log. */
  log(): string;
  api(path: string, init?: RequestInit): Promise<Response>;
  gql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>>;
  /** Polls `fn` every 200 ms until it returns a value; fails early if Ponder exits. */
  waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T>;
  /** Waits until Ponder has indexed `chainName` through `block`. */
  indexed(chainName: string, block: bigint, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startPonder(options: PonderOptions): Promise<PonderApp> {
  const dir = mkdtempSync(join(tmpdir(), "salvage-ponder-"));
  const manifestPath = join(dir, "manifest.json");
  writeManifest(manifestPath, options.manifest);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SALVAGE_MANIFEST: manifestPath,
    SALVAGE_PGLITE_DIR: join(dir, "pglite"),
    PONDER_TELEMETRY_DISABLED: "true",
    NODE_ENV: "production",
    // Tests that read the API in a loop (one client, thousands of answers a minute) are not about the request rate:
    // no limit unless a test sets one (test/replicas.test.ts tests the limits, with the defaults and small ones).
    SALVAGE_RATE_LIMIT_PER_MINUTE: "10000000",
    ...options.env,
  };
  delete env.DATABASE_URL;
  delete env.DATABASE_PRIVATE_URL;
  if (options.databaseUrl) env.DATABASE_URL = options.databaseUrl;
  let port = await freePort();
  let listening = false;
  let log = "";
  const child: ChildProcess = spawn(
    process.execPath,
    ["node_modules/ponder/dist/esm/bin/ponder.js", "--log-format", "json", options.command ?? "start", "--schema", options.schema ?? `t_${process.pid}_${Date.now()}`, "--port", String(port)],
    { cwd: process.cwd(), env, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  const collect = (chunk: Buffer) => {
    log += chunk.toString();
    const created = /"msg":"Created HTTP server"[^\n]*?"port":(\d+)/.exec(log) ?? /"port":(\d+)[^\n]*?"msg":"Created HTTP server"/.exec(log);
    if (created && !listening) {
      port = Number(created[1]);
      listening = true;
    }
    if (log.length > 200_000) log = log.slice(-100_000);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);

  const api = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${port}${path}`, init);
  const waitFor = async <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`ponder exited (${child.exitCode}) while waiting for ${what}:\n${log.slice(-4000)}`);
      const value = await fn().catch(() => undefined);
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`ponder timed out waiting for ${what}:\n${log.slice(-4000)}`);
      await sleep(200);
    }
  };
  const stop = async () => {
    await stopProcessGroup(child);
    rmSync(dir, { recursive: true, force: true });
  };

  const app: PonderApp = {
    get port() {
      return port;
    },
    pid: child.pid!,
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    log: () => log,
    api,
    waitFor,
    async gql<T>(query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>> {
      const res = await api("/salvage/graphql", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
      const text = await res.text();
      try {
        return { status: res.status, ...(JSON.parse(text) as { data?: T; errors?: GqlResult<T>["errors"] }) };
      } catch {
        throw new Error(`non-JSON response ${res.status}: ${text.slice(0, 500)}`);
      }
    },
    async indexed(chainName, block, timeoutMs = 120_000) {
      await waitFor(`${chainName} block ${block}`, async () => {
        const status = (await (await api("/status")).json()) as Record<string, { block?: { number: number } }>;
        const at = status[chainName]?.block?.number;
        return at !== undefined && BigInt(at) >= block ? true : undefined;
      }, timeoutMs);
    },
    stop,
  };
  try {
    await waitFor("/ready", async () => (listening && (await api("/ready")).status === 200 ? true : undefined), 180_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return app;
}
