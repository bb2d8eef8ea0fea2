/**
 * The opportunity feed for the hub-accounted market. Its health drifts every block with no event (debt accrues), so
 * no log handler can see an account go under: each live hub block values the deployment's book at the block's
 * timestamp (valuation.ts, as the API and equal to AccountedHub.accountData) and logs a `liquidatable` event for each
 * account that went under HF 1 since the feed last logged it, a `healthy` one for each back at or above 1, with the
 * protocol named (accounted_flag remembers which are under). Accounts needing a price the hub refuses wait.
 *
 * Live only (the block source starts at the head at start): the first live block logs every account already under 1.
 * Cost: the book's rows read once a block (O(borrowers)). Events are logged at BLOCK_LOG_INDEX − 1, after every log of
 * the block and before its pathway events.
 */
import { ponder } from "ponder:registry";
import { accountedAsset, accountedCollateral, accountedDebt, accountedFlag, accountedRate, accountedTerms, price } from "ponder:schema";
import { eq } from "ponder";
import { BLOCK_LOG_INDEX, type FeedEventInput, logFeedEvents } from "../../../indexer/feed-log.js";
import { hubChainId, loadIndexerManifest } from "../../../indexer/manifest.js";
import { WAD } from "../../../health/wad.js";
import { valueBook } from "../valuation.js";
import { hubAccountedDeployments } from "./contracts.js";

const deployments = hubAccountedDeployments(loadIndexerManifest().manifest);

if (deployments.length > 0) {
  ponder.on("AccountedWatch:block", async ({ event, context }) => {
    const block = { number: event.block.number, timestamp: event.block.timestamp };
    const db = context.db.sql;
    for (const p of deployments) {
      const protocol = p.name;
      const [assets, terms, rates, prices, debts, collateral, flags] = await Promise.all([
        db.select().from(accountedAsset).where(eq(accountedAsset.protocol, protocol)),
        db.select().from(accountedTerms).where(eq(accountedTerms.protocol, protocol)),
        db.select().from(accountedRate).where(eq(accountedRate.protocol, protocol)),
        db.select().from(price).where(eq(price.chainId, hubChainId())),
        db.select().from(accountedDebt).where(eq(accountedDebt.protocol, protocol)),
        db.select().from(accountedCollateral).where(eq(accountedCollateral.protocol, protocol)),
        db.select().from(accountedFlag).where(eq(accountedFlag.protocol, protocol)),
      ]);
      const flagged = new Map(flags.map((f) => [f.account.toLowerCase(), f.healthFactor]));
      const accounts = [...new Set([...debts.map((d) => d.account.toLowerCase()), ...flagged.keys()])];
      const book = valueBook(protocol, { assets, terms, rates, prices, debts, collateral }, accounts, block);
      const events: FeedEventInput[] = [];
      for (const h of book.health) {
        if (h.unusablePriceAssetIds.length > 0) continue;
        const account = h.account.toLowerCase() as `0x${string}`;
        const was = flagged.get(account);
        const under = h.healthFactor < WAD;
        if (under && was === undefined) events.push({ kind: "liquidatable", protocol, account, healthFactor: h.healthFactor, previousHealthFactor: null, debtValue: h.debtValue });
        else if (!under && was !== undefined) events.push({ kind: "healthy", protocol, account, healthFactor: h.healthFactor, previousHealthFactor: was, debtValue: h.debtValue });
      }
      // The flags follow the events: set in one insert, cleared one by one (the store deletes by key).
      const went = events.filter((e) => e.kind === "liquidatable");
      if (went.length > 0) await context.db.insert(accountedFlag).values(went.map((e) => ({ protocol, account: e.account, healthFactor: e.healthFactor })));
      for (const e of events) if (e.kind === "healthy") await context.db.delete(accountedFlag, { protocol, account: e.account });
      await logFeedEvents(context, events, block, BLOCK_LOG_INDEX - 1);
    }
  });
}
