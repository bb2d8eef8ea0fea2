/**
 * The hub-accounted money market's risk, interest and liquidation math (contracts/hub-accounted/AccountedHub.sol)
 * in TypeScript. Each function mirrors an AccountedHub function operation for operation, rounding where it rounds,
 * so results are equal to the wei (test/hub-accounted.math.property.test.ts checks them against the deployed hub).
 *
 * What is the same math as the reference hub's is reused from src/health/health.ts rather than copied:
 * AccountedHub.priceWad is `checkedPriceWad` (same validity rule, answer * 10^(18 - feed decimals)), collateral
 * and debt valuation and the health factor are `accountData`, and the repay/seize arithmetic of
 * `_quoteLiquidation` is `quoteTake`'s. What is new here is the debt: an account owes scaled debt times a borrow
 * index that grows every second, so its debt and health are only defined at a timestamp (the block's).
 */
import { type AccountData, type CollateralPosition, type TakeQuote, accountData, quoteTake } from "../../health/health.js";
import { RAY, WAD, minBig, mulDiv, mulDivUp } from "../../health/wad.js";

/** AccountedHub.Rate: a debt asset's borrow index (RAY) as of `lastUpdate` and its rate (RAY per second). */
export interface BorrowRate {
  index: bigint;
  ratePerSecond: bigint;
  /** Unix seconds of the last accrual. */
  lastUpdate: bigint;
}

/** AccountedHub.LiquidationParams (all WAD). */
export interface LiquidationParams {
  /** Largest share of one debt position a liquidation repays while HF >= fullCloseBelowHf. */
  closeFactor: bigint;
  /** Below this HF a liquidation may repay the whole position. */
  fullCloseBelowHf: bigint;
  /** Collateral value the liquidator receives on top of the value it repays. */
  bonus: bigint;
}

/**
 * AccountedHub.indexAt: the borrow index at `timestamp`, linear since the last accrual, rounded down:
 * index + index * rate * (t - lastUpdate) / RAY. A timestamp at or before the last accrual gives the stored index.
 */
export function indexAt(rate: BorrowRate, timestamp: bigint): bigint {
  if (timestamp <= rate.lastUpdate) return rate.index;
  return rate.index + mulDiv(rate.index, rate.ratePerSecond * (timestamp - rate.lastUpdate), RAY);
}

/**
 * AccountedHub._accrue: the stored rate after an accrual at `timestamp` (a borrow, repay, liquidation, write-off or
 * setInterestRate in a block with that timestamp). Unchanged when already accrued at that timestamp.
 */
export function accrue(rate: BorrowRate, timestamp: bigint): BorrowRate {
  if (rate.lastUpdate === timestamp) return rate;
  return { index: indexAt(rate, timestamp), ratePerSecond: rate.ratePerSecond, lastUpdate: timestamp };
}

/** AccountedHub.debtOf: what `scaledDebt` owes at `index`, rounded up (scaledDebt * index / RAY). */
export function debtOf(scaledDebt: bigint, index: bigint): bigint {
  return mulDivUp(scaledDebt, index, RAY);
}

/** AccountedHub.borrow: the scaled debt a borrow of `amount` adds at `index` (the accrued one), rounded up. */
export function scaledForBorrow(amount: bigint, index: bigint): bigint {
  return mulDivUp(amount, RAY, index);
}

/** What AccountedHub._repay repays of an account's debt and how much scaled debt it removes. */
export interface RepayResult {
  /** min(amount, debt): what the payer is charged. */
  repaid: bigint;
  /** All of the scaled debt when the repayment covers the whole debt, else repaid * RAY / index rounded down. */
  scaledRepaid: bigint;
}

/** AccountedHub._repay: a repayment of up to `amount` against `scaledDebt` at `index` (the accrued one). */
export function scaledForRepay(scaledDebt: bigint, amount: bigint, index: bigint): RepayResult {
  const owed = debtOf(scaledDebt, index);
  const repaid = minBig(amount, owed);
  const scaledRepaid = repaid === owed ? scaledDebt : mulDiv(repaid, RAY, index);
  return { repaid, scaledRepaid };
}

/** One debt position as AccountedHub.accountData reads it. */
export interface AccountedDebtPosition {
  /** AccountedHub.scaledDebt(account, asset). */
  scaledDebt: bigint;
  /** AccountedHub.rates(asset), as stored (not accrued). */
  rate: BorrowRate;
  /** AccountedHub.priceWad(asset) at the block (see health.ts `checkedPriceWad`). */
  priceWad: bigint;
  decimals: number;
}

/**
 * AccountedHub.accountData at a block with timestamp `timestamp`: collateral valued as health.ts's accountData
 * values it, each debt position valued at debtOf(scaledDebt, indexAt(rate, timestamp)), interest to the block
 * included. Positions may come in any order (the sums are exact). Collateral is CollateralPosition, as in
 * health.ts: amount, price and the asset's decimals, LTV and liquidation threshold.
 */
export function accountedAccountData(
  collateral: readonly CollateralPosition[],
  debt: readonly AccountedDebtPosition[],
  timestamp: bigint,
): AccountData {
  return accountData(
    collateral,
    // The hub skips a zero scaled debt (and so reads no price for it); any other owes at least 1 wei.
    debt.filter((d) => d.scaledDebt !== 0n).map((d) => ({ amount: debtOf(d.scaledDebt, indexAt(d.rate, timestamp)), priceWad: d.priceWad, decimals: d.decimals })),
  );
}

/** The close factor of AccountedHub._quoteLiquidation: all of the position (WAD) below fullCloseBelowHf, else closeFactor. */
export function closeFactorFor(healthFactor: bigint, params: LiquidationParams): bigint {
  return healthFactor < params.fullCloseBelowHf ? WAD : params.closeFactor;
}

export interface LiquidationQuoteInput {
  /** AccountedHub.scaledDebt(account, debtAsset). */
  scaledDebt: bigint;
  /** The debt asset's index at the quoting block: indexAt(rates(debtAsset), block timestamp). */
  index: bigint;
  debtPriceWad: bigint;
  debtDecimals: number;
  /** AccountedHub.collateral(account, eid, collateralAsset). */
  collateralAmount: bigint;
  collateralPriceWad: bigint;
  collateralDecimals: number;
  /** The account's health factor at the quoting block (accountedAccountData). */
  healthFactor: bigint;
  params: LiquidationParams;
  maxRepay: bigint;
}

/**
 * AccountedHub._quoteLiquidation: repay min(maxRepay, debtOf * closeFactorFor(hf) / WAD), seize its value plus the
 * fixed bonus in collateral; when that is more than the position holds, seize all of it and repay what it is worth
 * at the bonus, rounded up. The arithmetic is health.ts's quoteTake with the debt at the index and the close factor
 * chosen by HF. (The hub reverts for a non-debt asset, a market that is not listed or an unusable price: the
 * caller passes listed assets and usable prices.)
 */
export function quoteLiquidation(q: LiquidationQuoteInput): TakeQuote {
  return quoteTake({
    debtAmount: debtOf(q.scaledDebt, q.index),
    debtPriceWad: q.debtPriceWad,
    debtDecimals: q.debtDecimals,
    collateralAmount: q.collateralAmount,
    collateralPriceWad: q.collateralPriceWad,
    collateralDecimals: q.collateralDecimals,
    closeFactor: closeFactorFor(q.healthFactor, q.params),
    bonus: q.params.bonus,
    maxRepay: q.maxRepay,
  });
}

/** AccountedHub.previewLiquidation: zeros for an account at HF >= 1, else quoteLiquidation; with the HF it judged. */
export function previewLiquidation(q: LiquidationQuoteInput): TakeQuote & { healthFactor: bigint } {
  if (q.healthFactor >= WAD) return { repayAmount: 0n, seizeAmount: 0n, healthFactor: q.healthFactor };
  return { ...quoteLiquidation(q), healthFactor: q.healthFactor };
}
