/**
 * One Ponder app over every chain of a deployment. The deployment comes from a manifest
 * (src/deployment/manifest.ts): `SALVAGE_MANIFEST`, default `.devnet/manifest.json` (what `salvage devnet`
 * writes). Real networks use the same manifest shape, written by hand; parsing names any bad field.
 *
 * Indexed: each lending protocol's contracts and block sources, as its folder says (src/protocols/<name>/indexing/,
 * one ProtocolIndexing each: src/indexer/protocol.ts): the
 * reference protocol's Hub, Spokes and the hub chain's price feeds; the hub-accounted market's AccountedHub and
 * AccountedSpokes when the manifest deploys it. LayerZero's EndpointV2 on every chain (packet lifecycle). And every
 * block from the head at start, for the pathways' stall watch (src/indexer/pathway.ts) and the hub's end-of-block
 * price moves (src/protocols/hub-spoke/indexing/price-moves.ts).
 *
 * Database: PostgreSQL when DATABASE_URL is set, else PGlite. Devnet chains reuse chain ids across runs,
 * so for loopback RPCs the RPC cache is disabled and PGlite gets a directory per deployment.
 */
import { createHash } from "node:crypto";
import { createConfig } from "ponder";
import { endpointV2Abi } from "./abis/index.js";
import { isLoopbackUrl } from "./src/deployment/manifest.js";
import { HEALTH_SQL_SESSION_OPTIONS } from "./src/protocols/hub-spoke/indexing/health-sql.js";
import { loadIndexerManifest } from "./src/indexer/manifest.js";
import { hubAccountedIndexing } from "./src/protocols/hub-accounted/indexing/index.js";
import { hubSpokeIndexing } from "./src/protocols/hub-spoke/indexing/index.js";

const { manifest } = loadIndexerManifest();

const local = manifest.chains.every((c) => isLoopbackUrl(c.rpcUrl));

function database() {
  // Session settings the health statements are planned with (src/protocols/hub-spoke/indexing/health-sql.ts).
  if (process.env.DATABASE_URL) return { kind: "postgres" as const, connectionString: process.env.DATABASE_URL, poolConfig: { options: HEALTH_SQL_SESSION_OPTIONS } };
  if (process.env.SALVAGE_PGLITE_DIR) return { kind: "pglite" as const, directory: process.env.SALVAGE_PGLITE_DIR };
  if (!local) return { kind: "pglite" as const };
  // A devnet redeploys the same chain ids with new contents: one PGlite directory per deployment.
  const id = createHash("sha256")
    .update(JSON.stringify(manifest.chains.map((c) => [c.chainId, c.contracts.endpoint, c.contracts.hub ?? c.contracts.spoke, c.startBlock])))
    .update(manifest.createdAt)
    .digest("hex")
    .slice(0, 12);
  return { kind: "pglite" as const, directory: `.ponder/pglite-devnet-${id}` };
}

const chains = Object.fromEntries(
  manifest.chains.map((c) => [
    c.name,
    {
      id: c.chainId,
      rpc: c.rpcUrl,
      pollingInterval: isLoopbackUrl(c.rpcUrl) ? 100 : 1_000,
      // Devnet chain ids are reused by every run: cached RPC results from an earlier devnet would be wrong.
      disableCache: isLoopbackUrl(c.rpcUrl),
      ...(isLoopbackUrl(c.rpcUrl) ? { ethGetLogsBlockRange: 10_000 } : {}),
    },
  ]),
) as Record<string, { id: number; rpc: string; pollingInterval: number; disableCache: boolean }>;

export default createConfig({
  database: database(),
  chains,
  contracts: {
    // Each lending protocol, behind its folder in src/protocols/ (its handlers live there too).
    ...hubSpokeIndexing.contracts(manifest),
    ...hubAccountedIndexing.contracts(manifest),
    EndpointV2: {
      abi: endpointV2Abi,
      chain: Object.fromEntries(manifest.chains.map((c) => [c.name, { address: c.contracts.endpoint, startBlock: c.startBlock }])),
    },
  },
  // Every block of every chain from the head at start (so the backfill never runs it): the pathways' stall watch
  // (src/indexer/pathway.ts), and on the hub the end of the block, where its price moves are recomputed once
  // (src/protocols/hub-spoke/indexing/price-moves.ts).
  blocks: {
    PathwayWatch: { chain: Object.fromEntries(manifest.chains.map((c) => [c.name, { startBlock: "latest" as const }])), interval: 1 },
    // The hub-accounted market's feed: its health drifts with no event (src/protocols/hub-accounted/indexing/AccountedWatch.ts).
    ...hubSpokeIndexing.blocks(manifest),
    ...hubAccountedIndexing.blocks(manifest),
  },
});
