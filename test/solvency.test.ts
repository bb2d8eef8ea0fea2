/**
 * Protocol solvency where users look — the salvage GraphQL `solvency`, GET /solvency and GET /salvage/metrics —
 * against the hub's own state, on real Ponder over PostgreSQL (a database of its own; PGlite when no server is
 * reachable) indexing a real devnet. Bad debt is made the hub's way: two borrowers (DAI and USDC) whose
 * collateral falls below their debt are taken until no collateral is left, and the hub writes the rest off;
 * the DAI write-off is larger than the DAI reserve (part uncovered), the USDC reserve was topped up
 * (ReserveFunded) and covers its write-off. Written-off totals, the reserve and Hub.badDebt equal the chain to
 * the wei at the block the answer names, and so do the accounts under water (collateral value < debt value).
 * SALVAGE_SOLVENCY_EXAMPLE=FILE writes the last answer there (the README's example comes from it).
 */
import { writeFileSync } from "node:fs";
import { type Address, parseUnits } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubAbi, spokeAbi } from "../abis/index.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { mapLimit } from "../src/util/concurrency.js";
import { fundLiquidator, fundReserve, openPosition, takeUntilWrittenOff } from "./helpers/bad-debt.js";
import { type SeededNetwork, startSeededNetwork } from "./helpers/network.js";
import { type PonderApp, startPonder } from "./helpers/ponder.js";
import { type TestDatabase, createTestDatabase } from "./helpers/database.js";

const USDC = 1;
const DAI = 2;
const WETH = 10;
const usdc = (n: string) => parseUnits(n, 6);
const dai = (n: string) => parseUnits(n, 18);

interface AssetOut {
  assetId: number; symbol: string; decimals: number; writtenOff: string; writtenOffUsd: string; coveredByReserve: string; uncovered: string;
  writeOffs: number; reserve: string; reserveUsd: string | null; underWaterDebt: string; underWaterDebtUsd: string | null;
}
interface SolvencyOut {
  protocol: string;
  block: { chainId: number; number: string; timestamp: string };
  chainBlocks: { chainId: number; number: string; timestamp: string }[];
  assets: AssetOut[];
  writtenOffUsd: string;
  reserveUsd: string;
  underWater: { accounts: number; debtUsd: string; collateralUsd: string; shortfallUsd: string };
}
const QUERY = `{ solvency { protocol block { chainId number timestamp } chainBlocks { chainId number timestamp } writtenOffUsd reserveUsd
  assets { assetId symbol decimals writtenOff writtenOffUsd coveredByReserve uncovered writeOffs reserve reserveUsd underWaterDebt underWaterDebtUsd }
  underWater { accounts debtUsd collateralUsd shortfallUsd } } }`;

let net: SeededNetwork | undefined;
let ponder: PonderApp | undefined;
let database: TestDatabase | undefined;
let borrowers: Address[];
let whale: Address;
let small: Address;


const hubRead = <T>(functionName: string, args: readonly unknown[], blockNumber: bigint) =>
  net!.deployment.hubClients.public.readContract({ address: net!.deployment.hubAddress, abi: hubAbi, functionName, args, blockNumber } as never) as Promise<T>;

async function solvencyAtHead(): Promise<SolvencyOut> {
  const head = await net!.deployment.hubClients.public.getBlockNumber({ cacheTime: 0 });
  await ponder!.indexed(net!.deployment.hub.name, head);
  const r = await ponder!.gql<{ solvency: SolvencyOut }>(QUERY);
  expect(r.errors).toBeUndefined();
  expect(BigInt(r.data!.solvency.block.number)).toBeGreaterThanOrEqual(head);
  return r.data!.solvency;
}

/** What the hub says at `block`: per debt asset its reserve and badDebt, its write-off logs, and the accounts under water. */
async function onchainSolvency(block: bigint) {
  const d = net!.deployment;
  const reader = d.hubClients.public;
  const logs = await reader.getContractEvents({ address: d.hubAddress, abi: hubAbi, eventName: "BadDebtWrittenOff", fromBlock: 0n, toBlock: block });
  const assets = new Map<number, { reserve: bigint; badDebt: bigint; writtenOff: bigint; covered: bigint; writtenOffUsd: bigint; writeOffs: number; reserveUsd: bigint; underWaterDebt: bigint }>();
  for (const a of d.debtAssets) {
    const reserve = await hubRead<bigint>("reserve", [a.id], block);
    const mine = logs.filter((l) => l.args.assetId === a.id);
    let writtenOffUsd = 0n;
    // Each write-off at the hub's price of its own block.
    for (const l of mine) writtenOffUsd += await hubRead<bigint>("valueOf", [a.id, l.args.amount!], l.blockNumber);
    assets.set(a.id, {
      reserve,
      badDebt: await hubRead<bigint>("badDebt", [a.id], block),
      writtenOff: mine.reduce((s, l) => s + l.args.amount!, 0n),
      covered: mine.reduce((s, l) => s + l.args.coveredByReserve!, 0n),
      writtenOffUsd,
      writeOffs: mine.length,
      reserveUsd: await hubRead<bigint>("valueOf", [a.id, reserve], block),
      underWaterDebt: 0n,
    });
  }
  let accounts = 0;
  let debtUsd = 0n;
  let collateralUsd = 0n;
  const datas = await mapLimit(borrowers, 8, async (account) => [account, await hubRead<readonly bigint[]>("accountData", [account], block)] as const);
  for (const [account, [collateralValue, , , debtValue]] of datas) {
    if (!(collateralValue! < debtValue!)) continue;
    accounts++;
    debtUsd += debtValue!;
    collateralUsd += collateralValue!;
    for (const a of d.debtAssets) assets.get(a.id)!.underWaterDebt += await hubRead<bigint>("debt", [account, a.id], block);
  }
  return { assets, logs, underWater: { accounts, debtUsd, collateralUsd } };
}

/** The GraphQL answer equals the hub at the block it names, to the wei. */
async function expectEqualsHub(s: SolvencyOut) {
  expect(s.protocol).toBe("reference");
  const block = BigInt(s.block.number);
  const chain = await onchainSolvency(block);
  const d = net!.deployment;
  expect(s.assets.map((a) => a.assetId)).toEqual(d.debtAssets.map((a) => a.id).sort((x, y) => x - y));
  for (const a of s.assets) {
    const c = chain.assets.get(a.assetId)!;
    const asset = d.asset(a.assetId);
    expect({ symbol: a.symbol, decimals: a.decimals }).toEqual({ symbol: asset.symbol, decimals: asset.decimals });
    expect({
      writtenOff: a.writtenOff, writtenOffUsd: a.writtenOffUsd, coveredByReserve: a.coveredByReserve, uncovered: a.uncovered,
      writeOffs: a.writeOffs, reserve: a.reserve, reserveUsd: a.reserveUsd, underWaterDebt: a.underWaterDebt,
    }, asset.symbol).toEqual({
      writtenOff: c.writtenOff.toString(), writtenOffUsd: c.writtenOffUsd.toString(), coveredByReserve: c.covered.toString(), uncovered: c.badDebt.toString(),
      writeOffs: c.writeOffs, reserve: c.reserve.toString(), reserveUsd: c.reserveUsd.toString(), underWaterDebt: c.underWaterDebt.toString(),
    });
    expect(a.underWaterDebtUsd).toBe((await hubRead<bigint>("valueOf", [a.assetId, c.underWaterDebt], block)).toString());
  }
  expect(s.writtenOffUsd).toBe([...chain.assets.values()].reduce((x, c) => x + c.writtenOffUsd, 0n).toString());
  expect(s.reserveUsd).toBe([...chain.assets.values()].reduce((x, c) => x + c.reserveUsd, 0n).toString());
  expect(s.underWater).toEqual({
    accounts: chain.underWater.accounts,
    debtUsd: chain.underWater.debtUsd.toString(),
    collateralUsd: chain.underWater.collateralUsd.toString(),
    shortfallUsd: (chain.underWater.debtUsd - chain.underWater.collateralUsd).toString(),
  });
  return chain;
}

beforeAll(async () => {
  net = await startSeededNetwork({ accounts: 16, seed: 29 });
  // $3M of WETH against $2.2M of DAI (HF 1.16), and $30k of WETH against $20k of USDC (HF 1.275).
  whale = await openPosition(net, { collateralAssetId: WETH, collateral: parseUnits("1000", 18), debtAssetId: DAI, debt: dai("2200000") });
  small = await openPosition(net, { collateralAssetId: WETH, collateral: parseUnits("10", 18), debtAssetId: USDC, debt: usdc("20000") });
  await fundReserve(net, USDC, usdc("5000"));
  borrowers = [...net.accounts, whale, small];
  net.network.manifest.accounts = borrowers;
  ponder = await startPonder({ manifest: net.network.manifest, databaseUrl: (database = createTestDatabase("solvency"))?.url });
}, 400_000);

afterAll(async () => {
  await ponder?.stop();
  await net?.stop();
  database?.drop();
}, 60_000);

describe("solvency", () => {
  it("before any loss: nothing written off, the reserves as funded, nobody under water", async () => {
    const s = await solvencyAtHead();
    await expectEqualsHub(s);
    for (const a of s.assets) expect([a.writtenOff, a.uncovered, a.writeOffs]).toEqual(["0", "0", 0]);
    // The devnet funds 1,000,000 of each debt asset; this test added 5,000 USDC (ReserveFunded).
    expect(s.assets.find((a) => a.assetId === USDC)!.reserve).toBe(usdc("1005000").toString());
    expect(s.assets.find((a) => a.assetId === DAI)!.reserve).toBe(dai("1000000").toString());
    expect(s.underWater).toEqual({ accounts: 0, debtUsd: "0", collateralUsd: "0", shortfallUsd: "0" });
  });

  it("after WETH falls to $1,000: the accounts under water and their debt equal the hub's", async () => {
    const d = net!.deployment;
    await new MarketSimulator(d, net!.rng).applyAnswers(new Map([[WETH, 1_000n * 10n ** 8n]]));
    const s = await solvencyAtHead();
    const chain = await expectEqualsHub(s);
    // The two positions opened here are under water, with all of their debt.
    expect(chain.underWater.accounts).toBeGreaterThanOrEqual(2);
    expect(BigInt(s.assets.find((a) => a.assetId === DAI)!.underWaterDebt)).toBeGreaterThanOrEqual(dai("2200000"));
    expect(BigInt(s.assets.find((a) => a.assetId === USDC)!.underWaterDebt)).toBeGreaterThanOrEqual(usdc("20000"));
    expect(BigInt(s.underWater.shortfallUsd)).toBeGreaterThan(0n);
  });

  it("after both are taken until their collateral is gone: written off, covered and uncovered, reserve equal the hub's to the wei", async () => {
    await fundLiquidator(net!, DAI, dai("3000000"));
    await fundLiquidator(net!, USDC, usdc("30000"));
    await takeUntilWrittenOff(net!, whale);
    await takeUntilWrittenOff(net!, small);
    await net!.deliverer.drain();
    const s = await solvencyAtHead();
    const chain = await expectEqualsHub(s);
    expect(chain.logs.map((l) => [l.args.account, l.args.assetId])).toEqual([[whale, DAI], [small, USDC]]);
    // DAI: more written off than the 1,000,000 reserve held: the reserve is empty and the rest is Hub.badDebt.
    const daiOut = s.assets.find((a) => a.assetId === DAI)!;
    expect(daiOut.reserve).toBe("0");
    expect(daiOut.coveredByReserve).toBe(dai("1000000").toString());
    expect(BigInt(daiOut.uncovered)).toBeGreaterThan(0n);
    expect(BigInt(daiOut.writtenOff)).toBe(BigInt(daiOut.coveredByReserve) + BigInt(daiOut.uncovered));
    // USDC: the reserve covered all of it.
    const usdcOut = s.assets.find((a) => a.assetId === USDC)!;
    expect(usdcOut.uncovered).toBe("0");
    expect(BigInt(usdcOut.reserve)).toBe(usdc("1005000") - BigInt(usdcOut.writtenOff));
    expect(BigInt(s.writtenOffUsd)).toBeGreaterThan(0n);
    // Written off, they are no longer under water.
    const still = await mapLimit([whale, small], 2, (a) => hubRead<readonly bigint[]>("accountData", [a], BigInt(s.block.number)));
    for (const [c, , , debtValue] of still) expect([c, debtValue]).toEqual([0n, 0n]);

    if (process.env.SALVAGE_SOLVENCY_EXAMPLE) writeFileSync(process.env.SALVAGE_SOLVENCY_EXAMPLE, JSON.stringify({ data: { solvency: s } }, null, 2));
    // REST: the same figures.
    const rest = (await (await ponder!.api("/solvency")).json()) as SolvencyOut;
    // The same hub block and figures; a spoke may have indexed a block more in between (a delivery), so of
    // `chainBlocks` only the hub's is compared, and the REST answer must still name every chain.
    const hubOnly = (x: SolvencyOut) => ({ ...x, chainBlocks: x.chainBlocks.filter((c) => c.chainId === Number(x.block.chainId)) });
    expect(hubOnly(rest)).toEqual(hubOnly(s));
    expect(rest.chainBlocks.map((c) => c.chainId)).toEqual(s.chainBlocks.map((c) => c.chainId));

    // Metrics: the same figures as float samples, per debt asset, without per-account labels.
    const text = await (await ponder!.api("/salvage/metrics")).text();
    const sample = (name: string, labels = "") => {
      const line = text.split("\n").find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ""} `) || (labels === "" && l.startsWith(`${name} `)));
      expect(line, `${name}{${labels}} in\n${text.slice(0, 3000)}`).toBeDefined();
      return Number(line!.split(" ").at(-1));
    };
    for (const a of s.assets) {
      const labels = `asset="${a.symbol}",asset_id="${a.assetId}",decimals="${a.decimals}"`;
      expect(sample("salvage_bad_debt_written_off_total", labels)).toBe(Number(BigInt(a.writtenOff)));
      expect(sample("salvage_bad_debt_uncovered_total", labels)).toBe(Number(BigInt(a.uncovered)));
      expect(sample("salvage_reserve", labels)).toBe(Number(BigInt(a.reserve)));
      expect(sample("salvage_underwater_debt", labels)).toBe(Number(BigInt(a.underWaterDebt)));
    }
    expect(sample("salvage_bad_debt_written_off_usd_total")).toBeCloseTo(Number(BigInt(s.writtenOffUsd) / 10n ** 12n) / 1e6, 2);
    expect(sample("salvage_underwater_accounts")).toBe(s.underWater.accounts);
    expect(sample("salvage_underwater_shortfall_usd")).toBeCloseTo(Number(BigInt(s.underWater.shortfallUsd) / 10n ** 12n) / 1e6, 2);
    expect(text).not.toMatch(/account="/);
    expect(text).toMatch(/# TYPE salvage_bad_debt_written_off_total counter/);
  });

  it("every take's liquidation carries its spoke's Seized block, live and in a fresh index (where a spoke's Seized can be indexed before the hub's Take)", async () => {
    const d = net!.deployment;
    const takes = await d.hubClients.public.getContractEvents({ address: d.hubAddress, abi: hubAbi, eventName: "Take", fromBlock: 0n });
    const ours = takes.filter((t) => [whale, small].includes(t.args.account!));
    expect(ours.length).toBeGreaterThan(1);
    const seizedAt = new Map<string, string>();
    for (const spoke of d.spokes) {
      const logs = await d.clients(spoke).public.getContractEvents({ address: spoke.contracts.spoke!, abi: spokeAbi, eventName: "Seized", fromBlock: 0n });
      for (const l of logs) seizedAt.set(l.args.takeId!.toString(), l.blockNumber.toString());
    }
    const expected = Object.fromEntries(ours.map((t) => [t.args.takeId!.toString(), seizedAt.get(t.args.takeId!.toString()) ?? null]));
    expect(Object.values(expected).every((b) => b !== null), JSON.stringify(expected)).toBe(true);
    const served = async (app: PonderApp) => {
      const q = `query($a: String!) { account(address: $a) { liquidations { takeId seizedBlock } } }`;
      const out: Record<string, string | null> = {};
      for (const a of [whale, small]) {
        const r = await app.gql<{ account: { liquidations: { takeId: string; seizedBlock: string | null }[] } }>(q, { a });
        expect(r.errors).toBeUndefined();
        for (const l of r.data!.account.liquidations) out[l.takeId] = l.seizedBlock;
      }
      return out;
    };
    for (const spoke of d.spokes) await ponder!.indexed(spoke.name, await d.clients(spoke).public.getBlockNumber({ cacheTime: 0 }));
    expect(await served(ponder!)).toEqual(expected);
    // A fresh index backfills every chain on its own: the spokes, with few events, often run ahead of the hub.
    const fresh = await startPonder({ manifest: net!.network.manifest, databaseUrl: database?.url });
    try {
      for (const c of d.manifest.chains) await fresh.indexed(c.name, await d.clients(c).public.getBlockNumber({ cacheTime: 0 }));
      expect(await served(fresh)).toEqual(expected);
    } finally {
      await fresh.stop();
    }
  });
});
