/**
 * Webhook metrics, in salvage's registry (GET /salvage/metrics):
 *
 *   salvage_webhook_deliveries_total{outcome}   attempts by outcome: delivered (2xx), retry (failed, will retry), failed (last attempt failed)
 *   salvage_webhook_failures_total              deliveries marked failed after their last attempt
 *   salvage_webhook_pending                     deliveries waiting to be sent or retried (all processes; read at scrape time)
 */
import { Counter, Gauge, type Registry } from "prom-client";
import { salvageRegistry } from "../metrics.js";

export type DeliveryOutcome = "delivered" | "retry" | "failed";

export interface WebhookMetrics {
  deliveries: Counter<"outcome">;
  failures: Counter;
  pending: Gauge;
  /** Where the pending gauge reads from (set once the store is open). */
  setPendingSource(read: (() => Promise<number>) | undefined): void;
}

let metrics: WebhookMetrics | undefined;

/** The webhook metrics, registered once per process (idempotent). */
export function webhookMetrics(registry: Registry = salvageRegistry): WebhookMetrics {
  if (metrics) return metrics;
  let readPending: (() => Promise<number>) | undefined;
  const existing = <T>(name: string) => registry.getSingleMetric(name) as T | undefined;
  const deliveries =
    existing<Counter<"outcome">>("salvage_webhook_deliveries_total") ??
    new Counter({
      name: "salvage_webhook_deliveries_total",
      help: "Webhook delivery attempts by outcome: delivered (2xx), retry (failed, will be retried), failed (the last attempt failed)",
      labelNames: ["outcome"],
      registers: [registry],
    });
  for (const outcome of ["delivered", "retry", "failed"]) deliveries.inc({ outcome }, 0);
  const failures =
    existing<Counter>("salvage_webhook_failures_total") ??
    new Counter({ name: "salvage_webhook_failures_total", help: "Webhook deliveries marked failed after their last attempt", registers: [registry] });
  const pending =
    existing<Gauge>("salvage_webhook_pending") ??
    new Gauge({
      name: "salvage_webhook_pending",
      help: "Webhook deliveries waiting to be sent or retried (every process on this database)",
      registers: [registry],
      async collect() {
        if (!readPending) return;
        try {
          this.set(await readPending());
        } catch {
          // The store is unreachable: keep the last value rather than fail the scrape.
        }
      },
    });
  metrics = { deliveries, failures, pending, setPendingSource: (read) => (readPending = read) };
  return metrics;
}
