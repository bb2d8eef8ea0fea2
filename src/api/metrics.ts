/**
 * salvage's own Prometheus metrics for the API process, served at GET /salvage/metrics (Ponder keeps its
 * registry to itself and serves it at /metrics; scrape both). Feed, subscription and webhook modules
 * register their metrics here.
 */
import { Counter, Registry } from "prom-client";

export const salvageRegistry = new Registry();

export const feedEventsEmitted = new Counter({
  name: "salvage_feed_events_total",
  help: "Opportunity feed events sent to subscribers, by kind (each counted once, whatever the number of subscribers)",
  labelNames: ["kind"],
  registers: [salvageRegistry],
});
