/**
 * The relayer on the second protocol (contracts/hub-accounted/: collateral accounted on the hub, liquidation in one
 * hub transaction at fixed terms, collateral recovered by a LayerZero withdrawal), as a library over PGlite, against
 * a crashed devnet: every account the crash made liquidatable is liquidated, no healthy one is touched, every
 * liquidation's collateral is withdrawn to the receiver on its spoke in the same transaction, and every token is
 * where the books say. Then interest alone (time, no price move) pushes more accounts under HF 1: the relayer's
 * scanner finds them with no event and recovers them too. Last, a relayer whose policy keeps the collateral on the
 * hub: its liquidations send no message, the executor's hub position holds exactly what they seized, and its
 * recoveries settle at the liquidation.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { accountedHubAbi, testTokenAbi } from "../abis/index.js";
import { Rng } from "../src/devnet/rng.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
import { hubAccountedProtocol } from "../src/protocols/hub-accounted/index.js";
import { type Relayer, createRelayer } from "../src/recovery/relayer.js";
import { type AccountedScenario, accountedCrashScenario, accountedLiquidatableNow, expectAccountedRecoveredOnce } from "./helpers/hub-accounted.js";
import { scenarioRelayerConfig, waitUntilSettled } from "./helpers/scenario.js";

let s: AccountedScenario;
let relayer: Relayer;
const liquidator = devnetAccounts.liquidator.address;

beforeAll(async () => {
  s = await accountedCrashScenario({ accounts: 60, seed: 11 });
  relayer = await createRelayer(scenarioRelayerConfig(s, { pollIntervalMs: 200 }), { protocol: (d) => hubAccountedProtocol(d) });
}, 300_000);

afterAll(async () => {
  await relayer?.close();
  await s?.net.stop();
});

async function debtBalances(): Promise<Map<number, bigint>> {
  const d = s.net.deployment;
  return new Map(await Promise.all(d.debtAssets.map(async (a) => [a.id, await d.hubClients.public.readContract({ address: d.hub.tokens[String(a.id)]!, abi: testTokenAbi, functionName: "balanceOf", args: [liquidator] })] as const)));
}

const waitUntilDone = (r: Relayer = relayer) => waitUntilSettled(() => r.store.list(), () => accountedLiquidatableNow(s));

it("recovers every account the crash made liquidatable, withdraws each one's collateral to the receiver, touches no healthy one, and conserves every token", async () => {
  expect(s.crash.liquidatable.length).toBe(15);
  const before = await debtBalances();
  relayer.start();
  await waitUntilDone();
  await relayer.stop();
  const after = await debtBalances();
  const paid = new Map([...before].map(([id, v]) => [id, v - after.get(id)!] as const));
  await expectAccountedRecoveredOnce(s, await relayer.store.list(), { receiver: liquidator, executor: relayer.executor, withdrawn: true, liquidatorPaid: paid });
}, 240_000);

it("finds and recovers accounts that interest alone put under HF 1 (no price moved, no event)", async () => {
  const healthy = await accountedLiquidatableNow(s);
  expect(healthy).toEqual([]);
  // Two years of interest at 6-8 % a year: borrowers seeded near HF 1.08 go under.
  const hub = s.net.deployment.hubClients.public;
  await hub.request({ method: "evm_increaseTime", params: [2 * 365 * 86_400] } as never);
  // Prices must stay usable past their heartbeat: the feeds are pushed again at the same answers.
  const answers = await s.net.deployment.answers();
  await new MarketSimulator(s.net.deployment, new Rng(1)).applyAnswers(new Map([...answers].map(([id, a]) => [id, a + 1n])));
  await new MarketSimulator(s.net.deployment, new Rng(1)).applyAnswers(answers);
  const underwater = await accountedLiquidatableNow(s);
  expect(underwater.length).toBeGreaterThan(0);
  // Some of them the crash never touched: interest alone put them under.
  const crashed = new Set(s.crash.liquidatable.map((a) => a.toLowerCase()));
  expect(underwater.filter((a) => !crashed.has(a.toLowerCase())).length).toBeGreaterThan(0);
  const seizedBefore = (await relayer.store.list()).filter((r) => r.state === "seized").length;
  relayer.start();
  await waitUntilDone();
  await relayer.stop();
  const recovered = (await relayer.store.list()).filter((r) => r.state === "seized");
  expect(recovered.length).toBeGreaterThanOrEqual(seizedBefore + underwater.length);
  const accounts = new Set(recovered.slice(seizedBefore).map((r) => r.account.toLowerCase()));
  for (const a of underwater) expect(accounts.has(a.toLowerCase()), `${a} recovered`).toBe(true);
}, 240_000);

it("keeps the seized collateral on the hub by policy: no withdrawal, the executor's hub position holds it, the recovery settles at the liquidation", async () => {
  const d = s.net.deployment;
  const hub = d.hubClients.public;
  // Another year of interest at unchanged prices puts more accounts under HF 1.
  await hub.request({ method: "evm_increaseTime", params: [365 * 86_400] } as never);
  const sim = new MarketSimulator(d, new Rng(2));
  const answers = await d.answers();
  await sim.applyAnswers(new Map([...answers].map(([id, a]) => [id, a + 1n])));
  await sim.applyAnswers(answers);
  const underwater = await accountedLiquidatableNow(s);
  expect(underwater.length).toBeGreaterThan(0);
  const from = (await hub.getBlockNumber()) + 1n;
  const keeper = await createRelayer(scenarioRelayerConfig(s, { pollIntervalMs: 200 }), { protocol: (dep) => hubAccountedProtocol(dep, { collateral: "keep" }) });
  try {
    const held = async () => {
      const out = new Map<string, bigint>();
      for (const sp of d.spokes) for (const a of d.collateralAssets) out.set(`${sp.eid}:${a.id}`, await hub.readContract({ address: s.c.hub, abi: accountedHubAbi, functionName: "collateral", args: [keeper.executor, sp.eid, a.id] }));
      return out;
    };
    const before = await held();
    keeper.start();
    await waitUntilDone(keeper);
    await keeper.stop();
    const liquidations = await hub.getContractEvents({ address: s.c.hub, abi: accountedHubAbi, eventName: "Liquidated", fromBlock: from });
    expect(liquidations.length).toBeGreaterThanOrEqual(underwater.length);
    expect(await hub.getContractEvents({ address: s.c.hub, abi: accountedHubAbi, eventName: "WithdrawSent", fromBlock: from })).toEqual([]);
    const after = await held();
    const seized = new Map<string, bigint>();
    for (const e of liquidations) seized.set(`${e.args.eid}:${e.args.collateralAssetId}`, (seized.get(`${e.args.eid}:${e.args.collateralAssetId}`) ?? 0n) + e.args.seizeAmount!);
    for (const [key, amount] of after) expect(amount - before.get(key)!, key).toBe(seized.get(key) ?? 0n);
    const settled = (await keeper.store.list()).filter((r) => r.state === "seized");
    expect(settled.map((r) => r.takeId).sort()).toEqual(liquidations.map((e) => e.args.liquidationId).sort());
    for (const r of settled) expect(r.guid, `recovery ${r.id}`).toBeUndefined();
  } finally {
    await keeper.close();
  }
}, 240_000);
