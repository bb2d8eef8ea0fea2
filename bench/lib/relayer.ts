/**
 * The relayer CLI (`salvage relay --devnet-keys`) for the benchmarks: its own process group, JSON log lines
 * collected ("recovered" lines kept with their time), stopped by process group, also when the bench exits.
 *
 * `indexerUrl` asks for detection from the indexer's feed (`--indexer-url`). A relayer build without that
 * flag refuses it ("Unknown option"): it is then started again without it, and `note` says so.
 */
import { appendFileSync, writeFileSync } from "node:fs";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { stopProcessGroup } from "../../src/util/process-group.js";
import { memoryOf, sleep } from "./common.js";
import { REPO_ROOT } from "./ponder.js";

/**
 * The relayer's per-spoke cap on collateral in flight, raised for the benchmark: the default ($10M a spoke)
 * is a risk setting that, in a 1,000-account crash, holds two thirds of the takes back until the first ones
 * are delivered. The benchmark measures speed; the setup of every figure names the cap.
 */
export const RELAYER_MAX_EXPOSURE_USD = "1000000000";

export interface Recovered {
  account: string;
  at: number;
}

export interface RelayerProcess {
  readonly child: ChildProcess;
  readonly recovered: Recovered[];
  /** "feed" when started with --indexer-url, else "scanner". */
  readonly detection: "feed" | "scanner";
  /** Why feed detection is not in use although it was asked for. */
  readonly note?: string;
  log(): string;
  memory(): { peakRssMiB: number; rssMiB: number } | undefined;
  stop(): Promise<void>;
}

export interface RelayerOptions {
  appRoot: string;
  manifestPath: string;
  databaseUrl: string;
  schema: string;
  indexerUrl?: string;
  pollMs?: number;
  /** `--no-deliver`: another process delivers the LayerZero packets (startDelivererProcess). */
  noDeliver?: boolean;
  startTimeoutMs?: number;
}

const started = new Set<ChildProcess>();
let relayerStarts = 0;

process.on("exit", () => {
  for (const child of started) {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {}
  }
});

export async function killStartedRelayers(): Promise<void> {
  await Promise.all([...started].map((c) => stopProcessGroup(c, 5_000)));
  started.clear();
}

/** The feed flag is refused once per app root at most: later starts skip it. */
const refused = new Map<string, string>();

/** Whether a relayer of this app root has already refused --indexer-url. */
export const feedRefused = (appRoot: string) => refused.has(appRoot);

function spawnRelayer(o: RelayerOptions, indexerUrl: string | undefined) {
  const args = [join(o.appRoot, "bin/salvage.mjs"), "relay", "--devnet-keys", "--manifest", o.manifestPath, "--database-url", o.databaseUrl, "--schema", o.schema, "--min-profit-usd=-100", "--max-exposure-usd", RELAYER_MAX_EXPOSURE_USD, "--poll-ms", String(o.pollMs ?? 200)];
  if (indexerUrl) args.push("--indexer-url", indexerUrl);
  if (o.noDeliver) args.push("--no-deliver");
  // SALVAGE_BENCH_RELAYER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof": node flags for the relayer only (profiling it).
  const nodeArgs = (process.env.SALVAGE_BENCH_RELAYER_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd: o.appRoot, env: { ...process.env, PONDER_TELEMETRY_DISABLED: "true" }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  started.add(child);
  child.once("exit", () => started.delete(child));
  const recovered: Recovered[] = [];
  let text = "";
  let partial = "";
  let up = false;
  // SALVAGE_BENCH_RELAYER_LOG=path keeps the relayer's whole log (JSON lines; one "pass" line per pass with its phases' ms);
  // "%n" in the path is the relayer's start number in this bench (one file per run), else each start overwrites it.
  const keep = process.env.SALVAGE_BENCH_RELAYER_LOG?.replace("%n", String(++relayerStarts));
  if (keep) writeFileSync(keep, "");
  const collect = (chunk: Buffer) => {
    if (keep) appendFileSync(keep, chunk);
    text = (text + chunk.toString()).slice(-100_000);
    partial += chunk.toString();
    const lines = partial.split("\n");
    partial = lines.pop()!;
    for (const l of lines) {
      if (!l.startsWith("{")) continue;
      try {
        const j = JSON.parse(l) as { msg?: string; account?: string; time?: number };
        if (j.msg === "relayer started") up = true;
        if (j.msg === "recovered" && j.account) recovered.push({ account: j.account.toLowerCase(), at: j.time ?? Date.now() });
      } catch {}
    }
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  return { child, recovered, log: () => text, isUp: () => up };
}

export async function startRelayer(o: RelayerOptions): Promise<RelayerProcess> {
  let note = o.indexerUrl ? refused.get(o.appRoot) : undefined;
  let indexerUrl = note ? undefined : o.indexerUrl;
  for (;;) {
    const r = spawnRelayer(o, indexerUrl);
    const deadline = Date.now() + (o.startTimeoutMs ?? 60_000);
    while (!r.isUp() && r.child.exitCode === null && r.child.signalCode === null && Date.now() < deadline) await sleep(50);
    if (r.isUp()) {
      let peak: { peakRssMiB: number; rssMiB: number } | undefined;
      return {
        child: r.child,
        recovered: r.recovered,
        detection: indexerUrl ? "feed" : "scanner",
        note,
        log: r.log,
        memory: () => memoryOf(r.child.pid!) ?? peak,
        async stop() {
          peak = memoryOf(r.child.pid!) ?? peak;
          await stopProcessGroup(r.child);
          started.delete(r.child);
        },
      };
    }
    await stopProcessGroup(r.child, 5_000);
    if (indexerUrl && /Unknown option '--indexer-url'/.test(r.log())) {
      note = "feed detection not available in this build (the relayer refused --indexer-url): the relayer ran with its hub scanner";
      refused.set(o.appRoot, note);
      indexerUrl = undefined;
      continue;
    }
    throw new Error(`relayer did not start:\n${r.log().slice(-2000)}`);
  }
}

/**
 * The devnet's LayerZero deliverer in a process of its own (bench/lib/deliverer-process.ts, from this
 * checkout): the DVN and executor of a real network are not the relayer's process. Resolves once it delivers.
 */
export async function startDelivererProcess(manifestPath: string, pollMs = 200): Promise<{ stop(): Promise<void>; memory(): ReturnType<typeof memoryOf> }> {
  const root = REPO_ROOT;
  const child = spawn(process.execPath, [join(root, "node_modules/tsx/dist/cli.mjs"), join(root, "bench/lib/deliverer-process.ts"), manifestPath, String(pollMs)], {
    cwd: root, env: { ...process.env }, stdio: ["ignore", "pipe", "pipe"], detached: true,
  });
  started.add(child);
  child.once("exit", () => started.delete(child));
  let text = "";
  const collect = (chunk: Buffer) => (text = (text + chunk.toString()).slice(-20_000));
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const deadline = Date.now() + 60_000;
  while (!text.includes('"deliverer started"')) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`deliverer process exited (${child.exitCode ?? child.signalCode}): ${text.slice(-2_000)}`);
    if (Date.now() > deadline) throw new Error(`deliverer process did not start in 60 s: ${text.slice(-2_000)}`);
    await sleep(50);
  }
  return { stop: () => stopProcessGroup(child), memory: () => memoryOf(child.pid!) };
}
