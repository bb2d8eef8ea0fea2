/**
 * The `accountHealth(address)` subscription: an account's indexed health now, then each time the indexer
 * changes it. Every watched account is re-read in one query when the indexed hub block advances (the feed
 * hub's `onHead`), so many watchers cost one read per block.
 */
import { db } from "ponder:api";
import { accountHealth } from "ponder:schema";
import { inArray } from "ponder";
import type { Address } from "viem";
import type { HealthRow } from "./queries.js";
import { type FeedHub, type Transport, SlowSubscriberError } from "./feed.js";

interface Watcher {
  queue: HealthRow[];
  wake: (() => void) | null;
  closed: boolean;
  error: Error | null;
  last: string | null;
}

const fingerprint = (h: HealthRow) => `${h.updatedBlock}:${h.healthFactor}:${h.debtValue}:${h.collateralValue}`;
const MAX_QUEUE = 1_000;

export class AccountWatch {
  private readonly watchers = new Map<string, Set<Watcher>>();
  private unsubscribe: (() => void) | null = null;
  readonly subscribers: Record<Transport, number> = { sse: 0, ws: 0, webhook: 0, internal: 0 };

  constructor(private readonly hub: FeedHub) {}

  watch(address: Address, transport: Transport): AsyncIterableIterator<HealthRow> {
    const key = address.toLowerCase();
    const w: Watcher = { queue: [], wake: null, closed: false, error: null, last: null };
    let set = this.watchers.get(key);
    if (!set) this.watchers.set(key, (set = new Set()));
    set.add(w);
    this.subscribers[transport]++;
    if (!this.unsubscribe) {
      this.hub.start();
      this.unsubscribe = this.hub.onHead(() => void this.refresh([...this.watchers.keys()]));
    }
    void this.refresh([key]);

    const close = () => {
      if (w.closed) return;
      w.closed = true;
      this.subscribers[transport]--;
      set!.delete(w);
      if (set!.size === 0) this.watchers.delete(key);
      if (this.watchers.size === 0) {
        this.unsubscribe?.();
        this.unsubscribe = null;
      }
      w.wake?.();
    };
    const iterator: AsyncIterableIterator<HealthRow> = {
      [Symbol.asyncIterator]: () => iterator,
      async next() {
        for (;;) {
          const h = w.queue.shift();
          if (h) return { value: h, done: false };
          if (w.error) {
            const error = w.error;
            close();
            throw error;
          }
          if (w.closed) return { value: undefined, done: true };
          await new Promise<void>((resolve) => (w.wake = resolve));
          w.wake = null;
        }
      },
      async return() {
        close();
        return { value: undefined, done: true };
      },
      async throw(error?: unknown) {
        close();
        throw error;
      },
    };
    return iterator;
  }

  private async refresh(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    const rows = (await db.select().from(accountHealth).where(inArray(accountHealth.account, keys as Address[])).catch(() => [])) as HealthRow[];
    for (const h of rows) {
      const print = fingerprint(h);
      for (const w of this.watchers.get(h.account.toLowerCase()) ?? []) {
        if (w.closed || w.last === print) continue;
        w.last = print;
        if (w.queue.length >= MAX_QUEUE) w.error = new SlowSubscriberError(null);
        else w.queue.push(h);
        w.wake?.();
      }
    }
  }
}
