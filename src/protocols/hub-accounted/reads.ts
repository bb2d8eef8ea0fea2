/**
 * The AccountedHub's state for many accounts in one batched read (Multicall3, `allowFailure`, chunked): market
 * terms, prices, borrow indexes and each account's positions; health is recomputed with the hub's own math at the
 * block's timestamp (debt grows every second: src/protocols/hub-accounted/math.ts).
 */
import type { Address } from "viem";
import { erc20Abi } from "viem";
import { accountedHubAbi, multicall3Abi } from "../../../abis/index.js";
import { MULTICALL3_ADDRESS } from "../../chains/multicall.js";
import { type Call, Results, assetTermCalls, assetTerms, multicallAt } from "../hub-reads.js";
import { accountData } from "../../health/health.js";
import type { Deployment } from "../../protocol/deployment.js";
import type { AccountView, LendingProtocol } from "../../recovery/protocol.js";
import type { AccountedContracts } from "./contracts.js";
import { type BorrowRate, closeFactorFor, debtOf, indexAt } from "./math.js";

type Read = Awaited<ReturnType<LendingProtocol["read"]>>;

export async function readAccounted(d: Deployment, c: AccountedContracts, accounts: readonly Address[], liquidator: Address, at: "latest" | "pending" = "latest"): Promise<Read> {
  const hub = c.hub;
  const assets = d.manifest.assets;
  const markets = d.spokes.filter((s) => c.entry.contracts[s.name]).flatMap((s) => d.collateralAssets.map((a) => ({ eid: s.eid, assetId: a.id })));
  const debtAssets = d.debtAssets;
  const eids = [...new Set(markets.map((m) => m.eid))];
  const marketCalls: Call[] = [
    { address: MULTICALL3_ADDRESS, abi: multicall3Abi, functionName: "getBlockNumber" },
    { address: MULTICALL3_ADDRESS, abi: multicall3Abi, functionName: "getCurrentBlockTimestamp" },
    { address: hub, abi: accountedHubAbi, functionName: "liquidationParams" },
    ...assetTermCalls(hub, accountedHubAbi, assets.map((a) => a.id)),
    ...debtAssets.map((a): Call => ({ address: hub, abi: accountedHubAbi, functionName: "rates", args: [a.id] })),
    ...eids.map((eid): Call => ({ address: hub, abi: accountedHubAbi, functionName: "quoteWithdraw", args: [eid] })),
    ...debtAssets.map((a): Call => ({ address: d.hub.tokens[String(a.id)]!, abi: erc20Abi, functionName: "balanceOf", args: [liquidator] })),
  ];
  const perAccount = markets.length + debtAssets.length;
  const accountCalls: Call[] = accounts.flatMap((account): Call[] => [
    ...markets.map((m): Call => ({ address: hub, abi: accountedHubAbi, functionName: "collateral", args: [account, m.eid, m.assetId] })),
    ...debtAssets.map((a): Call => ({ address: hub, abi: accountedHubAbi, functionName: "scaledDebt", args: [account, a.id] })),
  ]);
  const reader = d.hubClients.public;
  const [results, gasPriceWei, block] = await Promise.all([multicallAt(reader, [...marketCalls, ...accountCalls], at), reader.getGasPrice(), reader.getBlock()]);
  const r = new Results(results);
  let number = r.need<bigint>("block number");
  let timestamp = r.need<bigint>("block timestamp");
  // The pending block's number and time are the node's guess; the latest block's are facts. Debt valued at the
  // latest block's time is at most a block's interest short: a pending read never overstates what is owed.
  if (at === "pending") ({ number, timestamp } = block);
  const [closeFactor, fullCloseBelowHf, bonus] = r.need<readonly [bigint, bigint, bigint]>("liquidationParams");
  const { pricesWad, unusablePrices, decimals, thresholds } = assetTerms(r, assets.map((a) => a.id));
  const indexes = new Map<number, bigint>();
  for (const a of debtAssets) {
    const [index, ratePerSecond, lastUpdate] = r.need<readonly [bigint, bigint, bigint]>(`rates(${a.id})`);
    const rate: BorrowRate = { index, ratePerSecond, lastUpdate: BigInt(lastUpdate) };
    indexes.set(a.id, indexAt(rate, timestamp));
  }
  const messageFeeWei = new Map<number, bigint>();
  for (const eid of eids) messageFeeWei.set(eid, r.need<bigint>(`quoteWithdraw(${eid})`));
  const inventory = new Map<number, bigint>();
  for (const a of debtAssets) inventory.set(a.id, r.need<bigint>(`inventory of asset ${a.id}`));

  const views = new Map<string, AccountView>();
  const unpriced = new Map<string, string>();
  for (const account of accounts) {
    const base = r.index;
    r.index += perAccount;
    if (results.slice(base, base + perAccount).some((r) => r.status !== "success")) continue;
    const collaterals = markets.map((m, k) => ({ ...m, amount: results[base + k]!.result as bigint }));
    const debts = debtAssets.map((a, k) => ({ assetId: a.id, amount: debtOf(results[base + markets.length + k]!.result as bigint, indexes.get(a.id)!) }));
    const missing = [...new Set([...collaterals, ...debts].filter((p) => p.amount > 0n && !pricesWad.has(p.assetId)).map((p) => p.assetId))];
    if (missing.length > 0) {
      unpriced.set(account.toLowerCase(), missing.map((id) => `asset ${id}: ${unusablePrices.get(id)}`).join("; "));
      continue;
    }
    const health = accountData(
      collaterals.map((p) => ({ amount: p.amount, priceWad: pricesWad.get(p.assetId) ?? 0n, decimals: decimals.get(p.assetId)!, ...thresholds.get(p.assetId)! })),
      debts.map((p) => ({ amount: p.amount, priceWad: pricesWad.get(p.assetId) ?? 0n, decimals: decimals.get(p.assetId)! })),
    );
    views.set(account.toLowerCase(), {
      account,
      healthFactor: health.healthFactor,
      collateralValue: health.collateralValue,
      debtValue: health.debtValue,
      auction: { id: 0n, startedAt: 0n, active: false },
      terms: { closeFactor: closeFactorFor(health.healthFactor, { closeFactor, fullCloseBelowHf, bonus }), bonus },
      collaterals,
      debts,
    });
  }
  return {
    market: {
      block: { number, timestamp },
      // No auction: the fixed bonus at every age (the coordinator plans from each account's `terms`).
      auction: { closeFactor, minBonus: bonus, maxBonus: bonus, auctionDuration: 1n, auctionTail: 0n },
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
