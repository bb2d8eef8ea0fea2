/**
 * The backfill's proof that a price move reaches nobody (src/protocols/hub-spoke/indexing/reach-bounds.ts), against the rule the price
 * statement applies (health-sql.ts, envelope.ts `fires`): a collateral trigger fires at or above the new price, a
 * debt trigger at or below it, a watched holder always. Whether skipping such moves changes nothing is what
 * test/indexer.test.ts shows end to end: a fresh index (which skips) equals live ones (which never do).
 */
import { describe, expect, it } from "vitest";
import { fires } from "../src/health/envelope.js";
import { WAD } from "../src/health/wad.js";
import { noteHealth, noteTrigger, reachesNobody } from "../src/protocols/hub-spoke/indexing/reach-bounds.js";

describe("reach bounds", () => {
  it("claims nobody exactly when no written trigger fires and no holder was watched", () => {
    const WETH = 10;
    const USDC = 1;
    // Nothing written for an asset yet: nothing can be reached.
    expect(reachesNobody([{ assetId: WETH, priceWad: 1n }])).toBe(true);
    noteTrigger({ assetId: WETH, side: 0, priceWad: 1_950n * WAD });
    noteTrigger({ assetId: WETH, side: 0, priceWad: 1_800n * WAD });
    noteTrigger({ assetId: USDC, side: 1, priceWad: (WAD * 41n) / 40n });
    for (const price of [1_949n * WAD, 1_950n * WAD, 1_950n * WAD + 1n, 3_000n * WAD]) {
      expect(reachesNobody([{ assetId: WETH, priceWad: price }]), `WETH at ${price}`).toBe(!fires("collateral", 1_950n * WAD, price));
    }
    for (const price of [WAD, (WAD * 41n) / 40n, (WAD * 41n) / 40n - 1n]) {
      expect(reachesNobody([{ assetId: USDC, priceWad: price }]), `USDC at ${price}`).toBe(!fires("debt", (WAD * 41n) / 40n, price));
    }
    // A block's moves reach nobody only if none of them reaches anybody.
    expect(reachesNobody([{ assetId: WETH, priceWad: 3_000n * WAD }, { assetId: USDC, priceWad: 2n * WAD }])).toBe(false);
    // A watched holder (guard below 1) is reached by every move of what it holds, for good.
    noteHealth(WAD / 2n, [WETH]);
    expect(reachesNobody([{ assetId: WETH, priceWad: 3_000n * WAD }])).toBe(false);
    noteHealth(2n * WAD, [WETH]);
    expect(reachesNobody([{ assetId: WETH, priceWad: 3_000n * WAD }])).toBe(false);
  });
});
