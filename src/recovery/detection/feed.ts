/**
 * The feed source: the indexer's opportunity feed through the typed client (`salvage/client`), with a
 * resume point in the relayer's database.
 *
 * - First start (no stored cursor): the id of the log's newest event is read first, then every account
 *   liquidatable now (the `opportunities` query, pages of 500), and the subscription starts from that id, so
 *   an event logged between the two reads is delivered rather than lost.
 * - Later starts: the subscription resumes after the stored cursor.
 * - `liquidatable`, `updated` and `kicked` events make candidates (`healthy` ones are filtered out by the server).
 * - The cursor moves only on `commit()` of a batch: until then the batch's entries stay and are handed out
 *   again by the next `take()`, and a crash before commit replays them from the stored cursor.
 *
 * The client reconnects by itself (resuming from the last id it yielded); this source also tracks whether
 * its subscription is connected, for the feed health check.
 */
import { type Address, getAddress } from "viem";
import { z } from "zod";
import { type SalvageClient, createSalvageClient } from "../../client/index.js";
import { sleep } from "../../util/concurrency.js";
import type { CursorStore } from "./cursor-store.js";
import { type DetectionLogger, errorMessage, silentLogger } from "./types.js";

const CANDIDATE_KINDS = ["liquidatable", "updated", "kicked"] as const;
const PAGE_SIZE = 500;

const opportunitiesPage = z.object({
  opportunities: z.object({
    items: z.array(z.object({ account: z.string().regex(/^0x[0-9a-fA-F]{40}$/, "must be an address") })),
    pageInfo: z.object({ hasNextPage: z.boolean(), endCursor: z.string().nullable() }),
  }),
});

interface Entry {
  seq: number;
  /** The feed position after this entry: an event id (or the log's end read before the snapshot). */
  cursor: string;
  accounts: Address[];
}

export interface FeedBatchParts {
  candidates: Address[];
  commit(): Promise<void>;
}

export interface FeedConnection {
  everConnected: boolean;
  /** Milliseconds since the subscription went down; null while connected. */
  downMs: number | null;
}

export interface FeedSourceOptions {
  indexerUrl: string;
  store: CursorStore;
  log?: DetectionLogger;
  /** Reconnect delays of the client and of this source's restarts (defaults 250 ms doubling to 5 s). */
  retry?: { minMs?: number; maxMs?: number };
  fetch?: typeof fetch;
  now?: () => number;
}

export class FeedSource {
  private readonly client: SalvageClient;
  private readonly store: CursorStore;
  private readonly log: DetectionLogger;
  private readonly abort = new AbortController();
  private readonly now: () => number;
  private readonly retryMin: number;
  private readonly retryMax: number;
  private entries: Entry[] = [];
  private nextSeq = 1;
  private committedSeq = 0;
  private commits: Promise<void> = Promise.resolve();
  /** Where the subscription resumes; null until bootstrapped. */
  private since: string | null = null;
  private connected = false;
  private everConnected = false;
  private downSince: number;
  private loop: Promise<void> | null = null;

  constructor(options: FeedSourceOptions) {
    this.store = options.store;
    this.log = options.log ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.retryMin = options.retry?.minMs ?? 250;
    this.retryMax = options.retry?.maxMs ?? 5_000;
    this.downSince = this.now();
    const base = options.fetch ?? fetch;
    // Sees each subscription request: a 2xx answer to an event-stream request means the subscription is up.
    const tracking: typeof fetch = async (input, init) => {
      const res = await base(input, init);
      if (res.ok && new Headers(init?.headers).get("accept") === "text/event-stream") this.markUp();
      return res;
    };
    this.client = createSalvageClient({ url: options.indexerUrl, fetch: tracking, retry: { minMs: this.retryMin, maxMs: this.retryMax } });
  }

  start(): void {
    this.loop ??= this.run();
  }

  get bootstrapped(): boolean {
    return this.since !== null;
  }

  connection(): FeedConnection {
    return { everConnected: this.everConnected, downMs: this.connected ? null : this.now() - this.downSince };
  }

  /** Every candidate not yet committed, and the commit that moves the cursor past them. */
  take(): FeedBatchParts {
    const entries = this.entries;
    const last = entries.at(-1);
    const candidates = [...new Set(entries.flatMap((e) => e.accounts))];
    return { candidates, commit: last ? () => this.commitUpTo(last) : async () => {} };
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await this.commits.catch(() => undefined);
  }

  private commitUpTo(entry: Entry): Promise<void> {
    const run = this.commits.then(async () => {
      if (entry.seq <= this.committedSeq) return;
      await this.store.write(entry.cursor);
      this.committedSeq = entry.seq;
      this.entries = this.entries.filter((e) => e.seq > entry.seq);
    });
    this.commits = run.catch(() => undefined);
    return run;
  }

  private push(cursor: string, accounts: Address[]): void {
    this.entries.push({ seq: this.nextSeq++, cursor, accounts });
  }

  private markUp(): void {
    if (!this.connected) this.log.info({ since: this.since }, "feed subscription connected");
    this.connected = true;
    this.everConnected = true;
  }

  private markDown(error: unknown): void {
    if (this.connected) {
      this.log.warn({ err: errorMessage(error), since: this.since }, "feed subscription dropped; reconnecting");
      this.downSince = this.now();
    }
    this.connected = false;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let attempt = 0;
    while (!signal.aborted) {
      try {
        if (this.since === null) await this.bootstrap(signal);
        const events = this.client.opportunities({
          since: this.since!,
          filter: { kinds: [...CANDIDATE_KINDS] },
          signal,
          onReconnect: (error) => this.markDown(error),
        });
        for await (const e of events) {
          this.push(e.id, [getAddress(e.account)]);
          this.since = e.id;
          attempt = 0;
        }
      } catch (error) {
        if (signal.aborted) break;
        this.markDown(error);
        attempt++;
        if (attempt === 1) this.log.warn({ err: errorMessage(error), since: this.since }, "feed source failed; retrying");
        await sleep(Math.min(this.retryMax, this.retryMin * 2 ** Math.min(attempt - 1, 16)), signal);
      }
    }
    this.connected = false;
  }

  /** The starting point: the stored cursor, or the log's end and a snapshot of what is liquidatable now. */
  private async bootstrap(signal: AbortSignal): Promise<void> {
    const stored = await this.store.read();
    if (stored !== null) {
      this.since = stored;
      this.log.info({ cursor: stored }, "feed resumes from the stored cursor");
      return;
    }
    const end = (await this.client.latestEventId(signal)) ?? "0";
    const accounts: Address[] = [];
    let after: string | null = null;
    for (;;) {
      const raw = await this.client.query<unknown>(
        "query($first: Int!, $after: String) { opportunities(first: $first, after: $after) { items { account } pageInfo { hasNextPage endCursor } } }",
        { first: PAGE_SIZE, after },
        signal,
      );
      const parsed = opportunitiesPage.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new Error(`opportunities answer: ${issue.path.join(".")}: ${issue.message}`);
      }
      const page = parsed.data.opportunities;
      accounts.push(...page.items.map((i) => getAddress(i.account)));
      if (!page.pageInfo.hasNextPage || page.pageInfo.endCursor === null) break;
      after = page.pageInfo.endCursor;
    }
    this.push(end, [...new Set(accounts)]);
    this.since = end;
    this.log.info({ cursor: end, liquidatable: accounts.length }, "feed started from a snapshot of the liquidatable accounts");
  }
}
