/**
 * Whether the indexer's feed can be trusted this tick: its API answers `/salvage/status` (read at most once
 * per `minIntervalMs` and without holding a tick, each read bounded by `timeoutMs`), its subscription is connected (or was down for no
 * more than a few seconds), and the hub block it has indexed is within `maxLagBlocks` of the hub head.
 */
import { z } from "zod";
import { errorMessage } from "./types.js";

const blockString = z.string().regex(/^\d+$/, "must be a block number string").nullable();
const statusSchema = z.object({
  chains: z.array(z.object({ role: z.enum(["hub", "spoke"]), chainId: z.number().int(), indexedBlock: blockString, headBlock: blockString })),
});

export interface IndexerStatus {
  /** The hub block the indexer has processed (null when it has not started on the hub). */
  hubIndexedBlock: bigint | null;
  /** The hub head as the indexer's own RPC sees it. */
  hubHeadBlock: bigint | null;
}

export type StatusReading = { ok: true; status: IndexerStatus; at: number } | { ok: false; error: string; at: number };

export interface StatusReaderOptions {
  indexerUrl: string;
  hubChainId: number;
  minIntervalMs: number;
  timeoutMs: number;
  fetch?: typeof fetch;
  now?: () => number;
}

/**
 * Reads `/salvage/status`, at most once per interval. Only the first call waits for an answer: after it, a caller
 * gets the last reading at once, and a reading older than the interval starts the next read in the background. An
 * indexer busy with a crash block answers late, and the hub scanner's candidates must not wait for it; a reading is
 * never older than the interval plus the read's timeout (a read that times out is a reading too: unreachable).
 */
export class IndexerStatusReader {
  private last: StatusReading | null = null;
  private inFlight: Promise<StatusReading> | null = null;
  private readonly url: string;
  private readonly doFetch: typeof fetch;
  private readonly now: () => number;

  constructor(private readonly o: StatusReaderOptions) {
    this.url = new URL("/salvage/status", o.indexerUrl).toString();
    this.doFetch = o.fetch ?? fetch;
    this.now = o.now ?? Date.now;
  }

  read(signal?: AbortSignal): Promise<StatusReading> {
    if (this.last && this.now() - this.last.at < this.o.minIntervalMs) return Promise.resolve(this.last);
    this.inFlight ??= this.fetchOnce(this.last ? undefined : signal).then((r) => {
      this.last = r;
      this.inFlight = null;
      return r;
    });
    return this.last ? Promise.resolve(this.last) : this.inFlight;
  }

  private async fetchOnce(signal?: AbortSignal): Promise<StatusReading> {
    const timeout = AbortSignal.timeout(this.o.timeoutMs);
    try {
      const res = await this.doFetch(this.url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout, headers: { accept: "application/json" } });
      if (!res.ok) return { ok: false, error: `indexer status answered ${res.status}`, at: this.now() };
      const parsed = statusSchema.safeParse(await res.json());
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        return { ok: false, error: `indexer status: ${issue.path.join(".")}: ${issue.message}`, at: this.now() };
      }
      const hub = parsed.data.chains.find((c) => c.role === "hub" && c.chainId === this.o.hubChainId);
      if (!hub) return { ok: false, error: `indexer status has no hub chain ${this.o.hubChainId}`, at: this.now() };
      return {
        ok: true,
        status: { hubIndexedBlock: hub.indexedBlock === null ? null : BigInt(hub.indexedBlock), hubHeadBlock: hub.headBlock === null ? null : BigInt(hub.headBlock) },
        at: this.now(),
      };
    } catch (error) {
      const why = timeout.aborted ? `no answer within ${this.o.timeoutMs} ms` : errorMessage(error);
      return { ok: false, error: `indexer API unreachable: ${why}`, at: this.now() };
    }
  }
}

export interface FeedVerdictInput {
  /** The feed source has its starting point (stored cursor, or the first snapshot). */
  bootstrapped: boolean;
  /** The subscription has been connected at least once. */
  everConnected: boolean;
  /** How long the subscription has been down (null while connected). */
  subscriptionDownMs: number | null;
  maxSubscriptionDownMs: number;
  reading: StatusReading;
  /** The hub head the relayer sees (null when unknown). */
  hubHead: bigint | null;
  maxLagBlocks: number;
}

export interface FeedVerdict {
  usable: boolean;
  reason?: string;
  lagBlocks?: number;
}

export function judgeFeed(i: FeedVerdictInput): FeedVerdict {
  if (!i.reading.ok) return { usable: false, reason: i.reading.error };
  const { hubIndexedBlock, hubHeadBlock } = i.reading.status;
  const head = i.hubHead ?? hubHeadBlock;
  const lagBlocks = hubIndexedBlock !== null && head !== null ? Number(head > hubIndexedBlock ? head - hubIndexedBlock : 0n) : undefined;
  if (hubIndexedBlock === null) return { usable: false, reason: "the indexer has not indexed the hub yet" };
  if (lagBlocks !== undefined && lagBlocks > i.maxLagBlocks) return { usable: false, reason: `feed lags the hub by ${lagBlocks} blocks`, lagBlocks };
  if (!i.bootstrapped) return { usable: false, reason: "feed not started yet (no cursor, no snapshot)", lagBlocks };
  if (!i.everConnected) return { usable: false, reason: "feed subscription not connected yet", lagBlocks };
  if (i.subscriptionDownMs !== null && i.subscriptionDownMs > i.maxSubscriptionDownMs) {
    return { usable: false, reason: `feed subscription down for ${Math.round(i.subscriptionDownMs / 1000)} s`, lagBlocks };
  }
  return { usable: true, lagBlocks };
}
