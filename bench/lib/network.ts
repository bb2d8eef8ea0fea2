/**
 * Devnets for the benchmarks, built from the project's own devnet code (src/devnet): anvil chains, LayerZero
 * and the protocol deployed (startNetwork), borrowers seeded through the real contracts (seedBorrowers), a
 * random walk of prices (MarketSimulator.step), then blocks mined past Ponder's unfinalised range.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Abi, Address, Hex } from "viem";
import { hubAbi, priceFeedAbi } from "../../abis/index.js";
import { readMany } from "./multicall.js";
import { writeManifest, type Manifest } from "../../src/deployment/manifest.js";
import { devnetAccounts } from "../../src/devnet/accounts.js";
import { createDevnetDeliverer, type Network, startNetwork } from "../../src/devnet/network.js";
import { createDatabase } from "./pg.js";
import { Rng } from "../../src/devnet/rng.js";
import { type SeedPhase, seedBorrowers } from "../../src/devnet/seed.js";
import { MarketSimulator } from "../../src/devnet/simulate.js";
import { WAD } from "../../src/health/wad.js";
import { mint } from "../../src/protocol/actions.js";
import { Deployment } from "../../src/protocol/deployment.js";
import type { PacketDeliverer } from "../../src/layerzero/deliverer.js";
import { mapLimit } from "../../src/util/concurrency.js";
import { log } from "./common.js";

export interface BenchNetwork {
  network: Network;
  deployment: Deployment;
  deliverer: PacketDeliverer;
  manifest: Manifest;
  manifestPath: string;
  borrowers: Address[];
  rng: Rng;
  /** Wall time from the first borrower sent to the last one's borrow confirmed, all stages together. */
  seedSeconds: number;
  /** Seeding time per stage and phase (ms). */
  seeding: SeedStage[];
  /** The hub's block gas limit. */
  hubGasLimit: bigint;
  /** This devnet's own PostgreSQL database (Ponder's RPC cache must not mix devnets that share chain ids). */
  databaseUrl: string;
  stop(): Promise<void>;
}

export interface SeedStage {
  from: number;
  to: number;
  ms: number;
  phases: Partial<Record<SeedPhase, number>>;
}

/** What a stage callback sees: the devnet seeded up to `accounts` (prices not walked yet, automine on). */
export interface SeededStage {
  deployment: Deployment;
  manifest: Manifest;
  databaseUrl: string;
  accounts: Address[];
}

/** Blocks mined on every chain past the last event, so Ponder backfills everything (it treats ~30 as unfinalised). */
export const FINALITY_MARGIN = 64;

/**
 * `stages`: borrower counts up to `accounts` at which to stop seeding and call `onStage` (the idle-RPC
 * measurement); seeding then continues with the same rng, so the book is the one a single seeding of
 * `accounts` borrowers makes.
 */
export async function startBenchNetwork(options: {
  spokes: number;
  accounts: number;
  seed: number;
  walkSteps?: number;
  hubGasLimit?: bigint;
  stages?: number[];
  onStage?: (stage: SeededStage) => Promise<void>;
}): Promise<BenchNetwork> {
  const started = Date.now();
  const network = await startNetwork({ spokes: options.spokes, gasLimits: { hub: options.hubGasLimit } });
  const deployment = new Deployment(network.manifest);
  const deliverer = createDevnetDeliverer(network.manifest, { retryBaseMs: 50, retryMaxMs: 400 });
  const dir = mkdtempSync(join(tmpdir(), "salvage-bench-"));
  const database = await createDatabase("devnet");
  const stop = async () => {
    await deliverer.stop();
    await network.stop();
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const rng = new Rng(options.seed);
    const hubGasLimit = (await deployment.hubClients.public.getBlock()).gasLimit;
    const sizes = [...new Set([...(options.stages ?? []).filter((n) => n > 0 && n <= options.accounts), options.accounts])].sort((a, b) => a - b);
    const borrowers: Address[] = [];
    const seeding: SeedStage[] = [];
    for (const size of options.accounts > 0 ? sizes : []) {
      const from = borrowers.length;
      const phases: SeedStage["phases"] = {};
      const t0 = Date.now();
      borrowers.push(...(await seedBorrowers(deployment, deliverer, { count: size - from, first: from, seed: options.seed, rng, onPhase: (p, ms) => (phases[p] = ms) })));
      const stage = { from, to: size, ms: Date.now() - t0, phases };
      seeding.push(stage);
      log(`seeded borrowers ${from}..${size - 1} in ${(stage.ms / 1000).toFixed(1)} s (${Object.entries(phases).map(([p, ms]) => `${p} ${(ms / 1000).toFixed(1)} s`).join(", ")})`);
      // Every stage is measured right after its seeding, before any price moves: nobody is liquidatable, the relayer is idle.
      if ((options.stages ?? []).includes(size) && options.onStage) await options.onStage({ deployment, manifest: network.manifest, databaseUrl: database.url, accounts: [...borrowers] });
    }
    for (const asset of deployment.debtAssets) {
      await mint(deployment, deployment.hub.name, deployment.hub.tokens[String(asset.id)]!, devnetAccounts.liquidator.address, 10n ** 30n);
    }
    const simulator = new MarketSimulator(deployment, rng);
    for (let i = 0; i < (options.walkSteps ?? 0); i++) await simulator.step();
    await mineAll(deployment, FINALITY_MARGIN);
    const manifest: Manifest = { ...network.manifest, accounts: borrowers };
    const manifestPath = join(dir, "manifest.json");
    writeManifest(manifestPath, manifest);
    const seedSeconds = seeding.reduce((a, s) => a + s.ms, 0) / 1000;
    log(`devnet: ${options.spokes + 1} chains (hub block gas limit ${hubGasLimit}), ${borrowers.length} borrowers seeded in ${seedSeconds.toFixed(1)} s, ${options.walkSteps ?? 0} walk steps; ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return { network, deployment, deliverer, manifest, manifestPath, borrowers, rng, seedSeconds, seeding, hubGasLimit, databaseUrl: database.url, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export async function mineAll(deployment: Deployment, blocks: number): Promise<void> {
  for (const c of deployment.manifest.chains) {
    await deployment.clients(c).public.request({ method: "anvil_mine", params: [`0x${blocks.toString(16)}`, "0x0"] } as never);
  }
}

export async function heads(deployment: Deployment): Promise<Record<string, bigint>> {
  const out: Record<string, bigint> = {};
  for (const c of deployment.manifest.chains) out[c.name] = await deployment.clients(c).public.getBlockNumber();
  return out;
}

export async function setMining(deployment: Deployment, mode: { automine: true } | { intervalSeconds: number }): Promise<void> {
  for (const c of deployment.manifest.chains) {
    const reader = deployment.clients(c).public;
    if ("automine" in mode) await reader.request({ method: "evm_setAutomine", params: [true] } as never);
    else await reader.request({ method: "evm_setIntervalMining", params: [mode.intervalSeconds] } as never);
  }
}

export interface PriceUpdateBlock {
  block: bigint;
  /** Wall clock (ms) right after the block was mined at our request. */
  minedAt: number;
  hashes: Hex[];
}

/**
 * Sets feed answers in one hub block: automine off, the updates sent, one block mined, automine restored
 * (or left off when `keepAutomineOff`). Returns the block and the wall time it was mined.
 */
export async function priceUpdatesInOneBlock(deployment: Deployment, answers: Map<number, bigint>, keepAutomineOff = false): Promise<PriceUpdateBlock> {
  const { public: reader, wallet } = deployment.hubClients;
  const deployer = wallet(devnetAccounts.deployer);
  await reader.request({ method: "evm_setAutomine", params: [false] } as never);
  const nonce = await reader.getTransactionCount({ address: devnetAccounts.deployer.address, blockTag: "pending" });
  const hashes: Hex[] = [];
  let i = 0;
  for (const [assetId, answer] of answers) {
    hashes.push(await deployer.writeContract({ address: deployment.feed(assetId), abi: priceFeedAbi, functionName: "updateAnswer", args: [answer], nonce: nonce + i++, gas: 200_000n }));
  }
  await reader.request({ method: "evm_mine", params: [] } as never);
  const minedAt = Date.now();
  if (!keepAutomineOff) await reader.request({ method: "evm_setAutomine", params: [true] } as never);
  const receipts = await Promise.all(hashes.map((hash) => reader.getTransactionReceipt({ hash })));
  for (const r of receipts) if (r.status !== "success") throw new Error(`price update reverted (${r.transactionHash})`);
  const block = receipts[0]!.blockNumber;
  if (receipts.some((r) => r.blockNumber !== block)) throw new Error("price updates landed in different blocks");
  return { block, minedAt, hashes };
}

/**
 * The devnet's crash (src/devnet/simulate.ts): every collateral price times one factor halfway between the
 * k-th and (k+1)-th smallest HF, so `share` of the borrowers fall under 1; here all in one hub block.
 */
export async function crashInOneBlock(deployment: Deployment, borrowers: readonly Address[], share: number, keepAutomineOff = false) {
  const before = await healthFactors(deployment, borrowers, await deployment.hubClients.public.getBlockNumber({ cacheTime: 0 }));
  const hfs = [...before.values()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const target = Math.max(1, Math.round(share * borrowers.length));
  if (hfs.length <= target) throw new Error(`cannot push ${target} of ${hfs.length} accounts under HF 1`);
  const midpoint = (2n * WAD * WAD) / (hfs[target - 1]! + hfs[target]!);
  const factorWad = midpoint < WAD ? midpoint : WAD;
  const current = await deployment.answers();
  const answers = new Map(deployment.collateralAssets.map((a) => [a.id, (current.get(a.id)! * factorWad) / WAD] as const));
  const update = await priceUpdatesInOneBlock(deployment, answers, keepAutomineOff);
  const after = await healthFactors(deployment, borrowers, update.block);
  const liquidatable = borrowers.filter((a) => after.get(a)! < WAD);
  // Only price updates and an account's own positions move its health, and neither happened between the read
  // before and the crash but for takes of accounts already under 1: `healthBefore` tells which the crash made so.
  return { ...update, factorWad, target, liquidatable, healthBefore: before };
}

/** Hub.healthFactor of many accounts at `blockNumber`, in a few Multicall3 calls. */
export async function healthFactors(deployment: Deployment, accounts: readonly Address[], blockNumber: bigint): Promise<Map<Address, bigint>> {
  const calls = accounts.map((account) => ({ address: deployment.hubAddress, abi: hubAbi as Abi, functionName: "healthFactor", args: [account] }));
  const values = (await readMany(deployment.hubClients.public, calls, blockNumber)) as bigint[];
  return new Map(accounts.map((a, i) => [a, values[i]!] as const));
}
