/**
 * The take policy: whether, when and how to take in a Dutch auction. Pure bigint arithmetic in WAD USD.
 *
 *   profit = bonus value (seized value − repaid value)
 *          − gas of the take on the hub − LayerZero fee of the SEIZE message
 *          − price risk of the collateral while the packet is in flight
 *
 * Among the account's (debt asset × collateral position) pairs it takes the most profitable one that
 * respects the close factor, the inventory of the debt token and the per-spoke exposure cap.
 */
import { quoteTake, valueOf } from "../math/health.js";
import { WAD, minBig, mulDiv } from "../math/wad.js";

export interface PolicyConfig {
  /** Least profit worth a take (WAD USD). */
  minProfitUsd: bigint;
  /** Most collateral value (WAD USD) in flight to one spoke eid at once; `default` for eids not listed. */
  maxExposureUsd: { default: bigint; byEid?: Record<number, bigint> };
  /** Expected adverse move of collateral while in flight, in bps per minute. */
  priceRiskBpsPerMinute: bigint;
  /** Expected seconds from take to collateral delivered on the spoke. */
  expectedDeliverySeconds: bigint;
  /** Gas a take uses on the hub (estimated per take when possible; this is the planning figure). */
  takeGas: bigint;
  /** Least share of the quoted seizure accepted on chain (minSeize), in bps. */
  minSeizeBps: bigint;
}

export interface PlanInput {
  debts: { assetId: number; amount: bigint; priceWad: bigint; decimals: number; inventory: bigint }[];
  collaterals: { eid: number; assetId: number; amount: bigint; priceWad: bigint; decimals: number }[];
  closeFactor: bigint;
  bonus: bigint;
  /** Hub gas price and the hub's native token price (WAD USD). */
  gasPriceWei: bigint;
  hubNativePriceWad: bigint;
  /** LayerZero fee (wei on the hub) of a SEIZE to each eid. */
  lzFeeWei: Record<number, bigint>;
  /** Collateral value already in flight per eid (WAD USD). */
  exposure: Record<number, bigint>;
}

export interface TakePlan {
  action: "take";
  debtAssetId: number;
  collateralEid: number;
  collateralAssetId: number;
  maxRepay: bigint;
  repayAmount: bigint;
  seizeAmount: bigint;
  minSeize: bigint;
  seizeValue: bigint;
  repayValue: bigint;
  costs: { gas: bigint; lzFee: bigint; priceRisk: bigint };
  profit: bigint;
}

export type Plan = TakePlan | { action: "wait"; reason: string; bestProfit?: bigint } | { action: "skip"; reason: string };

export function planTake(config: PolicyConfig, input: PlanInput): Plan {
  const owed = input.debts.filter((d) => d.amount > 0n);
  if (owed.length === 0) return { action: "skip", reason: "no debt" };
  if (owed.every((d) => d.inventory === 0n)) return { action: "skip", reason: "insufficient inventory: no balance of any owed debt token" };

  let best: TakePlan | undefined;
  let blockedByExposure = false;
  for (const d of owed) {
    if (d.inventory === 0n) continue;
    const maxRepay = minBig(mulDiv(d.amount, input.closeFactor, WAD), d.inventory);
    for (const c of input.collaterals) {
      if (c.amount === 0n) continue;
      const quote = quoteTake({
        debtAmount: d.amount, debtPriceWad: d.priceWad, debtDecimals: d.decimals,
        collateralAmount: c.amount, collateralPriceWad: c.priceWad, collateralDecimals: c.decimals,
        closeFactor: input.closeFactor, bonus: input.bonus, maxRepay,
      });
      if (quote.seizeAmount === 0n || quote.repayAmount === 0n) continue;
      const repayValue = valueOf(quote.repayAmount, d.priceWad, d.decimals);
      const seizeValue = valueOf(quote.seizeAmount, c.priceWad, c.decimals);
      const cap = config.maxExposureUsd.byEid?.[c.eid] ?? config.maxExposureUsd.default;
      if ((input.exposure[c.eid] ?? 0n) + seizeValue > cap) {
        blockedByExposure = true;
        continue;
      }
      const gas = mulDiv(config.takeGas * input.gasPriceWei, input.hubNativePriceWad, WAD);
      const lzFee = mulDiv(input.lzFeeWei[c.eid] ?? 0n, input.hubNativePriceWad, WAD);
      const priceRisk = mulDiv(seizeValue, config.priceRiskBpsPerMinute * config.expectedDeliverySeconds, 60n * 10_000n);
      const profit = seizeValue - repayValue - gas - lzFee - priceRisk;
      if (!best || profit > best.profit) {
        best = {
          action: "take",
          debtAssetId: d.assetId, collateralEid: c.eid, collateralAssetId: c.assetId,
          maxRepay, repayAmount: quote.repayAmount, seizeAmount: quote.seizeAmount,
          minSeize: mulDiv(quote.seizeAmount, config.minSeizeBps, 10_000n),
          seizeValue, repayValue, costs: { gas, lzFee, priceRisk }, profit,
        };
      }
    }
  }
  if (!best) return { action: "wait", reason: blockedByExposure ? "exposure cap reached on every spoke holding collateral" : "nothing to seize" };
  if (best.profit < config.minProfitUsd) return { action: "wait", reason: `profit ${best.profit} below minimum ${config.minProfitUsd}`, bestProfit: best.profit };
  return best;
}
