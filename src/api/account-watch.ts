/**
 * The `accountHealth(address)` subscription: an account's indexed health now, then each time the indexer
 * changes it. Every watched account is re-read in one query when the indexed hub block advances (the feed
 * hub's `onHead`), so many watchers cost one read per block.
 */
import type { Address } from "viem";
import type { HealthRow } from "./queries.js";
import { Channel } from "./channel.js";
import { healthOf } from "./health-read.js";
import { type FeedHub, type Transport, SlowSubscriberError } from "./feed.js";

interface Watcher {
  channel: Channel<HealthRow>;
  /** What it was last sent, so an unchanged row is not sent again. */
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
    const w: Watcher = {
      last: null,
      channel: new Channel<HealthRow>(MAX_QUEUE, () => new SlowSubscriberError(null), () => {
        this.subscribers[transport]--;
        set!.delete(w);
        if (set!.size === 0) this.watchers.delete(key);
        if (this.watchers.size === 0) {
          this.unsubscribe?.();
          this.unsubscribe = null;
        }
      }),
    };
    let set = this.watchers.get(key);
    if (!set) this.watchers.set(key, (set = new Set()));
    set.add(w);
    this.subscribers[transport]++;
    if (!this.unsubscribe) {
      this.hub.start();
      this.unsubscribe = this.hub.onHead(() => void this.refresh([...this.watchers.keys()]));
    }
    void this.refresh([key]);
    return w.channel;
  }

  private async refresh(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    // Computed at one indexed block (health-read.ts): a stored row may lag the prices within its envelope.
    const rows = await healthOf(keys as Address[]).catch(() => [] as HealthRow[]);
    for (const h of rows) {
      const print = fingerprint(h);
      for (const w of this.watchers.get(h.account.toLowerCase()) ?? []) {
        if (w.last === print) continue;
        if (w.channel.push(h)) w.last = print;
      }
    }
  }
}
