/**
 * salvage's own Prometheus metrics for the API process, served at GET /salvage/metrics (Ponder keeps its
 * registry to itself and serves it at /metrics; scrape both). Feed, subscription and webhook modules
 * register their metrics here.
 */
import { Registry } from "prom-client";

export const salvageRegistry = new Registry();
