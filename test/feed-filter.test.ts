/**
 * The subscriber filter (src/api/feed-event.ts `matchesFilter`) on pathway events: `kinds` selects them in or out;
 * `accounts`, `minProfitUsd` and `minDebtUsd` (about accounts and takes) let them through; `chainId` lets through a
 * pathway that starts or ends on that chain. Account events keep their rules.
 */
import { describe, expect, it } from "vitest";
import { type FeedEvent, matchesFilter } from "../src/api/feed-event.js";
import type { Opportunity } from "../src/api/queries.js";

const HUB = 31400;
const SPOKE1 = 31401;
const SPOKE2 = 31402;
const position = { chainId: HUB, blockNumber: 412n, logIndex: 2_147_483_647, timestamp: 1_795_620_311n };

const stalled: FeedEvent = {
  id: "00000000000000000412:2147483647:pathway-40401-40400",
  kind: "stalled",
  account: null,
  protocol: null,
  healthFactor: null,
  previousHealthFactor: null,
  debtValue: null,
  opportunity: null,
  ...position,
  pathway: { srcEid: 40401, dstEid: 40400, srcChainId: SPOKE1, dstChainId: HUB, reason: "oldest in flight past the bound", asOf: { chainId: HUB, number: 412n, timestamp: 1_795_620_311n } },
};
const cleared: FeedEvent = { ...stalled, id: "00000000000000000420:2147483647:pathway-40401-40400", kind: "cleared", pathway: { ...stalled.pathway!, reason: null } };

const account = "0xf1457c040db0634ee0fa0cc99262059942629019";
const liquidatable: FeedEvent = {
  id: `00000000000000000091:0000000001:${account}`,
  kind: "liquidatable",
  account,
  protocol: "reference",
  healthFactor: 971_938_220_561_931_466n,
  previousHealthFactor: 1_010_000_000_000_000_000n,
  debtValue: 81_022n * 10n ** 18n,
  opportunity: { collateral: { chainId: SPOKE2 }, profitUsd: 810n * 10n ** 18n } as Opportunity,
  ...position,
  pathway: null,
};

describe("feed filter and pathway events", () => {
  it("kinds select pathway events in or out", () => {
    expect(matchesFilter(stalled, {})).toBe(true);
    expect(matchesFilter(stalled, { kinds: ["stalled", "cleared"] })).toBe(true);
    expect(matchesFilter(cleared, { kinds: ["stalled"] })).toBe(false);
    expect(matchesFilter(stalled, { kinds: ["liquidatable", "updated", "kicked"] })).toBe(false);
    expect(matchesFilter(liquidatable, { kinds: ["stalled", "cleared"] })).toBe(false);
  });

  it("account and take filters let pathway events through; chainId only a pathway touching that chain", () => {
    const other = "0x0000000000000000000000000000000000000001";
    expect(matchesFilter(stalled, { accounts: [other], minProfitUsd: 10n ** 30n, minDebtUsd: 10n ** 30n })).toBe(true);
    expect(matchesFilter(stalled, { chainId: SPOKE1 })).toBe(true);
    expect(matchesFilter(cleared, { chainId: HUB })).toBe(true);
    expect(matchesFilter(stalled, { chainId: SPOKE2 })).toBe(false);
    expect(matchesFilter(stalled, { chainId: SPOKE2, kinds: ["stalled"] })).toBe(false);
  });

  it("account events keep their rules", () => {
    expect(matchesFilter(liquidatable, { accounts: [account] })).toBe(true);
    expect(matchesFilter(liquidatable, { accounts: ["0x0000000000000000000000000000000000000001"] })).toBe(false);
    expect(matchesFilter(liquidatable, { chainId: SPOKE2, minProfitUsd: 800n * 10n ** 18n })).toBe(true);
    expect(matchesFilter(liquidatable, { chainId: SPOKE1 })).toBe(false);
    expect(matchesFilter(liquidatable, { minDebtUsd: 10n ** 30n })).toBe(false);
  });
});
