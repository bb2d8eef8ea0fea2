/**
 * A hub block's price moves, judged once at the block's end.
 *
 * A crash moves several feeds in one block. Recomputing the accounts each move reaches, one AnswerUpdated after
 * another, recomputed most holders two or three times in that block (each statement over every account the move
 * fired: 3 × ~100 ms at 2,000 borrowers), when only the block's end state is ever visible: Ponder commits a block
 * whole, the API reads one block per answer, the hub judges each transaction at its own prices. So an AnswerUpdated
 * records the price and the move (`pending_price_move`, one row), and the accounts the block's moves reach (the
 * triggers each asset's last price crosses, and the watched holders of a moved asset) are recomputed once, at the
 * block's last prices, with the log index of its last AnswerUpdated:
 *
 * - live, by the hub's block handler (`PathwayWatch:block`, which Ponder runs after every log of its block): in the
 *   block's own transaction, so every committed block has no pending move;
 * - on the backfill (no block handler), by the first hub event of a later block, before it changes anything. What
 *   is written depends only on the block's end state, so a live index and a fresh one hold the same rows and the
 *   same feed events (test/indexer.test.ts compares them). Until the first block Ponder indexes live, a block's
 *   moves wait for the next hub event.
 *
 * A hub handler of the same block that recomputes an account (a position changed) does so at the prices indexed so
 * far; the block's end recomputes it again if a move reaches it. Feed events keep their meaning at block
 * granularity: an account pushed under 1 by one feed and back by another in the same block logs nothing.
 *
 * The pending row is read through Ponder's store (its cache) only when this process cannot know it: memory follows
 * the hub chain block by block (by hash and parent hash), and after a reorg or a restart the row is read once.
 */
import type { Context } from "ponder:registry";
import { pendingPriceMove } from "ponder:schema";
import type { Hex } from "viem";
import type { PriceMove } from "./health-sql.js";
import { recomputeSubjects } from "./recompute.js";

/** The hub block an event belongs to, as Ponder gives it. */
export interface HubBlock {
  number: bigint;
  timestamp: bigint;
  hash: Hex;
  parentHash: Hex;
}

type Pending = typeof pendingPriceMove.$inferSelect;

/** The block's end, after its last log: where its block handler runs. */
const BLOCK_END = Number.MAX_SAFE_INTEGER;

/**
 * What this process knows the pending row to be once block `hash` is indexed up to log index `at`. Ponder retries a
 * block that failed from its first event, in a new transaction: an event at or before `at` of the same block is
 * such a retry, and memory no longer holds.
 */
let known: { hash: Hex; at: number; pending: Pending | undefined } | undefined;

/** The pending row as of log `at` of `block`: from memory when it follows on, else read. */
async function pendingAt(context: Context, block: HubBlock, at: number): Promise<Pending | undefined> {
  // The same block further on, or the next block (no event between changes the row but ours).
  if (known && ((known.hash === block.hash && at > known.at) || known.hash === block.parentHash)) return known.pending;
  return (await context.db.find(pendingPriceMove, { id: 0 })) ?? undefined;
}

/** Recomputes what the pending moves reach, as of their block, and clears them. */
async function settle(context: Context, p: Pending): Promise<void> {
  await context.db.delete(pendingPriceMove, { id: 0 });
  const moves: PriceMove[] = p.moves.map((m) => ({ assetId: m.assetId, priceWad: BigInt(m.priceWad) }));
  await recomputeSubjects(context, { kind: "fired", moves }, { number: p.block, timestamp: p.timestamp }, p.logIndex);
}

/** Before a hub event changes anything: the moves of an earlier block are recomputed first. */
async function settleEarlierMoves(context: Context, block: HubBlock, logIndex: number): Promise<void> {
  let pending = await pendingAt(context, block, logIndex);
  if (pending && pending.block < block.number) {
    await settle(context, pending);
    pending = undefined;
  }
  known = { hash: block.hash, at: logIndex, pending };
}

/** A hub handler that first lets an earlier block's price moves be recomputed, as every hub handler must. */
export function afterEarlierMoves<A extends { event: { block: HubBlock; log: { logIndex: number } }; context: Context }>(handler: (args: A) => Promise<void>) {
  return async (args: A): Promise<void> => {
    await settleEarlierMoves(args.context, args.event.block, args.event.log.logIndex);
    await handler(args);
  };
}

/**
 * An AnswerUpdated whose price is indexed: the asset's new price joins its block's moves (an asset's last price in
 * a block wins). The handler (wrapped in afterEarlierMoves) settled earlier blocks first, before writing the price.
 */
export async function addPriceMove(context: Context, block: HubBlock, logIndex: number, move: PriceMove): Promise<void> {
  const before = known?.hash === block.hash ? known.pending : ((await context.db.find(pendingPriceMove, { id: 0 })) ?? undefined);
  const moves = [...(before?.moves.filter((m) => m.assetId !== move.assetId) ?? []), { assetId: move.assetId, priceWad: move.priceWad.toString() }].sort((a, b) => a.assetId - b.assetId);
  const pending: Pending = { id: 0, block: block.number, timestamp: block.timestamp, logIndex: Math.max(logIndex, before?.logIndex ?? 0), moves };
  const { id: _, ...values } = pending;
  await context.db.insert(pendingPriceMove).values(pending).onConflictDoUpdate(values);
  known = { hash: block.hash, at: logIndex, pending };
}

/** The hub's block handler: every log of the block is indexed; its moves are recomputed now. */
export async function settleMovesAtBlockEnd(context: Context, block: HubBlock): Promise<void> {
  const pending = await pendingAt(context, block, BLOCK_END);
  if (pending) await settle(context, pending);
  known = { hash: block.hash, at: BLOCK_END, pending: undefined };
}
