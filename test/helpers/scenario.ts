/** A crashed devnet book for relayer tests: seeded borrowers, a calibrated crash, a funded taker. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Address } from "viem";
import { expect } from "vitest";
import { hubAbi, spokeAbi, testTokenAbi } from "../../abis/index.js";
import { serializeManifest } from "../../src/deployment/manifest.js";
import { DEVNET_KEYS, devnetAccounts } from "../../src/devnet/accounts.js";
import { Rng } from "../../src/devnet/rng.js";
import { seedBorrowers } from "../../src/devnet/seed.js";
import { type CrashReport, MarketSimulator } from "../../src/devnet/simulate.js";
import { mint } from "../../src/protocol/actions.js";
import { WAD } from "../../src/health/wad.js";
import type { RelayerConfigInput } from "../../src/recovery/config.js";
import { isTerminal } from "../../src/recovery/states.js";
import type { Recovery } from "../../src/recovery/store.js";
import { mapLimit } from "../../src/util/concurrency.js";
import { type TestNetwork, startTestNetwork } from "./network.js";

/**
 * The relayer tests run the policy of a protocol's own keeper, which accepts up to $100 of loss per take:
 * with a 50% close factor, repeated takes leave dust positions whose bonus no longer pays the gas, and a
 * profit-seeking keeper rightly leaves those (test/policy.test.ts); the protocol's keeper clears them.
 */
export const PROTOCOL_KEEPER_MIN_PROFIT = "-100";

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export interface CrashScenario {
  net: TestNetwork;
  borrowers: Address[];
  crash: CrashReport;
  manifestPath: string;
}

/**
 * An in-process relayer's config for a scenario: its manifest, the devnet's liquidator and verifier keys, the
 * protocol keeper's minimum profit, state in memory and 100 ms polls; `overrides` on top.
 */
export function scenarioRelayerConfig(s: Pick<CrashScenario, "net">, overrides: Partial<RelayerConfigInput> = {}): RelayerConfigInput {
  return {
    manifest: s.net.deployment.manifest,
    keys: { taker: DEVNET_KEYS.liquidator, verifier: DEVNET_KEYS.relayer },
    policy: { minProfitUsd: PROTOCOL_KEEPER_MIN_PROFIT },
    database: { memory: true },
    pollIntervalMs: 100,
    ...overrides,
  };
}

export async function crashScenario(options: { accounts: number; seed: number; share?: number; stateDir?: string }): Promise<CrashScenario> {
  const net = await startTestNetwork(2, options.stateDir);
  try {
    const rng = new Rng(options.seed);
    const borrowers = await seedBorrowers(net.deployment, net.deliverer, { count: options.accounts, seed: options.seed, rng });
    for (const asset of net.deployment.debtAssets) {
      await mint(net.deployment, "hub", net.deployment.hub.tokens[String(asset.id)]!, devnetAccounts.liquidator.address, 10n ** 30n);
    }
    const crash = await new MarketSimulator(net.deployment, rng).crash(borrowers, options.share ?? 0.25);
    const manifestPath = join(mkdtempSync(join(tmpdir(), "salvage-relay-")), "manifest.json");
    writeFileSync(manifestPath, serializeManifest({ ...net.deployment.manifest, accounts: borrowers }));
    return { net, borrowers, crash, manifestPath };
  } catch (error) {
    await net.stop();
    throw error;
  }
}

export async function liquidatableNow(s: CrashScenario): Promise<Address[]> {
  const hfs = await mapLimit(s.borrowers, 16, async (a) => [a, await s.net.deployment.onchainHealthFactor(a)] as const);
  return hfs.filter(([, hf]) => hf < WAD).map(([a]) => a);
}

/** Every take on the hub and every seizure on the spokes, for exactly-once checks. */
export async function onchainLiquidations(s: CrashScenario) {
  const d = s.net.deployment;
  const takes = await d.hubClients.public.getContractEvents({ address: d.hubAddress, abi: hubAbi, eventName: "Take", fromBlock: 0n });
  const kicks = await d.hubClients.public.getContractEvents({ address: d.hubAddress, abi: hubAbi, eventName: "AuctionKicked", fromBlock: 0n });
  const seizures = (
    await Promise.all(
      d.spokes.map(async (spoke) =>
        (await d.clients(spoke).public.getContractEvents({ address: spoke.contracts.spoke!, abi: spokeAbi, eventName: "Seized", fromBlock: 0n })).map((e) => ({ ...e, eid: spoke.eid })),
      ),
    )
  ).flat();
  return { takes, kicks, seizures };
}

export async function receiverBalance(s: CrashScenario, eid: number, assetId: number, receiver: Address): Promise<bigint> {
  const spoke = s.net.deployment.spokes.find((c) => c.eid === eid)!;
  return s.net.deployment.clients(spoke).public.readContract({ address: spoke.tokens[String(assetId)]!, abi: testTokenAbi, functionName: "balanceOf", args: [receiver] });
}

/**
 * The exactly-once check shared by the relayer tests: only accounts the crash made liquidatable were
 * kicked or taken, every one of them was, none is liquidatable now, every take maps to exactly one seized
 * recovery and one Seized event on its spoke, and the receiver holds exactly what the takes seized.
 */
export async function expectRecoveredExactlyOnce(s: CrashScenario, recoveries: Recovery[], receiver: Address): Promise<void> {
  const liquidatable = new Set(s.crash.liquidatable.map((a) => a.toLowerCase()));
  const { takes, kicks, seizures } = await onchainLiquidations(s);
  for (const e of [...takes, ...kicks]) expect(liquidatable.has(e.args.account!.toLowerCase()), `healthy account ${e.args.account} touched`).toBe(true);
  expect(new Set(takes.map((t) => t.args.account!.toLowerCase()))).toEqual(liquidatable);
  expect(await liquidatableNow(s)).toEqual([]);

  const takeIds = takes.map((t) => t.args.takeId!).sort();
  expect(new Set(takeIds).size).toBe(takeIds.length);
  const seized = recoveries.filter((r) => r.state === "seized");
  expect(seized.map((r) => r.takeId).sort()).toEqual(takeIds);
  // One take per recovery (a batch transaction carries the takes of many recoveries).
  expect(new Set(seized.map((r) => String(r.takeId))).size).toBe(seized.length);
  expect(seizures.map((e) => e.args.takeId).sort()).toEqual(takeIds);
  for (const e of seizures) expect(e.args.receiver).toBe(receiver);

  const expected = new Map<string, bigint>();
  for (const t of takes) {
    const key = `${t.args.collateralEid}:${t.args.collateralAssetId}`;
    expected.set(key, (expected.get(key) ?? 0n) + t.args.seizeAmount!);
  }
  for (const [key, amount] of expected) {
    const [eid, asset] = key.split(":").map(Number);
    expect(await receiverBalance(s, eid!, asset!, receiver)).toBe(amount);
  }
  // No collateral lost or paid twice: every spoke holds exactly what the hub's mirror says for each borrower.
  const d = s.net.deployment;
  await mapLimit(s.borrowers, 8, async (account) => {
    const positions = await d.positions(account);
    for (const p of positions.collateral) {
      const spoke = d.spokes.find((c) => c.eid === p.eid)!;
      const held = await d.clients(spoke).public.readContract({ address: spoke.contracts.spoke!, abi: spokeAbi, functionName: "balances", args: [account, p.assetId] });
      expect(held, `${account} asset ${p.assetId} on eid ${p.eid}`).toBe(p.amount);
    }
  });
  for (const r of recoveries.filter((x) => x.state !== "seized")) expect(r.reason, `recovery ${r.id} ${r.state}`).toBeTruthy();
}

/** Waits until no recovery is open and the hub reports no liquidatable borrower. */
export async function waitUntilRecovered(s: CrashScenario, list: () => Promise<Recovery[]>, timeoutMs = 180_000): Promise<void> {
  return waitUntilSettled(list, () => liquidatableNow(s), timeoutMs);
}

/**
 * Waits until no recovery of `list` is open and `underwater` (the protocol's liquidatable borrowers) is empty; the
 * timeout's error names the open recoveries, and `detail()` when given (a process's output).
 */
export async function waitUntilSettled(list: () => Promise<Recovery[]>, underwater: () => Promise<Address[]>, timeoutMs = 180_000, detail?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = (await list()).filter((r) => !isTerminal(r.state));
    if (open.length === 0 && (await underwater()).length === 0) return;
    if (Date.now() > deadline) throw new Error(`not recovered in time: ${open.map((r) => `${r.id}:${r.state} (${r.reason ?? ""})`).join(", ")}${detail ? `\n${detail()}` : ""}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
