/**
 * The plain Ponder app of the indexing-throughput benchmark: the same contracts on the same chains from the
 * same manifest (SALVAGE_MANIFEST) as the salvage indexer (../../ponder.config.ts), PostgreSQL from DATABASE_URL,
 * and handlers (src/index.ts) that insert each event into one table with no logic. Run with `ponder --root bench/plain`.
 */
import { createConfig } from "ponder";
import { endpointV2Abi, hubAbi, priceFeedAbi, spokeAbi } from "../../abis/index.js";
import { loadIndexerManifest } from "../../src/indexer/manifest.js";

const { manifest, hub, spokes } = loadIndexerManifest();
if (!process.env.DATABASE_URL) throw new Error("the plain benchmark app needs DATABASE_URL (PostgreSQL)");

const chains = Object.fromEntries(
  manifest.chains.map((c) => [c.name, { id: c.chainId, rpc: c.rpcUrl, pollingInterval: 100, disableCache: true, ethGetLogsBlockRange: 10_000 }]),
) as Record<string, { id: number; rpc: string; pollingInterval: number; disableCache: boolean }>;

export default createConfig({
  database: { kind: "postgres", connectionString: process.env.DATABASE_URL },
  chains,
  contracts: {
    Hub: { abi: hubAbi, chain: { [hub.name]: { address: hub.contracts.hub!, startBlock: hub.startBlock } } },
    Spoke: { abi: spokeAbi, chain: Object.fromEntries(spokes.map((s) => [s.name, { address: s.contracts.spoke!, startBlock: s.startBlock }])) },
    PriceFeed: { abi: priceFeedAbi, chain: { [hub.name]: { address: Object.values(hub.feeds), startBlock: hub.startBlock } } },
    EndpointV2: {
      abi: endpointV2Abi,
      chain: Object.fromEntries(manifest.chains.map((c) => [c.name, { address: c.contracts.endpoint, startBlock: c.startBlock }])),
    },
  },
});
