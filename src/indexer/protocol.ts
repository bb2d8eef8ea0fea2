/**
 * The indexer's side of the protocol seam: what a lending protocol adds to the one Ponder app (ponder.config.ts).
 * Each protocol folder exports one `ProtocolIndexing` from src/protocols/<name>/indexing/index.ts:
 * - `contracts`: its contracts by Ponder name, on the manifest's chains. Their handlers sit beside it, one file per
 *   contract (`ponder.on("<Name>:<Event>")`), and write the protocol's positions as its events report them;
 * - `blocks`: block sources, for a protocol whose health drifts with no event (interest: the hub-accounted market
 *   values its book every block for the feed);
 * and its tables in schema.ts, re-exported by ponder.schema.ts (Ponder reads the schema statically, so tables
 * cannot come through a function). Every name is always present, on no chain when the manifest does not deploy the
 * protocol: Ponder types the handlers from the config, so the keys must be literal.
 *
 * Health to the wei at a block is the API's side of the seam (src/api/protocols.ts), the relayer's the recovery
 * side (src/recovery/protocol.ts).
 */
import type { Abi, Address } from "viem";
import type { Manifest } from "../deployment/manifest.js";

export type ProtocolKind = "hub-spoke" | "hub-accounted";

/** A Ponder contract: its ABI and, per chain name, its address (or addresses) and first block. */
export interface IndexedContract {
  abi: Abi;
  chain: Record<string, { address: Address | readonly Address[]; startBlock: number }>;
}

/** A Ponder block source: every `interval` blocks of each chain from `startBlock` ("latest": live only, no backfill). */
export interface IndexedBlocks {
  chain: Record<string, { startBlock: number | "latest" }>;
  interval: number;
}

export interface ProtocolIndexing<C extends Record<string, IndexedContract>, B extends Record<string, IndexedBlocks> = Record<never, IndexedBlocks>> {
  readonly kind: ProtocolKind;
  contracts(manifest: Manifest): C;
  blocks(manifest: Manifest): B;
}
