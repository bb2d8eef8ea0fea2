/**
 * The hub-accounted deployments' answers in the salvage GraphQL's own types (src/api/salvage-graphql.ts): the same
 * AtRiskPage and OpportunityPage, each row naming its protocol. Called with the request's snapshot open.
 */
import type { Address } from "viem";
import { REFERENCE_PROTOCOL } from "../../deployment/manifest.js";
import { chainIdOfEid, hubChainId, loadIndexerManifest } from "../../indexer/manifest.js";
import { type AtRiskArgs, QueryError, decodeCursor, encodeCursor } from "../queries.js";
import { type Snapshot, asOf } from "../snapshot.js";
import { accountedBook } from "./book.js";
import { type AccountedHealth, accountedOpportunities, byHealth } from "../../protocols/hub-accounted/valuation.js";
import { hubAccountedDeployments } from "../../protocols/hub-accounted/indexing/contracts.js";


/** Every protocol the index serves: the reference, then the manifest's `protocols` by name. */
export function protocolsJson(): { name: string; kind: string }[] {
  return [{ name: REFERENCE_PROTOCOL, kind: "hub-spoke" }, ...hubAccountedDeployments(loadIndexerManifest().manifest).map((p) => ({ name: p.name, kind: p.protocol }))];
}

/** The hub-accounted deployment `protocol` names; undefined for the reference protocol; a QueryError for an unknown name. */
export function accountedProtocol(protocol: string | null | undefined): string | undefined {
  if (protocol == null || protocol === REFERENCE_PROTOCOL) return undefined;
  if (hubAccountedDeployments(loadIndexerManifest().manifest).some((p) => p.name === protocol)) return protocol;
  throw new QueryError(`protocol must be one of ${protocolsJson().map((p) => p.name).join(", ")}, got ${JSON.stringify(protocol.slice(0, 40))}`, "protocol");
}

const s = (v: bigint) => v.toString();

function healthJson(h: AccountedHealth, snapshot: Snapshot, assets: Map<number, { decimals: number }>) {
  return {
    protocol: h.protocol,
    address: h.account,
    healthFactor: s(h.healthFactor),
    collateralValue: s(h.collateralValue),
    thresholdValue: s(h.thresholdValue),
    borrowPower: s(h.borrowPower),
    debtValue: s(h.debtValue),
    dominantCollateralAssetId: h.dominantCollateralAssetId,
    dominantCollateral: h.dominantCollateralAssetId === null ? null : { assetId: h.dominantCollateralAssetId, symbol: symbolOf(h.dominantCollateralAssetId), decimals: assets.get(h.dominantCollateralAssetId)?.decimals ?? 18 },
    // The reference protocol's envelope figures are not computed for this protocol (yet).
    liquidationPriceWad: null,
    shockWad: null,
    priceDropToLiquidationWad: null,
    updatedBlock: s(snapshot.hub?.number ?? 0n),
    updatedAt: s(snapshot.hub?.timestamp ?? 0n),
    priceStale: h.unusablePriceAssetIds.length > 0,
    unusablePrices: [],
    account: null,
  };
}

const symbolOf = (assetId: number) => loadIndexerManifest().assetById.get(assetId)?.symbol ?? null;

/** atRiskAccounts of a hub-accounted deployment at the snapshot's hub block: health strictly below the bound, by HF then address. */
export async function accountedAtRiskPage(protocol: string, args: AtRiskArgs, snapshot: Snapshot) {
  const book = await accountedBook(protocol, snapshot);
  const eid = args.chainId === undefined ? undefined : loadIndexerManifest().manifest.chains.find((c) => c.chainId === args.chainId)?.eid ?? -1;
  const passing = book.health
    .filter((h) => h.healthFactor < args.maxHealthFactor)
    .filter((h) => eid === undefined || h.collateral.some((c) => c.eid === eid))
    .filter((h) => args.assetId === undefined || h.collateral.some((c) => c.assetId === args.assetId) || h.debt.some((d) => d.assetId === args.assetId))
    .filter((h) => args.minDebtUsd === undefined || h.debtValue >= args.minDebtUsd)
    .sort(byHealth);
  const after = args.after === undefined ? undefined : decodeCursor(args.after);
  const rest = after ? passing.filter((h) => byHealth(h, { healthFactor: after.healthFactor, account: after.account }) > 0) : passing;
  const items = rest.slice(0, args.first);
  const last = items.at(-1);
  return {
    items: items.map((h) => healthJson(h, snapshot, book.assets)),
    pageInfo: { hasNextPage: rest.length > items.length, endCursor: last ? encodeCursor({ healthFactor: last.healthFactor, account: last.account.toLowerCase() }) : null },
    totalCount: passing.length,
    ...asOf(snapshot),
  };
}

/** opportunities of a hub-accounted deployment: liquidatable now, with the liquidation AccountedHub would make. */
export async function accountedOpportunityPage(protocol: string, args: { first: number; after?: string; minProfitUsd?: bigint; chainId?: number }, snapshot: Snapshot) {
  const book = await accountedBook(protocol, snapshot);
  const all = accountedOpportunities(book)
    .filter((o) => args.minProfitUsd === undefined || o.profitUsd >= args.minProfitUsd)
    .filter((o) => args.chainId === undefined || chainIdOfEid(o.collateral.eid) === args.chainId);
  const after = args.after === undefined ? undefined : decodeCursor(args.after);
  const rest = after ? all.filter((o) => byHealth(o.health, { healthFactor: after.healthFactor, account: after.account }) > 0) : all;
  const items = rest.slice(0, args.first);
  const last = items.at(-1);
  const price = (id: number) => book.prices.get(id)!;
  return {
    items: items.map((o) => ({
      protocol,
      account: o.health.account as Address,
      healthFactor: s(o.health.healthFactor),
      collateralValue: s(o.health.collateralValue),
      debtValue: s(o.health.debtValue),
      collateral: { chainId: chainIdOfEid(o.collateral.eid), eid: o.collateral.eid, assetId: o.collateral.assetId, symbol: symbolOf(o.collateral.assetId), decimals: book.assets.get(o.collateral.assetId)!.decimals, amount: s(o.collateral.amount), valueUsd: s(o.collateral.valueUsd), priceWad: s(price(o.collateral.assetId)) },
      debt: { assetId: o.debt.assetId, symbol: symbolOf(o.debt.assetId), decimals: book.assets.get(o.debt.assetId)!.decimals, amount: s(o.debt.amount), valueUsd: s(o.debt.valueUsd), priceWad: s(price(o.debt.assetId)) },
      maxRepay: s(o.maxRepay),
      repayAmount: s(o.repayAmount),
      seizeAmount: s(o.seizeAmount),
      profitUsd: s(o.profitUsd),
      // No auction: one transaction at the fixed bonus (closeFactor 100 % below the protocol's fullCloseBelowHf).
      auctionStatus: "instant",
      auctionId: null,
      auctionStartedAt: null,
      bonus: s(o.bonus),
      minBonus: s(o.bonus),
      maxBonus: s(o.bonus),
      auctionDuration: "0",
      maxBonusAt: null,
      expiresAt: null,
      closeFactor: s(o.closeFactor),
      blockNumber: s(book.block.number),
      timestamp: s(book.block.timestamp),
      chainId: hubChainId(),
      priceStale: false,
      unusablePrices: [],
    })),
    pageInfo: { hasNextPage: rest.length > items.length, endCursor: last ? encodeCursor({ healthFactor: last.health.healthFactor, account: last.health.account.toLowerCase() }) : null },
    ...asOf(snapshot),
  };
}
