/**
 * The hub-accounted market's book valued at one block, from its indexed rows: each account's AccountedHub.accountData
 * at the block's timestamp (debt grown by each asset's index to then: math.ts), its positions and the prices its
 * health needs that the hub refuses there. Pure: the API reads the rows in an answer's snapshot (src/api/hub-accounted/),
 * the indexer in a block's handler (indexing/AccountedWatch.ts).
 */
import { getAddress, type Address } from "viem";
import { type AccountData, type FeedRound, priceProblem } from "../../health/health.js";
import { WAD, mulDiv } from "../../health/wad.js";
import { type BorrowRate, type LiquidationParams, accountedAccountData, closeFactorFor, debtOf, indexAt, quoteLiquidation } from "./math.js";

export interface AccountedHealth extends AccountData {
  protocol: string;
  account: Address;
  /** The collateral asset of the largest value (the lowest id on a tie); null without collateral. */
  dominantCollateralAssetId: number | null;
  collateral: { eid: number; assetId: number; amount: bigint }[];
  /** What the account owes at the block (interest included), and its scaled debt. */
  debt: { assetId: number; amount: bigint; scaled: bigint }[];
  /** Prices the hub refuses at the block for assets the account holds or owes (its healthFactor reverts). */
  unusablePriceAssetIds: number[];
}

export interface AccountedBook {
  protocol: string;
  block: { number: bigint; timestamp: bigint };
  terms: LiquidationParams | undefined;
  assets: Map<number, { decimals: number; ltv: bigint; liquidationThreshold: bigint; heartbeat: bigint }>;
  prices: Map<number, bigint>;
  rounds: Map<number, FeedRound>;
  /** Each debt asset's rate as indexed, and its index at the block. */
  rates: Map<number, BorrowRate>;
  indexes: Map<number, bigint>;
  health: AccountedHealth[];
}

/** The indexed rows a book is valued from (one deployment's). */
export interface AccountedRows {
  assets: { assetId: number; decimals: number; ltv: bigint; liquidationThreshold: bigint; heartbeat: bigint }[];
  terms: { closeFactor: bigint; fullCloseBelowHf: bigint; bonus: bigint }[];
  rates: { assetId: number; index: bigint; ratePerSecond: bigint; lastUpdate: bigint }[];
  /** The hub chain's feeds (the `price` table). */
  prices: { assetId: number; priceWad: bigint; answer: bigint; updatedAt: bigint }[];
  debts: { account: string; assetId: number; scaled: bigint }[];
  collateral: { account: string; eid: number; assetId: number; amount: bigint }[];
}

/** `accounts` (lower case) valued at `block` from `rows`. */
export function valueBook(protocol: string, rows: AccountedRows, accounts: readonly string[], block: { number: bigint; timestamp: bigint }): AccountedBook {
  const { assets: assetRows, terms: termRows, rates: rateRows, prices, debts: debtRows, collateral: collateralRows } = rows;
  const assets = new Map(assetRows.map((a) => [a.assetId, a]));
  const rates = new Map(rateRows.map((x) => [x.assetId, { index: x.index, ratePerSecond: x.ratePerSecond, lastUpdate: x.lastUpdate } satisfies BorrowRate]));
  const indexes = new Map([...rates].map(([id, rate]) => [id, indexAt(rate, block.timestamp)]));
  const priceOf = new Map(prices.map((p) => [p.assetId, p.priceWad]));
  const rounds = new Map(prices.map((p) => [p.assetId, { answer: p.answer, updatedAt: p.updatedAt }]));
  const byAccount = <T extends { account: string }>(rows: T[]) => {
    const m = new Map<string, T[]>();
    for (const row of rows) m.set(row.account.toLowerCase(), [...(m.get(row.account.toLowerCase()) ?? []), row]);
    return m;
  };
  const collateralOf = byAccount(collateralRows);
  const debtOfAccount = byAccount(debtRows);
  const health: AccountedHealth[] = [];
  for (const account of accounts) {
    const held = collateralOf.get(account) ?? [];
    const owed = debtOfAccount.get(account) ?? [];
    const needed = [...new Set([...held.map((c) => c.assetId), ...owed.map((d) => d.assetId)])];
    // Not computable from the index (an asset or its price not indexed yet): left out, as the hub's read would fail.
    if (needed.some((id) => !assets.has(id) || !priceOf.has(id)) || owed.some((d) => !rates.has(d.assetId))) continue;
    const data = accountedAccountData(
      held.map((c) => ({ amount: c.amount, priceWad: priceOf.get(c.assetId)!, decimals: assets.get(c.assetId)!.decimals, ltv: assets.get(c.assetId)!.ltv, liquidationThreshold: assets.get(c.assetId)!.liquidationThreshold })),
      owed.map((d) => ({ scaledDebt: d.scaled, rate: rates.get(d.assetId)!, priceWad: priceOf.get(d.assetId)!, decimals: assets.get(d.assetId)!.decimals })),
      block.timestamp,
    );
    let dominant: { assetId: number; value: bigint } | null = null;
    for (const c of held) {
      const value = mulDiv(c.amount, priceOf.get(c.assetId)!, 10n ** BigInt(assets.get(c.assetId)!.decimals));
      if (!dominant || value > dominant.value || (value === dominant.value && c.assetId < dominant.assetId)) dominant = { assetId: c.assetId, value };
    }
    health.push({
      ...data,
      protocol,
      account: getAddress(account) as Address,
      dominantCollateralAssetId: dominant?.assetId ?? null,
      collateral: held.map((c) => ({ eid: c.eid, assetId: c.assetId, amount: c.amount })),
      debt: owed.map((d) => ({ assetId: d.assetId, scaled: d.scaled, amount: debtOf(d.scaled, indexes.get(d.assetId)!) })),
      unusablePriceAssetIds: needed.filter((id) => rounds.has(id) && priceProblem(id, rounds.get(id)!, assets.get(id)!.heartbeat, block.timestamp) !== undefined),
    });
  }
  const t = termRows[0];
  return {
    protocol, block, assets, prices: priceOf, rounds, rates, indexes, health,
    terms: t && { closeFactor: t.closeFactor, fullCloseBelowHf: t.fullCloseBelowHf, bonus: t.bonus },
  };
}

/** The span the debt's growth is measured over by `nextInterestCrossing` (a day: wei of rounding are seconds' fractions). */
const GROWTH_SPAN = 86_400n;

/**
 * A time at or before the earliest at which interest alone puts one of the book's healthy accounts under HF 1, at the
 * book's prices and positions; null when no healthy account's debt grows. Between accruals an index grows linearly
 * (indexAt), so an account's debt value does too, to the wei of rounding: it is valued at the block and a day later,
 * and the time it reaches the threshold value (HF < 1 exactly when debt value exceeds it) is taken 1 % of the wait
 * plus 2 s early, so rounding never makes it late. Accounts whose prices the hub refuses are left out (their next
 * price update revalues them).
 */
export function nextInterestCrossing(book: AccountedBook): bigint | null {
  const later = book.block.timestamp + GROWTH_SPAN;
  let next: bigint | null = null;
  for (const h of book.health) {
    if (h.healthFactor < WAD || h.unusablePriceAssetIds.length > 0 || h.debt.length === 0) continue;
    const grown = accountedAccountData(
      [],
      h.debt.map((d) => ({ scaledDebt: d.scaled, rate: book.rates.get(d.assetId)!, priceWad: book.prices.get(d.assetId)!, decimals: book.assets.get(d.assetId)!.decimals })),
      later,
    ).debtValue;
    if (grown <= h.debtValue) continue;
    const wait = ((h.thresholdValue - h.debtValue) * GROWTH_SPAN) / (grown - h.debtValue);
    const at = book.block.timestamp + wait - wait / 100n - 2n;
    if (next === null || at < next) next = at;
  }
  return next;
}

/** By health factor, then address: the at-risk order of every protocol. */
export function byHealth(a: { healthFactor: bigint; account: string }, b: { healthFactor: bigint; account: string }): number {
  if (a.healthFactor !== b.healthFactor) return a.healthFactor < b.healthFactor ? -1 : 1;
  const x = a.account.toLowerCase();
  const y = b.account.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

export interface AccountedOpportunity {
  health: AccountedHealth;
  debt: { assetId: number; amount: bigint; valueUsd: bigint };
  collateral: { eid: number; assetId: number; amount: bigint; valueUsd: bigint };
  closeFactor: bigint;
  bonus: bigint;
  maxRepay: bigint;
  repayAmount: bigint;
  seizeAmount: bigint;
  /** USD value seized minus USD value repaid (WAD), at the block's prices. */
  profitUsd: bigint;
}

/**
 * Each account liquidatable at the book's block (HF < 1, every price it needs usable) with the liquidation of its
 * largest debt position against its largest collateral position (values at the block; lowest ids on ties), quoted
 * as AccountedHub.previewLiquidation would at maxRepay = the close factor's share of that debt.
 */
export function accountedOpportunities(book: AccountedBook): AccountedOpportunity[] {
  if (!book.terms) return [];
  const out: AccountedOpportunity[] = [];
  for (const h of book.health) {
    if (h.healthFactor >= WAD || h.unusablePriceAssetIds.length > 0 || h.collateral.length === 0) continue;
    const value = (assetId: number, amount: bigint) => mulDiv(amount, book.prices.get(assetId)!, 10n ** BigInt(book.assets.get(assetId)!.decimals));
    const largest = <T extends { assetId: number; amount: bigint }>(list: T[]) =>
      list.map((p) => ({ ...p, valueUsd: value(p.assetId, p.amount) })).sort((a, b) => (a.valueUsd !== b.valueUsd ? (a.valueUsd > b.valueUsd ? -1 : 1) : a.assetId - b.assetId))[0]!;
    const debt = largest(h.debt);
    const collateral = largest(h.collateral);
    const closeFactor = closeFactorFor(h.healthFactor, book.terms);
    const maxRepay = mulDiv(debt.amount, closeFactor, WAD);
    const quote = quoteLiquidation({
      scaledDebt: h.debt.find((d) => d.assetId === debt.assetId)!.scaled,
      index: book.indexes.get(debt.assetId)!,
      debtPriceWad: book.prices.get(debt.assetId)!,
      debtDecimals: book.assets.get(debt.assetId)!.decimals,
      collateralAmount: collateral.amount,
      collateralPriceWad: book.prices.get(collateral.assetId)!,
      collateralDecimals: book.assets.get(collateral.assetId)!.decimals,
      healthFactor: h.healthFactor,
      params: book.terms,
      maxRepay,
    });
    out.push({
      health: h, debt: { assetId: debt.assetId, amount: debt.amount, valueUsd: debt.valueUsd },
      collateral: { eid: collateral.eid, assetId: collateral.assetId, amount: collateral.amount, valueUsd: collateral.valueUsd },
      closeFactor, bonus: book.terms.bonus, maxRepay, repayAmount: quote.repayAmount, seizeAmount: quote.seizeAmount,
      profitUsd: value(collateral.assetId, quote.seizeAmount) - value(debt.assetId, quote.repayAmount),
    });
  }
  return out.sort((a, b) => byHealth(a.health, b.health));
}
