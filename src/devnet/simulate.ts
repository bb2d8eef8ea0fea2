/**
 * The market simulation: a seeded random walk of every collateral price on the hub chain's feeds, and a
 * crash that pushes a known share of the seeded accounts under HF 1.
 *
 * Prices move in integer basis points of the feed answer, so the walk is exact bigint arithmetic.
 * The crash multiplies every collateral price by one factor f chosen from the accounts' current health
 * factors: debt is in USD stablecoins priced at 1, so each HF scales by f (to rounding), and f is placed
 * between the k-th and (k+1)-th smallest HF so that exactly k accounts fall below 1.
 */
import type { Address, Hex } from "viem";
import { priceFeedAbi } from "../../abis/index.js";
import { confirm, serialized, write } from "../chains/tx.js";
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
    /** The protocol's health of an account (the reference hub's by default; the feeds are shared). */
    private readonly healthFactor: (account: Address, blockNumber?: bigint) => Promise<bigint> = (a, b) => deployment.onchainHealthFactor(a, b),
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
    const { factorWad, target } = await this.crashFactor(accounts, share);
    const answers = await this.deployment.answers();
    for (const asset of this.deployment.collateralAssets) {
      await this.setAnswer(asset.id, (answers.get(asset.id)! * factorWad) / WAD);
    }
    return { factorWad, target, liquidatable: await this.liquidatable(accounts) };
  }

  /**
   * The factor that pushes `share` of `accounts` below HF 1 when every collateral price is multiplied by it:
   * halfway between the target-th and (target+1)-th smallest HF, f = 2 / (hf_k + hf_{k+1}), never above 1.
   */
  async crashFactor(accounts: readonly Address[], share: number): Promise<{ factorWad: bigint; target: number }> {
    if (!(share > 0 && share < 1)) throw new RangeError("crash share must be in (0, 1)");
    const hfs = (await mapLimit(accounts, 32, (a) => this.healthFactor(a))).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const target = Math.max(1, Math.round(share * accounts.length));
    if (hfs.length <= target) throw new Error(`cannot push ${target} of ${hfs.length} accounts under HF 1`);
    const midpoint = (2n * WAD * WAD) / (hfs[target - 1]! + hfs[target]!);
    return { factorWad: midpoint < WAD ? midpoint : WAD, target };
  }

  /** The accounts the hub reports below HF 1 now (or at `blockNumber`). */
  async liquidatable(accounts: readonly Address[], blockNumber?: bigint): Promise<Address[]> {
    const after = await mapLimit(accounts, 32, async (a) => [a, await this.healthFactor(a, blockNumber)] as const);
    return after.filter(([, hf]) => hf < WAD).map(([a]) => a);
  }

  /**
   * Sets the feeds' answers in one hub block (a cascade step): the updates go out with consecutive nonces and
   * are mined together. On an automining chain automine is paused for them and one block is mined; with interval
   * mining they land in the next block. Answers equal to the feed's current one are not sent. Returns the hub
   * block of the last update (the current head when nothing changed).
   */
  async applyAnswers(answers: ReadonlyMap<number, bigint>): Promise<bigint> {
    const { public: reader, wallet } = this.deployment.hubClients;
    const current = await this.deployment.answers();
    const changed = [...answers].filter(([id, answer]) => current.get(id) !== answer);
    if (changed.length === 0) return reader.getBlockNumber({ cacheTime: 0 });
    const deployer = wallet(devnetAccounts.deployer);
    const automine = (await reader.request({ method: "anvil_getAutomine", params: [] } as never)) as boolean;
    const hashes = await serialized(deployer, async () => {
      if (automine) await reader.request({ method: "evm_setAutomine", params: [false] } as never);
      try {
        const nonce = await reader.getTransactionCount({ address: deployer.account.address, blockTag: "pending" });
        const sent: Hex[] = [];
        for (const [i, [id, answer]] of changed.entries()) {
          sent.push(await deployer.writeContract({ address: this.deployment.feed(id), abi: priceFeedAbi, functionName: "updateAnswer", args: [answer], nonce: nonce + i, gas: 200_000n }));
        }
        if (automine) await reader.request({ method: "evm_mine", params: [] } as never);
        return sent;
      } finally {
        if (automine) await reader.request({ method: "evm_setAutomine", params: [true] } as never);
      }
    });
    let block = 0n;
    for (const hash of hashes) {
      const receipt = await confirm(reader, hash, "updateAnswer");
      if (receipt.blockNumber > block) block = receipt.blockNumber;
    }
    return block;
  }
}
