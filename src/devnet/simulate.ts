/**
 * The market simulation: a seeded random walk of every collateral price on the hub chain's feeds, and a
 * crash that pushes a known share of the seeded accounts under HF 1.
 *
 * Prices move in integer basis points of the feed answer, so the walk is exact bigint arithmetic.
 * The crash multiplies every collateral price by one factor f chosen from the accounts' current health
 * factors: debt is in USD stablecoins priced at 1, so each HF scales by f (to rounding), and f is placed
 * between the k-th and (k+1)-th smallest HF so that exactly k accounts fall below 1.
 */
import type { Address } from "viem";
import { priceFeedAbi } from "../../abis/index.js";
import { write } from "../chains/tx.js";
import { WAD } from "../health/wad.js";
import type { Deployment } from "../protocol/deployment.js";
import { devnetAccounts } from "./accounts.js";
import { mapLimit } from "../util/concurrency.js";
import type { Rng } from "./rng.js";

const BPS = 10_000n;

export interface CrashReport {
  /** Multiplier applied to every collateral price (WAD). */
  factorWad: bigint;
  target: number;
  /** Accounts the hub reports below HF 1 after the crash. */
  liquidatable: Address[];
}

export class MarketSimulator {
  constructor(
    private readonly deployment: Deployment,
    private readonly rng: Rng,
    /** Largest move of one step, in basis points. */
    private readonly stepBps = 150,
  ) {}

  private async setAnswer(assetId: number, answer: bigint): Promise<void> {
    const { public: reader, wallet } = this.deployment.hubClients;
    await write(wallet(devnetAccounts.deployer), reader, { address: this.deployment.feed(assetId), abi: priceFeedAbi, functionName: "updateAnswer", args: [answer] });
  }

  /** One random-walk step of every collateral price. */
  async step(): Promise<void> {
    const answers = await this.deployment.answers();
    for (const asset of this.deployment.collateralAssets) {
      const move = BigInt(this.rng.int(-this.stepBps, this.stepBps));
      const next = (answers.get(asset.id)! * (BPS + move)) / BPS;
      await this.setAnswer(asset.id, next > 0n ? next : 1n);
    }
  }

  /** Crashes collateral prices so that `share` of `accounts` end below HF 1 on the hub. */
  async crash(accounts: readonly Address[], share: number): Promise<CrashReport> {
    if (!(share > 0 && share < 1)) throw new RangeError("crash share must be in (0, 1)");
    const hfs = (await mapLimit(accounts, 32, (a) => this.deployment.onchainHealthFactor(a))).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const target = Math.max(1, Math.round(share * accounts.length));
    if (hfs.length <= target) throw new Error(`cannot push ${target} of ${hfs.length} accounts under HF 1`);
    // Halfway between the target-th and (target+1)-th smallest HF: f = 2 / (hf_k + hf_{k+1}), never above 1.
    const midpoint = (2n * WAD * WAD) / (hfs[target - 1]! + hfs[target]!);
    const factorWad = midpoint < WAD ? midpoint : WAD;
    const answers = await this.deployment.answers();
    for (const asset of this.deployment.collateralAssets) {
      await this.setAnswer(asset.id, (answers.get(asset.id)! * factorWad) / WAD);
    }
    const after = await mapLimit(accounts, 32, async (a) => [a, await this.deployment.onchainHealthFactor(a)] as const);
    return { factorWad, target, liquidatable: after.filter(([, hf]) => hf < WAD).map(([a]) => a) };
  }
}
