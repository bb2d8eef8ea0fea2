/** viem clients tuned for chains on loopback: no block-number cache, fast receipt polling. */
import {
  type Account,
  type Chain,
  type PublicClient,
  type Transport,
  type WalletClient,
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
} from "viem";
import { MULTICALL3_ADDRESS } from "./multicall.js";

export interface ChainEndpoint {
  chainId: number;
  rpcUrl: string;
  name?: string;
}

export function toViemChain({ chainId, rpcUrl, name }: ChainEndpoint): Chain {
  return defineChain({
    id: chainId,
    name: name ?? `chain-${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
    // Multicall3's canonical address (the devnet installs it there): viem's multicall uses it.
    contracts: { multicall3: { address: MULTICALL3_ADDRESS } },
  });
}

export interface ChainClients {
  chain: Chain;
  public: PublicClient<Transport, Chain>;
  /**
   * The same node through a transport that sends the requests made in one tick as one JSON-RPC batch
   * (viem's http batching): for bursts of independent requests, such as a round's signed transactions.
   */
  batched: PublicClient<Transport, Chain>;
  wallet(account: Account | `0x${string}`): WalletClient<Transport, Chain, Account>;
}

export function createChainClients(endpoint: ChainEndpoint, pollingInterval = 50): ChainClients {
  const chain = toViemChain(endpoint);
  const transport = http(endpoint.rpcUrl, { retryCount: 3, retryDelay: 100 });
  const publicClient = createPublicClient({ chain, transport, pollingInterval, cacheTime: 0 });
  return {
    chain,
    public: publicClient,
    batched: createPublicClient({ chain, transport: http(endpoint.rpcUrl, { retryCount: 3, retryDelay: 100, batch: { batchSize: 1_000, wait: 0 } }), pollingInterval, cacheTime: 0 }),
    wallet: (account) =>
      createWalletClient({ chain, transport, account, pollingInterval, cacheTime: 0 }) as WalletClient<Transport, Chain, Account>,
  };
}
