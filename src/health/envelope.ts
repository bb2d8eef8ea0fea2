/**
 * The health envelope: how far prices may move before a stored health must be computed again.
 *
 * A price update used to recompute every holder of the asset (k rows written for k holders). Most of those
 * accounts are nowhere near liquidation, and a small move cannot bring them there. So each account's health is
 * stored at reference prices (those of its last computation) together with
 *
 * - a **guard**: a health factor its true health cannot fall below while no trigger has fired, and
 * - a **trigger price** per asset it holds: collateral fires when its price falls to 39/40 of the reference
 *   (rounded up), debt when its price rises to 41/40 of it (rounded down).
 *
 * A price update recomputes only the accounts whose trigger it crosses (index range scans on
 * `health_trigger (asset_id, side, price_wad)`), gives them new references, guards and triggers, and leaves the
 * rest alone. An account whose guard is below 1 is **watched**: it keeps no triggers, and every update of an asset
 * it holds recomputes it (found through `account_health (guard_hf)`), so its stored health is exact. That is what
 * the feed's events need: an account that is or was liquidatable is watched. (A crash turns many accounts watched:
 * their trigger rows are left as they are rather than rewritten; firing, a stale one only names an account the
 * update recomputes anyway, and they are rewritten when it is unwatched.)
 *
 * Why the guard holds, with Solidity's floors (Hub.accountData): while no trigger fired every collateral price is
 * above c = 39/40 of its reference and every debt price below d = 41/40 of its reference, so with n positions
 * TV' ≥ c·TV − 2n and DV' ≤ d·(DV + n), hence HF' > (c/d)·HF·(1 − 2n/(c·TV) − n/DV) − 1. With TV and DV of at least
 * MIN_VALUE (1e12 WAD-dollars, a millionth of a cent) and n ≤ 100 the factor is above 1 − 1e-9: the guard is
 * floor(HF · 39/41 · (1 − 1e-9)) − 1. Accounts smaller than that are watched. Accounts without debt (HF = max)
 * have neither guard nor triggers: no price can make them liquidatable.
 *
 * The same arithmetic runs in SQL (src/protocols/hub-spoke/indexing/health-sql.ts, `guardSql`/`triggerSql`); test/health-sql.test.ts
 * checks the two equal and the guard true over random markets and random moves.
 */
import { MAX_UINT256, WAD } from "./wad.js";

/** Collateral fires at price ≤ ceil(reference · 39/40). */
export const COLLATERAL_TRIGGER = { num: 39n, den: 40n } as const;
/** Debt fires at price ≥ floor(reference · 41/40). */
export const DEBT_TRIGGER = { num: 41n, den: 40n } as const;
/** Rounding allowance of the guard: 1 − 1/GUARD_PRECISION. */
export const GUARD_PRECISION = 10n ** 9n;
/** Below this threshold or debt value (WAD USD) an account is watched: the floors could outweigh the margin. */
export const MIN_VALUE = 10n ** 12n;

export type TriggerSide = "collateral" | "debt";
/** `health_trigger.side`: 0 collateral (fires at or below), 1 debt (fires at or above). */
export const SIDE_CODE: Record<TriggerSide, 0 | 1> = { collateral: 0, debt: 1 };

/** The guard of a health computed at reference prices (WAD), MAX_UINT256 without debt, 0 when watched outright. */
export function guardOf(h: { healthFactor: bigint; thresholdValue: bigint; debtValue: bigint }): bigint {
  if (h.debtValue === 0n) return MAX_UINT256;
  if (h.thresholdValue < MIN_VALUE || h.debtValue < MIN_VALUE) return 0n;
  const g = (h.healthFactor * COLLATERAL_TRIGGER.num * DEBT_TRIGGER.den * (GUARD_PRECISION - 1n)) /
    (COLLATERAL_TRIGGER.den * DEBT_TRIGGER.num * GUARD_PRECISION) - 1n;
  return g > 0n ? g : 0n;
}

/** Watched: recomputed at every update of an asset it holds (its stored health is exact). */
export const isWatched = (guard: bigint): boolean => guard < WAD;

/** The price (WAD) at which a position of `side` fires, given its reference price and the account's guard. */
export function triggerPrice(side: TriggerSide, referencePriceWad: bigint, guard: bigint): bigint {
  if (side === "collateral") {
    if (isWatched(guard)) return MAX_UINT256;
    const p = referencePriceWad * COLLATERAL_TRIGGER.num;
    return p / COLLATERAL_TRIGGER.den + (p % COLLATERAL_TRIGGER.den === 0n ? 0n : 1n);
  }
  if (isWatched(guard)) return 0n;
  return (referencePriceWad * DEBT_TRIGGER.num) / DEBT_TRIGGER.den;
}

/** Whether a new price of an asset fires a trigger of `side`. */
export const fires = (side: TriggerSide, trigger: bigint, priceWad: bigint): boolean =>
  side === "collateral" ? priceWad <= trigger : priceWad >= trigger;
