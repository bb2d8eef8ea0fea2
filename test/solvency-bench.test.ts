/**
 * The solvency benchmark's instrument (bench/solvency.ts) on a small real devnet: 40 seeded borrowers, a short
 * cascade, the three runs from one snapshot. Its bad-debt accounting (replayed from the hub's events) equals the
 * hub's own state to the wei; the ideal liquidator takes every account in the very block it goes under HF 1; and
 * its bad debt is never above the salvage run's (the relayer as shipped, its own process) nor the none run's.
 */
import type { Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubAbi } from "../abis/index.js";
import { type CascadeStep, cascadePath } from "../src/devnet/cascade.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { WAD } from "../src/health/wad.js";
import { type BenchNetwork, startBenchNetwork } from "../bench/lib/network.js";
import { REPO_ROOT } from "../bench/lib/ponder.js";
import { reserves } from "../bench/lib/solvency/accounting.js";
import { type SolvencyDevnet, runIdeal, runNone, runSalvage, snapshotDevnet } from "../bench/lib/solvency/runs.js";
import { type RunResult, account, parseSolvencyOptions, percent, ratio } from "../bench/solvency.js";
import { killStartedRelayers } from "../bench/lib/relayer.js";

let net: BenchNetwork;
let dev: SolvencyDevnet;
let path: CascadeStep[];
const horizon = () => ({ path, tail: 12, blockTime: 1 });
const results = new Map<string, RunResult>();

beforeAll(async () => {
  net = await startBenchNetwork({ spokes: 2, accounts: 40, seed: 7, walkSteps: 3 });
  const d = net.deployment;
  const { factorWad } = await new MarketSimulator(d, net.rng).crashFactor(net.borrowers, 0.15);
  const answers = await d.answers();
  path = cascadePath({ seed: 7, params: { declineBps: 300, blocks: 6, noiseBps: 50 }, start: new Map(d.collateralAssets.map((a) => [a.id, answers.get(a.id)!] as const)), crashFactorWad: factorWad });
  dev = await snapshotDevnet(net);
});

afterAll(async () => {
  await killStartedRelayers();
  await net?.stop();
});

describe("solvency benchmark", () => {
  it("none: the accounting equals the hub to the wei, and its at-risk set is the hub's accounts under HF 1 at some step", async () => {
    const record = await runNone(dev, { ...horizon(), confirmations: 0 });
    const r = await account(dev, record);
    results.set("none", r);
    expect(r.mismatches).toEqual([]);
    expect(r.accounting.takes).toHaveLength(0);
    expect(r.accounting.final.writtenOffUsd).toBe(0n);
    expect(r.accounting.final.underWaterAccounts).toBeGreaterThan(0);
    expect(record.endBlock - record.crashBlock + 1n).toBe(BigInt(path.length + 12));
    // Independently: the hub's own health factor of every borrower at every block of the run.
    const d = dev.d;
    const below = new Set<Address>();
    for (let b = record.fromBlock; b <= record.endBlock; b++) {
      for (const a of dev.accounts) if ((await d.onchainHealthFactor(a, b)) < WAD) below.add(a);
    }
    expect(new Set(r.accounting.atRisk.keys())).toEqual(below);
    // The under-water figure: the hub's accountData of every borrower at the horizon.
    let shortfall = 0n;
    for (const a of dev.accounts) {
      const [collateralValue, , , debtValue] = await d.hubClients.public.readContract({ address: d.hubAddress, abi: hubAbi, functionName: "accountData", args: [a], blockNumber: record.endBlock });
      if (collateralValue < debtValue) shortfall += debtValue - collateralValue;
    }
    expect(r.accounting.final.shortfallUsd).toBe(shortfall);
    expect(r.accounting.final.badDebtUsd).toBe(shortfall);
  });

  it("ideal: every at-risk account taken in the block it went under HF 1; its write-offs are the hub's badDebt and reserve, to the wei", async () => {
    const record = await runIdeal(dev, { ...horizon(), confirmations: 2 });
    const r = await account(dev, record);
    results.set("ideal", r);
    expect(r.mismatches).toEqual([]);
    expect(record.sent!.reverted).toBe(0);
    // Accounts under water are taken until no collateral is left: the hub writes their debt off.
    expect(r.accounting.final.writtenOffUsd).toBeGreaterThan(0n);
    expect(record.sent!.delivered).toBe(record.sent!.takes);
    const none = results.get("none")!;
    expect(new Set(r.accounting.atRisk.keys())).toEqual(new Set(none.accounting.atRisk.keys()));
    const firstTake = new Map<Address, bigint>();
    for (const t of r.accounting.takes) if (!firstTake.has(t.account)) firstTake.set(t.account, t.block);
    for (const [a, { block }] of r.accounting.atRisk) expect(firstTake.get(a), a).toBe(block);
    // Written off, straight from the hub: Σ BadDebtWrittenOff = Δ badDebt − Δ reserve (checked inside `account` too).
    const [before, after] = [await reserves(dev.d, record.fromBlock - 1n), await reserves(dev.d, record.endBlock)];
    for (const [id, amount] of r.accounting.writtenOff) {
      expect(amount).toBe(after.get(id)!.badDebt - before.get(id)!.badDebt + before.get(id)!.reserve - after.get(id)!.reserve);
    }
    expect(r.accounting.final.badDebtUsd).toBeLessThanOrEqual(none.accounting.final.badDebtUsd);
  });

  it("salvage (one relayer process as shipped): the accounting equals the hub; the ideal's bad debt is not above it", async () => {
    const manifestPath = `${net.manifestPath}.solvency.json`;
    const record = await runSalvage(dev, { ...horizon(), confirmations: 2, appRoot: REPO_ROOT, manifestPath });
    const r = await account(dev, record);
    results.set("salvage", r);
    expect(r.mismatches).toEqual([]);
    expect(r.accounting.takes.length).toBeGreaterThan(0);
    const ideal = results.get("ideal")!;
    console.log(`[solvency] bad debt none ${results.get("none")!.accounting.final.badDebtUsd / WAD} ideal ${ideal.accounting.final.badDebtUsd / WAD} salvage ${r.accounting.final.badDebtUsd / WAD} USD`);
    expect(ideal.accounting.final.badDebtUsd).toBeLessThanOrEqual(r.accounting.final.badDebtUsd);
    expect(ideal.accounting.final.badDebtWholeDebtUsd).toBeLessThanOrEqual(r.accounting.final.badDebtWholeDebtUsd);
  }, 240_000);
});

describe("solvency options and figures", () => {
  const valid = { accounts: "1000", seed: "7", walkSteps: "10", blockTime: "1", confirmations: "0,5,15", crashShare: "0.1", declineBps: "200", blocks: "20", noiseBps: "50", tail: "60", chart: "bench/solvency.png", appRoot: ".", setup: "" };
  it("parses the flags and names a bad one", () => {
    expect(parseSolvencyOptions(valid).confirmations).toEqual([0, 5, 15]);
    expect(() => parseSolvencyOptions({ ...valid, confirmations: "0,x" })).toThrow(/--solvency-confirmations: a comma-separated list/);
    expect(() => parseSolvencyOptions({ ...valid, crashShare: "1.5" })).toThrow(/--solvency-crash-share: /);
    expect(() => parseSolvencyOptions({ ...valid, declineBps: "9000", noiseBps: "1500" })).toThrow(/--solvency-noise-bps: decline 9000 \+ noise 1500/);
    expect(() => parseSolvencyOptions({ ...valid, blockTime: "0" })).toThrow(/--block-time: /);
  });
  it("ratios and shares are computed in bigint", () => {
    expect(ratio(3n * WAD, 2n * WAD)).toBe("1.500");
    expect(ratio(0n, 0n)).toBe("1.000");
    expect(ratio(1n, 0n)).toBe("∞");
    expect(percent(1n, 3n)).toBe("33.3 %");
  });
});
