/**
 * The opportunity feed's event model and subscriber filter: what src/api/feed.ts fans out, GraphQL and webhooks
 * send, and subscribers select with. No database here (types only from the rest of the API).
 */
import type { Address } from "viem";
import type { StallReason } from "../layerzero/stall.js";
import type { Opportunity } from "./queries.js";
import type { IndexedBlock } from "./snapshot.js";

/** Events about an account (account, healthFactor and debtValue set) and about a LayerZero pathway (pathway set). */
export const ACCOUNT_EVENT_KINDS = ["liquidatable", "updated", "healthy", "kicked"] as const;
export const PATHWAY_EVENT_KINDS = ["stalled", "cleared"] as const;
export const EVENT_KINDS = [...ACCOUNT_EVENT_KINDS, ...PATHWAY_EVENT_KINDS] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** The pathway a `stalled` / `cleared` event is about, and the destination's indexed block it was judged at. */
export interface FeedPathway {
  srcEid: number;
  dstEid: number;
  srcChainId: number;
  dstChainId: number;
  /** Why it stalled ("nonce blocked" | "oldest in flight past the bound"); null on `cleared`. */
  reason: StallReason | null;
  asOf: IndexedBlock;
}

/**
 * A feed event: the log row, the hub chain, and the best take when the account is liquidatable at `head`. An account
 * event has `account`, `healthFactor` and `debtValue` and no `pathway`; a pathway event the reverse.
 */
export interface FeedEvent {
  id: string;
  account: Address | null;
  /** The lending protocol of an account event ("reference" or a name from `protocols`); null on a pathway event. */
  protocol: string | null;
  kind: EventKind;
  healthFactor: bigint | null;
  previousHealthFactor: bigint | null;
  debtValue: bigint | null;
  /** The hub chain, its block and timestamp that caused the event. */
  chainId: number;
  blockNumber: bigint;
  logIndex: number;
  timestamp: bigint;
  /**
   * The liquidation its protocol would make at the indexed hub block when the event was sent (src/api/protocols.ts
   * `liquidationsOf`); null once the account is not liquidatable there.
   */
  opportunity: Opportunity | null;
  pathway: FeedPathway | null;
}

/** What a subscriber wants; every field optional. Validated by `parseFeedFilter`. */
export interface FeedFilter {
  kinds?: EventKind[];
  accounts?: Address[];
  /** Only takes whose collateral sits on this chain. */
  chainId?: number;
  /** WAD USD: only takes at least this profitable. */
  minProfitUsd?: bigint;
  /** WAD USD: only accounts owing at least this. */
  minDebtUsd?: bigint;
  /** Only account events of these protocols (pathway events pass). */
  protocols?: string[];
}

/**
 * Whether an event passes a filter. `kinds` applies to every event. For an account event, `accounts` and
 * `minDebtUsd` apply; `chainId` and `minProfitUsd` are about the take, so an event without one (the account
 * recovered) passes them only when it is `healthy`: a subscriber that watched an account hears that it is gone.
 * A pathway event (`stalled`, `cleared`) concerns every take that crosses the pathway: it passes `accounts`,
 * `minProfitUsd` and `minDebtUsd`, and `chainId` when the pathway starts or ends on that chain; leave it out
 * with `kinds`.
 */
export function matchesFilter(e: FeedEvent, f: FeedFilter): boolean {
  if (f.kinds && !f.kinds.includes(e.kind)) return false;
  if (e.pathway) return f.chainId === undefined || e.pathway.srcChainId === f.chainId || e.pathway.dstChainId === f.chainId;
  if (f.protocols && !f.protocols.includes(e.protocol ?? "")) return false;
  if (f.accounts && !f.accounts.some((a) => a.toLowerCase() === e.account?.toLowerCase())) return false;
  if (f.minDebtUsd !== undefined && (e.debtValue === null || e.debtValue < f.minDebtUsd)) return false;
  if (f.chainId === undefined && f.minProfitUsd === undefined) return true;
  if (!e.opportunity) return e.kind === "healthy";
  if (f.chainId !== undefined && e.opportunity.collateral.chainId !== f.chainId) return false;
  if (f.minProfitUsd !== undefined && e.opportunity.profitUsd < f.minProfitUsd) return false;
  return true;
}

