/**
 * Solvency in Prometheus (GET /salvage/metrics), read from the index at scrape time (src/api/solvency.ts, one read
 * shared by every metric of a scrape). Amounts are in the asset's base units, labelled with `asset`, `asset_id`
 * and `decimals`; USD in dollars. No per-account labels.
 *
 *   salvage_bad_debt_written_off_total{asset,asset_id,decimals}   debt written off (base units)
 *   salvage_bad_debt_uncovered_total{asset,asset_id,decimals}     the part the reserve did not cover (Hub.badDebt)
 *   salvage_bad_debt_written_off_usd_total                        written off, USD at each write-off's price
 *   salvage_reserve{asset,asset_id,decimals}                      the reserve (Hub.reserve, base units)
 *   salvage_underwater_accounts                                   accounts whose collateral value is below their debt
 *   salvage_underwater_debt{asset,asset_id,decimals}              their debt (base units)
 *   salvage_underwater_debt_usd / _collateral_usd / _shortfall_usd  their debt, collateral and the difference (USD)
 *
 * Prometheus samples are float64: the exact figures are the bigints of the GraphQL `solvency` query. The counters
 * only grow on the chain; a hub reorg that removes a write-off lowers them, as it does the index.
 */
import { Counter, Gauge } from "prom-client";
import { formatUnits } from "viem";
import { onePerScrape, salvageRegistry } from "./metrics.js";
import { type Solvency, solvency } from "./solvency.js";

const current = onePerScrape(solvency);

/** Base units as a float sample (exact up to 2^53, the nearest double beyond). */
const units = (v: bigint) => Number(v);
/** A WAD USD figure as dollars (the float is formed once, from the exact decimal string). */
const dollars = (wad: bigint) => Number(formatUnits(wad, 18));
const assetLabels = (a: Solvency["assets"][number]) => ({ asset: a.symbol, asset_id: String(a.assetId), decimals: String(a.decimals) });
const ASSET_LABELS = ["asset", "asset_id", "decimals"] as const;

function perAssetCounter(name: string, help: string, pick: (a: Solvency["assets"][number]) => bigint) {
  return new Counter({
    name, help, labelNames: ASSET_LABELS, registers: [salvageRegistry],
    async collect() {
      const s = await current();
      this.reset();
      for (const a of s.assets) this.inc(assetLabels(a), units(pick(a)));
    },
  });
}

function perAssetGauge(name: string, help: string, pick: (a: Solvency["assets"][number]) => bigint) {
  return new Gauge({
    name, help, labelNames: ASSET_LABELS, registers: [salvageRegistry],
    async collect() {
      const s = await current();
      this.reset();
      for (const a of s.assets) this.set(assetLabels(a), units(pick(a)));
    },
  });
}

function usdGauge(name: string, help: string, pick: (s: Solvency) => bigint) {
  return new Gauge({
    name, help, registers: [salvageRegistry],
    async collect() {
      this.set(dollars(pick(await current())));
    },
  });
}

perAssetCounter("salvage_bad_debt_written_off_total", "Debt the hub wrote off (BadDebtWrittenOff), in the asset's base units", (a) => a.writtenOff);
perAssetCounter("salvage_bad_debt_uncovered_total", "Written-off debt the reserve did not cover (Hub.badDebt), in base units", (a) => a.uncovered);
new Counter({
  name: "salvage_bad_debt_written_off_usd_total",
  help: "Debt written off, in USD at the hub's price in each write-off's block",
  registers: [salvageRegistry],
  async collect() {
    const s = await current();
    this.reset();
    this.inc(dollars(s.writtenOffUsd));
  },
});
perAssetGauge("salvage_reserve", "The hub's reserve (risk buffer) per debt asset (Hub.reserve), in base units", (a) => a.reserve);
new Gauge({
  name: "salvage_underwater_accounts",
  help: "Accounts whose collateral value is below their debt value at the indexed hub block",
  registers: [salvageRegistry],
  async collect() {
    this.set((await current()).underWater.accounts);
  },
});
perAssetGauge("salvage_underwater_debt", "Debt owed by accounts under water, per debt asset, in base units", (a) => a.underWaterDebt);
usdGauge("salvage_underwater_debt_usd", "Debt value of the accounts under water, USD", (s) => s.underWater.debtUsd);
usdGauge("salvage_underwater_collateral_usd", "Collateral value of the accounts under water, USD", (s) => s.underWater.collateralUsd);
usdGauge("salvage_underwater_shortfall_usd", "Debt minus collateral of the accounts under water (bad debt if closed now), USD", (s) => s.underWater.shortfallUsd);
