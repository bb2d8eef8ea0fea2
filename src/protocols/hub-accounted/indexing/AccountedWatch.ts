/**
 * The opportunity feed for the hub-accounted market. Its health drifts every block with no event (debt accrues), so
 * no log handler can see an account go under: each live hub block values the deployment's book at the block's
 * timestamp (valuation.ts, as the API and equal to AccountedHub.accountData) and logs a `liquidatable` event for each
 * account that went under HF 1 since the feed last logged it, a `healthy` one for each back at or above 1, with the
 * protocol named (accounted_flag remembers which are under). Accounts needing a price the hub refuses wait.
 *
 * Live only (the block source starts at the head at start): the first live block logs every account already under 1.
 * Events are logged at BLOCK_LOG_INDEX − 1, after every log of the block and before its pathway events.
 *
 * Cost: valuing the book reads its rows (raw SQL: Ponder flushes its cache first) and values every borrower,
 * O(borrowers). A block values it only when something may have crossed since the last valuation: the book moved
 * (accounted_watch.changedBlock, set by AccountedHub.ts), a hub price moved (the `price` rows' block), or the block's
 * time reached `nextCheckAt`, no later than the first crossing interest alone can make (valuation.ts
 * `nextInterestCrossing`). Other blocks read a few cached rows.
 */
import { ponder } from "ponder:registry";
import { accountedAsset, accountedCollateral, accountedDebt, accountedFlag, accountedRate, accountedTerms, accountedWatch, price } from "ponder:schema";
import { eq } from "ponder";
import { BLOCK_LOG_INDEX, type FeedEventInput, logFeedEvents } from "../../../indexer/feed-log.js";
import { hubChainId, loadIndexerManifest } from "../../../indexer/manifest.js";
import { WAD } from "../../../health/wad.js";
import { nextInterestCrossing, valueBook } from "../valuation.js";
import { hubAccountedDeployments } from "./contracts.js";

const { manifest } = loadIndexerManifest();
const deployments = hubAccountedDeployments(manifest);

if (deployments.length > 0) {
  ponder.on("AccountedWatch:block", async ({ event, context }) => {
    const block = { number: event.block.number, timestamp: event.block.timestamp };
    const db = context.db.sql;
    // The hub's prices (kept by the reference protocol's feed handlers): the newest block any of them moved at.
    const priceRows = await Promise.all(manifest.assets.map((a) => context.db.find(price, { chainId: hubChainId(), assetId: a.id })));
    const pricedAt = priceRows.reduce((newest, row) => (row && row.block > newest ? row.block : newest), 0n);
    for (const p of deployments) {
      const protocol = p.name;
      const watch = await context.db.find(accountedWatch, { protocol });
      const quiet = watch !== null && watch.valuedBlock > watch.changedBlock && watch.valuedBlock > pricedAt;
      if (quiet && (watch.nextCheckAt === null || block.timestamp < watch.nextCheckAt)) continue;
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
      const nextCheckAt = nextInterestCrossing(book);
      await context.db
        .insert(accountedWatch)
        .values({ protocol, valuedBlock: block.number, changedBlock: watch?.changedBlock ?? 0n, nextCheckAt })
        .onConflictDoUpdate({ valuedBlock: block.number, nextCheckAt });
    }
  });
}
