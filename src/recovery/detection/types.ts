/**
 * The detection interface the relayer's engine calls once per tick, and the small shapes its sources share.
 * Nothing here acts on import (Ponder loads every module under src/ except src/api/).
 */
import type { Address, Hex } from "viem";

export type DetectionSource = "feed" | "scanner";

export interface DetectionBatch {
  source: DetectionSource;
  /** Accounts that may be liquidatable now (the engine confirms each on chain with one batched read before acting). */
  candidates: Address[];
  /** The part of `candidates` the feed's events brought (empty from the scanner alone): what `commit` moves past. */
  fromFeed: Address[];
  /** Persists the feed cursor past these candidates; the engine calls it after it has stored them. No-op for the scanner. */
  commit(): Promise<void>;
  /** Feed updates in the hub's pool (their accounts are among `candidates`): the engine backruns them. */
  pending: PendingUpdates | null;
  /** The hub block the scanner's book (and so its candidates) was last brought to; null before its first read. A new one may have mined batches in flight. */
  head: bigint | null;
}

/** Feed updates pending in the hub's pool (pending.ts). */
export interface PendingUpdates {
  /** The lowest fees among them: a transaction that offers no more is ordered after them in their block. */
  fees: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint };
  txs: Hex[];
}

export interface DetectionStatus {
  source: DetectionSource;
  /** Why the scanner answers (absent while the feed is in use). */
  reason?: string;
  /** Hub head minus the hub block the indexer reports, when both are known. */
  feedLagBlocks?: number;
}

export interface Detector {
  poll(signal?: AbortSignal): Promise<DetectionBatch>;
  /** Which source is in use and why (for logs and metrics): e.g. { source: "scanner", reason: "feed lags the hub by 7 blocks" }. */
  status(): DetectionStatus;
  close(): Promise<void>;
}

/** The relayer's logger shape (pino-compatible): structured object first, message second. */
export interface DetectionLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: DetectionLogger = { info() {}, warn() {}, error() {} };

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
