/**
 * The reference protocol's answers (src/api/protocols.ts): read from what its handlers keep, health stored per account
 * and recomputed by the indexer at every change (src/protocols/hub-spoke/indexing/), takes quoted by the opportunity
 * model at the indexed block (src/api/queries.ts), recoveries from takes, packets and seizures (../recoveries.ts), levels
 * over the holders' positions (../liquidation-levels.ts).
 */
import { REFERENCE_PROTOCOL } from "../../deployment/manifest.js";
import { healthOf } from "../health-read.js";
import { healthOut, opportunityJson, priceFields } from "../json.js";
import { levels, levelsJson } from "../liquidation-levels.js";
import type { ProtocolAnswers } from "../protocols.js";
import { type Opportunity, atRiskAccounts, market, opportunities, takesOf, unusablePricesByAccount } from "../queries.js";
import { recoveries, recoveriesJson } from "../recoveries.js";
import { solvency, solvencyJson } from "../solvency.js";
import { asOf } from "../snapshot.js";

export const hubSpokeAnswers: ProtocolAnswers = {
  name: REFERENCE_PROTOCOL,
  kind: "hub-spoke",

  async atRiskAccounts(args, snapshot) {
    const [page, mk] = await Promise.all([atRiskAccounts({ ...args, withTotalCount: true }), market()]);
    const unusable = await unusablePricesByAccount(page.items.map((h) => h.account), mk);
    return {
      items: page.items.map((h) => healthOut(h, mk.assets, unusable.get(h.account.toLowerCase()) ?? [], mk.prices)),
      pageInfo: page.pageInfo,
      totalCount: page.totalCount ?? 0,
      ...asOf(snapshot),
    };
  },

  async opportunities(args, snapshot) {
    const page = await opportunities(args);
    return { items: page.items.map((o) => ({ ...opportunityJson(o), ...priceFields(o.unusablePrices) })), pageInfo: page.pageInfo, ...asOf(snapshot) };
  },

  async liquidationsOf(accounts, snapshot) {
    if (accounts.length === 0 || !snapshot.hub) return new Map<string, Opportunity>();
    const [health, mk] = await Promise.all([healthOf(accounts), market()]);
    return takesOf(health, mk, snapshot.hub);
  },

  async recoveries(first) {
    return { protocol: REFERENCE_PROTOCOL, ...recoveriesJson(await recoveries(first)) };
  },

  async liquidationLevels(args) {
    return { protocol: REFERENCE_PROTOCOL, ...levelsJson(await levels(args)) };
  },

  async solvency() {
    return { protocol: REFERENCE_PROTOCOL, ...solvencyJson(await solvency()) };
  },

  async collateralAssets() {
    const mk = await market();
    return [...mk.assets.values()].filter((a) => a.liquidationThreshold > 0n).sort((a, b) => a.assetId - b.assetId).map(({ assetId, symbol, decimals }) => ({ assetId, symbol, decimals }));
  },
};
