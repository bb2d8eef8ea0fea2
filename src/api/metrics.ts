/**
 * salvage's own Prometheus metrics for the API process, served at GET /salvage/metrics (Ponder keeps its
 * registry to itself and serves it at /metrics; scrape both). Feed, subscription and webhook modules
 * register their metrics here.
 */
import { Counter, Registry } from "prom-client";

export const salvageRegistry = new Registry();

/**
 * `read` at most once a second: every metric's collect() of one scrape shares the read (a failed read is not
 * kept, the next scrape reads again).
 */
export function onePerScrape<T>(read: () => Promise<T>): () => Promise<T> {
  let cached: { at: number; value: Promise<T> } | undefined;
  return () => {
    if (!cached || Date.now() - cached.at > 1_000) {
      const value = read();
      cached = { at: Date.now(), value };
      value.catch(() => {
        if (cached?.value === value) cached = undefined;
      });
    }
    return cached.value;
  };
}

export const feedEventsEmitted = new Counter({
  name: "salvage_feed_events_total",
  help: "Opportunity feed events sent to subscribers, by kind (each counted once, whatever the number of subscribers)",
  labelNames: ["kind"],
  registers: [salvageRegistry],
});
