/**
 * `ponder start` / `ponder serve` for the benchmarks: spawned detached (its own process group, like
 * test/helpers/ponder.ts), JSON logs kept, port read from the log, Prometheus metrics parsed, peak RSS read
 * from /proc before it is stopped (SIGTERM to the group, then SIGKILL).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort } from "../../src/chains/anvil.js";
import { stopProcessGroup } from "../../src/util/process-group.js";
import { memoryOf, sleep } from "./common.js";

export const REPO_ROOT = resolve(import.meta.dirname, "../..");
const PONDER_BIN = join(REPO_ROOT, "node_modules/ponder/dist/esm/bin/ponder.js");

/** Every Ponder process group this process started and has not stopped: stopped on exit or interrupt. */
const started = new Map<number, () => Promise<void>>();

export async function killStartedPonders(): Promise<void> {
  await Promise.all([...started.values()].map((stop) => stop()));
}

process.on("exit", () => {
  for (const pid of started.keys()) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
  }
});

export interface PonderOptions {
  command: "start" | "serve";
  schema: string;
  manifestPath: string;
  databaseUrl: string;
  /** Project root (`ponder --root`) and working directory; the repository when omitted. */
  root?: string;
  env?: Record<string, string>;
}

export interface PonderProcess {
  readonly pid: number;
  readonly url: string;
  readonly startedAt: number;
  log(): string;
  /** JSON log lines with the given msg. */
  logLines(msg: string): Record<string, unknown>[];
  metrics(): Promise<Metrics>;
  waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T>;
  /** Waits until /status reports `chain` at or past `block`. */
  indexed(chain: string, block: bigint, timeoutMs?: number): Promise<void>;
  memory(): { peakRssMiB: number; rssMiB: number } | undefined;
  stop(): Promise<void>;
}

/** Prometheus text: metric name → [{ labels, value }]. */
export type Metrics = Map<string, { labels: Record<string, string>; value: number }[]>;

export function parseMetrics(text: string): Metrics {
  const out: Metrics = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const list = out.get(m[1]!) ?? [];
    list.push({ labels, value: Number(m[3]) });
    out.set(m[1]!, list);
  }
  return out;
}

export function sumMetric(metrics: Metrics, name: string, filter: (labels: Record<string, string>) => boolean = () => true): number {
  return (metrics.get(name) ?? []).filter((s) => filter(s.labels)).reduce((a, s) => a + s.value, 0);
}

export async function startPonderProcess(options: PonderOptions): Promise<PonderProcess> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SALVAGE_MANIFEST: options.manifestPath,
    DATABASE_URL: options.databaseUrl,
    PONDER_TELEMETRY_DISABLED: "true",
    NODE_ENV: "production",
    // The query benchmark is one client sending thousands of requests a minute: no rate limit (src/api/limits.ts).
    SALVAGE_RATE_LIMIT_PER_MINUTE: "10000000",
    ...options.env,
  };
  delete env.DATABASE_PRIVATE_URL;
  // SALVAGE_BENCH_PONDER_LOG_LEVEL=debug|trace: Ponder's own timings in its log (see SALVAGE_BENCH_INDEXER_LOG in crash.ts).
  const level = process.env.SALVAGE_BENCH_PONDER_LOG_LEVEL;
  const args = [PONDER_BIN, "--log-format", "json", ...(level ? ["--log-level", level] : []), "--root", options.root ?? REPO_ROOT, options.command, "--schema", options.schema, "--port", String(port)];
  const startedAt = Date.now();
  const child: ChildProcess = spawn(process.execPath, args, { cwd: options.root ?? REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  child.once("exit", () => started.delete(child.pid!));
  let text = "";
  const lines: Record<string, unknown>[] = [];
  let partial = "";
  const collect = (chunk: Buffer) => {
    const s = chunk.toString();
    text += s;
    if (text.length > 400_000) text = text.slice(-200_000);
    partial += s;
    const parts = partial.split("\n");
    partial = parts.pop()!;
    for (const p of parts) {
      if (!p.startsWith("{")) continue;
      try {
        const line = JSON.parse(p) as Record<string, unknown>;
        if (line.msg !== "Indexed block") lines.push(line);
      } catch {}
    }
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const url = `http://127.0.0.1:${port}`;
  const waitFor = async <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`ponder ${options.command} exited (${child.exitCode ?? child.signalCode}) while waiting for ${what}:\n${text.slice(-3000)}`);
      const v = await fn().catch(() => undefined);
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`ponder timed out waiting for ${what}:\n${text.slice(-3000)}`);
      await sleep(100);
    }
  };
  let peak: { peakRssMiB: number; rssMiB: number } | undefined;
  const proc: PonderProcess = {
    pid: child.pid!,
    url,
    startedAt,
    log: () => text,
    logLines: (msg) => lines.filter((l) => l.msg === msg),
    async metrics() {
      return parseMetrics(await (await fetch(`${url}/metrics`)).text());
    },
    waitFor,
    async indexed(chain, block, timeoutMs = 300_000) {
      await waitFor(`${chain} block ${block}`, async () => {
        const status = (await (await fetch(`${url}/status`)).json()) as Record<string, { block?: { number: number } }>;
        const at = status[chain]?.block?.number;
        return at !== undefined && BigInt(at) >= block ? true : undefined;
      }, timeoutMs);
    },
    memory: () => memoryOf(child.pid!) ?? peak,
    async stop() {
      started.delete(child.pid!);
      peak = memoryOf(child.pid!) ?? peak;
      await stopProcessGroup(child);
      // `ponder start` writes ponder-env.d.ts into its root: the plain app's would clash with the root's in tsc.
      if (options.root && resolve(options.root) === resolve(REPO_ROOT, "bench/plain")) rmSync(join(options.root, "ponder-env.d.ts"), { force: true });
    },
  };
  started.set(child.pid!, () => proc.stop());
  return proc;
}

/** Starts `ponder start` and waits for /ready (backfill done, indexes created). */
export async function startIndexer(options: Omit<PonderOptions, "command">, timeoutMs = 900_000): Promise<PonderProcess> {
  const p = await startPonderProcess({ ...options, command: "start" });
  try {
    await p.waitFor("/ready", async () => ((await fetch(`${p.url}/ready`)).status === 200 ? true : undefined), timeoutMs);
  } catch (error) {
    await p.stop();
    throw error;
  }
  return p;
}
