/**
 * The index: positions, prices, auctions, liquidations, LayerZero packets, bad debt and per-account health.
 *
 * Price updates stay O(k): `collateral` and `debt` carry an index on `assetId` (with the amount), so the
 * handler of a feed's AnswerUpdated finds the k accounts holding that asset by an index range scan and
 * recomputes health for those k only. Position updates recompute one account from its own `account` row,
 * which keeps the account's positions inline (at most markets + debt assets entries), so no scan either.
 */
import { index, onchainTable, primaryKey } from "ponder";

/** Every address that ever held a position on the hub, with its positions inline for health recomputation. */
export const account = onchainTable("account", (t) => ({
  address: t.hex().primaryKey(),
  /** `[{ eid, assetId, amount }]`, amounts as decimal strings; zero balances removed. */
  collateral: t.json().$type<{ eid: number; assetId: number; amount: string }[]>().notNull(),
  /** `[{ assetId, amount }]`, amounts as decimal strings; zero balances removed. */
  debt: t.json().$type<{ assetId: number; amount: string }[]>().notNull(),
  firstBlock: t.bigint().notNull(),
  updatedBlock: t.bigint().notNull(),
}));

/** The hub's mirror of collateral per (account, spoke eid, asset), as CollateralUpdated reports it. */
export const collateral = onchainTable(
  "collateral",
  (t) => ({
    account: t.hex().notNull(),
    eid: t.integer().notNull(),
    /** The chain holding the collateral (the manifest's chain id for that eid; 0 if unknown). */
    chainId: t.integer().notNull(),
    assetId: t.integer().notNull(),
    amount: t.bigint().notNull(),
    updatedBlock: t.bigint().notNull(),
    updatedAt: t.bigint().notNull(),
  }),
  (table) => ({
    pk: primaryKey({ columns: [table.account, table.eid, table.assetId] }),
    holdersIdx: index("collateral_asset_holders_idx").on(table.assetId, table.amount),
    accountIdx: index("collateral_account_idx").on(table.account),
  }),
);

/** Debt per (account, asset) on the hub. */
export const debt = onchainTable(
  "debt",
  (t) => ({
    account: t.hex().notNull(),
    assetId: t.integer().notNull(),
    amount: t.bigint().notNull(),
    updatedBlock: t.bigint().notNull(),
    updatedAt: t.bigint().notNull(),
  }),
  (table) => ({
    pk: primaryKey({ columns: [table.account, table.assetId] }),
    holdersIdx: index("debt_asset_holders_idx").on(table.assetId, table.amount),
    accountIdx: index("debt_account_idx").on(table.account),
  }),
);

/**
 * Latest answer of the feed the hub reads, per (chain, asset). Whether the hub uses it is decided at a block:
 * not when `answer` <= 0 (InvalidPrice), nor once the block is more than the asset's heartbeat past `updatedAt`
 * (StalePrice); the API says so per account (src/api/queries.ts `unusablePrices`).
 */
export const price = onchainTable(
  "price",
  (t) => ({
    chainId: t.integer().notNull(),
    assetId: t.integer().notNull(),
    feed: t.hex().notNull(),
    /** The feed's latest answer, a non-positive one included (the hub refuses it). */
    answer: t.bigint().notNull(),
    /** Hub.priceWad: the latest positive answer scaled to 18 decimals (health is computed at it). */
    priceWad: t.bigint().notNull(),
    roundId: t.bigint().notNull(),
    /** The latest round's updatedAt (unix seconds), what the hub's heartbeat is measured from. */
    updatedAt: t.bigint().notNull(),
    block: t.bigint().notNull(),
  }),
  (table) => ({ pk: primaryKey({ columns: [table.chainId, table.assetId] }) }),
);

/** Assets listed on the hub (AssetListed), with the manifest's feed decimals. */
export const asset = onchainTable("asset", (t) => ({
  assetId: t.integer().primaryKey(),
  symbol: t.text(),
  feed: t.hex().notNull(),
  decimals: t.integer().notNull(),
  feedDecimals: t.integer().notNull(),
  token: t.hex().notNull(),
  ltv: t.bigint().notNull(),
  liquidationThreshold: t.bigint().notNull(),
  /** Largest age (seconds) of a feed answer the hub accepts for this asset (AssetListed). */
  heartbeat: t.bigint().notNull(),
  listedBlock: t.bigint().notNull(),
}));

/** (spoke eid, asset) pairs the hub accepts as collateral. */
export const collateralMarket = onchainTable(
  "collateral_market",
  (t) => ({
    eid: t.integer().notNull(),
    chainId: t.integer().notNull(),
    assetId: t.integer().notNull(),
    listedBlock: t.bigint().notNull(),
  }),
  (table) => ({ pk: primaryKey({ columns: [table.eid, table.assetId] }) }),
);

/**
 * A hub block's price moves waiting for the block's end (src/protocols/hub-spoke/indexing/price-moves.ts): one row (id 0) from the
 * block's first AnswerUpdated until its block handler (live) or the next hub event of a later block (backfill)
 * recomputes the accounts they reach, once, at the block's last prices. Empty between blocks when indexing live.
 */
export const pendingPriceMove = onchainTable("pending_price_move", (t) => ({
  id: t.integer().primaryKey(),
  block: t.bigint().notNull(),
  timestamp: t.bigint().notNull(),
  /** The block's last AnswerUpdated: the log index the recomputation's feed events carry. */
  logIndex: t.integer().notNull(),
  /** `[{ assetId, priceWad }]`, prices as decimal strings, one per asset. */
  moves: t.json().$type<{ assetId: number; priceWad: string }[]>().notNull(),
}));

/** Hub auction parameters (single row, id 0). */
export const auctionParams = onchainTable("auction_params", (t) => ({
  id: t.integer().primaryKey(),
  closeFactor: t.bigint().notNull(),
  minBonus: t.bigint().notNull(),
  maxBonus: t.bigint().notNull(),
  auctionDuration: t.bigint().notNull(),
  auctionTail: t.bigint().notNull(),
  updatedBlock: t.bigint().notNull(),
}));

/** Dutch auctions: kick, takes, end. */
export const auction = onchainTable(
  "auction",
  (t) => ({
    auctionId: t.bigint().primaryKey(),
    account: t.hex().notNull(),
    kicker: t.hex().notNull(),
    healthFactorAtKick: t.bigint().notNull(),
    collateralValueAtKick: t.bigint().notNull(),
    debtValueAtKick: t.bigint().notNull(),
    startedAt: t.bigint().notNull(),
    startedBlock: t.bigint().notNull(),
    active: t.boolean().notNull(),
    takes: t.integer().notNull(),
    repaid: t.bigint().notNull(),
    /** Healthy | Repaid | BadDebt | Expired, once ended. */
    endReason: t.text(),
    endedAt: t.bigint(),
    endedBlock: t.bigint(),
  }),
  (table) => ({ accountIdx: index("auction_account_idx").on(table.account) }),
);

/** One row per Take: repay on the hub, seize on a spoke (delivered by the `guid` packet). */
export const liquidation = onchainTable(
  "liquidation",
  (t) => ({
    takeId: t.bigint().primaryKey(),
    auctionId: t.bigint().notNull(),
    account: t.hex().notNull(),
    taker: t.hex().notNull(),
    debtAssetId: t.integer().notNull(),
    repayAmount: t.bigint().notNull(),
    collateralEid: t.integer().notNull(),
    collateralAssetId: t.integer().notNull(),
    seizeAmount: t.bigint().notNull(),
    bonus: t.bigint().notNull(),
    receiver: t.hex().notNull(),
    guid: t.hex().notNull(),
    /** Set when the spoke's Seized event is indexed. */
    seizedBlock: t.bigint(),
    seizedAt: t.bigint(),
    block: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
    transactionHash: t.hex().notNull(),
  }),
  (table) => ({ accountIdx: index("liquidation_account_idx").on(table.account), guidIdx: index("liquidation_guid_idx").on(table.guid) }),
);

/**
 * A spoke's Seized, by take id: kept whatever order the chains are indexed in (Ponder indexes them independently,
 * so a spoke's Seized can be indexed before the hub's Take it pays), and merged into `liquidation` by whichever of
 * the two comes second (src/protocols/hub-spoke/indexing/spoke.ts, hub.ts).
 */
export const seizure = onchainTable("seizure", (t) => ({
  takeId: t.bigint().primaryKey(),
  chainId: t.integer().notNull(),
  block: t.bigint().notNull(),
  timestamp: t.bigint().notNull(),
}));

/**
 * LayerZero packets by path and nonce (what PacketVerified/PacketDelivered identify them by), with the
 * guid from PacketSent. Status: sent → verified → delivered. Blocks are per chain (source for sent, destination
 * for verified/delivered); latency is in seconds of block time.
 */
export const packet = onchainTable(
  "packet",
  (t) => ({
    id: t.text().primaryKey(),
    guid: t.hex(),
    srcEid: t.integer().notNull(),
    sender: t.hex().notNull(),
    dstEid: t.integer().notNull(),
    receiver: t.hex().notNull(),
    nonce: t.bigint().notNull(),
    status: t.text().notNull(),
    sentBlock: t.bigint(),
    sentAt: t.bigint(),
    sentTx: t.hex(),
    verifiedBlock: t.bigint(),
    verifiedAt: t.bigint(),
    deliveredBlock: t.bigint(),
    deliveredAt: t.bigint(),
    deliveredTx: t.hex(),
    /** Destination blocks from verification to delivery. */
    latencyBlocks: t.bigint(),
    /** Seconds from send to delivery. */
    latencySeconds: t.bigint(),
    /** LzReceiveAlerts on the destination endpoint: lzReceive attempts that reverted. */
    failures: t.integer().notNull().default(0),
    /** The last alert's revert data and destination block timestamp. */
    lastFailureReason: t.hex(),
    lastFailureAt: t.bigint(),
  }),
  (table) => ({ guidIdx: index("packet_guid_idx").on(table.guid), statusIdx: index("packet_status_idx").on(table.status) }),
);

/** Debt written off against the reserve: one row per BadDebtWrittenOff (account, debt asset). */
export const badDebt = onchainTable("bad_debt", (t) => ({
  id: t.text().primaryKey(),
  account: t.hex().notNull(),
  assetId: t.integer().notNull(),
  amount: t.bigint().notNull(),
  coveredByReserve: t.bigint().notNull(),
  uncovered: t.bigint().notNull(),
  /** `amount` in WAD USD at the hub's price in that block (Hub.valueOf); null if the price was not indexed. */
  valueUsd: t.bigint(),
  block: t.bigint().notNull(),
  timestamp: t.bigint().notNull(),
}));

/**
 * Per debt asset: the reserve (risk buffer) and the running totals of its write-offs. `reserve` equals
 * Hub.reserve(assetId) and `badDebt` (the part the reserve did not cover) Hub.badDebt(assetId), in base units.
 */
export const reserve = onchainTable("reserve", (t) => ({
  assetId: t.integer().primaryKey(),
  reserve: t.bigint().notNull(),
  badDebt: t.bigint().notNull(),
  /** Σ BadDebtWrittenOff.amount: all debt written off, covered or not. */
  writtenOff: t.bigint().notNull(),
  /** Σ BadDebtWrittenOff.coveredByReserve. */
  coveredByReserve: t.bigint().notNull(),
  /** Σ of each write-off's WAD USD value at its block (write-offs whose price was unknown left out). */
  writtenOffUsd: t.bigint().notNull(),
  writeOffs: t.integer().notNull(),
  updatedBlock: t.bigint().notNull(),
}));

/**
 * Per-account health, equal to the wei to Hub.accountData at `updatedBlock`'s prices (src/health/health.ts), and
 * its envelope (src/health/envelope.ts): `guardHf`, below which the true health cannot be while none of the
 * account's `health_trigger` prices has been crossed. Rows whose guard is below 1 (watched) are recomputed at
 * every update of their assets and are exact; the others are as of their reference prices, so the API computes
 * an account's health when it is read (src/api/health-read.ts) and lists at-risk accounts from the guard.
 * `healthFactor` is MAX_UINT256 without debt, as on chain.
 */
export const accountHealth = onchainTable(
  "account_health",
  (t) => ({
    account: t.hex().primaryKey(),
    healthFactor: t.bigint().notNull(),
    collateralValue: t.bigint().notNull(),
    thresholdValue: t.bigint().notNull(),
    borrowPower: t.bigint().notNull(),
    debtValue: t.bigint().notNull(),
    /** Asset id of the collateral with the largest value, null without collateral. */
    dominantCollateralAssetId: t.integer(),
    /** Price (WAD) of the dominant collateral at which HF would reach 1, other prices fixed; null if none. */
    liquidationPriceWad: t.bigint(),
    /** Uniform collateral price move (WAD share, e.g. 0.2e18 = a 20 % drop) that brings HF to 1; 0 when HF <= 1. */
    shockWad: t.bigint(),
    /** Lower bound of the true health while no trigger fired (WAD); MAX_UINT256 without debt; below 1: watched. */
    guardHf: t.bigint().notNull(),
    updatedBlock: t.bigint().notNull(),
    updatedAt: t.bigint().notNull(),
  }),
  (table) => ({ hfIdx: index("account_health_hf_idx").on(table.healthFactor), guardIdx: index("account_health_guard_idx").on(table.guardHf) }),
);

/**
 * The envelope's trigger prices (src/health/envelope.ts): one per asset an account holds, per side (0 collateral:
 * fires when the price is at or below `priceWad`; 1 debt: at or above). A price update recomputes the accounts
 * whose trigger it crosses, found by one range scan of (assetId, side, priceWad).
 */
export const healthTrigger = onchainTable(
  "health_trigger",
  (t) => ({
    account: t.hex().notNull(),
    assetId: t.integer().notNull(),
    side: t.integer().notNull(),
    priceWad: t.bigint().notNull(),
  }),
  (table) => ({
    pk: primaryKey({ columns: [table.account, table.assetId, table.side] }),
    firesIdx: index("health_trigger_fires_idx").on(table.assetId, table.side, table.priceWad),
  }),
);

/**
 * The opportunity feed's durable log, in indexing order. Account events: an account's health crosses below 1
 * ("liquidatable"), moves while below 1 ("updated"), recovers to 1 or more ("healthy"), or its auction is kicked
 * ("kicked"); `account`, `healthFactor` and `debtValue` are set. Pathway events: a LayerZero pathway became
 * stalled ("stalled", with its `reason`) or cleared ("cleared"), decided at a hub block (src/indexer/pathway.ts);
 * `srcEid`, `dstEid` and `asOf*` (the destination's indexed block whose clock the ages were counted to) are set,
 * the account fields null. The id `<block:20>:<logIndex:10>:<subject>` (subject: the account, or
 * `pathway-<srcEid>-<dstEid>`) sorts as (hub block, log index, subject), so it is also the resume cursor; being an
 * onchainTable, a reorg removes the events of the orphaned blocks.
 */
export const opportunityEvent = onchainTable("opportunity_event", (t) => ({
  id: t.text().primaryKey(),
  account: t.hex(),
  kind: t.text().$type<"liquidatable" | "updated" | "healthy" | "kicked" | "stalled" | "cleared">().notNull(),
  healthFactor: t.bigint(),
  previousHealthFactor: t.bigint(),
  debtValue: t.bigint(),
  blockNumber: t.bigint().notNull(),
  logIndex: t.integer().notNull(),
  timestamp: t.bigint().notNull(),
  srcEid: t.integer(),
  dstEid: t.integer(),
  /** "nonce blocked" | "oldest in flight past the bound" on a stalled event; null otherwise. */
  reason: t.text().$type<"nonce blocked" | "oldest in flight past the bound">(),
  asOfChainId: t.integer(),
  asOfBlock: t.bigint(),
  asOfTimestamp: t.bigint(),
  /** The lending protocol of an account event, by name; null for the reference protocol (and on a pathway event). */
  protocol: t.text(),
}));

/**
 * When the stall watch (src/indexer/pathway.ts) must judge the pathways again: one row (id 0). `dirty` is set by
 * every packet event (a packet sent, verified or delivered changes what is in flight); `nextCheckAt` is the
 * earliest block timestamp at which time alone can change a pathway's state (a packet in flight reaching an age the
 * stall rule counts), null when nothing in flight can. Between the two the watch costs one cached row read a block.
 */
export const pathwayWatch = onchainTable("pathway_watch", (t) => ({
  id: t.integer().primaryKey(),
  dirty: t.boolean().notNull(),
  nextCheckAt: t.bigint(),
}));

/**
 * Per LayerZero pathway (source eid → destination eid): whether the indexer last found it stalled, so each
 * transition is logged to the feed once. Written only on a transition (src/indexer/pathway.ts).
 */
export const pathwayStall = onchainTable(
  "pathway_stall",
  (t) => ({
    srcEid: t.integer().notNull(),
    dstEid: t.integer().notNull(),
    stalled: t.boolean().notNull(),
    reason: t.text().$type<"nonce blocked" | "oldest in flight past the bound">(),
    /** The hub block of the last transition. */
    changedBlock: t.bigint().notNull(),
  }),
  (table) => ({ pk: primaryKey({ columns: [table.srcEid, table.dstEid] }) }),
);

// The hub-accounted money market's tables (src/protocols/hub-accounted/indexing/).
export * from "./src/protocols/hub-accounted/indexing/schema.js";
