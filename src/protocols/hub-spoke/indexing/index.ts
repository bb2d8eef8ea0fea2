/**
 * The reference protocol's indexing (src/indexer/protocol.ts): the Hub, the Spokes and the hub chain's price feeds
 * (contracts.ts; handlers hub.ts, spoke.ts, feeds.ts), its tables in tables.ts. No block source of its own: health
 * changes only with an event, and is recomputed by the handlers (recompute.ts, and price-moves.ts at the end of a
 * block whose prices moved, on the indexer's shared PathwayWatch blocks).
 */
import type { ProtocolIndexing } from "../../../indexer/protocol.js";
import { hubSpokeContracts } from "./contracts.js";

export const hubSpokeIndexing: ProtocolIndexing<ReturnType<typeof hubSpokeContracts>> = {
  kind: "hub-spoke",
  contracts: hubSpokeContracts,
  blocks: () => ({}),
};
