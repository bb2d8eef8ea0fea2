/**
 * The hub's risk math in TypeScript, shared by the indexer and the relayer. Each function mirrors a
 * function of contracts/Hub.sol operation for operation, so results are equal to the wei (see
 * test/math.property.test.ts, which checks them against the deployed hub).
 */
import { MAX_UINT256, WAD, minBig, mulDiv, mulDivUp, unit } from "./wad.js";

/** Hub.priceWad's scaling: a positive feed answer to 18 decimals (validity: `priceProblem`, `checkedPriceWad`). */
export function priceToWad(answer: bigint, feedDecimals: number): bigint {
  if (answer <= 0n) throw new RangeError(`price answer must be positive, got ${answer}`);
  if (feedDecimals > 18) throw new RangeError(`feed decimals must be at most 18, got ${feedDecimals}`);
  return answer * unit(18 - feedDecimals);
}

/** A feed's latest round as Hub.priceWad reads it (Chainlink's latestRoundData: answer and updatedAt). */
export interface FeedRound {
  answer: bigint;
  /** Unix seconds of the round. */
  updatedAt: bigint;
}

/** Why Hub.priceWad refuses a round: the custom error it reverts with, by name and arguments. */
export type PriceProblem =
  | { errorName: "InvalidPrice"; args: readonly [assetId: number, answer: bigint] }
  | { errorName: "StalePrice"; args: readonly [assetId: number, updatedAt: bigint, heartbeat: bigint] };

/**
 * Hub.priceWad's validity rule, in its order: an answer <= 0 is `InvalidPrice`; then a round older than the
 * asset's heartbeat at `now` (now - updatedAt > heartbeat), or stamped after `now`, is `StalePrice`. Undefined
 * when the round is usable at `now` (a block's timestamp: the hub judges at its own block's).
 */
export function priceProblem(assetId: number, round: FeedRound, heartbeat: bigint, now: bigint): PriceProblem | undefined {
  if (round.answer <= 0n) return { errorName: "InvalidPrice", args: [assetId, round.answer] };
  if (round.updatedAt > now || now - round.updatedAt > heartbeat) return { errorName: "StalePrice", args: [assetId, round.updatedAt, heartbeat] };
  return undefined;
}

/** Whether Hub.priceWad would use the round at `now`. */
export function priceUsable(round: FeedRound, heartbeat: bigint, now: bigint): boolean {
  return priceProblem(0, round, heartbeat, now) === undefined;
}

/** A price Hub.priceWad refuses; `message` reads as the revert does (`StalePrice(11, 1700000000, 86400)`). */
export class UnusablePriceError extends Error {
  constructor(readonly problem: PriceProblem) {
    super(`${problem.errorName}(${problem.args.map(String).join(", ")})`);
    this.name = "UnusablePriceError";
  }
}

/** Hub.priceWad whole: the round's WAD price at `now`, or UnusablePriceError naming the asset as the hub does. */
export function checkedPriceWad(assetId: number, round: FeedRound, feedDecimals: number, heartbeat: bigint, now: bigint): bigint {
  const problem = priceProblem(assetId, round, heartbeat, now);
  if (problem) throw new UnusablePriceError(problem);
  return priceToWad(round.answer, feedDecimals);
}

/** Hub.valueOf: USD value (WAD) of `amount` base units of a token with `decimals`. */
export function valueOf(amount: bigint, priceWad: bigint, decimals: number): bigint {
  return mulDiv(amount, priceWad, unit(decimals));
}

export interface CollateralPosition {
  amount: bigint;
  priceWad: bigint;
  decimals: number;
  ltv: bigint;
  liquidationThreshold: bigint;
}

export interface DebtPosition {
  amount: bigint;
  priceWad: bigint;
  decimals: number;
}

export interface AccountData {
  collateralValue: bigint;
  thresholdValue: bigint;
  borrowPower: bigint;
  debtValue: bigint;
  /** WAD; MAX_UINT256 when the account has no debt, as on chain. */
  healthFactor: bigint;
}

/** Hub.accountData. Positions may come in any order: the sums are exact, so order does not matter. */
export function accountData(collateral: readonly CollateralPosition[], debt: readonly DebtPosition[]): AccountData {
  let collateralValue = 0n;
  let thresholdValue = 0n;
  let borrowPower = 0n;
  for (const c of collateral) {
    if (c.amount === 0n) continue;
    const v = valueOf(c.amount, c.priceWad, c.decimals);
    collateralValue += v;
    thresholdValue += mulDiv(v, c.liquidationThreshold, WAD);
    borrowPower += mulDiv(v, c.ltv, WAD);
  }
  let debtValue = 0n;
  for (const d of debt) if (d.amount !== 0n) debtValue += valueOf(d.amount, d.priceWad, d.decimals);
  const healthFactor = debtValue === 0n ? MAX_UINT256 : mulDiv(thresholdValue, WAD, debtValue);
  return { collateralValue, thresholdValue, borrowPower, debtValue, healthFactor };
}

export interface AuctionParams {
  closeFactor: bigint;
  minBonus: bigint;
  maxBonus: bigint;
  auctionDuration: bigint;
  auctionTail: bigint;
}

/** Hub.bonusAt: the Dutch-auction bonus (WAD) at `timestamp` for an auction kicked at `startedAt`. */
export function bonusAt(p: AuctionParams, startedAt: bigint, timestamp: bigint): bigint {
  const elapsed = timestamp > startedAt ? timestamp - startedAt : 0n;
  if (elapsed >= p.auctionDuration) return p.maxBonus;
  return p.minBonus + mulDiv(p.maxBonus - p.minBonus, elapsed, p.auctionDuration);
}

export interface TakeQuoteInput {
  /** The account's debt in the asset being repaid. */
  debtAmount: bigint;
  debtPriceWad: bigint;
  debtDecimals: number;
  /** The account's collateral in the chosen (spoke, asset). */
  collateralAmount: bigint;
  collateralPriceWad: bigint;
  collateralDecimals: number;
  closeFactor: bigint;
  bonus: bigint;
  maxRepay: bigint;
}

export interface TakeQuote {
  repayAmount: bigint;
  seizeAmount: bigint;
}

/** Hub._quoteTake: what a take repays and seizes, with the close factor and the collateral cap. */
export function quoteTake(q: TakeQuoteInput): TakeQuote {
  let repayAmount = minBig(q.maxRepay, mulDiv(q.debtAmount, q.closeFactor, WAD));
  let repayValue = mulDiv(repayAmount, q.debtPriceWad, unit(q.debtDecimals));
  let seizeAmount = mulDiv(mulDiv(repayValue, WAD + q.bonus, WAD), unit(q.collateralDecimals), q.collateralPriceWad);
  if (seizeAmount > q.collateralAmount) {
    seizeAmount = q.collateralAmount;
    repayValue = mulDiv(mulDiv(q.collateralAmount, q.collateralPriceWad, unit(q.collateralDecimals)), WAD, WAD + q.bonus);
    repayAmount = mulDivUp(repayValue, unit(q.debtDecimals), q.debtPriceWad);
  }
  return { repayAmount, seizeAmount };
}
