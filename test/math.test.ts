/** The shared risk math on its own: rounding, the auction bonus curve and the take quote's caps. */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { UnusablePriceError, accountData, bonusAt, checkedPriceWad, priceProblem, priceToWad, priceUsable, quoteTake, valueOf } from "../src/health/health.js";
import { MAX_UINT256, WAD, formatWad, mulDiv, mulDivUp } from "../src/health/wad.js";

const params = { closeFactor: WAD / 2n, minBonus: WAD / 50n, maxBonus: (WAD * 12n) / 100n, auctionDuration: 600n, auctionTail: 3_600n };

describe("wad", () => {
  it("mulDiv rounds down and mulDivUp rounds up, exactly one apart unless divisible", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 200n }), fc.bigInt({ min: 0n, max: 2n ** 56n }), fc.bigInt({ min: 1n, max: 2n ** 100n }), (a, b, d) => {
        const down = mulDiv(a, b, d);
        const up = mulDivUp(a, b, d);
        expect(down * d <= a * b && a * b < (down + 1n) * d).toBe(true);
        expect(up - down).toBe((a * b) % d === 0n ? 0n : 1n);
      }),
    );
  });

  it("refuses division by zero and formats WADs for display", () => {
    expect(() => mulDiv(1n, 1n, 0n)).toThrow(RangeError);
    expect(formatWad(1_234_500_000_000_000_000n, 3)).toBe("1.234");
    expect(formatWad(MAX_UINT256)).toBe("∞");
  });
});

describe("health", () => {
  it("scales feed answers to WAD and values amounts in their own decimals", () => {
    expect(priceToWad(300_000_000_000n, 8)).toBe(3_000n * WAD);
    expect(() => priceToWad(0n, 8)).toThrow(/positive/);
    expect(valueOf(150_000_000n, 60_000n * WAD, 8)).toBe(90_000n * WAD); // 1.5 WBTC
    expect(valueOf(1_000_000n, WAD, 6)).toBe(WAD); // 1 USDC
  });

  it("computes HF as threshold-weighted collateral over debt, infinite without debt", () => {
    const weth = { amount: 10n * WAD, priceWad: 3_000n * WAD, decimals: 18, ltv: (WAD * 80n) / 100n, liquidationThreshold: (WAD * 85n) / 100n };
    const usdc = { amount: 24_000_000_000n, priceWad: WAD, decimals: 6 };
    const data = accountData([weth], [usdc]);
    expect(data.collateralValue).toBe(30_000n * WAD);
    expect(data.thresholdValue).toBe(25_500n * WAD);
    expect(data.borrowPower).toBe(24_000n * WAD);
    expect(data.healthFactor).toBe((25_500n * WAD) / 24_000n);
    expect(accountData([weth], []).healthFactor).toBe(MAX_UINT256);
  });
});

describe("auction", () => {
  it("grows the bonus linearly from minBonus to maxBonus over the duration, then holds it", () => {
    expect(bonusAt(params, 1_000n, 1_000n)).toBe(params.minBonus);
    expect(bonusAt(params, 1_000n, 1_300n)).toBe((params.minBonus + params.maxBonus) / 2n);
    expect(bonusAt(params, 1_000n, 1_600n)).toBe(params.maxBonus);
    expect(bonusAt(params, 1_000n, 99_999n)).toBe(params.maxBonus);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10_000n }), fc.bigInt({ min: 0n, max: 10_000n }), (t1, t2) => {
        const [a, b] = t1 < t2 ? [t1, t2] : [t2, t1];
        expect(bonusAt(params, 0n, a) <= bonusAt(params, 0n, b)).toBe(true);
      }),
    );
  });

  it("caps the repayment by the close factor and the seizure by the collateral held", () => {
    const base = {
      debtAmount: 24_000_000_000n, debtPriceWad: WAD, debtDecimals: 6,
      collateralAmount: 10n * WAD, collateralPriceWad: 2_800n * WAD, collateralDecimals: 18,
      closeFactor: params.closeFactor, bonus: params.maxBonus,
    };
    expect(quoteTake({ ...base, maxRepay: 2n ** 255n })).toEqual({ repayAmount: 12_000_000_000n, seizeAmount: 4_800_000_000_000_000_000n });
    expect(quoteTake({ ...base, maxRepay: 1_000_000_000n }).repayAmount).toBe(1_000_000_000n);
    // Only 1 WETH left: take all of it and repay its value at the bonus, rounded up.
    const capped = quoteTake({ ...base, collateralAmount: WAD, maxRepay: 2n ** 255n });
    expect(capped.seizeAmount).toBe(WAD);
    expect(capped.repayAmount).toBe(mulDivUp(mulDiv(2_800n * WAD, WAD, WAD + params.maxBonus), 1_000_000n, WAD));
  });
});

describe("price validity (Hub.priceWad's rule)", () => {
  const heartbeat = 3_600n;
  const round = (answer: bigint, updatedAt: bigint) => ({ answer, updatedAt });

  it("uses a positive answer up to exactly the heartbeat's age, and refuses it one second later", () => {
    expect(priceProblem(10, round(300_000_000_000n, 1_000n), heartbeat, 1_000n)).toBeUndefined();
    expect(priceProblem(10, round(300_000_000_000n, 1_000n), heartbeat, 4_600n)).toBeUndefined();
    expect(priceProblem(10, round(300_000_000_000n, 1_000n), heartbeat, 4_601n)).toEqual({ errorName: "StalePrice", args: [10, 1_000n, heartbeat] });
    expect(checkedPriceWad(10, round(300_000_000_000n, 1_000n), 8, heartbeat, 4_600n)).toBe(3_000n * WAD);
  });

  it("refuses an answer <= 0 first (InvalidPrice), whatever its age, and a round stamped after now as stale", () => {
    expect(priceProblem(11, round(0n, 1_000n), heartbeat, 1_000n)).toEqual({ errorName: "InvalidPrice", args: [11, 0n] });
    expect(priceProblem(11, round(-5n, 0n), heartbeat, 99_999n)).toEqual({ errorName: "InvalidPrice", args: [11, -5n] });
    expect(priceProblem(11, round(1n, 1_001n), heartbeat, 1_000n)).toEqual({ errorName: "StalePrice", args: [11, 1_001n, heartbeat] });
    expect(() => checkedPriceWad(11, round(-5n, 1_000n), 8, heartbeat, 1_000n)).toThrow(new UnusablePriceError({ errorName: "InvalidPrice", args: [11, -5n] }));
    expect(() => checkedPriceWad(11, round(1n, 0n), 8, heartbeat, 4_000n)).toThrow("StalePrice(11, 0, 3600)");
  });

  it("is usable exactly when the answer is positive and its age is within [0, heartbeat]", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), fc.bigInt({ min: 0n, max: 10n ** 6n }), fc.bigInt({ min: 0n, max: 10n ** 6n }), fc.bigInt({ min: 1n, max: 10n ** 5n }), (answer, updatedAt, now, hb) => {
        const usable = answer > 0n && updatedAt <= now && now - updatedAt <= hb;
        expect(priceUsable(round(answer, updatedAt), hb, now)).toBe(usable);
        const problem = priceProblem(3, round(answer, updatedAt), hb, now);
        expect(problem?.errorName).toBe(usable ? undefined : answer <= 0n ? "InvalidPrice" : "StalePrice");
      }),
    );
  });
});
