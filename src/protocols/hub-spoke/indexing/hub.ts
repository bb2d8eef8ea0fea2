/**
 * Indexing functions of the Hub: positions, assets, auctions, liquidations, bad debt and reserve. Each is wrapped in
 * `afterEarlierMoves`: an earlier block's price moves are recomputed first (price-moves.ts), so it changes the state
 * that block ended with.
 */
import { ponder } from "ponder:registry";
import {
  account,
  asset,
  auction,
  auctionParams,
  badDebt,
  collateral,
  collateralMarket,
  debt,
  liquidation,
  price,
  reserve,
  seizure,
} from "ponder:schema";
import { priceToWad, valueOf } from "../../../health/health.js";
import { prefetchFeedDecimals, feedDecimals as readFeedDecimals } from "./feed-decimals.js";
import { loadIndexerManifest } from "../../../indexer/manifest.js";
import { markFreshStart, markPositions, recomputeSubjects } from "./recompute.js";
import { afterEarlierMoves } from "./price-moves.js";
import { ensureAccount, recomputeHealth } from "./state.js";
import { logFeedEvents } from "../../../indexer/feed-log.js";
import { chainIdOfEid } from "../../../indexer/manifest.js";

const END_REASONS = ["Healthy", "Repaid", "BadDebt", "Expired"] as const;


// The manifest's feeds: their decimals are read while Ponder syncs, before the first listing needs them.
prefetchFeedDecimals(loadIndexerManifest().hub, Object.values(loadIndexerManifest().hub.feeds));

// Ponder runs setup only when it indexes from the first block: its row cache is complete (recompute.ts).
ponder.on("Hub:setup", async () => {
  markFreshStart();
});

ponder.on(
  "Hub:AssetListed",
  afterEarlierMoves(async ({ event, context }) => {
    const { assetId, feed, decimals, token, ltv, liquidationThreshold, heartbeat } = event.args;
    const configured = loadIndexerManifest().assetById.get(assetId);
    // The hub scales answers by 10^(18 - feed.decimals()) read at listing: read the same value. A feed's
    // decimals are immutable (Chainlink's and ours), so it is read at the latest block: no archive state needed,
    // which a pruned RPC, or anvil past its in-memory history, cannot serve for an old block (feed-decimals.ts).
    const feedDecimals = await readFeedDecimals(loadIndexerManifest().hub, feed);
    const values = {
      symbol: configured?.symbol ?? null,
      feed,
      decimals,
      feedDecimals,
      token,
      ltv,
      liquidationThreshold,
      heartbeat: BigInt(heartbeat),
      listedBlock: event.block.number,
    };
    const relisted = (await context.db.find(asset, { assetId })) !== null;
    await context.db.insert(asset).values({ assetId, ...values }).onConflictDoUpdate(values);
    // A price indexed before the listing was scaled with the manifest's feed decimals: rescale it (from its answer
    // when that is positive; a non-positive one is refused by the hub, and its priceWad is rescaled at the next).
    const chainId = context.chain.id;
    const current = await context.db.find(price, { chainId, assetId });
    if (current && current.answer > 0n) await context.db.update(price, { chainId, assetId }).set({ priceWad: priceToWad(current.answer, feedDecimals) });
    // A re-listing may change thresholds and the price's scale: every holder's health and envelope with them.
    if (relisted) await recomputeSubjects(context, { kind: "holders", assetId }, event.block, event.log.logIndex);
  }),
);

ponder.on(
  "Hub:CollateralMarketListed",
  afterEarlierMoves(async ({ event, context }) => {
    const { eid, assetId } = event.args;
    await context.db
      .insert(collateralMarket)
      .values({ eid, assetId, chainId: chainIdOfEid(eid), listedBlock: event.block.number })
      .onConflictDoNothing();
  }),
);

ponder.on(
  "Hub:AuctionParamsSet",
  afterEarlierMoves(async ({ event, context }) => {
    const values = {
      closeFactor: event.args.closeFactor,
      minBonus: event.args.minBonus,
      maxBonus: event.args.maxBonus,
      auctionDuration: BigInt(event.args.auctionDuration),
      auctionTail: BigInt(event.args.auctionTail),
      updatedBlock: event.block.number,
    };
    await context.db.insert(auctionParams).values({ id: 0, ...values }).onConflictDoUpdate(values);
  }),
);

ponder.on(
  "Hub:CollateralUpdated",
  afterEarlierMoves(async ({ event, context }) => {
    markPositions();
    const { account: address, eid, assetId, balance } = event.args;
    const block = event.block;
    const position = { amount: balance, updatedBlock: block.number, updatedAt: block.timestamp };
    await context.db
      .insert(collateral)
      .values({ account: address, eid, assetId, chainId: chainIdOfEid(eid), ...position })
      .onConflictDoUpdate(position);
    const row = await ensureAccount(context, address, block);
    const list = row.collateral.filter((c) => !(c.eid === eid && c.assetId === assetId));
    if (balance !== 0n) list.push({ eid, assetId, amount: balance.toString() });
    list.sort((a, b) => a.eid - b.eid || a.assetId - b.assetId);
    const updated = await context.db.update(account, { address }).set({ collateral: list, updatedBlock: block.number });
    await recomputeHealth(context, updated, block, event.log.logIndex, { assetId, side: "collateral" });
  }),
);

ponder.on(
  "Hub:DebtUpdated",
  afterEarlierMoves(async ({ event, context }) => {
    markPositions();
    const { account: address, assetId, balance } = event.args;
    const block = event.block;
    const position = { amount: balance, updatedBlock: block.number, updatedAt: block.timestamp };
    await context.db.insert(debt).values({ account: address, assetId, ...position }).onConflictDoUpdate(position);
    const row = await ensureAccount(context, address, block);
    const list = row.debt.filter((d) => d.assetId !== assetId);
    if (balance !== 0n) list.push({ assetId, amount: balance.toString() });
    list.sort((a, b) => a.assetId - b.assetId);
    const updated = await context.db.update(account, { address }).set({ debt: list, updatedBlock: block.number });
    await recomputeHealth(context, updated, block, event.log.logIndex, { assetId, side: "debt" });
  }),
);

ponder.on(
  "Hub:AuctionKicked",
  afterEarlierMoves(async ({ event, context }) => {
    const { auctionId, account: address, kicker, healthFactor, collateralValue, debtValue } = event.args;
    await context.db.insert(auction).values({
      auctionId,
      account: address,
      kicker,
      healthFactorAtKick: healthFactor,
      collateralValueAtKick: collateralValue,
      debtValueAtKick: debtValue,
      startedAt: event.block.timestamp,
      startedBlock: event.block.number,
      active: true,
      takes: 0,
      repaid: 0n,
    });
    // The best bid starts to grow: the feed says so (the hub's HF at the kick; nothing else moved).
    await logFeedEvents(context, [{ kind: "kicked", account: address, healthFactor, previousHealthFactor: healthFactor, debtValue }], { number: event.block.number, timestamp: event.block.timestamp }, event.log.logIndex);
  }),
);

ponder.on(
  "Hub:Take",
  afterEarlierMoves(async ({ event, context }) => {
    const a = event.args;
    await context.db.insert(liquidation).values({
      takeId: a.takeId,
      auctionId: a.auctionId,
      account: a.account,
      taker: a.taker,
      debtAssetId: a.debtAssetId,
      repayAmount: a.repayAmount,
      collateralEid: a.collateralEid,
      collateralAssetId: a.collateralAssetId,
      seizeAmount: a.seizeAmount,
      bonus: a.bonus,
      receiver: a.receiver,
      guid: a.guid,
      block: event.block.number,
      timestamp: event.block.timestamp,
      transactionHash: event.transaction.hash,
    }).onConflictDoNothing();
    // The spoke's Seized may be indexed first (chains are indexed independently).
    const seized = await context.db.find(seizure, { takeId: a.takeId });
    if (seized) await context.db.update(liquidation, { takeId: a.takeId }).set({ seizedBlock: seized.block, seizedAt: seized.timestamp });
    const row = await context.db.find(auction, { auctionId: a.auctionId });
    if (row) await context.db.update(auction, { auctionId: a.auctionId }).set({ takes: row.takes + 1, repaid: row.repaid + a.repayAmount });
  }),
);

ponder.on(
  "Hub:AuctionEnded",
  afterEarlierMoves(async ({ event, context }) => {
    const { auctionId, reason } = event.args;
    const row = await context.db.find(auction, { auctionId });
    if (!row) return;
    await context.db
      .update(auction, { auctionId })
      .set({ active: false, endReason: END_REASONS[reason] ?? String(reason), endedAt: event.block.timestamp, endedBlock: event.block.number });
  }),
);

ponder.on(
  "Hub:BadDebtWrittenOff",
  afterEarlierMoves(async ({ event, context }) => {
    const { account: address, assetId, amount, coveredByReserve, uncovered } = event.args;
    // The loss in USD when it happened: Hub.valueOf at this block's price (the hub chain's feed, indexed already).
    const [p, a] = await Promise.all([context.db.find(price, { chainId: context.chain.id, assetId }), context.db.find(asset, { assetId })]);
    const valueUsd = p && a ? valueOf(amount, p.priceWad, a.decimals) : null;
    await context.db.insert(badDebt).values({
      id: event.id,
      account: address,
      assetId,
      amount,
      coveredByReserve,
      uncovered,
      valueUsd,
      block: event.block.number,
      timestamp: event.block.timestamp,
    });
    const row = await context.db.find(reserve, { assetId });
    const values = {
      reserve: (row?.reserve ?? 0n) - coveredByReserve,
      badDebt: (row?.badDebt ?? 0n) + uncovered,
      writtenOff: (row?.writtenOff ?? 0n) + amount,
      coveredByReserve: (row?.coveredByReserve ?? 0n) + coveredByReserve,
      writtenOffUsd: (row?.writtenOffUsd ?? 0n) + (valueUsd ?? 0n),
      writeOffs: (row?.writeOffs ?? 0) + 1,
      updatedBlock: event.block.number,
    };
    await context.db.insert(reserve).values({ assetId, ...values }).onConflictDoUpdate(values);
  }),
);

ponder.on(
  "Hub:ReserveFunded",
  afterEarlierMoves(async ({ event, context }) => {
    const { assetId, reserve: total } = event.args;
    const values = { reserve: total, updatedBlock: event.block.number };
    await context.db
      .insert(reserve)
      .values({ assetId, badDebt: 0n, writtenOff: 0n, coveredByReserve: 0n, writtenOffUsd: 0n, writeOffs: 0, ...values })
      .onConflictDoUpdate(values);
  }),
);
