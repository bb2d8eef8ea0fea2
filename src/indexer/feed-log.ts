/**
 * The opportunity feed's log (`opportunity_event`), shared by every protocol and by the pathway watch: events keyed by
 * (hub block, log index, subject), the subject an account or a pathway, so the id is also the resume cursor.
 */
import type { Context } from "ponder:registry";
import { opportunityEvent } from "ponder:schema";
import type { Hex } from "viem";
import type { HealthEventKind } from "../opportunity/event.js";
import type { StallReason } from "../layerzero/stall.js";

export interface BlockRef {
  number: bigint;
  timestamp: bigint;
}

export type FeedEventKind = HealthEventKind | "kicked";

export interface FeedEventInput {
  kind: FeedEventKind;
  /** The lending protocol's name; absent for the reference protocol. */
  protocol?: string;
  account: Hex;
  healthFactor: bigint;
  previousHealthFactor: bigint | null;
  debtValue: bigint;
}

/** A pathway's transition, logged by src/indexer/pathway.ts. */
export interface PathwayEventInput {
  kind: "stalled" | "cleared";
  srcEid: number;
  dstEid: number;
  reason: StallReason | null;
  /** The destination's indexed block the pathway was judged at (its clock). */
  asOf: { chainId: number; number: bigint; timestamp: bigint };
}

/** Appends events to the opportunity feed's log (`opportunity_event`), keyed by (block, log index, account). */
export async function logFeedEvents(context: Context, events: readonly FeedEventInput[], block: BlockRef, logIndex: number): Promise<void> {
  if (events.length === 0) return;
  // Ids are unique per (block, log index, account) and one handler run logs at most one event per account: a
  // plain insert (Ponder's store checks conflicts when it flushes, with no read per row).
  await context.db.insert(opportunityEvent).values(
    events.map((e) => ({ id: feedEventId(block.number, logIndex, e.account), ...e, blockNumber: block.number, logIndex, timestamp: block.timestamp })),
  );
}

/**
 * Appends pathway events to the log at a hub block. They come from the block's block handler, which runs after
 * every log of the block: their log index is BLOCK_LOG_INDEX, so they sort after the block's account events.
 */
export async function logPathwayEvents(context: Context, events: readonly PathwayEventInput[], block: BlockRef): Promise<void> {
  if (events.length === 0) return;
  await context.db.insert(opportunityEvent).values(
    events.map((e) => ({
      id: feedEventId(block.number, BLOCK_LOG_INDEX, pathwaySubject(e.srcEid, e.dstEid)),
      kind: e.kind,
      srcEid: e.srcEid,
      dstEid: e.dstEid,
      reason: e.reason,
      asOfChainId: e.asOf.chainId,
      asOfBlock: e.asOf.number,
      asOfTimestamp: e.asOf.timestamp,
      blockNumber: block.number,
      logIndex: BLOCK_LOG_INDEX,
      timestamp: block.timestamp,
    })),
  );
}

/** The log index of events a block handler logs: after every log of the block (the largest 32-bit integer). */
export const BLOCK_LOG_INDEX = 2_147_483_647;

/** The id subject of a pathway's events. */
export const pathwaySubject = (srcEid: number, dstEid: number): string => `pathway-${srcEid}-${dstEid}`;

/** Sortable event id and resume cursor: (block, log index, subject), the subject an account or `pathwaySubject`. */
export function feedEventId(blockNumber: bigint, logIndex: number, subject: string): string {
  return `${feedEventIdFloor(blockNumber)}${String(logIndex).padStart(10, "0")}:${subject.toLowerCase()}`;
}

/** What `feedEventId` produces. */
export const FEED_EVENT_ID = /^\d{20}:\d{10}:(?:0x[0-9a-f]{40}|pathway-\d{1,10}-\d{1,10})$/;

/** A string that sorts just before every event id of `blockNumber` (and after every id of earlier blocks). */
export function feedEventIdFloor(blockNumber: bigint): string {
  return `${blockNumber.toString().padStart(20, "0")}:`;
}
