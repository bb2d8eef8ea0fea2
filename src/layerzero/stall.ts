/**
 * When a LayerZero pathway is stalled: its oldest packet in flight is older than a bound drawn from the pathway's
 * own delivery history, `factor` × its p99 delivery time within [minSeconds, maxSeconds], or maxSeconds while it
 * has fewer than `minSamples` deliveries; or its nonce is blocked (a later nonce verified, an earlier one not) for
 * longer than minSeconds. One rule for the index's `pathways` (src/api/pathways.ts), the feed's `stalled` /
 * `cleared` events (src/indexer/pathway.ts) and the relayer, which takes nothing more across a stalled pathway
 * (src/recovery/coordinator.ts).
 */
import { z } from "zod";

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

const stallEnv = z.object({
  SALVAGE_PATHWAY_STALL_FACTOR: z.coerce.number().positive().max(1_000).default(DEFAULT_STALL_RULE.factor),
  SALVAGE_PATHWAY_STALL_MIN_SECONDS: z.coerce.number().int().positive().default(DEFAULT_STALL_RULE.minSeconds),
  SALVAGE_PATHWAY_STALL_MAX_SECONDS: z.coerce.number().int().positive().default(DEFAULT_STALL_RULE.maxSeconds),
});

let envRule: StallRule | undefined;
/** The stall rule with the environment's settings (validated once; a bad value names its variable). */
export function stallRule(): StallRule {
  if (envRule) return envRule;
  const parsed = stallEnv.safeParse(process.env);
  if (!parsed.success) throw new Error(`pathway stall settings: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const r = { ...DEFAULT_STALL_RULE, factor: parsed.data.SALVAGE_PATHWAY_STALL_FACTOR, minSeconds: parsed.data.SALVAGE_PATHWAY_STALL_MIN_SECONDS, maxSeconds: parsed.data.SALVAGE_PATHWAY_STALL_MAX_SECONDS };
  if (r.minSeconds > r.maxSeconds) throw new Error(`pathway stall settings: SALVAGE_PATHWAY_STALL_MIN_SECONDS (${r.minSeconds}) exceeds SALVAGE_PATHWAY_STALL_MAX_SECONDS (${r.maxSeconds})`);
  return (envRule = r);
}

/** A packet of a pathway in flight (sent, not delivered), as the index holds it. */
export interface OpenPacket {
  sender: string;
  receiver: string;
  nonce: bigint;
  /** "sent" (not verified) or "verified". */
  status: string;
  sentAt: bigint | null;
}

/**
 * The blocking nonce of a pathway's packets in flight, if any: the lowest nonce not verified while a later nonce
 * of its path (sender, receiver) is verified (EndpointV2 executes a nonce only once every earlier one is verified),
 * with how many verified packets wait behind it; of several paths, the one with most behind.
 */
export function blockedNonce(open: readonly OpenPacket[]): { nonce: bigint; behind: number; sentAt: bigint | null } | null {
  const paths = new Map<string, OpenPacket[]>();
  for (const p of open) paths.set(`${p.sender}:${p.receiver}`, [...(paths.get(`${p.sender}:${p.receiver}`) ?? []), p]);
  let worst: { nonce: bigint; behind: number; sentAt: bigint | null } | null = null;
  for (const list of paths.values()) {
    const unverified = list.filter((p) => p.status === "sent").sort((a, b) => (a.nonce < b.nonce ? -1 : 1))[0];
    if (!unverified) continue;
    const behind = list.filter((p) => p.status === "verified" && p.nonce > unverified.nonce).length;
    if (behind > 0 && (!worst || behind > worst.behind)) worst = { nonce: unverified.nonce, behind, sentAt: unverified.sentAt };
  }
  return worst;
}

export const STALL_REASONS = ["nonce blocked", "oldest in flight past the bound"] as const;
export type StallReason = (typeof STALL_REASONS)[number];

/** Seconds from `sentAt` to the destination's clock `now` (0 when the clock is behind the stamp). */
export const ageAt = (now: bigint, sentAt: bigint): bigint => (now > sentAt ? now - sentAt : 0n);

/**
 * Why a pathway is stalled at its destination's clock, or null: "nonce blocked" (it takes precedence) once the
 * blocking packet is older than the rule's minSeconds (verification a moment out of order is no stall), else
 * "oldest in flight past the bound". `bound` is asked for only when the oldest packet is older than minSeconds,
 * the least any bound is, so a pathway that delivers on time costs no read of its history.
 */
export async function stallReason(
  input: { oldestAge: bigint | null; blockedAge: bigint | null; bound: () => bigint | Promise<bigint> },
  rule: StallRule,
): Promise<StallReason | null> {
  const min = BigInt(rule.minSeconds);
  if (input.blockedAge !== null && input.blockedAge > min) return "nonce blocked";
  if (input.oldestAge === null || input.oldestAge <= min) return null;
  return input.oldestAge > (await input.bound()) ? "oldest in flight past the bound" : null;
}
