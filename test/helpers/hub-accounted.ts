/**
 * A crashed hub-accounted book for relayer tests (the second protocol, contracts/hub-accounted/), and the
 * exactly-once and conservation checks its recoveries must pass.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Address, getAddress, parseEventLogs } from "viem";
import { serializeManifest } from "../../src/deployment/manifest.js";
import { expect } from "vitest";
import { accountedExecutorAbi, accountedHubAbi, accountedSpokeAbi, testTokenAbi } from "../../abis/index.js";
import { devnetAccounts } from "../../src/devnet/accounts.js";
import { Rng } from "../../src/devnet/rng.js";
import { accountedHealthFactor, fundLiquidator, seedAccountedBorrowers } from "../../src/devnet/seed-hub-accounted.js";
import { type CrashReport, MarketSimulator } from "../../src/devnet/simulate.js";
import { WAD } from "../../src/health/wad.js";
import { type AccountedContracts, accountedContracts } from "../../src/protocols/hub-accounted/contracts.js";
import type { Recovery } from "../../src/recovery/store.js";
import { mapLimit } from "../../src/util/concurrency.js";
import { type TestNetwork, startTestNetwork } from "./network.js";

export interface AccountedScenario {
  net: TestNetwork;
  c: AccountedContracts;
  borrowers: Address[];
  crash: CrashReport;
  /** The manifest written for `salvage relay` processes. */
  manifestPath: string;
}

export async function accountedCrashScenario(o: { accounts: number; seed: number; share?: number; stateDir?: string }): Promise<AccountedScenario> {
  const net = await startTestNetwork(2, o.stateDir, { hubAccounted: true });
  try {
    const d = net.deployment;
    const c = accountedContracts(d);
    const rng = new Rng(o.seed);
    const borrowers = await seedAccountedBorrowers(d, c, net.deliverer, { count: o.accounts, seed: o.seed, rng });
    net.network.manifest.accounts = borrowers;
    await fundLiquidator(d, devnetAccounts.liquidator.address);
    const sim = new MarketSimulator(d, rng, 150, (a, b) => accountedHealthFactor(d, c, a, b));
    const crash = await sim.crash(borrowers, o.share ?? 0.25);
    const manifestPath = join(mkdtempSync(join(tmpdir(), "salvage-accounted-")), "manifest.json");
    writeFileSync(manifestPath, serializeManifest(d.manifest));
    return { net, c, borrowers, crash, manifestPath };
  } catch (error) {
    await net.stop();
    throw error;
  }
}

export async function accountedLiquidatableNow(s: AccountedScenario): Promise<Address[]> {
  const hfs = await mapLimit(s.borrowers, 16, async (a) => [a, await accountedHealthFactor(s.net.deployment, s.c, a)] as const);
  return hfs.filter(([, hf]) => hf < WAD).map(([a]) => a);
}

/**
 * Only accounts the crash made liquidatable were liquidated, every one of them was, none is liquidatable now;
 * each liquidation is one seized recovery; with `withdrawn`, each has one WITHDRAW paid to the receiver on its
 * spoke (and the receiver holds exactly what was seized), else the executor's hub position holds it. Every token
 * is where the books say: each spoke pool holds exactly the hub's collateral of every account on it, and the
 * liquidator paid exactly the liquidations' repayments.
 */
export async function expectAccountedRecoveredOnce(s: AccountedScenario, recoveries: Recovery[], o: { receiver: Address; executor: Address; withdrawn: boolean; liquidatorPaid: Map<number, bigint> }): Promise<void> {
  const d = s.net.deployment;
  const hub = d.hubClients.public;
  const liquidatable = new Set(s.crash.liquidatable.map((a) => a.toLowerCase()));
  const liquidations = await hub.getContractEvents({ address: s.c.hub, abi: accountedHubAbi, eventName: "Liquidated", fromBlock: 0n });
  for (const e of liquidations) expect(liquidatable.has(e.args.account!.toLowerCase()), `healthy account ${e.args.account} liquidated`).toBe(true);
  expect(new Set(liquidations.map((e) => e.args.account!.toLowerCase()))).toEqual(liquidatable);
  expect(await accountedLiquidatableNow(s)).toEqual([]);
  for (const e of liquidations) expect(e.args.liquidator!.toLowerCase()).toBe(o.executor.toLowerCase());

  const ids = liquidations.map((e) => e.args.liquidationId!).sort();
  const seized = recoveries.filter((r) => r.state === "seized");
  expect(seized.map((r) => r.takeId).sort()).toEqual(ids);
  for (const r of recoveries.filter((x) => x.state !== "seized")) expect(r.reason, `recovery ${r.id} ${r.state}`).toBeTruthy();

  // What each liquidation seized, by spoke and asset; and what the liquidator paid, by debt asset.
  const seizedBy = new Map<string, bigint>();
  const repaid = new Map<number, bigint>();
  for (const e of liquidations) {
    const key = `${e.args.eid}:${e.args.collateralAssetId}`;
    seizedBy.set(key, (seizedBy.get(key) ?? 0n) + e.args.seizeAmount!);
    repaid.set(e.args.debtAssetId!, (repaid.get(e.args.debtAssetId!) ?? 0n) + e.args.repayAmount!);
  }
  expect(new Map([...o.liquidatorPaid].filter(([, v]) => v !== 0n))).toEqual(repaid);

  const withdrawals = await hub.getContractEvents({ address: s.c.hub, abi: accountedHubAbi, eventName: "WithdrawSent", fromBlock: 0n });
  if (!o.withdrawn) expect(withdrawals).toEqual([]);
  else {
    // One WITHDRAW per liquidation, in the same transaction, of what it seized, to the receiver.
    expect(withdrawals).toHaveLength(liquidations.length);
    for (const l of liquidations) {
      const receipt = await hub.getTransactionReceipt({ hash: l.transactionHash });
      const executed = parseEventLogs({ abi: accountedExecutorAbi, logs: receipt.logs, eventName: "Executed" }).find((e) => e.args.account.toLowerCase() === l.args.account!.toLowerCase())!;
      const w = withdrawals.find((x) => x.args.withdrawalId === executed.args.withdrawalId)!;
      expect({ eid: w.args.eid, assetId: w.args.assetId, amount: w.args.amount, receiver: w.args.receiver, account: w.args.account }).toEqual({
        eid: l.args.eid, assetId: l.args.collateralAssetId, amount: l.args.seizeAmount, receiver: getAddress(o.receiver), account: getAddress(o.executor),
      });
    }
    const paid = (await Promise.all(d.spokes.map((sp) => d.clients(sp).public.getContractEvents({ address: s.c.spoke(sp.eid), abi: accountedSpokeAbi, eventName: "Withdrawn", fromBlock: 0n })))).flat();
    expect(paid.map((e) => e.args.withdrawalId).sort()).toEqual(withdrawals.map((w) => w.args.withdrawalId).sort());
    for (const [key, amount] of seizedBy) {
      const [eid, assetId] = key.split(":").map(Number) as [number, number];
      const spoke = d.spokes.find((c) => c.eid === eid)!;
      expect(await d.clients(spoke).public.readContract({ address: spoke.tokens[String(assetId)]!, abi: testTokenAbi, functionName: "balanceOf", args: [o.receiver] }), `receiver ${key}`).toBe(amount);
    }
  }
  // Every pool holds exactly the hub's collateral of every account on its spoke (borrowers and the executor).
  const holders = [...s.borrowers, o.executor];
  for (const spoke of d.spokes) {
    for (const asset of d.collateralAssets) {
      const held = await d.clients(spoke).public.readContract({ address: spoke.tokens[String(asset.id)]!, abi: testTokenAbi, functionName: "balanceOf", args: [s.c.spoke(spoke.eid)] });
      const books = (await mapLimit(holders, 16, (a) => hub.readContract({ address: s.c.hub, abi: accountedHubAbi, functionName: "collateral", args: [a, spoke.eid, asset.id] }))).reduce((x, y) => x + y, 0n);
      expect(held, `pool of asset ${asset.id} on eid ${spoke.eid}`).toBe(books);
      if (!o.withdrawn) expect(await hub.readContract({ address: s.c.hub, abi: accountedHubAbi, functionName: "collateral", args: [o.executor, spoke.eid, asset.id] })).toBe(seizedBy.get(`${spoke.eid}:${asset.id}`) ?? 0n);
    }
  }
}
