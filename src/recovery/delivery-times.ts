/**
 * How long each pathway takes to deliver: per collateral chain (eid), the seconds from a take's SEIZE being
 * sent on the hub (its block's timestamp) to the collateral being paid on the spoke (the Seized block's
 * timestamp), over a window of the latest deliveries. The relayer prices a take's risk in flight with the
 * window's median instead of a fixed guess, once the window holds enough of them.
 */
import { nearestRank } from "../layerzero/stall.js";

export interface DeliveryStats {
  samples: number;
  p50: bigint;
  p99: bigint;
}

export interface DeliveryTimesOptions {
  /** Deliveries kept per eid (default 256). */
  window?: number;
  /** Deliveries an eid needs before its median replaces the configured guess (default 5). */
  minSamples?: number;
}

export class DeliveryTimes {
  private readonly byEid = new Map<number, bigint[]>();
  private readonly window: number;
  private readonly minSamples: number;

  constructor(options: DeliveryTimesOptions = {}) {
    this.window = options.window ?? 256;
    this.minSamples = options.minSamples ?? 5;
  }

  /** One delivery to `eid`: sent and paid at these block timestamps (unix seconds). A clock that ran backwards counts 0. */
  record(eid: number, sentAt: bigint, deliveredAt: bigint): void {
    const list = this.byEid.get(eid) ?? [];
    list.push(deliveredAt > sentAt ? deliveredAt - sentAt : 0n);
    if (list.length > this.window) list.splice(0, list.length - this.window);
    this.byEid.set(eid, list);
  }

  stats(eid: number): DeliveryStats | undefined {
    const list = this.byEid.get(eid);
    if (!list?.length) return undefined;
    const sorted = [...list].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return { samples: sorted.length, p50: nearestRank(sorted, 0.5)!, p99: nearestRank(sorted, 0.99)! };
  }

  /** Every eid with a delivery in the window. */
  eids(): number[] {
    return [...this.byEid.keys()];
  }

  /** The seconds a take's price risk is counted over, per eid: the window's median, or `fallback` until it has `minSamples`. */
  expectedSeconds(eids: Iterable<number>, fallback: bigint): Record<number, bigint> {
    const out: Record<number, bigint> = {};
    for (const eid of eids) {
      const s = this.stats(eid);
      out[eid] = s && s.samples >= this.minSamples ? s.p50 : fallback;
    }
    return out;
  }
}
