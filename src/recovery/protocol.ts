/**
 * The seam between the relayer and a lending protocol: everything the recovery engine needs to know about
 * a protocol, and nothing else. The reference hub-and-spoke money market (src/protocols/hub-spoke/) is the
 * first implementation; a second protocol is a second folder behind this interface.
 */
import type { Address, Hex, TransactionReceipt } from "viem";
import type { AuctionParams } from "../health/health.js";
import type { Database } from "./db.js";
import type { DetectionLogger, Detector } from "./detection/types.js";

export interface AccountView {
  account: Address;
  healthFactor: bigint;
  /** Collateral and debt in USD (WAD) at the read's prices, as the protocol values them. */
  collateralValue: bigint;
  debtValue: bigint;
  auction: { id: bigint; startedAt: bigint; active: boolean };
  /**
   * A protocol without auctions (liquidation in one transaction at fixed terms) says what a liquidation of this
   * account gets now: the share of one debt position it may repay and the bonus. Absent: the Dutch auction of
   * `auction` and `MarketView.auction` decides (kick, then take at the bonus of the auction's age).
   */
  terms?: { closeFactor: bigint; bonus: bigint };
  debts: { assetId: number; amount: bigint }[];
  collaterals: { eid: number; assetId: number; amount: bigint }[];
}

export interface MarketView {
  /**
   * The block every figure was read at; for a read at the pending state, the latest block (the figures include
   * the node's pool; auction time is counted from the latest block's timestamp, which never overstates a bonus).
   */
  block: { number: bigint; timestamp: bigint };
  /** Auction parameters as the chain has them now (not as a manifest said). */
  auction: AuctionParams;
  pricesWad: Map<number, bigint>;
  /**
   * Assets without a usable price, by id, with the hub's reason (`StalePrice(11, 1700000000, 86400)`,
   * `InvalidPrice(11, 0)`): their holders are left out of `accounts` (see `unpriced`) and wait.
   */
  unusablePrices?: Map<number, string>;
  decimals: Map<number, number>;
  /** Native fee of a SEIZE message to each collateral eid. */
  messageFeeWei: Map<number, bigint>;
  /** The liquidator's balance of each debt asset. */
  inventory: Map<number, bigint>;
  gasPriceWei: bigint;
  blockGasLimit: bigint;
}

/** One account's part of a batch: kick (unless an auction runs) and/or take. */
export interface Order {
  account: Address;
  kick: boolean;
  take: boolean;
  debtAssetId: number;
  maxRepay: bigint;
  eid: number;
  collateralAssetId: number;
  minSeize: bigint;
  feeWei: bigint;
}

export type OrderOutcome =
  | {
      status: "executed";
      kicked: boolean;
      auctionId?: bigint;
      /** `guid` and `packet`: the message that carries the collateral to its chain; absent when it stays on the hub. */
      take?: { takeId: bigint; guid?: Hex; packet?: Hex; repayAmount: bigint; seizeAmount: bigint; bonus: bigint };
    }
  | { status: "failed"; errorName?: string; message: string };

/** What a failed order's error means for the recovery. */
export type RevertClass = "healthy" | "no-auction" | "expired" | "retry";

export interface Settlement {
  state: "pending" | "verified" | "delivered" | "seized";
  /** The collateral chain's transaction that paid the receiver (state "seized"). */
  seizeTx?: Hex;
  /** The executor's alert when lzReceive reverted on the collateral chain (LayerZero's LzReceiveAlert). */
  alert?: string;
  /** State "seized": the timestamps (unix seconds) of the take's hub block and of the block that paid the receiver. */
  sentAt?: bigint;
  seizedAt?: bigint;
}

export interface LendingProtocol {
  readonly hubChainId: number;
  /**
   * One batched read (Multicall3) of the market and the accounts at the latest block, or at the node's pending
   * state (the latest block plus the transactions in its pool: a feed update not mined yet is counted).
   */
  read(
    accounts: readonly Address[],
    liquidator: Address,
    at?: "latest" | "pending",
  ): Promise<{
    market: MarketView;
    accounts: Map<string, AccountView>;
    /** Accounts left out because a price they need is unusable, by lower-case address, with the reason. */
    unpriced?: Map<string, string>;
  }>;
  /** The executor's batch call for `orders`; collateral is paid to `receiver`. */
  batchCall(executor: Address, orders: readonly Order[], receiver: Address): { to: Address; data: Hex; value: bigint };
  /** What each order of a mined batch did, by lower-case account. */
  batchOutcomes(receipt: TransactionReceipt, executor: Address): Map<string, OrderOutcome>;
  classify(errorName: string | undefined): RevertClass;
  /** Where each take's collateral stands on its chain, in a few reads for all of them. */
  settlements(takes: readonly { key: number; packet?: Hex; takeId: bigint; account: Address; receiver: Address; fromBlock: bigint; takeBlock?: bigint }[]): Promise<Map<number, Settlement>>;
  /** The newest block of the chain that holds collateral `eid` (where a take's Seized event is searched from). */
  collateralChainHead(eid: number): Promise<bigint>;
  /** Creation code of the liquidator's executor for `owner`. */
  executorDeployment(owner: Address): Hex;
  executorOwner(executor: Address): Promise<Address>;
  /** Planning gas of one order: a kick, a take. */
  readonly gas: { kick: bigint; take: bigint; batchOverhead: bigint };
  /**
   * The protocol's own detection, when it has one; absent, the relayer reads the indexer's opportunity feed and
   * the reference hub's scanner (src/recovery/detection/).
   */
  detector?(o: { db: Database; log?: DetectionLogger }): Promise<Detector>;
}
