/**
 * The hub's book as the scanner keeps it in memory: asset configs and prices, listed collateral markets and
 * debt assets, every account's positions (the balances the hub's events carry), the holders of each asset,
 * and each account's health computed with src/health/health.ts, the hub's own arithmetic to the wei.
 *
 * Pure state, no RPC: the scanner feeds it events and asks it to recompute only the accounts they touched.
 */
import type { Address } from "viem";
import { type CollateralPosition, type DebtPosition, accountData } from "../../health/health.js";
import { WAD } from "../../health/wad.js";

/** One `Hub.assets(id)` entry, with the latest answer of its feed turned into a WAD price. */
export interface BookAsset {
  id: number;
  feed: Address;
  /** 10^(18 - feed decimals), as the hub stores it. */
  priceScale: bigint;
  decimals: number;
  token: Address;
  ltv: bigint;
  liquidationThreshold: bigint;
  listed: boolean;
  /** answer × priceScale (Hub.priceWad); null when the feed has no answer yet. */
  priceWad: bigint | null;
}

interface Positions {
  /** Collateral by "eid:assetId". */
  collateral: Map<string, bigint>;
  /** Debt by asset id. */
  debt: Map<number, bigint>;
}

const marketKey = (eid: number, assetId: number) => `${eid}:${assetId}`;
const assetOfMarket = (key: string) => Number(key.slice(key.indexOf(":") + 1));

export class HubBook {
  private readonly assets = new Map<number, BookAsset>();
  private readonly debtAssets = new Set<number>();
  private readonly markets = new Set<string>();
  private readonly positions = new Map<Address, Positions>();
  private readonly holders = new Map<number, Set<Address>>();
  private readonly health = new Map<Address, bigint>();
  private readonly below = new Set<Address>();
  /** Accounts whose health cannot be computed (a held asset without a price), with the reason. */
  private readonly unpriced = new Map<Address, string>();

  // ---------------------------------------------------------------- configuration

  setAsset(asset: BookAsset): void {
    this.assets.set(asset.id, asset);
  }

  asset(id: number): BookAsset | undefined {
    return this.assets.get(id);
  }

  hasAsset(id: number): boolean {
    return this.assets.has(id);
  }

  /** Every feed address the book prices assets with (lowercase, distinct). */
  feeds(): Address[] {
    const zero = "0x0000000000000000000000000000000000000000";
    return [...new Set([...this.assets.values()].map((a) => a.feed.toLowerCase() as Address))].filter((f) => f !== zero);
  }

  addDebtAsset(id: number): void {
    this.debtAssets.add(id);
  }

  /** Lists a collateral market; returns the accounts whose health it may change. */
  listMarket(eid: number, assetId: number): Address[] {
    this.markets.add(marketKey(eid, assetId));
    return this.holdersOf(assetId);
  }

  /** A new answer from `feed`; returns the accounts whose health it may change. */
  priceAnswered(feed: Address, answer: bigint): Address[] {
    const touched: Address[] = [];
    for (const a of this.assets.values()) {
      if (a.feed.toLowerCase() !== feed.toLowerCase()) continue;
      a.priceWad = answer > 0n ? answer * a.priceScale : null;
      touched.push(...this.holdersOf(a.id));
    }
    return touched;
  }

  holdersOf(assetId: number): Address[] {
    return [...(this.holders.get(assetId) ?? [])];
  }

  /** Asset ids that positions refer to but that the book has no config for. */
  unknownAssets(): number[] {
    const ids = new Set<number>();
    for (const assetId of this.holders.keys()) if (!this.assets.has(assetId)) ids.add(assetId);
    for (const key of this.markets) if (!this.assets.has(assetOfMarket(key))) ids.add(assetOfMarket(key));
    return [...ids];
  }

  // ---------------------------------------------------------------- positions

  setCollateral(account: Address, eid: number, assetId: number, balance: bigint): void {
    const p = this.positionsOf(account);
    if (balance === 0n) p.collateral.delete(marketKey(eid, assetId));
    else p.collateral.set(marketKey(eid, assetId), balance);
    this.updateHolding(account, p, assetId);
  }

  setDebt(account: Address, assetId: number, balance: bigint): void {
    const p = this.positionsOf(account);
    if (balance === 0n) p.debt.delete(assetId);
    else p.debt.set(assetId, balance);
    this.updateHolding(account, p, assetId);
  }

  accounts(): Address[] {
    return [...this.positions.keys()];
  }

  private positionsOf(account: Address): Positions {
    let p = this.positions.get(account);
    if (!p) this.positions.set(account, (p = { collateral: new Map(), debt: new Map() }));
    return p;
  }

  private updateHolding(account: Address, p: Positions, assetId: number): void {
    let holds = p.debt.has(assetId);
    if (!holds) for (const key of p.collateral.keys()) if (assetOfMarket(key) === assetId) holds = true;
    let set = this.holders.get(assetId);
    if (holds) {
      if (!set) this.holders.set(assetId, (set = new Set()));
      set.add(account);
    } else if (set) {
      set.delete(account);
      if (set.size === 0) this.holders.delete(assetId);
    }
  }

  // ---------------------------------------------------------------- health

  /** Recomputes the health of `accounts` exactly as Hub.accountData does. */
  recompute(accounts: Iterable<Address>): void {
    for (const account of accounts) {
      const hf = this.computeHealthFactor(account);
      if (hf === null) {
        this.health.delete(account);
        this.below.delete(account);
        continue;
      }
      this.unpriced.delete(account);
      this.health.set(account, hf);
      if (hf < WAD) this.below.add(account);
      else this.below.delete(account);
    }
  }

  recomputeAll(): void {
    this.recompute(this.positions.keys());
  }

  healthFactor(account: Address): bigint | undefined {
    return this.health.get(account);
  }

  healthFactors(): ReadonlyMap<Address, bigint> {
    return this.health;
  }

  /** Accounts whose health could not be computed, with why. */
  unpricedAccounts(): ReadonlyMap<Address, string> {
    return this.unpriced;
  }

  /** Every account with health factor below 1, lowest first. */
  liquidatable(): Address[] {
    return [...this.below].sort((a, b) => {
      const x = this.health.get(a)!;
      const y = this.health.get(b)!;
      return x < y ? -1 : x > y ? 1 : a < b ? -1 : a > b ? 1 : 0;
    });
  }

  /**
   * The accounts that would be below HF 1 once `answers` (new feed answers, by lower-case feed address) are
   * mined: the holders of the assets those feeds price, with the hub's math at the new prices, lowest first.
   * Pure: the book's own prices and health are left as they are.
   */
  liquidatableAt(answers: ReadonlyMap<Address, bigint>): Address[] {
    const prices = new Map<number, bigint | null>();
    for (const a of this.assets.values()) {
      const answer = answers.get(a.feed.toLowerCase() as Address);
      if (answer !== undefined) prices.set(a.id, answer > 0n ? answer * a.priceScale : null);
    }
    const found = new Map<Address, bigint>();
    for (const assetId of prices.keys()) {
      for (const account of this.holders.get(assetId) ?? []) {
        if (found.has(account)) continue;
        const hf = this.computeHealthFactor(account, prices);
        if (hf !== null && hf < WAD) found.set(account, hf);
      }
    }
    return [...found].sort(([a, x], [b, y]) => (x < y ? -1 : x > y ? 1 : a < b ? -1 : a > b ? 1 : 0)).map(([a]) => a);
  }

  /** Hub.accountData's health factor (at `prices` where given); null when a counted asset has no price (the hub would revert). */
  private computeHealthFactor(account: Address, prices?: ReadonlyMap<number, bigint | null>): bigint | null {
    const p = this.positions.get(account);
    if (!p) return null;
    const priceOf = (a: BookAsset) => (prices?.has(a.id) ? prices.get(a.id)! : a.priceWad);
    const collateral: CollateralPosition[] = [];
    for (const [key, amount] of p.collateral) {
      if (amount === 0n || !this.markets.has(key)) continue;
      const a = this.assets.get(assetOfMarket(key));
      const priceWad = a ? priceOf(a) : null;
      if (!a?.listed || priceWad === null) {
        if (!prices) this.unpriced.set(account, `collateral asset ${assetOfMarket(key)} has no config or price`);
        return null;
      }
      collateral.push({ amount, priceWad, decimals: a.decimals, ltv: a.ltv, liquidationThreshold: a.liquidationThreshold });
    }
    const debt: DebtPosition[] = [];
    for (const [assetId, amount] of p.debt) {
      if (amount === 0n || !this.debtAssets.has(assetId)) continue;
      const a = this.assets.get(assetId);
      const priceWad = a ? priceOf(a) : null;
      if (!a?.listed || priceWad === null) {
        if (!prices) this.unpriced.set(account, `debt asset ${assetId} has no config or price`);
        return null;
      }
      debt.push({ amount, priceWad, decimals: a.decimals });
    }
    return accountData(collateral, debt).healthFactor;
  }
}
