/**
 * What a health change means for the opportunity feed: the indexer logs an event when an account's health
 * factor crosses below 1 (`liquidatable`), moves while below 1 (`updated`) or recovers (`healthy`).
 */
import { WAD } from "../health/wad.js";

/** Liquidatable: the hub lets anyone kick and take below a health factor of 1 (WAD). */
export const isLiquidatable = (healthFactor: bigint): boolean => healthFactor < WAD;

export type HealthEventKind = "liquidatable" | "updated" | "healthy";

/** The feed event for a health change from `previous` (undefined: no health before) to `next`, if any. */
export function healthEventKind(previous: bigint | undefined, next: bigint): HealthEventKind | undefined {
  const wasUnder = previous !== undefined && isLiquidatable(previous);
  if (isLiquidatable(next)) return wasUnder ? (next === previous ? undefined : "updated") : "liquidatable";
  return wasUnder ? "healthy" : undefined;
}
