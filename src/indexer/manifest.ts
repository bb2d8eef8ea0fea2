/**
 * The deployment manifest as the indexer sees it: read once from `SALVAGE_MANIFEST` (default
 * `.devnet/manifest.json`), plus the lookups the indexing functions need (feed address → asset id,
 * chain name → endpoint id, asset id → feed decimals).
 */
import { resolve } from "node:path";
import type { Address } from "viem";
import { type Manifest, type ManifestAsset, type ManifestChain, hubChain, readManifest, spokeChains } from "../deployment/manifest.js";

export const DEFAULT_MANIFEST_PATH = ".devnet/manifest.json";

export interface IndexerManifest {
  path: string;
  manifest: Manifest;
  hub: ManifestChain;
  spokes: ManifestChain[];
  /** Lower-case feed address on the hub chain → asset id. */
  assetIdByFeed: Map<string, number>;
  assetById: Map<number, ManifestAsset>;
  chainByName: Map<string, ManifestChain>;
}

let cached: IndexerManifest | undefined;

export function manifestPath(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.SALVAGE_MANIFEST || DEFAULT_MANIFEST_PATH);
}

export function loadIndexerManifest(path = manifestPath()): IndexerManifest {
  if (cached && cached.path === path) return cached;
  const manifest = readManifest(path);
  const hub = hubChain(manifest);
  const assetIdByFeed = new Map<string, number>();
  for (const [id, feed] of Object.entries(hub.feeds)) assetIdByFeed.set((feed as Address).toLowerCase(), Number(id));
  cached = {
    path,
    manifest,
    hub,
    spokes: spokeChains(manifest),
    assetIdByFeed,
    assetById: new Map(manifest.assets.map((a) => [a.id, a])),
    chainByName: new Map(manifest.chains.map((c) => [c.name, c])),
  };
  return cached;
}

/** The hub chain's id. */
export const hubChainId = (): number => loadIndexerManifest().hub.chainId;

/** The chain id of a LayerZero endpoint id (0 for an eid not in the manifest). */
export function chainIdOfEid(eid: number): number {
  return loadIndexerManifest().manifest.chains.find((c) => c.eid === eid)?.chainId ?? 0;
}

/** The LayerZero endpoint id of a manifest chain, by name. */
export function eidOfChain(name: string): number {
  const chain = loadIndexerManifest().chainByName.get(name);
  if (!chain) throw new Error(`chain ${name} is not in the manifest`);
  return chain.eid;
}
