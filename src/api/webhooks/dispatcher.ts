/**
 * The webhook dispatcher: two loops in the API process, neither on the indexer's path.
 *
 * - Feed → deliveries. It subscribes to the opportunity feed (the process's one feed hub, which reads the
 *   index read-only) from the stored cursor, and for each batch of events inserts one delivery per matching
 *   active hook and moves the cursor, in one transaction. After a restart it resumes from the cursor, so
 *   events logged while the API was down are delivered too (at least once). A hook gets the events logged
 *   after it was registered.
 * - Deliveries → HTTP. A sender claims due deliveries (FOR UPDATE SKIP LOCKED, under a lease, so two processes
 *   on one PostgreSQL never send the same attempt) and POSTs them with bounded concurrency (at most half of
 *   it to one hook, so a dead receiver cannot starve the others) and a per-request timeout, signed as
 *   Standard Webhooks (webhook-id = the event id, webhook-timestamp, webhook-signature with the current
 *   secret and, during a rotation's overlap, the previous one). The destination policy checks the address
 *   before any connection. 2xx: delivered. 410 Gone: failed, and the hook is disabled. Anything else (status,
 *   refused destination, network error, timeout): retried after the configured schedule's wait (plus up to
 *   10 % jitter), failed after the last attempt (or after a resend's one attempt). Every attempt is recorded.
 *
 * Secrets are used to sign and never logged; bodies are not logged either.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { signWebhook } from "../../client/webhook.js";
import { sleep } from "../../util/concurrency.js";
import type { WebhookConfig } from "./config.js";
import { DestinationPolicy, DestinationRefusedError } from "./destination.js";
import { WebhookPoster } from "./http-post.js";
import type { WebhookMetrics } from "./metrics.js";
import type { ActiveHook, AttemptOutcome, ClaimedDelivery, WebhookStore } from "./store.js";

export type Log = (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

/** One JSON line per message on stdout, beside Ponder's own (pino levels). Repeats of a key are muted for 30 s. */
export function jsonLog(): Log {
  const lastAt = new Map<string, number>();
  const levels = { info: 30, warn: 40, error: 50 } as const;
  return (level, msg, fields) => {
    const key = `${level}:${msg}:${String(fields?.error ?? "")}`;
    const now = Date.now();
    if (level !== "info" && (lastAt.get(key) ?? 0) > now - 30_000) return;
    lastAt.set(key, now);
    if (lastAt.size > 1_000) lastAt.clear();
    process.stdout.write(`${JSON.stringify({ level: levels[level], time: now, service: "webhooks", msg, ...fields })}\n`);
  };
}

export interface DispatcherOptions<E extends { id: string }> {
  store: WebhookStore;
  config: WebhookConfig;
  metrics: WebhookMetrics;
  /** The feed after event id `since` ("0": from the start). */
  subscribe(since: string): AsyncIterator<E>;
  /** Where to start when no cursor is stored: the log's newest event id, or "0". */
  startAfter(): Promise<string>;
  /** The delivery body of an event (sent byte for byte as returned). */
  body(e: E): string;
  /** A predicate from a hook's stored filter; throws if the filter is no longer valid. */
  compileFilter(filter: Record<string, unknown>): (e: E) => boolean;
  log?: Log;
  /** Where deliveries may go (default: from config.destinations, with the system's DNS). */
  destinations?: DestinationPolicy;
}

/** salvage's headers beside the Standard Webhooks ones. */
export const SALVAGE_HEADERS = {
  deliveryId: "salvage-delivery-id",
  attempt: "salvage-attempt",
} as const;

/** Retries wait the schedule's delay plus up to this fraction of it (the spec recommends jitter). */
const RETRY_JITTER = 0.1;

const IDLE = Symbol("idle");
const SHUTDOWN = Symbol("shutdown");
const TIMEOUT = Symbol("timeout");
/** Feed events turned into deliveries per transaction, at most. */
const BATCH = 500;

interface InFlight {
  hookId: number;
  controller: AbortController;
  done: Promise<void>;
}

export class WebhookDispatcher<E extends { id: string }> {
  readonly workerId = `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
  private stopped = false;
  private readonly stopping = new AbortController();
  private iterator: AsyncIterator<E> | undefined;
  private readonly inFlight = new Map<string, InFlight>();
  /** Leases to hand back at shutdown (requests aborted before they counted as an attempt). */
  private readonly aborted: string[] = [];
  private wakeSender: (() => void) | null = null;
  private senderWoken = false;
  private loops: Promise<void>[] = [];
  private readonly filters = new Map<number, { json: string; match: ((e: E) => boolean) | null }>();
  private readonly log: Log;
  private readonly poster: WebhookPoster;

  constructor(private readonly options: DispatcherOptions<E>) {
    this.log = options.log ?? jsonLog();
    this.poster = new WebhookPoster(options.destinations ?? new DestinationPolicy(options.config.destinations));
  }

  start(): void {
    if (this.loops.length > 0) return;
    this.loops = [this.feedLoop(), this.senderLoop()];
    this.log("info", "webhook dispatcher started", { worker: this.workerId, concurrency: this.options.config.concurrency });
  }

  /** Stops both loops, aborts requests in flight (their leases are given back, no attempt counted). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopping.abort();
    this.wake();
    const it = this.iterator;
    if (it?.return) await it.return().catch(() => undefined);
    for (const f of this.inFlight.values()) f.controller.abort(SHUTDOWN);
    await Promise.allSettled([...this.loops, ...[...this.inFlight.values()].map((f) => f.done)]);
    this.poster.close();
    await this.options.store.release(this.aborted, this.workerId).catch(() => undefined);
  }

  /** Tells the sender that deliveries may be due (new ones were inserted, or a request finished). */
  wake(): void {
    this.senderWoken = true;
    this.wakeSender?.();
  }

  // ------------------------------------------------------------------ feed → deliveries

  private async feedLoop(): Promise<void> {
    let backoff = 250;
    while (!this.stopped) {
      let it: AsyncIterator<E> | undefined;
      try {
        const cursor = await this.options.store.cursor();
        const since = cursor ?? (await this.options.startAfter());
        it = this.options.subscribe(since || "0");
        this.iterator = it;
        await this.consume(it);
        // The subscription ended without an error (the hub closed it): take it again from the cursor.
        backoff = 250;
        if (!this.stopped) await sleep(backoff, this.stopping.signal);
      } catch (error) {
        if (this.stopped) break;
        this.log("warn", "webhook feed interrupted; resuming from the cursor", { error: message(error) });
        await sleep(backoff, this.stopping.signal);
        backoff = Math.min(backoff * 2, 30_000);
      } finally {
        this.iterator = undefined;
        if (it?.return) await it.return().catch(() => undefined);
      }
    }
  }

  /** Reads the subscription in batches (what is already queued, up to BATCH) and turns each into deliveries. */
  private async consume(it: AsyncIterator<E>): Promise<void> {
    const next = () => {
      const p = it.next();
      p.catch(() => undefined); // a rejection is seen when awaited; never unhandled meanwhile
      return p;
    };
    let pending: Promise<IteratorResult<E>> | null = next();
    while (!this.stopped) {
      const first: IteratorResult<E> = await (pending ?? next());
      pending = null;
      if (first.done) return;
      const batch = [first.value];
      let ended = false;
      while (batch.length < BATCH) {
        const p = next();
        const r = await Promise.race([p, new Promise<typeof IDLE>((resolve) => setImmediate(() => resolve(IDLE)))]);
        if (r === IDLE) {
          pending = p;
          break;
        }
        if (r.done) {
          ended = true;
          break;
        }
        batch.push(r.value);
      }
      if (this.stopped) return;
      await this.enqueue(batch);
      if (ended) return;
    }
  }

  private async enqueue(batch: E[]): Promise<void> {
    const bodies = new Map<string, string>();
    const bodyOf = (e: E) => {
      let b = bodies.get(e.id);
      if (b === undefined) bodies.set(e.id, (b = this.options.body(e)));
      return b;
    };
    const inserted = await this.options.store.enqueue(batch[batch.length - 1]!.id, (hooks) => {
      const rows: { hookId: number; eventId: string; body: string }[] = [];
      for (const h of hooks) {
        const match = this.filterOf(h);
        if (!match) continue;
        for (const e of batch) if (e.id > h.afterEventId && match(e)) rows.push({ hookId: h.id, eventId: e.id, body: bodyOf(e) });
      }
      return rows;
    });
    if (inserted > 0) this.wake();
  }

  private filterOf(h: ActiveHook): ((e: E) => boolean) | null {
    const json = JSON.stringify(h.filter);
    const cached = this.filters.get(h.id);
    if (cached && cached.json === json) return cached.match;
    let match: ((e: E) => boolean) | null = null;
    try {
      match = this.options.compileFilter(h.filter);
    } catch (error) {
      this.log("error", "webhook filter no longer valid; the hook gets nothing until it is re-registered", { hook: h.id, error: message(error) });
    }
    this.filters.set(h.id, { json, match });
    return match;
  }

  // ------------------------------------------------------------------ deliveries → HTTP

  private async senderLoop(): Promise<void> {
    const { store, config } = this.options;
    while (!this.stopped) {
      this.senderWoken = false;
      const free = config.concurrency - this.inFlight.size;
      let wait = config.pollMs;
      try {
        if (free > 0) {
          const claimed = await store.claim(this.workerId, free, config.leaseMs, config.perHookConcurrency, this.inFlightByHook());
          if (this.stopped) {
            this.aborted.push(...claimed.map((d) => d.id));
            break;
          }
          for (const d of claimed) this.launch(d);
          if (claimed.length === free) continue;
          const due = await store.nextDueInMs(this.saturatedHooks());
          if (due !== null) wait = Math.min(wait, Math.max(due, 5));
        }
      } catch (error) {
        if (this.stopped) break;
        this.log("warn", "webhook sender cannot reach its store", { error: message(error) });
      }
      if (!this.senderWoken) await this.idle(wait);
    }
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeSender = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeSender = done;
    });
  }

  private inFlightByHook(): Map<number, number> {
    const counts = new Map<number, number>();
    for (const f of this.inFlight.values()) counts.set(f.hookId, (counts.get(f.hookId) ?? 0) + 1);
    return counts;
  }

  private saturatedHooks(): number[] {
    return [...this.inFlightByHook()].filter(([, n]) => n >= this.options.config.perHookConcurrency).map(([id]) => id);
  }

  private launch(d: ClaimedDelivery): void {
    const controller = new AbortController();
    const done = this.send(d, controller)
      .catch((error) => this.log("error", "webhook attempt not recorded; it will be retried when its lease ends", { delivery: d.id, hook: d.hookId, error: message(error) }))
      .finally(() => {
        this.inFlight.delete(d.id);
        this.wake();
      });
    this.inFlight.set(d.id, { hookId: d.hookId, controller, done });
  }

  /** The wait after failed attempt `attempt` (1-based): the schedule's entry, plus up to 10 % jitter. */
  retryDelayMs(attempt: number): number {
    const schedule = this.options.config.retrySchedule;
    const base = schedule[Math.min(attempt, schedule.length) - 1] ?? 0;
    return Math.round(base * (1 + Math.random() * RETRY_JITTER));
  }

  private async send(d: ClaimedDelivery, controller: AbortController): Promise<void> {
    const { config, metrics, store } = this.options;
    const attempt = d.attempts + 1;
    const startedAt = new Date();
    const t0 = performance.now();
    const timer = setTimeout(() => controller.abort(TIMEOUT), config.timeoutMs);
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      let signed: ReturnType<typeof signWebhook>;
      try {
        // webhook-id is the event id: the same on every retry and resend (the receiver's idempotency key).
        signed = signWebhook({ secret: d.secrets, id: d.eventId, timestamp: Math.floor(Date.now() / 1000), body: d.body });
      } catch (e) {
        throw new CannotSign(`cannot sign: ${message(e)}`);
      }
      const headers = {
        "content-type": "application/json",
        "user-agent": "salvage-webhooks/2",
        ...signed,
        [SALVAGE_HEADERS.deliveryId]: d.id,
        [SALVAGE_HEADERS.attempt]: String(attempt),
      };
      const res = await this.poster.post(d.url, headers, d.body, controller.signal);
      statusCode = res.status;
      if (statusCode < 200 || statusCode > 299) error = `HTTP ${statusCode}${res.statusText ? ` ${res.statusText}` : ""}`;
      if (statusCode === 410) error += ": the receiver asked for no more deliveries; hook disabled";
    } catch (e) {
      if (controller.signal.reason === SHUTDOWN) {
        this.aborted.push(d.id);
        return;
      }
      error = controller.signal.reason === TIMEOUT ? `timeout: no response within ${config.timeoutMs} ms` : networkError(e);
    } finally {
      clearTimeout(timer);
    }
    const durationMs = Math.round(performance.now() - t0);
    const gone = statusCode === 410;
    const lastAttempt = attempt >= (d.attemptLimit ?? config.maxAttempts);
    const status = error === null ? "delivered" : gone || lastAttempt ? "failed" : "pending";
    const outcome: AttemptOutcome = {
      startedAt, durationMs, statusCode, error, status,
      ...(status === "pending" ? { retryInMs: this.retryDelayMs(attempt) } : {}),
      ...(gone ? { disableHook: true } : {}),
    };
    const moved = await store.complete(d, this.workerId, outcome);
    if (gone) this.log("warn", "webhook receiver answered 410 Gone; hook disabled", { hook: d.hookId, delivery: d.id });
    if (!moved) return;
    metrics.deliveries.inc({ outcome: status === "pending" ? "retry" : status });
    if (status === "failed") {
      metrics.failures.inc();
      this.log("warn", "webhook delivery failed", { hook: d.hookId, delivery: d.id, event: d.eventId, attempts: attempt, error });
    }
  }
}

function message(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 500);
}

/** A delivery that could not be signed (a stored secret or event id the signer refuses); nothing was sent. */
class CannotSign extends Error {}

/** What went wrong before a response: a refused destination or a signing failure as is, else the socket's error (ECONNREFUSED, …). */
function networkError(error: unknown): string {
  if (error instanceof DestinationRefusedError || error instanceof CannotSign) return message(error);
  const text = message(error);
  const code = (error as { code?: unknown } | undefined)?.code;
  return `network error: ${typeof code === "string" && !text.includes(code) ? `${code} ` : ""}${text}`.slice(0, 500);
}
