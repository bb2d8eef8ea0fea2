/**
 * The cascade price path (src/devnet/cascade.ts): the same seed replays the same answers block for block, another
 * seed does not; the phases, the crash factor, the drift and the second leg are what the parameters say, in exact
 * bigint arithmetic. On anvil, the devnet's simulator applies each step in one hub block and the feeds then hold
 * exactly the step's answers at that block (how the devnet and a benchmark drive it).
 */
import { afterAll, describe, expect, it } from "vitest";
import { BPS, type CascadeParams, cascadeLength, cascadePath, checkCascadeParams } from "../src/devnet/cascade.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { Rng } from "../src/devnet/rng.js";
import { WAD } from "../src/health/wad.js";
import { type TestNetwork, startTestNetwork } from "./helpers/network.js";

const START = new Map([
  [10, 3_000_00000000n], // WETH, 8 feed decimals
  [11, 60_000_00000000n], // WBTC
  [12, 15_00000000n], // LINK
]);
const PARAMS: CascadeParams = { declineBps: 150, blocks: 12, noiseBps: 80, secondLeg: { after: 3, crashBps: 1_200, blocks: 5 } };
const FACTOR = 720_000_000_000_000_000n; // x0.72

const answersOf = (path: ReturnType<typeof cascadePath>) => path.map((s) => [...s.answers]);

describe("cascadePath", () => {
  it("replays exactly from its seed, and another seed gives another path", () => {
    const a = cascadePath({ seed: 7, params: PARAMS, start: START, crashFactorWad: FACTOR });
    const b = cascadePath({ seed: 7, params: PARAMS, start: new Map([...START].reverse()), crashFactorWad: FACTOR });
    expect(answersOf(b)).toEqual(answersOf(a));
    expect(b.map((s) => s.phase)).toEqual(a.map((s) => s.phase));
    for (const step of a) for (const v of step.answers.values()) expect(typeof v).toBe("bigint");

    const c = cascadePath({ seed: 8, params: PARAMS, start: START, crashFactorWad: FACTOR });
    expect(c).toHaveLength(a.length);
    // The crash is the same (no noise), every noisy step after it differs somewhere.
    expect([...c[0]!.answers]).toEqual([...a[0]!.answers]);
    expect(answersOf(c).slice(1)).not.toEqual(answersOf(a).slice(1));
    const differing = a.slice(1).filter((s, i) => [...s.answers].some(([id, v]) => c[i + 1]!.answers.get(id) !== v)).length;
    expect(differing).toBe(a.length - 1);
  });

  it("is a crash, the decline, a pause, a second drop and a second decline, one step a block", () => {
    const path = cascadePath({ seed: 3, params: PARAMS, start: START, crashFactorWad: FACTOR });
    expect(path).toHaveLength(cascadeLength(PARAMS));
    expect(path.map((s) => s.phase)).toEqual([
      "crash", ...Array(12).fill("decline"), ...Array(3).fill("pause"), "second-crash", ...Array(5).fill("second-decline"),
    ]);
    expect(path.map((s) => s.index)).toEqual(path.map((_, i) => i));
    const bps = BigInt(BPS);
    for (const [id, start] of START) expect(path[0]!.answers.get(id)).toBe((start * FACTOR) / WAD);
    for (let i = 1; i < path.length; i++) {
      const step = path[i]!;
      for (const [id, prev] of path[i - 1]!.answers) {
        const next = step.answers.get(id)!;
        if (step.phase === "second-crash") {
          expect(next).toBe((prev * (bps - 1_200n)) / bps);
          continue;
        }
        // next = prev * (BPS - drift + noise) / BPS, noise within ± noiseBps: bounds in exact integers.
        const drift = step.phase === "pause" ? 0n : 150n;
        expect(next).toBeGreaterThanOrEqual((prev * (bps - drift - 80n)) / bps);
        expect(next).toBeLessThanOrEqual((prev * (bps - drift + 80n)) / bps);
        if (step.phase !== "pause") expect(next).toBeLessThan(prev); // the drift outweighs the noise
      }
    }
  });

  it("without noise the decline is the exact compound of the drift; without a second leg it ends after the decline", () => {
    const params = { declineBps: 250, blocks: 8, noiseBps: 0 };
    const path = cascadePath({ seed: 1, params, start: START, crashFactorWad: WAD });
    expect(path).toHaveLength(9);
    expect(path.at(-1)!.phase).toBe("decline");
    for (const [id, start] of START) {
      let v = start;
      for (let i = 0; i < 8; i++) v = (v * 9_750n) / 10_000n;
      expect(path.at(-1)!.answers.get(id)).toBe(v);
    }
    expect(answersOf(cascadePath({ seed: 2, params, start: START, crashFactorWad: WAD }))).toEqual(answersOf(path));
  });

  it("keeps every answer positive and refuses parameters that cannot", () => {
    const tiny = cascadePath({ seed: 5, params: { declineBps: 9_000, blocks: 40, noiseBps: 999 }, start: new Map([[10, 7n]]), crashFactorWad: 1n });
    for (const s of tiny) expect(s.answers.get(10)).toBeGreaterThanOrEqual(1n);
    expect(() => checkCascadeParams({ declineBps: 9_000, blocks: 1, noiseBps: 1_000 })).toThrow(/declineBps \+ noiseBps must be below 10000/);
    expect(() => checkCascadeParams({ declineBps: 1.5, blocks: 1, noiseBps: 0 })).toThrow(/declineBps must be an integer/);
    expect(() => checkCascadeParams({ declineBps: 10, blocks: -1, noiseBps: 0 })).toThrow(/blocks must be an integer/);
    expect(() => checkCascadeParams({ declineBps: 10, blocks: 1, noiseBps: 0, secondLeg: { after: 1, crashBps: 10_000, blocks: 1 } })).toThrow(/secondLeg\.crashBps/);
    expect(() => cascadePath({ seed: 1, params: { declineBps: 10, blocks: 1, noiseBps: 0 }, start: START, crashFactorWad: WAD + 1n })).toThrow(/crashFactorWad/);
  });
});

describe("applying a cascade on anvil", () => {
  let net: TestNetwork | undefined;
  afterAll(async () => {
    await net?.stop();
  }, 60_000);

  it("puts each step in one hub block, where the feeds hold exactly the step's answers", async () => {
    net = await startTestNetwork(2);
    const d = net.deployment;
    const sim = new MarketSimulator(d, new Rng(1));
    const all = await d.answers();
    const start = new Map(d.collateralAssets.map((a) => [a.id, all.get(a.id)!] as const));
    const params: CascadeParams = { declineBps: 120, blocks: 4, noiseBps: 60, secondLeg: { after: 1, crashBps: 800, blocks: 2 } };
    const path = cascadePath({ seed: 11, params, start, crashFactorWad: 800_000_000_000_000_000n });
    const blocks: bigint[] = [];
    for (const step of path) blocks.push(await sim.applyAnswers(step.answers));
    // Consecutive blocks: one per step (the chain automines, so the simulator mined each step's updates together).
    expect(blocks.map((b) => b - blocks[0]!)).toEqual(path.map((_, i) => BigInt(i)));
    for (const [i, step] of path.entries()) {
      const onchain = await d.answers(blocks[i]);
      for (const [id, answer] of step.answers) expect(onchain.get(id), `step ${i} asset ${id}`).toBe(answer);
      for (const a of d.debtAssets) expect(onchain.get(a.id)).toBe(all.get(a.id)); // debt prices do not move
    }
    // The chain automines again afterwards.
    expect(await d.hubClients.public.request({ method: "anvil_getAutomine", params: [] } as never)).toBe(true);
  }, 120_000);
});
