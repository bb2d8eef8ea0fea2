/** The relayer's Prometheus metrics: counters never asked to decrease (prom-client throws, and the listener with it). */
import { describe, expect, it } from "vitest";
import type { TransitionEvent } from "../src/recovery/coordinator.js";
import { createRelayerMetrics } from "../src/recovery/metrics.js";
import type { RecoveryStore } from "../src/recovery/store.js";
import { metricConventionViolations } from "./helpers/metric-conventions.js";

// A stand-in store: only the gauge of states reads it (on collect), and this test is about the counters.
const store = { countsByState: async () => new Map() } as unknown as RecoveryStore;
const taken = (expectedProfit: bigint) => ({ from: "taking", to: "taken", recovery: { expectedProfit, createdAt: new Date() } }) as unknown as TransitionEvent;

describe("relayer metrics", () => {
  it("counts a take planned at a loss as expected loss, not as a negative profit", async () => {
    const metrics = createRelayerMetrics(store);
    metrics.onTransition(taken(3n * 10n ** 18n));
    expect(() => metrics.onTransition(taken(-2n * 10n ** 18n))).not.toThrow();
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^salvage_expected_profit_usd_total 3$/m);
    expect(text).toMatch(/^salvage_expected_loss_usd_total 2$/m);
    expect(text).toMatch(/^salvage_recovery_transitions_total\{from="taking",to="taken"\} 2$/m);
  });

  it("follow Prometheus naming: salvage_ prefix, _total on counters only, base units, no per-account labels", async () => {
    const metrics = createRelayerMetrics(store, () => ({ source: "feed" }), undefined, () => [40102]);
    metrics.onTransition(taken(1n));
    metrics.onPacket("delivered");
    metrics.onRedelivery("delivered");
    const text = await metrics.registry.metrics();
    expect(text).toContain("# TYPE salvage_relayer_redeliveries_total counter");
    expect(metricConventionViolations(text)).toEqual([]);
    // The check itself catches each kind of violation.
    expect(metricConventionViolations("# TYPE latency_ms gauge\n# TYPE salvage_x counter\n# TYPE salvage_y_total gauge\nsalvage_z{account=\"0x1\"} 1\n")).toEqual([
      "latency_ms: not salvage_ and snake_case",
      "latency_ms: not in base units",
      "salvage_x: a counter must end in _total",
      "salvage_y_total: a gauge must not end in _total",
      "salvage_z: per-account label",
    ]);
  });
});
