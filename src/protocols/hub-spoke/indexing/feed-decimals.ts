/**
 * A price feed's decimals, as the hub read them at listing (it scales answers by 10^(18 − decimals)).
 *
 * Read from the chain straight, not through Ponder's `context.client`: a feed's decimals are immutable (Chainlink's
 * and ours), so neither Ponder's block pinning nor its reorg-aware cache adds anything, and Ponder's client queues
 * behind its own backfill requests: in the throughput benchmark a listing's read waited up to ~1 s for them. One
 * read per feed per process, started when the indexing functions load (`prefetchFeedDecimals`) so a listing finds
 * it done; a failed read is not remembered (the listing reads again).
 */
import type { Address } from "viem";
import { priceFeedAbi } from "../../../../abis/index.js";
import { type ChainClients, type ChainEndpoint, createChainClients } from "../../../chains/clients.js";

const clients = new Map<number, ChainClients>();
const reads = new Map<string, Promise<number>>();

export function feedDecimals(chain: ChainEndpoint, feed: Address): Promise<number> {
  const key = `${chain.chainId} ${feed.toLowerCase()}`;
  let read = reads.get(key);
  if (!read) {
    let c = clients.get(chain.chainId);
    if (!c) clients.set(chain.chainId, (c = createChainClients(chain)));
    read = c.public.readContract({ abi: priceFeedAbi, address: feed, functionName: "decimals" });
    reads.set(key, read);
    read.catch(() => reads.delete(key));
  }
  return read;
}

/** Starts reading every feed's decimals now, off the handlers' path; errors wait for the handler's own read. */
export function prefetchFeedDecimals(chain: ChainEndpoint, feeds: readonly Address[]): void {
  for (const feed of feeds) feedDecimals(chain, feed).catch(() => undefined);
}
