/**
 * Oracle updates not mined yet: the backrun half of detection.
 *
 * A price step is a feed transaction in the hub's mempool before it is a block. A liquidator that waits for the
 * block acts one block late, and in a cascade every block of delay is collateral that keeps falling. This
 * watch follows the node's pending transactions (`eth_newPendingTransactionFilter`, then
 * `eth_getFilterChanges` each poll: only hashes new since the last poll, nothing when the pool is quiet),
 * keeps those sent to a feed the book prices assets with, reads those feeds' answers at the node's pending
 * state (one Multicall3 at blockTag "pending": the feed's own code decides the answer, no calldata is
 * decoded), and asks the book which accounts those answers put below HF 1.
 *
 * The engine then reads those accounts at the pending state too and sends its batch with fees no higher than
 * the updates' own (`fees`): a node orders a block by fee, then by arrival, so the batch lands after the updates,
 * in their block. A node that shows no pending transactions (many L2 sequencers' RPC) makes this a no-op; one
 * without pending filters turns it off, said once in the log.
 */
import { type Address, type Hex, MethodNotFoundRpcError, MethodNotSupportedRpcError } from "viem";
import { priceFeedAbi } from "../../../abis/index.js";
import type { ChainClients } from "../../chains/clients.js";
import { MULTICALL3_ADDRESS } from "../../chains/multicall.js";
import { mapLimit } from "../../util/concurrency.js";
import type { HubBook } from "./book.js";
import { type DetectionLogger, type PendingUpdates, errorMessage } from "./types.js";

export interface PendingOracle extends PendingUpdates {
  /** Accounts below HF 1 once the pending answers are mined, lowest first. */
  candidates: Address[];
}

interface Tracked {
  feed: Address;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

export class PendingOracleWatch {
  private filter: Hex | null = null;
  private off = false;
  private readonly tracked = new Map<Hex, Tracked>();
  /** The pending answers, read again only when the set of pending updates changes (see poll). */
  private answers: { key: string; answers: Map<Address, bigint> } | null = null;

  constructor(
    private readonly clients: ChainClients,
    private readonly log: DetectionLogger,
  ) {}

  /** The pending oracle updates and the accounts they put under HF 1; null when there are none. */
  async poll(book: HubBook): Promise<PendingOracle | null> {
    if (this.off) return null;
    const feeds = new Set(book.feeds());
    const reader = this.clients.public;
    const fresh = await this.newHashes();
    const txs = await mapLimit(fresh, 8, (hash) => reader.getTransaction({ hash }).catch(() => null));
    for (const tx of txs) {
      if (!tx || tx.blockNumber !== null || !tx.to || !feeds.has(tx.to.toLowerCase() as Address)) continue;
      // A legacy transaction offers its gas price as both.
      const maxFeePerGas = tx.maxFeePerGas ?? tx.gasPrice ?? 0n;
      this.tracked.set(tx.hash, { feed: tx.to.toLowerCase() as Address, maxFeePerGas, maxPriorityFeePerGas: tx.maxPriorityFeePerGas ?? maxFeePerGas });
    }
    // Those tracked from an earlier poll, mined since (the scanner's logs have them now) or gone from the pool,
    // are no longer pending; those read just above are known to be.
    const seen = new Set(fresh.map((hash) => hash.toLowerCase()));
    const earlier = [...this.tracked.keys()].filter((hash) => !seen.has(hash.toLowerCase()));
    const still = await mapLimit(earlier, 8, (hash) => reader.getTransaction({ hash }).then((tx) => tx.blockNumber === null, () => false));
    earlier.forEach((hash, i) => still[i] || this.tracked.delete(hash));
    if (this.tracked.size === 0) return null;

    const updates = [...this.tracked.values()];
    const answers = await this.pendingAnswers();
    const min = (a: bigint, b: bigint) => (a < b ? a : b);
    return {
      candidates: book.liquidatableAt(answers),
      fees: {
        maxFeePerGas: updates.reduce((m, u) => min(m, u.maxFeePerGas), updates[0]!.maxFeePerGas),
        maxPriorityFeePerGas: updates.reduce((m, u) => min(m, u.maxPriorityFeePerGas), updates[0]!.maxPriorityFeePerGas),
      },
      txs: [...this.tracked.keys()],
    };
  }

  /**
   * The tracked feeds' answers at the pending state. A node executes its whole pool for a call at "pending"
   * (anvil does, our own batches included), so they are read once per set of pending updates, not every poll:
   * the answers change only with a new update.
   */
  private async pendingAnswers(): Promise<Map<Address, bigint>> {
    const key = [...this.tracked.keys()].sort().join(",");
    if (this.answers?.key === key) return this.answers.answers;
    const touched = [...new Set([...this.tracked.values()].map((u) => u.feed))];
    const rounds = await this.clients.public.multicall({
      contracts: touched.map((address) => ({ address, abi: priceFeedAbi, functionName: "latestRoundData" }) as const),
      allowFailure: true,
      multicallAddress: MULTICALL3_ADDRESS,
      blockTag: "pending",
    });
    const answers = new Map<Address, bigint>();
    rounds.forEach((r, i) => r.status === "success" && answers.set(touched[i]!, r.result[1]));
    this.answers = { key, answers };
    return answers;
  }

  /** Hashes the node added to its pool since the last call; the filter is made again when the node forgot it. */
  private async newHashes(): Promise<Hex[]> {
    const request = this.clients.public.request as (args: { method: string; params?: unknown[] }) => Promise<unknown>;
    if (!this.filter) {
      try {
        this.filter = (await request({ method: "eth_newPendingTransactionFilter" })) as Hex;
      } catch (error) {
        // Any other failure (the node is down) is tried again next poll.
        if (error instanceof MethodNotFoundRpcError || error instanceof MethodNotSupportedRpcError) {
          this.off = true;
          this.log.warn({ err: errorMessage(error) }, "the hub node has no pending-transaction filter: oracle updates are seen once mined, not backrun");
        }
        return [];
      }
      return [];
    }
    try {
      return (await request({ method: "eth_getFilterChanges", params: [this.filter] })) as Hex[];
    } catch {
      // Expired (nodes drop filters nobody polled for a while) or the node restarted: a new one next poll.
      this.filter = null;
      return [];
    }
  }
}
