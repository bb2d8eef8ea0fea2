/** Where a hub-accounted deployment's contracts are: its entry in the manifest's `protocols`, by name. */
import type { Address } from "viem";
import type { HubAccountedManifest } from "../../deployment/manifest.js";
import type { Deployment } from "../../protocol/deployment.js";

export interface AccountedContracts {
  entry: HubAccountedManifest;
  hub: Address;
  /** The AccountedSpoke on the chain of `eid`. */
  spoke(eid: number): Address;
}

/** The hub-accounted deployment named `name` (the first one when absent); an error names what is missing. */
export function accountedContracts(d: Deployment, name?: string): AccountedContracts {
  const entry = d.manifest.protocols.find((p) => p.protocol === "hub-accounted" && (name === undefined || p.name === name));
  if (!entry) throw new Error(`the manifest has no hub-accounted protocol${name ? ` named ${name}` : ""} (protocols[])`);
  const spokes = new Map(d.spokes.flatMap((s) => (entry.contracts[s.name] ? [[s.eid, entry.contracts[s.name]!.address] as const] : [])));
  return {
    entry,
    hub: entry.contracts[d.hub.name]!.address,
    spoke(eid) {
      const address = spokes.get(eid);
      if (!address) throw new Error(`hub-accounted protocol ${entry.name} has no spoke on eid ${eid}`);
      return address;
    },
  };
}
