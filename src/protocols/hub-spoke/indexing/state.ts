/**
 * Shared steps of the indexing functions: inline position lists on the account row, and health
 * recomputation for one account from indexed positions, prices and asset configs.
 */
import type { Context } from "ponder:registry";
import { account, accountHealth, asset, healthTrigger, price } from "ponder:schema";
import { healthEventKind } from "../../../opportunity/event.js";
import type { Hex } from "viem";
import { SIDE_CODE, type TriggerSide, guardOf, isWatched, triggerPrice } from "../../../health/envelope.js";
import { type AssetInfo, type Health, computeHealth, MissingInputError } from "./health.js";
import type { HealthChange } from "./health-sql.js";
import { noteHealth, noteMaybeWatched, noteTrigger } from "./reach-bounds.js";
import { type BlockRef, type FeedEventInput, logFeedEvents } from "../../../indexer/feed-log.js";
import { hubChainId } from "../../../indexer/manifest.js";

export type AccountRow = typeof account.$inferSelect;

/** The account row, created empty on first sight. */
export async function ensureAccount(context: Context, address: Hex, block: BlockRef): Promise<AccountRow> {
  const row = await context.db.find(account, { address });
  if (row) return row;
  return context.db
    .insert(account)
    .values({ address, collateral: [], debt: [], firstBlock: block.number, updatedBlock: block.number })
    .onConflictDoNothing()
    .then(async (r) => r ?? (await context.db.find(account, { address }))!);
}

/** The prices and asset configs a health computation reads (hub chain), by asset id. */
interface MarketInputs {
  prices: Map<number, bigint>;
  assets: Map<number, AssetInfo>;
}

/** Reads the indexed price and config of each asset in `ids` (those not indexed yet are left out). */
async function loadMarketInputs(context: Context, ids: Iterable<number>): Promise<MarketInputs> {
  const inputs: MarketInputs = { prices: new Map(), assets: new Map() };
  const chainId = hubChainId();
  for (const id of ids) {
    const [p, a] = await Promise.all([context.db.find(price, { chainId, assetId: id }), context.db.find(asset, { assetId: id })]);
    if (p) inputs.prices.set(id, p.priceWad);
    if (a) inputs.assets.set(id, { decimals: a.decimals, ltv: a.ltv, liquidationThreshold: a.liquidationThreshold });
  }
  return inputs;
}

/** An account_health row's values (all but the key) from a computed health and its guard, as of `block`. */
export function healthValues(h: Health & { guardHf: bigint }, block: BlockRef): Omit<typeof accountHealth.$inferInsert, "account"> {
  return {
    healthFactor: h.healthFactor,
    collateralValue: h.collateralValue,
    thresholdValue: h.thresholdValue,
    borrowPower: h.borrowPower,
    debtValue: h.debtValue,
    dominantCollateralAssetId: h.dominantCollateralAssetId,
    liquidationPriceWad: h.liquidationPriceWad,
    shockWad: h.shockWad,
    guardHf: h.guardHf,
    updatedBlock: block.number,
    updatedAt: block.timestamp,
  };
}

/** A position the event changed: its trigger is dropped when the account no longer holds that asset on that side. */
export interface TouchedPosition {
  assetId: number;
  side: TriggerSide;
}

/**
 * Recomputes and stores one account's health, guard and trigger prices (src/health/envelope.ts) from its inline
 * positions (a position event). Inputs that are not indexed yet (an asset listed later than a position, which
 * the hub forbids) leave the previous health in place. A price update recomputes the accounts whose trigger it
 * crosses in one statement instead (feeds.ts, health-sql.ts).
 */
export async function recomputeHealth(context: Context, row: AccountRow, block: BlockRef, logIndex: number, touched: TouchedPosition): Promise<void> {
  const { prices, assets } = await loadMarketInputs(context, new Set([...row.collateral.map((c) => c.assetId), ...row.debt.map((d) => d.assetId)]));
  let health;
  try {
    health = computeHealth({
      collateral: row.collateral.map((c) => ({ eid: c.eid, assetId: c.assetId, amount: BigInt(c.amount) })),
      debt: row.debt.map((d) => ({ assetId: d.assetId, amount: BigInt(d.amount) })),
      prices,
      assets,
    });
  } catch (error) {
    if (error instanceof MissingInputError) {
      // Its stored health (maybe watched) stays: its assets, the new one included, may be reached by any move.
      noteMaybeWatched([...row.collateral, ...row.debt].map((p) => p.assetId));
      return;
    }
    throw error;
  }
  const guardHf = guardOf(health);
  const values = healthValues({ ...health, guardHf }, block);
  // Read the previous HF as a value before the upsert: Ponder's row cache may update the found object in place.
  const previousHf = (await context.db.find(accountHealth, { account: row.address }))?.healthFactor;
  await context.db.insert(accountHealth).values({ account: row.address, ...values }).onConflictDoUpdate(values);
  // The envelope moves with the health: every held asset's trigger from this computation's prices (none without
  // debt), and the touched position's trigger dropped when the account no longer holds it on that side.
  const held: { assetId: number; side: TriggerSide }[] = [
    ...new Set(row.collateral.filter((c) => BigInt(c.amount) > 0n).map((c) => c.assetId)),
  ].map((assetId) => ({ assetId, side: "collateral" as const }));
  held.push(...row.debt.filter((d) => BigInt(d.amount) > 0n).map((d) => ({ assetId: d.assetId, side: "debt" as const })));
  noteHealth(guardHf, held.map((h) => h.assetId));
  // A watched account keeps no triggers (a price update finds it by its guard); triggers it had stay until it is
  // unwatched and they are rewritten: firing, they only name an account the update recomputes anyway.
  if (health.debtValue > 0n && !isWatched(guardHf)) {
    for (const h of held) {
      const priceWad = triggerPrice(h.side, prices.get(h.assetId)!, guardHf);
      noteTrigger({ assetId: h.assetId, side: SIDE_CODE[h.side], priceWad });
      await context.db.insert(healthTrigger).values({ account: row.address, assetId: h.assetId, side: SIDE_CODE[h.side], priceWad }).onConflictDoUpdate({ priceWad });
    }
  }
  // Without debt no trigger is kept (nothing a price does matters until the account borrows again).
  const dropped = health.debtValue > 0n ? (held.some((h) => h.assetId === touched.assetId && h.side === touched.side) ? [] : [touched]) : [...held, touched];
  // Ponder's store deletes through the database even when no such row exists (a round trip per call): look first,
  // which its row cache answers without the database while it is complete (a fresh backfill, where most
  // positions are opened before any debt, so there is nothing to drop).
  for (const d of dropped) {
    const key = { account: row.address, assetId: d.assetId, side: SIDE_CODE[d.side] };
    if (await context.db.find(healthTrigger, key)) await context.db.delete(healthTrigger, key);
  }
  await logHealthEvents(context, [{ account: row.address, previousHealthFactor: previousHf ?? null, healthFactor: health.healthFactor, debtValue: health.debtValue }], block, logIndex);
}

/** Logs the feed event each health change means, if any (src/opportunity/event.ts decides), in one insert. */
export async function logHealthEvents(
  context: Context,
  changes: readonly HealthChange[],
  block: BlockRef,
  logIndex: number,
): Promise<void> {
  const events: FeedEventInput[] = [];
  for (const c of changes) {
    const kind = healthEventKind(c.previousHealthFactor ?? undefined, c.healthFactor);
    if (kind) events.push({ kind, ...c });
  }
  await logFeedEvents(context, events, block, logIndex);
}

