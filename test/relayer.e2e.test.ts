/**
 * The relayer as a library (createRelayer, PGlite) against a crashed devnet: it recovers every account
 * the hub considers liquidatable, exactly once per take, and touches no healthy account.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { DEVNET_KEYS, devnetAccounts } from "../src/devnet/accounts.js";
import { type Relayer, createRelayer } from "../src/relayer/relayer.js";
import type { TransitionEvent } from "../src/relayer/coordinator.js";
import { type CrashScenario, crashScenario, liquidatableNow, onchainLiquidations, receiverBalance } from "./helpers/scenario.js";

let s: CrashScenario;
let relayer: Relayer;
const transitions: TransitionEvent[] = [];

beforeAll(async () => {
  s = await crashScenario({ accounts: 60, seed: 11 });
  relayer = await createRelayer({
    manifest: s.net.deployment.manifest,
    keys: { taker: DEVNET_KEYS.liquidator, verifier: DEVNET_KEYS.relayer },
    policy: { minProfitUsd: "0" },
    pollIntervalMs: 200,
  });
  relayer.on("transition", (e) => transitions.push(e));
}, 300_000);

afterAll(async () => {
  await relayer?.close();
  await s?.net.stop();
});

it("recovers every liquidatable account after the crash and touches no healthy one", async () => {
  const liquidatable = new Set(s.crash.liquidatable.map((a) => a.toLowerCase()));
  expect(liquidatable.size).toBe(15);
  relayer.start();
  const deadline = Date.now() + 180_000;
  for (;;) {
    const open = (await relayer.store.list()).filter((r) => !["seized", "abandoned", "skipped"].includes(r.state));
    if (open.length === 0 && (await liquidatableNow(s)).length === 0) break;
    if (Date.now() > deadline) throw new Error(`not recovered in time: ${open.length} open recoveries`);
    await new Promise((r) => setTimeout(r, 250));
  }
  await relayer.stop();

  const { takes, kicks, seizures } = await onchainLiquidations(s);
  // Only accounts the crash made liquidatable were kicked or taken.
  for (const e of [...takes, ...kicks]) expect(liquidatable.has(e.args.account!.toLowerCase())).toBe(true);
  expect(new Set(takes.map((t) => t.args.account!.toLowerCase()))).toEqual(liquidatable);

  // Exactly once: one seized recovery per take, one seizure per take, paid to the receiver.
  const recoveries = await relayer.store.list();
  const seized = recoveries.filter((r) => r.state === "seized");
  expect(seized.map((r) => r.takeId).sort()).toEqual(takes.map((t) => t.args.takeId!).sort());
  expect(seizures.map((e) => e.args.takeId).sort()).toEqual(takes.map((t) => BigInt(t.args.takeId!)).sort());
  for (const e of seizures) expect(e.args.receiver).toBe(devnetAccounts.liquidator.address);
  const expected = new Map<string, bigint>();
  for (const t of takes) {
    const key = `${t.args.collateralEid}:${t.args.collateralAssetId}`;
    expected.set(key, (expected.get(key) ?? 0n) + t.args.seizeAmount!);
  }
  for (const [key, amount] of expected) {
    const [eid, asset] = key.split(":").map(Number);
    expect(await receiverBalance(s, eid!, asset!, devnetAccounts.liquidator.address)).toBe(amount);
  }
  // Every transition went forward through the machine; recoveries that found nothing to do say why.
  for (const r of recoveries.filter((x) => x.state !== "seized")) expect(r.reason).toBeTruthy();
  expect(new Set(transitions.map((t) => `${t.from}>${t.to}`))).toContain("taking>taken");
}, 240_000);
