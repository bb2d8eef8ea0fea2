/**
 * Liquidation levels (src/health/liquidation-levels.ts) against a brute-force recomputation: every account
 * evaluated with Hub.accountData's TypeScript twin (src/health/health.ts, equal to the hub's to the wei:
 * test/math.property.test.ts) at every edge of the grid, its bin the first edge where its HF is below 1. Random
 * markets of 6/8/18-decimal assets on two spokes, accounts that also owe the asset whose price falls (not
 * monotone in it), dust positions, and unknown prices.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type CollateralPosition, type DebtPosition, accountData, valueOf } from "../src/health/health.js";
import { type LevelsAccount, type LevelsAsset, type LevelsQuery, type LevelsTotals, levelEdge, liquidationLevels, priceDropToLiquidation } from "../src/health/liquidation-levels.js";
import { WAD } from "../src/health/wad.js";

const ASSET_IDS = [1, 2, 3, 4] as const;
const EIDS = [30101, 30102] as const;

const assetArb = fc.record({
  decimals: fc.constantFrom(6, 8, 18),
  liquidationThreshold: fc.bigInt({ min: WAD / 2n, max: (WAD * 95n) / 100n }),
});
const marketArb = fc.record({
  assets: fc.tuple(assetArb, assetArb, assetArb, assetArb),
  /** WAD prices from a cent to 100,000 USD, sometimes odd ones. */
  prices: fc.tuple(...ASSET_IDS.map(() => fc.bigInt({ min: 10n ** 16n, max: 10n ** 23n }))),
});
const amountArb = fc.oneof(fc.bigInt({ min: 1n, max: 1_000n }), fc.bigInt({ min: 1n, max: 10n ** 24n }));
const accountArb = fc.record({
  collateral: fc.array(fc.record({ eid: fc.constantFrom(...EIDS), assetId: fc.constantFrom(...ASSET_IDS), amount: amountArb }), { minLength: 1, maxLength: 4 }),
  debt: fc.array(fc.record({ assetId: fc.constantFrom(...ASSET_IDS), amount: amountArb }), { maxLength: 2 }),
});

/** Hub.accountData's HF of `a` with the asset's price replaced, as the hub would compute it. */
function at(a: LevelsAccount, assets: Map<number, LevelsAsset>, prices: Map<number, bigint>, assetId: number, priceWad: bigint) {
  const price = (id: number) => (id === assetId ? priceWad : prices.get(id)!);
  const collateral: CollateralPosition[] = a.collateral.map((c) => ({
    amount: c.amount, priceWad: price(c.assetId), decimals: assets.get(c.assetId)!.decimals, ltv: 0n, liquidationThreshold: assets.get(c.assetId)!.liquidationThreshold,
  }));
  const debt: DebtPosition[] = a.debt.map((d) => ({ amount: d.amount, priceWad: price(d.assetId), decimals: assets.get(d.assetId)!.decimals }));
  return accountData(collateral, debt);
}

function bruteForce(accounts: LevelsAccount[], assets: Map<number, LevelsAsset>, prices: Map<number, bigint>, q: LevelsQuery) {
  const p = prices.get(q.assetId)!;
  const edges = Array.from({ length: q.bins + 1 }, (_, i) => levelEdge(p, q, i).priceWad);
  const zero = (): LevelsTotals => ({ accounts: 0, collateralValue: 0n, debtValue: 0n, asset: 0n });
  const now = zero();
  const beyond = zero();
  const bins = edges.slice(1).map(zero);
  for (const a of accounts) {
    const held = a.collateral.filter((c) => c.assetId === q.assetId && (!q.eids || q.eids.has(c.eid))).reduce((s, c) => s + c.amount, 0n);
    if (held === 0n) continue;
    const put = (t: LevelsTotals, d: { collateralValue: bigint; debtValue: bigint }) => {
      t.accounts += 1;
      t.collateralValue += d.collateralValue;
      t.debtValue += d.debtValue;
      t.asset += held;
    };
    const today = at(a, assets, prices, q.assetId, p);
    if (today.healthFactor < WAD) {
      put(now, today);
      continue;
    }
    const i = edges.findIndex((e, k) => k > 0 && at(a, assets, prices, q.assetId, e).healthFactor < WAD);
    if (i < 0) put(beyond, today);
    else put(bins[i - 1]!, at(a, assets, prices, q.assetId, edges[i]!));
  }
  return { now, beyond, bins };
}

const strip = ({ accounts, collateralValue, debtValue, asset }: LevelsTotals) => ({ accounts, collateralValue, debtValue, asset });

describe("liquidation levels", () => {
  it("equal a recomputation of every account at every edge with the hub's math", () => {
    fc.assert(
      fc.property(
        marketArb,
        fc.array(accountArb, { minLength: 1, maxLength: 40 }),
        fc.constantFrom(...ASSET_IDS),
        fc.integer({ min: 1, max: 40 }),
        fc.bigInt({ min: 1n, max: WAD }),
        fc.option(fc.constantFrom(...EIDS), { nil: undefined }),
        (m, raw, assetId, bins, maxDropWad, eid) => {
          const assets = new Map(ASSET_IDS.map((id, i) => [id, m.assets[i]!] as const));
          const prices = new Map(ASSET_IDS.map((id, i) => [id, m.prices[i]!] as const));
          const accounts = raw.map((a, i) => ({ address: `0x${i.toString(16).padStart(40, "0")}`, ...a }));
          const q: LevelsQuery = { assetId, bins, maxDropWad, eids: eid === undefined ? undefined : new Set([eid]) };
          const fast = liquidationLevels(accounts, assets, prices, q);
          const slow = bruteForce(accounts, assets, prices, q);
          expect(strip(fast.now)).toEqual(slow.now);
          expect(strip(fast.beyond)).toEqual(slow.beyond);
          expect(fast.bins.map(strip)).toEqual(slow.bins);
          expect(fast.unpriced).toBe(0);
          // Cumulative: everything liquidatable at the edge; all holders are somewhere.
          const last = fast.bins.at(-1)!.cumulative;
          expect(last.accounts + fast.beyond.accounts).toBe(slow.now.accounts + slow.beyond.accounts + slow.bins.reduce((s, b) => s + b.accounts, 0));
          for (const b of fast.bins) {
            const upTo = slow.bins.slice(0, b.index);
            expect(b.cumulative.accounts).toBe(slow.now.accounts + upTo.reduce((s, x) => s + x.accounts, 0));
            expect(b.cumulative.debtValue).toBe(slow.now.debtValue + upTo.reduce((s, x) => s + x.debtValue, 0n));
          }
        },
      ),
      { numRuns: 400, seed: 20261127 },
    );
  });

  it("covers accounts that become liquidatable in the grid, and ones that owe the asset that falls", () => {
    // An account borrowing against ETH-like collateral: liquidatable once the price falls ~25 %.
    const assets = new Map<number, LevelsAsset>([[1, { decimals: 18, liquidationThreshold: (WAD * 8n) / 10n }], [2, { decimals: 6, liquidationThreshold: (WAD * 9n) / 10n }]]);
    const prices = new Map([[1, 2_000n * WAD], [2, WAD]]);
    const borrower: LevelsAccount = { address: "0xa", collateral: [{ eid: 30101, assetId: 1, amount: WAD }], debt: [{ assetId: 2, amount: 1_200n * 10n ** 6n }] };
    // Holds 1 ETH and 1,000 USDC, owes 1 ETH: HF = (0.8 p + 900) / p, so a lower ETH price only helps it.
    const hedged: LevelsAccount = {
      address: "0xb",
      collateral: [{ eid: 30102, assetId: 1, amount: WAD }, { eid: 30101, assetId: 2, amount: 1_000n * 10n ** 6n }],
      debt: [{ assetId: 1, amount: WAD }],
    };
    const levels = liquidationLevels([borrower, hedged], assets, prices, { assetId: 1, bins: 10, maxDropWad: WAD / 2n });
    // HF(p) = 0.8 p / 1,200 < 1 ⇔ p < 1,500; edges every 5 % (100 USD): at 1,500 HF is exactly 1, so the 30 % edge.
    const bin = levels.bins.find((b) => b.accounts > 0)!;
    expect(bin.index).toBe(6);
    expect(bin.priceWad).toBe(1_400n * WAD);
    expect(bin.collateralValue).toBe(1_400n * WAD);
    expect(bin.debtValue).toBe(1_200n * WAD);
    expect(bin.asset).toBe(WAD);
    expect(levels.beyond.accounts).toBe(1); // the hedged one
    expect(levels.bins.at(-1)!.cumulative.accounts).toBe(1);
    // Restricted to the other spoke, only the hedged account holds the asset there.
    const spoke2 = liquidationLevels([borrower, hedged], assets, prices, { assetId: 1, bins: 10, maxDropWad: WAD / 2n, eids: new Set([30102]) });
    expect(spoke2.bins.every((b) => b.accounts === 0)).toBe(true);
    expect(spoke2.beyond.accounts).toBe(1);
    // Its drop to liquidation for its dominant collateral: (2,000 − 1,500) / 2,000.
    expect(priceDropToLiquidation(1_500n * WAD, 2_000n * WAD)).toBe(WAD / 4n);
    expect(priceDropToLiquidation(2_500n * WAD, 2_000n * WAD)).toBe(0n);
    expect(priceDropToLiquidation(null, 2_000n * WAD)).toBeNull();
    expect(valueOf(WAD, 1_400n * WAD, 18)).toBe(1_400n * WAD);
  });

  it("leaves out holders it cannot price, and refuses a bad grid", () => {
    const assets = new Map<number, LevelsAsset>([[1, { decimals: 18, liquidationThreshold: (WAD * 8n) / 10n }], [2, { decimals: 6, liquidationThreshold: (WAD * 9n) / 10n }]]);
    const prices = new Map([[1, 2_000n * WAD]]); // asset 2 has no price yet
    const a: LevelsAccount = { address: "0xa", collateral: [{ eid: 30101, assetId: 1, amount: WAD }], debt: [{ assetId: 2, amount: 10n ** 6n }] };
    expect(liquidationLevels([a], assets, prices, { assetId: 1, bins: 4, maxDropWad: WAD / 2n }).unpriced).toBe(1);
    expect(() => liquidationLevels([a], assets, prices, { assetId: 1, bins: 0, maxDropWad: WAD / 2n })).toThrow(/bins/);
    expect(() => liquidationLevels([a], assets, prices, { assetId: 1, bins: 4, maxDropWad: WAD + 1n })).toThrow(/maxDropWad/);
    expect(() => liquidationLevels([a], assets, prices, { assetId: 2, bins: 4, maxDropWad: WAD })).toThrow(/no indexed price/);
  });
});
