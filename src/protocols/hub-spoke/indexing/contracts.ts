/**
 * What the reference protocol adds to the Ponder app: its Hub on the hub chain, its Spokes on the spoke chains, and
 * the hub chain's price feeds the Hub reads (their prices are shared: the hub-accounted market reads the same feeds
 * from the `price` table these handlers keep).
 */
import { hubAbi, priceFeedAbi, spokeAbi } from "../../../../abis/index.js";
import { type Manifest, hubChain, spokeChains } from "../../../deployment/manifest.js";

export function hubSpokeContracts(manifest: Manifest) {
  const hub = hubChain(manifest);
  return {
    Hub: {
      abi: hubAbi,
      chain: { [hub.name]: { address: hub.contracts.hub!, startBlock: hub.startBlock } },
    },
    Spoke: {
      abi: spokeAbi,
      chain: Object.fromEntries(spokeChains(manifest).map((s) => [s.name, { address: s.contracts.spoke!, startBlock: s.startBlock }])),
    },
    PriceFeed: {
      abi: priceFeedAbi,
      chain: { [hub.name]: { address: Object.values(hub.feeds), startBlock: hub.startBlock } },
    },
  };
}
