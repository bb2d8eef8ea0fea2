/**
 * LayerZero pathways in Prometheus (GET /salvage/metrics), read from the index at scrape time (src/api/pathways.ts,
 * one read shared by every metric of a scrape). Labelled by `src_eid` and `dst_eid`; seconds as base unit.
 *
 *   salvage_pathway_packets_in_flight{src_eid,dst_eid}           packets sent and not delivered
 *   salvage_pathway_oldest_in_flight_seconds{src_eid,dst_eid}    age of the oldest (0 with none)
 *   salvage_pathway_delivery_seconds{src_eid,dst_eid,quantile}   send → delivery, quantile 0.5 and 0.99 (last 1,000)
 *   salvage_pathway_lz_receive_failures{src_eid,dst_eid}         LzReceiveAlerts of those packets
 *   salvage_pathway_blocked_packets{src_eid,dst_eid}             verified packets waiting behind an unverified nonce
 *   salvage_pathway_stalled{src_eid,dst_eid}                     1 when stalled (oldest packet past the bound, or nonce blocked)
 */
import { Gauge } from "prom-client";
import { onePerScrape, salvageRegistry } from "./metrics.js";
import { type Pathway, pathways } from "./pathways.js";

const current = onePerScrape(pathways);

const labels = (p: Pathway) => ({ src_eid: String(p.srcEid), dst_eid: String(p.dstEid) });

function pathwayGauge(name: string, help: string, value: (p: Pathway) => number) {
  return new Gauge({
    name, help, labelNames: ["src_eid", "dst_eid"], registers: [salvageRegistry],
    async collect() {
      const list = await current();
      this.reset();
      for (const p of list) this.set(labels(p), value(p));
    },
  });
}

pathwayGauge("salvage_pathway_packets_in_flight", "LayerZero packets sent on the pathway and not yet delivered", (p) => p.inFlight);
pathwayGauge("salvage_pathway_oldest_in_flight_seconds", "Age of the pathway's oldest packet in flight (0 with none)", (p) => Number(p.oldestAgeSeconds ?? 0n));
pathwayGauge("salvage_pathway_lz_receive_failures", "LzReceiveAlerts of the pathway's packets in flight and of its last 1,000 deliveries", (p) => p.failures);
pathwayGauge("salvage_pathway_blocked_packets", "Verified packets of the pathway that EndpointV2 cannot execute yet: an earlier nonce of their path is not verified", (p) => p.blockedPackets);
pathwayGauge("salvage_pathway_stalled", "1 when the pathway is stalled: its oldest packet in flight is past its stall bound, or a blocked nonce is older than the stall rule's minimum", (p) => (p.stalled ? 1 : 0));
new Gauge({
  name: "salvage_pathway_delivery_seconds", help: "Send to delivery over the pathway's last 1,000 delivered packets (nearest rank)",
  labelNames: ["src_eid", "dst_eid", "quantile"], registers: [salvageRegistry],
  async collect() {
    const list = await current();
    this.reset();
    for (const p of list) {
      if (p.p50Seconds !== null) this.set({ ...labels(p), quantile: "0.5" }, Number(p.p50Seconds));
      if (p.p99Seconds !== null) this.set({ ...labels(p), quantile: "0.99" }, Number(p.p99Seconds));
    }
  },
});
