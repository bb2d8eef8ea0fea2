/**
 * The opportunity model (src/opportunity): one choice of take for the API, the feed and the relayer.
 *
 * - The API's view (bestTake with no constraints and no costs, as src/api/queries.ts calls it) and the relayer's
 *   (planTake with unlimited inventory and exposure, zero costs) pick the same pair with the same numbers, for
 *   random accounts; that pair is the most profitable one, and its amounts are quoteTake's for it.
 * - Constraints (inventory, exposure) and costs (gas, LayerZero fee, price risk) change only the relayer's view.
 * - On a real hub after a crash and some kicks: every account's take, with and without the relayer's inventory
 *   limit, equals the hub's previewTake for the chosen pair to the wei.
 * - The auction a take lands in, and the feed's event kinds.
 */
import fc from "fast-check";
import type { Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubAbi } from "../abis/index.js";
import { write } from "../src/chains/tx.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
import { AUCTION_PARAMS } from "../src/devnet/market.js";
import { Rng } from "../src/devnet/rng.js";
import { seedBorrowers } from "../src/devnet/seed.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { bonusAt, quoteTake, valueOf } from "../src/health/health.js";
import { WAD } from "../src/health/wad.js";
import { type CollateralInput, type DebtInput, auctionAt, bestTake, healthEventKind, isLiquidatable } from "../src/opportunity/index.js";
import { type PlanInput, type PolicyConfig, planTake } from "../src/recovery/policy.js";
import { mapLimit } from "../src/util/concurrency.js";
import { type TestNetwork, startTestNetwork } from "./helpers/network.js";

const usd = (n: number) => BigInt(n) * WAD;
const CLOSE_FACTOR = WAD / 2n;

/** The relayer with nothing in its way: unlimited inventory and exposure, no costs, any profit. */
const neutral: PolicyConfig = {
  minProfitUsd: -(2n ** 255n),
  maxExposureUsd: { default: 2n ** 255n },
  priceRiskBpsPerMinute: 0n,
  expectedDeliverySeconds: 0n,
  takeGas: 0n,
  minSeizeBps: 10_000n,
};
const relayerInput = (debts: DebtInput[], collaterals: CollateralInput[], bonus: bigint, over: Partial<PlanInput> = {}): PlanInput => ({
  debts: debts.map((d) => ({ ...d, inventory: 2n ** 200n })),
  collaterals,
  closeFactor: CLOSE_FACTOR,
  bonus,
  gasPriceWei: 0n,
  hubNativePriceWad: usd(3_000),
  lzFeeWei: {},
  exposure: {},
  ...over,
});

/** Random accounts: 1–2 debt assets (6 or 18 decimals), 1–5 collateral positions over 3 eids and 3 assets (8 or 18 decimals). */
const debtArb = fc.record({
  assetId: fc.constantFrom(1, 2),
  amount: fc.bigInt({ min: 0n, max: 10n ** 24n }),
  priceWad: fc.bigInt({ min: WAD / 2n, max: 2n * WAD }),
  decimals: fc.constantFrom(6, 18),
});
const collateralArb = fc.record({
  eid: fc.constantFrom(40401, 40402, 40403),
  assetId: fc.constantFrom(10, 11, 12),
  amount: fc.bigInt({ min: 0n, max: 10n ** 24n }),
  priceWad: fc.bigInt({ min: 10n ** 15n, max: 10n ** 23n }),
  decimals: fc.constantFrom(8, 18),
});
const accountArb = fc.record({
  debts: fc.uniqueArray(debtArb, { minLength: 1, maxLength: 2, selector: (d) => d.assetId }),
  collaterals: fc.uniqueArray(collateralArb, { minLength: 1, maxLength: 5, selector: (c) => `${c.eid}:${c.assetId}` }),
  bonus: fc.bigInt({ min: AUCTION_PARAMS.minBonus, max: AUCTION_PARAMS.maxBonus }),
});

describe("one choice of take", () => {
  it("the API's view and the relayer's pick the same, most profitable pair with the same numbers", () => {
    let takes = 0;
    fc.assert(
      fc.property(accountArb, ({ debts, collaterals, bonus }) => {
        const api = bestTake({ debts, collaterals, closeFactor: CLOSE_FACTOR, bonus });
        const plan = planTake(neutral, relayerInput(debts, collaterals, bonus));
        if (!api.take) {
          expect(plan.action).not.toBe("take");
          return;
        }
        takes++;
        const t = api.take;
        expect(plan).toMatchObject({
          action: "take", debtAssetId: t.debt.assetId, collateralEid: t.collateral.eid, collateralAssetId: t.collateral.assetId,
          maxRepay: t.maxRepay, repayAmount: t.repayAmount, seizeAmount: t.seizeAmount, repayValue: t.repayValue, seizeValue: t.seizeValue,
          costs: { gas: 0n, lzFee: 0n, priceRisk: 0n }, profit: t.profit,
        });
        // The amounts are the hub's quote for the chosen pair (quoteTake = Hub._quoteTake, checked against the hub in math.property).
        expect(t.maxRepay).toBe((t.debt.amount * CLOSE_FACTOR) / WAD);
        expect({ repayAmount: t.repayAmount, seizeAmount: t.seizeAmount }).toEqual(
          quoteTake({
            debtAmount: t.debt.amount, debtPriceWad: t.debt.priceWad, debtDecimals: t.debt.decimals,
            collateralAmount: t.collateral.amount, collateralPriceWad: t.collateral.priceWad, collateralDecimals: t.collateral.decimals,
            closeFactor: CLOSE_FACTOR, bonus, maxRepay: t.maxRepay,
          }),
        );
        expect(t.profit).toBe(t.bonusValue);
        expect(t.bonusValue).toBe(t.seizeValue - t.repayValue);
        // No pair that repays and seizes something is more profitable.
        for (const d of debts.filter((x) => x.amount > 0n)) {
          for (const c of collaterals.filter((x) => x.amount > 0n)) {
            const q = quoteTake({
              debtAmount: d.amount, debtPriceWad: d.priceWad, debtDecimals: d.decimals,
              collateralAmount: c.amount, collateralPriceWad: c.priceWad, collateralDecimals: c.decimals,
              closeFactor: CLOSE_FACTOR, bonus, maxRepay: (d.amount * CLOSE_FACTOR) / WAD,
            });
            if (q.repayAmount === 0n || q.seizeAmount === 0n) continue;
            expect(valueOf(q.seizeAmount, c.priceWad, c.decimals) - valueOf(q.repayAmount, d.priceWad, d.decimals)).toBeLessThanOrEqual(t.profit);
          }
        }
      }),
      { numRuns: 500, seed: 11 },
    );
    expect(takes).toBeGreaterThan(300);
  });

  it("breaks ties toward the larger collateral position, then the lowest eid", () => {
    const debts = [{ assetId: 1, amount: 24_000_000_000n, priceWad: WAD, decimals: 6 }];
    // WETH at $3,000 on two spokes, neither capped: the same take, the same profit.
    const weth = (eid: number, eth: bigint) => ({ eid, assetId: 10, amount: eth * WAD, priceWad: usd(3_000), decimals: 18 });
    const bonus = (WAD * 2n) / 100n;
    expect(bestTake({ debts, collaterals: [weth(40401, 10n), weth(40402, 30n)], closeFactor: CLOSE_FACTOR, bonus }).take?.collateral.eid).toBe(40402);
    expect(bestTake({ debts, collaterals: [weth(40402, 30n), weth(40401, 30n)], closeFactor: CLOSE_FACTOR, bonus }).take?.collateral.eid).toBe(40401);
  });

  it("takes the most profitable pair even when it is not the largest collateral", () => {
    // $12,000 repaid at a 2% bonus; WBTC ($100k+) seizes in whole satoshis and loses a fraction of one, WETH does not.
    const debts = [{ assetId: 1, amount: 24_000_000_000n, priceWad: WAD, decimals: 6 }];
    const wbtc = { eid: 40401, assetId: 11, amount: 2n * 10n ** 8n, priceWad: 61_234_567_890_000_000_000_000n, decimals: 8 };
    const weth = { eid: 40402, assetId: 10, amount: 10n * WAD, priceWad: usd(3_000), decimals: 18 };
    const { take } = bestTake({ debts, collaterals: [wbtc, weth], closeFactor: CLOSE_FACTOR, bonus: (WAD * 2n) / 100n });
    expect(take?.collateral).toBe(weth);
    expect(take?.profit).toBe(usd(240));
  });

  it("constraints and costs change only the relayer's view", () => {
    const debts = [{ assetId: 1, amount: 24_000_000_000n, priceWad: WAD, decimals: 6 }];
    const collaterals = [
      { eid: 40401, assetId: 10, amount: 30n * WAD, priceWad: usd(3_000), decimals: 18 },
      { eid: 40402, assetId: 10, amount: 10n * WAD, priceWad: usd(3_000), decimals: 18 },
    ];
    const bonus = (WAD * 12n) / 100n;
    const api = bestTake({ debts, collaterals, closeFactor: CLOSE_FACTOR, bonus }).take!;
    expect(api).toMatchObject({ collateral: { eid: 40401 }, maxRepay: 12_000_000_000n, repayAmount: 12_000_000_000n, profit: usd(1_440) });
    expect(planTake(neutral, relayerInput(debts, collaterals, bonus))).toMatchObject({ action: "take", collateralEid: 40401, profit: usd(1_440) });

    // A dearer LayerZero path to eid 40401: the relayer goes to 40402, net of the fee; the API's view is the same.
    const fees = planTake(neutral, relayerInput(debts, collaterals, bonus, { hubNativePriceWad: usd(3_000), lzFeeWei: { 40401: 10n ** 16n, 40402: 10n ** 15n } }));
    expect(fees).toMatchObject({ action: "take", collateralEid: 40402, costs: { lzFee: usd(3) }, profit: usd(1_437) });
    // Inventory caps the repayment; the exposure cap moves the take to the other spoke; gas and price risk come off the profit.
    const short = planTake(neutral, relayerInput(debts, collaterals, bonus, { debts: debts.map((d) => ({ ...d, inventory: 1_000_000_000n })) }));
    expect(short).toMatchObject({ action: "take", maxRepay: 1_000_000_000n, repayAmount: 1_000_000_000n, repayValue: usd(1_000) });
    if (short.action === "take") expect(short.profit).toBe(short.seizeValue - usd(1_000)); // $1,120 of WETH, floored to the wei of WETH
    const capped = planTake({ ...neutral, maxExposureUsd: { default: 2n ** 255n, byEid: { 40401: usd(20_000) } } }, relayerInput(debts, collaterals, bonus, { exposure: { 40401: usd(10_000) } }));
    expect(capped).toMatchObject({ action: "take", collateralEid: 40402 });
    const costly = planTake({ ...neutral, takeGas: 500_000n, priceRiskBpsPerMinute: 10n, expectedDeliverySeconds: 120n }, relayerInput(debts, collaterals, bonus, { gasPriceWei: 10n ** 9n }));
    expect(costly).toMatchObject({ action: "take", collateralEid: 40401, costs: { gas: (usd(3) / 2n), lzFee: 0n, priceRisk: (usd(13_440) * 20n) / 10_000n } });
    // The same state as the API sees it, whatever the relayer's constraints were.
    expect(bestTake({ debts, collaterals, closeFactor: CLOSE_FACTOR, bonus }).take).toEqual(api);
  });

  it("says why there is no take", () => {
    const collaterals = [{ eid: 40401, assetId: 10, amount: WAD, priceWad: usd(3_000), decimals: 18 }];
    const debts = [{ assetId: 1, amount: 1_000_000n, priceWad: WAD, decimals: 6 }];
    expect(bestTake({ debts: [], collaterals, closeFactor: CLOSE_FACTOR, bonus: 0n })).toEqual({ reason: "no-debt" });
    expect(bestTake({ debts, collaterals: [], closeFactor: CLOSE_FACTOR, bonus: 0n })).toEqual({ reason: "nothing-to-seize" });
    expect(bestTake({ debts, collaterals, closeFactor: CLOSE_FACTOR, bonus: 0n, constraints: { inventory: {} } })).toEqual({ reason: "no-inventory" });
    expect(bestTake({ debts, collaterals, closeFactor: CLOSE_FACTOR, bonus: 0n, constraints: { exposure: { cap: { default: 0n }, current: {} } } })).toEqual({ reason: "exposure-cap" });
  });
});

describe("the auction a take lands in, and the feed's event kinds", () => {
  it("auctionAt: minBonus before a kick, bonusAt while active (through the tail), minBonus once expired", () => {
    const p = AUCTION_PARAMS;
    expect(auctionAt(p, undefined, 1_000n)).toEqual({ status: "none", bonus: p.minBonus, maxBonusAt: null, expiresAt: null });
    expect(auctionAt(p, 1_000n, 1_300n)).toEqual({ status: "active", bonus: bonusAt(p, 1_000n, 1_300n), maxBonusAt: 1_600n, expiresAt: 4_600n });
    expect(auctionAt(p, 1_000n, 1_300n).bonus).toBe((p.minBonus + p.maxBonus) / 2n);
    expect(auctionAt(p, 1_000n, 4_600n)).toMatchObject({ status: "active", bonus: p.maxBonus });
    expect(auctionAt(p, 1_000n, 4_601n)).toEqual({ status: "expired", bonus: p.minBonus, maxBonusAt: null, expiresAt: null });
  });

  it("healthEventKind: crossed below 1, moved while below, recovered", () => {
    const under = WAD - 1n;
    expect(isLiquidatable(under)).toBe(true);
    expect(isLiquidatable(WAD)).toBe(false);
    expect(healthEventKind(undefined, under)).toBe("liquidatable");
    expect(healthEventKind(WAD, under)).toBe("liquidatable");
    expect(healthEventKind(under, under - 5n)).toBe("updated");
    expect(healthEventKind(under, under)).toBeUndefined();
    expect(healthEventKind(under, WAD)).toBe("healthy");
    expect(healthEventKind(WAD, 2n * WAD)).toBeUndefined();
    expect(healthEventKind(undefined, WAD)).toBeUndefined();
  });
});

describe("the take against the hub", () => {
  let net: TestNetwork;
  let borrowers: Address[];
  const kicked: Address[] = [];

  beforeAll(async () => {
    net = await startTestNetwork(2);
    const rng = new Rng(5);
    borrowers = await seedBorrowers(net.deployment, net.deliverer, { count: 30, seed: 5, rng });
    const crash = await new MarketSimulator(net.deployment, rng).crash(borrowers, 0.4);
    const { public: reader, wallet } = net.deployment.hubClients;
    for (const account of crash.liquidatable.slice(0, 4)) {
      await write(wallet(devnetAccounts.liquidator), reader, { address: net.deployment.hubAddress, abi: hubAbi, functionName: "kick", args: [account] });
      kicked.push(account);
    }
    await net.advanceTime(200);
  }, 300_000);

  afterAll(async () => {
    await net?.stop();
  });

  it("every account's take, with and without an inventory limit, equals previewTake for its pair to the wei", async () => {
    const d = net.deployment;
    const reader = d.hubClients.public;
    const block = await reader.getBlock();
    const prices = await d.pricesWad(block.number);
    const params = d.manifest.auction;
    let checked = 0;
    await mapLimit(borrowers, 8, async (account) => {
      const [positions, au] = await Promise.all([
        d.positions(account, block.number),
        reader.readContract({ address: d.hubAddress, abi: hubAbi, functionName: "auctions", args: [account], blockNumber: block.number }),
      ]);
      const [, startedAt, , active] = au;
      // The hub's previewTake uses bonusAt(startedAt, now) for any account; for an active auction that is auctionAt's bonus.
      const bonus = bonusAt(params, startedAt, block.timestamp);
      if (active) expect(auctionAt(params, startedAt, block.timestamp)).toMatchObject({ status: "active", bonus });
      const debts = positions.debt.map((p) => ({ ...p, priceWad: prices.get(p.assetId)!, decimals: d.asset(p.assetId).decimals }));
      const collaterals = positions.collateral.map((p) => ({ ...p, priceWad: prices.get(p.assetId)!, decimals: d.asset(p.assetId).decimals }));
      const preview = (debtAssetId: number, maxRepay: bigint, eid: number, collateralAssetId: number) =>
        reader.readContract({ address: d.hubAddress, abi: hubAbi, functionName: "previewTake", args: [account, debtAssetId, maxRepay, eid, collateralAssetId], blockNumber: block.number });

      const { take } = bestTake({ debts, collaterals, closeFactor: params.closeFactor, bonus });
      expect(take).toBeDefined();
      const [repay, seize, onchainBonus] = await preview(take!.debt.assetId, take!.maxRepay, take!.collateral.eid, take!.collateral.assetId);
      expect({ repay: take!.repayAmount, seize: take!.seizeAmount, bonus }).toEqual({ repay, seize, bonus: onchainBonus });

      // The relayer with a third of the close-factor amount in inventory: its own maxRepay, still the hub's quote.
      const plan = planTake(neutral, {
        ...relayerInput(debts, collaterals, bonus),
        closeFactor: params.closeFactor,
        debts: debts.map((x) => ({ ...x, inventory: (x.amount * params.closeFactor) / WAD / 3n })),
      });
      expect(plan.action).toBe("take");
      if (plan.action !== "take") return;
      const [planRepay, planSeize] = await preview(plan.debtAssetId, plan.maxRepay, plan.collateralEid, plan.collateralAssetId);
      expect({ repay: plan.repayAmount, seize: plan.seizeAmount }).toEqual({ repay: planRepay, seize: planSeize });
      checked++;
    });
    expect(checked).toBe(borrowers.length);
    expect(kicked.length).toBeGreaterThan(0);
  });
});
