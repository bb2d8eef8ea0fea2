/**
 * Account health from indexed state: src/health/health.ts `accountData` (equal to the wei to
 * Hub.accountData) plus the risk-desk extras: dominant collateral, its liquidation price, and the
 * uniform collateral shock that would make the account liquidatable.
 */
import { type AccountData, type CollateralPosition, type DebtPosition, accountData, valueOf } from "../../../health/health.js";
import { MAX_UINT256, WAD, mulDiv, unit } from "../../../health/wad.js";

export interface AssetInfo {
  decimals: number;
  ltv: bigint;
  liquidationThreshold: bigint;
}

export interface HealthInput {
  collateral: readonly { eid: number; assetId: number; amount: bigint }[];
  debt: readonly { assetId: number; amount: bigint }[];
  /** WAD prices by asset id. */
  prices: ReadonlyMap<number, bigint>;
  assets: ReadonlyMap<number, AssetInfo>;
}

export interface Health extends AccountData {
  dominantCollateralAssetId: number | null;
  liquidationPriceWad: bigint | null;
  shockWad: bigint | null;
}

export class MissingInputError extends Error {}

export function computeHealth(input: HealthInput): Health {
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new MissingInputError(`missing ${what}`);
    return v;
  };
  const collateral: CollateralPosition[] = [];
  const byAsset = new Map<number, { amount: bigint; value: bigint }>();
  for (const c of input.collateral) {
    if (c.amount === 0n) continue;
    const a = need(input.assets.get(c.assetId), `asset ${c.assetId}`);
    const priceWad = need(input.prices.get(c.assetId), `price of asset ${c.assetId}`);
    collateral.push({ amount: c.amount, priceWad, decimals: a.decimals, ltv: a.ltv, liquidationThreshold: a.liquidationThreshold });
    const agg = byAsset.get(c.assetId) ?? { amount: 0n, value: 0n };
    agg.amount += c.amount;
    agg.value += valueOf(c.amount, priceWad, a.decimals);
    byAsset.set(c.assetId, agg);
  }
  const debt: DebtPosition[] = [];
  for (const d of input.debt) {
    if (d.amount === 0n) continue;
    const a = need(input.assets.get(d.assetId), `asset ${d.assetId}`);
    debt.push({ amount: d.amount, priceWad: need(input.prices.get(d.assetId), `price of asset ${d.assetId}`), decimals: a.decimals });
  }
  const data = accountData(collateral, debt);

  let dominant: number | null = null;
  let dominantValue = -1n;
  for (const [id, agg] of byAsset) {
    if (agg.value > dominantValue || (agg.value === dominantValue && dominant !== null && id < dominant)) {
      dominant = id;
      dominantValue = agg.value;
    }
  }
  let liquidationPriceWad: bigint | null = null;
  if (dominant !== null && data.debtValue > 0n) {
    const a = input.assets.get(dominant)!;
    const agg = byAsset.get(dominant)!;
    const ownThreshold = mulDiv(agg.value, a.liquidationThreshold, WAD);
    const otherThreshold = data.thresholdValue - ownThreshold;
    const needed = data.debtValue - otherThreshold;
    const denominator = agg.amount * a.liquidationThreshold;
    // HF = 1 when otherThreshold + amount * p / 10^dec * lt / WAD = debtValue.
    liquidationPriceWad = needed <= 0n || denominator === 0n ? 0n : (needed * unit(a.decimals) * WAD) / denominator;
  }
  const shockWad =
    data.healthFactor === MAX_UINT256 ? null : data.healthFactor <= WAD ? 0n : mulDiv(data.healthFactor - WAD, WAD, data.healthFactor);
  return { ...data, dominantCollateralAssetId: dominant, liquidationPriceWad, shockWad };
}
