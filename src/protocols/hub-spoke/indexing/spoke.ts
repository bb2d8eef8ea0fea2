/**
 * Indexing functions of the Spokes: seized collateral closes the loop of a liquidation. The seizure is kept on its
 * own (`seizure`) and set on its liquidation when that is indexed already; else the hub's Take sets it (hub.ts).
 */
import { ponder } from "ponder:registry";
import { liquidation, seizure } from "ponder:schema";

ponder.on("Spoke:Seized", async ({ event, context }) => {
  const { takeId } = event.args;
  await context.db.insert(seizure).values({ takeId, chainId: context.chain.id, block: event.block.number, timestamp: event.block.timestamp }).onConflictDoNothing();
  if (await context.db.find(liquidation, { takeId })) {
    await context.db.update(liquidation, { takeId }).set({ seizedBlock: event.block.number, seizedAt: event.block.timestamp });
  }
});
