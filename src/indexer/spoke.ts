/** Indexing functions of the Spokes: seized collateral closes the loop of a liquidation. */
import { ponder } from "ponder:registry";
import { liquidation } from "ponder:schema";

ponder.on("Spoke:Seized", async ({ event, context }) => {
  const row = await context.db.find(liquidation, { takeId: event.args.takeId });
  if (!row) return;
  await context.db.update(liquidation, { takeId: event.args.takeId }).set({ seizedBlock: event.block.number, seizedAt: event.block.timestamp });
});
