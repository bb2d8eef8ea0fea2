/**
 * The hub's state for many accounts in one batched read: Multicall3 (`allowFailure`, so one bad read
 * never sinks the rest), chunked to stay under a node's eth_call gas cap.
 */
import type { Address, ContractFunctionParameters } from "viem";
import { erc20Abi } from "viem";
import { hubAbi, multicall3Abi } from "../../../abis/index.js";
import { MULTICALL3_ADDRESS } from "../../chains/multicall.js";
import type { Deployment } from "../../protocol/deployment.js";
import type { AccountView, MarketView } from "../../recovery/protocol.js";

/** Calls per eth_call: healthFactor reads every market's feed, so keep a chunk well under 30M gas. */
const CALLS_PER_CHUNK = 400;

type Call = ContractFunctionParameters;

async function multicall(d: Deployment, calls: Call[], blockNumber?: bigint): Promise<{ status: "success" | "failure"; result?: unknown; error?: Error }[]> {
  const reader = d.hubClients.public;
  const chunks: Call[][] = [];
  for (let i = 0; i < calls.length; i += CALLS_PER_CHUNK) chunks.push(calls.slice(i, i + CALLS_PER_CHUNK));
  const results = await Promise.all(
    chunks.map((chunk) => reader.multicall({ contracts: chunk, allowFailure: true, multicallAddress: MULTICALL3_ADDRESS, batchSize: 0, blockNumber })),
  );
  return results.flat() as never;
}

export async function readHub(d: Deployment, accounts: readonly Address[], liquidator: Address): Promise<{ market: MarketView; accounts: Map<string, AccountView> }> {
  const hub = d.hubAddress;
  const assets = d.manifest.assets;
  const markets = d.spokes.flatMap((s) => d.collateralAssets.map((a) => ({ eid: s.eid, assetId: a.id })));
  const debtAssets = d.debtAssets;

  const marketCalls: Call[] = [
    { address: MULTICALL3_ADDRESS, abi: multicall3Abi, functionName: "getBlockNumber" },
    { address: MULTICALL3_ADDRESS, abi: multicall3Abi, functionName: "getCurrentBlockTimestamp" },
    { address: hub, abi: hubAbi, functionName: "auctionParams" },
    ...assets.map((a): Call => ({ address: hub, abi: hubAbi, functionName: "priceWad", args: [a.id] })),
    ...assets.map((a): Call => ({ address: hub, abi: hubAbi, functionName: "assets", args: [a.id] })),
    ...d.spokes.map((s): Call => ({ address: hub, abi: hubAbi, functionName: "quoteSpokeMessage", args: [s.eid] })),
    ...debtAssets.map((a): Call => ({ address: d.hub.tokens[String(a.id)]!, abi: erc20Abi, functionName: "balanceOf", args: [liquidator] })),
  ];
  const perAccount = 2 + markets.length + debtAssets.length;
  const accountCalls: Call[] = accounts.flatMap((account): Call[] => [
    { address: hub, abi: hubAbi, functionName: "healthFactor", args: [account] },
    { address: hub, abi: hubAbi, functionName: "auctions", args: [account] },
    ...markets.map((m): Call => ({ address: hub, abi: hubAbi, functionName: "collateral", args: [account, m.eid, m.assetId] })),
    ...debtAssets.map((a): Call => ({ address: hub, abi: hubAbi, functionName: "debt", args: [account, a.id] })),
  ]);
  const reader = d.hubClients.public;
  const [results, gasPriceWei, block] = await Promise.all([multicall(d, [...marketCalls, ...accountCalls]), reader.getGasPrice(), reader.getBlock()]);

  const need = <T>(i: number, what: string): T => {
    const r = results[i]!;
    if (r.status !== "success") throw new Error(`hub read failed: ${what}: ${r.error?.message ?? "reverted"}`);
    return r.result as T;
  };
  let i = 0;
  const number = need<bigint>(i++, "block number");
  const timestamp = need<bigint>(i++, "block timestamp");
  const [closeFactor, minBonus, maxBonus, auctionDuration, auctionTail] = need<readonly [bigint, bigint, bigint, number, number]>(i++, "auctionParams");
  // A feed that reverts leaves its asset without a price: the accounts that hold it cannot be read (the hub's
  // healthFactor reverts too) and wait; everyone else goes on.
  const pricesWad = new Map<number, bigint>();
  for (const a of assets) {
    const r = results[i++]!;
    if (r.status === "success") pricesWad.set(a.id, r.result as bigint);
  }
  const decimals = new Map<number, number>();
  for (const a of assets) decimals.set(a.id, need<readonly unknown[]>(i++, `assets(${a.id})`)[2] as number);
  const messageFeeWei = new Map<number, bigint>();
  for (const s of d.spokes) messageFeeWei.set(s.eid, need<bigint>(i++, `quoteSpokeMessage(${s.eid})`));
  const inventory = new Map<number, bigint>();
  for (const a of debtAssets) inventory.set(a.id, need<bigint>(i++, `inventory of asset ${a.id}`));

  const views = new Map<string, AccountView>();
  for (const account of accounts) {
    const base = i;
    i += perAccount;
    // An account whose reads failed is left out: the engine retries it, the others go on.
    if (results.slice(base, base + perAccount).some((r) => r.status !== "success")) continue;
    const holds = (assetId: number, amount: bigint) => amount > 0n && !pricesWad.has(assetId);
    const k0 = base + 2;
    if (markets.some((m, k) => holds(m.assetId, results[k0 + k]!.result as bigint))) continue;
    if (debtAssets.some((a, k) => holds(a.id, results[k0 + markets.length + k]!.result as bigint))) continue;
    const [auctionId, startedAt, , active] = results[base + 1]!.result as readonly [bigint, bigint, Address, boolean];
    views.set(account.toLowerCase(), {
      account,
      healthFactor: results[base]!.result as bigint,
      auction: { id: auctionId, startedAt, active },
      collaterals: markets.map((m, k) => ({ ...m, amount: results[base + 2 + k]!.result as bigint })),
      debts: debtAssets.map((a, k) => ({ assetId: a.id, amount: results[base + 2 + markets.length + k]!.result as bigint })),
    });
  }
  return {
    market: {
      block: { number, timestamp },
      auction: { closeFactor, minBonus, maxBonus, auctionDuration: BigInt(auctionDuration), auctionTail: BigInt(auctionTail) },
      pricesWad,
      decimals,
      messageFeeWei,
      inventory,
      gasPriceWei,
      blockGasLimit: block.gasLimit,
    },
    accounts: views,
  };
}
