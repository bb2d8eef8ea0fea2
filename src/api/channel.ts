/**
 * One subscription's queue: the producer pushes, the subscriber reads it as an async iterator. Bounded in values
 * and, given `bytes`, in bytes: a push past `maxQueue` values or `bytes.max` bytes (each value's `bytes.of`)
 * ends the subscription with the producer's overflow error instead of growing memory. `return()` (the subscriber
 * leaving, or its connection closing) runs `onClose` once.
 */
export class Channel<T> implements AsyncIterableIterator<T> {
  private readonly queue: T[] = [];
  private queuedBytes = 0;
  private wake: (() => void) | null = null;
  private error: Error | null = null;
  private done = false;

  constructor(
    private readonly maxQueue: number,
    private readonly overflow: () => Error,
    private readonly onClose: () => void,
    private readonly bytes?: { max: number; of: (value: T) => number },
  ) {}

  /** Bytes waiting for the subscriber (0 without a byte bound). */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  get closed(): boolean {
    return this.done;
  }

  /** Closed, or failed (overflowed): nothing pushed now reaches the subscriber, so producers may stop. */
  get ended(): boolean {
    return this.done || this.error !== null;
  }

  /** Queues a value; false when the channel is closed, failed, or full (then it fails with `overflow()`). */
  push(value: T): boolean {
    if (this.done || this.error) return false;
    const size = this.bytes?.of(value) ?? 0;
    if (this.queue.length >= this.maxQueue || (this.bytes && this.queuedBytes + size > this.bytes.max)) {
      this.fail(this.overflow());
      return false;
    }
    this.queue.push(value);
    this.queuedBytes += size;
    this.wake?.();
    return true;
  }

  /** Ends the subscription with `error` once the values already queued are read. */
  fail(error: Error): void {
    this.error ??= error;
    this.wake?.();
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.onClose();
    this.wake?.();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      if (this.queue.length > 0) {
        const value = this.queue.shift()!;
        if (this.bytes) this.queuedBytes -= this.bytes.of(value);
        return { value, done: false };
      }
      if (this.error) {
        const error = this.error;
        this.close();
        throw error;
      }
      if (this.done) return { value: undefined, done: true };
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
  }

  async return(): Promise<IteratorResult<T>> {
    this.close();
    return { value: undefined, done: true };
  }

  async throw(error?: unknown): Promise<IteratorResult<T>> {
    this.close();
    throw error;
  }
}
