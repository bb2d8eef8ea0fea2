/**
 * Indexing functions of the AccountedHub (contracts/hub-accounted/AccountedHub.sol): assets, terms, borrow indexes,
 * collateral and scaled debt as the hub's events report them (absolute balances: a reorg's replacement block writes
 * them again), liquidations, withdrawals, the reserve and bad debt written off. Registered only when the manifest deploys the protocol. Health is not
 * stored: debt grows every second, so it is computed when read, at the answer's block (../valuation.ts).
 */
import { type Context, ponder } from "ponder:registry";
import { accountedAsset, accountedCollateral, accountedDebt, accountedLiquidation, accountedRate, accountedTerms, accountedReserve, accountedWatch, accountedWithdrawal, accountedWriteOff, price } from "ponder:schema";
import { valueOf } from "../../../health/health.js";
import { hubChainId, loadIndexerManifest } from "../../../indexer/manifest.js";
import { hubAccountedDeployments, protocolAt } from "./contracts.js";

const manifest = loadIndexerManifest().manifest;

if (hubAccountedDeployments(manifest).length > 0) {
  const protocolOf = protocolAt(manifest);
  /** The book moved at this block: the feed's next live block values it again (AccountedWatch.ts). */
  const changed = (context: Context, protocol: string, block: bigint) =>
    context.db.insert(accountedWatch).values({ protocol, valuedBlock: 0n, changedBlock: block, nextCheckAt: null }).onConflictDoUpdate({ changedBlock: block });

  ponder.on("AccountedHub:AssetListed", async ({ event, context }) => {
    const protocol = protocolOf(event.log.address);
    const { assetId, decimals, ltv, liquidationThreshold, heartbeat } = event.args;
    const values = { decimals, ltv, liquidationThreshold, heartbeat: BigInt(heartbeat) };
    await context.db.insert(accountedAsset).values({ protocol, assetId, ...values }).onConflictDoUpdate(values);
    await changed(context, protocol, event.block.number);
  });

  ponder.on("AccountedHub:LiquidationParamsSet", async ({ event, context }) => {
    const protocol = protocolOf(event.log.address);
    const values = { closeFactor: event.args.closeFactor, fullCloseBelowHf: event.args.fullCloseBelowHf, bonus: event.args.bonus };
    await context.db.insert(accountedTerms).values({ protocol, ...values }).onConflictDoUpdate(values);
    await changed(context, protocol, event.block.number);
  });

  ponder.on("AccountedHub:InterestRateSet", async ({ event, context }) => {
    const protocol = protocolOf(event.log.address);
    const values = { index: event.args.index, ratePerSecond: event.args.ratePerSecond, lastUpdate: event.args.timestamp };
    await context.db.insert(accountedRate).values({ protocol, assetId: event.args.assetId, ...values }).onConflictDoUpdate(values);
    await changed(context, protocol, event.block.number);
  });

  ponder.on("AccountedHub:IndexAccrued", async ({ event, context }) => {
    const protocol = protocolOf(event.log.address);
    // The rate stays; InterestRateSet, which always follows its own accrual, sets it.
    await context.db.update(accountedRate, { protocol, assetId: event.args.assetId }).set({ index: event.args.index, lastUpdate: event.args.timestamp });
    await changed(context, protocol, event.block.number);
  });

  ponder.on("AccountedHub:CollateralUpdated", async ({ event, context }) => {
    const protocol = protocolOf(event.log.address);
    const key = { protocol, account: event.args.account, eid: event.args.eid, assetId: event.args.assetId };
    if (event.args.balance === 0n) await context.db.delete(accountedCollateral, key);
    else await context.db.insert(accountedCollateral).values({ ...key, amount: event.args.balance }).onConflictDoUpdate({ amount: event.args.balance });
    await changed(context, protocol, event.block.number);
  });

  ponder.on("AccountedHub:DebtUpdated", async ({ event, context }) => {
    const protocol = protocolOf(event.log.address);
    const key = { protocol, account: event.args.account, assetId: event.args.assetId };
    if (event.args.scaledBalance === 0n) await context.db.delete(accountedDebt, key);
    else await context.db.insert(accountedDebt).values({ ...key, scaled: event.args.scaledBalance }).onConflictDoUpdate({ scaled: event.args.scaledBalance });
    await changed(context, protocol, event.block.number);
  });

  ponder.on("AccountedHub:Liquidated", async ({ event, context }) => {
    const protocol = protocolOf(event.log.address);
    const a = event.args;
    await context.db.insert(accountedLiquidation).values({
      protocol, liquidationId: a.liquidationId, account: a.account, liquidator: a.liquidator, debtAssetId: a.debtAssetId,
      repayAmount: a.repayAmount, eid: a.eid, collateralAssetId: a.collateralAssetId, seizeAmount: a.seizeAmount,
      healthFactor: a.healthFactor, block: event.block.number, timestamp: event.block.timestamp, tx: event.transaction.hash,
    });
  });

  ponder.on("AccountedHub:WithdrawSent", async ({ event, context }) => {
    const protocol = protocolOf(event.log.address);
    const a = event.args;
    const values = { account: a.account, eid: a.eid, assetId: a.assetId, amount: a.amount, receiver: a.receiver, guid: a.guid, sentBlock: event.block.number, sentTx: event.transaction.hash };
    // The spoke's Withdrawn may be indexed first (chains index side by side): the row may exist with its payment.
    await context.db.insert(accountedWithdrawal).values({ protocol, withdrawalId: a.withdrawalId, ...values }).onConflictDoUpdate(values);
  });

  ponder.on("AccountedHub:BadDebtWrittenOff", async ({ event, context }) => {
    const protocol = protocolOf(event.log.address);
    const a = event.args;
    const [asset, hubPrice] = await Promise.all([
      context.db.find(accountedAsset, { protocol, assetId: a.assetId }),
      context.db.find(price, { chainId: hubChainId(), assetId: a.assetId }),
    ]);
    const key = { protocol, assetId: a.assetId };
    await context.db
      .insert(accountedReserve)
      .values({ ...key, reserve: 0n, badDebt: a.uncovered })
      .onConflictDoUpdate((row) => ({ reserve: row.reserve - a.coveredByReserve, badDebt: row.badDebt + a.uncovered }));
    await context.db.insert(accountedWriteOff).values({
      protocol, block: event.block.number, logIndex: event.log.logIndex, account: a.account, assetId: a.assetId, amount: a.amount,
      coveredByReserve: a.coveredByReserve, uncovered: a.uncovered, amountUsd: asset && hubPrice ? valueOf(a.amount, hubPrice.priceWad, asset.decimals) : 0n,
    });
  });

  ponder.on("AccountedHub:ReserveFunded", async ({ event, context }) => {
    const protocol = protocolOf(event.log.address);
    await context.db
      .insert(accountedReserve)
      .values({ protocol, assetId: event.args.assetId, reserve: event.args.reserve, badDebt: 0n })
      .onConflictDoUpdate({ reserve: event.args.reserve });
  });
}
