/**
 * `npm run bench`: salvage's benchmarks on the devnet. Prints a table and writes bench/results.json.
 *
 *   npm run bench                                   everything, default sizes (~20 min on 2 cores)
 *   npm run bench -- --only query --sizes 10000     one benchmark, one size
 *   npm run bench -- --only throughput,memory --accounts 100
 *   npm run bench -- --only solvency --out bench/results-solvency.json   bad debt under a cascade (bench/solvency.ts)
 *
 * Flags (env BENCH_<FLAG> with - as _, e.g. BENCH_ONLY=query):
 *   --only LIST          throughput,query,price,memory,recovery,detection,solvency,hub-accounted (default: all)
 *                        hub-accounted: the second protocol on its own devnet of --accounts borrowers (bench/hub-accounted.ts),
 *                        crashed by --crash-share, blocks every --block-time s, the relayer as a library
 *   --accounts N         borrowers seeded on the shared devnet (throughput, recovery, detection, memory; default 1000)
 *   --walk-steps N       random-walk price steps after seeding (default 10)
 *   --reps N             runs per app of the throughput benchmark (default 1)
 *   --sizes LIST         account counts of the query benchmark (default 10000,100000,1000000)
 *   --queries N          requests per query and size (default 200)
 *   --price-n LIST       N values with k fixed (default 1000,10000,100000)
 *   --price-k LIST       k values with N fixed (default 10,100,1000)
 *   --price-fixed-k K    (default 100)   --price-fixed-n N (default 10000)   --price-updates U (default 7)
 *   --crash-share Q      share of the book the crash pushes under HF 1 (default 0.25)
 *   --block-time S       seconds per block during the crash and recovery (default 1)
 *   --hub-gas-limit N    the hub anvil's block gas limit (anvil --gas-limit; default anvil's 30,000,000)
 *   --relayer-detection feed|scanner   how the recovery relayer detects (default feed: --indexer-url, when the
 *                        detection benchmark's indexer runs and the relayer build has the flag)
 *   --relayer-delivery process|relayer  who delivers LayerZero packets in the crash: the devnet's deliverer in a
 *                        process of its own, the relayer --no-deliver (default: a real network's DVNs and executor
 *                        are not the relayer's process), or the relayer itself (as `salvage relay` on a devnet)
 *   --idle-sizes LIST    book sizes of the relayer's idle-RPC measurement (default: a quarter of --accounts, and
 *                        --accounts); the smaller ones are measured while seeding, on the same devnet
 *   --idle-blocks N      hub blocks counted per idle measurement (default 20), after --idle-warmup N (default 10)
 *   Solvency (--only solvency; its own seeded devnet of --accounts borrowers, --seed, --walk-steps, --hub-gas-limit,
 *   one hub block every --block-time s for the salvage run):
 *   --solvency-confirmations LIST   LayerZero confirmations of each setting; three runs (none, ideal, salvage) per
 *                        setting (default 0,5,15)
 *   --solvency-crash-share Q        share of the book the cascade's first block (the crash) puts under HF 1 (default 0.1)
 *   --solvency-decline-bps B        drift down of every collateral price per block after the crash (default 200)
 *   --solvency-blocks N             decline blocks after the crash (default 20)
 *   --solvency-noise-bps B          seeded noise per asset per block, ± bps (default 50)
 *   --solvency-tail N               blocks of unchanged prices after the cascade; the figures are read at the last
 *                        (default 60)
 *   --solvency-chart PATH           the PNG chart: bad debt over hub blocks, a panel per setting (default bench/solvency.png)
 *   --app-ref REF        run the salvage app (indexer, relayer) from a committed snapshot (git archive REF)
 *   --out PATH           results file (default bench/results.json)
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { type BenchResult, type Figure, log, machine, round } from "./lib/common.js";
import { type BenchNetwork, startBenchNetwork } from "./lib/network.js";
import { BENCH_DATABASE_URL } from "./lib/pg.js";
import { killStartedPonders } from "./lib/ponder.js";
import { benchThroughput } from "./throughput.js";
import { selectApp } from "./lib/app.js";
import { benchQuery } from "./query.js";
import { benchPrice } from "./price.js";
import { benchCrash } from "./crash.js";
import { type IdleRpc, measureIdleRpcAtStage } from "./idle.js";
import { killStartedRelayers } from "./lib/relayer.js";
import { benchSolvency, parseSolvencyOptions } from "./solvency.js";
import { benchHubAccounted } from "./hub-accounted.js";

const ALL = ["throughput", "query", "price", "memory", "recovery", "detection", "solvency", "hub-accounted"] as const;
type BenchName = (typeof ALL)[number];

const FLAGS = {
  only: ALL.join(","),
  accounts: "1000",
  "walk-steps": "10",
  reps: "1",
  sizes: "10000,100000,1000000",
  queries: "200",
  "price-n": "1000,10000,100000",
  "price-k": "10,100,1000",
  "price-fixed-k": "100",
  "price-fixed-n": "10000",
  "price-updates": "7",
  "crash-share": "0.25",
  "block-time": "1",
  "hub-gas-limit": "",
  "relayer-detection": "feed",
  "relayer-delivery": "process",
  "idle-sizes": "",
  "idle-blocks": "20",
  "idle-warmup": "10",
  seed: "7",
  "solvency-confirmations": "0,5,15",
  "solvency-crash-share": "0.1",
  "solvency-decline-bps": "200",
  "solvency-blocks": "20",
  "solvency-noise-bps": "50",
  "solvency-tail": "60",
  "solvency-chart": "bench/solvency.png",
  "app-ref": "",
  out: "bench/results.json",
} as const;
type Flag = keyof typeof FLAGS;

function options(): Record<Flag, string> {
  const { values } = parseArgs({ args: process.argv.slice(2), strict: true, options: Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: "string" as const }])) });
  const out = {} as Record<Flag, string>;
  for (const k of Object.keys(FLAGS) as Flag[]) out[k] = (values as Record<string, string | undefined>)[k] ?? process.env[`BENCH_${k.toUpperCase().replace(/-/g, "_")}`] ?? FLAGS[k];
  return out;
}

const list = (s: string) => s.split(",").map((x) => Number(x.trim())).filter((x) => Number.isFinite(x) && x > 0);

function table(figures: Figure[]): string {
  const rows = [["bench", "metric", "value", "unit", "setup"], ...figures.map((f) => [f.bench, f.metric, String(f.value), f.unit, f.setup])];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r, j) => {
    const line = `| ${r.map((c, i) => (i < 4 ? c.padEnd(widths[i]!) : c)).join(" | ")} |`;
    return j === 0 ? `${line}\n|${widths.map((w) => "-".repeat(w + 2)).join("|")}|---|` : line;
  }).join("\n");
}

/** Benchmark 6: peak RSS (VmHWM) read from /proc of the processes the other benchmarks ran, at their sizes. */
function memoryFigures(results: BenchResult[], accounts: number): BenchResult {
  const figures: Figure[] = [];
  const skipped: string[] = [];
  const details = (name: string) => results.find((r) => r.name === name)?.details as Record<string, unknown> | undefined;
  const tp = details("throughput")?.runs as { app: string; peakRssMiB: number | null; events: number }[] | undefined;
  if (tp) {
    for (const app of ["salvage", "plain"]) {
      const peaks = tp.filter((r) => r.app === app && r.peakRssMiB !== null).map((r) => r.peakRssMiB!);
      if (peaks.length) figures.push({ bench: "6 memory", metric: `${app} indexer peak RSS, backfill`, value: Math.max(...peaks), unit: "MiB", setup: `ponder start (one process), VmHWM; backfill of ${accounts} seeded borrowers (${tp[0]!.events} events)` });
    }
  } else skipped.push("indexer backfill memory needs the throughput benchmark (--only throughput,memory)");
  const price = details("price")?.points as { n: number; k: number; peakRssMiB: number | null }[] | undefined;
  if (price?.length) {
    const largest = [...price].sort((a, b) => b.n - a.n || b.k - a.k)[0]!;
    if (largest.peakRssMiB !== null) figures.push({ bench: "6 memory", metric: `salvage indexer peak RSS, live at N=${largest.n.toLocaleString("en-US")} k=${largest.k}`, value: largest.peakRssMiB, unit: "MiB", setup: "ponder start resumed over N accounts seeded into its tables, then live price updates; VmHWM" });
  } else skipped.push("indexer memory at the largest N needs the price benchmark");
  const rec = details("recovery");
  if (rec?.relayerPeakRssMiB) figures.push({ bench: "6 memory", metric: "relayer peak RSS", value: rec.relayerPeakRssMiB as number, unit: "MiB", setup: `salvage relay (one process), VmHWM, through the recovery of ${rec.recovered}/${rec.liquidatable} accounts of a ${accounts}-borrower crash` });
  else skipped.push("relayer memory needs the recovery benchmark");
  const det = details("detection");
  if (det?.indexerPeakRssMiB) figures.push({ bench: "6 memory", metric: "salvage indexer peak RSS, live through the crash", value: det.indexerPeakRssMiB as number, unit: "MiB", setup: `ponder start over ${accounts} seeded borrowers, backfill then live through the crash; VmHWM` });
  return { name: "memory", figures, details: {}, skipped };
}

async function main(): Promise<void> {
  const o = options();
  const only = new Set(o.only.split(",").map((s) => s.trim()).filter(Boolean));
  for (const name of only) if (!(ALL as readonly string[]).includes(name)) throw new Error(`--only: unknown benchmark ${name} (known: ${ALL.join(", ")})`);
  const want = (b: BenchName) => only.has(b);
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  const m = machine();
  log(`machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, load ${m.loadAverage1mAtStart}; command: ${command}`);
  // Checked before anything starts, each error naming its flag.
  const solvency = want("solvency")
    ? parseSolvencyOptions({
        accounts: o.accounts,
        seed: o.seed,
        walkSteps: o["walk-steps"],
        hubGasLimit: o["hub-gas-limit"] ? BigInt(o["hub-gas-limit"]) : undefined,
        blockTime: o["block-time"],
        confirmations: o["solvency-confirmations"],
        crashShare: o["solvency-crash-share"],
        declineBps: o["solvency-decline-bps"],
        blocks: o["solvency-blocks"],
        noiseBps: o["solvency-noise-bps"],
        tail: o["solvency-tail"],
        chart: resolve(o["solvency-chart"]),
        appRoot: "(the app under test)",
        setup: `devnet: hub + 2 spokes (anvil), ${o.accounts} seeded borrowers, seed ${o.seed}, ${o["walk-steps"]} walk steps`,
      })
    : undefined;
  const app = selectApp(o["app-ref"] || undefined);
  log(`salvage app: ${app.label}`);
  const results: BenchResult[] = [];
  const started = Date.now();
  const accounts = Number(o.accounts);
  const spokes = 2;
  const hubGasLimit = o["hub-gas-limit"] ? BigInt(o["hub-gas-limit"]) : undefined;
  const relayerDetection = o["relayer-detection"];
  const relayerDelivery = o["relayer-delivery"];
  if (relayerDelivery !== "process" && relayerDelivery !== "relayer") throw new Error(`--relayer-delivery: process or relayer, not ${relayerDelivery}`);
  if (relayerDetection !== "feed" && relayerDetection !== "scanner") throw new Error(`--relayer-detection: feed or scanner, not ${relayerDetection}`);
  const idleSizes = o["idle-sizes"] ? list(o["idle-sizes"]) : [Math.round(accounts / 4), accounts];
  const idleOptions = { warmupBlocks: Number(o["idle-warmup"]), blocks: Number(o["idle-blocks"]) };
  const blockTime = Number(o["block-time"]);
  const devnetSetup = `devnet: hub + ${spokes} spokes (anvil), ${accounts} seeded borrowers, seed ${o.seed}`;

  // One seeded devnet for every benchmark that needs real events.
  let net: BenchNetwork | undefined;
  const needNet = want("throughput") || want("recovery") || want("detection");
  try {
    const idleEarlier: IdleRpc[] = [];
    const idle = want("recovery") && idleOptions.blocks > 0;
    if (needNet) {
      net = await startBenchNetwork({
        spokes,
        accounts,
        seed: Number(o.seed),
        walkSteps: Number(o["walk-steps"]),
        hubGasLimit,
        stages: idle ? idleSizes.filter((n) => n <= accounts) : [],
        onStage: async (stage) => {
          idleEarlier.push(await measureIdleRpcAtStage(stage, { appRoot: app.root, blockTime: blockTime > 0 ? blockTime : 1, ...idleOptions, feed: relayerDetection === "feed" && want("detection") }));
        },
      });
      const seedSetup = `${devnetSetup}; hub block gas limit ${net.hubGasLimit.toLocaleString("en-US")}; pipelined seeding (manual mining, evm_mine), deposits' packets delivered by the devnet deliverer`;
      results.push({
        name: "devnet",
        figures: [
          { bench: "0 devnet", metric: `seeding ${accounts.toLocaleString("en-US")} borrowers`, value: round(net.seedSeconds, 1), unit: "s", setup: seedSetup },
          { bench: "0 devnet", metric: "of which the deposits' LayerZero delivery (deliverer.drain)", value: round(net.seeding.reduce((a, s) => a + (s.phases.delivery ?? 0), 0) / 1000, 1), unit: "s", setup: seedSetup },
        ],
        details: { seeding: net.seeding, hubGasLimit: net.hubGasLimit },
        skipped: [],
      });
    }
    if (want("throughput") && net) results.push(await benchThroughput(net, { reps: Number(o.reps), setup: `${devnetSetup}, ${o["walk-steps"]} walk steps`, appRoot: app.root }));
    if ((want("recovery") || want("detection")) && net) {
      results.push(
        ...(await benchCrash(net, {
          share: Number(o["crash-share"]),
          blockTime,
          recovery: want("recovery"),
          detection: want("detection"),
          appRoot: app.root,
          setup: devnetSetup,
          relayerDetection,
          delivery: relayerDelivery,
          idle: undefined,
          idleEarlier,
        })),
      );
    }
    await net?.stop();
    net = undefined;
    if (want("query")) results.push(await benchQuery({ sizes: list(o.sizes), queries: Number(o.queries), appRoot: app.root }));
    if (solvency) results.push(await benchSolvency({ ...solvency, appRoot: app.root }));
    if (want("hub-accounted")) results.push(await benchHubAccounted({ accounts, seed: Number(o.seed), share: Number(o["crash-share"]), blockTime, appRoot: app.root }));
    if (want("price")) {
      results.push(
        await benchPrice({
          ns: list(o["price-n"]),
          ks: list(o["price-k"]),
          fixedK: Number(o["price-fixed-k"]),
          fixedN: Number(o["price-fixed-n"]),
          updates: Number(o["price-updates"]),
          appRoot: app.root,
        }),
      );
    }
  } finally {
    await killStartedRelayers();
    await net?.stop();
    await killStartedPonders();
    app.cleanup();
  }

  if (want("memory")) results.push(memoryFigures(results, accounts));
  const figures = results.flatMap((r) => r.figures);
  const output = {
    createdAt: new Date().toISOString(),
    command,
    machine: m,
    app: { label: app.label, commit: app.commit, dirty: app.dirty },
    database: BENCH_DATABASE_URL.replace(/\/\/[^@]*@/, "//"),
    options: o,
    durationSeconds: Math.round((Date.now() - started) / 1000),
    figures,
    skipped: results.flatMap((r) => r.skipped.map((s) => `${r.name}: ${s}`)),
    details: Object.fromEntries(results.map((r) => [r.name, r.details])),
  };
  writeFileSync(resolve(o.out), `${JSON.stringify(output, (_, v) => (typeof v === "bigint" ? v.toString() : v), 2)}\n`);
  console.log(`\nmachine: ${m.cpus} cores (${m.cpuModel}), ${m.memoryGiB} GiB memory, Node ${m.node}; load average at start ${m.loadAverage1mAtStart}`);
  console.log(`command: ${command}; salvage app: ${app.label}\n`);
  console.log(table(figures));
  if (output.skipped.length) console.log(`\nnot measured:\n${output.skipped.map((s) => `- ${s}`).join("\n")}`);
  console.log(`\nwritten: ${o.out} (${output.durationSeconds} s)`);
}

const stopAll = () => {
  void Promise.all([killStartedRelayers(), killStartedPonders()]).finally(() => process.exit(130));
};
process.once("SIGINT", stopAll);
process.once("SIGTERM", stopAll);

main().catch(async (error: Error) => {
  await killStartedRelayers();
  await killStartedPonders();
  console.error(error.stack ?? error.message);
  process.exit(1);
});
