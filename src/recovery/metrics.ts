/** Prometheus metrics of one relayer (prom-client), exposed by the CLI at /metrics. */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { formatUnits } from "viem";
import type { TransitionEvent } from "./coordinator.js";
import type { DeliveryTimes } from "./delivery-times.js";
import { RECOVERY_STATES } from "./states.js";
import type { RecoveryStore } from "./store.js";

export function createRelayerMetrics(store: RecoveryStore, detection?: () => { source: "feed" | "scanner" }, deliveryTimes?: DeliveryTimes, stalledPathways?: () => number[]) {
  const registry = new Registry();
  new Gauge({
    name: "salvage_recoveries",
    help: "Recoveries by state (all workers sharing the database)",
    labelNames: ["state"],
    registers: [registry],
    async collect() {
      const counts = await store.countsByState();
      for (const state of RECOVERY_STATES) this.set({ state }, counts.get(state) ?? 0);
    },
  });
  const transitions = new Counter({ name: "salvage_recovery_transitions_total", help: "Transitions made by this worker", labelNames: ["from", "to"], registers: [registry] });
  // A counter never decreases: takes planned at a loss (a negative --min-profit-usd allows them) count apart.
  const profit = new Counter({ name: "salvage_expected_profit_usd_total", help: "Expected profit of the profitable takes made by this worker (USD, display only)", registers: [registry] });
  const loss = new Counter({ name: "salvage_expected_loss_usd_total", help: "Expected loss of the takes made at a loss by this worker (USD, display only)", registers: [registry] });
  const latency = new Histogram({
    name: "salvage_recovery_seconds",
    help: "Seconds from detection to collateral seized on the spoke",
    buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
    registers: [registry],
  });
  const alerts = new Counter({
    name: "salvage_delivery_alerts_total",
    help: "Takes whose SEIZE lzReceive reverted on the spoke (LayerZero LzReceiveAlert); the recovery is `stalled` until a retry delivers it",
    registers: [registry],
  });
  if (detection) {
    new Gauge({
      name: "salvage_detection_source",
      help: "1 for the detection source in use: the indexer's feed, or the hub scanner (fallback)",
      labelNames: ["source"],
      registers: [registry],
      collect() {
        const now = detection().source;
        for (const source of ["feed", "scanner"]) this.set({ source }, source === now ? 1 : 0);
      },
    });
  }
  if (deliveryTimes) {
    new Gauge({
      name: "salvage_delivery_seconds",
      help: "Seconds from a take's SEIZE sent on the hub to the collateral paid on the spoke (block timestamps), over the latest deliveries per collateral chain; the relayer prices a take's risk in flight with the median",
      labelNames: ["eid", "quantile"],
      registers: [registry],
      collect() {
        for (const eid of deliveryTimes.eids()) {
          const s = deliveryTimes.stats(eid)!;
          this.set({ eid: String(eid), quantile: "0.5" }, Number(s.p50));
          this.set({ eid: String(eid), quantile: "0.99" }, Number(s.p99));
        }
      },
    });
  }
  if (stalledPathways) {
    new Gauge({
      name: "salvage_relayer_pathway_stalled",
      help: "1 for a collateral chain whose pathway is stalled (its oldest SEIZE in flight past the bound): the relayer takes nothing across it",
      labelNames: ["eid"],
      registers: [registry],
      collect() {
        this.reset();
        for (const eid of stalledPathways()) this.set({ eid: String(eid) }, 1);
      },
    });
  }
  const packets = new Counter({ name: "salvage_packets_total", help: "LayerZero packet events seen by the deliverer", labelNames: ["status"], registers: [registry] });
  const redeliveries = new Counter({
    name: "salvage_relayer_redeliveries_total",
    help: "The guardian's tries at delivering again a SEIZE whose lzReceive failed, by outcome (delivered, reverted: sent and reverted, refused: not sent, the estimate reverted or exceeded the gas budget, exhausted: attempts spent, failed: an RPC error)",
    labelNames: ["outcome"],
    registers: [registry],
  });
  return {
    registry,
    onTransition(e: TransitionEvent) {
      transitions.inc({ from: e.from, to: e.to });
      const expected = e.to === "taken" ? e.recovery.expectedProfit : undefined;
      if (expected !== undefined && expected > 0n) profit.inc(Number(formatUnits(expected, 18)));
      if (expected !== undefined && expected < 0n) loss.inc(Number(formatUnits(-expected, 18)));
      if (e.to === "stalled" && e.from !== "stalled") alerts.inc();
      if (e.to === "seized") latency.observe((Date.now() - e.recovery.createdAt.getTime()) / 1000);
    },
    onPacket(status: string) {
      packets.inc({ status });
    },
    onRedelivery(outcome: string) {
      redeliveries.inc({ outcome });
    },
  };
}
