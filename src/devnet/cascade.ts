/**
 * The cascade price path: a crash, then a decline of every collateral price block after block with seeded
 * noise, and optionally a second leg (a pause, a second one-block drop, a second decline).
 *
 * Pure: `cascadePath` reads no chain. The same (seed, params, start answers, crash factor) gives the same path,
 * step for step, so the devnet and a benchmark can apply step i themselves, one hub block per step. Answers are
 * the feeds' bigint answers, moved in integer basis points (no floating point anywhere in the path):
 *
 *   crash           answer · crashFactorWad / 1e18                  (the factor the devnet derives from --crash-share)
 *   decline         answer · (10,000 − declineBps + noise) / 10,000  noise uniform in [−noiseBps, +noiseBps]
 *   pause           answer · (10,000 + noise) / 10,000               (second leg only)
 *   second-crash    answer · (10,000 − secondLeg.crashBps) / 10,000
 *   second-decline  as decline, secondLeg.blocks times
 *
 * Every answer is floored at 1 (a feed answer must stay positive). Noise is drawn per asset per block, assets in
 * ascending id order, from an Rng of the seed salted for the cascade (independent of the book's draws).
 */
import { WAD } from "../health/wad.js";
import { Rng } from "./rng.js";

export const BPS = 10_000;

export interface CascadeSecondLeg {
  /** Blocks of noise only between the end of the first decline and the second drop. */
  after: number;
  /** The second drop, in basis points, in one block. */
  crashBps: number;
  /** Decline blocks after the second drop. */
  blocks: number;
}

export interface CascadeParams {
  /** Drift down of every collateral price per decline block, in basis points. */
  declineBps: number;
  /** Decline blocks after the crash. */
  blocks: number;
  /** Noise per asset per block, uniform in ± this many basis points. */
  noiseBps: number;
  secondLeg?: CascadeSecondLeg;
}

export type CascadePhase = "crash" | "decline" | "pause" | "second-crash" | "second-decline";

export interface CascadeStep {
  /** 0 is the crash; each step is one hub block. */
  index: number;
  phase: CascadePhase;
  /** Every asset's feed answer after this step, by asset id. */
  answers: ReadonlyMap<number, bigint>;
}

export interface CascadeInput {
  seed: number;
  params: CascadeParams;
  /** Feed answers before the crash, by asset id (the collateral assets: debt prices do not move). */
  start: ReadonlyMap<number, bigint>;
  /** Factor of the crash step (WAD, at most 1e18). */
  crashFactorWad: bigint;
}

/** Checks what the types cannot: integer basis points in range, a drift that keeps every factor positive. */
export function checkCascadeParams(p: CascadeParams): void {
  const int = (name: string, v: number, min: number, max: number) => {
    if (!Number.isSafeInteger(v) || v < min || v > max) throw new RangeError(`cascade ${name} must be an integer in [${min}, ${max}], got ${v}`);
  };
  int("declineBps", p.declineBps, 0, BPS - 1);
  int("blocks", p.blocks, 0, 100_000);
  int("noiseBps", p.noiseBps, 0, BPS - 1);
  if (p.declineBps + p.noiseBps >= BPS) throw new RangeError(`cascade declineBps + noiseBps must be below ${BPS}, got ${p.declineBps + p.noiseBps}`);
  if (p.secondLeg) {
    int("secondLeg.after", p.secondLeg.after, 0, 100_000);
    int("secondLeg.crashBps", p.secondLeg.crashBps, 0, BPS - 1);
    int("secondLeg.blocks", p.secondLeg.blocks, 0, 100_000);
  }
}

/** The number of steps (hub blocks) of a cascade, the crash included. */
export function cascadeLength(p: CascadeParams): number {
  return 1 + p.blocks + (p.secondLeg ? p.secondLeg.after + 1 + p.secondLeg.blocks : 0);
}

/** The cascade's own randomness: the seed salted, so its draws do not follow the book's. */
export function cascadeRng(seed: number): Rng {
  return new Rng(Number(BigInt.asIntN(32, BigInt(Math.trunc(seed)) ^ 0x63_61_73_63n)));
}

/** Every step of the cascade, in order: the answers after step i are `path[i].answers`. */
export function cascadePath(input: CascadeInput): CascadeStep[] {
  const { params, crashFactorWad } = input;
  checkCascadeParams(params);
  if (crashFactorWad <= 0n || crashFactorWad > WAD) throw new RangeError(`cascade crashFactorWad must be in (0, 1e18], got ${crashFactorWad}`);
  const rng = cascadeRng(input.seed);
  const ids = [...input.start.keys()].sort((a, b) => a - b);
  const bps = BigInt(BPS);
  const floor = (v: bigint) => (v > 0n ? v : 1n);
  const steps: CascadeStep[] = [];
  let current = new Map(ids.map((id) => [id, input.start.get(id)!] as const));
  const push = (phase: CascadePhase, next: (answer: bigint) => bigint) => {
    current = new Map(ids.map((id) => [id, floor(next(current.get(id)!))] as const));
    steps.push({ index: steps.length, phase, answers: current });
  };
  const drift = (downBps: number) => (answer: bigint) => (answer * (bps - BigInt(downBps) + BigInt(rng.int(-params.noiseBps, params.noiseBps)))) / bps;

  push("crash", (a) => (a * crashFactorWad) / WAD);
  for (let i = 0; i < params.blocks; i++) push("decline", drift(params.declineBps));
  const leg = params.secondLeg;
  if (leg) {
    for (let i = 0; i < leg.after; i++) push("pause", drift(0));
    push("second-crash", (a) => (a * (bps - BigInt(leg.crashBps))) / bps);
    for (let i = 0; i < leg.blocks; i++) push("second-decline", drift(params.declineBps));
  }
  return steps;
}
