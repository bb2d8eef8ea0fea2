/**
 * Price feeds the hub reads. An answer moves the health of the accounts holding that asset only: they are
 * found through the (assetId, amount) indexes on collateral and debt and recomputed in one statement inside
 * PostgreSQL (health-sql.ts), so the work is O(k) for k holders with no per-holder round trip.
 */
import { sql } from "ponder";
import { ponder } from "ponder:registry";
import { accountHealth, asset, collateral, debt, price } from "ponder:schema";
import { priceToWad } from "../health/health.js";
import { HOLDER_UPDATE_SETTINGS, type HealthTables, parseHealthChanges, updateHolderHealthSql } from "./health-sql.js";
import { loadIndexerManifest } from "./manifest.js";
import { hubChainId, logHealthEvents, qualifiedName } from "./state.js";

let tables: HealthTables | undefined;

ponder.on("PriceFeed:AnswerUpdated", async ({ event, context }) => {
  const m = loadIndexerManifest();
  const assetId = m.assetIdByFeed.get(event.log.address.toLowerCase());
  if (assetId === undefined) return;
  // Scale as the hub does: with the decimals it read from the feed at listing, else the manifest's.
  const listed = await context.db.find(asset, { assetId });
  const feedDecimals = listed?.feedDecimals ?? m.assetById.get(assetId)?.feedDecimals;
  if (feedDecimals === undefined) throw new Error(`feed ${event.log.address} is for asset ${assetId}, which neither the hub nor the manifest describes`);
  const { current, roundId, updatedAt } = event.args;
  // The hub refuses a non-positive answer (InvalidPrice): record the round (the API marks its holders' health as
  // resting on an unusable price) but keep the last good priceWad, so health stays what the hub last computed.
  if (current <= 0n) {
    // Without a row there was never a good price, so no holder has a health to mark.
    const key = { chainId: context.chain.id, assetId };
    if (await context.db.find(price, key)) {
      await context.db.update(price, key).set({ feed: event.log.address, answer: current, roundId, updatedAt, block: event.block.number });
    }
    return;
  }
  const values = {
    feed: event.log.address,
    answer: current,
    priceWad: priceToWad(current, feedDecimals),
    roundId,
    updatedAt,
    block: event.block.number,
  };
  await context.db.insert(price).values({ chainId: context.chain.id, assetId, ...values }).onConflictDoUpdate(values);

  // Every holder's health in one set-based statement (health-sql.ts); the feed's events from what it returns.
  // Settings for this block's transaction (see HOLDER_UPDATE_SETTINGS). A read-only statement: Ponder flushes
  // no table for it.
  await context.db.sql.execute(sql.raw(HOLDER_UPDATE_SETTINGS));
  // (Ponder's indexing `sql` is drizzle's pg-proxy driver: `execute` resolves to the rows themselves.)
  const rows = (await context.db.sql.execute(
    sql.raw(updateHolderHealthSql({ tables: (tables ??= holderTables()), assetId, hubChainId: hubChainId(), blockNumber: event.block.number, blockTimestamp: event.block.timestamp })),
  )) as unknown as Record<string, unknown>[];
  await logHealthEvents(context, parseHealthChanges(rows), event.block, event.log.logIndex);
});

function holderTables(): HealthTables {
  return {
    collateral: qualifiedName(collateral),
    debt: qualifiedName(debt),
    asset: qualifiedName(asset),
    price: qualifiedName(price),
    accountHealth: qualifiedName(accountHealth),
  };
}
