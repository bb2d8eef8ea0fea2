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
  wallet(account: Account | `0x${string}`): WalletClient<Transport, Chain, Account>;
}

export function createChainClients(endpoint: ChainEndpoint, pollingInterval = 50): ChainClients {
  const chain = toViemChain(endpoint);
  const transport = http(endpoint.rpcUrl, { retryCount: 3, retryDelay: 100 });
  const publicClient = createPublicClient({ chain, transport, pollingInterval, cacheTime: 0 });
  return {
    chain,
    public: publicClient,
    wallet: (account) =>
      createWalletClient({ chain, transport, account, pollingInterval, cacheTime: 0 }) as WalletClient<Transport, Chain, Account>,
  };
}
