/**
 * A price feed's decimals, as the hub read them at listing (it scales answers by 10^(18 − decimals)).
 *
 * Read from the chain straight, not through Ponder's `context.client`: a feed's decimals are immutable (Chainlink's
 * and ours), so neither Ponder's block pinning nor its reorg-aware cache adds anything, and Ponder's client queues
 * behind its own backfill requests: in the throughput benchmark each listing's read waited ~0.9 s for them (5
 * listings, 4.5 s of the backfill's handler time). One read per feed per process; a failed read is not remembered.
 */
import { type Address, type PublicClient, createPublicClient, http } from "viem";
import { priceFeedAbi } from "../../abis/index.js";

const clients = new Map<string, PublicClient>();
const reads = new Map<string, Promise<number>>();

export function feedDecimals(rpcUrl: string, feed: Address): Promise<number> {
  const key = `${rpcUrl} ${feed.toLowerCase()}`;
  let read = reads.get(key);
  if (!read) {
    let client = clients.get(rpcUrl);
    if (!client) clients.set(rpcUrl, (client = createPublicClient({ transport: http(rpcUrl, { retryCount: 5, retryDelay: 200 }) })));
    read = client.readContract({ abi: priceFeedAbi, address: feed, functionName: "decimals" });
    reads.set(key, read);
    read.catch(() => reads.delete(key));
  }
  return read;
}
