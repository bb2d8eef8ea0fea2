/**
 * Detection straight from the hub: borrowers are learned from DebtUpdated logs (cursor kept in memory,
 * rebuilt from the deployment's start block on restart) and checked with the hub's own healthFactor.
 * This is the source the relayer needs no indexer for; the indexer's opportunities query serves the
 * same purpose at scale.
 */
import { type Address, getAbiItem } from "viem";
import { hubAbi } from "../../abis/index.js";
import { mapLimit } from "../util/concurrency.js";
import { WAD } from "../math/wad.js";
import type { Deployment } from "../protocol/deployment.js";

const debtUpdated = getAbiItem({ abi: hubAbi, name: "DebtUpdated" });

export interface LiquidatableAccount {
  account: Address;
  healthFactor: bigint;
}

export class HubScanner {
  private nextBlock: bigint;
  /** Latest debt balance per "account:assetId". */
  private readonly debts = new Map<string, bigint>();

  constructor(private readonly deployment: Deployment) {
    this.nextBlock = BigInt(deployment.hub.startBlock);
  }

  /** Accounts whose hub health factor is below 1 at the latest block, lowest first. */
  async liquidatable(): Promise<LiquidatableAccount[]> {
    const reader = this.deployment.hubClients.public;
    const head = await reader.getBlockNumber();
    while (this.nextBlock <= head) {
      const to = this.nextBlock + 4_999n < head ? this.nextBlock + 4_999n : head;
      const logs = await reader.getLogs({ address: this.deployment.hubAddress, event: debtUpdated, fromBlock: this.nextBlock, toBlock: to });
      for (const log of logs) {
        this.debts.set(`${log.args.account}:${log.args.assetId}`, log.args.balance!);
      }
      this.nextBlock = to + 1n;
    }
    const withDebt = new Set<Address>();
    for (const [key, balance] of this.debts) if (balance > 0n) withDebt.add(key.split(":")[0] as Address);
    const checked = await mapLimit([...withDebt], 16, async (account) => ({
      account,
      healthFactor: await this.deployment.onchainHealthFactor(account, head),
    }));
    return checked.filter((a) => a.healthFactor < WAD).sort((a, b) => (a.healthFactor < b.healthFactor ? -1 : 1));
  }
}
