/**
 * An account still liquidatable after a take is recovered again while that take's SEIZE is crossing the
 * bridge: the hub's books moved at the take, so the next take does not wait for the delivery (during a
 * cascade, waiting for a bridge with confirmations is where bad debt grows). Real chains; nothing delivers
 * the packets until the end, so every SEIZE stays in flight throughout.
 */
import type { Address } from "viem";
import { afterAll, beforeAll, expect, it } from "vitest";
import { hubAbi } from "../abis/index.js";
import { type Relayer, createRelayer } from "../src/recovery/relayer.js";
import { type CrashScenario, crashScenario, scenarioRelayerConfig } from "./helpers/scenario.js";

let s: CrashScenario;
let relayer: Relayer;

beforeAll(async () => {
  // A deep crash: three quarters of the book under HF 1, many of them still under 1 after one take at the close factor.
  s = await crashScenario({ accounts: 16, seed: 5, share: 0.75 });
  relayer = await createRelayer(scenarioRelayerConfig(s, { deliver: false }));
}, 300_000);

afterAll(async () => {
  await relayer?.close();
  await s?.net.stop();
});

it("takes again from an account still under HF 1 while its first take's SEIZE is undelivered", async () => {
  const d = s.net.deployment;
  const twice = async () => {
    const taken = (await relayer.store.list()).filter((r) => r.takeId !== undefined && r.state === "taken");
    const perAccount = new Map<string, number>();
    for (const r of taken) perAccount.set(r.account, (perAccount.get(r.account) ?? 0) + 1);
    return [...perAccount].filter(([, n]) => n >= 2).map(([a]) => a as Address);
  };
  const deadline = Date.now() + 120_000;
  while ((await twice()).length === 0) {
    if (Date.now() > deadline) throw new Error(`no account taken twice: ${JSON.stringify((await relayer.store.list()).map((r) => [r.account, r.state]))}`);
    await relayer.tick();
  }
  const accounts = await twice();
  const recoveries = await relayer.store.list();
  for (const account of accounts) {
    const mine = recoveries.filter((r) => r.account === account && r.takeId !== undefined).sort((a, b) => Number(a.takeBlock! - b.takeBlock!));
    // Two takes, each its own recovery and take id, the later one mined after the first, both SEIZEs still in flight.
    expect(new Set(mine.map((r) => String(r.takeId))).size).toBe(mine.length);
    expect(mine.every((r) => r.state === "taken")).toBe(true);
    expect(mine[1]!.takeBlock! >= mine[0]!.takeBlock!).toBe(true);
  }
  // Nothing was delivered: the spokes have paid nothing yet, and no recovery got past `taken`.
  expect(recoveries.some((r) => ["verified", "delivered", "seized"].includes(r.state))).toBe(false);
  // Never two working recoveries for one account (the second opened only once the first's take was mined).
  const working = recoveries.filter((r) => ["detected", "kicking", "kicked", "taking"].includes(r.state));
  expect(new Set(working.map((r) => r.account)).size).toBe(working.length);
  // Every take on the hub is one of the relayer's recoveries, once.
  const takes = await d.hubClients.public.getContractEvents({ address: d.hubAddress, abi: hubAbi, eventName: "Take", fromBlock: 0n });
  expect(takes.map((t) => String(t.args.takeId)).sort()).toEqual(recoveries.filter((r) => r.takeId !== undefined).map((r) => String(r.takeId)).sort());
}, 240_000);
