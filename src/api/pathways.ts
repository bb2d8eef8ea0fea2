/**
 * LayerZero pathways as the index sees them: per (source eid → destination eid), the protocol's packets in
 * flight (sent, not yet delivered), the oldest one's age, delivery time p50/p99 over the last WINDOW delivered
 * packets, lzReceive failures (LzReceiveAlert), and whether the pathway is stalled. Served by the salvage
 * GraphQL (`pathways`), GET /pathways and GET /salvage/metrics.
 *
 * Ages are counted on the destination chain's clock: its indexed block's timestamp (the latest moment the index
 * knows the packet was not delivered there) minus the source block's timestamp. A pathway is stalled when its
 * oldest packet in flight is older than a bound drawn from its own history (src/layerzero/stall.ts: 3 × its p99
 * delivery time within [60 s, 1,800 s], 1,800 s before 20 deliveries; SALVAGE_PATHWAY_STALL_FACTOR,
 * SALVAGE_PATHWAY_STALL_MIN_SECONDS and SALVAGE_PATHWAY_STALL_MAX_SECONDS set them), or when its nonce is blocked:
 * a packet is verified but EndpointV2 cannot execute it because an earlier nonce of its path is not verified, and
 * that earlier packet is older than the rule's minSeconds (verification a moment out of order is no stall).
 *
 * Read in one snapshot (`atOneBlock`) with every chain's checkpoint; the rows come from the packet table, whose
 * status column has an index, and at most WINDOW latencies per pathway.
 */
import { packet } from "ponder:schema";
import { and, count, min, ne, sql, sum } from "ponder";
import { loadIndexerManifest } from "../indexer/manifest.js";
import { DELIVERY_WINDOW, ascending, deliveryWindow } from "../indexer/pathway-history.js";
import { type OpenPacket, type StallReason, blockedNonce, nearestRank, stallBound, stallReason, stallRule } from "../layerzero/stall.js";
import { type IndexedBlock, atOneBlock, blockJson, reader } from "./snapshot.js";

/** Delivered packets per pathway the percentiles are taken over (the newest). */
export const WINDOW = DELIVERY_WINDOW;

export interface Pathway {
  srcEid: number;
  dstEid: number;
  /** The destination chain's indexed block: the clock of `oldestAgeSeconds`. */
  asOf: IndexedBlock | null;
  /** Packets sent and not delivered. */
  inFlight: number;
  /** Destination clock minus the oldest in-flight packet's source block timestamp; null with nothing in flight. */
  oldestAgeSeconds: bigint | null;
  /** Send → delivery (seconds) over the last WINDOW delivered packets, nearest rank; null before any. */
  p50Seconds: bigint | null;
  p99Seconds: bigint | null;
  /** Deliveries the percentiles are over. */
  samples: number;
  /** LzReceiveAlerts of the packets in flight and of those delivered packets. */
  failures: number;
  /** Age beyond which a packet in flight stalls the pathway. */
  stallBoundSeconds: bigint;
  /**
   * The lowest nonce not verified while a later nonce of its path is verified (EndpointV2 executes a nonce only
   * once every earlier one is verified), and how many verified packets wait behind it; null and 0 otherwise.
   */
  blockedNonce: bigint | null;
  blockedPackets: number;
  stalled: boolean;
  /** Why it is stalled: "nonce blocked" (takes precedence) or "oldest in flight past the bound"; null when not. */
  stalledReason: StallReason | null;
}

export async function pathways(): Promise<Pathway[]> {
  return atOneBlock(async (snapshot) => {
    const r = stallRule();
    const chainOfEid = new Map(loadIndexerManifest().manifest.chains.map((c) => [c.eid, c.chainId] as const));
    const clockOf = (eid: number) => snapshot.chains.find((b) => b.chainId === chainOfEid.get(eid));
    const open = ne(packet.status, "delivered");
    const [all, inFlight, unverifiedAhead] = await Promise.all([
      reader().select({ srcEid: packet.srcEid, dstEid: packet.dstEid }).from(packet).groupBy(packet.srcEid, packet.dstEid),
      reader()
        .select({ srcEid: packet.srcEid, dstEid: packet.dstEid, n: count(), oldest: min(packet.sentAt), failures: sum(packet.failures) })
        .from(packet)
        .where(open)
        .groupBy(packet.srcEid, packet.dstEid),
      // Packets of the paths that have a verified packet in flight: the only ones a blocked nonce can be among.
      reader()
        .select({ srcEid: packet.srcEid, dstEid: packet.dstEid, sender: packet.sender, receiver: packet.receiver, nonce: packet.nonce, status: packet.status, sentAt: packet.sentAt })
        .from(packet)
        .where(
          and(
            open,
            sql`(${packet.srcEid}, ${packet.sender}, ${packet.dstEid}, ${packet.receiver}) IN (SELECT ${packet.srcEid}, ${packet.sender}, ${packet.dstEid}, ${packet.receiver} FROM ${packet} WHERE ${packet.status} = 'verified')`,
          ),
        ),
    ]);
    const openOf = new Map(inFlight.map((f) => [`${f.srcEid}:${f.dstEid}`, f]));
    const pendingOf = new Map<string, OpenPacket[]>();
    for (const p of unverifiedAhead) pendingOf.set(`${p.srcEid}:${p.dstEid}`, [...(pendingOf.get(`${p.srcEid}:${p.dstEid}`) ?? []), p]);
    const out = await Promise.all(
      all.map(async ({ srcEid, dstEid }): Promise<Pathway> => {
        const w = deliveryWindow(srcEid, dstEid);
        const recent = await reader()
          .select({ latency: packet.latencySeconds, failures: packet.failures })
          .from(packet)
          .where(w.where)
          .orderBy(...w.orderBy)
          .limit(w.limit);
        const latencies = ascending(recent.map((x) => x.latency!));
        const f = openOf.get(`${srcEid}:${dstEid}`);
        const asOf = clockOf(dstEid) ?? null;
        const oldest = f?.oldest ?? null;
        const oldestAgeSeconds = oldest === null || !asOf ? null : asOf.timestamp > oldest ? asOf.timestamp - oldest : 0n;
        const p99 = nearestRank(latencies, 0.99);
        const bound = stallBound(p99, latencies.length, r);
        const blocked = blockedNonce(pendingOf.get(`${srcEid}:${dstEid}`) ?? []);
        const blockedAge = blocked?.sentAt == null || !asOf ? null : asOf.timestamp - blocked.sentAt;
        const stalledReason = await stallReason({ oldestAge: oldestAgeSeconds, blockedAge, bound: () => bound }, r);
        return {
          srcEid,
          dstEid,
          asOf,
          inFlight: Number(f?.n ?? 0),
          oldestAgeSeconds,
          p50Seconds: nearestRank(latencies, 0.5),
          p99Seconds: p99,
          samples: latencies.length,
          failures: Number(f?.failures ?? 0) + recent.reduce((s, x) => s + x.failures, 0),
          stallBoundSeconds: bound,
          blockedNonce: blocked?.nonce ?? null,
          blockedPackets: blocked?.behind ?? 0,
          stalled: stalledReason !== null,
          stalledReason,
        };
      }),
    );
    return out.sort((a, b) => a.srcEid - b.srcEid || a.dstEid - b.dstEid);
  });
}

/** The JSON of GraphQL and REST: bigints as decimal strings. */
export function pathwayJson(p: Pathway) {
  const str = (v: bigint | null) => (v === null ? null : v.toString());
  return {
    ...p,
    asOf: blockJson(p.asOf),
    oldestAgeSeconds: str(p.oldestAgeSeconds),
    p50Seconds: str(p.p50Seconds),
    p99Seconds: str(p.p99Seconds),
    stallBoundSeconds: p.stallBoundSeconds.toString(),
    blockedNonce: str(p.blockedNonce),
  };
}
