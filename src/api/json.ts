/**
 * How the salvage API writes its models (src/api/salvage-graphql.ts's types): an Opportunity of any protocol, the
 * reference protocol's AccountHealth rows, and the price fields of both; bigints as decimal strings. Shared by the
 * protocols' answers (src/api/protocols.ts), the feed and the resolvers of subscriptions and nested fields.
 */
import { REFERENCE_PROTOCOL } from "../deployment/manifest.js";
import { priceDropToLiquidation } from "../health/liquidation-levels.js";
import type { HealthRow, Opportunity, UnusablePrice } from "./queries.js";

export const str = (v: bigint | null | undefined): string | null => (v === null || v === undefined ? null : v.toString());

/** `priceStale` and `unusablePrices` of an AccountHealth or an Opportunity. */
export const priceFields = (list: readonly UnusablePrice[]) => ({
  priceStale: list.length > 0,
  unusablePrices: list.map((u) => ({ ...u, answer: u.answer.toString(), updatedAt: u.updatedAt.toString(), heartbeat: u.heartbeat.toString() })),
});
export type PriceFields = ReturnType<typeof priceFields>;

/** The dominant collateral's price drop to the account's liquidation price (src/health/liquidation-levels.ts). */
export const dropOf = (h: Pick<HealthRow, "liquidationPriceWad" | "dominantCollateralAssetId">, prices: ReadonlyMap<number, bigint>): string | null =>
  h.dominantCollateralAssetId === null ? null : str(priceDropToLiquidation(h.liquidationPriceWad, prices.get(h.dominantCollateralAssetId)));

/**
 * An AccountHealth; without `unusable` its price fields are resolved later (subscriptions: `loadUnusablePrices`),
 * without `prices` its price drop to liquidation too (`priceDropToLiquidationWad` in the resolvers).
 */
export const healthOut = (h: HealthRow, assets?: Map<number, { symbol: string | null; decimals: number }>, unusable?: readonly UnusablePrice[], prices?: ReadonlyMap<number, bigint>) => ({
  ...(unusable ? priceFields(unusable) : {}),
  ...(prices ? { priceDropToLiquidationWad: dropOf(h, prices) } : {}),
  protocol: REFERENCE_PROTOCOL,
  address: h.account,
  healthFactor: h.healthFactor.toString(),
  collateralValue: h.collateralValue.toString(),
  thresholdValue: h.thresholdValue.toString(),
  borrowPower: h.borrowPower.toString(),
  debtValue: h.debtValue.toString(),
  dominantCollateralAssetId: h.dominantCollateralAssetId,
  dominantCollateral:
    h.dominantCollateralAssetId === null
      ? null
      : { assetId: h.dominantCollateralAssetId, symbol: assets?.get(h.dominantCollateralAssetId)?.symbol ?? null, decimals: assets?.get(h.dominantCollateralAssetId)?.decimals ?? 18 },
  liquidationPriceWad: str(h.liquidationPriceWad),
  shockWad: str(h.shockWad),
  updatedBlock: h.updatedBlock.toString(),
  updatedAt: h.updatedAt.toString(),
});

/** JSON-safe opportunity (bigints as decimal strings): the shape of the GraphQL `Opportunity` type. */
export function opportunityJson(o: Opportunity) {
  const s = (v: bigint) => v.toString();
  const n = (v: bigint | null) => (v === null ? null : v.toString());
  return {
    protocol: o.protocol,
    account: o.account,
    healthFactor: s(o.healthFactor),
    collateralValue: s(o.collateralValue),
    debtValue: s(o.debtValue),
    collateral: { ...o.collateral, amount: s(o.collateral.amount), valueUsd: s(o.collateral.valueUsd), priceWad: s(o.collateral.priceWad) },
    debt: { ...o.debt, amount: s(o.debt.amount), valueUsd: s(o.debt.valueUsd), priceWad: s(o.debt.priceWad) },
    maxRepay: s(o.maxRepay),
    closeFactor: s(o.closeFactor),
    repayAmount: s(o.repayAmount),
    seizeAmount: s(o.seizeAmount),
    profitUsd: s(o.profitUsd),
    auctionStatus: o.auctionStatus,
    auctionId: n(o.auctionId),
    auctionStartedAt: n(o.auctionStartedAt),
    bonus: s(o.bonus),
    minBonus: s(o.minBonus),
    maxBonus: s(o.maxBonus),
    auctionDuration: s(o.auctionDuration),
    maxBonusAt: n(o.maxBonusAt),
    expiresAt: n(o.expiresAt),
    blockNumber: s(o.blockNumber),
    timestamp: s(o.timestamp),
    chainId: o.chainId,
  };
}
export type OpportunityJson = ReturnType<typeof opportunityJson>;
