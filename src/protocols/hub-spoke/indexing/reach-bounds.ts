/**
 * When a block's price moves provably reach no account, on a fresh start's backfill: bounds kept from every health
 * and trigger this process wrote, so the move's settlement (a raw statement Ponder parses, plans and flushes for:
 * 10–60 ms even when it finds nobody) is skipped.
 *
 * A move reaches the accounts whose trigger it crosses (collateral: price at or below the trigger; debt: at or
 * above) and the watched holders of its asset (src/health/envelope.ts). So a move reaches nobody when its price is
 * above every collateral trigger ever written for the asset, below every debt trigger ever written for it, and no
 * account holding the asset was ever watched. The bounds only widen (a trigger rewritten lower or deleted keeps the
 * old bound; a watched account unwatched keeps its assets marked), so "nobody" is never wrong, only sometimes not
 * claimed. They hold only while this process saw every write: from the first block, before any raw write (which
 * writes triggers in SQL, unseen) and before Ponder indexes live (recompute.ts `storeCanHold`); the caller asks
 * only then.
 */
import { isWatched } from "../../../health/envelope.js";
import { MAX_UINT256 } from "../../../health/wad.js";
import type { PriceMove } from "./health-sql.js";

const highestCollateralTrigger = new Map<number, bigint>();
const lowestDebtTrigger = new Map<number, bigint>();
const watchedHeld = new Set<number>();

/** A trigger row written (side 0 collateral, 1 debt). */
export function noteTrigger(t: { assetId: number; side: number; priceWad: bigint }): void {
  if (t.side === 0) {
    if (t.priceWad > (highestCollateralTrigger.get(t.assetId) ?? -1n)) highestCollateralTrigger.set(t.assetId, t.priceWad);
  } else if (t.priceWad < (lowestDebtTrigger.get(t.assetId) ?? MAX_UINT256 + 1n)) {
    lowestDebtTrigger.set(t.assetId, t.priceWad);
  }
}

/** A health row written with `guardHf` for an account holding `assets` (collateral or debt). */
export function noteHealth(guardHf: bigint, assets: Iterable<number>): void {
  if (isWatched(guardHf)) noteMaybeWatched(assets);
}

/** An account whose stored health this process did not write (it may be watched) holds `assets`. */
export function noteMaybeWatched(assets: Iterable<number>): void {
  for (const a of assets) watchedHeld.add(a);
}

/** Whether none of `moves` can reach an account, by what this process wrote. */
export function reachesNobody(moves: readonly PriceMove[]): boolean {
  return moves.every(
    (m) =>
      !watchedHeld.has(m.assetId) &&
      m.priceWad > (highestCollateralTrigger.get(m.assetId) ?? -1n) &&
      m.priceWad < (lowestDebtTrigger.get(m.assetId) ?? MAX_UINT256 + 1n),
  );
}
