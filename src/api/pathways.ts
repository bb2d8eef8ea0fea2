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
 * SALVAGE_PATHWAY_STALL_MIN_SECONDS and SALVAGE_PATHWAY_STALL_MAX_SECONDS set them).
 *
 * Read in one snapshot (`atOneBlock`) with every chain's checkpoint; the rows come from the packet table, whose
 * status column has an index, and at most WINDOW latencies per pathway.
 */
import { packet } from "ponder:schema";
import { and, count, desc, eq, min, ne, sql, sum } from "ponder";
import { z } from "zod";
import { loadIndexerManifest } from "../indexer/manifest.js";
import { DEFAULT_STALL_RULE, type StallRule, nearestRank, stallBound } from "../layerzero/stall.js";
import { type IndexedBlock, atOneBlock, blockJson, reader } from "./snapshot.js";

/** Delivered packets per pathway the percentiles are taken over (the newest). */
export const WINDOW = 1_000;

const stallEnv = z.object({
  SALVAGE_PATHWAY_STALL_FACTOR: z.coerce.number().positive().max(1_000).default(DEFAULT_STALL_RULE.factor),
  SALVAGE_PATHWAY_STALL_MIN_SECONDS: z.coerce.number().int().positive().default(DEFAULT_STALL_RULE.minSeconds),
  SALVAGE_PATHWAY_STALL_MAX_SECONDS: z.coerce.number().int().positive().default(DEFAULT_STALL_RULE.maxSeconds),
});

let rule: StallRule | undefined;
/** The stall rule (src/layerzero/stall.ts) with the environment's settings (validated once; a bad value names its variable). */
export function stallRule(): StallRule {
  if (rule) return rule;
  const parsed = stallEnv.safeParse(process.env);
  if (!parsed.success) throw new Error(`pathway stall settings: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const r = { ...DEFAULT_STALL_RULE, factor: parsed.data.SALVAGE_PATHWAY_STALL_FACTOR, minSeconds: parsed.data.SALVAGE_PATHWAY_STALL_MIN_SECONDS, maxSeconds: parsed.data.SALVAGE_PATHWAY_STALL_MAX_SECONDS };
  if (r.minSeconds > r.maxSeconds) throw new Error(`pathway stall settings: SALVAGE_PATHWAY_STALL_MIN_SECONDS (${r.minSeconds}) exceeds SALVAGE_PATHWAY_STALL_MAX_SECONDS (${r.maxSeconds})`);
  return (rule = r);
}

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
  stalled: boolean;
}

export async function pathways(): Promise<Pathway[]> {
  return atOneBlock(async (snapshot) => {
    const r = stallRule();
    const chainOfEid = new Map(loadIndexerManifest().manifest.chains.map((c) => [c.eid, c.chainId] as const));
    const clockOf = (eid: number) => snapshot.chains.find((b) => b.chainId === chainOfEid.get(eid));
    const open = ne(packet.status, "delivered");
    const [all, inFlight] = await Promise.all([
      reader().select({ srcEid: packet.srcEid, dstEid: packet.dstEid }).from(packet).groupBy(packet.srcEid, packet.dstEid),
      reader()
        .select({ srcEid: packet.srcEid, dstEid: packet.dstEid, n: count(), oldest: min(packet.sentAt), failures: sum(packet.failures) })
        .from(packet)
        .where(open)
        .groupBy(packet.srcEid, packet.dstEid),
    ]);
    const openOf = new Map(inFlight.map((f) => [`${f.srcEid}:${f.dstEid}`, f]));
    const out = await Promise.all(
      all.map(async ({ srcEid, dstEid }): Promise<Pathway> => {
        const recent = await reader()
          .select({ latency: packet.latencySeconds, failures: packet.failures })
          .from(packet)
          .where(and(eq(packet.srcEid, srcEid), eq(packet.dstEid, dstEid), eq(packet.status, "delivered"), sql`${packet.latencySeconds} IS NOT NULL`))
          .orderBy(desc(packet.deliveredAt), desc(packet.nonce))
          .limit(WINDOW);
        const latencies = recent.map((x) => x.latency!).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        const f = openOf.get(`${srcEid}:${dstEid}`);
        const asOf = clockOf(dstEid) ?? null;
        const oldest = f?.oldest ?? null;
        const oldestAgeSeconds = oldest === null || !asOf ? null : asOf.timestamp > oldest ? asOf.timestamp - oldest : 0n;
        const p99 = nearestRank(latencies, 0.99);
        const bound = stallBound(p99, latencies.length, r);
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
          stalled: oldestAgeSeconds !== null && oldestAgeSeconds > bound,
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
  };
}
