/**
 * Price feeds the hub reads. An answer moves the health of the accounts holding that asset only: they are
 * found through the (assetId, amount) indexes on collateral and debt, so the work is O(k) for k holders.
 */
import { and, eq, gt, inArray, union } from "ponder";
import { ponder } from "ponder:registry";
import { account, asset, collateral, debt, price } from "ponder:schema";
import { priceToWad } from "../health/health.js";
import { loadIndexerManifest } from "./manifest.js";
import { loadMarketInputs, recomputeHealth } from "./state.js";

ponder.on("PriceFeed:AnswerUpdated", async ({ event, context }) => {
  const m = loadIndexerManifest();
  const assetId = m.assetIdByFeed.get(event.log.address.toLowerCase());
  if (assetId === undefined) return;
  // Scale as the hub does: with the decimals it read from the feed at listing, else the manifest's.
  const listed = await context.db.find(asset, { assetId });
  const feedDecimals = listed?.feedDecimals ?? m.assetById.get(assetId)?.feedDecimals;
  if (feedDecimals === undefined) throw new Error(`feed ${event.log.address} is for asset ${assetId}, which neither the hub nor the manifest describes`);
  const { current, roundId, updatedAt } = event.args;
  // The hub reverts on non-positive answers; keep the last good price so health stays what the hub last computed.
  if (current <= 0n) return;
  const values = {
    feed: event.log.address,
    answer: current,
    priceWad: priceToWad(current, feedDecimals),
    roundId,
    updatedAt,
    block: event.block.number,
  };
  await context.db.insert(price).values({ chainId: context.chain.id, assetId, ...values }).onConflictDoUpdate(values);

  const holders = union(
    context.db.sql.select({ address: collateral.account }).from(collateral).where(and(eq(collateral.assetId, assetId), gt(collateral.amount, 0n))),
    context.db.sql.select({ address: debt.account }).from(debt).where(and(eq(debt.assetId, assetId), gt(debt.amount, 0n))),
  );
  const rows = await context.db.sql.select().from(account).where(inArray(account.address, holders));
  // Every holder is recomputed at the same prices: read the market once, not once per holder.
  const inputs = await loadMarketInputs(context, m.assetById.keys());
  for (const row of rows) await recomputeHealth(context, row, event.block, event.log.logIndex, inputs);
});
