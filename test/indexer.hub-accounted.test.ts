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
 *   `healthy` one where it came back; what the log says is under 1 at the head is exactly the hub's set there.
 */
import type { Address } from "viem";
import { afterAll, beforeAll, expect, it } from "vitest";
import { accountedHubAbi, hubAbi } from "../abis/index.js";
import { createSalvageClient } from "../src/client/index.js";
import { Rng } from "../src/devnet/rng.js";
import { accountedHealthFactor, seedAccountedBorrowers } from "../src/devnet/seed-hub-accounted.js";
import { seedBorrowers } from "../src/devnet/seed.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { WAD } from "../src/health/wad.js";
import { type AccountedContracts, accountedContracts } from "../src/protocols/hub-accounted/contracts.js";
import { mapLimit } from "../src/util/concurrency.js";
import { type TestNetwork, startTestNetwork } from "./helpers/network.js";
import { type PonderApp, startPonder } from "./helpers/ponder.js";

let net: TestNetwork;
let c: AccountedContracts;
let accounted: Address[];
let reference: Address[];
let ponder: PonderApp;

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
  await hub.request({ method: "evm_increaseTime", params: [365 * 86_400] } as never);
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
  await hub.request({ method: "evm_increaseTime", params: [3_600] } as never);
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
  const r = await ponder.gql<{ opportunityEvents: { items: { id: string; account: string | null; protocol: string | null; kind: string; blockNumber: string; healthFactor: string | null; opportunity: unknown }[] } }>(
    `{ opportunityEvents(since: "0", first: 500) { items { id account protocol kind blockNumber healthFactor opportunity { account } } } }`,
  );
  expect(r.errors).toBeUndefined();
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
    expect(e.opportunity).toBeNull();
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
}, 240_000);
