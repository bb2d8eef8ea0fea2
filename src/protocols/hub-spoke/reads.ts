/**
 * The hub's state for many accounts in one batched read: Multicall3 (`allowFailure`, so one bad read
 * never sinks the rest), chunked to stay under a node's eth_call gas cap.
 */
import type { Address, ContractFunctionParameters } from "viem";
import { erc20Abi } from "viem";
import { hubAbi, multicall3Abi } from "../../../abis/index.js";
import { revertOf } from "../../chains/errors.js";
import { MULTICALL3_ADDRESS } from "../../chains/multicall.js";
import { accountData } from "../../health/health.js";
import type { Deployment } from "../../protocol/deployment.js";
import type { AccountView, LendingProtocol } from "../../recovery/protocol.js";

/** Calls per eth_call (plain storage reads): chunks run side by side and stay far under a node's gas cap. */
const CALLS_PER_CHUNK = 400;

type Call = ContractFunctionParameters;
type HubRead = Awaited<ReturnType<LendingProtocol["read"]>>;

async function multicall(d: Deployment, calls: Call[], blockTag: "latest" | "pending"): Promise<{ status: "success" | "failure"; result?: unknown; error?: Error }[]> {
  const reader = d.hubClients.public;
  const chunks: Call[][] = [];
  for (let i = 0; i < calls.length; i += CALLS_PER_CHUNK) chunks.push(calls.slice(i, i + CALLS_PER_CHUNK));
  const results = await Promise.all(
    chunks.map((chunk) => reader.multicall({ contracts: chunk, allowFailure: true, multicallAddress: MULTICALL3_ADDRESS, batchSize: 0, blockTag })),
  );
  return results.flat() as never;
}

export async function readHub(d: Deployment, accounts: readonly Address[], liquidator: Address, at: "latest" | "pending" = "latest"): Promise<HubRead> {
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
  // Positions, not healthFactor: the hub's health is recomputed from them with the hub's own math (equal to the
  // wei, src/health), which spares every account the hub's loop over all its markets' feeds.
  const perAccount = 1 + markets.length + debtAssets.length;
  const accountCalls: Call[] = accounts.flatMap((account): Call[] => [
    { address: hub, abi: hubAbi, functionName: "auctions", args: [account] },
    ...markets.map((m): Call => ({ address: hub, abi: hubAbi, functionName: "collateral", args: [account, m.eid, m.assetId] })),
    ...debtAssets.map((a): Call => ({ address: hub, abi: hubAbi, functionName: "debt", args: [account, a.id] })),
  ]);
  const reader = d.hubClients.public;
  const [results, gasPriceWei, block] = await Promise.all([multicall(d, [...marketCalls, ...accountCalls], at), reader.getGasPrice(), reader.getBlock()]);

  const need = <T>(i: number, what: string): T => {
    const r = results[i]!;
    if (r.status !== "success") throw new Error(`hub read failed: ${what}: ${r.error?.message ?? "reverted"}`);
    return r.result as T;
  };
  let i = 0;
  let number = need<bigint>(i++, "block number");
  let timestamp = need<bigint>(i++, "block timestamp");
  // The pending block's number and time are the node's guess; the latest block's are facts (see MarketView.block).
  if (at === "pending") ({ number, timestamp } = block);
  const [closeFactor, minBonus, maxBonus, auctionDuration, auctionTail] = need<readonly [bigint, bigint, bigint, number, number]>(i++, "auctionParams");
  // A price the hub refuses (StalePrice, InvalidPrice: Hub.priceWad reverts by name) or a feed that reverts
  // leaves its asset without a price: the accounts that hold or owe it cannot be valued (the hub's own kick,
  // take and healthFactor revert for them too) and wait, named in `unpriced`; everyone else goes on.
  const pricesWad = new Map<number, bigint>();
  const unusablePrices = new Map<number, string>();
  for (const a of assets) {
    const r = results[i++]!;
    if (r.status === "success") pricesWad.set(a.id, r.result as bigint);
    else unusablePrices.set(a.id, revertOf(r.error).message);
  }
  const decimals = new Map<number, number>();
  const thresholds = new Map<number, { ltv: bigint; liquidationThreshold: bigint }>();
  for (const a of assets) {
    const config = need<readonly unknown[]>(i++, `assets(${a.id})`);
    decimals.set(a.id, config[2] as number);
    thresholds.set(a.id, { ltv: config[4] as bigint, liquidationThreshold: config[5] as bigint });
  }
  const messageFeeWei = new Map<number, bigint>();
  for (const s of d.spokes) messageFeeWei.set(s.eid, need<bigint>(i++, `quoteSpokeMessage(${s.eid})`));
  const inventory = new Map<number, bigint>();
  for (const a of debtAssets) inventory.set(a.id, need<bigint>(i++, `inventory of asset ${a.id}`));

  const views = new Map<string, AccountView>();
  const unpriced = new Map<string, string>();
  for (const account of accounts) {
    const base = i;
    i += perAccount;
    // An account whose reads failed is left out: the engine retries it, the others go on.
    if (results.slice(base, base + perAccount).some((r) => r.status !== "success")) continue;
    const k0 = base + 1;
    const collaterals = markets.map((m, k) => ({ ...m, amount: results[k0 + k]!.result as bigint }));
    const debts = debtAssets.map((a, k) => ({ assetId: a.id, amount: results[k0 + markets.length + k]!.result as bigint }));
    const missing = [...new Set([...collaterals, ...debts].filter((p) => p.amount > 0n && !pricesWad.has(p.assetId)).map((p) => p.assetId))];
    if (missing.length > 0) {
      unpriced.set(account.toLowerCase(), missing.map((id) => `asset ${id}: ${unusablePrices.get(id)}`).join("; "));
      continue;
    }
    const [auctionId, startedAt, , active] = results[base]!.result as readonly [bigint, bigint, Address, boolean];
    const health = accountData(
      collaterals.map((c) => ({ amount: c.amount, priceWad: pricesWad.get(c.assetId) ?? 0n, decimals: decimals.get(c.assetId)!, ...thresholds.get(c.assetId)! })),
      debts.map((p) => ({ amount: p.amount, priceWad: pricesWad.get(p.assetId) ?? 0n, decimals: decimals.get(p.assetId)! })),
    );
    views.set(account.toLowerCase(), { account, healthFactor: health.healthFactor, collateralValue: health.collateralValue, debtValue: health.debtValue, auction: { id: auctionId, startedAt, active }, collaterals, debts });
  }
  return {
    market: {
      block: { number, timestamp },
      auction: { closeFactor, minBonus, maxBonus, auctionDuration: BigInt(auctionDuration), auctionTail: BigInt(auctionTail) },
      pricesWad,
      unusablePrices,
      decimals,
      messageFeeWei,
      inventory,
      gasPriceWei,
      blockGasLimit: block.gasLimit,
    },
    accounts: views,
    unpriced,
  };
}
