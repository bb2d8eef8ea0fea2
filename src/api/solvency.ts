/**
 * The reference protocol's solvency at one indexed hub block (the hub-accounted market's: src/api/hub-accounted/answers.ts): per debt asset the debt written off (base units and USD), the part
 * the reserve covered and the part it did not (Hub.badDebt), the reserve (Hub.reserve); and the accounts under
 * water now (collateral value below debt value: closed today they would leave bad debt), with their debt per
 * asset and in USD. Served by the salvage GraphQL (`solvency`), GET /solvency, the page and GET /salvage/metrics.
 *
 * Every figure is a bigint: amounts in the asset's base units (with its decimals), USD as WAD. The reserve and
 * the under-water figures are valued at the hub's indexed prices; each write-off at the price of its own block
 * (stored by the indexer), so `writtenOffUsd` is the loss when it happened.
 *
 * Cost: the reserve table has a row per debt asset; the under-water set is a range of the health-factor index
 * (collateral < debt implies HF < 1, as every liquidation threshold is below 1), so it grows with the
 * liquidatable accounts, not the book.
 */
import { accountHealth, debt, reserve } from "ponder:schema";
import { and, count, eq, gt, lt, sum } from "ponder";
import { valueOf } from "../health/health.js";
import { WAD } from "../health/wad.js";
import { loadIndexerManifest } from "../indexer/manifest.js";
import { market } from "./queries.js";
import { type IndexedBlock, type Snapshot, atOneBlock, blockJson, reader } from "./snapshot.js";

export interface DebtAssetSolvency {
  assetId: number;
  symbol: string;
  decimals: number;
  /** Σ BadDebtWrittenOff.amount (base units): all debt written off in this asset. */
  writtenOff: bigint;
  /** Σ of each write-off's USD value at the hub's price in its block (WAD). */
  writtenOffUsd: bigint;
  /** The part of `writtenOff` the reserve absorbed. */
  coveredByReserve: bigint;
  /** The part it did not: Hub.badDebt(assetId). */
  uncovered: bigint;
  writeOffs: number;
  /** Hub.reserve(assetId) (base units). */
  reserve: bigint;
  /** The reserve at the hub's indexed price (WAD USD); null before the price is indexed. */
  reserveUsd: bigint | null;
  /** Debt in this asset owed by accounts under water now (base units). */
  underWaterDebt: bigint;
  /** Its USD value at the hub's indexed price (WAD); null before the price is indexed. */
  underWaterDebtUsd: bigint | null;
}

export interface Solvency {
  /** The hub block every figure is true at; null before the first is indexed. */
  block: IndexedBlock | null;
  /** Every chain's indexed block in the same snapshot, hub first. */
  chainBlocks: Snapshot["chains"];
  assets: DebtAssetSolvency[];
  /** Σ writtenOffUsd over the debt assets. */
  writtenOffUsd: bigint;
  /** Σ reserveUsd over the debt assets (priced ones). */
  reserveUsd: bigint;
  underWater: {
    /** Accounts whose collateral value is below their debt value. */
    accounts: number;
    /** Σ their debt value (WAD USD, as the index's account health). */
    debtUsd: bigint;
    /** Σ their collateral value (WAD USD). */
    collateralUsd: bigint;
    /** debtUsd − collateralUsd: the bad debt they leave if closed at today's prices with no bonus paid. */
    shortfallUsd: bigint;
  };
}

const big = (v: string | number | bigint | null | undefined): bigint => (v === null || v === undefined ? 0n : BigInt(v));

/** The totals at one indexed hub block: read in one snapshot (`atOneBlock`) with every chain's checkpoint. */
export async function solvency(): Promise<Solvency> {
  return atOneBlock(async (snapshot) => ({ ...(await readSolvency()), block: snapshot.hub ?? null, chainBlocks: snapshot.chains }));
}

async function readSolvency(): Promise<Omit<Solvency, "block" | "chainBlocks">> {
  const underWater = and(lt(accountHealth.healthFactor, WAD), lt(accountHealth.collateralValue, accountHealth.debtValue));
  const [mk, reserves, totals, debts] = await Promise.all([
    market(),
    reader().select().from(reserve),
    reader()
      .select({ accounts: count(), debtUsd: sum(accountHealth.debtValue), collateralUsd: sum(accountHealth.collateralValue) })
      .from(accountHealth)
      .where(underWater),
    reader()
      .select({ assetId: debt.assetId, amount: sum(debt.amount) })
      .from(debt)
      .innerJoin(accountHealth, eq(accountHealth.account, debt.account))
      .where(and(underWater, gt(debt.amount, 0n)))
      .groupBy(debt.assetId),
  ]);
  const reserveOf = new Map(reserves.map((r) => [r.assetId, r]));
  const underWaterDebtOf = new Map(debts.map((d) => [d.assetId, big(d.amount)]));
  const usd = (assetId: number, decimals: number, amount: bigint) => {
    const p = mk.prices.get(assetId);
    return p === undefined ? null : valueOf(amount, p, decimals);
  };
  const assets = loadIndexerManifest()
    .manifest.assets.filter((a) => a.kind === "debt")
    .sort((a, b) => a.id - b.id)
    .map((a): DebtAssetSolvency => {
      const r = reserveOf.get(a.id);
      const decimals = mk.assets.get(a.id)?.decimals ?? a.decimals;
      const underWaterDebt = underWaterDebtOf.get(a.id) ?? 0n;
      return {
        assetId: a.id,
        symbol: a.symbol,
        decimals,
        writtenOff: r?.writtenOff ?? 0n,
        writtenOffUsd: r?.writtenOffUsd ?? 0n,
        coveredByReserve: r?.coveredByReserve ?? 0n,
        uncovered: r?.badDebt ?? 0n,
        writeOffs: r?.writeOffs ?? 0,
        reserve: r?.reserve ?? 0n,
        reserveUsd: usd(a.id, decimals, r?.reserve ?? 0n),
        underWaterDebt,
        underWaterDebtUsd: usd(a.id, decimals, underWaterDebt),
      };
    });
  const t = totals[0];
  const debtUsd = big(t?.debtUsd);
  const collateralUsd = big(t?.collateralUsd);
  return {
    assets,
    writtenOffUsd: assets.reduce((s, a) => s + a.writtenOffUsd, 0n),
    reserveUsd: assets.reduce((s, a) => s + (a.reserveUsd ?? 0n), 0n),
    underWater: { accounts: Number(t?.accounts ?? 0), debtUsd, collateralUsd, shortfallUsd: debtUsd - collateralUsd },
  };
}

/** The JSON of GraphQL and REST: bigints as decimal strings. */
export function solvencyJson(s: Solvency) {
  const str = (v: bigint | null) => (v === null ? null : v.toString());
  return {
    block: blockJson(s.block),
    chainBlocks: s.chainBlocks.map((b) => blockJson(b)),
    assets: s.assets.map((a) => ({
      ...a,
      writtenOff: a.writtenOff.toString(),
      writtenOffUsd: a.writtenOffUsd.toString(),
      coveredByReserve: a.coveredByReserve.toString(),
      uncovered: a.uncovered.toString(),
      reserve: a.reserve.toString(),
      reserveUsd: str(a.reserveUsd),
      underWaterDebt: a.underWaterDebt.toString(),
      underWaterDebtUsd: str(a.underWaterDebtUsd),
    })),
    writtenOffUsd: s.writtenOffUsd.toString(),
    reserveUsd: s.reserveUsd.toString(),
    underWater: {
      accounts: s.underWater.accounts,
      debtUsd: s.underWater.debtUsd.toString(),
      collateralUsd: s.underWater.collateralUsd.toString(),
      shortfallUsd: s.underWater.shortfallUsd.toString(),
    },
  };
}
export type SolvencyJson = ReturnType<typeof solvencyJson>;
