/**
 * The hub-accounted market's indexing (src/indexer/protocol.ts): every deployment's AccountedHub and AccountedSpokes
 * (contracts.ts; handlers AccountedHub.ts, AccountedSpoke.ts), the hub's live blocks for the feed (AccountedWatch.ts:
 * debt accrues interest, so health crosses 1 with no event), its tables in schema.ts.
 */
import type { ProtocolIndexing } from "../../../indexer/protocol.js";
import { hubAccountedBlocks, hubAccountedContracts } from "./contracts.js";

export const hubAccountedIndexing: ProtocolIndexing<ReturnType<typeof hubAccountedContracts>, ReturnType<typeof hubAccountedBlocks>> = {
  kind: "hub-accounted",
  contracts: hubAccountedContracts,
  blocks: hubAccountedBlocks,
};
