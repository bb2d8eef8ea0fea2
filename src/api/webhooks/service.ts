/**
 * The process's webhook service: the store (opened once) and the dispatcher, wired to the feed hub.
 * `startWebhooks()` (called from src/api/index.ts) starts it in the background when SALVAGE_ADMIN_TOKEN is
 * set, and is a no-op otherwise; it never blocks the module load and never throws after it returns.
 */
import { mkdirSync } from "node:fs";
import { type FeedEvent, feedEventJson, feedHub, matchesFilter, parseFeedFilter } from "../feed.js";
import { latestEventId } from "../queries.js";
import { openDatabase } from "../../recovery/db.js";
import { sleep } from "../../util/concurrency.js";
import { type WebhookConfig, WEBHOOK_SCHEMA, adminToken, webhookConfig } from "./config.js";
import { DestinationPolicy } from "./destination.js";
import { type Log, WebhookDispatcher, jsonLog } from "./dispatcher.js";
import { webhookMetrics } from "./metrics.js";
import { WEBHOOK_MIGRATION, WebhookStore } from "./store.js";

export interface WebhookService {
  config: WebhookConfig;
  store: WebhookStore;
  /** Where deliveries may go: checked at registration and on every attempt. */
  destinations: DestinationPolicy;
  dispatcher: WebhookDispatcher<FeedEvent>;
  close(): Promise<void>;
}

export const log: Log = jsonLog();

// On globalThis so that a reloaded module (ponder dev) closes the previous instance before opening its own.
const KEY = Symbol.for("salvage.webhooks.service");
const holder = globalThis as unknown as { [KEY]?: Promise<WebhookService> };

async function open(config: WebhookConfig): Promise<WebhookService> {
  if (config.pgliteDir) mkdirSync(config.pgliteDir, { recursive: true });
  const db = await openDatabase({ databaseUrl: config.databaseUrl, pgliteDir: config.pgliteDir, schema: WEBHOOK_SCHEMA, migration: WEBHOOK_MIGRATION });
  const store = new WebhookStore(db);
  const metrics = webhookMetrics();
  metrics.setPendingSource(() => store.pendingCount());
  const destinations = new DestinationPolicy(config.destinations);
  const dispatcher = new WebhookDispatcher<FeedEvent>({
    store,
    config,
    metrics,
    log,
    destinations,
    subscribe: (since) => feedHub().subscribe({ since, transport: "webhook" }),
    startAfter: async () => {
      const after = (await store.activeHooks()).map((h) => h.afterEventId).sort()[0];
      return after ?? (await latestEventId()) ?? "0";
    },
    body: (e) => JSON.stringify(feedEventJson(e)),
    compileFilter: (raw) => {
      const filter = parseFeedFilter(raw, "filter");
      return (e) => matchesFilter(e, filter);
    },
  });
  dispatcher.start();
  let closed = false;
  return {
    config,
    store,
    destinations,
    dispatcher,
    async close() {
      if (closed) return;
      closed = true;
      await dispatcher.stop();
      metrics.setPendingSource(undefined);
      await db.close().catch(() => undefined);
    },
  };
}

/** The running service; rejects while webhooks are disabled or the store cannot be opened (tried again on the next call). */
export function webhookService(): Promise<WebhookService> {
  if (!adminToken()) return Promise.reject(new Error("webhooks are disabled (SALVAGE_ADMIN_TOKEN is not set)"));
  const current = holder[KEY];
  if (current) return current;
  const config = webhookConfig();
  const started = open(config);
  holder[KEY] = started;
  started.catch(() => {
    if (holder[KEY] === started) delete holder[KEY];
  });
  return started;
}

let started = false;

/**
 * Starts webhooks in the background: registers the metrics, opens the store (retrying until it can), starts
 * the dispatcher, and closes it all on SIGTERM/SIGINT. A no-op (metrics aside) without SALVAGE_ADMIN_TOKEN.
 * Throws only on a malformed SALVAGE_WEBHOOK_* setting, so a misconfiguration fails the start loudly.
 */
export function startWebhooks(): void {
  webhookMetrics();
  if (started) return;
  started = true;
  if (!adminToken()) {
    log("info", "webhooks disabled: set SALVAGE_ADMIN_TOKEN to enable /salvage/webhooks and deliveries");
    return;
  }
  webhookConfig(); // validate now
  const previous = holder[KEY];
  delete holder[KEY];
  void (async () => {
    if (previous) await previous.then((s) => s.close()).catch(() => undefined);
    for (let backoff = 1_000; ; backoff = Math.min(backoff * 2, 60_000)) {
      try {
        await webhookService();
        return;
      } catch (error) {
        log("error", "webhook store cannot be opened; retrying", { error: error instanceof Error ? error.message : String(error), retryInMs: backoff });
        await sleep(backoff);
      }
    }
  })();
  const shutdown = () => {
    const service = holder[KEY];
    if (service) void service.then((s) => s.close()).catch(() => undefined);
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
}
