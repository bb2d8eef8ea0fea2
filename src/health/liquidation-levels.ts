/**
 * Liquidation levels: how much collateral and debt become liquidatable as one asset's price falls, others fixed.
 *
 * The grid: `bins` equal steps of price drop from 0 to `maxDropWad` (a WAD share of the current price). Edge i
 * is the drop `maxDropWad · i / bins` (floored) and the price `mulDiv(price, WAD − drop, WAD)`; bin i (1..bins)
 * holds the accounts liquidatable at edge i and at no earlier edge. "Liquidatable" is the hub's rule,
 * Hub.accountData's health factor below 1 (src/health/health.ts, to the wei), so a bin is exact for the positions
 * it is given: test/liquidation-levels.test.ts recomputes every account at every edge and compares.
 *
 * Who counts: the accounts holding the asset as collateral (on the chosen spokes, when given). Those already
 * liquidatable at today's price are `now`; those still healthy at the last edge are `beyond`. A bin's values are
 * its accounts' collateral and debt valued at the bin's edge price (what a liquidator would find there); `asset`
 * is the amount of the asset they hold as collateral on the chosen spokes (base units). `cumulative` at bin i is
 * everything liquidatable at edge i: `now` plus bins 1..i.
 *
 * Cost: an account holding the asset only as collateral is liquidatable at every edge past its first (a lower
 * price only lowers its threshold value), so a binary search over the edges finds its bin in log2(bins) health
 * evaluations. An account that also owes the asset is not monotone in that price and is evaluated at every edge.
 */
import { MAX_UINT256, WAD, mulDiv } from "./wad.js";
import { valueOf } from "./health.js";

export interface LevelsAsset {
  decimals: number;
  liquidationThreshold: bigint;
}

/** An account's positions as indexed: collateral per (spoke eid, asset), debt per asset, amounts in base units. */
export interface LevelsAccount {
  address: string;
  collateral: readonly { eid: number; assetId: number; amount: bigint }[];
  debt: readonly { assetId: number; amount: bigint }[];
}

export interface LevelsQuery {
  assetId: number;
  /** Only collateral of the asset on these spokes (eids) counts; all spokes when absent. */
  eids?: ReadonlySet<number>;
  /** Number of bins, ≥ 1. */
  bins: number;
  /** Largest drop, a WAD share in (0, WAD]. */
  maxDropWad: bigint;
}

export interface LevelsTotals {
  accounts: number;
  /** Σ the accounts' collateral value, WAD USD. */
  collateralValue: bigint;
  /** Σ their debt value, WAD USD. */
  debtValue: bigint;
  /** Σ the asset they hold as collateral on the chosen spokes, base units. */
  asset: bigint;
}

export interface LevelsBin extends LevelsTotals {
  /** 1-based. */
  index: number;
  /** The bin's drops: (fromDropWad, toDropWad]. */
  fromDropWad: bigint;
  toDropWad: bigint;
  /** The asset's price at toDropWad: where the bin's accounts are valued. */
  priceWad: bigint;
  /** Everything liquidatable at this bin's edge: `now` plus bins 1..index. */
  cumulative: LevelsTotals;
}

export interface LiquidationLevels {
  assetId: number;
  /** The asset's current price (WAD USD). */
  priceWad: bigint;
  /** Already liquidatable at the current price, valued at it. */
  now: LevelsTotals;
  bins: LevelsBin[];
  /** Holders still healthy at the largest drop, valued at the current price. */
  beyond: LevelsTotals;
  /** Holders left out because a position's asset or price is not known. */
  unpriced: number;
}

const zero = (): LevelsTotals => ({ accounts: 0, collateralValue: 0n, debtValue: 0n, asset: 0n });

function add(t: LevelsTotals, v: { collateralValue: bigint; debtValue: bigint; asset: bigint }): void {
  t.accounts += 1;
  t.collateralValue += v.collateralValue;
  t.debtValue += v.debtValue;
  t.asset += v.asset;
}

/** The grid's edge `i` (0..bins): its drop and the asset's price there. */
export function levelEdge(priceWad: bigint, q: Pick<LevelsQuery, "bins" | "maxDropWad">, i: number): { dropWad: bigint; priceWad: bigint } {
  const dropWad = (q.maxDropWad * BigInt(i)) / BigInt(q.bins);
  return { dropWad, priceWad: mulDiv(priceWad, WAD - dropWad, WAD) };
}

/**
 * One holder's figures as a function of the asset's price: the other assets' part of Hub.accountData summed once
 * (its sums are per position, so the split is exact), the asset's positions evaluated at each price asked.
 */
class Holder {
  private otherThreshold = 0n;
  private otherCollateral = 0n;
  private otherDebt = 0n;
  private own: { amount: bigint; lt: bigint }[] = [];
  private ownDebt: bigint[] = [];
  /** The asset held on the chosen spokes. */
  readonly asset: bigint;

  private constructor(
    private readonly decimals: number,
    asset: bigint,
  ) {
    this.asset = asset;
  }

  /** Undefined when a position's asset or price is unknown (the hub would not price it either). */
  static of(a: LevelsAccount, q: LevelsQuery, assets: ReadonlyMap<number, LevelsAsset>, prices: ReadonlyMap<number, bigint>): Holder | undefined {
    const target = assets.get(q.assetId);
    if (!target) return undefined;
    let held = 0n;
    for (const c of a.collateral) if (c.assetId === q.assetId && c.amount > 0n && (!q.eids || q.eids.has(c.eid))) held += c.amount;
    const h = new Holder(target.decimals, held);
    for (const c of a.collateral) {
      if (c.amount === 0n) continue;
      const info = assets.get(c.assetId);
      if (!info) return undefined;
      if (c.assetId === q.assetId) {
        h.own.push({ amount: c.amount, lt: info.liquidationThreshold });
        continue;
      }
      const p = prices.get(c.assetId);
      if (p === undefined) return undefined;
      const v = valueOf(c.amount, p, info.decimals);
      h.otherCollateral += v;
      h.otherThreshold += mulDiv(v, info.liquidationThreshold, WAD);
    }
    for (const d of a.debt) {
      if (d.amount === 0n) continue;
      if (d.assetId === q.assetId) {
        h.ownDebt.push(d.amount);
        continue;
      }
      const info = assets.get(d.assetId);
      const p = prices.get(d.assetId);
      if (!info || p === undefined) return undefined;
      h.otherDebt += valueOf(d.amount, p, info.decimals);
    }
    return h;
  }

  /** A lower price of the asset can only make it less healthy: liquidatable at every edge past the first one. */
  get monotone(): boolean {
    return this.ownDebt.length === 0;
  }

  /** Collateral and debt value at `priceWad` of the asset, and whether Hub.accountData's HF is below 1 there. */
  at(priceWad: bigint): { collateralValue: bigint; debtValue: bigint; asset: bigint; liquidatable: boolean } {
    let collateralValue = this.otherCollateral;
    let threshold = this.otherThreshold;
    for (const c of this.own) {
      const v = valueOf(c.amount, priceWad, this.decimals);
      collateralValue += v;
      threshold += mulDiv(v, c.lt, WAD);
    }
    let debtValue = this.otherDebt;
    for (const d of this.ownDebt) debtValue += valueOf(d, priceWad, this.decimals);
    const hf = debtValue === 0n ? MAX_UINT256 : mulDiv(threshold, WAD, debtValue);
    return { collateralValue, debtValue, asset: this.asset, liquidatable: hf < WAD };
  }
}

export function checkLevelsQuery(q: LevelsQuery): void {
  if (!Number.isSafeInteger(q.bins) || q.bins < 1) throw new RangeError(`bins must be a positive integer, got ${q.bins}`);
  if (q.maxDropWad <= 0n || q.maxDropWad > WAD) throw new RangeError(`maxDropWad must be in (0, 1e18], got ${q.maxDropWad}`);
}

/** The levels of `q.assetId` over `accounts` at `prices` (WAD by asset id), with the hub's `assets`. */
export function liquidationLevels(
  accounts: Iterable<LevelsAccount>,
  assets: ReadonlyMap<number, LevelsAsset>,
  prices: ReadonlyMap<number, bigint>,
  q: LevelsQuery,
): LiquidationLevels {
  checkLevelsQuery(q);
  const priceWad = prices.get(q.assetId);
  if (priceWad === undefined || !assets.has(q.assetId)) throw new RangeError(`asset ${q.assetId} has no indexed price`);
  const edges = Array.from({ length: q.bins + 1 }, (_, i) => levelEdge(priceWad, q, i));
  const bins: LevelsBin[] = edges.slice(1).map((e, j) => ({
    index: j + 1, fromDropWad: edges[j]!.dropWad, toDropWad: e.dropWad, priceWad: e.priceWad, ...zero(), cumulative: zero(),
  }));
  const out: LiquidationLevels = { assetId: q.assetId, priceWad, now: zero(), bins, beyond: zero(), unpriced: 0 };

  for (const a of accounts) {
    const holder = Holder.of(a, q, assets, prices);
    if (holder === undefined) {
      if (a.collateral.some((c) => c.assetId === q.assetId && c.amount > 0n && (!q.eids || q.eids.has(c.eid)))) out.unpriced += 1;
      continue;
    }
    if (holder.asset === 0n) continue; // not a holder of the asset on the chosen spokes
    const today = holder.at(priceWad);
    if (today.liquidatable) {
      add(out.now, today);
      continue;
    }
    const first = holder.monotone ? firstByBisection(holder, edges) : firstByScan(holder, edges);
    if (first === undefined) add(out.beyond, today);
    else add(bins[first - 1]!, holder.at(edges[first]!.priceWad));
  }

  const running = { ...out.now };
  for (const b of bins) {
    running.accounts += b.accounts;
    running.collateralValue += b.collateralValue;
    running.debtValue += b.debtValue;
    running.asset += b.asset;
    b.cumulative = { ...running };
  }
  return out;
}

/** The first edge (1..bins) at which a monotone holder is liquidatable, or undefined. */
function firstByBisection(h: Holder, edges: readonly { priceWad: bigint }[]): number | undefined {
  let lo = 1;
  let hi = edges.length - 1;
  if (!h.at(edges[hi]!.priceWad).liquidatable) return undefined;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (h.at(edges[mid]!.priceWad).liquidatable) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function firstByScan(h: Holder, edges: readonly { priceWad: bigint }[]): number | undefined {
  for (let i = 1; i < edges.length; i++) if (h.at(edges[i]!.priceWad).liquidatable) return i;
  return undefined;
}

/**
 * The drop of an asset's price (WAD share of `priceWad`) that brings an account to its liquidation price: 0 at
 * or below it, null without one (no debt, or no price).
 */
export function priceDropToLiquidation(liquidationPriceWad: bigint | null, priceWad: bigint | undefined): bigint | null {
  if (liquidationPriceWad === null || priceWad === undefined || priceWad === 0n) return null;
  return liquidationPriceWad >= priceWad ? 0n : mulDiv(priceWad - liquidationPriceWad, WAD, priceWad);
}
