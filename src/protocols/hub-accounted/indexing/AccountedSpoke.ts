/**
 * Indexing functions of the AccountedSpokes: a withdrawal paid on its spoke (Withdrawn) closes the loop of a
 * liquidation whose collateral was withdrawn. Registered only when the manifest deploys the protocol on a spoke.
 */
import { ponder } from "ponder:registry";
import { accountedWithdrawal } from "ponder:schema";
import { loadIndexerManifest } from "../../../indexer/manifest.js";
import { hubAccountedDeployments, protocolAt } from "./contracts.js";

const manifest = loadIndexerManifest().manifest;
const onSpokes = hubAccountedDeployments(manifest).some((p) => manifest.chains.some((c) => c.role === "spoke" && p.contracts[c.name]));

if (onSpokes) {
  const protocolOf = protocolAt(manifest);
  ponder.on("AccountedSpoke:Withdrawn", async ({ event, context }) => {
    const protocol = protocolOf(event.log.address);
    const paid = { paidBlock: event.block.number, paidAt: event.block.timestamp };
    await context.db.insert(accountedWithdrawal).values({ protocol, withdrawalId: event.args.withdrawalId, ...paid }).onConflictDoUpdate(paid);
  });
}
