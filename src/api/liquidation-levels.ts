/**
 * Liquidation levels as the API serves them (GraphQL `liquidationLevels`, GET /liquidation-levels, the page's
 * chart): src/health/liquidation-levels.ts over the indexed positions of every account holding the asset as
 * collateral, at the hub's indexed prices, read in one snapshot with the block it is as of.
 *
 * Cost: one read of the holders' `account` rows (positions inline), found through collateral's (asset_id, amount)
 * index, then log2(bins) health evaluations per holder in TypeScript: O(holders of the asset), bounded by the
 * API's statement timeout.
 */
import { account, collateral } from "ponder:schema";
import { and, eq, gt, inArray } from "ponder";
import { type LevelsAccount, type LevelsTotals, type LiquidationLevels, liquidationLevels } from "../health/liquidation-levels.js";
import { WAD } from "../health/wad.js";
import { loadIndexerManifest } from "../indexer/manifest.js";
import { QueryError, checkInt, market, parseDecimalWad, unusablePrices } from "./queries.js";
import { type Snapshot, asOf, atOneBlock, reader } from "./snapshot.js";

export const MAX_BINS = 200;
/** The danger zone of risk dashboards (DefiLlama's liquidations page): within 20 % of the current price. */
export const DANGER_ZONE_DROP_WAD = WAD / 5n;

export interface LevelsArgs {
  assetId: number;
  chainId?: number;
  bins: number;
  maxDropWad: bigint;
}

/** Arguments as strings or numbers from GraphQL or a query string, checked; errors name the argument. */
export function parseLevelsArgs(raw: { assetId?: number | string | null; chainId?: number | string | null; bins?: number | string | null; maxDrop?: string | null }): LevelsArgs {
  const assetId = checkInt("assetId", raw.assetId, 0, 65_535);
  if (assetId === undefined) throw new QueryError("assetId is required", "assetId");
  const maxDropWad = parseDecimalWad("maxDrop", raw.maxDrop ?? "0.5");
  if (maxDropWad <= 0n || maxDropWad > WAD) throw new QueryError(`maxDrop must be in (0, 1], got ${raw.maxDrop}`, "maxDrop");
  return { assetId, chainId: checkInt("chainId", raw.chainId, 1, 2 ** 31 - 1), bins: checkInt("bins", raw.bins, 1, MAX_BINS) ?? 50, maxDropWad };
}

export interface LevelsAnswer extends LiquidationLevels {
  symbol: string | null;
  decimals: number;
  chainId: number | null;
  maxDropWad: bigint;
  /** True when the hub refuses the asset's price at the answer's block (StalePrice, InvalidPrice). */
  priceStale: boolean;
  /** Holders of the asset counted (on the chain asked for). */
  holders: number;
  snapshot: Snapshot;
}

/** The spoke `args.chainId` names (its eid), undefined for every spoke; a QueryError naming chainId when it is no chain of the manifest. */
export function levelsEid(args: LevelsArgs): number | undefined {
  if (args.chainId === undefined) return undefined;
  const eid = loadIndexerManifest().manifest.chains.find((c) => c.chainId === args.chainId)?.eid;
  if (eid === undefined) throw new QueryError(`chainId ${args.chainId} is not a chain of the manifest`, "chainId");
  return eid;
}

/** The reference protocol's levels of one asset at one indexed hub block. */
export async function levels(args: LevelsArgs): Promise<LevelsAnswer> {
  const eid = levelsEid(args);
  return atOneBlock(async (snapshot) => {
    const mk = await market();
    const a = mk.assets.get(args.assetId);
    if (!a) throw new QueryError(`assetId ${args.assetId} is not listed on the hub`, "assetId");
    if (!mk.prices.has(args.assetId)) throw new QueryError(`assetId ${args.assetId} has no indexed price yet`, "assetId");
    const holding = and(eq(collateral.assetId, args.assetId), gt(collateral.amount, 0n), ...(eid === undefined ? [] : [eq(collateral.eid, eid)]));
    const rows = await reader()
      .select()
      .from(account)
      .where(inArray(account.address, reader().select({ account: collateral.account }).from(collateral).where(holding)));
    const accounts: LevelsAccount[] = rows.map((r) => ({
      address: r.address,
      collateral: r.collateral.map((c) => ({ eid: c.eid, assetId: c.assetId, amount: BigInt(c.amount) })),
      debt: r.debt.map((d) => ({ assetId: d.assetId, amount: BigInt(d.amount) })),
    }));
    const out = liquidationLevels(accounts, mk.assets, mk.prices, {
      assetId: args.assetId, bins: args.bins, maxDropWad: args.maxDropWad, eids: eid === undefined ? undefined : new Set([eid]),
    });
    return {
      ...out, symbol: a.symbol, decimals: a.decimals, chainId: args.chainId ?? null, maxDropWad: args.maxDropWad,
      priceStale: unusablePrices(mk, snapshot.hub?.timestamp).has(args.assetId), holders: rows.length, snapshot,
    };
  });
}

const totalsJson = (t: LevelsTotals) => ({
  accounts: t.accounts, collateralUsd: t.collateralValue.toString(), debtUsd: t.debtValue.toString(), assetAmount: t.asset.toString(),
});

/** The JSON of GraphQL and REST: bigints as decimal strings, and the block it is as of. */
export function levelsJson(l: LevelsAnswer) {
  return {
    assetId: l.assetId,
    symbol: l.symbol,
    decimals: l.decimals,
    chainId: l.chainId,
    priceWad: l.priceWad.toString(),
    priceStale: l.priceStale,
    maxDropWad: l.maxDropWad.toString(),
    dangerZoneDropWad: DANGER_ZONE_DROP_WAD.toString(),
    holders: l.holders,
    unpriced: l.unpriced,
    now: totalsJson(l.now),
    bins: l.bins.map((b) => ({
      index: b.index,
      fromDropWad: b.fromDropWad.toString(),
      toDropWad: b.toDropWad.toString(),
      priceWad: b.priceWad.toString(),
      dangerZone: b.toDropWad <= DANGER_ZONE_DROP_WAD,
      ...totalsJson(b),
      cumulative: totalsJson(b.cumulative),
    })),
    beyond: totalsJson(l.beyond),
    ...asOf(l.snapshot),
  };
}
export type LevelsJson = ReturnType<typeof levelsJson>;
