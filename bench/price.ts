/**
 * Benchmark 5, cost of a price update: N accounts in the index, k of them holding the updated asset (WBTC,
 * collateral), the rest holding WETH; all owe DAI. Points: N grows with k fixed, k grows with N fixed.
 *
 * For each point: the accounts are written straight into the indexer's tables (bench/lib/synthetic.ts),
 * `ponder start` resumes the same schema (Ponder's crash recovery: same build, same schema), then U updates
 * of the WBTC feed are mined, one per hub block, and indexed live. Per update: the indexing function's
 * duration (ponder_indexing_function_duration for PriceFeed:AnswerUpdated and the hub's block handler, histogram sum delta) and the wall
 * time from the block being mined to /status reporting it. Medians over the U updates, the first dropped as
 * warm-up. These moves stay inside every holder's envelope (src/health/envelope.ts: ±2.5 %), the common case.
 * Then one crash-sized update (−20 %) that fires every holder's trigger: its handler time and wall time are the
 * cost of recomputing all k. Before stopping, blocks are mined past the unfinalised range so a restart has
 * nothing to revert; the synthetic accounts are re-seeded for the next point, so each point starts unfired.
 */
import { type BenchResult, type Figure, log, median, round, sleep } from "./lib/common.js";
import { FINALITY_MARGIN, mineAll, priceUpdatesInOneBlock, startBenchNetwork } from "./lib/network.js";
import { dropSchema, uniqueSchema, withClient } from "./lib/pg.js";
import { type PonderProcess, startIndexer, sumMetric } from "./lib/ponder.js";
import { analyze, deleteSynthetic, insertSynthetic } from "./lib/synthetic.js";

const WBTC = 11;

interface Point {
  n: number;
  k: number;
  handlerMs: number[];
  wallMs: number[];
  /** The −20 % update that fires every holder. */
  crashHandlerMs: number | null;
  crashWallMs: number | null;
  peakRssMiB: number | null;
}

/**
 * The indexer's handler time of price updates: AnswerUpdated records the move, the block handler (PathwayWatch:block,
 * which on the hub also recomputes the block's moves: src/protocols/hub-spoke/indexing/price-moves.ts) does the work. Only the hub mines
 * blocks here, so the block handler's time is the hub's.
 */
async function handlerSum(p: PonderProcess): Promise<number> {
  return sumMetric(await p.metrics(), "ponder_indexing_function_duration_sum", (l) => l.event === "PriceFeed:AnswerUpdated" || l.event === "PathwayWatch:block");
}

export async function benchPrice(options: { ns: number[]; ks: number[]; fixedK: number; fixedN: number; updates: number; appRoot: string }): Promise<BenchResult> {
  const net = await startBenchNetwork({ spokes: 2, accounts: 0, seed: 1 });
  const schema = uniqueSchema("price");
  const spokes = net.manifest.chains.filter((c) => c.role === "spoke").map((c) => ({ eid: c.eid, chainId: c.chainId }));
  const plan: { n: number; k: number; series: string[] }[] = [];
  const add = (n: number, k: number, series: string) => {
    if (k > n) return;
    const existing = plan.find((x) => x.n === n && x.k === k);
    if (existing) existing.series.push(series);
    else plan.push({ n, k, series: [series] });
  };
  for (const n of options.ns) add(n, options.fixedK, "N grows");
  for (const k of options.ks) add(options.fixedN, k, "k grows");
  const points: Point[] = [];
  const skipped: string[] = [];
  try {
    const first = await startIndexer({ schema, manifestPath: net.manifestPath, databaseUrl: net.databaseUrl, root: options.appRoot });
    await first.stop();
    let answer = (await net.deployment.answers()).get(WBTC)!;
    for (const { n, k } of plan) {
      const t0 = Date.now();
      await withClient(net.databaseUrl, async (c) => {
        await deleteSynthetic(c, schema);
        for (let from = 0; from < n; from += 100_000) await insertSynthetic(c, { schema, from, to: Math.min(n, from + 100_000), spokes, hubChainId: net.manifest.chains.find((x) => x.role === "hub")!.chainId, mode: { kind: "holders", holders: k } });
        await analyze(c, schema);
      });
      const p = await startIndexer({ schema, manifestPath: net.manifestPath, databaseUrl: net.databaseUrl, root: options.appRoot });
      const point: Point = { n, k, handlerMs: [], wallMs: [], crashHandlerMs: null, crashWallMs: null, peakRssMiB: null };
      try {
        log(`price: N=${n} k=${k} seeded and indexer resumed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        const measure = async (next: bigint): Promise<{ wall: number; handler: number }> => {
          const before = await handlerSum(p);
          const update = await priceUpdatesInOneBlock(net.deployment, new Map([[WBTC, next]]));
          for (;;) {
            const status = (await (await fetch(`${p.url}/status`)).json()) as Record<string, { block?: { number: number } }>;
            if (BigInt(status.hub?.block?.number ?? 0) >= update.block) break;
            if (Date.now() - update.minedAt > 300_000) throw new Error(`price update at hub block ${update.block} not indexed in 300 s`);
            await sleep(5);
          }
          return { wall: Date.now() - update.minedAt, handler: (await handlerSum(p)) - before };
        };
        for (let u = 0; u < options.updates; u++) {
          // ±0.5 % around the opening price: inside every holder's envelope; no account crosses HF 1.
          answer = u % 2 === 0 ? (answer * 1005n) / 1000n : (answer * 1000n) / 1005n;
          const m = await measure(answer);
          if (u > 0) {
            point.wallMs.push(m.wall);
            point.handlerMs.push(m.handler);
          }
        }
        // −20 %: every holder's collateral trigger fires (HF about 1.3 → 1.04; none liquidatable).
        const opening = answer;
        const crash = await measure((answer * 80n) / 100n);
        point.crashHandlerMs = crash.handler;
        point.crashWallMs = crash.wall;
        answer = opening;
        await priceUpdatesInOneBlock(net.deployment, new Map([[WBTC, answer]]));
        await mineAll(net.deployment, FINALITY_MARGIN);
        await p.indexed("hub", await net.deployment.hubClients.public.getBlockNumber());
        await sleep(1_500);
        point.peakRssMiB = p.memory()?.peakRssMiB ?? null;
      } finally {
        await p.stop();
      }
      points.push(point);
      log(`price: N=${n} k=${k}: handler median ${round(median(point.handlerMs)!, 1)} ms, wall median ${median(point.wallMs)} ms; −20 %: handler ${round(point.crashHandlerMs ?? NaN, 1)} ms, wall ${point.crashWallMs} ms`);
    }
  } finally {
    await dropSchema(net.databaseUrl, schema);
    await net.stop();
  }
  const figures: Figure[] = [];
  const setupOf = (pt: Point) =>
    `hub + 2 spokes (anvil, automine), N accounts seeded directly into the indexer's tables, k holding WBTC; ${pt.handlerMs.length} WBTC updates indexed live (first of ${options.updates} dropped); PostgreSQL`;
  for (const { n, k, series } of plan) {
    const pt = points.find((x) => x.n === n && x.k === k);
    if (!pt) continue;
    const label = `N=${n.toLocaleString("en-US")} k=${k.toLocaleString("en-US")} (${series.join(", ")})`;
    figures.push({ bench: "5 price update", metric: `price update handlers median (AnswerUpdated + block end), ${label}`, value: round(median(pt.handlerMs)!, 1), unit: "ms", setup: setupOf(pt) });
    figures.push({ bench: "5 price update", metric: `mined → /status median, ${label}`, value: median(pt.wallMs)!, unit: "ms", setup: setupOf(pt) });
    if (pt.crashHandlerMs !== null) {
      const crashSetup = `the same accounts; one WBTC update of −20 %, which fires every holder's trigger (all k recomputed); PostgreSQL`;
      figures.push({ bench: "5 price update", metric: `price update handlers, −20 % (every holder fired), ${label}`, value: round(pt.crashHandlerMs, 1), unit: "ms", setup: crashSetup });
      figures.push({ bench: "5 price update", metric: `mined → /status, −20 % (every holder fired), ${label}`, value: pt.crashWallMs!, unit: "ms", setup: crashSetup });
    }
  }
  // Ratios between the ends of each series: what follows k and what follows N.
  const ratio = (a: Point | undefined, b: Point | undefined, what: string) => {
    if (!a || !b || a === b) return;
    figures.push({
      bench: "5 price update",
      metric: `handler ratio ${what}`,
      value: round(median(b.handlerMs)! / median(a.handlerMs)!, 2),
      unit: "x",
      setup: `N ${a.n}→${b.n}, k ${a.k}→${b.k} (×${round(b.n / a.n, 0)} N, ×${round(b.k / a.k, 0)} k)`,
    });
  };
  const byN = points.filter((x) => x.k === options.fixedK).sort((a, b) => a.n - b.n);
  const byK = points.filter((x) => x.n === options.fixedN).sort((a, b) => a.k - b.k);
  ratio(byN[0], byN[byN.length - 1], "largest/smallest N, k fixed");
  ratio(byK[0], byK[byK.length - 1], "largest/smallest k, N fixed");
  return { name: "price", figures, details: { points }, skipped };
}
