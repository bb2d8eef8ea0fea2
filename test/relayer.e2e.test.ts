/**
 * The relayer as a library (createRelayer, PGlite) against a crashed devnet: it recovers every account
 * the hub considers liquidatable, exactly once per take, and touches no healthy account.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { DEVNET_KEYS, devnetAccounts } from "../src/devnet/accounts.js";
import { type Relayer, createRelayer } from "../src/recovery/relayer.js";
import type { TransitionEvent } from "../src/recovery/coordinator.js";
import { type CrashScenario, crashScenario, expectRecoveredExactlyOnce, waitUntilRecovered, PROTOCOL_KEEPER_MIN_PROFIT } from "./helpers/scenario.js";

let s: CrashScenario;
let relayer: Relayer;
const transitions: TransitionEvent[] = [];

beforeAll(async () => {
  s = await crashScenario({ accounts: 60, seed: 11 });
  relayer = await createRelayer({
    manifest: s.net.deployment.manifest,
    database: { memory: true },
    keys: { taker: DEVNET_KEYS.liquidator, verifier: DEVNET_KEYS.relayer },
    policy: { minProfitUsd: PROTOCOL_KEEPER_MIN_PROFIT },
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
  await waitUntilRecovered(s, () => relayer.store.list());
  await relayer.stop();

  await expectRecoveredExactlyOnce(s, await relayer.store.list(), devnetAccounts.liquidator.address);
  expect(new Set(transitions.map((t) => `${t.from}>${t.to}`))).toContain("taking>taken");
}, 240_000);
