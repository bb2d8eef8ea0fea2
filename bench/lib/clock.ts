/**
 * When each block of a chain appeared: the chain's head polled every `intervalMs`, each new block number
 * stamped with the wall clock of the poll that first saw it (blocks that appeared between two polls share
 * the later poll's time). Block timestamps are whole seconds; this is milliseconds, with the poll's resolution.
 */
import type { Reader } from "../../src/chains/tx.js";
import { sleep } from "./common.js";

export class BlockClock {
  private readonly seen = new Map<bigint, number>();
  private last = -1n;
  private first = -1n;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly reader: Reader,
    private readonly intervalMs = 25,
  ) {}

  async start(): Promise<void> {
    this.last = await this.reader.getBlockNumber();
    this.first = this.last;
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await this.poll().catch(() => {});
        await sleep(this.intervalMs);
      }
    })();
  }

  private async poll(): Promise<void> {
    const head = await this.reader.getBlockNumber();
    const now = Date.now();
    for (let b = this.last + 1n; b <= head; b++) this.seen.set(b, now);
    if (head > this.last) this.last = head;
  }

  /** The latest head seen. */
  get head(): bigint {
    return this.last;
  }

  /** Wall time (ms) the block was first seen, if it appeared while the clock ran. */
  at(block: bigint): number | undefined {
    return this.seen.get(block);
  }

  /** The chain's head at `ms`: the highest block first seen at or before it (the head at start if none). */
  headAt(ms: number): bigint {
    let best = this.first;
    for (const [b, t] of this.seen) if (t <= ms && b > best) best = b;
    return best;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}
