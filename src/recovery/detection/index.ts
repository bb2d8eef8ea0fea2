/**
 * Detection for the relayer's engine: the indexer's opportunity feed when it is healthy, the incremental hub
 * scanner otherwise (and always without an indexer).
 *
 *   const detector = await createDetector({ deployment, db, indexerUrl: "http://127.0.0.1:42069", log });
 *   const batch = await detector.poll();       // once per tick
 *   // … store batch.candidates …
 *   await batch.commit();                       // the feed cursor moves past them (no-op for the scanner)
 *
 * Either way the scanner also watches the hub's pool for feed updates not mined yet (pending.ts): the accounts
 * they will put under HF 1 are candidates before their block, and `batch.pending` tells the engine to backrun them.
 *
 * The scanner is polled every tick even while the feed is in use (one getBlock and, per new range, one getLogs:
 * constant in the number of borrowers), so switching to it loses nothing and needs no warm-up. Each switch
 * between sources is logged once, with its reason.
 */
import type { Address } from "viem";
import { z } from "zod";
import type { Deployment } from "../../protocol/deployment.js";
import type { Database } from "../db.js";
import { CursorStore } from "./cursor-store.js";
import { FeedSource } from "./feed.js";
import { type FeedVerdict, IndexerStatusReader, judgeFeed } from "./feed-health.js";
import { IncrementalHubScanner, type ScanResult } from "./scanner.js";
import { type DetectionBatch, type DetectionLogger, type DetectionSource, type DetectionStatus, type Detector, type PendingUpdates, silentLogger } from "./types.js";

export type { DetectionBatch, DetectionLogger, DetectionSource, DetectionStatus, Detector, PendingUpdates } from "./types.js";
export { IncrementalHubScanner, type HubScannerOptions, type ScanResult } from "./scanner.js";
export { HubBook, type BookAsset } from "./book.js";
export { PendingOracleWatch, type PendingOracle } from "./pending.js";
export { FeedSource, type FeedSourceOptions } from "./feed.js";
export { CursorStore } from "./cursor-store.js";
export { IndexerStatusReader, judgeFeed, type FeedVerdict, type IndexerStatus, type StatusReading } from "./feed-health.js";

export const detectorSettingsSchema = z
  .object({
    indexerUrl: z.string().url().optional(),
    /** The feed is unusable when the indexer's hub block is more than this many blocks behind the hub head. */
    maxFeedLagBlocks: z.number().int().min(0).default(3),
    /** The feed is unusable when its subscription has been down for longer than this. */
    maxSubscriptionDownMs: z.number().int().positive().default(3_000),
    /** `/salvage/status` is read at most once per this interval… */
    statusIntervalMs: z.number().int().min(100).default(1_000),
    /** …and each read is given up after this long. */
    statusTimeoutMs: z.number().int().positive().default(2_500),
    /** Backrun feed updates seen in the hub's pool (pending.ts): their accounts are candidates before the block. */
    backrun: z.boolean().default(true),
    /** Most blocks per eth_getLogs request of the scanner. */
    maxBlockRange: z.number().int().positive().default(5_000),
    /** The feed client's reconnect delays. */
    retry: z.object({ minMs: z.number().int().positive().optional(), maxMs: z.number().int().positive().optional() }).strict().optional(),
    /** The cursor's row in detection_cursor; default "feed:<hub chain id>:<hub address>". */
    cursorKey: z.string().min(1).max(200).optional(),
  })
  .strict();
export type DetectorSettings = z.input<typeof detectorSettingsSchema>;

export interface DetectorOptions extends DetectorSettings {
  deployment: Deployment;
  db: Database;
  log?: DetectionLogger;
}

export async function createDetector(options: DetectorOptions): Promise<Detector> {
  const { deployment, db, log, ...raw } = options;
  const parsed = detectorSettingsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`createDetector: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(options)"}: ${i.message}`).join("; ")}`);
  }
  const detector = new HubDetector(deployment, db, parsed.data, log ?? silentLogger);
  await detector.start();
  return detector;
}

type Settings = z.output<typeof detectorSettingsSchema>;

class HubDetector implements Detector {
  private readonly scanner: IncrementalHubScanner;
  private readonly feed: FeedSource | null = null;
  private readonly statusReader: IndexerStatusReader | null = null;
  private current: DetectionStatus;

  constructor(
    deployment: Deployment,
    db: Database,
    private readonly settings: Settings,
    private readonly log: DetectionLogger,
  ) {
    this.scanner = new IncrementalHubScanner({ deployment, log, maxBlockRange: settings.maxBlockRange, backrun: settings.backrun });
    if (settings.indexerUrl) {
      const key = settings.cursorKey ?? `feed:${deployment.hub.chainId}:${deployment.hubAddress.toLowerCase()}`;
      this.feed = new FeedSource({ indexerUrl: settings.indexerUrl, store: new CursorStore(db, key), log, retry: settings.retry });
      this.statusReader = new IndexerStatusReader({
        indexerUrl: settings.indexerUrl,
        hubChainId: deployment.hub.chainId,
        minIntervalMs: settings.statusIntervalMs,
        timeoutMs: settings.statusTimeoutMs,
      });
      this.current = { source: "scanner", reason: "feed not checked yet" };
    } else {
      this.current = { source: "scanner", reason: "no indexer configured" };
    }
  }

  async start(): Promise<void> {
    this.feed?.start();
    // Builds the scanner's book now rather than on the first tick; a failure here is retried by poll().
    await this.scanner.poll();
  }

  async poll(signal?: AbortSignal): Promise<DetectionBatch> {
    signal?.throwIfAborted();
    const scan = await this.scanner.poll();
    signal?.throwIfAborted();
    if (!this.feed || !this.statusReader) return scannerBatch(scan);

    const reading = await this.statusReader.read(signal);
    const connection = this.feed.connection();
    const verdict = judgeFeed({
      bootstrapped: this.feed.bootstrapped,
      everConnected: connection.everConnected,
      subscriptionDownMs: connection.downMs,
      maxSubscriptionDownMs: this.settings.maxSubscriptionDownMs,
      reading,
      hubHead: scan.ok ? scan.head : null,
      maxLagBlocks: this.settings.maxFeedLagBlocks,
    });
    this.record(verdict);
    if (!verdict.usable) return scannerBatch(scan);
    const { candidates, commit } = this.feed.take();
    // The scanner's own candidates ride along: it has read them anyway (no extra RPC), and in a crash the
    // indexer needs seconds to index the crash block (every holder's health) while the scanner has it one poll
    // after the block. Each candidate is confirmed on chain before anything is sent.
    const all = distinct(candidates, scan.ok ? scan.candidates : [], scan.pending?.candidates ?? []);
    return { source: "feed", candidates: all, fromFeed: candidates, commit, pending: pendingOf(scan), head: scan.scannedBlock };
  }

  status(): DetectionStatus {
    return { ...this.current };
  }

  async close(): Promise<void> {
    await this.feed?.close();
  }

  /** Keeps the status and logs each change of source once. */
  private record(verdict: FeedVerdict): void {
    const source: DetectionSource = verdict.usable ? "feed" : "scanner";
    const previous = this.current.source;
    this.current = { source, ...(verdict.usable ? {} : { reason: verdict.reason }), ...(verdict.lagBlocks !== undefined ? { feedLagBlocks: verdict.lagBlocks } : {}) };
    if (source === previous && this.announced) return;
    this.announced = true;
    if (source === "feed") this.log.info({ source, feedLagBlocks: verdict.lagBlocks }, "detection uses the indexer's feed");
    else this.log.warn({ source, reason: verdict.reason, feedLagBlocks: verdict.lagBlocks }, "detection falls back to the hub scanner");
  }

  private announced = false;
}

function scannerBatch(scan: ScanResult): DetectionBatch {
  const candidates = distinct(scan.candidates, scan.pending?.candidates ?? []);
  return { source: "scanner", candidates, fromFeed: [], commit: async () => {}, pending: pendingOf(scan), head: scan.scannedBlock };
}

/** The accounts of every list once (whatever their case), in first-seen order. */
function distinct(...lists: readonly Address[][]): Address[] {
  const all = new Map<string, Address>();
  for (const list of lists) for (const a of list) all.set(a.toLowerCase(), a);
  return [...all.values()];
}

function pendingOf(scan: ScanResult): PendingUpdates | null {
  return scan.pending && { fees: scan.pending.fees, txs: scan.pending.txs };
}
