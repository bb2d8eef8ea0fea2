/** The relayer's Prometheus metrics: counters never asked to decrease (prom-client throws, and the listener with it). */
import { describe, expect, it } from "vitest";
import type { TransitionEvent } from "../src/recovery/coordinator.js";
import { createRelayerMetrics } from "../src/recovery/metrics.js";
import type { RecoveryStore } from "../src/recovery/store.js";

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
});
