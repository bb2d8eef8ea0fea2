/**
 * The hub's state for many accounts in one batched read: Multicall3 (`allowFailure`, so one bad read
 * never sinks the rest), chunked to stay under a node's eth_call gas cap.
 */
import type { Address } from "viem";
import { erc20Abi } from "viem";
import { hubAbi, multicall3Abi } from "../../../abis/index.js";
import { MULTICALL3_ADDRESS } from "../../chains/multicall.js";
import { type Call, Results, assetTermCalls, assetTerms, multicallAt } from "../hub-reads.js";
import { accountData } from "../../health/health.js";
import type { Deployment } from "../../protocol/deployment.js";
import type { AccountView, LendingProtocol } from "../../recovery/protocol.js";

type HubRead = Awaited<ReturnType<LendingProtocol["read"]>>;

export async function readHub(d: Deployment, accounts: readonly Address[], liquidator: Address, at: "latest" | "pending" = "latest"): Promise<HubRead> {
  const hub = d.hubAddress;
  const assets = d.manifest.assets;
  const markets = d.spokes.flatMap((s) => d.collateralAssets.map((a) => ({ eid: s.eid, assetId: a.id })));
  const debtAssets = d.debtAssets;

  const marketCalls: Call[] = [
    { address: MULTICALL3_ADDRESS, abi: multicall3Abi, functionName: "getBlockNumber" },
    { address: MULTICALL3_ADDRESS, abi: multicall3Abi, functionName: "getCurrentBlockTimestamp" },
    { address: hub, abi: hubAbi, functionName: "auctionParams" },
    ...assetTermCalls(hub, hubAbi, assets.map((a) => a.id)),
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
  const [results, gasPriceWei, block] = await Promise.all([multicallAt(reader, [...marketCalls, ...accountCalls], at), reader.getGasPrice(), reader.getBlock()]);
  const r = new Results(results);
  let number = r.need<bigint>("block number");
  let timestamp = r.need<bigint>("block timestamp");
  // The pending block's number and time are the node's guess; the latest block's are facts (see MarketView.block).
  if (at === "pending") ({ number, timestamp } = block);
  const [closeFactor, minBonus, maxBonus, auctionDuration, auctionTail] = r.need<readonly [bigint, bigint, bigint, number, number]>("auctionParams");
  const { pricesWad, unusablePrices, decimals, thresholds } = assetTerms(r, assets.map((a) => a.id));
  const messageFeeWei = new Map<number, bigint>();
  for (const s of d.spokes) messageFeeWei.set(s.eid, r.need<bigint>(`quoteSpokeMessage(${s.eid})`));
  const inventory = new Map<number, bigint>();
  for (const a of debtAssets) inventory.set(a.id, r.need<bigint>(`inventory of asset ${a.id}`));

  const views = new Map<string, AccountView>();
  const unpriced = new Map<string, string>();
  for (const account of accounts) {
    const base = r.index;
    r.index += perAccount;
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
