/** The take policy in isolation: profit accounting, the choice of collateral, and its three refusals. */
import { describe, expect, it } from "vitest";
import { type PlanInput, type PolicyConfig, batchMaxFeePerGas, coverage, nearestUnderWaterFirst, planTake } from "../src/recovery/policy.js";
import { DeliveryTimes } from "../src/recovery/delivery-times.js";
import { WAD } from "../src/health/wad.js";

const usd = (n: number) => BigInt(n) * WAD;
const config: PolicyConfig = {
  minProfitUsd: usd(1),
  maxExposureUsd: { default: usd(1_000_000) },
  priceRiskBpsPerMinute: 10n,
  expectedDeliverySeconds: 60n,
  takeGas: 500_000n,
  minSeizeBps: 9_900n,
};
// $24,000 of USDC debt against 10 WETH at $2,800 on eid 2 and 500 LINK at $10 on eid 3.
const input = (over: Partial<PlanInput> = {}): PlanInput => ({
  debts: [{ assetId: 1, amount: 24_000_000_000n, priceWad: WAD, decimals: 6, inventory: 10n ** 15n }],
  collaterals: [
    { eid: 2, assetId: 10, amount: 10n * WAD, priceWad: usd(2_800), decimals: 18 },
    { eid: 3, assetId: 12, amount: 500n * WAD, priceWad: usd(10), decimals: 18 },
  ],
  closeFactor: WAD / 2n,
  bonus: (WAD * 12n) / 100n,
  gasPriceWei: 1_000_000_000n,
  hubNativePriceWad: usd(3_000),
  lzFeeWei: { 2: 10n ** 15n, 3: 10n ** 15n },
  exposure: {},
  ...over,
});

describe("planTake", () => {
  it("takes the most profitable pair, net of gas, LayerZero fee and price risk", () => {
    const plan = planTake(config, input());
    expect(plan.action).toBe("take");
    if (plan.action !== "take") return;
    expect(plan).toMatchObject({ debtAssetId: 1, collateralEid: 2, collateralAssetId: 10, repayAmount: 12_000_000_000n, seizeAmount: 48n * 10n ** 17n });
    expect(plan.repayValue).toBe(usd(12_000));
    expect(plan.seizeValue).toBe(usd(13_440));
    expect(plan.costs.gas).toBe(1_500_000_000_000_000_000n); // 500k gas at 1 gwei = 0.0005 ETH = $1.5
    expect(plan.costs.lzFee).toBe(usd(3)); // 0.001 ETH
    expect(plan.costs.priceRisk).toBe((usd(13_440) * 10n * 60n) / 600_000n); // 10 bps for one minute
    expect(plan.profit).toBe(usd(1_440) - plan.costs.gas - plan.costs.lzFee - plan.costs.priceRisk);
    expect(plan.minSeize).toBe((plan.seizeAmount * 9_900n) / 10_000n);
  });

  it("waits while the bonus does not pay the costs, and takes once it does", () => {
    const tiny = input({ debts: [{ assetId: 1, amount: 20_000_000n, priceWad: WAD, decimals: 6, inventory: 10n ** 15n }], bonus: (WAD * 2n) / 100n });
    expect(planTake(config, tiny)).toMatchObject({ action: "wait" });
    expect(planTake({ ...config, minProfitUsd: -usd(10) }, tiny)).toMatchObject({ action: "take" });
  });

  it("respects the per-spoke exposure cap and falls back to another spoke", () => {
    const capped = planTake({ ...config, maxExposureUsd: { default: usd(1_000_000), byEid: { 2: usd(20_000) } } }, input({ exposure: { 2: usd(10_000) } }));
    expect(capped).toMatchObject({ action: "take", collateralEid: 3 });
    const none = planTake({ ...config, maxExposureUsd: { default: usd(100) } }, input());
    expect(none).toMatchObject({ action: "wait", reason: expect.stringMatching(/exposure cap/) });
  });

  it("limits the repayment to the inventory and skips without any", () => {
    const short = planTake(config, input({ debts: [{ assetId: 1, amount: 24_000_000_000n, priceWad: WAD, decimals: 6, inventory: 1_000_000_000n }] }));
    expect(short).toMatchObject({ action: "take", repayAmount: 1_000_000_000n });
    const empty = planTake(config, input({ debts: [{ assetId: 1, amount: 24_000_000_000n, priceWad: WAD, decimals: 6, inventory: 0n }] }));
    expect(empty).toMatchObject({ action: "skip", reason: expect.stringMatching(/insufficient inventory/) });
  });
});

describe("a batch's fee cap follows its plans", () => {
  const plan = (profitUsd: number, gasUsd: number) => ({ profit: usd(profitUsd), costs: { gas: usd(gasUsd), lzFee: 0n, priceRisk: 0n } });
  const o = { gasLimit: 1_000_000n, gasPriceWei: 1_000_000_000n, hubNativePriceWad: usd(2_000), minProfitUsd: usd(10) };

  it("stops where the batch's profit would fall to the minimum", () => {
    // Two takes of $100 profit after $2 of gas each: (102 - 10) * 2 = $184 = 0.092 ETH over 1M gas = 92 gwei.
    expect(batchMaxFeePerGas([plan(100, 2), plan(100, 2)], o)).toBe(92_000_000_000n);
    // Ten times the profit, ten times the cap: it follows the plan, not a constant.
    expect(batchMaxFeePerGas([plan(1_000, 2), plan(1_000, 2)], o)).toBe(992_000_000_000n);
  });

  it("never falls below today's price, so the batch can be sent", () => {
    expect(batchMaxFeePerGas([plan(5, 1)], o)).toBe(o.gasPriceWei);
    // A protocol's keeper accepting a $100 loss may pay up to (-50 + 1 + 100) = $51 = 0.0255 ETH: 25.5 gwei.
    expect(batchMaxFeePerGas([plan(-50, 1)], { ...o, minProfitUsd: usd(-100) })).toBe(25_500_000_000n);
  });
});

describe("delay-aware recovery", () => {
  it("prices the risk in flight over the pathway's measured seconds where it has them, the configured guess elsewhere", () => {
    const guessed = planTake(config, input());
    const measured = planTake(config, input({ deliverySeconds: { 2: 600n } }));
    if (guessed.action !== "take" || measured.action !== "take") throw new Error("expected takes");
    // 13,440 USD in flight: 10 bps a minute over 60 s is 13.44 USD, over 600 s ten times that.
    expect(guessed.costs.priceRisk).toBe((usd(13_440) * 10n * 60n) / (60n * 10_000n));
    expect(measured.costs.priceRisk).toBe(guessed.costs.priceRisk * 10n);
    expect(measured.profit).toBe(guessed.profit - guessed.costs.priceRisk * 9n);
    // Another eid's measurement leaves this one on the guess.
    const other = planTake(config, input({ deliverySeconds: { 3: 600n } }));
    if (other.action !== "take") throw new Error("expected a take");
    expect(other.costs.priceRisk).toBe(guessed.costs.priceRisk);
  });

  it("measures each pathway over a window: nearest-rank median and p99, the guess until enough deliveries", () => {
    const times = new DeliveryTimes({ window: 100, minSamples: 5 });
    expect(times.stats(2)).toBeUndefined();
    for (let i = 0; i < 4; i++) times.record(2, 1_000n, 1_000n + BigInt(10 + i));
    expect(times.expectedSeconds([2, 3], 30n)).toEqual({ 2: 30n, 3: 30n });
    times.record(2, 1_000n, 1_014n);
    expect(times.stats(2)).toEqual({ samples: 5, p50: 12n, p99: 14n });
    expect(times.expectedSeconds([2], 30n)).toEqual({ 2: 12n });
    // The window keeps the latest 100: 200 slow deliveries push the fast ones out.
    for (let i = 0; i < 200; i++) times.record(2, 0n, 300n + BigInt(i % 100));
    expect(times.stats(2)).toEqual({ samples: 100, p50: 349n, p99: 398n });
    // A Seized block stamped before its take's block (clocks of two chains) counts as 0, not negative.
    times.record(4, 100n, 90n);
    expect(times.stats(4)?.p50).toBe(0n);
  });

  it("works first on the accounts nearest to going under water, then those under water closest to 1, then those without debt", () => {
    const c = (collateral: number, debt: number) => coverage({ collateralValue: usd(collateral), debtValue: usd(debt) });
    const accounts = [
      { name: "far", cov: c(130, 100) },
      { name: "no debt", cov: c(5, 0) },
      { name: "deep under", cov: c(50, 100) },
      { name: "at 1", cov: c(100, 100) },
      { name: "just under", cov: c(99, 100) },
      { name: "near", cov: c(101, 100) },
    ];
    expect(c(101, 100)).toBe((WAD * 101n) / 100n);
    expect(accounts.sort((a, b) => nearestUnderWaterFirst(a.cov, b.cov)).map((a) => a.name)).toEqual(["at 1", "near", "far", "just under", "deep under", "no debt"]);
  });
});
