/**
 * Detection for the hub-accounted money market, from the hub's own events: a book of every account's collateral
 * and scaled debt (CollateralUpdated and DebtUpdated carry absolute balances), every debt asset's borrow index and
 * rate (IndexAccrued, InterestRateSet) and asset terms (AssetListed), brought forward by one eth_getLogs per new
 * range; each poll values every borrower at the head block's timestamp and prices (one Multicall3 of priceWad),
 * so an account that interest alone pushes under HF 1 is found with no event at all. Candidates are confirmed by
 * the engine's batched read before any order.
 *
 * Reorgs: the newest `REREAD_BLOCKS` are read again every poll (balances are absolute, so a replaced block's
 * events overwrite the old ones); an event removed by a reorg and not replaced is not undone: the engine's read
 * confirms every candidate, so a stale book costs a candidate, never a wrong order.
 */
import { type Address, parseEventLogs } from "viem";
import { accountedHubAbi } from "../../../abis/index.js";
import { WAD } from "../../health/wad.js";
import type { Deployment } from "../../protocol/deployment.js";
import type { DetectionBatch, DetectionStatus, Detector } from "../../recovery/detection/types.js";
import type { AccountedContracts } from "./contracts.js";
import { type BorrowRate, accountedAccountData } from "./math.js";

const MAX_RANGE = 5_000n;
const REREAD_BLOCKS = 8n;

interface AssetTerms { decimals: number; ltv: bigint; liquidationThreshold: bigint }

export class AccountedScanner implements Detector {
  private next: bigint;
  private readonly collateral = new Map<string, Map<string, { eid: number; assetId: number; amount: bigint }>>();
  private readonly scaled = new Map<string, Map<number, bigint>>();
  private readonly rates = new Map<number, BorrowRate>();
  private readonly terms = new Map<number, AssetTerms>();
  private head: bigint | null = null;

  constructor(
    private readonly d: Deployment,
    private readonly c: AccountedContracts,
  ) {
    this.next = BigInt(c.entry.contracts[d.hub.name]!.startBlock);
  }

  status(): DetectionStatus {
    return { source: "scanner", reason: "the hub-accounted protocol is read from its hub's events" };
  }

  async close(): Promise<void> {}

  async poll(): Promise<DetectionBatch> {
    const reader = this.d.hubClients.public;
    const block = await reader.getBlock({ blockTag: "latest" });
    await this.catchUp(block.number);
    const assets = [...this.terms.keys()];
    const prices = await reader.multicall({
      contracts: assets.map((id) => ({ address: this.c.hub, abi: accountedHubAbi, functionName: "priceWad" as const, args: [id] as const })),
      allowFailure: true,
      blockNumber: block.number,
    });
    const pricesWad = new Map(assets.flatMap((id, k) => (prices[k]!.status === "success" ? [[id, prices[k]!.result as bigint] as const] : [])));
    const candidates: Address[] = [];
    for (const [account, debts] of this.scaled) {
      const owed = [...debts].filter(([, s]) => s > 0n);
      if (owed.length === 0) continue;
      const held = [...(this.collateral.get(account)?.values() ?? [])].filter((p) => p.amount > 0n);
      // An account valued at a price the hub refuses waits (the engine's read says why).
      if ([...held.map((p) => p.assetId), ...owed.map(([id]) => id)].some((id) => !pricesWad.has(id))) continue;
      const health = accountedAccountData(
        held.map((p) => ({ amount: p.amount, priceWad: pricesWad.get(p.assetId)!, ...this.terms.get(p.assetId)! })),
        owed.map(([id, s]) => ({ scaledDebt: s, rate: this.rates.get(id)!, priceWad: pricesWad.get(id)!, decimals: this.terms.get(id)!.decimals })),
        block.timestamp,
      );
      if (health.healthFactor < WAD) candidates.push(account as Address);
    }
    this.head = block.number;
    return { source: "scanner", candidates, fromFeed: [], commit: async () => {}, pending: null, head: this.head };
  }

  private async catchUp(head: bigint): Promise<void> {
    const reader = this.d.hubClients.public;
    let from = this.next;
    while (from <= head) {
      const to = from + MAX_RANGE - 1n < head ? from + MAX_RANGE - 1n : head;
      const logs = await reader.getLogs({ address: this.c.hub, fromBlock: from, toBlock: to });
      for (const e of parseEventLogs({ abi: accountedHubAbi, logs })) {
        switch (e.eventName) {
          case "AssetListed":
            this.terms.set(e.args.assetId, { decimals: e.args.decimals, ltv: e.args.ltv, liquidationThreshold: e.args.liquidationThreshold });
            break;
          case "InterestRateSet":
            this.rates.set(e.args.assetId, { index: e.args.index, ratePerSecond: e.args.ratePerSecond, lastUpdate: e.args.timestamp });
            break;
          case "IndexAccrued": {
            const rate = this.rates.get(e.args.assetId);
            if (rate) this.rates.set(e.args.assetId, { ...rate, index: e.args.index, lastUpdate: e.args.timestamp });
            break;
          }
          case "CollateralUpdated": {
            const account = e.args.account.toLowerCase();
            const book = this.collateral.get(account) ?? new Map();
            book.set(`${e.args.eid}:${e.args.assetId}`, { eid: e.args.eid, assetId: e.args.assetId, amount: e.args.balance });
            this.collateral.set(account, book);
            break;
          }
          case "DebtUpdated": {
            const account = e.args.account.toLowerCase();
            const book = this.scaled.get(account) ?? new Map();
            book.set(e.args.assetId, e.args.scaledBalance);
            this.scaled.set(account, book);
            break;
          }
        }
      }
      from = to + 1n;
    }
    const reread = head + 1n - REREAD_BLOCKS;
    this.next = reread > this.next ? reread : this.next;
  }
}
