/**
 * Price feeds the hub reads. An answer can only matter to the accounts holding that asset, and among them only
 * to those whose envelope (src/health/envelope.ts) it leaves: the accounts whose trigger price it crosses, found
 * by one range scan of health_trigger, plus the watched ones (guard below 1, triggers that always fire). They are
 * recomputed inside PostgreSQL (health-sql.ts), once per block for all of the block's moves (price-moves.ts); the
 * work is O(accounts fired), not O(holders).
 */
import { ponder } from "ponder:registry";
import { asset, price } from "ponder:schema";
import { priceToWad } from "../../../health/health.js";
import { loadIndexerManifest } from "../../../indexer/manifest.js";
import { addPriceMove, afterEarlierMoves } from "./price-moves.js";

// An earlier block's moves are recomputed at that block's prices first (afterEarlierMoves), before this one changes any.
ponder.on(
  "PriceFeed:AnswerUpdated",
  afterEarlierMoves(async ({ event, context }) => {
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

    // The accounts it reaches are recomputed once at the block's end, with the block's other moves (price-moves.ts).
    await addPriceMove(context, event.block, event.log.logIndex, { assetId, priceWad: values.priceWad });
  }),
);
