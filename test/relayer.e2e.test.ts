/**
 * The relayer as a library (createRelayer, PGlite) against a crashed devnet: it recovers every account
 * the hub considers liquidatable, exactly once per take, and touches no healthy account; it works first on
 * the accounts nearest to going under water, and measures each pathway's delivery time from the chains.
 */
import { type Address, type Hex } from "viem";
import { afterAll, beforeAll, expect, it } from "vitest";
import { hubAbi } from "../abis/index.js";
import { revertOf } from "../src/chains/errors.js";
import { HEARTBEAT_SECONDS, assetById } from "../src/devnet/market.js";
import { valueOf } from "../src/health/health.js";
import { WAD } from "../src/health/wad.js";
import { openPosition } from "./helpers/bad-debt.js";
import { dashboardGaps, readDashboard } from "./helpers/dashboard.js";
import { setAnswer } from "./helpers/prices.js";
import { coverage, nearestUnderWaterFirst } from "../src/recovery/policy.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
import { type Relayer, createRelayer } from "../src/recovery/relayer.js";
import { relayerReport } from "../src/recovery/report.js";
import { RECOVERY_STATES } from "../src/recovery/states.js";
import type { TransitionEvent } from "../src/recovery/coordinator.js";
import { type CrashScenario, crashScenario, expectRecoveredExactlyOnce, waitUntilRecovered, scenarioRelayerConfig } from "./helpers/scenario.js";

let s: CrashScenario;
let relayer: Relayer;
const transitions: TransitionEvent[] = [];

beforeAll(async () => {
  s = await crashScenario({ accounts: 60, seed: 11 });
  // One order a batch: the order of the batches' nonces is the order the relayer chose.
  relayer = await createRelayer(scenarioRelayerConfig(s, { pollIntervalMs: 200, maxBatchOrders: 1 }));
  relayer.on("transition", (e) => transitions.push(e));
}, 300_000);

afterAll(async () => {
  await relayer?.close();
  await s?.net.stop();
});

it("recovers every liquidatable account after the crash and touches no healthy one", async () => {
  const liquidatable = new Set(s.crash.liquidatable.map((a) => a.toLowerCase()));
  expect(liquidatable.size).toBe(15);
  // Every account open before the first pass, so that one pass plans them all.
  const hub = s.net.deployment.hubClients.public;
  await relayer.store.detectMany(s.net.deployment.hub.chainId, s.crash.liquidatable);
  const liquidator = devnetAccounts.liquidator.address;
  await relayer.tick();
  const firstPassNonces = await hub.getTransactionCount({ address: liquidator, blockTag: "pending" });
  relayer.start();
  await waitUntilRecovered(s, () => relayer.store.list());
  await relayer.stop();

  await expectRecoveredExactlyOnce(s, await relayer.store.list(), devnetAccounts.liquidator.address);
  expect(new Set(transitions.map((t) => `${t.from}>${t.to}`))).toContain("taking>taken");

  // The first pass's takes, in the order they were mined: nearest to going under water first.
  const takes = await hub.getContractEvents({ address: s.net.deployment.hubAddress, abi: hubAbi, eventName: "Take", fromBlock: 0n });
  const firstTakes: { account: Address; tx: Hex }[] = [];
  for (const t of takes) {
    const account = (t.args.account as Address).toLowerCase() as Address;
    if (!firstTakes.some((f) => f.account === account)) firstTakes.push({ account, tx: t.transactionHash });
  }
  const nonces = await Promise.all(firstTakes.map(async (f) => (await hub.getTransaction({ hash: f.tx })).nonce));
  const firstPass = firstTakes.filter((_, i) => nonces[i]! < firstPassNonces);
  expect(firstPass.length).toBeGreaterThanOrEqual(5);
  // Positions and prices as the first pass read them: nothing moves them between the crash and the first take.
  const beforeTakes = takes[0]!.blockNumber - 1n;
  const covers = await Promise.all(
    firstPass.map(async (f) => {
      const [collateralValue, , , debtValue] = await hub.readContract({ address: s.net.deployment.hubAddress, abi: hubAbi, functionName: "accountData", args: [f.account], blockNumber: beforeTakes });
      return coverage({ collateralValue, debtValue });
    }),
  );
  for (let i = 1; i < covers.length; i++) expect(nearestUnderWaterFirst(covers[i - 1], covers[i])).toBeLessThanOrEqual(0);
  expect(new Set(covers.map(String)).size).toBeGreaterThan(1);

  // The pathway delivery times the relayer measured are the chains' own: Seized block − take block, per spoke.
  const byEid = new Map<number, bigint[]>();
  for (const r of await relayer.store.list()) {
    const spoke = s.net.deployment.spokes.find((c) => c.eid === r.collateralEid)!;
    const paid = await s.net.deployment.clients(spoke).public.getTransactionReceipt({ hash: r.deliverTx! });
    const [sent, seized] = await Promise.all([hub.getBlock({ blockNumber: r.takeBlock! }), s.net.deployment.clients(spoke).public.getBlock({ blockNumber: paid.blockNumber })]);
    byEid.set(r.collateralEid!, [...(byEid.get(r.collateralEid!) ?? []), seized.timestamp - sent.timestamp]);
  }
  const text = await relayer.metrics.registry.metrics();
  for (const [eid, seconds] of byEid) {
    const sorted = seconds.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const median = sorted[Math.ceil(sorted.length / 2) - 1]!;
    expect(text).toContain(`salvage_delivery_seconds{eid="${eid}",quantile="0.5"} ${median}`);
  }
  // The Grafana dashboard's relayer panels name only metrics and labels the relayer serves.
  expect(dashboardGaps(readDashboard().queries, "relayer", text)).toEqual([]);
}, 240_000);

it("reports what only the relayer knows: every state's count from the shared database and the latest recoveries as stored", async () => {
  const report = await relayerReport(relayer, 5);
  expect(report.worker).toBe(relayer.workerId);
  expect(Object.keys(report.states).sort()).toEqual([...RECOVERY_STATES].sort());
  const counts = await relayer.store.countsByState();
  for (const state of RECOVERY_STATES) expect(report.states[state], state).toBe(counts.get(state) ?? 0);
  const stored = await relayer.store.list();
  expect(Object.values(report.states).reduce((a, b) => a + b, 0)).toBe(stored.length);
  expect(report.states.seized).toBeGreaterThan(0);

  expect(report.recent).toHaveLength(5);
  const times = report.recent.map((r) => Date.parse(r.updatedAt));
  for (let i = 1; i < times.length; i++) expect(times[i]).toBeLessThanOrEqual(times[i - 1]!);
  const byId = new Map(stored.map((r) => [r.id, r]));
  for (const r of report.recent) {
    const row = byId.get(r.id)!;
    expect(row, `recovery ${r.id}`).toBeDefined();
    expect({ id: r.id, account: r.account, state: r.state, takeId: r.takeId, updatedAt: r.updatedAt }).toEqual({
      id: row.id, account: row.account, state: row.state, takeId: row.takeId === undefined ? null : row.takeId.toString(), updatedAt: row.updatedAt.toISOString(),
    });
  }
  // The newest 5 of all: none left out is more recent than the oldest reported.
  const reported = new Set(report.recent.map((r) => r.id));
  for (const r of stored) if (!reported.has(r.id)) expect(r.updatedAt.getTime()).toBeLessThanOrEqual(times.at(-1)!);
  // JSON as served: no bigint left.
  expect(JSON.parse(JSON.stringify(report))).toEqual(report);
});

it("neither kicks nor takes an account whose health needs a stale price, recovers one without that asset meanwhile, and the first once the price is usable", async () => {
  const d = s.net.deployment;
  const hub = d.hubClients.public;
  const [USDC, WETH, WBTC] = [1, 10, 11];
  const prices = await d.pricesWad();
  // Each borrows 99 % of its limit (USDC has 6 decimals: WAD USD / 10^12); a 10 % drop puts both under water.
  const position = async (assetId: number, collateral: bigint) => {
    const a = assetById(assetId);
    const debt = (valueOf(collateral, prices.get(assetId)!, a.decimals) * a.ltv * 99n) / (WAD * 100n) / 10n ** 12n;
    return openPosition(s.net, { collateralAssetId: assetId, collateral, debtAssetId: USDC, debt });
  };
  const withWbtc = await position(WBTC, 10n ** 8n);
  const withWeth = await position(WETH, 10n ** 18n);
  const answers = await d.answers();
  const dropped = (id: number) => (answers.get(id)! * 9n) / 10n;
  // WBTC's drop is its last round: past the heartbeat it is stale, while every other feed has a new round.
  await setAnswer(s.net, WBTC, dropped(WBTC));
  await s.net.advanceTime(HEARTBEAT_SECONDS + 1);
  for (const [id, answer] of answers) if (id !== WBTC) await setAnswer(s.net, id, id === WETH ? dropped(WETH) : answer);
  const hf = (account: Address) => hub.readContract({ address: d.hubAddress, abi: hubAbi, functionName: "healthFactor", args: [account] });
  expect(revertOf(await hf(withWbtc).catch((e: unknown) => e)).errorName).toBe("StalePrice");
  expect(await hf(withWeth)).toBeLessThan(WAD);

  const events = (name: "AuctionKicked" | "Take", account: Address) =>
    hub.getContractEvents({ address: d.hubAddress, abi: hubAbi, eventName: name, args: { account }, fromBlock: 0n });
  const until = async (what: string, done: () => Promise<boolean>) => {
    for (const deadline = Date.now() + 120_000; !(await done()); ) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await relayer.store.detectMany(d.hub.chainId, [withWbtc, withWeth]);
  relayer.start();
  try {
    await until("the WETH account's take", async () => (await events("Take", withWeth)).length > 0);
    const waiting = (await relayer.store.list()).find((r) => r.account.toLowerCase() === withWbtc.toLowerCase())!;
    expect(waiting.state).toBe("detected");
    expect(waiting.reason).toMatch(/^waits for a usable price: asset 11: StalePrice\(11, \d+, 86400\)$/);
    expect(await events("AuctionKicked", withWbtc)).toHaveLength(0);

    // A new round: the price is usable, and the account is kicked and taken.
    await setAnswer(s.net, WBTC, dropped(WBTC));
    await until("the WBTC account's take", async () => (await events("Take", withWbtc)).length > 0);
    expect(await events("AuctionKicked", withWbtc)).toHaveLength(1);
  } finally {
    await relayer.stop();
  }
}, 240_000);

