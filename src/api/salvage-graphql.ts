/**
 * The salvage GraphQL endpoint (`/salvage/graphql`): what Ponder's generated schema lacks.
 *
 *   atRiskAccounts(maxHealthFactor, chainId, asset, minDebtUsd, first, after,
 *                  protocol)                                                    HF-sorted, cursor-paginated
 *   account(address)                                                            health, positions on every chain, auctions (reference protocol)
 *   opportunities(first, after, minProfitUsd, chainId, protocol)                liquidatable now, with the best take
 *   protocols                                                                   the lending protocols served; each answer above with `protocol` is
 *                                                                               one of them, through src/api/protocols.ts
 *   indexedBlock                                                                the hub block the index is at
 *   opportunityEvents(since, first)                                             the feed's log, replayable
 *   solvency(protocol)                                                          bad debt written off, reserve, accounts under water (src/api/solvency.ts)
 *   pathways                                                                    LayerZero pathways: in flight, delivery times, failures, stalled (src/api/pathways.ts)
 *   liquidationLevels(assetId, chainId, bins, maxDrop, protocol)                what becomes liquidatable per bin of one asset's price drop (src/api/liquidation-levels.ts)
 *   recoveries(first, protocol)                                                 takes by state, the latest with take, packet and seizure; bad debt; the relayer's view (src/api/recoveries.ts)
 *   subscription opportunities(filter, since)                                   the feed, live (src/api/feed.ts)
 *   subscription accountHealth(address)                                         one account's health, live
 *
 * One request, one block: a query request is executed in one read-only snapshot (`oneSnapshotPerRequest`,
 * src/api/snapshot.ts), and each answer says the block it is as of (`block`, hub; `chainBlocks`, every chain).
 *
 * graphql-yoga (the server Ponder's own middleware runs on) with SDL type definitions. Yoga serves
 * subscriptions over SSE (with event ids, src/api/sse.ts); src/api/websocket.ts serves the same schema over
 * WebSocket (graphql-ws) through `yoga.getEnveloped`, so limits and errors are the same on both.
 * Limits (graphql-armor, as Ponder uses): depth, aliases, tokens; `first` at most MAX_PAGE; body size in index.ts.
 * Decimals come in as strings ("0.95"), bigints go out as decimal strings (WAD for ratios and USD values).
 */
import { maxAliasesPlugin } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import { maxTokensPlugin } from "@escape.tech/graphql-armor-max-tokens";
import { type DocumentNode, GraphQLError, type ValidationContext, visit } from "graphql";
import { type Plugin, createSchema, createYoga } from "graphql-yoga";
import type { Address } from "viem";
import {
  type AccountView,
  type CollateralView,
  type DebtView,
  type HealthRow,
  MAX_PAGE,
  type UnusablePrice,
  QueryError,
  accountsByAddress,
  atRiskAccounts,
  checkInt,
  latestEventId,
  market,
  opportunities,
  opportunityEvents,
  parseAddress,
  parseDecimalWad,
  parseSince,
  unusablePricesByAccount,
} from "./queries.js";
import { type Snapshot, StatementTimeoutError, asOf, atOneBlock, blockJson, isStatementTimeout } from "./snapshot.js";
import { Gauge } from "prom-client";
import { salvageRegistry } from "./metrics.js";
import { sseWithEventIds } from "./sse.js";
import { pathwayJson, pathways } from "./pathways.js";
import { parseLevelsArgs } from "./liquidation-levels.js";
import { recentCount, withRelayer } from "./recoveries.js";
import { AccountWatch } from "./account-watch.js";
import { apiLimits, subscriberGate, tooManySubscriptions } from "./limits.js";
import { queryCostLimit } from "./query-cost.js";
import { type FeedEvent, type Transport, enrich, feedEventJson, feedHub, parseFeedFilter } from "./feed.js";
import { REFERENCE_PROTOCOL } from "../deployment/manifest.js";
import { type PriceFields, dropOf, healthOut, priceFields, str } from "./json.js";
import { answerOf, protocolsJson } from "./protocols.js";

export const LIMITS = { maxDepth: 10, maxAliases: 50, maxTokens: 2_000, maxPage: MAX_PAGE, maxBodyBytes: 1_000_000 } as const;

export const typeDefs = /* GraphQL */ `
  """
  Bigints (amounts in base units, WAD ratios and USD values) are decimal strings.
  One request, one block: every field of a query request is read in one database snapshot, and each answer names
  the block it is as of (\`block\`: the hub's indexed block; \`chainBlocks\`: every chain's, the spokes too). Its
  rows are exactly the index's state at that block: compare them with the chain at \`block.number\`.
  """
  type Query {
    "Accounts with health factor strictly below maxHealthFactor, across all chains, by HF then address."
    atRiskAccounts(
      "Decimal HF bound, exclusive."
      maxHealthFactor: String = "1"
      "Only accounts with collateral on this chain."
      chainId: Int
      "Only accounts holding this asset (collateral or debt)."
      asset: Int
      "Only accounts owing at least this many USD (decimal)."
      minDebtUsd: String
      first: Int = 50
      "endCursor of the previous page."
      after: String
      "Which lending protocol: reference (the default) or a name from \`protocols\`."
      protocol: String
    ): AtRiskPage!
    "One account with its health, positions on every chain, auctions and liquidations; null if never seen."
    account(address: String!): Account
    "Accounts liquidatable now (HF < 1), by HF then address, with the best take at the indexed hub block."
    opportunities(first: Int = 50, after: String, "Decimal USD." minProfitUsd: String, "Only takes whose collateral is on this chain." chainId: Int, "Which lending protocol: reference (the default) or a name from \`protocols\`." protocol: String): OpportunityPage!
    "The lending protocols this index serves: the reference hub-and-spoke market, and each deployment of the manifest's \`protocols\`."
    protocols: [Protocol!]!
    "The hub chain block the index has processed (in the request's snapshot: the block the other fields are as of)."
    indexedBlock: Block
    "The opportunity feed's log after event id \`since\` (from the start without it or with 0), in indexing order; endCursor resumes."
    opportunityEvents(since: String, first: Int = 100): OpportunityEventPage!
    "The newest event id of the feed's log (null while empty): subscribe with since = this to miss nothing."
    latestEventId: String
    "Protocol solvency at one indexed hub block: debt written off and the reserve per debt asset, and the accounts under water now."
    solvency("Which lending protocol: reference (the default) or a name from \`protocols\`." protocol: String): Solvency!
    "Every LayerZero pathway (source eid → destination eid) the protocol's packets use, by srcEid then dstEid."
    pathways: [Pathway!]!
    """
    Liquidation levels of one asset: per bin of its price drop (other prices fixed), the accounts holding it as
    collateral that become liquidatable there (Hub.accountData's HF below 1 at the bin's edge price, and at no
    smaller edge), their collateral and debt valued at that price, and the cumulative sums. Exact for the indexed
    positions at the answer's block.
    """
    liquidationLevels(
      assetId: Int!
      "Only collateral of the asset on this chain (a spoke) counts."
      chainId: Int
      "Number of equal bins of drop between 0 and maxDrop (1..200)."
      bins: Int = 50
      "Largest drop, a decimal share of the current price in (0, 1]."
      maxDrop: String = "0.5"
      "Which lending protocol: reference (the default) or a name from \`protocols\`."
      protocol: String
    ): LiquidationLevels!
    "Recoveries at one indexed hub block: what waits for a liquidation, auctions open, liquidations (takes) by where their collateral is, bad debt, the latest ones; and the relayer's own view when SALVAGE_RELAYER_URL names it."
    recoveries("Latest takes to return (0..100)." first: Int = 20, "Which lending protocol: reference (the default) or a name from \`protocols\`." protocol: String): Recoveries!
  }

  type Recoveries {
    "The lending protocol (see protocols)."
    protocol: String!
    "Liquidatable (HF < 1) and waiting: with no auction open (reference), or not yet liquidated (hub-accounted)."
    liquidatable: Int!
    "Auctions open: kicked, waiting for (more) takes (0 for a protocol without auctions)."
    auctionsOpen: Int!
    takes: TakeStates!
    badDebt: BadDebtTotals!
    "The latest takes, newest first."
    recent: [RecoveryTake!]!
    "What only the relayer knows (its recoveries by state, skipped and abandoned included); null without SALVAGE_RELAYER_URL."
    relayer: RelayerRecoveries
    block: Block
    chainBlocks: [Block!]!
  }

  "Takes by where their collateral is: taken (repaid on the hub; reference: SEIZE sent; hub-accounted: the collateral in the liquidator's hub position, no WITHDRAW in the liquidation's transaction), verified on the spoke, delivered, seized (reference: the spoke's Seized; hub-accounted: the spoke's Withdrawn paid it), failed (lzReceive reverted: LzReceiveAlert, waiting for a retry)."
  type TakeStates { taken: Int!, verified: Int!, delivered: Int!, seized: Int!, failed: Int! }

  type BadDebtTotals { writeOffs: Int!, "WAD USD at each write-off's block." writtenOffUsd: String! }

  type RecoveryTake {
    "The hub's take id (reference) or liquidation id (hub-accounted)."
    takeId: String!
    "null for a protocol without auctions."
    auctionId: String
    account: String!
    "taken | verified | delivered | seized | failed"
    state: String!
    take: TakeLeg!
    seize: SeizeLeg!
    "The message carrying the collateral to its spoke (reference: SEIZE; hub-accounted: WITHDRAW); null when none was sent (kept on the hub)."
    packet: TakePacket
    "Take to seizure, seconds of block time (null until seized)."
    seconds: String
  }

  "The hub side: the Take, what it repaid."
  type TakeLeg { block: String!, timestamp: String!, tx: String!, debtAssetId: Int!, symbol: String, decimals: Int!, repayAmount: String!, "WAD" bonus: String! }

  "The spoke side: the collateral seized (block and timestamp null until the spoke's Seized is indexed)."
  type SeizeLeg { chainId: Int, chainName: String, eid: Int!, assetId: Int!, symbol: String, decimals: Int!, amount: String!, block: String, timestamp: String }

  "The SEIZE or WITHDRAW packet (LayerZero V2), by guid; status null until indexed."
  type TakePacket { guid: String!, nonce: String, status: String, failures: Int!, lastFailureReason: String, deliveredTx: String }

  type RelayerRecoveries {
    "Why the relayer's report could not be read (null when it was)."
    error: String
    worker: String
    "Recoveries by the relayer's states (detected, kicking, kicked, taking, taken, verified, delivered, stalled, seized, abandoned, skipped), every worker on its database."
    states: [RelayerStateCount!]!
    recent: [RelayerRecovery!]!
  }

  type RelayerStateCount { state: String!, count: Int! }

  type RelayerRecovery { id: Int!, account: String!, state: String!, reason: String, takeId: String, guid: String, takeTx: String, deliverTx: String, updatedAt: String! }

  type LiquidationLevels {
    "The lending protocol (see protocols)."
    protocol: String!
    assetId: Int!
    symbol: String
    decimals: Int!
    "The chain asked for (null: every spoke)."
    chainId: Int
    "The asset's hub price (WAD USD) at the answer's block."
    priceWad: String!
    "True when the hub refuses that price at the answer's block (StalePrice or InvalidPrice)."
    priceStale: Boolean!
    maxDropWad: String!
    "Bins whose drops are all within this share of the price are flagged dangerZone (0.2: within 20 %)."
    dangerZoneDropWad: String!
    "Accounts holding the asset as collateral (on chainId when given)."
    holders: Int!
    "Holders left out because an asset or price they need is not indexed."
    unpriced: Int!
    "Liquidatable already at the current price, valued at it."
    now: LevelTotals!
    bins: [LiquidationLevel!]!
    "Still healthy at the largest drop, valued at the current price."
    beyond: LevelTotals!
    block: Block
    chainBlocks: [Block!]!
  }

  type LevelTotals {
    accounts: Int!
    "Their collateral value, every asset, WAD USD."
    collateralUsd: String!
    "Their debt value, WAD USD."
    debtUsd: String!
    "The asset they hold as collateral (on chainId when given), base units."
    assetAmount: String!
  }

  "Accounts first liquidatable at a drop in (fromDropWad, toDropWad], valued at the edge price priceWad."
  type LiquidationLevel {
    "1-based."
    index: Int!
    fromDropWad: String!
    toDropWad: String!
    "The asset's price at toDropWad: mulDiv(price, 1e18 - toDropWad, 1e18)."
    priceWad: String!
    dangerZone: Boolean!
    accounts: Int!
    collateralUsd: String!
    debtUsd: String!
    assetAmount: String!
    "Everything liquidatable at this bin's edge: now plus bins 1..index."
    cumulative: LevelTotals!
  }

  "A LayerZero pathway's packets as indexed from both endpoints' events (PacketSent, PacketVerified, PacketDelivered, LzReceiveAlert)."
  type Pathway {
    srcEid: Int!
    dstEid: Int!
    "The destination chain's indexed block: ages are counted on its clock."
    asOf: Block
    "Packets sent and not yet delivered."
    inFlight: Int!
    "Seconds since the oldest packet in flight was sent (null with none in flight)."
    oldestAgeSeconds: String
    "Send to delivery, seconds, over the last 1,000 delivered packets (nearest rank; null before any)."
    p50Seconds: String
    p99Seconds: String
    "Deliveries the percentiles are over."
    samples: Int!
    "LzReceiveAlerts (lzReceive reverted) of the packets in flight and of those deliveries."
    failures: Int!
    "Age past which a packet in flight stalls the pathway: 3 x p99 within [60 s, 1,800 s] by default, 1,800 s before 20 deliveries."
    stallBoundSeconds: String!
    "The lowest nonce not verified while a later nonce of its path is (EndpointV2 executes a nonce only once every earlier one is verified); null when none."
    blockedNonce: String
    "Verified packets waiting behind blockedNonce."
    blockedPackets: Int!
    "The oldest packet in flight is older than stallBoundSeconds, or blockedNonce was sent more than the stall rule's minimum (60 s) ago."
    stalled: Boolean!
    "Why it is stalled: nonce blocked (takes precedence), or oldest in flight past the bound; null when it is not."
    stalledReason: String
  }

  type Solvency {
    "The lending protocol (see protocols)."
    protocol: String!
    "The hub block every figure is true at (null before the first is indexed)."
    block: Block
    "Every chain's indexed block in the same snapshot, hub first."
    chainBlocks: [Block!]!
    "Every debt asset of the deployment, by asset id."
    assets: [DebtAssetSolvency!]!
    "Sum of assets.writtenOffUsd (WAD USD)."
    writtenOffUsd: String!
    "Sum of assets.reserveUsd (WAD USD, at the hub's indexed prices)."
    reserveUsd: String!
    underWater: UnderWater!
  }

  "Amounts in the asset's base units (see decimals); USD as WAD."
  type DebtAssetSolvency {
    assetId: Int!
    symbol: String!
    decimals: Int!
    "All debt written off in this asset (sum of BadDebtWrittenOff.amount)."
    writtenOff: String!
    "Each write-off valued at the hub's price in its own block, summed (WAD USD)."
    writtenOffUsd: String!
    "The part of writtenOff the reserve absorbed."
    coveredByReserve: String!
    "The part it did not: Hub.badDebt(assetId)."
    uncovered: String!
    writeOffs: Int!
    "Hub.reserve(assetId)."
    reserve: String!
    "The reserve at the hub's indexed price (WAD USD)."
    reserveUsd: String
    "Debt in this asset owed by accounts under water now."
    underWaterDebt: String!
    underWaterDebtUsd: String
  }

  "Accounts whose collateral value is below their debt value (WAD USD at the hub's indexed prices)."
  type UnderWater {
    accounts: Int!
    debtUsd: String!
    collateralUsd: String!
    "debtUsd - collateralUsd: what they would leave as bad debt if closed now, before any bonus."
    shortfallUsd: String!
  }

  type Subscription {
    """
    The opportunity feed: an event as soon as the indexer has processed the hub block that made an account
    liquidatable, moved its health (and so its best take) while liquidatable, kicked its auction (the bonus
    starts to grow), or made it healthy again; and when a LayerZero pathway became stalled or cleared.
    Without \`since\` it starts with the next event; with an event id it first replays what came after it
    ("0": the whole log). Over SSE a reconnecting EventSource resumes by itself (Last-Event-ID).
    """
    opportunities(filter: OpportunityFilter, since: String): OpportunityEvent!
    "The account's indexed health now, then each time the indexer changes it."
    accountHealth(address: String!): AccountHealth!
  }

  "Every field optional; all given must hold. chainId and minProfitUsd look at the take: a healthy event (no take) passes them. A pathway event (stalled, cleared) passes accounts, minProfitUsd and minDebtUsd, and chainId when the pathway starts or ends on that chain."
  input OpportunityFilter {
    "liquidatable | updated | healthy | kicked | stalled | cleared"
    kinds: [String!]
    accounts: [String!]
    "Only takes whose collateral sits on this chain."
    chainId: Int
    "Decimal USD."
    minProfitUsd: String
    "Decimal USD."
    minDebtUsd: String
    "Only account events of these protocols (reference, or names from protocols); pathway events pass."
    protocols: [String!]
  }

  type OpportunityEventPage {
    items: [OpportunityEvent!]!
    pageInfo: PageInfo!
    "The hub block the page (and each event's opportunity) was read at; null before the first is indexed."
    block: Block
    "Every chain's indexed block in the same snapshot, hub first."
    chainBlocks: [Block!]!
  }

  "An account's health crossed below 1 (liquidatable), moved below 1 (updated) or recovered (healthy), or its auction started (kicked: the bonus starts to grow); or a LayerZero pathway became stalled (stalled) or cleared (cleared)."
  type OpportunityEvent {
    "Sortable (hub block, log index, subject: the account or pathway-<srcEid>-<dstEid>): the resume cursor."
    id: String!
    "The account of an account event; null on a pathway event."
    account: String
    "The lending protocol of an account event (see protocols); null on a pathway event."
    protocol: String
    kind: String!
    "Null on a pathway event."
    healthFactor: String
    previousHealthFactor: String
    "Null on a pathway event."
    debtValue: String
    "Hub chain block and its timestamp that caused it (a pathway event: the hub block it was judged at, log index 2147483647, after the block's logs)."
    chainId: Int!
    blockNumber: String!
    logIndex: Int!
    timestamp: String!
    "The liquidation its protocol would make at the indexed hub block when the event was read (the best take, or a hub-accounted liquidation); null when the account is no longer liquidatable."
    opportunity: Opportunity
    "The pathway of a stalled / cleared event; null on an account event."
    pathway: FeedPathway
  }

  "The LayerZero pathway a stalled / cleared event is about."
  type FeedPathway {
    srcEid: Int!
    dstEid: Int!
    srcChainId: Int!
    dstChainId: Int!
    "Why it stalled: nonce blocked | oldest in flight past the bound; null on cleared."
    reason: String
    "The destination chain's indexed block whose clock the pathway was judged by."
    asOf: Block!
  }

  "A block the index has processed: the state an answer is as of."
  type Block { chainId: Int!, number: String!, timestamp: String! }
  type PageInfo { endCursor: String, hasNextPage: Boolean! }

  type AtRiskPage {
    items: [AccountHealth!]!
    pageInfo: PageInfo!
    totalCount: Int!
    "The hub block the page is as of: every item's health is the hub's at this block. Null before the first is indexed."
    block: Block
    "Every chain's indexed block in the same snapshot, hub first."
    chainBlocks: [Block!]!
  }

  "A lending protocol the index serves. kind: hub-spoke (the reference: collateral on spokes, Dutch auctions on the hub) or hub-accounted (collateral accounted on the hub, liquidation in one transaction at a fixed bonus, debt accruing interest)."
  type Protocol {
    "The deployment's name: what the protocol arguments take."
    name: String!
    kind: String!
    "The assets its hub lists as collateral, by id (what liquidationLevels can be asked of)."
    collateralAssets: [ProtocolAsset!]!
  }

  type ProtocolAsset { assetId: Int!, symbol: String, decimals: Int! }

  type AccountHealth {
    "The lending protocol (see protocols)."
    protocol: String!
    address: String!
    "WAD; 2^256-1 without debt."
    healthFactor: String!
    collateralValue: String!
    thresholdValue: String!
    borrowPower: String!
    debtValue: String!
    dominantCollateral: AssetRef
    "Price (WAD USD) of the dominant collateral at which HF reaches 1, other prices fixed."
    liquidationPriceWad: String
    "Uniform collateral price drop (WAD share) that brings HF to 1; 0 when HF <= 1."
    shockWad: String
    "Drop of the dominant collateral's price (WAD share of today's) to liquidationPriceWad, other prices fixed; 0 when already there."
    priceDropToLiquidationWad: String
    updatedBlock: String!
    updatedAt: String!
    "True when a price this health needs (of an asset the account holds or owes) is one the hub refuses at the answer's hub block: see unusablePrices. The figures above are then the last the hub could compute, and the hub's healthFactor, kick and take revert for the account until the price is usable again."
    priceStale: Boolean!
    "Those prices, by asset id: StalePrice (older than the asset's heartbeat) or InvalidPrice (answer <= 0)."
    unusablePrices: [UnusablePrice!]!
    "The full account (positions on every chain)."
    account: Account
  }

  "A feed answer the hub refuses (Hub.priceWad reverts with \`error\`): answer <= 0 is InvalidPrice; a round older than the asset's heartbeat (hub block timestamp - updatedAt > heartbeat) is StalePrice."
  type UnusablePrice {
    assetId: Int!
    symbol: String
    "StalePrice | InvalidPrice"
    error: String!
    "The feed's latest answer (feed decimals)."
    answer: String!
    "Unix time of the latest round."
    updatedAt: String!
    "Seconds: the largest age of an answer the hub accepts for this asset."
    heartbeat: String!
  }

  type AssetRef { assetId: Int!, symbol: String, decimals: Int! }

  type Account {
    address: String!
    health: AccountHealth
    collateral: [CollateralPosition!]!
    debt: [DebtPosition!]!
    auctions: [Auction!]!
    liquidations: [Liquidation!]!
    "The hub block the account is as of (health, positions, auctions). Null before the first is indexed."
    block: Block
    "Every chain's indexed block in the same snapshot, hub first (a liquidation's seizedBlock is a spoke's)."
    chainBlocks: [Block!]!
  }

  type CollateralPosition {
    chainId: Int!
    chainName: String
    eid: Int!
    assetId: Int!
    symbol: String
    decimals: Int!
    amount: String!
    "WAD USD at the hub's price; null before the price is indexed."
    valueUsd: String
    updatedBlock: String!
  }

  type DebtPosition { assetId: Int!, symbol: String, decimals: Int!, amount: String!, valueUsd: String, updatedBlock: String! }

  type Auction {
    auctionId: String!
    kicker: String!
    healthFactorAtKick: String!
    startedAt: String!
    startedBlock: String!
    active: Boolean!
    takes: Int!
    repaid: String!
    endReason: String
    endedAt: String
    endedBlock: String
  }

  type Liquidation {
    takeId: String!
    auctionId: String!
    taker: String!
    debtAssetId: Int!
    repayAmount: String!
    collateralEid: Int!
    collateralAssetId: Int!
    seizeAmount: String!
    bonus: String!
    receiver: String!
    guid: String!
    seizedBlock: String
    block: String!
    timestamp: String!
    transactionHash: String!
  }

  type OpportunityPage {
    items: [Opportunity!]!
    pageInfo: PageInfo!
    "The hub block every take is computed at (each item's blockNumber); null before the first is indexed."
    block: Block
    "Every chain's indexed block in the same snapshot, hub first."
    chainBlocks: [Block!]!
  }

  type Opportunity {
    "The lending protocol (see protocols)."
    protocol: String!
    account: String!
    healthFactor: String!
    collateralValue: String!
    debtValue: String!
    "The (chain, asset) collateral position with the largest value."
    collateral: OpportunityCollateral!
    "The debt position with the largest value (the one to repay)."
    debt: OpportunityDebt!
    "debt x closeFactor: the most one take may repay."
    maxRepay: String!
    "The close factor applied (WAD): the reference hub's; for hub-accounted, 100 % below its fullCloseBelowHf."
    closeFactor: String!
    "What a take of maxRepay repays and seizes at 'bonus' (quoteTake, collateral cap applied)."
    repayAmount: String!
    seizeAmount: String!
    "USD value seized minus USD value repaid (WAD)."
    profitUsd: String!
    "none | active | expired (past the auction tail: needs a re-kick) | instant (no auction: liquidated in one transaction at the fixed bonus)."
    auctionStatus: String!
    auctionId: String
    auctionStartedAt: String
    "Bonus (WAD) now: bonusAt(startedAt, timestamp) when active, else minBonus (where a kick starts)."
    bonus: String!
    minBonus: String!
    maxBonus: String!
    "Seconds over which the bonus grows linearly from minBonus to maxBonus after a kick."
    auctionDuration: String!
    "Unix time at which the bonus reaches maxBonus, for an active auction."
    maxBonusAt: String
    "Unix time at which the active auction expires (a re-kick starts over at minBonus)."
    expiresAt: String
    "The hub block (and its timestamp) the numbers are computed at."
    blockNumber: String!
    timestamp: String!
    chainId: Int!
    "True when a price this take needs is one the hub refuses at blockNumber (see unusablePrices): the numbers rest on the last usable prices, and the hub's kick and take revert until it is usable again."
    priceStale: Boolean!
    "Those prices, by asset id: StalePrice or InvalidPrice."
    unusablePrices: [UnusablePrice!]!
  }

  type OpportunityCollateral { chainId: Int!, eid: Int!, assetId: Int!, symbol: String, decimals: Int!, amount: String!, valueUsd: String!, priceWad: String! }
  type OpportunityDebt { assetId: Int!, symbol: String, decimals: Int!, amount: String!, valueUsd: String!, priceWad: String! }
`;

/** Per request (or WebSocket operation). */
export interface Context {
  /** Batches `AccountHealth.account` lookups of one page into one set of queries (in the request's snapshot). */
  loadAccount(address: Address): Promise<{ view: AccountView; snapshot: Snapshot } | null>;
  /**
   * Batches the unusable prices of accounts whose answer did not read them in its own snapshot (a subscription's
   * health or opportunity): read at the indexed hub block when they are resolved.
   */
  loadUnusablePrices(address: Address): Promise<UnusablePrice[]>;
  /** The HTTP request (yoga; absent over WebSocket). */
  request?: Request;
  /** How subscription events leave: yoga's SSE unless the WebSocket server says otherwise. */
  transport?: Transport;
  /** The client's address (src/api/limits.ts): subscriptions are counted per client. */
  client?: string;
  /** Over WebSocket: the socket's operations, this one included (capped per socket). */
  socketSubscriptions?: number;
}

/** Counts a subscription in (per socket, per client, overall) or throws the refusal naming the cap; returns its release. */
function admitSubscription(context: Context): () => void {
  const { maxSubscriptionsPerSocket } = apiLimits();
  if (context.socketSubscriptions !== undefined && context.socketSubscriptions > maxSubscriptionsPerSocket) {
    throw tooManySubscriptions("on one WebSocket", maxSubscriptionsPerSocket, "SALVAGE_MAX_SUBSCRIPTIONS_PER_SOCKET");
  }
  return subscriberGate.admit(context.client ?? "unknown");
}

/**
 * Calls made in one turn of the event loop, answered by one `loadMany` of all their addresses (a page's nested
 * lookups become one set of queries); `loadMany` returns how to answer each address.
 */
function batchedByAddress<T>(loadMany: (addresses: Address[]) => Promise<(address: Address) => T>): (address: Address) => Promise<T> {
  let pending: { address: Address; resolve: (v: T) => void; reject: (e: unknown) => void }[] = [];
  return (address) =>
    new Promise((resolve, reject) => {
      if (pending.length === 0) {
        setImmediate(() => {
          const batch = pending;
          pending = [];
          loadMany(batch.map((b) => b.address)).then(
            (answer) => batch.forEach((b) => b.resolve(answer(b.address))),
            (error) => batch.forEach((b) => b.reject(error)),
          );
        });
      }
      pending.push({ address, resolve, reject });
    });
}

const accountLoader = (): Context["loadAccount"] =>
  batchedByAddress(async (addresses) => {
    const { snapshot, found } = await atOneBlock(async (snapshot) => ({ snapshot, found: await accountsByAddress(addresses) }));
    return (address) => {
      const view = found.get(address.toLowerCase());
      return view ? { view, snapshot } : null;
    };
  });

const unusablePricesLoader = (): Context["loadUnusablePrices"] =>
  batchedByAddress(async (addresses) => {
    const found = await unusablePricesByAccount(addresses);
    return (address) => found.get(address.toLowerCase()) ?? [];
  });

/** Runs a resolver body; caller errors become GraphQL errors naming the field and the argument. */
async function field<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof QueryError) {
      throw new GraphQLError(`${name}: ${error.message}`, { extensions: { code: "BAD_USER_INPUT", field: name, argument: error.argument } });
    }
    if (isStatementTimeout(error)) throw new StatementTimeoutError(apiLimits().statementTimeoutMs);
    // The client sees yoga's masked "Unexpected error."; the operator sees what it was, in the API's log.
    if (!(error instanceof GraphQLError)) console.error(JSON.stringify({ level: 50, msg: "salvage API answer failed", field: name, error: describeUnexpected(error) }));
    throw error;
  }
}

/** An unexpected error with its causes and PostgreSQL code, on one line (drizzle and pg nest them). */
function describeUnexpected(error: unknown): string {
  const parts: string[] = [];
  for (let e = error as { message?: unknown; code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    parts.push(`${String(e.message ?? e)}${e.code ? ` (${String(e.code)})` : ""}`);
  }
  return parts.join(" <- ");
}

const pageSize = (first: number | null | undefined) => checkInt("first", first ?? 50, 1, MAX_PAGE)!;

const accountOut = (v: AccountView, snapshot: Snapshot) => {
  const assets = new Map<number, { symbol: string | null; decimals: number }>();
  for (const p of [...v.collateral, ...v.debt]) assets.set(p.assetId, p);
  return {
    ...asOf(snapshot),
    address: v.address,
    health: v.health ? healthOut(v.health, assets, v.unusablePrices) : null,
    collateral: v.collateral.map((c: CollateralView) => ({ ...c, amount: c.amount.toString(), valueUsd: str(c.valueUsd), updatedBlock: c.updatedBlock.toString() })),
    debt: v.debt.map((d: DebtView) => ({ ...d, amount: d.amount.toString(), valueUsd: str(d.valueUsd), updatedBlock: d.updatedBlock.toString() })),
    auctions: v.auctions.map((a) => ({
      ...a, auctionId: a.auctionId.toString(), healthFactorAtKick: a.healthFactorAtKick.toString(), startedAt: a.startedAt.toString(),
      startedBlock: a.startedBlock.toString(), repaid: a.repaid.toString(), endedAt: str(a.endedAt), endedBlock: str(a.endedBlock),
    })),
    liquidations: v.liquidations.map((l) => ({
      ...l, takeId: l.takeId.toString(), auctionId: l.auctionId.toString(), repayAmount: l.repayAmount.toString(), seizeAmount: l.seizeAmount.toString(),
      bonus: l.bonus.toString(), seizedBlock: str(l.seizedBlock), block: l.block.toString(), timestamp: l.timestamp.toString(),
    })),
  };
};

interface AtRiskArgsIn {
  protocol?: string | null;
  maxHealthFactor?: string | null;
  chainId?: number | null;
  asset?: number | null;
  minDebtUsd?: string | null;
  first?: number | null;
  after?: string | null;
}

export const resolvers = {
  Query: {
    atRiskAccounts: (_: unknown, args: AtRiskArgsIn) =>
      field("atRiskAccounts", () => {
        const parsed = {
          maxHealthFactor: parseDecimalWad("maxHealthFactor", args.maxHealthFactor ?? "1"),
          chainId: checkInt("chainId", args.chainId ?? undefined, 1, 2 ** 31 - 1),
          assetId: checkInt("asset", args.asset ?? undefined, 0, 65_535),
          minDebtUsd: args.minDebtUsd == null ? undefined : parseDecimalWad("minDebtUsd", args.minDebtUsd),
          first: pageSize(args.first),
          after: args.after ?? undefined,
        };
        return answerOf(args.protocol, (p, snapshot) => p.atRiskAccounts(parsed, snapshot));
      }),
    account: (_: unknown, args: { address: string }) =>
      field("account", async () => {
        const address = parseAddress("address", args.address);
        return atOneBlock(async (snapshot) => {
          const v = (await accountsByAddress([address])).get(address.toLowerCase());
          return v ? accountOut(v, snapshot) : null;
        });
      }),
    opportunities: (_: unknown, args: { first?: number | null; after?: string | null; minProfitUsd?: string | null; chainId?: number | null; protocol?: string | null }) =>
      field("opportunities", () => {
        const parsed = {
          first: pageSize(args.first),
          after: args.after ?? undefined,
          minProfitUsd: args.minProfitUsd == null ? undefined : parseDecimalWad("minProfitUsd", args.minProfitUsd),
          chainId: checkInt("chainId", args.chainId ?? undefined, 1, 2 ** 31 - 1),
        };
        return answerOf(args.protocol, (p, snapshot) => p.opportunities(parsed, snapshot));
      }),
    protocols: () => field("protocols", async () => protocolsJson()),
    indexedBlock: () => field("indexedBlock", () => atOneBlock(async (snapshot) => blockJson(snapshot.hub))),
    latestEventId: () => field("latestEventId", latestEventId),
    solvency: (_: unknown, args: { protocol?: string | null }) => field("solvency", () => answerOf(args.protocol, (p, snapshot) => p.solvency(snapshot))),
    pathways: () => field("pathways", async () => (await pathways()).map(pathwayJson)),
    liquidationLevels: (_: unknown, args: { assetId: number; chainId?: number | null; bins?: number | null; maxDrop?: string | null; protocol?: string | null }) =>
      field("liquidationLevels", () => {
        const parsed = parseLevelsArgs(args);
        return answerOf(args.protocol, (p, snapshot) => p.liquidationLevels(parsed, snapshot));
      }),
    recoveries: (_: unknown, args: { first?: number | null; protocol?: string | null }) =>
      field("recoveries", () => {
        const first = recentCount(args.first);
        return withRelayer(() => answerOf(args.protocol, (p, snapshot) => p.recoveries(first, snapshot)));
      }),
    opportunityEvents: (_: unknown, args: { since?: string | null; first?: number | null }) =>
      field("opportunityEvents", async () => {
        const since = parseSince(args.since);
        const first = pageSize(args.first);
        return atOneBlock(async (snapshot) => {
          const page = await opportunityEvents({ since, first });
          return { pageInfo: page.pageInfo, items: (await enrich(page.items)).map(feedEventJson), ...asOf(snapshot) };
        });
      }),
  },
  Subscription: {
    opportunities: {
      subscribe: (_: unknown, args: { filter?: unknown; since?: string | null }, context: Context) =>
        field("opportunities", async () => {
          const filter = parseFeedFilter(args.filter, "filter");
          // A reconnecting EventSource sends the last id it got: that is where it resumes, whatever `since` said.
          const since = parseSince(context.request?.headers.get("last-event-id") || args.since, "since");
          const release = admitSubscription(context);
          return releasedOnDisconnect(counted(feedHub().subscribe({ since, filter, transport: context.transport ?? "sse" }), release), context.request);
        }),
      resolve: (e: FeedEvent) => feedEventJson(e),
    },
    accountHealth: {
      subscribe: (_: unknown, args: { address: string }, context: Context) =>
        field("accountHealth", async () => {
          const address = parseAddress("address", args.address);
          const release = admitSubscription(context);
          return releasedOnDisconnect(counted(accountWatch().watch(address, context.transport ?? "sse"), release), context.request);
        }),
      resolve: (h: HealthRow) => healthOut(h),
    },
  },
  Protocol: {
    collateralAssets: (parent: { name: string }) => field("collateralAssets", () => answerOf(parent.name, (p, snapshot) => p.collateralAssets(snapshot))),
  },
  AccountHealth: {
    // `Account` is the reference protocol's positions, auctions and takes: null on another protocol's row.
    account: async (parent: { address: string; protocol: string }, _: unknown, context: Context) =>
      parent.protocol !== REFERENCE_PROTOCOL ? null : context.loadAccount(parent.address as Address).then((found) => (found ? accountOut(found.view, found.snapshot) : null)),
    ...priceResolvers((parent: { address: string }) => parent.address),
    // Read with the market when the answer did not (account, subscriptions): in the request's snapshot.
    priceDropToLiquidationWad: async (parent: { priceDropToLiquidationWad?: string | null; liquidationPriceWad: string | null; dominantCollateralAssetId: number | null }) =>
      parent.priceDropToLiquidationWad !== undefined
        ? parent.priceDropToLiquidationWad
        : dropOf({ liquidationPriceWad: parent.liquidationPriceWad === null ? null : BigInt(parent.liquidationPriceWad), dominantCollateralAssetId: parent.dominantCollateralAssetId }, (await market()).prices),
  },
  // A feed event's opportunity (feed.ts opportunityJson) carries no price fields: read when resolved.
  Opportunity: priceResolvers((parent: { account: string }) => parent.account),
};

/** Resolvers of `priceStale` and `unusablePrices`: the parent's when its answer read them, else loaded. */
function priceResolvers<P extends object>(addressOf: (parent: P) => string) {
  const fields = async (parent: P & Partial<PriceFields>, context: Context): Promise<PriceFields> =>
    parent.unusablePrices ? (parent as PriceFields) : priceFields(await context.loadUnusablePrices(addressOf(parent) as Address));
  return {
    priceStale: async (parent: P & Partial<PriceFields>, _: unknown, context: Context) => (await fields(parent, context)).priceStale,
    unusablePrices: async (parent: P & Partial<PriceFields>, _: unknown, context: Context) => (await fields(parent, context)).unusablePrices,
  };
}

/**
 * Ends a subscription as soon as its HTTP client goes away (the request's signal aborts), instead of at the
 * next write that fails (a keep-alive ping, up to 12 s later). Over WebSocket graphql-ws ends it on close.
 */
function releasedOnDisconnect<T>(iterator: AsyncIterableIterator<T>, request: Request | undefined): AsyncIterableIterator<T> {
  request?.signal.addEventListener("abort", () => void iterator.return?.(), { once: true });
  return iterator;
}

/** `iterator`, calling `release` once when it ends (done, failed, or returned by its subscriber). */
function counted<T>(iterator: AsyncIterableIterator<T>, release: () => void): AsyncIterableIterator<T> {
  const wrapped: AsyncIterableIterator<T> = {
    async next() {
      try {
        const r = await iterator.next();
        if (r.done) release();
        return r;
      } catch (error) {
        release();
        throw error;
      }
    },
    async return(value?: unknown) {
      release();
      return iterator.return ? iterator.return(value) : { done: true, value: value as T };
    },
    async throw(error?: unknown) {
      release();
      if (iterator.throw) return iterator.throw(error);
      throw error;
    },
    [Symbol.asyncIterator]() {
      return wrapped;
    },
  };
  return wrapped;
}

let watcher: AccountWatch | undefined;
const accountWatch = () => (watcher ??= new AccountWatch(feedHub()));

new Gauge({
  name: "salvage_subscribers",
  help: "Open subscriptions by transport (sse, ws, webhook) and stream (opportunities, accountHealth)",
  labelNames: ["transport", "stream"],
  registers: [salvageRegistry],
  collect() {
    for (const [transport, n] of Object.entries(feedHub().stats.subscribers)) this.set({ transport, stream: "opportunities" }, n);
    for (const [transport, n] of Object.entries(watcher?.subscribers ?? {})) this.set({ transport, stream: "accountHealth" }, n);
  },
});

/**
 * graphql-armor's packages carry their own copy of graphql (16.15) beside the app's (16.8), so their
 * rejections are GraphQLErrors of another realm: yoga does not recognise them and answers 500 "Unexpected
 * error." (Ponder's middleware hides this by rewriting the status). The depth and alias rules report through
 * `reportInRealm` instead of throwing; the token limit throws from parse, and `sameRealmErrors` re-creates that
 * error as this realm's GraphQLError so it reaches the client as written.
 */
const toGraphQLError = (e: unknown, code = "GRAPHQL_VALIDATION_FAILED"): GraphQLError => {
  if (e instanceof GraphQLError) return e;
  const foreign = e as { message?: string; extensions?: Record<string, unknown> };
  return new GraphQLError(String(foreign.message ?? e), { extensions: { code, ...foreign.extensions } });
};
/**
 * graphql-js reports a literal of the wrong type as `Int cannot represent non-integer value: "ten"`, without
 * saying where: prefix such errors with the field and argument (`atRiskAccounts(first:)`).
 */
function nameArgument(error: GraphQLError, document: DocumentNode): GraphQLError {
  const node = error.nodes?.[0];
  if (!node?.loc || !/cannot represent|Expected value of type/.test(error.message)) return error;
  const { start, end } = node.loc;
  let where: string | undefined;
  visit(document, {
    Field(field) {
      for (const arg of field.arguments ?? []) {
        if (arg.loc && arg.loc.start <= start && end <= arg.loc.end) where = `${field.name.value}(${arg.name.value}:)`;
      }
    },
  });
  return where ? new GraphQLError(`${where} ${error.message}`, { nodes: error.nodes, extensions: error.extensions }) : error;
}

/** Armor's validation rules throw their error out of `validate` (yoga then answers 500); report it as a validation error instead. */
const reportInRealm = (context: ValidationContext | null, error: { message: string }) => context?.reportError(toGraphQLError(error));
const sameRealmErrors: Plugin = {
  onParse: () => ({ result, replaceParseResult }) => {
    if (result instanceof Error && !(result instanceof GraphQLError)) replaceParseResult(toGraphQLError(result, "GRAPHQL_PARSE_FAILED"));
  },
  onValidate: ({ params }) => ({ result, setResult }) => {
    if (result.length > 0) setResult(result.map((e) => nameArgument(toGraphQLError(e), params.documentAST)));
  },
};

/**
 * One snapshot per request: a query's execution runs inside `atOneBlock`, so all its root fields (and nested
 * `AccountHealth.account` loads) read the same database snapshot and name the same block. Subscriptions do not
 * come through here (yoga calls `subscribe`): each of their events is read in a snapshot of its own (src/api/feed.ts).
 * (Incremental delivery, @defer/@stream, is not enabled; a result that streamed would outlive its snapshot.)
 */
const oneSnapshotPerRequest: Plugin = {
  onExecute: ({ executeFn, setExecuteFn }) => {
    // A snapshot cut by the statement timeout is the caller's answer (an error naming the limit), not a masked 500.
    setExecuteFn((args) =>
      atOneBlock(async () => executeFn(args)).catch((error: unknown) => {
        if (error instanceof StatementTimeoutError) return { errors: [error] };
        throw error;
      }),
    );
  },
};

/** The yoga server for `/salvage/graphql`. */
export function createSalvageYoga(graphqlEndpoint = "/salvage/graphql") {
  return createYoga<object, Context>({
    graphqlEndpoint,
    schema: createSchema<Context>({ typeDefs, resolvers }),
    context: () => ({ loadAccount: accountLoader(), loadUnusablePrices: unusablePricesLoader() }),
    // Internal errors are masked (message "Unexpected error."); caller errors are GraphQLErrors and pass through.
    maskedErrors: true,
    logging: false,
    graphiql: { title: "salvage" },
    landingPage: false,
    plugins: [
      maxTokensPlugin({ n: LIMITS.maxTokens }),
      maxDepthPlugin({ n: LIMITS.maxDepth, ignoreIntrospection: true, flattenFragments: true, propagateOnRejection: false, onReject: [reportInRealm] }),
      maxAliasesPlugin({ n: LIMITS.maxAliases, allowList: [], propagateOnRejection: false, onReject: [reportInRealm] }),
      queryCostLimit,
      sameRealmErrors,
      oneSnapshotPerRequest,
      sseWithEventIds,
    ],
  });
}
