/**
 * Reads of a pathway's delivery history shared by the indexer's stall watch (src/indexer/pathway.ts) and the API's
 * `pathways` (src/api/pathways.ts), so both judge a pathway by the same window; and Ponder's checkpoint format.
 */
import { and, desc, eq, sql } from "ponder";
import { packet } from "ponder:schema";

/** Delivered packets per pathway the percentiles (and so the stall bound) are taken over: the newest. */
export const DELIVERY_WINDOW = 1_000;

/** The filter, order and size of a pathway's delivery window: `select(...).from(packet).where(w.where).orderBy(...w.orderBy).limit(w.limit)`. */
export function deliveryWindow(srcEid: number, dstEid: number) {
  return {
    where: and(eq(packet.srcEid, srcEid), eq(packet.dstEid, dstEid), eq(packet.status, "delivered"), sql`${packet.latencySeconds} IS NOT NULL`),
    orderBy: [desc(packet.deliveredAt), desc(packet.nonce)] as const,
    limit: DELIVERY_WINDOW,
  };
}

/** Ascending, for nearestRank. */
export const ascending = (values: readonly bigint[]): bigint[] => [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** The block of a Ponder checkpoint string: 10 digits of block timestamp, 16 of chain id, 16 of block number, ... */
export function checkpointBlock(checkpoint: string): { number: bigint; timestamp: bigint } {
  return { timestamp: BigInt(checkpoint.slice(0, 10)), number: BigInt(checkpoint.slice(26, 42)) };
}
