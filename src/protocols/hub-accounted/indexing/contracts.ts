/**
 * What the hub-accounted deployments of the manifest add to the Ponder app: the AccountedHub on the hub chain and
 * the AccountedSpoke on each spoke chain, every deployment's address under one contract name per kind (the handlers
 * tell deployments apart by the event's address: `protocolAt`).
 */
import type { Address } from "viem";
import { accountedHubAbi, accountedSpokeAbi } from "../../../../abis/index.js";
import type { HubAccountedManifest, Manifest } from "../../../deployment/manifest.js";

export function hubAccountedDeployments(manifest: Manifest): HubAccountedManifest[] {
  return manifest.protocols.filter((p) => p.protocol === "hub-accounted");
}

/**
 * The Ponder contracts for every hub-accounted deployment of `manifest`. Both names are always there (the handlers'
 * types come from the config), on no chain when nothing is deployed.
 */
export function hubAccountedContracts(manifest: Manifest) {
  const deployments = hubAccountedDeployments(manifest);
  const on = (chain: string) =>
    deployments.flatMap((p) => (p.contracts[chain] ? [{ address: p.contracts[chain]!.address, startBlock: p.contracts[chain]!.startBlock }] : []));
  const chains = (role: "hub" | "spoke"): Record<string, { address: Address[]; startBlock: number }> =>
    Object.fromEntries(
      manifest.chains
        .filter((c) => c.role === role && on(c.name).length > 0)
        .map((c) => [c.name, { address: on(c.name).map((x) => x.address), startBlock: Math.min(...on(c.name).map((x) => x.startBlock)) }]),
    );
  return {
    AccountedHub: { abi: accountedHubAbi, chain: chains("hub") },
    AccountedSpoke: { abi: accountedSpokeAbi, chain: chains("spoke") },
  };
}

/** The deployment a contract address belongs to (its name), by lower-case address. */
export function protocolAt(manifest: Manifest): (address: Address) => string {
  const names = new Map<string, string>();
  for (const p of hubAccountedDeployments(manifest)) for (const c of Object.values(p.contracts)) names.set(c.address.toLowerCase(), p.name);
  return (address) => {
    const name = names.get(address.toLowerCase());
    if (!name) throw new Error(`no hub-accounted deployment at ${address}`);
    return name;
  };
}

/**
 * The hub's blocks, live only (from the head at start, so the backfill never runs them), for the feed: health drifts
 * with no event, so each block values the book (AccountedWatch.ts). On no chain when nothing is deployed.
 */
export function hubAccountedBlocks(manifest: Manifest) {
  const hub = manifest.chains.find((c) => c.role === "hub")!;
  const deployed = hubAccountedDeployments(manifest).length > 0;
  return {
    AccountedWatch: { chain: deployed ? { [hub.name]: { startBlock: "latest" as const } } : ({} as Record<string, { startBlock: "latest" }>), interval: 1 },
  };
}
