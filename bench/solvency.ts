/**
 * Benchmark 7, solvency under a cascade: the bad debt a crash and its cascade leave, and the share of the at-risk
 * debt recovered, for three runs on the same seeded book and the same price path, at each bridge delay
 * (LayerZero confirmations): salvage (one relayer process as shipped), ideal (every account below HF 1 kicked and
 * taken at the close factor in the very block it is, block after block) and none (no liquidator).
 *
 * One seeded devnet, snapshotted on every chain; every run starts from the snapshot (evm_revert, checked by head
 * hash) — see bench/lib/solvency/runs.ts for how each run is driven and bench/lib/solvency/accounting.ts for the
 * accounting (from the hub's events, block by block; checked against the hub's state at the horizon to the wei,
 * and the bench fails if it is not). Figures: per confirmation setting, bad debt USD of each run, salvage / ideal,
 * the share of at-risk debt each liquidator recovered; a PNG of bad debt over hub blocks.
 */
import { join } from "node:path";
import type { Address } from "viem";
import { z } from "zod";
import { type CascadeParams, cascadePath } from "../src/devnet/cascade.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { formatWad, WAD } from "../src/health/wad.js";
import { type BenchResult, type Figure, log, round } from "./lib/common.js";
import { startBenchNetwork } from "./lib/network.js";
import { type Accounting, type BlockPoint, checkAgainstHub, replay, reserves } from "./lib/solvency/accounting.js";
import { chartSvg, writePng } from "./lib/solvency/chart.js";
import { type RunKind, type RunRecord, type SolvencyDevnet, runIdeal, runNone, runSalvage, snapshotDevnet } from "./lib/solvency/runs.js";

const list = z
  .string()
  .regex(/^\d+(,\d+)*$/, "a comma-separated list of non-negative integers")
  .transform((s) => [...new Set(s.split(",").map(Number))]);

/** The benchmark's options; an error names its flag (`--solvency-decline-bps: …`). */
export const solvencyOptionsSchema = z.object({
  accounts: z.coerce.number().int().min(2).max(100_000),
  seed: z.coerce.number().int(),
  walkSteps: z.coerce.number().int().min(0),
  hubGasLimit: z.bigint().positive().optional(),
  blockTime: z.coerce.number().int().min(1).max(60),
  /** LayerZero confirmations of each setting. */
  confirmations: list.pipe(z.array(z.number().int().min(0).max(1_000)).min(1)),
  crashShare: z.coerce.number().gt(0).lt(1),
  declineBps: z.coerce.number().int().min(0).max(9_999),
  blocks: z.coerce.number().int().min(0).max(10_000),
  noiseBps: z.coerce.number().int().min(0).max(9_999),
  /** Blocks of unchanged prices after the cascade, before the figures are read. */
  tail: z.coerce.number().int().min(0).max(10_000),
  chart: z.string().min(1),
  appRoot: z.string().min(1),
  setup: z.string(),
});
export type SolvencyOptions = z.output<typeof solvencyOptionsSchema>;

const FLAG: Record<string, string> = {
  confirmations: "--solvency-confirmations",
  crashShare: "--solvency-crash-share",
  declineBps: "--solvency-decline-bps",
  blocks: "--solvency-blocks",
  noiseBps: "--solvency-noise-bps",
  tail: "--solvency-tail",
  chart: "--solvency-chart",
  blockTime: "--block-time",
  accounts: "--accounts",
  seed: "--seed",
  walkSteps: "--walk-steps",
};

export function parseSolvencyOptions(input: unknown): SolvencyOptions {
  const r = solvencyOptionsSchema.safeParse(input);
  if (r.success) {
    if (r.data.declineBps + r.data.noiseBps >= 10_000) throw new Error(`invalid solvency options:\n--solvency-noise-bps: decline ${r.data.declineBps} + noise ${r.data.noiseBps} must stay below 10000 bps`);
    return r.data;
  }
  const lines = r.error.issues.map((i) => `${FLAG[String(i.path[0])] ?? String(i.path[0])}: ${i.message}`);
  throw new Error(`invalid solvency options:\n${lines.join("\n")}`);
}

/** WAD USD as whole dollars with thousands separators (display only). */
export const usd = (v: bigint) => `$${(v / WAD).toLocaleString("en-US")}`;
/** a / b as a decimal string with 3 digits, computed in bigint (display only); "∞" when b is 0 and a is not. */
export const ratio = (a: bigint, b: bigint) => (b === 0n ? (a === 0n ? "1.000" : "∞") : formatWad((a * WAD) / b, 3));
/** a / b as a percentage with `digits` decimals (one by default), computed in bigint. */
export const percent = (a: bigint, b: bigint, digits = 1) => (b === 0n ? "–" : `${formatWad((a * WAD * 100n) / b, digits)} %`);

export interface RunResult {
  record: RunRecord;
  accounting: Accounting;
  /** Mismatches between the accounting and the hub at the horizon (empty: equal to the wei). */
  mismatches: string[];
}

/** The accounting of one run, checked against the hub. */
export async function account(dev: SolvencyDevnet, record: RunRecord): Promise<RunResult> {
  const before = await reserves(dev.d, record.fromBlock - 1n);
  const accounting = await replay({ d: dev.d, accounts: dev.accounts, book: dev.book, prices: dev.prices, fromBlock: record.fromBlock, toBlock: record.endBlock, seriesFrom: record.crashBlock });
  const mismatches = await checkAgainstHub(dev.d, accounting, record.endBlock, before);
  return { record, accounting, mismatches };
}

const pointJson = (p: BlockPoint) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, typeof v === "bigint" ? v.toString() : v]));

export async function benchSolvency(o: SolvencyOptions): Promise<BenchResult> {
  const started = Date.now();
  const net = await startBenchNetwork({ spokes: 2, accounts: o.accounts, seed: o.seed, walkSteps: o.walkSteps, hubGasLimit: o.hubGasLimit });
  const figures: Figure[] = [];
  const skipped: string[] = [];
  const runs: Record<string, unknown>[] = [];
  try {
    const d = net.deployment;
    const params: CascadeParams = { declineBps: o.declineBps, blocks: o.blocks, noiseBps: o.noiseBps };
    const { factorWad } = await new MarketSimulator(d, net.rng).crashFactor(net.borrowers, o.crashShare);
    const answers = await d.answers();
    const start = new Map(d.collateralAssets.map((a) => [a.id, answers.get(a.id)!] as const));
    const path = cascadePath({ seed: o.seed, params, start, crashFactorWad: factorWad });
    const dev = await snapshotDevnet(net);
    const gas = net.hubGasLimit.toLocaleString("en-US");
    const cascade = `crash (every collateral price × ${formatWad(factorWad)}, chosen so ${o.crashShare} of the book falls under HF 1) then ${o.blocks} blocks of −${o.declineBps} bps ± ${o.noiseBps} bps noise (seed ${o.seed}), one step a hub block, then ${o.tail} blocks of unchanged prices; figures at the last block`;
    const setup = `${o.setup}; ${cascade}; hub block gas limit ${gas} (lifted for the ideal run), ${o.blockTime} s blocks; every run from one evm_snapshot of every chain`;
    log(`solvency: cascade of ${path.length} steps + ${o.tail} tail blocks on ${o.accounts} borrowers; confirmations ${o.confirmations.join(", ")}`);
    const manifestPath = join(net.manifestPath, "..", "manifest-solvency.json");
    const horizon = { path, tail: o.tail, blockTime: o.blockTime };
    const panels = [];
    let noneBefore: RunResult | undefined;
    for (const confirmations of o.confirmations) {
      const results = new Map<RunKind, RunResult>();
      for (const kind of ["none", "ideal", "salvage"] as const) {
        log(`solvency: ${kind} run, ${confirmations} confirmations`);
        const record =
          kind === "none"
            ? await runNone(dev, { ...horizon, confirmations })
            : kind === "ideal"
              ? await runIdeal(dev, { ...horizon, confirmations })
              : await runSalvage(dev, { ...horizon, confirmations, appRoot: o.appRoot, manifestPath });
        const result = await account(dev, record);
        if (result.mismatches.length) throw new Error(`solvency: the ${kind} run's accounting differs from the hub at block ${record.endBlock}:\n${result.mismatches.slice(0, 20).join("\n")}`);
        const f = result.accounting.final;
        log(`solvency: ${kind} (${confirmations} conf.): bad debt ${usd(f.badDebtUsd)} (written off ${usd(f.writtenOffUsd)}, ${f.underWaterAccounts} under water short ${usd(f.shortfallUsd)}), repaid ${usd(f.repaidUsd)} of ${usd(result.accounting.atRiskDebtUsd)} at risk; ${(record.wallMs / 1000).toFixed(1)} s`);
        if (record.note) skipped.push(`salvage run: ${record.note}`);
        results.set(kind, result);
        runs.push({
          kind,
          confirmations,
          fromBlock: record.fromBlock,
          crashBlock: record.crashBlock,
          endBlock: record.endBlock,
          wallSeconds: round(record.wallMs / 1000, 1),
          sent: record.sent,
          recovered: record.recovered,
          atRiskAccounts: result.accounting.atRisk.size,
          atRiskDebtUsd: result.accounting.atRiskDebtUsd,
          takes: result.accounting.takes.length,
          writtenOff: Object.fromEntries([...result.accounting.writtenOff].map(([id, v]) => [id, v.toString()])),
          final: pointJson(f),
          checkedAgainstHub: "equal to the wei (positions, accountData values, prices, written off = Δ badDebt − Δ reserve)",
          series: result.accounting.series.map((p) => ({ block: Number(p.block - record.crashBlock), badDebtUsd: p.badDebtUsd.toString(), badDebtWholeDebtUsd: p.badDebtWholeDebtUsd.toString(), liquidatable: p.liquidatable, underWater: p.underWaterAccounts })),
        });
      }
      const none = results.get("none")!;
      const ideal = results.get("ideal")!;
      const salvage = results.get("salvage")!;
      // The same snapshot and path: the none run must come out the same every time (a reproducibility check).
      if (noneBefore && noneBefore.accounting.final.badDebtUsd !== none.accounting.final.badDebtUsd) {
        throw new Error(`solvency: the none run is not reproducible (${usd(noneBefore.accounting.final.badDebtUsd)} then ${usd(none.accounting.final.badDebtUsd)})`);
      }
      noneBefore = none;
      const atRisk = none.accounting.atRiskDebtUsd;
      const sameRisk = [ideal, salvage].every((r) => r.accounting.atRisk.size === none.accounting.atRisk.size && [...r.accounting.atRisk.keys()].every((a: Address) => none.accounting.atRisk.has(a)));
      if (!sameRisk) skipped.push(`${confirmations} confirmations: the at-risk set differs between runs (none ${none.accounting.atRisk.size}, ideal ${ideal.accounting.atRisk.size}, salvage ${salvage.accounting.atRisk.size} accounts)`);
      const s = `${setup}; LayerZero confirmations ${confirmations} (every chain's lzConfirmations)`;
      const c = `${confirmations} conf.`;
      const bad = (r: RunResult) => r.accounting.final.badDebtUsd;
      const whole = (r: RunResult) => r.accounting.final.badDebtWholeDebtUsd;
      figures.push(
        { bench: "7 solvency", metric: `${c}: at-risk debt (${none.accounting.atRisk.size} accounts went under HF 1)`, value: usd(atRisk), unit: "USD", setup: s },
        { bench: "7 solvency", metric: `${c}: accounts under water at the horizon none / ideal / salvage`, value: `${none.accounting.final.underWaterAccounts} / ${ideal.accounting.final.underWaterAccounts} / ${salvage.accounting.final.underWaterAccounts}`, unit: "accounts", setup: s },
        { bench: "7 solvency", metric: `${c}: bad debt none / ideal / salvage`, value: `${usd(bad(none))} / ${usd(bad(ideal))} / ${usd(bad(salvage))}`, unit: "USD", setup: `${s}; written off (BadDebtWrittenOff at the hub's price) + shortfall (debt − collateral) of the accounts under water at the horizon` },
        { bench: "7 solvency", metric: `${c}: bad debt salvage / ideal`, value: ratio(bad(salvage), bad(ideal)), unit: "ratio", setup: s },
        // The ratio is ill-conditioned when the ideal leaves almost nothing; the excess over the ideal, as a share of the debt at risk, is not.
        { bench: "7 solvency", metric: `${c}: bad debt salvage − ideal, share of the at-risk debt`, value: percent(bad(salvage) - bad(ideal), atRisk, 2), unit: "share", setup: s },
        { bench: "7 solvency", metric: `${c}: at-risk debt recovered (repaid by takes), ideal / salvage`, value: `${percent(ideal.accounting.final.repaidUsd, atRisk)} / ${percent(salvage.accounting.final.repaidUsd, atRisk)}`, unit: "share", setup: s },
        { bench: "7 solvency", metric: `${c}: bad debt counting under-water accounts' whole debt, none / ideal / salvage; salvage / ideal`, value: `${usd(whole(none))} / ${usd(whole(ideal))} / ${usd(whole(salvage))}; ${ratio(whole(salvage), whole(ideal))}`, unit: "USD; ratio", setup: `${s}; written off + the whole debt of the accounts under water (the issue's wording)` },
      );
      panels.push({
        title: `${confirmations} confirmation${confirmations === 1 ? "" : "s"}: salvage / ideal ${ratio(bad(salvage), bad(ideal))}`,
        cascadeSteps: path.length,
        series: [
          { label: `none  ${usd(bad(none))}`, color: "#b8322a", values: none.accounting.series.map((p) => p.badDebtUsd) },
          { label: `salvage  ${usd(bad(salvage))}`, color: "#1f6fb2", values: salvage.accounting.series.map((p) => p.badDebtUsd) },
          { label: `ideal  ${usd(bad(ideal))}`, color: "#2e8b57", values: ideal.accounting.series.map((p) => p.badDebtUsd) },
        ],
      });
    }
    const caption = `salvage bench solvency: ${o.accounts} borrowers, seed ${o.seed}; ${cascade}. Bad debt = written off + shortfall of accounts under water.`;
    await writePng(chartSvg(panels, caption), o.chart);
    log(`solvency: chart written to ${o.chart}`);
    return {
      name: "solvency",
      figures,
      details: { cascade: { params, steps: path.length, crashFactorWad: factorWad, tail: o.tail, blockTime: o.blockTime }, seedingSeconds: net.seedSeconds, chart: o.chart, wallSeconds: round((Date.now() - started) / 1000, 0), runs },
      skipped,
    };
  } finally {
    await net.stop();
  }
}
