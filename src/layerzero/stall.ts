/**
 * When a LayerZero pathway is stalled: its oldest packet in flight is older than a bound drawn from the pathway's
 * own delivery history, `factor` × its p99 delivery time within [minSeconds, maxSeconds], or maxSeconds while it
 * has fewer than `minSamples` deliveries. One rule for the index's `pathways` (src/api/pathways.ts) and the
 * relayer, which takes nothing more across a stalled pathway (src/recovery/coordinator.ts).
 */
export interface StallRule {
  factor: number;
  minSeconds: number;
  maxSeconds: number;
  /** Deliveries a pathway needs before its own p99 sets the bound. */
  minSamples: number;
}

export const DEFAULT_STALL_RULE: StallRule = { factor: 3, minSeconds: 60, maxSeconds: 1_800, minSamples: 20 };

/** Nearest-rank percentile (q in (0, 1]) of ascending `sorted`; null when empty. */
export function nearestRank(sorted: readonly bigint[], q: number): bigint | null {
  if (sorted.length === 0) return null;
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

/** The age (seconds) past which a packet in flight stalls its pathway. */
export function stallBound(p99: bigint | null, samples: number, rule: StallRule): bigint {
  const max = BigInt(rule.maxSeconds);
  if (p99 === null || samples < rule.minSamples) return max;
  // The factor in thousandths, so the bound stays whole seconds (rounded up).
  const scaled = (p99 * BigInt(Math.round(rule.factor * 1_000)) + 999n) / 1_000n;
  const min = BigInt(rule.minSeconds);
  return scaled < min ? min : scaled > max ? max : scaled;
}
