/**
 * When the stall watch (src/indexer/pathway.ts) judges the pathways: only when a packet event changed what is in
 * flight, or when a block's clock reaches the earliest moment time alone can change a pathway's state. One row of
 * `pathway_watch` holds both, read through Ponder's row cache, so a block with nothing to judge costs no SQL.
 */
import type { Context } from "ponder:registry";
import { pathwayWatch } from "ponder:schema";

const ID = 0;

/** A packet was sent, verified or delivered: the next block of any chain judges the pathways again. */
export async function pathwaysChanged(context: Context): Promise<void> {
  await context.db.insert(pathwayWatch).values({ id: ID, dirty: true, nextCheckAt: null }).onConflictDoUpdate({ dirty: true });
}

/** Whether a block stamped `timestamp` must judge the pathways (always when nothing was judged yet). */
export async function mustJudge(context: Context, timestamp: bigint): Promise<boolean> {
  const watch = await context.db.find(pathwayWatch, { id: ID });
  return !watch || watch.dirty || (watch.nextCheckAt !== null && timestamp >= watch.nextCheckAt);
}

/**
 * The pathways were judged: `again` when a judgement was left for a later block (a transition waiting for the next
 * hub block, a destination with no clock yet); `nextCheckAt` the earliest timestamp time alone can change a state.
 */
export async function judged(context: Context, outcome: { again: boolean; nextCheckAt: bigint | null }): Promise<void> {
  const row = { dirty: outcome.again, nextCheckAt: outcome.nextCheckAt };
  await context.db.insert(pathwayWatch).values({ id: ID, ...row }).onConflictDoUpdate(row);
}
