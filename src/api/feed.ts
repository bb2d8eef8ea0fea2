/**
 * The opportunity feed's fan-out: one poller per API process tails the indexer's `opportunity_event` log and
 * hands each new event, enriched with the best take at the indexed block, to every subscriber (GraphQL over
 * SSE and WebSocket, webhooks). 1,000 subscribers cost one query per tick, not 1,000.
 *
 * - Live: the poller reads the log as soon as the indexer commits a block (PostgreSQL's NOTIFY, src/api/commit-signal.ts)
 *   and every `SALVAGE_FEED_POLL_MS` (default 100 ms) in any case. It re-reads the ids of the last REORG_WINDOW hub
 *   blocks, so an event re-mined after a reorg with an id below the mark is still delivered (once: ids already
 *   sent are remembered for the window), and enriches and delivers new events DELIVERY_BATCH at a time.
 * - Resume: a subscriber with `since` first replays the log after that id from the database, while live
 *   events queue behind; live events it already replayed are skipped by id, so nothing is missed or doubled.
 * - Bounded: each subscriber's queue holds at most `maxQueue` events; a subscriber that falls that far
 *   behind is ended with SlowSubscriberError (it can resume with `since` = the last id it got).
 */
import { REFERENCE_PROTOCOL } from "../deployment/manifest.js";
import { opportunityJson } from "./json.js";
import { protocols } from "./protocols.js";
import { opportunityEvent } from "ponder:schema";
import { asc, desc, gt, inArray } from "ponder";
import { GraphQLError } from "graphql";
import { z } from "zod";
import type { Address } from "viem";
import {
  FROM_START,
  type Opportunity,
  type OpportunityEventRow,
  QueryError,
  eventsAfter,
  indexedHubBlock,
  parseAddress,
  parseDecimalWad,
} from "./queries.js";
import { loadIndexerManifest } from "../indexer/manifest.js";
import { feedEventIdFloor } from "../indexer/feed-log.js";
import { Channel } from "./channel.js";
import { onIndexedCommit } from "./commit-signal.js";
import { apiLimits } from "./limits.js";
import { feedEventsEmitted } from "./metrics.js";
import { EVENT_KINDS, type EventKind, type FeedEvent, type FeedFilter, type FeedPathway, matchesFilter } from "./feed-event.js";
import { type Snapshot, atOneBlock, blockJson, reader } from "./snapshot.js";

export * from "./feed-event.js";

/** The filter as it arrives (GraphQL input, webhook registration JSON): decimals as strings. */
export const feedFilterInput = z
  .object({
    kinds: z.array(z.enum(EVENT_KINDS)).min(1).max(EVENT_KINDS.length).optional(),
    accounts: z.array(z.string()).min(1).max(1_000).optional(),
    chainId: z.number().int().min(1).max(2 ** 31 - 1).optional(),
    minProfitUsd: z.string().optional(),
    minDebtUsd: z.string().optional(),
    protocols: z.array(z.string().min(1).max(64)).min(1).max(16).optional(),
  })
  .strict();
export type FeedFilterInput = z.input<typeof feedFilterInput>;

/** Validates a filter; a QueryError names the field at fault (`filter.minProfitUsd`). */
export function parseFeedFilter(raw: unknown, name = "filter"): FeedFilter {
  if (raw === null || raw === undefined) return {};
  const parsed = feedFilterInput.safeParse(stripNulls(raw));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = [name, ...issue.path].join(".");
    throw new QueryError(`${at}: ${issue.message}`, at);
  }
  const f = parsed.data;
  return {
    kinds: f.kinds,
    accounts: f.accounts?.map((a, i) => parseAddress(`${name}.accounts.${i}`, a)),
    chainId: f.chainId,
    minProfitUsd: f.minProfitUsd === undefined ? undefined : parseDecimalWad(`${name}.minProfitUsd`, f.minProfitUsd),
    minDebtUsd: f.minDebtUsd === undefined ? undefined : parseDecimalWad(`${name}.minDebtUsd`, f.minDebtUsd),
    protocols: f.protocols,
  };
}

/** GraphQL passes absent optional input fields as null; the schema treats null as absent. */
function stripNulls(raw: unknown): unknown {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return raw;
  return Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null && v !== undefined));
}

/** An event as JSON (bigints as decimal strings): the GraphQL `OpportunityEvent` with every field, and the webhook body. */
export function feedEventJson(e: FeedEvent) {
  return {
    id: e.id,
    account: e.account,
    protocol: e.protocol,
    kind: e.kind,
    healthFactor: e.healthFactor?.toString() ?? null,
    previousHealthFactor: e.previousHealthFactor?.toString() ?? null,
    debtValue: e.debtValue?.toString() ?? null,
    chainId: e.chainId,
    blockNumber: e.blockNumber.toString(),
    logIndex: e.logIndex,
    timestamp: e.timestamp.toString(),
    opportunity: e.opportunity ? opportunityJson(e.opportunity) : null,
    pathway: e.pathway ? { ...e.pathway, asOf: blockJson(e.pathway.asOf) } : null,
  };
}
export type FeedEventJson = ReturnType<typeof feedEventJson>;

/** Thrown into a subscriber that fell `maxQueue` events (or `maxBytes`) behind; it resumes with `since: lastId`. */
export class SlowSubscriberError extends GraphQLError {
  constructor(readonly lastId: string | null) {
    // A GraphQLError, so the subscriber reads it as written (yoga masks other errors), with where to resume.
    super(`subscriber fell too far behind and was ended; resume with since: ${JSON.stringify(lastId)}`, { extensions: { code: "SLOW_SUBSCRIBER", since: lastId } });
  }
}

export type Transport = "sse" | "ws" | "webhook" | "internal";

export interface SubscribeOptions {
  /** Resume after this event id ("0": from the start of the log); live events only without it. */
  since?: string;
  filter?: FeedFilter;
  transport: Transport;
  /** Events that may wait for this subscriber before it is ended (default 10,000). */
  maxQueue?: number;
  /** Bytes (the events' JSON) that may wait for it (default SALVAGE_MAX_SUBSCRIBER_BUFFER_BYTES, src/api/limits.ts). */
  maxBytes?: number;
}

/** An event's size as a subscriber receives it (its JSON), computed once per event object. */
const eventBytes = new WeakMap<FeedEvent, number>();
export function feedEventBytes(e: FeedEvent): number {
  let n = eventBytes.get(e);
  if (n === undefined) eventBytes.set(e, (n = Buffer.byteLength(JSON.stringify(feedEventJson(e)))));
  return n;
}

/** Hub blocks re-read each tick so events re-mined after a reorg are not missed. */
const REORG_WINDOW = 64n;
const PAGE = 1_000;
/** Ids of the window read at a time. */
const ID_PAGE = 10_000;
/** Events enriched and delivered at a time. */
const DELIVERY_BATCH = 200;

interface Subscriber {
  filter: FeedFilter;
  transport: Transport;
  channel: Channel<FeedEvent>;
  /** While replaying `since`, live events wait here. */
  replaying: FeedEvent[] | null;
  /** The last event id queued for it (where it resumes if it is ended as too slow). */
  lastId: string | null;
}

export interface FeedStats {
  subscribers: Record<Transport, number>;
  emitted: Record<EventKind, number>;
  lastId: string | null;
  polls: number;
}

export class FeedHub {
  private readonly subscribers = new Set<Subscriber>();
  private readonly sent = new Map<string, bigint>();
  private markBlock: bigint | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private ticking = false;
  private again = false;
  private stopSignal: (() => void) | undefined;
  private polling: Promise<void> | null = null;
  private readonly listeners = new Set<(head: bigint) => void>();
  private lastHead: bigint | null = null;
  /** Resolves once the first tick has marked the end of the log (live delivery starts after that mark). */
  private readonly marked: Promise<void>;
  private markDone!: () => void;
  private readonly pollWaiters: { after: number; resolve: () => void }[] = [];
  readonly stats: FeedStats = { subscribers: { sse: 0, ws: 0, webhook: 0, internal: 0 }, emitted: { liquidatable: 0, updated: 0, healthy: 0, kicked: 0, stalled: 0, cleared: 0 }, lastId: null, polls: 0 };

  constructor(private readonly pollMs: number) {
    this.marked = new Promise((resolve) => (this.markDone = resolve));
  }

  /**
   * Starts the poller (idempotent). The first tick marks the log's end: live subscribers get what follows. A tick
   * runs every `pollMs`, and at once when the indexer commits a block (src/api/commit-signal.ts): never two at once;
   * a signal during a tick runs one more right after it.
   */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopSignal = onIndexedCommit(() => this.wake());
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    this.stopSignal?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** A new block is committed: tick now (or right after the tick in progress). */
  private wake(): void {
    if (!this.running) return;
    if (this.ticking) this.again = true;
    else this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.loop(), ms);
  }

  private async loop(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    do {
      this.again = false;
      const poll = ++this.stats.polls;
      this.polling = this.tick().catch(() => undefined);
      await this.polling;
      for (const w of this.pollWaiters.splice(0)) {
        if (w.after < poll) w.resolve();
        else this.pollWaiters.push(w);
      }
    } while (this.again && this.running);
    this.ticking = false;
    if (this.running) this.schedule(this.pollMs);
  }

  /** Resolves once a poll that starts after this call has finished. */
  private nextPoll(): Promise<void> {
    const after = this.stats.polls;
    return new Promise((resolve) => this.pollWaiters.push({ after, resolve }));
  }

  /** Called with the indexed hub block each time it advances (the accountHealth subscription uses it). */
  onHead(listener: (head: bigint) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  subscribe(options: SubscribeOptions): AsyncIterableIterator<FeedEvent> {
    this.start();
    const sub: Subscriber = {
      filter: options.filter ?? {},
      transport: options.transport,
      replaying: options.since === undefined ? null : [],
      lastId: options.since === undefined || options.since === FROM_START ? null : options.since,
      channel: new Channel<FeedEvent>(
        options.maxQueue ?? 10_000,
        () => new SlowSubscriberError(sub.lastId),
        () => {
          this.subscribers.delete(sub);
          this.stats.subscribers[sub.transport]--;
        },
        { max: options.maxBytes ?? apiLimits().maxSubscriberBufferBytes, of: feedEventBytes },
      ),
    };
    this.subscribers.add(sub);
    this.stats.subscribers[sub.transport]++;
    if (options.since !== undefined) void this.replay(sub, options.since);
    return sub.channel;
  }

  /**
   * Replays the log after `since`, then releases the live events that queued meanwhile, skipping those the
   * replay covered (id up to its last read). Two waits make that exact:
   * - the replay reads until the log is exhausted *after* the poller has marked the log's end, since events
   *   logged before that mark are never sent live;
   * - it then waits for one full poll after its last read, so an event already in the log but not yet sent
   *   live (the poller lags the log by up to a poll) is queued, and skipped, rather than sent after release.
   */
  private async replay(sub: Subscriber, since: string): Promise<void> {
    try {
      let cursor = since === FROM_START ? undefined : since;
      let afterMark = false;
      for (;;) {
        const [rows, events] = await atOneBlock(async () => {
          const page = await eventsAfter(cursor, PAGE);
          return [page, await enrich(page)] as const;
        });
        for (const e of events) if (matchesFilter(e, sub.filter)) this.push(sub, e);
        if (rows.length > 0) cursor = rows[rows.length - 1]!.id;
        // Gone, or ended as too slow: the rest of the log is not read for it.
        if (sub.channel.ended) return;
        if (rows.length === PAGE) continue;
        if (afterMark) break;
        await this.marked;
        afterMark = true;
      }
      await this.nextPoll();
      const waiting = sub.replaying ?? [];
      sub.replaying = null;
      for (const e of waiting) if (cursor === undefined || e.id > cursor) this.push(sub, e);
    } catch (error) {
      sub.channel.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private push(sub: Subscriber, e: FeedEvent): void {
    if (sub.channel.push(e)) sub.lastId = e.id;
  }

  /** One poll, in one snapshot: the events it sends and their takes are read at the hub block it reads. */
  private async tick(): Promise<void> {
    return atOneBlock(() => this.tickAt());
  }

  private async tickAt(): Promise<void> {
    const head = await indexedHubBlock();
    if (!head) return;
    if (this.markBlock === null) {
      // First tick: everything logged so far is history (subscribers reach it with `since`).
      const tail = await readTail();
      for (const r of tail) this.sent.set(r.id, r.blockNumber);
      this.markBlock = tail.length > 0 ? tail[tail.length - 1]!.blockNumber : head.number;
      this.stats.lastId = tail[tail.length - 1]?.id ?? null;
      this.lastHead = head.number;
      this.markDone();
      return;
    }
    // The ids of the window (cheap), then the rows not sent yet, a batch at a time: each batch is enriched and
    // delivered before the next is read, so a crash's first events leave before its last are read.
    const from = this.markBlock > REORG_WINDOW ? this.markBlock - REORG_WINDOW : 0n;
    const unsent: string[] = [];
    let cursor = feedEventIdFloor(from);
    for (;;) {
      const ids = await idsAfter(cursor, ID_PAGE);
      for (const id of ids) if (!this.sent.has(id)) unsent.push(id);
      if (ids.length < ID_PAGE) break;
      cursor = ids[ids.length - 1]!;
    }
    for (let i = 0; i < unsent.length; i += DELIVERY_BATCH) {
      const rows = await eventsById(unsent.slice(i, i + DELIVERY_BATCH));
      const events = await enrich(rows);
      for (const e of events) {
        this.sent.set(e.id, e.blockNumber);
        if (e.blockNumber > this.markBlock) this.markBlock = e.blockNumber;
        this.stats.emitted[e.kind]++;
        feedEventsEmitted.inc({ kind: e.kind });
        this.stats.lastId = e.id;
        for (const sub of this.subscribers) {
          if (!matchesFilter(e, sub.filter)) continue;
          if (sub.replaying) sub.replaying.push(e);
          else this.push(sub, e);
        }
      }
    }
    if (head.number > this.markBlock) this.markBlock = head.number;
    for (const [id, block] of this.sent) if (block + REORG_WINDOW < this.markBlock) this.sent.delete(id);
    if (this.lastHead === null || head.number !== this.lastHead) {
      this.lastHead = head.number;
      for (const listener of this.listeners) listener(head.number);
    }
  }
}

/** Up to `limit` event ids above `after`, in order. */
async function idsAfter(after: string, limit: number): Promise<string[]> {
  const rows = await reader().select({ id: opportunityEvent.id }).from(opportunityEvent).where(gt(opportunityEvent.id, after)).orderBy(asc(opportunityEvent.id)).limit(limit);
  return rows.map((r) => r.id);
}

/** The log rows of `ids` (ascending), in id order. */
async function eventsById(ids: readonly string[]): Promise<OpportunityEventRow[]> {
  return reader().select().from(opportunityEvent).where(inArray(opportunityEvent.id, [...ids])).orderBy(asc(opportunityEvent.id));
}

/** The last REORG_WINDOW blocks of the log (what the first tick counts as already sent). */
async function readTail(): Promise<{ id: string; blockNumber: bigint }[]> {
  const newest = await reader().select({ id: opportunityEvent.id, blockNumber: opportunityEvent.blockNumber }).from(opportunityEvent).orderBy(desc(opportunityEvent.id)).limit(1);
  if (newest.length === 0) return [];
  const from = newest[0]!.blockNumber > REORG_WINDOW ? newest[0]!.blockNumber - REORG_WINDOW : 0n;
  return reader()
    .select({ id: opportunityEvent.id, blockNumber: opportunityEvent.blockNumber })
    .from(opportunityEvent)
    .where(gt(opportunityEvent.id, feedEventIdFloor(from)))
    .orderBy(asc(opportunityEvent.id));
}

/**
 * Log rows → feed events: each liquidatable or updated account event gets the liquidation its protocol would make at
 * the indexed hub block (src/api/protocols.ts `liquidationsOf`: one read per protocol for the whole batch), null
 * when the account is not liquidatable at that block, whatever the event's kind. Read in the caller's snapshot, or
 * one of its own.
 */
export async function enrich(rows: readonly OpportunityEventRow[]): Promise<FeedEvent[]> {
  if (rows.length === 0) return [];
  return atOneBlock((snapshot) => enrichAt(rows, snapshot));
}

async function enrichAt(rows: readonly OpportunityEventRow[], snapshot: Snapshot): Promise<FeedEvent[]> {
  const manifest = loadIndexerManifest();
  const chainOfEid = new Map(manifest.manifest.chains.map((c) => [c.eid, c.chainId] as const));
  // The reference protocol's rows carry no protocol (logged before there was a second one, or by its handlers).
  const protocolOf = (r: OpportunityEventRow) => r.protocol ?? REFERENCE_PROTOCOL;
  const wanted = new Map<string, Set<Address>>();
  for (const r of rows) {
    if (r.kind === "healthy" || !r.account) continue;
    wanted.set(protocolOf(r), (wanted.get(protocolOf(r)) ?? new Set()).add(r.account.toLowerCase() as Address));
  }
  const served = new Map(protocols().map((p) => [p.name, p]));
  const takes = new Map(
    await Promise.all(
      // A protocol no longer in the manifest has no liquidation to offer.
      [...wanted].map(async ([name, accounts]) => [name, (await served.get(name)?.liquidationsOf([...accounts], snapshot)) ?? new Map<string, Opportunity>()] as const),
    ),
  );
  return rows.map((r) => ({
    id: r.id,
    account: (r.account as Address | null) ?? null,
    protocol: r.account ? protocolOf(r) : null,
    kind: r.kind as EventKind,
    healthFactor: r.healthFactor ?? null,
    previousHealthFactor: r.previousHealthFactor ?? null,
    debtValue: r.debtValue ?? null,
    chainId: manifest.hub.chainId,
    blockNumber: r.blockNumber,
    logIndex: r.logIndex,
    timestamp: r.timestamp,
    opportunity: (r.account && takes.get(protocolOf(r))?.get(r.account.toLowerCase())) || null,
    pathway: pathwayOf(r, chainOfEid),
  }));
}

/** The pathway of a `stalled` / `cleared` row; null for an account event. */
function pathwayOf(r: OpportunityEventRow, chainOfEid: ReadonlyMap<number, number>): FeedPathway | null {
  if (r.srcEid === null || r.dstEid === null || r.asOfBlock === null || r.asOfTimestamp === null) return null;
  return {
    srcEid: r.srcEid,
    dstEid: r.dstEid,
    srcChainId: chainOfEid.get(r.srcEid) ?? 0,
    dstChainId: chainOfEid.get(r.dstEid) ?? 0,
    reason: r.reason ?? null,
    asOf: { chainId: r.asOfChainId ?? chainOfEid.get(r.dstEid) ?? 0, number: r.asOfBlock, timestamp: r.asOfTimestamp },
  };
}

let hub: FeedHub | undefined;
/** The process's one feed hub (created on first use; `SALVAGE_FEED_POLL_MS` sets its poll interval). */
export function feedHub(): FeedHub {
  if (!hub) {
    const pollMs = Number(process.env.SALVAGE_FEED_POLL_MS ?? 100);
    if (!Number.isInteger(pollMs) || pollMs < 10 || pollMs > 60_000) throw new Error(`SALVAGE_FEED_POLL_MS must be an integer in [10, 60000], got ${process.env.SALVAGE_FEED_POLL_MS}`);
    hub = new FeedHub(pollMs);
  }
  return hub;
}
