/**
 * The hub-accounted money market's tables (re-exported by ponder.schema.ts). Every row carries `protocol`, the
 * deployment's name in the manifest, so several deployments index side by side. Balances are absolute, as the hub's
 * events report them; debt is stored scaled, with each asset's borrow index and rate: what an account owes is
 * defined only at a timestamp, and is computed when read, at the answer's block (src/protocols/hub-accounted/valuation.ts).
 */
import { index, onchainTable, primaryKey } from "ponder";

/** Assets listed on a hub-accounted hub (AssetListed). */
export const accountedAsset = onchainTable(
  "accounted_asset",
  (t) => ({
    protocol: t.text().notNull(),
    assetId: t.integer().notNull(),
    decimals: t.integer().notNull(),
    ltv: t.bigint().notNull(),
    liquidationThreshold: t.bigint().notNull(),
    heartbeat: t.bigint().notNull(),
  }),
  (table) => ({ pk: primaryKey({ columns: [table.protocol, table.assetId] }) }),
);

/** A debt asset's borrow index (RAY) as of `lastUpdate` and its rate (RAY per second): IndexAccrued, InterestRateSet. */
export const accountedRate = onchainTable(
  "accounted_rate",
  (t) => ({
    protocol: t.text().notNull(),
    assetId: t.integer().notNull(),
    index: t.bigint().notNull(),
    ratePerSecond: t.bigint().notNull(),
    lastUpdate: t.bigint().notNull(),
  }),
  (table) => ({ pk: primaryKey({ columns: [table.protocol, table.assetId] }) }),
);

/** The hub's collateral per (account, spoke eid, asset), as CollateralUpdated reports it; zero rows deleted. */
export const accountedCollateral = onchainTable(
  "accounted_collateral",
  (t) => ({
    protocol: t.text().notNull(),
    account: t.hex().notNull(),
    eid: t.integer().notNull(),
    assetId: t.integer().notNull(),
    amount: t.bigint().notNull(),
  }),
  (table) => ({
    pk: primaryKey({ columns: [table.protocol, table.account, table.eid, table.assetId] }),
    accountIdx: index("accounted_collateral_account_idx").on(table.protocol, table.account),
  }),
);

/** Scaled debt per (account, asset), as DebtUpdated reports it; zero rows deleted. */
export const accountedDebt = onchainTable(
  "accounted_debt",
  (t) => ({
    protocol: t.text().notNull(),
    account: t.hex().notNull(),
    assetId: t.integer().notNull(),
    scaled: t.bigint().notNull(),
  }),
  (table) => ({
    pk: primaryKey({ columns: [table.protocol, table.account, table.assetId] }),
    accountIdx: index("accounted_debt_account_idx").on(table.protocol, table.account),
  }),
);

/** The hub's liquidation terms (LiquidationParamsSet), one row per protocol. */
export const accountedTerms = onchainTable("accounted_terms", (t) => ({
  protocol: t.text().primaryKey(),
  closeFactor: t.bigint().notNull(),
  fullCloseBelowHf: t.bigint().notNull(),
  bonus: t.bigint().notNull(),
}));

/** Liquidations (Liquidated), with the withdrawal that carried the collateral out, if any, and its payment. */
export const accountedLiquidation = onchainTable(
  "accounted_liquidation",
  (t) => ({
    protocol: t.text().notNull(),
    liquidationId: t.bigint().notNull(),
    account: t.hex().notNull(),
    liquidator: t.hex().notNull(),
    debtAssetId: t.integer().notNull(),
    repayAmount: t.bigint().notNull(),
    eid: t.integer().notNull(),
    collateralAssetId: t.integer().notNull(),
    seizeAmount: t.bigint().notNull(),
    healthFactor: t.bigint().notNull(),
    block: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
    tx: t.hex().notNull(),
  }),
  (table) => ({ pk: primaryKey({ columns: [table.protocol, table.liquidationId] }), accountIdx: index("accounted_liquidation_account_idx").on(table.account) }),
);

/** Withdrawals the hub sent (WithdrawSent) and their payment on the spoke (Withdrawn), by withdrawal id. */
export const accountedWithdrawal = onchainTable(
  "accounted_withdrawal",
  (t) => ({
    protocol: t.text().notNull(),
    withdrawalId: t.bigint().notNull(),
    account: t.hex(),
    eid: t.integer(),
    assetId: t.integer(),
    amount: t.bigint(),
    receiver: t.hex(),
    guid: t.hex(),
    sentBlock: t.bigint(),
    /** The hub transaction that sent it: a liquidation's withdrawal is sent in the liquidation's transaction (AccountedExecutor). */
    sentTx: t.hex(),
    /** The spoke's Withdrawn: the block and time the receiver was paid. */
    paidBlock: t.bigint(),
    paidAt: t.bigint(),
  }),
  (table) => ({ pk: primaryKey({ columns: [table.protocol, table.withdrawalId] }) }),
);

/**
 * Each debt asset's reserve and uncovered bad debt, as AccountedHub.reserve and .badDebt hold them: ReserveFunded sets
 * the reserve (it reports the total), a write-off draws the covered part from it and adds the rest to bad debt.
 */
export const accountedReserve = onchainTable(
  "accounted_reserve",
  (t) => ({
    protocol: t.text().notNull(),
    assetId: t.integer().notNull(),
    reserve: t.bigint().notNull(),
    badDebt: t.bigint().notNull(),
  }),
  (table) => ({ pk: primaryKey({ columns: [table.protocol, table.assetId] }) }),
);

/** Debt the hub wrote off (BadDebtWrittenOff), valued at the asset's hub price when written off. */
export const accountedWriteOff = onchainTable(
  "accounted_write_off",
  (t) => ({
    protocol: t.text().notNull(),
    /** The hub event's block and log index. */
    block: t.bigint().notNull(),
    logIndex: t.integer().notNull(),
    account: t.hex().notNull(),
    assetId: t.integer().notNull(),
    amount: t.bigint().notNull(),
    coveredByReserve: t.bigint().notNull(),
    uncovered: t.bigint().notNull(),
    /** amount at the asset's indexed hub price then (WAD USD; 0 when no price was indexed). */
    amountUsd: t.bigint().notNull(),
  }),
  (table) => ({ pk: primaryKey({ columns: [table.protocol, table.block, table.logIndex] }) }),
);

/**
 * When the feed last valued a deployment's book (AccountedWatch) and what makes it value it again: `changedBlock`,
 * the last block whose hub events moved its positions, indexes, rates or terms (AccountedHub.ts sets it);
 * `nextCheckAt`, a time at or before the earliest at which interest alone may put one of its healthy accounts under
 * HF 1 at the prices of that valuation (null: no healthy account's debt grows).
 */
export const accountedWatch = onchainTable("accounted_watch", (t) => ({
  protocol: t.text().primaryKey(),
  valuedBlock: t.bigint().notNull(),
  changedBlock: t.bigint().notNull(),
  nextCheckAt: t.bigint(),
}));

/**
 * Accounts the feed last logged under HF 1 (AccountedWatch): a `liquidatable` event sets the row, a `healthy` one
 * deletes it, so each crossing is logged once.
 */
export const accountedFlag = onchainTable(
  "accounted_flag",
  (t) => ({
    protocol: t.text().notNull(),
    account: t.hex().notNull(),
    healthFactor: t.bigint().notNull(),
  }),
  (table) => ({ pk: primaryKey({ columns: [table.protocol, table.account] }) }),
);
