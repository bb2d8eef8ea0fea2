/**
 * A local multi-chain network: a hub chain and N spoke chains as anvil processes with distinct chain ids
 * and LayerZero endpoint ids, LayerZero and the protocol deployed and wired.
 */
import { join } from "node:path";
import { type AnvilInstance, startAnvil } from "../chains/anvil.js";
import type { Manifest } from "../deployment/manifest.js";
import { type DelivererOptions, PacketDeliverer, deliveryChains } from "../layerzero/deliverer.js";
import { devnetAccounts } from "./accounts.js";
import { type ChainToDeploy, deployProtocol } from "./deploy.js";
import { deployHubAccounted } from "./deploy-hub-accounted.js";

export const HUB_CHAIN_ID = 31_400;
export const HUB_EID = 40_400;

export interface NetworkOptions {
  spokes: number;
  /** Seconds per block once running; chains automine until then. */
  blockTime?: number;
  /** Keep each chain's state in DIR/<chainId>.json, so a chain can be stopped and restarted (restartChain). */
  stateDir?: string;
  /** Block gas limit per chain name ("hub", "spoke1", …); anvil's default when absent. */
  gasLimits?: Partial<Record<string, bigint>>;
  /** Deploy the hub-accounted money market too (contracts/hub-accounted/), beside the reference protocol. */
  hubAccounted?: boolean;
}

export interface Network {
  manifest: Manifest;
  anvils: AnvilInstance[];
  stop(): Promise<void>;
  /** Stops chain `index` (0 is the hub); with a stateDir it keeps its state for startChain. */
  stopChain(index: number): Promise<void>;
  /** Starts chain `index` again on the same port, from its saved state. */
  startChain(index: number): Promise<void>;
}

export function chainPlan(spokes: number, ports: number[]): ChainToDeploy[] {
  return Array.from({ length: spokes + 1 }, (_, i) => ({
    name: i === 0 ? "hub" : `spoke${i}`,
    role: i === 0 ? ("hub" as const) : ("spoke" as const),
    chainId: HUB_CHAIN_ID + i,
    eid: HUB_EID + i,
    rpcUrl: `http://127.0.0.1:${ports[i]}`,
  }));
}

export async function startNetwork(options: NetworkOptions): Promise<Network> {
  if (!Number.isInteger(options.spokes) || options.spokes < 1) throw new RangeError("spokes must be an integer >= 1");
  const anvils: AnvilInstance[] = [];
  const stop = async () => {
    await Promise.all(anvils.map((a) => a.stop()));
  };
  const chainOptions = (i: number) => ({
    chainId: HUB_CHAIN_ID + i,
    autoImpersonate: true,
    stateFile: options.stateDir ? join(options.stateDir, `${HUB_CHAIN_ID + i}.json`) : undefined,
    gasLimit: options.gasLimits?.[i === 0 ? "hub" : `spoke${i}`],
  });
  try {
    for (let i = 0; i <= options.spokes; i++) anvils.push(await startAnvil(chainOptions(i)));
    const plan = chainPlan(options.spokes, anvils.map((a) => a.port));
    const deployed = await deployProtocol(plan);
    const manifest: Manifest = {
      version: 1,
      createdAt: new Date().toISOString(),
      accounts: [],
      protocols: [],
      ...deployed,
    };
    if (options.hubAccounted) manifest.protocols.push(await deployHubAccounted(manifest.chains));
    return {
      manifest,
      anvils,
      stop,
      stopChain: (i) => anvils[i]!.stop(),
      async startChain(i) {
        anvils[i] = await startAnvil({ ...chainOptions(i), port: anvils[i]!.port });
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export function createDevnetDeliverer(
  manifest: Manifest,
  options: Partial<Omit<DelivererOptions, "chains" | "verifier" | "executor">> = {},
): PacketDeliverer {
  return new PacketDeliverer({
    chains: deliveryChains(manifest),
    verifier: devnetAccounts.relayer,
    executor: devnetAccounts.relayer,
    ...options,
  });
}
