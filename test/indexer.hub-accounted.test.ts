/**
 * The second protocol through the index: one real Ponder process (`ponder start`, PGlite) indexes a devnet where the
 * reference protocol and the hub-accounted money market (contracts/hub-accounted/) run side by side on the same
 * chains, feeds and tokens. After a crash:
 * - `atRiskAccounts(protocol: "accounted")` is exactly the AccountedHub's accounts under the bound at the block the
 *   answer names, every row equal to AccountedHub.accountData there, to the wei (debt grown to that block's time);
 * - `opportunities(protocol: "accounted")` is exactly its liquidatable set, each liquidation equal to the hub's
 *   previewLiquidation at that block;
 * - the reference protocol's answers (no `protocol`) are the reference hub's, from the same process;
 * - a year passes with no event but one empty block: the answers at that block still equal the hub's (interest
 *   moved health), and more accounts are at risk;
 * - the feed logs the second protocol's crossings, live, each block valued as the hub values it: a `liquidatable`
 *   event (protocol "accounted") where an account is under HF 1 on the hub and was not at the block before, a
 *   `healthy` one where it came back; what the log says is under 1 at the head is exactly the hub's set there, and
 *   each event carries the liquidation `opportunities(protocol:)` names for its account at the same block;
 * - an account that interest alone puts under HF 1 in a block with no transaction at all is logged at that block
 *   (the watch values the book when a crossing may be due, not only when something moved);
 * - `liquidationLevels(protocol:)` counts, at every edge price of one asset, exactly the holders that the hub's own
 *   positions, rates and terms at the answer's block put under HF 1 there;
 * - `solvency(protocol:)` is the hub's reserve and bad debt, its write-offs, and its accounts under water at the block;
 * - `recoveries(protocol:)` follows each liquidation the relayer makes to its collateral: withdrawn in the
 *   liquidation's transaction and paid on the spoke (`seized`, at the spoke's Withdrawn block), or kept on the hub by
 *   policy (`taken`, no packet);
 * - the page (headless Chromium), with the second protocol chosen, shows exactly those answers: its at-risk accounts,
 *   its solvency, its liquidation levels chart, its recoveries by state; and the feed names each event's protocol. The screenshot
 *   goes to test-results/page-hub-accounted.png.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accountedHubAbi, accountedSpokeAbi, hubAbi } from "../abis/index.js";
import { createSalvageClient } from "../src/client/index.js";
import { Rng } from "../src/devnet/rng.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
import { accountedHealthFactor, fundLiquidator, seedAccountedBorrowers } from "../src/devnet/seed-hub-accounted.js";
import { seedBorrowers } from "../src/devnet/seed.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { WAD } from "../src/health/wad.js";
import { type AccountedContracts, accountedContracts } from "../src/protocols/hub-accounted/contracts.js";
import { hubAccountedProtocol } from "../src/protocols/hub-accounted/index.js";
import { accountedAccountData } from "../src/protocols/hub-accounted/math.js";
import { createRelayer } from "../src/recovery/relayer.js";
import { write } from "../src/chains/tx.js";
import { mapLimit } from "../src/util/concurrency.js";
import { type OpenPage, hf4, noChromium, openPage, tableRows, until } from "./helpers/browser.js";
import { type TestNetwork, startTestNetwork } from "./helpers/network.js";
import { type PonderApp, startPonder } from "./helpers/ponder.js";
import { scenarioRelayerConfig, waitUntilSettled } from "./helpers/scenario.js";

let net: TestNetwork;
let c: AccountedContracts;
let accounted: Address[];
let reference: Address[];
let ponder: PonderApp;
const SCREENSHOT = process.env.SALVAGE_PAGE_SCREENSHOT?.replace(/\.png$/, "-hub-accounted.png") ?? "test-results/page-hub-accounted.png";

beforeAll(async () => {
  net = await startTestNetwork(2, undefined, { hubAccounted: true });
  const d = net.deployment;
  c = accountedContracts(d);
  const rng = new Rng(31);
  reference = await seedBorrowers(d, net.deliverer, { count: 20, seed: 31, rng });
  accounted = await seedAccountedBorrowers(d, c, net.deliverer, { count: 40, seed: 31, rng });
  net.network.manifest.accounts = reference;
  await new MarketSimulator(d, rng, 150, (a, b) => accountedHealthFactor(d, c, a, b)).crash(accounted, 0.3);
  ponder = await startPonder({ manifest: d.manifest });
}, 400_000);

afterAll(async () => {
  await ponder?.stop();
  await net?.stop();
});

interface Row { protocol: string; address: string; healthFactor: string; collateralValue: string; thresholdValue: string; borrowPower: string; debtValue: string }
interface Block { number: string; timestamp: string }

/** Time passes on every chain alike (a spoke's clock applies at its next block), so cross-chain durations stay real. */
async function advanceTime(seconds: number): Promise<void> {
  for (const chain of net.deployment.manifest.chains) await net.deployment.clients(chain).public.request({ method: "evm_increaseTime", params: [seconds] } as never);
}

async function caughtUp(): Promise<bigint> {
  const head = await net.deployment.hubClients.public.getBlockNumber({ cacheTime: 0 });
  await ponder.indexed(net.deployment.hub.name, head);
  return head;
}

async function atRisk(bound: string, protocol?: string): Promise<{ block: Block; items: Row[] }> {
  const r = await ponder.gql<{ atRiskAccounts: { block: Block; items: Row[]; pageInfo: { hasNextPage: boolean } } }>(
    `query($b: String!, $p: String) { atRiskAccounts(maxHealthFactor: $b, first: 500, protocol: $p) { block { number timestamp } pageInfo { hasNextPage }
       items { protocol address healthFactor collateralValue thresholdValue borrowPower debtValue } } }`,
    { b: bound, p: protocol },
  );
  expect(r.errors).toBeUndefined();
  expect(r.data!.atRiskAccounts.pageInfo.hasNextPage).toBe(false);
  return r.data!.atRiskAccounts;
}

/** AccountedHub.accountData of every seeded account at `block`, below `bound` (WAD), by HF then address. */
async function hubAtRisk(block: bigint, boundWad: bigint): Promise<Row[]> {
  const rows = await mapLimit(accounted, 16, async (a) => {
    const [collateralValue, thresholdValue, borrowPower, debtValue, healthFactor] = await net.deployment.hubClients.public.readContract({ address: c.hub, abi: accountedHubAbi, functionName: "accountData", args: [a], blockNumber: block });
    return { protocol: "accounted", address: a, healthFactor: String(healthFactor), collateralValue: String(collateralValue), thresholdValue: String(thresholdValue), borrowPower: String(borrowPower), debtValue: String(debtValue) };
  });
  return rows
    .filter((r) => BigInt(r.healthFactor) < boundWad)
    .sort((x, y) => (BigInt(x.healthFactor) < BigInt(y.healthFactor) ? -1 : BigInt(x.healthFactor) > BigInt(y.healthFactor) ? 1 : x.address.toLowerCase() < y.address.toLowerCase() ? -1 : 1));
}

it("serves both protocols from one process, names them, and refuses an unknown one by name", async () => {
  await caughtUp();
  const r = await ponder.gql<{ protocols: { name: string; kind: string }[] }>(`{ protocols { name kind } }`);
  expect(r.data!.protocols).toEqual([{ name: "reference", kind: "hub-spoke" }, { name: "accounted", kind: "hub-accounted" }]);
  const bad = await ponder.gql(`{ atRiskAccounts(protocol: "nope") { totalCount } }`);
  expect(bad.errors?.[0]?.message).toMatch(/protocol/);
  // The reference protocol's answer, from the same process: the reference hub's accounts under HF 1.
  const ref = await atRisk("1");
  const block = BigInt(ref.block.number);
  const hfs = await mapLimit(reference, 16, async (a) => [a, await net.deployment.hubClients.public.readContract({ address: net.deployment.hubAddress, abi: hubAbi, functionName: "healthFactor", args: [a], blockNumber: block })] as const);
  expect(ref.items.map((i) => i.address.toLowerCase()).sort()).toEqual(hfs.filter(([, hf]) => hf < WAD).map(([a]) => a.toLowerCase()).sort());
  for (const i of ref.items) expect(i.protocol).toBe("reference");
}, 240_000);

it("after the crash, atRiskAccounts and opportunities of the hub-accounted market equal its hub at the block they name", async () => {
  await caughtUp();
  for (const bound of ["1", "1.3"]) {
    const answer = await atRisk(bound, "accounted");
    const want = await hubAtRisk(BigInt(answer.block.number), BigInt(Math.round(Number(bound) * 10)) * 10n ** 17n);
    expect(answer.items).toEqual(want);
    if (bound === "1") expect(want.length).toBe(12);
  }
  // The typed client reads the same page, typed, protocol named.
  const typed = await createSalvageClient({ url: ponder.url }).atRiskAccounts({ protocol: "accounted", maxHealthFactor: "1", first: 500 });
  const viaGql = await atRisk("1", "accounted");
  expect(typed.block?.number).toBe(BigInt(viaGql.block.number));
  expect(typed.items.map((i) => [i.protocol, i.address, i.healthFactor.toString(), i.debtValue.toString()])).toEqual(viaGql.items.map((i) => [i.protocol, i.address, i.healthFactor, i.debtValue]));
  const r = await ponder.gql<{ opportunities: { block: Block; items: { protocol: string; account: string; auctionStatus: string; maxRepay: string; repayAmount: string; seizeAmount: string; collateral: { eid: number; assetId: number }; debt: { assetId: number } }[] } }>(
    `{ opportunities(protocol: "accounted", first: 500) { block { number timestamp } items { protocol account auctionStatus maxRepay repayAmount seizeAmount collateral { eid assetId } debt { assetId } } } }`,
  );
  expect(r.errors).toBeUndefined();
  const page = r.data!.opportunities;
  const block = BigInt(page.block.number);
  const liquidatable = (await hubAtRisk(block, WAD)).map((x) => x.address.toLowerCase());
  expect(page.items.map((o) => o.account.toLowerCase()).sort()).toEqual([...liquidatable].sort());
  for (const o of page.items) {
    expect(o.protocol).toBe("accounted");
    expect(o.auctionStatus).toBe("instant");
    const [repayAmount, seizeAmount, hf] = await net.deployment.hubClients.public.readContract({
      address: c.hub, abi: accountedHubAbi, functionName: "previewLiquidation",
      args: [o.account as Address, o.debt.assetId, BigInt(o.maxRepay), o.collateral.eid, o.collateral.assetId], blockNumber: block,
    });
    expect(hf).toBeLessThan(WAD);
    expect({ repayAmount: o.repayAmount, seizeAmount: o.seizeAmount }, o.account).toEqual({ repayAmount: String(repayAmount), seizeAmount: String(seizeAmount) });
  }
}, 240_000);

it("stays exact as interest alone moves health: a year later at the same prices, then an empty block an hour on", async () => {
  const hub = net.deployment.hubClients.public;
  const before = await atRisk("1.3", "accounted");
  // A year on, the feeds stamped again at the same answers (a day's heartbeat would make them stale): no price moved.
  await advanceTime(365 * 86_400);
  const sim = new MarketSimulator(net.deployment, new Rng(1));
  const answers = await net.deployment.answers();
  await sim.applyAnswers(new Map([...answers].map(([id, a]) => [id, a + 1n])));
  await sim.applyAnswers(answers);
  const head = await caughtUp();
  const after = await atRisk("1.3", "accounted");
  expect(BigInt(after.block.number)).toBe(head);
  expect(after.items).toEqual(await hubAtRisk(head, 13n * 10n ** 17n));
  expect(after.items.length).toBeGreaterThan(before.items.length);
  const was = new Map(before.items.map((i) => [i.address, BigInt(i.debtValue)]));
  for (const i of after.items) if (was.has(i.address)) expect(BigInt(i.debtValue)).toBeGreaterThan(was.get(i.address)!);
  // An hour later, one block with no transaction at all: the answer at that block is the hub's there, debt grown.
  await advanceTime(3_600);
  await hub.request({ method: "evm_mine", params: [] } as never);
  const empty = await caughtUp();
  const later = await atRisk("1.3", "accounted");
  expect(BigInt(later.block.number)).toBe(empty);
  expect(later.items).toEqual(await hubAtRisk(empty, 13n * 10n ** 17n));
  const atHead = new Map(after.items.map((i) => [i.address, BigInt(i.debtValue)]));
  for (const i of later.items) if (atHead.has(i.address)) expect(BigInt(i.debtValue)).toBeGreaterThan(atHead.get(i.address)!);
}, 240_000);

it("logs the second protocol's crossings in the feed, live, at the blocks where the hub's health crossed 1", async () => {
  const head = await caughtUp();
  // The log and the opportunities in one request: one snapshot, so each event's liquidation is the page's at that block.
  type Liquidation = { protocol: string; account: string; repayAmount: string; seizeAmount: string; closeFactor: string; auctionStatus: string };
  const LIQUIDATION = "protocol account repayAmount seizeAmount closeFactor auctionStatus";
  const r = await ponder.gql<{
    opportunityEvents: { items: { id: string; account: string | null; protocol: string | null; kind: string; blockNumber: string; healthFactor: string | null; opportunity: Liquidation | null }[] };
    opportunities: { items: Liquidation[] };
  }>(
    `{ opportunityEvents(since: "0", first: 500) { items { id account protocol kind blockNumber healthFactor opportunity { ${LIQUIDATION} } } }
       opportunities(protocol: "accounted", first: 500) { items { ${LIQUIDATION} } } }`,
  );
  expect(r.errors).toBeUndefined();
  const liquidationOf = new Map(r.data!.opportunities.items.map((o) => [o.account.toLowerCase(), o]));
  const events = r.data!.opportunityEvents.items.filter((e) => e.protocol === "accounted");
  expect(events.length).toBeGreaterThan(0);
  // The reference protocol's events name it; pathway events name none.
  for (const e of r.data!.opportunityEvents.items) expect(e.protocol).toBe(e.account === null ? null : e.protocol === "accounted" ? "accounted" : "reference");
  const hub = net.deployment.hubClients.public;
  const hfAt = (account: string, block: bigint) =>
    hub.readContract({ address: c.hub, abi: accountedHubAbi, functionName: "healthFactor", args: [account as Address], blockNumber: block });
  const first = events.reduce((m, e) => (BigInt(e.blockNumber) < m ? BigInt(e.blockNumber) : m), BigInt(events[0]!.blockNumber));
  const last = new Map<string, string>();
  for (const e of events) {
    const block = BigInt(e.blockNumber);
    const hf = await hfAt(e.account!, block);
    expect(String(hf), `${e.kind} ${e.account} at ${block}`).toBe(e.healthFactor);
    // The liquidation AccountedHub would make now (opportunities' at the same block), or none when healthy now.
    expect(e.opportunity, `${e.kind} ${e.account}`).toEqual(e.kind === "healthy" ? null : (liquidationOf.get(e.account!.toLowerCase()) ?? null));
    if (e.kind === "liquidatable") {
      expect(hf).toBeLessThan(WAD);
      // A crossing: above 1 at the block before, unless the feed's first live block logged what was already under.
      if (block > first) expect(await hfAt(e.account!, block - 1n), `${e.account} before ${block}`).toBeGreaterThanOrEqual(WAD);
    } else {
      expect(e.kind).toBe("healthy");
      expect(hf).toBeGreaterThanOrEqual(WAD);
    }
    expect(last.get(e.account!) ?? "healthy", `${e.account} alternates`).not.toBe(e.kind);
    last.set(e.account!, e.kind);
  }
  const under = [...last].filter(([, k]) => k === "liquidatable").map(([a]) => a).sort();
  expect(under).toEqual((await hubAtRisk(head, WAD)).map((x) => x.address.toLowerCase()).sort());
  // Interest put accounts under that the crash had not: their events are crossings the feed saw live.
  expect(events.some((e) => e.kind === "liquidatable" && BigInt(e.blockNumber) > first)).toBe(true);
  expect([...new Set(events.filter((e) => e.opportunity !== null).map((e) => e.account!.toLowerCase()))].sort()).toEqual(under);
  for (const e of events) if (e.opportunity) expect(e.opportunity).toMatchObject({ protocol: "accounted", auctionStatus: "instant" });
}, 240_000);

it("logs a crossing that interest alone makes in an empty block: the watch values the book when a crossing may be due, not only when something moved", async () => {
  const d = net.deployment;
  const hub = d.hubClients.public;
  const owner = d.hubClients.wallet(devnetAccounts.deployer);
  // Fresh prices (a day's heartbeat), then the steepest rate the hub allows (~3,150 % a year) on every debt asset:
  // the closest healthy borrowers go under within hours, with no event at all in the block where they do.
  const sim = new MarketSimulator(d, new Rng(4));
  const answers = await d.answers();
  await sim.applyAnswers(new Map([...answers].map(([id, a]) => [id, a + 1n])));
  await sim.applyAnswers(answers);
  const rates = new Map(await Promise.all(d.debtAssets.map(async (a) => [a.id, (await hub.readContract({ address: c.hub, abi: accountedHubAbi, functionName: "rates", args: [a.id] }))[1]] as const)));
  for (const a of d.debtAssets) await write(owner, hub, { address: c.hub, abi: accountedHubAbi, functionName: "setInterestRate", args: [a.id, 10n ** 27n / 10n ** 6n] });
  try {
    // The five healthy borrowers closest to HF 1 are watched block by block, five minutes apart.
    const healthy = (await mapLimit(accounted, 16, async (a) => [a, await accountedHealthFactor(d, c, a)] as const))
      .filter(([, hf]) => hf >= WAD)
      .sort(([, x], [, y]) => (x < y ? -1 : x > y ? 1 : 0))
      .slice(0, 5)
      .map(([a]) => a);
    let crossed: { block: bigint; accounts: Address[] } | undefined;
    for (let step = 0; step < 72 && !crossed; step++) {
      await advanceTime(300);
      await hub.request({ method: "evm_mine", params: [] } as never);
      const block = await hub.getBlockNumber({ cacheTime: 0 });
      const under = (await mapLimit(healthy, 16, async (a) => [a, await accountedHealthFactor(d, c, a, block)] as const)).filter(([, hf]) => hf < WAD).map(([a]) => a);
      if (under.length > 0) crossed = { block, accounts: under };
    }
    expect(crossed, "a healthy borrower went under within six hours").toBeDefined();
    expect((await hub.getBlock({ blockNumber: crossed!.block })).transactions).toEqual([]);
    await caughtUp();
    const logged: string[] = [];
    for (let since = "0"; ; ) {
      const r = await ponder.gql<{ opportunityEvents: { pageInfo: { hasNextPage: boolean; endCursor: string | null }; items: { account: string | null; protocol: string | null; kind: string; blockNumber: string }[] } }>(
        `query($since: String) { opportunityEvents(since: $since, first: 500) { pageInfo { hasNextPage endCursor } items { account protocol kind blockNumber } } }`,
        { since },
      );
      expect(r.errors).toBeUndefined();
      const page = r.data!.opportunityEvents;
      for (const e of page.items) if (e.protocol === "accounted" && e.kind === "liquidatable" && e.blockNumber === String(crossed!.block)) logged.push(e.account!.toLowerCase());
      if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) break;
      since = page.pageInfo.endCursor;
    }
    // Logged at that block: every watched borrower that went under there, and only borrowers under there on the hub.
    expect(logged).toEqual(expect.arrayContaining(crossed!.accounts.map((a) => a.toLowerCase())));
    for (const a of logged) expect(await accountedHealthFactor(d, c, a as Address, crossed!.block), a).toBeLessThan(WAD);
  } finally {
    for (const a of d.debtAssets) await write(owner, hub, { address: c.hub, abi: accountedHubAbi, functionName: "setInterestRate", args: [a.id, rates.get(a.id)!] });
  }
}, 240_000);

it("liquidationLevels(protocol:) counts, bin by bin, the holders the hub's own positions put under HF 1 at each edge price", async () => {
  const head = await caughtUp();
  const d = net.deployment;
  const hub = d.hubClients.public;
  const asset = d.collateralAssets[0]!;
  type Totals = { accounts: number };
  const r = await ponder.gql<{ liquidationLevels: { protocol: string; block: Block; holders: number; priceWad: string; now: Totals; beyond: Totals; bins: { priceWad: string; cumulative: Totals }[] } }>(
    `{ liquidationLevels(protocol: "accounted", assetId: ${asset.id}, bins: 10, maxDrop: "0.5") { protocol block { number } holders priceWad now { accounts } beyond { accounts } bins { priceWad cumulative { accounts } } } }`,
  );
  expect(r.errors).toBeUndefined();
  const l = r.data!.liquidationLevels;
  expect(l.protocol).toBe("accounted");
  const block = BigInt(l.block.number);
  expect(block).toBe(head);
  // Every borrower's positions, rates and terms as the hub holds them at that block.
  const { timestamp } = await hub.getBlock({ blockNumber: block });
  const read = <T>(functionName: string, args: readonly unknown[]) => hub.readContract({ address: c.hub, abi: accountedHubAbi, functionName: functionName as never, args: args as never, blockNumber: block }) as Promise<T>;
  const ids = [...d.collateralAssets, ...d.debtAssets].map((a) => a.id);
  const terms = new Map(await Promise.all(ids.map(async (id) => [id, await read<readonly [Address, bigint, number, Address, bigint, bigint]>("assets", [id])] as const)));
  const prices = new Map(await Promise.all(ids.map(async (id) => [id, await read<bigint>("priceWad", [id])] as const)));
  expect(String(prices.get(asset.id))).toBe(l.priceWad);
  const rates = new Map(await Promise.all(d.debtAssets.map(async (a) => [a.id, await read<readonly [bigint, bigint, bigint]>("rates", [a.id])] as const)));
  const positions = await mapLimit(accounted, 8, async (account) => ({
    collateral: (await Promise.all(d.spokes.flatMap((sp) => d.collateralAssets.map(async (a) => ({ eid: sp.eid, assetId: a.id, amount: await read<bigint>("collateral", [account, sp.eid, a.id]) }))))).filter((x) => x.amount > 0n),
    debt: (await Promise.all(d.debtAssets.map(async (a) => ({ assetId: a.id, scaled: await read<bigint>("scaledDebt", [account, a.id]) })))).filter((x) => x.scaled > 0n),
  }));
  const holders = positions.filter((p) => p.debt.length > 0 && p.collateral.some((x) => x.assetId === asset.id));
  expect(l.holders).toBe(holders.length);
  const liquidatableAt = (priceOfAsset: bigint) =>
    holders.filter((p) => {
      const price = (id: number) => (id === asset.id ? priceOfAsset : prices.get(id)!);
      const data = accountedAccountData(
        p.collateral.map((x) => ({ amount: x.amount, priceWad: price(x.assetId), decimals: terms.get(x.assetId)![2], ltv: terms.get(x.assetId)![4], liquidationThreshold: terms.get(x.assetId)![5] })),
        p.debt.map((x) => ({ scaledDebt: x.scaled, rate: { index: rates.get(x.assetId)![0], ratePerSecond: rates.get(x.assetId)![1], lastUpdate: rates.get(x.assetId)![2] }, priceWad: price(x.assetId), decimals: terms.get(x.assetId)![2] })),
        timestamp,
      );
      return data.healthFactor < WAD;
    }).length;
  expect(l.now.accounts).toBe(liquidatableAt(prices.get(asset.id)!));
  expect(l.now.accounts).toBeGreaterThan(0);
  for (const b of l.bins) expect(b.cumulative.accounts, `at ${b.priceWad}`).toBe(liquidatableAt(BigInt(b.priceWad)));
  expect(l.bins.at(-1)!.cumulative.accounts + l.beyond.accounts).toBe(holders.length);
}, 240_000);

it("recoveries(protocol:) follows each liquidation to its collateral (withdrawn and paid on the spoke, or kept on the hub); solvency(protocol:) is the hub's", async () => {
  const d = net.deployment;
  const hub = d.hubClients.public;
  await fundLiquidator(d, devnetAccounts.liquidator.address);
  const from = (await hub.getBlockNumber()) + 1n;
  const liquidatableNow = async () => (await hubAtRisk(await hub.getBlockNumber(), WAD)).map((x) => x.address as Address);
  const run = async (collateral: "withdraw" | "keep") => {
    const relayer = await createRelayer(scenarioRelayerConfig({ net }, { pollIntervalMs: 200 }), { protocol: (dep) => hubAccountedProtocol(dep, { collateral }) });
    try {
      relayer.start();
      await waitUntilSettled(() => relayer.store.list(), liquidatableNow);
      await relayer.stop();
    } finally {
      await relayer.close();
    }
  };
  type Take = { takeId: string; auctionId: string | null; state: string; take: { repayAmount: string }; seize: { eid: number; amount: string; block: string | null }; packet: { guid: string } | null };
  const recoveries = async () => {
    for (const chain of d.manifest.chains) await ponder.indexed(chain.name, await d.clients(chain).public.getBlockNumber({ cacheTime: 0 }));
    const r = await ponder.gql<{ recoveries: { protocol: string; liquidatable: number; auctionsOpen: number; takes: Record<string, number>; recent: Take[] } }>(
      `{ recoveries(protocol: "accounted", first: 100) { protocol liquidatable auctionsOpen takes { taken verified delivered seized failed }
         recent { takeId auctionId state take { repayAmount } seize { eid amount block } packet { guid } } } }`,
    );
    expect(r.errors).toBeUndefined();
    return r.data!.recoveries;
  };
  const withdrawnBlock = async () => {
    const paid = new Map<bigint, bigint>();
    for (const sp of d.spokes) {
      for (const e of await d.clients(sp).public.getContractEvents({ address: c.spoke(sp.eid), abi: accountedSpokeAbi, eventName: "Withdrawn", fromBlock: 0n })) paid.set(e.args.withdrawalId!, e.blockNumber);
    }
    return paid;
  };

  // The relayer withdraws each liquidation's collateral in its transaction: every one ends paid on its spoke.
  await run("withdraw");
  const liquidated = await hub.getContractEvents({ address: c.hub, abi: accountedHubAbi, eventName: "Liquidated", fromBlock: from });
  expect(liquidated.length).toBeGreaterThan(0);
  const sent = await hub.getContractEvents({ address: c.hub, abi: accountedHubAbi, eventName: "WithdrawSent", fromBlock: from });
  const paid = await withdrawnBlock();
  const withdrawalIn = new Map(sent.map((w) => [`${w.transactionHash}:${w.args.eid}:${w.args.assetId}:${w.args.amount}`, w.args.withdrawalId!]));
  const answer = await recoveries();
  expect(answer).toMatchObject({ protocol: "accounted", liquidatable: 0, auctionsOpen: 0, takes: { taken: 0, verified: 0, delivered: 0, seized: liquidated.length, failed: 0 } });
  const expected = [...liquidated].reverse().map((e) => {
    const id = withdrawalIn.get(`${e.transactionHash}:${e.args.eid}:${e.args.collateralAssetId}:${e.args.seizeAmount}`)!;
    return { takeId: String(e.args.liquidationId), auctionId: null, state: "seized", take: { repayAmount: String(e.args.repayAmount) }, seize: { eid: e.args.eid, amount: String(e.args.seizeAmount), block: String(paid.get(id)) }, packet: { guid: sent.find((w) => w.args.withdrawalId === id)!.args.guid } };
  });
  expect(answer.recent).toEqual(expected);
  // REST answers the same through the same seam; an unknown protocol is a 400 naming the parameter.
  const rest = (await (await ponder.api("/recoveries?protocol=accounted&first=100")).json()) as { protocol: string; takes: unknown; recent: { takeId: string }[] };
  expect({ protocol: rest.protocol, takes: rest.takes, ids: rest.recent.map((t) => t.takeId) }).toEqual({ protocol: "accounted", takes: answer.takes, ids: answer.recent.map((t) => t.takeId) });
  const unknown = await ponder.api("/recoveries?protocol=nope");
  expect(unknown.status).toBe(400);
  expect(await unknown.text()).toMatch(/protocol must be one of reference, accounted/);

  // Interest puts more accounts under; a relayer keeping the collateral on the hub sends no message: `taken`, no packet.
  await advanceTime(2 * 365 * 86_400);
  const answers = await d.answers();
  const sim = new MarketSimulator(d, new Rng(3));
  await sim.applyAnswers(new Map([...answers].map(([id, a]) => [id, a + 1n])));
  await sim.applyAnswers(answers);
  const keptFrom = (await hub.getBlockNumber()) + 1n;
  expect((await liquidatableNow()).length).toBeGreaterThan(0);
  await run("keep");
  const kept = await hub.getContractEvents({ address: c.hub, abi: accountedHubAbi, eventName: "Liquidated", fromBlock: keptFrom });
  expect(kept.length).toBeGreaterThan(0);
  const after = await recoveries();
  expect(after.takes).toEqual({ taken: kept.length, verified: 0, delivered: 0, seized: liquidated.length, failed: 0 });
  const keptIds = new Set(kept.map((e) => String(e.args.liquidationId)));
  for (const t of after.recent) {
    if (keptIds.has(t.takeId)) expect(t, t.takeId).toMatchObject({ state: "taken", packet: null, seize: { block: null } });
    else expect(t.state, t.takeId).toBe("seized");
  }

  // Solvency at the block it names: the reserve and uncovered bad debt as the hub holds them, every write-off, and
  // exactly the hub's accounts under water there (collateral value below debt value, interest included).
  type DebtSolvency = { assetId: number; writeOffs: number; writtenOff: string; uncovered: string; reserve: string };
  const sv = await ponder.gql<{ solvency: { protocol: string; block: Block; assets: DebtSolvency[]; underWater: { accounts: number; debtUsd: string } } }>(
    `{ solvency(protocol: "accounted") { protocol block { number } assets { assetId writeOffs writtenOff uncovered reserve } underWater { accounts debtUsd } } }`,
  );
  expect(sv.errors).toBeUndefined();
  const solvency = sv.data!.solvency;
  const at = BigInt(solvency.block.number);
  const hubRead = (functionName: "reserve" | "badDebt", assetId: number) => hub.readContract({ address: c.hub, abi: accountedHubAbi, functionName, args: [assetId], blockNumber: at });
  const offs = await hub.getContractEvents({ address: c.hub, abi: accountedHubAbi, eventName: "BadDebtWrittenOff", fromBlock: 0n, toBlock: at });
  expect(offs.length).toBeGreaterThan(0);
  expect(solvency.assets.map((a) => a.assetId)).toEqual(d.debtAssets.map((a) => a.id).sort((x, y) => x - y));
  for (const a of solvency.assets) {
    const mine = offs.filter((e) => e.args.assetId === a.assetId);
    expect(a, `asset ${a.assetId}`).toEqual({
      assetId: a.assetId, writeOffs: mine.length, writtenOff: String(mine.reduce((sum, e) => sum + e.args.amount!, 0n)),
      uncovered: String(await hubRead("badDebt", a.assetId)), reserve: String(await hubRead("reserve", a.assetId)),
    });
  }
  const data = await mapLimit(accounted, 16, (a) => hub.readContract({ address: c.hub, abi: accountedHubAbi, functionName: "accountData", args: [a], blockNumber: at }));
  const underWater = data.filter(([collateralValue, , , debtValue, healthFactor]) => healthFactor < WAD && collateralValue < debtValue);
  expect(solvency.underWater).toEqual({ accounts: underWater.length, debtUsd: String(underWater.reduce((sum, x) => sum + x[3], 0n)) });
}, 300_000);

describe.skipIf(noChromium)("the page, on the second protocol", () => {
  let open: OpenPage | undefined;
  afterAll(async () => {
    await open?.close();
  });

  it("shows the chosen protocol's at-risk accounts, solvency, levels and recoveries exactly as the API answers them, and every protocol in the feed", async () => {
    const d = net.deployment;
    await caughtUp();
    open = await openPage(ponder.url);
    const { page } = open;
    const rows = (table: string) => tableRows(page, table);
    // The protocols the API serves, in its order; the page starts on the reference protocol.
    await until("the protocol choice", async () => ((await page.$$eval("#protocol option", (os) => os.length)) === 2 ? true : undefined), 30_000);
    expect(await page.$$eval("#protocol option", (os) => os.map((o) => [(o as HTMLOptionElement).value, o.textContent]))).toEqual([["reference", "reference (hub-spoke)"], ["accounted", "accounted (hub-accounted)"]]);
    await page.selectOption("#protocol", "accounted");
    expect(await page.getAttribute("body", "data-protocol")).toBe("accounted");

    // At-risk: the rows of atRiskAccounts(protocol: "accounted") under 1.1, in order, health factors as the hub's.
    const r = await ponder.gql<{ atRiskAccounts: { block: Block; totalCount: number; items: Row[] } }>(
      `{ atRiskAccounts(protocol: "accounted", maxHealthFactor: "1.1", first: 50) { block { number } totalCount items { protocol address healthFactor collateralValue thresholdValue borrowPower debtValue } } }`,
    );
    expect(r.errors).toBeUndefined();
    const want = r.data!.atRiskAccounts.items;
    expect(want.length).toBeGreaterThan(0);
    expect(want).toEqual(await hubAtRisk(BigInt(r.data!.atRiskAccounts.block.number), 11n * 10n ** 17n));
    const table = await until("the at-risk table of the accounted protocol", async () => {
      const t = await rows("at-risk");
      return t.map((x) => `${x.data.protocol}:${x.data.address}`).join() === want.map((i) => `accounted:${i.address}`).join() ? t : undefined;
    }, 30_000, () => rows("at-risk"));
    for (const [i, item] of want.entries()) expect(table[i]!.cells[1]).toBe(hf4(BigInt(item.healthFactor)));

    // Levels: the accounted hub's collateral assets, and the chart of liquidationLevels(protocol: "accounted").
    const ids = d.collateralAssets.map((a) => a.id).sort((a, b) => a - b);
    await until("the accounted protocol's collateral assets", async () =>
      JSON.stringify(await page.$$eval("#levels-asset option", (os) => os.map((o) => Number((o as HTMLOptionElement).value)))) === JSON.stringify(ids) ? true : undefined, 30_000);
    const levels = await until("the levels chart of the accounted protocol at the answer's block", async () => {
      const l = await ponder.gql<{ liquidationLevels: { block: Block; bins: { collateralUsd: string }[] } }>(
        `{ liquidationLevels(protocol: "accounted", assetId: ${ids[0]}, bins: 50, maxDrop: "0.5") { block { number } bins { collateralUsd } } }`,
      );
      const drawn = await page.getAttribute("#levels-chart", "data-protocol");
      const block = await page.getAttribute("#levels-block", "data-block");
      return drawn === "accounted" && block === l.data!.liquidationLevels.block.number ? l.data!.liquidationLevels : undefined;
    }, 30_000);
    expect((await page.getAttribute("#levels-chart", "data-collateral-usd"))!.split(",")).toEqual(levels.bins.map((b) => b.collateralUsd));

    // Recoveries: the accounted hub's liquidations, newest first, paid on the spoke or kept on the hub, counted by state.
    type Take = { takeId: string; state: string; seize: { block: string | null }; packet: { guid: string } | null };
    const rec = await ponder.gql<{ recoveries: { takes: Record<string, number>; recent: Take[] } }>(
      `{ recoveries(protocol: "accounted", first: 20) { takes { taken verified delivered seized failed } recent { takeId state seize { block } packet { guid } } } }`,
    );
    expect(rec.errors).toBeUndefined();
    const { takes, recent } = rec.data!.recoveries;
    expect(takes.seized).toBeGreaterThan(0);
    expect(takes.taken).toBeGreaterThan(0);
    const shown = await until("the recoveries panel of the accounted protocol", async () => {
      const t = await rows("recoveries");
      return (await page.getAttribute("#recovery-states", "data-protocol")) === "accounted" && t.map((x) => x.data.takeId).join() === recent.map((x) => x.takeId).join() ? t : undefined;
    }, 30_000, () => rows("recoveries"));
    for (const [i, x] of recent.entries()) {
      expect(shown[i]!.data, x.takeId).toMatchObject({ state: x.state, seizeBlock: x.seize.block ?? "" });
      expect(shown[i]!.cells[6], x.takeId).toEqual(x.packet === null ? "none: kept on the hub" : expect.any(String));
      expect(shown[i]!.cells[9], x.takeId).toBe(x.packet === null ? "kept on hub" : x.state === "seized" ? "paid" : x.state);
    }
    const count = (state: string) => page.getAttribute(`#recovery-states [data-state="${state}"]`, "data-count").then(Number);
    for (const state of ["taken", "verified", "delivered", "seized", "failed"]) expect(await count(state), state).toBe(takes[state]);
    expect(await page.$$eval('#recovery-states [data-state="auctionsOpen"]', (e) => e.length)).toBe(0);

    // Solvency: the accounted hub's debt assets, reserve and bad debt, as solvency(protocol: "accounted") says.
    const sv = await ponder.gql<{ solvency: { assets: { assetId: number; reserve: string; uncovered: string; writtenOff: string }[] } }>(
      `{ solvency(protocol: "accounted") { assets { assetId reserve uncovered writtenOff } } }`,
    );
    const wantSolvency = sv.data!.solvency.assets.map((a) => ({ assetId: String(a.assetId), reserve: a.reserve, uncovered: a.uncovered, writtenOff: a.writtenOff }));
    await until("the solvency panel of the accounted protocol", async () => {
      const t = (await rows("solvency")).filter((x) => x.data.assetId);
      const shown = t.map((x) => ({ assetId: x.data.assetId, reserve: x.data.reserve, uncovered: x.data.uncovered, writtenOff: x.data.writtenOff }));
      return (await page.getAttribute("#solvency", "data-protocol")) === "accounted" && JSON.stringify(shown) === JSON.stringify(wantSolvency) ? true : undefined;
    }, 30_000, () => rows("solvency"));

    // The feed: every protocol's events, each naming its protocol; the accounted ones are the log's.
    const log = await ponder.gql<{ opportunityEvents: { items: { id: string; protocol: string | null }[] } }>(`{ opportunityEvents(since: "0", first: 500) { items { id protocol } } }`);
    const accountedIds = log.data!.opportunityEvents.items.filter((e) => e.protocol === "accounted").map((e) => e.id);
    expect(accountedIds.length).toBeGreaterThan(0);
    const feed = await until("the feed with every accounted event of the log", async () => {
      const f = await rows("feed");
      const ids = new Set(f.filter((x) => x.data.protocol === "accounted").map((x) => x.data.id));
      return accountedIds.every((id) => ids.has(id)) ? f : undefined;
    }, 30_000);
    for (const row of feed) if (row.data.address) expect(row.cells[3]).toBe(row.data.protocol);
    expect(new Set(feed.map((x) => x.data.protocol).filter(Boolean))).toEqual(new Set(["reference", "accounted"]));

    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.waitForTimeout(1_600); // let the new-row highlight fade
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(open.consoleErrors).toEqual([]);
    expect(open.foreignRequests).toEqual([]);
  }, 120_000);
});
