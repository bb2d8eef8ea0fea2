/**
 * Property: the hub-accounted money market's TypeScript math (src/protocols/hub-accounted/math.ts) equals the
 * deployed AccountedHub's to the wei, with interest accruing: ~60 seeded borrowers (1-3 collateral positions
 * across both spokes, USDC or DAI debt), then random time jumps (seconds to a year), interest-rate changes,
 * borrows and repays that accrue the stored index at different times, and random price vectors. Compared at the
 * same block: accountData for every account, the borrow index, each debt, the scaled-debt change of every borrow
 * and repay, previewLiquidation (and real liquidations), and an account that interest alone makes liquidatable.
 */
import fc from "fast-check";
import { type Account, type Address, type ContractFunctionArgs, type ContractFunctionName, type TransactionReceipt, getAddress, keccak256, parseEventLogs, toHex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accountedHubAbi, accountedSpokeAbi, priceFeedAbi, testTokenAbi } from "../abis/index.js";
import { confirm, serialized, write } from "../src/chains/tx.js";
import { borrowerAddress, devnetAccounts } from "../src/devnet/accounts.js";
import { HUB_ACCOUNTED_LIQUIDATION, HUB_ACCOUNTED_RATES, ratePerSecondRay } from "../src/devnet/deploy-hub-accounted.js";
import { ASSETS, type AssetSpec, COLLATERAL_ASSETS, DEBT_ASSETS, FEED_DECIMALS, HEARTBEAT_SECONDS, assetById } from "../src/devnet/market.js";
import { type Network, createDevnetDeliverer, startNetwork } from "../src/devnet/network.js";
import { Rng } from "../src/devnet/rng.js";
import type { HubAccountedManifest, ManifestChain } from "../src/deployment/manifest.js";
import { type AccountData, type CollateralPosition, type FeedRound, accountData, checkedPriceWad, priceToWad } from "../src/health/health.js";
import { MAX_UINT256, RAY, WAD, minBig, mulDiv, unit } from "../src/health/wad.js";
import type { PacketDeliverer } from "../src/layerzero/deliverer.js";
import { fundGas } from "../src/protocol/actions.js";
import { Deployment } from "../src/protocol/deployment.js";
import {
  type AccountedDebtPosition,
  type BorrowRate,
  type LiquidationQuoteInput,
  accountedAccountData,
  accrue,
  closeFactorFor,
  debtOf,
  indexAt,
  previewLiquidation,
  quoteLiquidation,
  scaledForBorrow,
  scaledForRepay,
} from "../src/protocols/hub-accounted/math.js";
import { mapLimit } from "../src/util/concurrency.js";

const BORROWERS = 60;
const SEED = 4_242;
const YEAR = 31_536_000;

let network: Network;
let deployment: Deployment;
let deliverer: PacketDeliverer;
let protocol: HubAccountedManifest;
let hub: Address;
let accounts: Address[];
/** The hub's collateral markets and debt assets, in its own order (collateralMarkets, debtAssetIds). */
let markets: { eid: number; assetId: number }[];
let debtIds: number[];
/** Each asset as the hub lists it (AccountedHub.assets) and its feed's decimals. */
let listed: Map<number, { feed: Address; decimals: number; ltv: bigint; liquidationThreshold: bigint; heartbeat: bigint; feedDecimals: number }>;
let liquidator: Address;
const setupMs: Record<string, number> = {};

const reader = () => deployment.hubClients.public;
const asDeployer = () => deployment.hubClients.wallet(devnetAccounts.deployer);
const marketKey = (eid: number, assetId: number) => `${eid}:${assetId}`;
const rpc = (method: string, params: unknown[] = []) => reader().request({ method, params } as never);

/** One multicall on the hub chain at `blockNumber`, every call required to succeed. */
async function readAll(calls: { address: Address; abi: unknown; functionName: string; args?: readonly unknown[] }[], blockNumber: bigint): Promise<unknown[]> {
  return (await reader().multicall({ contracts: calls as never, allowFailure: false, blockNumber })) as unknown[];
}

// ------------------------------------------------------------------ reads at a block

/** What the hub's math reads that is not an account's: the block's timestamp, each debt asset's rate, each feed's round. */
interface World {
  block: bigint;
  timestamp: bigint;
  rates: Map<number, BorrowRate>;
  rounds: Map<number, FeedRound>;
  /** AccountedHub.currentIndex at the block, for comparison. */
  currentIndex: Map<number, bigint>;
}

async function readWorld(block: bigint): Promise<World> {
  const [header, values] = await Promise.all([
    reader().getBlock({ blockNumber: block }),
    readAll(
      [
        ...debtIds.map((id) => ({ address: hub, abi: accountedHubAbi, functionName: "rates", args: [id] })),
        ...debtIds.map((id) => ({ address: hub, abi: accountedHubAbi, functionName: "currentIndex", args: [id] })),
        ...ASSETS.map((a) => ({ address: listed.get(a.id)!.feed, abi: priceFeedAbi, functionName: "latestRoundData" })),
      ],
      block,
    ),
  ]);
  const n = debtIds.length;
  const rates = new Map(
    debtIds.map((id, i) => {
      const [index, ratePerSecond, lastUpdate] = values[i] as readonly [bigint, bigint, bigint];
      return [id, { index, ratePerSecond, lastUpdate }] as const;
    }),
  );
  const currentIndex = new Map(debtIds.map((id, i) => [id, values[n + i] as bigint] as const));
  const rounds = new Map(
    ASSETS.map((a, i) => {
      const [, answer, , updatedAt] = values[2 * n + i] as readonly [bigint, bigint, bigint, bigint, bigint];
      return [a.id, { answer, updatedAt }] as const;
    }),
  );
  return { block, timestamp: header.timestamp, rates, rounds, currentIndex };
}

/** AccountedHub.priceWad of every asset at `timestamp` (the TS rule: health.ts's checkedPriceWad). */
function pricesAt(world: World, timestamp = world.timestamp): Map<number, bigint> {
  return new Map(
    ASSETS.map((a) => {
      const l = listed.get(a.id)!;
      return [a.id, checkedPriceWad(a.id, world.rounds.get(a.id)!, l.feedDecimals, l.heartbeat, timestamp)] as const;
    }),
  );
}

/** An account's hub positions at a block, and what the hub says of it there. */
interface AccountRead {
  account: Address;
  collateral: Map<string, bigint>;
  scaled: Map<number, bigint>;
  onchain: { data: readonly bigint[]; debtOf: Map<number, bigint> };
}

async function readAccount(account: Address, block: bigint): Promise<AccountRead> {
  const values = await readAll(
    [
      ...markets.map((m) => ({ address: hub, abi: accountedHubAbi, functionName: "collateral", args: [account, m.eid, m.assetId] })),
      ...debtIds.map((id) => ({ address: hub, abi: accountedHubAbi, functionName: "scaledDebt", args: [account, id] })),
      ...debtIds.map((id) => ({ address: hub, abi: accountedHubAbi, functionName: "debtOf", args: [account, id] })),
      { address: hub, abi: accountedHubAbi, functionName: "accountData", args: [account] },
    ],
    block,
  );
  const m = markets.length;
  const n = debtIds.length;
  return {
    account,
    collateral: new Map(markets.map((x, i) => [marketKey(x.eid, x.assetId), values[i] as bigint] as const)),
    scaled: new Map(debtIds.map((id, i) => [id, values[m + i] as bigint] as const)),
    onchain: {
      debtOf: new Map(debtIds.map((id, i) => [id, values[m + n + i] as bigint] as const)),
      data: values[m + 2 * n] as readonly bigint[],
    },
  };
}

const readAccounts = (block: bigint, which: readonly Address[] = accounts) => mapLimit(which, 16, (a) => readAccount(a, block));

/** The TypeScript accountData of positions read at a block, at `timestamp` (the block's unless told). */
function tsAccountData(acc: AccountRead, world: World, timestamp = world.timestamp): AccountData {
  const prices = pricesAt(world, timestamp);
  const collateral: CollateralPosition[] = markets.map((m) => {
    const l = listed.get(m.assetId)!;
    return { amount: acc.collateral.get(marketKey(m.eid, m.assetId))!, priceWad: prices.get(m.assetId)!, decimals: l.decimals, ltv: l.ltv, liquidationThreshold: l.liquidationThreshold };
  });
  const debt: AccountedDebtPosition[] = debtIds.map((id) => ({ scaledDebt: acc.scaled.get(id)!, rate: world.rates.get(id)!, priceWad: prices.get(id)!, decimals: listed.get(id)!.decimals }));
  return accountedAccountData(collateral, debt, timestamp);
}

const tuple = (d: AccountData) => [d.collateralValue, d.thresholdValue, d.borrowPower, d.debtValue, d.healthFactor];

/** Every account at `block`: TS accountData, debtOf and indexAt equal the hub's. Returns the reads. */
async function expectAllEqual(block: bigint): Promise<{ world: World; reads: AccountRead[] }> {
  const [world, reads] = await Promise.all([readWorld(block), readAccounts(block)]);
  for (const id of debtIds) expect(indexAt(world.rates.get(id)!, world.timestamp)).toBe(world.currentIndex.get(id));
  for (const acc of reads) {
    expect({ account: acc.account, data: tuple(tsAccountData(acc, world)) }).toEqual({ account: acc.account, data: [...acc.onchain.data] });
    for (const id of debtIds) expect(debtOf(acc.scaled.get(id)!, world.currentIndex.get(id)!)).toBe(acc.onchain.debtOf.get(id));
  }
  return { world, reads };
}

// ------------------------------------------------------------------ writes

type HubWrite = ContractFunctionName<typeof accountedHubAbi, "nonpayable" | "payable">;

/**
 * A hub transaction with a fixed gas limit, confirmed. Not `write()`'s estimate: an estimate made in a block whose
 * timestamp the debt asset's index was already accrued at skips _accrue's two stores and its event, and the
 * transaction, mined a second later, accrues and runs out of gas (seen seeding: borrows used 202,779 of 203,077).
 */
async function hubWrite<F extends HubWrite>(from: Account | Address, functionName: F, args: ContractFunctionArgs<typeof accountedHubAbi, "nonpayable" | "payable", F>): Promise<TransactionReceipt> {
  const wallet = deployment.hubClients.wallet(from);
  const hash = await serialized(wallet, () => wallet.writeContract({ address: hub, abi: accountedHubAbi, functionName, args, gas: 1_500_000n } as never));
  return confirm(reader(), hash, `${functionName} on ${hub}`, undefined, accountedHubAbi);
}

/** A price vector: each asset's answer as a multiple (in bps) of its opening price. */
const priceVector = (collateral: { min: number; max: number }) =>
  fc.record(Object.fromEntries(ASSETS.map((a) => [a.id, a.kind === "debt" ? fc.integer({ min: 9_500, max: 10_500 }) : fc.integer(collateral)])));

async function applyPrices(vector: Record<string, number>): Promise<void> {
  for (const asset of ASSETS) {
    const answer = (asset.initialAnswer * BigInt(vector[asset.id]!)) / 10_000n;
    await write(asDeployer(), reader(), { address: listed.get(asset.id)!.feed, abi: priceFeedAbi, functionName: "updateAnswer", args: [answer > 0n ? answer : 1n] });
  }
}

async function jump(seconds: number): Promise<void> {
  await rpc("evm_increaseTime", [seconds]);
  await rpc("evm_mine");
}

/** The hub's stored rate and an account's scaled debt at the end of `block`. */
async function debtState(account: Address, assetId: number, block: bigint): Promise<{ rate: BorrowRate; scaled: bigint }> {
  const [rate, scaled] = await readAll(
    [
      { address: hub, abi: accountedHubAbi, functionName: "rates", args: [assetId] },
      { address: hub, abi: accountedHubAbi, functionName: "scaledDebt", args: [account, assetId] },
    ],
    block,
  );
  const [index, ratePerSecond, lastUpdate] = rate as readonly [bigint, bigint, bigint];
  return { rate: { index, ratePerSecond, lastUpdate }, scaled: scaled as bigint };
}

/**
 * A hub write that changes `account`'s debt, checked against the TS mirror: the stored rate after it is
 * accrue(rate before, the block's timestamp), and the scaled debt moves by `expectedScaled(...)` at that index.
 */
async function checkedDebtWrite(
  account: Address,
  assetId: number,
  send: () => Promise<TransactionReceipt>,
  expectedScaled: (scaledBefore: bigint, index: bigint) => { scaledAfter: bigint; amountDelta: bigint },
): Promise<void> {
  const receipt = await send();
  const [header, before, after] = await Promise.all([
    reader().getBlock({ blockNumber: receipt.blockNumber }),
    debtState(account, assetId, receipt.blockNumber - 1n),
    debtState(account, assetId, receipt.blockNumber),
  ]);
  const accrued = accrue(before.rate, header.timestamp);
  expect(after.rate).toEqual(accrued);
  const expected = expectedScaled(before.scaled, accrued.index);
  expect(after.scaled).toBe(expected.scaledAfter);
  const [event] = parseEventLogs({ abi: accountedHubAbi, logs: receipt.logs, eventName: "DebtUpdated" });
  expect(event?.args).toMatchObject({ account, assetId, scaledBalance: expected.scaledAfter, amountDelta: expected.amountDelta, index: accrued.index });
}

let repayer: Address;

/**
 * A third party repays `assetId` debt of an account (read at `world`'s block) so that its HF comes to about
 * `targetHf`, checked by checkedDebtWrite (all of that debt when it is not enough). False when the account is
 * at or above the target already, or owes none of the asset.
 */
async function repayTo(acc: AccountRead, world: World, assetId: number, targetHf: bigint): Promise<"partial" | "full" | false> {
  const data = tsAccountData(acc, world);
  if (data.healthFactor >= targetHf || acc.scaled.get(assetId)! === 0n) return false;
  const excess = data.debtValue - mulDiv(data.thresholdValue, WAD, targetHf);
  const amount = mulDiv(excess, unit(listed.get(assetId)!.decimals), pricesAt(world).get(assetId)!) + 1n;
  let full = false;
  await checkedDebtWrite(
    acc.account,
    assetId,
    () => hubWrite(repayer, "repay", [assetId, amount, acc.account]),
    (scaled, index) => {
      const r = scaledForRepay(scaled, amount, index);
      full = r.scaledRepaid === scaled;
      return { scaledAfter: scaled - r.scaledRepaid, amountDelta: -r.repaid };
    },
  );
  return full ? "full" : "partial";
}

// ------------------------------------------------------------------ setup

interface PlannedBorrower {
  address: Address;
  deposits: { spoke: ManifestChain; asset: AssetSpec; amount: bigint }[];
  targetHfBps: bigint;
  debtAssetId: number;
}

async function seed(): Promise<Address[]> {
  const rng = new Rng(SEED);
  const openingPrice = (a: AssetSpec) => priceToWad(a.initialAnswer, FEED_DECIMALS);
  const choices = deployment.spokes.flatMap((spoke) => COLLATERAL_ASSETS.map((asset) => ({ spoke, asset })));
  const plans: PlannedBorrower[] = Array.from({ length: BORROWERS }, (_, i) => ({
    address: borrowerAddress(SEED, i),
    deposits: rng.sample(choices, rng.int(1, 3)).map(({ spoke, asset }) => ({
      spoke,
      asset,
      amount: mulDiv(BigInt(rng.int(1_000, 200_000)) * WAD, unit(asset.decimals), openingPrice(asset)),
    })),
    targetHfBps: BigInt(rng.int(11_000, 25_000)),
    debtAssetId: rng.pick(DEBT_ASSETS).id,
  }));
  let mark = Date.now();
  const phase = (name: string) => {
    setupMs[name] = Date.now() - mark;
    mark = Date.now();
  };
  await mapLimit(plans, 16, (b) => fundGas(deployment, b.address));
  const fees = new Map(
    await Promise.all(
      deployment.spokes.map(async (s) => [s.name, await deployment.clients(s).public.readContract({ address: protocol.contracts[s.name]!.address, abi: accountedSpokeAbi, functionName: "quoteDeposit" })] as const),
    ),
  );
  phase("gas");
  // Mints are the deployer's (one nonce at a time per chain); approvals and deposits are each borrower's own.
  await mapLimit(plans, 24, async (b) => {
    for (const d of b.deposits) {
      const { public: spokeReader, wallet } = deployment.clients(d.spoke);
      const token = d.spoke.tokens[String(d.asset.id)]!;
      const spoke = protocol.contracts[d.spoke.name]!.address;
      await write(wallet(devnetAccounts.deployer), spokeReader, { address: token, abi: testTokenAbi, functionName: "mint", args: [b.address, d.amount] });
      await write(wallet(b.address), spokeReader, { address: token, abi: testTokenAbi, functionName: "approve", args: [spoke, d.amount] });
      await write(wallet(b.address), spokeReader, { address: spoke, abi: accountedSpokeAbi, functionName: "deposit", args: [d.asset.id, d.amount], value: fees.get(d.spoke.name)! });
    }
  });
  phase("deposits");
  await deliverer.drain(120_000);
  phase("delivery");
  const credited = await readAccounts(await reader().getBlockNumber(), plans.map((b) => b.address));
  credited.forEach((acc, i) => {
    const expected = new Map(markets.map((m) => [marketKey(m.eid, m.assetId), 0n]));
    for (const d of plans[i]!.deposits) expected.set(marketKey(d.spoke.eid, d.asset.id), d.amount);
    expect(acc.collateral).toEqual(expected);
  });
  await mapLimit(plans, 16, async (b) => {
    const collateral = b.deposits.map((d) => ({ amount: d.amount, priceWad: openingPrice(d.asset), decimals: d.asset.decimals, ltv: d.asset.ltv, liquidationThreshold: d.asset.liquidationThreshold }));
    const data = accountData(collateral, []);
    const byHf = mulDiv(data.thresholdValue, 10_000n, b.targetHfBps);
    const byLtv = mulDiv(data.borrowPower, 999n, 1_000n);
    const debt = assetById(b.debtAssetId);
    const amount = mulDiv(byHf < byLtv ? byHf : byLtv, unit(debt.decimals), openingPrice(debt));
    await hubWrite(b.address, "borrow", [debt.id, amount]);
  });
  phase("borrows");
  return plans.map((b) => b.address);
}

/** A fresh funded address holding `tokens` whole units of each debt asset on the hub, the hub approved to take them. */
async function payer(tag: string, tokens: bigint): Promise<Address> {
  const account = getAddress(`0x${keccak256(toHex(`hub-accounted-math-${tag}`)).slice(26)}`);
  await fundGas(deployment, account);
  for (const a of DEBT_ASSETS) {
    const token = deployment.hub.tokens[String(a.id)]!;
    await write(asDeployer(), reader(), { address: token, abi: testTokenAbi, functionName: "mint", args: [account, tokens * unit(a.decimals)] });
    await write(deployment.hubClients.wallet(account), reader(), { address: token, abi: testTokenAbi, functionName: "approve", args: [hub, MAX_UINT256] });
  }
  return account;
}

beforeAll(async () => {
  const started = Date.now();
  network = await startNetwork({ spokes: 2, hubAccounted: true });
  setupMs.network = Date.now() - started;
  deployment = new Deployment(network.manifest);
  deliverer = createDevnetDeliverer(network.manifest, { retryBaseMs: 50, retryMaxMs: 400 });
  protocol = network.manifest.protocols[0]!;
  hub = protocol.contracts[deployment.hub.name]!.address;

  const counts = await readAll(
    [
      { address: hub, abi: accountedHubAbi, functionName: "collateralMarketCount" },
      { address: hub, abi: accountedHubAbi, functionName: "debtAssetCount" },
    ],
    await reader().getBlockNumber(),
  );
  const block = await reader().getBlockNumber();
  const m = await readAll(Array.from({ length: Number(counts[0]) }, (_, i) => ({ address: hub, abi: accountedHubAbi, functionName: "collateralMarkets", args: [BigInt(i)] })), block);
  markets = m.map((x) => {
    const [eid, assetId] = x as readonly [number, number];
    return { eid, assetId };
  });
  debtIds = (await readAll(Array.from({ length: Number(counts[1]) }, (_, i) => ({ address: hub, abi: accountedHubAbi, functionName: "debtAssetIds", args: [BigInt(i)] })), block)) as number[];
  const assets = await readAll(ASSETS.map((a) => ({ address: hub, abi: accountedHubAbi, functionName: "assets", args: [a.id] })), block);
  const feedDecimals = await readAll(
    assets.map((x) => ({ address: (x as readonly [Address])[0], abi: priceFeedAbi, functionName: "decimals" })),
    block,
  );
  listed = new Map(
    ASSETS.map((a, i) => {
      const [feed, , decimals, , ltv, liquidationThreshold, heartbeat] = assets[i] as readonly [Address, bigint, number, Address, bigint, bigint, number, boolean];
      return [a.id, { feed, decimals, ltv, liquidationThreshold, heartbeat: BigInt(heartbeat), feedDecimals: Number(feedDecimals[i]) }] as const;
    }),
  );
  accounts = await seed();
  const t = Date.now();
  [repayer, liquidator] = [await payer("repayer", 10n ** 12n), await payer("liquidator", 10n ** 12n)];
  setupMs.payers = Date.now() - t;
  setupMs.total = Date.now() - started;
  console.log(`[hub-accounted math] setup ${JSON.stringify(setupMs)} ms`);
}, 240_000);

afterAll(async () => {
  await deliverer?.stop();
  await network?.stop();
});

// ------------------------------------------------------------------ tests

describe("hub-accounted TypeScript math against the AccountedHub", () => {
  it("deploys the market the TS math is given and seeds the book it claims", async () => {
    // The hub is listed as the devnet says (the TS math takes these parameters from the hub's own reads).
    for (const a of ASSETS) {
      expect(listed.get(a.id)).toMatchObject({ decimals: a.decimals, ltv: a.ltv, liquidationThreshold: a.liquidationThreshold, heartbeat: BigInt(HEARTBEAT_SECONDS), feedDecimals: FEED_DECIMALS });
    }
    expect(debtIds).toEqual(DEBT_ASSETS.map((a) => a.id));
    expect(markets).toHaveLength(deployment.spokes.length * COLLATERAL_ASSETS.length);
    const params = await reader().readContract({ address: hub, abi: accountedHubAbi, functionName: "liquidationParams" });
    expect([...params]).toEqual([HUB_ACCOUNTED_LIQUIDATION.closeFactor, HUB_ACCOUNTED_LIQUIDATION.fullCloseBelowHf, HUB_ACCOUNTED_LIQUIDATION.bonus]);
    expect(protocol.liquidation).toEqual(HUB_ACCOUNTED_LIQUIDATION);

    const { reads } = await expectAllEqual(await reader().getBlockNumber());
    expect(reads).toHaveLength(BORROWERS);
    const held = reads.map((r) => [...r.collateral.values()].filter((x) => x > 0n).length);
    expect(Math.min(...held)).toBeGreaterThanOrEqual(1);
    expect(new Set(held).size).toBe(3);
    for (const id of debtIds) expect(reads.filter((r) => r.scaled.get(id)! > 0n).length).toBeGreaterThan(0);
    for (const s of deployment.spokes) expect(reads.filter((r) => markets.some((m) => m.eid === s.eid && r.collateral.get(marketKey(m.eid, m.assetId))! > 0n)).length).toBeGreaterThan(0);
    // Borrowed to a target HF of 1.1-2.5 (or the LTV cap) a few blocks ago: every account is healthy.
    const hfs = reads.map((r) => r.onchain.data[4]!);
    expect(hfs.every((hf) => hf >= WAD && hf < (26n * WAD) / 10n)).toBe(true);
  });

  it("accountData, indexAt and debtOf equal the hub's at every step of time jumps, rate changes, borrows, repays and price moves", async () => {
    const seen = { borrows: 0, repays: 0, fullRepays: 0, heals: 0, rateChanges: 0, jumpsOverADay: 0, liquidatable: 0, healthy: 0 };
    const step = fc.record({
      seconds: fc.oneof(fc.integer({ min: 1, max: 3_600 }), fc.integer({ min: 3_600, max: 30 * 86_400 }), fc.integer({ min: 30 * 86_400, max: YEAR })),
      prices: priceVector({ min: 4_000, max: 20_000 }),
      rate: fc.option(fc.record({ assetId: fc.constantFrom(...DEBT_ASSETS.map((a) => a.id)), yearlyBps: fc.integer({ min: 0, max: 15_000 }) }), { nil: undefined, freq: 2 }),
      moves: fc.array(
        fc.record({
          account: fc.nat({ max: BORROWERS - 1 }),
          assetId: fc.constantFrom(...DEBT_ASSETS.map((a) => a.id)),
          kind: fc.constantFrom("borrow", "repay", "heal"),
          bps: fc.integer({ min: 1, max: 12_000 }),
          /** "heal": repay down to this HF (bps), so that the book keeps healthy accounts however much interest accrued. */
          hfBps: fc.integer({ min: 9_000, max: 25_000 }),
        }),
        { maxLength: 5 },
      ),
      futures: fc.array(fc.integer({ min: 0, max: 2 * YEAR }), { minLength: 2, maxLength: 2 }),
    });
    await fc.assert(
      fc.asyncProperty(step, async (s) => {
        await jump(s.seconds);
        if (s.seconds > HEARTBEAT_SECONDS) seen.jumpsOverADay++;
        await applyPrices(s.prices); // fresh again after the jump
        if (s.rate) {
          const ratePerSecond = ratePerSecondRay((BigInt(s.rate.yearlyBps) * WAD) / 10_000n);
          const receipt = await hubWrite(devnetAccounts.deployer, "setInterestRate", [s.rate.assetId, ratePerSecond]);
          const [header, before, after] = await Promise.all([
            reader().getBlock({ blockNumber: receipt.blockNumber }),
            readWorld(receipt.blockNumber - 1n),
            readWorld(receipt.blockNumber),
          ]);
          expect(after.rates.get(s.rate.assetId)).toEqual({ ...accrue(before.rates.get(s.rate.assetId)!, header.timestamp), ratePerSecond });
          seen.rateChanges++;
        }
        for (const move of s.moves) {
          const account = accounts[move.account]!;
          const block = await reader().getBlockNumber();
          const [world, acc] = await Promise.all([readWorld(block), readAccount(account, block)]);
          const debtAsset = listed.get(move.assetId)!;
          if (move.kind === "borrow") {
            // Half of the account's headroom (borrow power over debt) at this block, in the debt asset.
            const data = tsAccountData(acc, world);
            if (data.borrowPower <= data.debtValue) continue;
            const amount = mulDiv(mulDiv(data.borrowPower - data.debtValue, BigInt(move.bps), 20_000n), unit(debtAsset.decimals), pricesAt(world).get(move.assetId)!);
            if (amount === 0n) continue;
            await checkedDebtWrite(
              account,
              move.assetId,
              () => hubWrite(account, "borrow", [move.assetId, amount]),
              (scaled, index) => ({ scaledAfter: scaled + scaledForBorrow(amount, index), amountDelta: amount }),
            );
            seen.borrows++;
          } else if (move.kind === "heal") {
            const done = await repayTo(acc, world, move.assetId, (BigInt(move.hfBps) * WAD) / 10_000n);
            if (done) seen.heals++;
            if (done === "full") seen.fullRepays++;
          } else {
            // A share of the debt at this block (above 100 %: all of it), paid by a third party.
            const owed = acc.onchain.debtOf.get(move.assetId)!;
            if (owed === 0n) continue;
            const amount = mulDiv(owed, BigInt(move.bps), 10_000n) + 1n;
            await checkedDebtWrite(
              account,
              move.assetId,
              () => hubWrite(repayer, "repay", [move.assetId, amount, account]),
              (scaled, index) => {
                const r = scaledForRepay(scaled, amount, index);
                if (r.scaledRepaid === scaled) seen.fullRepays++;
                return { scaledAfter: scaled - r.scaledRepaid, amountDelta: -r.repaid };
              },
            );
            seen.repays++;
          }
        }
        const block = await reader().getBlockNumber();
        const { world, reads } = await expectAllEqual(block);
        seen.liquidatable += reads.filter((r) => r.onchain.data[4]! < WAD).length;
        seen.healthy += reads.filter((r) => r.onchain.data[4]! >= WAD).length;
        // indexAt(asset, t) for times after (and before) the block, from the same stored rate.
        const probes = debtIds.flatMap((id) => s.futures.map((f) => ({ id, t: world.timestamp + BigInt(f) - BigInt(YEAR) })));
        const onchain = await readAll(probes.map((p) => ({ address: hub, abi: accountedHubAbi, functionName: "indexAt", args: [p.id, p.t < 0n ? 0n : p.t] })), block);
        probes.forEach((p, i) => expect(indexAt(world.rates.get(p.id)!, p.t < 0n ? 0n : p.t)).toBe(onchain[i]));
      }),
      { numRuns: 30, seed: 1_701, endOnFailure: true },
    );
    console.log(`[hub-accounted math] accountData property saw ${JSON.stringify(seen)}`);
    expect(seen.borrows).toBeGreaterThan(0);
    expect(seen.repays).toBeGreaterThan(0);
    expect(seen.fullRepays).toBeGreaterThan(0);
    expect(seen.rateChanges).toBeGreaterThan(0);
    expect(seen.jumpsOverADay).toBeGreaterThan(0);
    expect(seen.heals).toBeGreaterThan(0);
    expect(seen.liquidatable).toBeGreaterThan(0);
    expect(seen.healthy).toBeGreaterThan(0);
  });

  it("quoteLiquidation equals previewLiquidation to the wei (both close factors, maxRepay below and above the cap, the collateral cap), and a liquidation does what the TS quote at its block says", async () => {
    const params = HUB_ACCOUNTED_LIQUIDATION;
    const seen = { fullClose: 0, partialClose: 0, capped: 0, cappedEmpty: 0, belowCap: 0, aboveCap: 0, healthy: 0, liquidations: 0, writeOffs: 0 };
    const pick = fc.record({ account: fc.nat(), market: fc.nat(), debt: fc.nat(), held: fc.integer({ min: 0, max: 99 }), maxRepay: fc.oneof(
      fc.record({ kind: fc.constant("share" as const), bps: fc.integer({ min: 1, max: 9_999 }) }),
      fc.record({ kind: fc.constant("cap" as const) }),
      fc.record({ kind: fc.constant("above" as const), extra: fc.bigInt({ min: 1n, max: 10n ** 24n }) }),
      fc.record({ kind: fc.constant("tiny" as const), amount: fc.bigInt({ min: 1n, max: 1_000n }) }),
      fc.record({ kind: fc.constant("max" as const) }),
    ) });
    const round = fc.record({
      seconds: fc.integer({ min: 1, max: 20 * 86_400 }),
      prices: priceVector({ min: 3_000, max: 12_000 }),
      cases: fc.array(pick, { minLength: 40, maxLength: 40 }),
      /** Accounts repaid into 0.95 <= HF < 1 (the close factor's band), each quoted with `bandCases`. */
      band: fc.array(fc.record({ account: fc.nat(), hfBps: fc.integer({ min: 9_520, max: 9_980 }) }), { minLength: 2, maxLength: 2 }),
      bandCases: fc.array(pick, { minLength: 3, maxLength: 3 }),
      liquidate: fc.array(pick, { minLength: 2, maxLength: 2 }),
    });

    /** The quote input of (account, debt asset, market, maxRepay) from reads at a block, valued at `timestamp`. */
    const quoteInput = (acc: AccountRead, world: World, debtId: number, m: { eid: number; assetId: number }, maxRepay: bigint, timestamp = world.timestamp): LiquidationQuoteInput => {
      const prices = pricesAt(world, timestamp);
      return {
        scaledDebt: acc.scaled.get(debtId)!,
        index: indexAt(world.rates.get(debtId)!, timestamp),
        debtPriceWad: prices.get(debtId)!,
        debtDecimals: listed.get(debtId)!.decimals,
        collateralAmount: acc.collateral.get(marketKey(m.eid, m.assetId))!,
        collateralPriceWad: prices.get(m.assetId)!,
        collateralDecimals: listed.get(m.assetId)!.decimals,
        healthFactor: tsAccountData(acc, world, timestamp).healthFactor,
        params,
        maxRepay,
      };
    };
    /** A case's choices: mostly liquidatable accounts, their debt and collateral they hold, a maxRepay around the cap. */
    type Pick = { account: number; market: number; debt: number; held: number; maxRepay: { kind: string; bps?: number; extra?: bigint; amount?: bigint } };
    const choose = (c: Pick, reads: AccountRead[], world: World, only?: Address) => {
      const liquidatable = reads.filter((r) => tsAccountData(r, world).healthFactor < WAD);
      const pool = only ? reads.filter((r) => r.account === only) : liquidatable.length > 0 && c.held < 85 ? liquidatable : reads;
      const acc = pool[c.account % pool.length]!;
      const heldMarkets = markets.filter((m) => acc.collateral.get(marketKey(m.eid, m.assetId))! > 0n);
      const owed = debtIds.filter((id) => acc.scaled.get(id)! > 0n);
      const m = (c.held < 75 && heldMarkets.length > 0 ? heldMarkets : markets)[c.market % (c.held < 75 && heldMarkets.length > 0 ? heldMarkets.length : markets.length)]!;
      const debtId = (c.held < 90 && owed.length > 0 ? owed : debtIds)[c.debt % (c.held < 90 && owed.length > 0 ? owed.length : debtIds.length)]!;
      const hf = tsAccountData(acc, world).healthFactor;
      const cap = mulDiv(debtOf(acc.scaled.get(debtId)!, indexAt(world.rates.get(debtId)!, world.timestamp)), closeFactorFor(hf, params), WAD);
      const r = c.maxRepay;
      const maxRepay =
        r.kind === "share" ? mulDiv(cap, BigInt(r.bps!), 10_000n) : r.kind === "cap" ? cap : r.kind === "above" ? cap + r.extra! : r.kind === "tiny" ? r.amount! : MAX_UINT256;
      return { acc, m, debtId, maxRepay, cap };
    };

    await fc.assert(
      fc.asyncProperty(round, async (r) => {
        await jump(r.seconds);
        await applyPrices(r.prices);
        const banded: Address[] = [];
        for (const b of r.band) {
          const now = await reader().getBlockNumber();
          const [w, rs] = await Promise.all([readWorld(now), readAccounts(now)]);
          const deep = rs.filter((x) => tsAccountData(x, w).healthFactor < params.fullCloseBelowHf && !banded.includes(x.account));
          if (deep.length === 0) continue;
          const acc = deep[b.account % deep.length]!;
          const owed = debtIds.filter((id) => acc.scaled.get(id)! > 0n);
          if (await repayTo(acc, w, owed[b.account % owed.length]!, (BigInt(b.hfBps) * WAD) / 10_000n)) banded.push(acc.account);
        }
        const block = await reader().getBlockNumber();
        const { world, reads } = await expectAllEqual(block);
        const cases = [...r.cases.map((c) => choose(c, reads, world)), ...banded.flatMap((a) => r.bandCases.map((c) => choose({ ...c, held: 0 }, reads, world, a)))];
        const onchain = await readAll(
          cases.map((c) => ({ address: hub, abi: accountedHubAbi, functionName: "previewLiquidation", args: [c.acc.account, c.debtId, c.maxRepay, c.m.eid, c.m.assetId] })),
          block,
        );
        cases.forEach((c, i) => {
          const input = quoteInput(c.acc, world, c.debtId, c.m, c.maxRepay);
          const ts = previewLiquidation(input);
          expect({ account: c.acc.account, preview: [ts.repayAmount, ts.seizeAmount, ts.healthFactor] }).toEqual({ account: c.acc.account, preview: [...(onchain[i] as readonly bigint[])] });
          if (input.healthFactor >= WAD) {
            seen.healthy++;
            return;
          }
          // Which branch was compared (the run must show every one).
          if (input.healthFactor < params.fullCloseBelowHf) seen.fullClose++;
          else seen.partialClose++;
          if (c.maxRepay < c.cap) seen.belowCap++;
          else if (c.maxRepay > c.cap) seen.aboveCap++;
          const uncapped = quoteLiquidation({ ...input, collateralAmount: MAX_UINT256 });
          if (uncapped.seizeAmount > input.collateralAmount) {
            if (input.collateralAmount > 0n) seen.capped++;
            else seen.cappedEmpty++;
            expect(ts.seizeAmount).toBe(input.collateralAmount);
            expect(ts.repayAmount).toBeLessThanOrEqual(uncapped.repayAmount);
          }
        });

        // Real liquidations: the TS quote from the state before, at the liquidation block's timestamp, is what
        // Liquidated reports, and the positions move by it.
        for (const l of r.liquidate) {
          const before = await reader().getBlockNumber();
          const [w, rs] = await Promise.all([readWorld(before), readAccounts(before)]);
          const c = choose({ ...l, held: Math.min(l.held, 70) }, rs, w);
          const q = quoteLiquidation(quoteInput(c.acc, w, c.debtId, c.m, c.maxRepay));
          if (tsAccountData(c.acc, w).healthFactor >= WAD || q.repayAmount === 0n || q.seizeAmount === 0n) continue;
          const receipt = await hubWrite(liquidator, "liquidate", [c.acc.account, c.debtId, c.maxRepay, c.m.eid, c.m.assetId, 0n]);
          expect(receipt.blockNumber).toBe(before + 1n);
          const at = (await reader().getBlock({ blockNumber: receipt.blockNumber })).timestamp;
          const input = quoteInput(c.acc, w, c.debtId, c.m, c.maxRepay, at);
          const expected = quoteLiquidation(input);
          const [event] = parseEventLogs({ abi: accountedHubAbi, logs: receipt.logs, eventName: "Liquidated" });
          expect(event?.args).toMatchObject({ account: c.acc.account, liquidator, debtAssetId: c.debtId, eid: c.m.eid, collateralAssetId: c.m.assetId, ...expected, healthFactor: input.healthFactor });
          const after = await readAccount(c.acc.account, receipt.blockNumber);
          const key = marketKey(c.m.eid, c.m.assetId);
          expect(after.collateral.get(key)).toBe(c.acc.collateral.get(key)! - expected.seizeAmount);
          const heldAfter = [...after.collateral.values()].some((x) => x > 0n);
          if (heldAfter) {
            expect(after.scaled.get(c.debtId)).toBe(c.acc.scaled.get(c.debtId)! - scaledForRepay(c.acc.scaled.get(c.debtId)!, expected.repayAmount, input.index).scaledRepaid);
          } else {
            // No collateral left: the rest of its debt is written off (AccountedHub._writeOff).
            expect([...after.scaled.values()].every((x) => x === 0n)).toBe(true);
            seen.writeOffs++;
          }
          seen.liquidations++;
        }
      }),
      { numRuns: 14, seed: 2_024, endOnFailure: true },
    );
    console.log(`[hub-accounted math] liquidation property saw ${JSON.stringify(seen)}`);
    for (const [branch, count] of Object.entries(seen)) if (branch !== "writeOffs") expect({ branch, count }).not.toEqual({ branch, count: 0 });
  });

  it("interest alone takes an account from HF >= 1 to HF < 1, and the TS math crosses at the same block as the hub", async () => {
    // Opening prices, fresh; nothing moves them again in this test.
    await applyPrices(Object.fromEntries(ASSETS.map((a) => [a.id, 10_000])));
    const usdc = assetById(1);
    const weth = assetById(10);
    // The hub's largest rate (RAY / 1e6 per second, ~3,150 % a year): the crossing comes within the feeds' heartbeat.
    await hubWrite(devnetAccounts.deployer, "setInterestRate", [usdc.id, RAY / 10n ** 6n]);
    const account = getAddress(`0x${keccak256(toHex("hub-accounted-math-interest")).slice(26)}`);
    await fundGas(deployment, account);
    const spoke = deployment.spokes[0]!;
    const { public: spokeReader, wallet } = deployment.clients(spoke);
    const token = spoke.tokens[String(weth.id)]!;
    const spokeAddress = protocol.contracts[spoke.name]!.address;
    const amount = 10n * unit(weth.decimals);
    await write(wallet(devnetAccounts.deployer), spokeReader, { address: token, abi: testTokenAbi, functionName: "mint", args: [account, amount] });
    await write(wallet(account), spokeReader, { address: token, abi: testTokenAbi, functionName: "approve", args: [spokeAddress, amount] });
    const fee = await spokeReader.readContract({ address: spokeAddress, abi: accountedSpokeAbi, functionName: "quoteDeposit" });
    await write(wallet(account), spokeReader, { address: spokeAddress, abi: accountedSpokeAbi, functionName: "deposit", args: [weth.id, amount], value: fee });
    await deliverer.drain(60_000);
    // Borrow to (just under) the LTV: HF = 0.85 / 0.80 / 0.999, about 1.064.
    const start = await reader().getBlockNumber();
    const [w0, a0] = await Promise.all([readWorld(start), readAccount(account, start)]);
    expect(a0.collateral.get(marketKey(spoke.eid, weth.id))).toBe(amount);
    const borrowAmount = mulDiv(mulDiv(tsAccountData(a0, w0).borrowPower, 999n, 1_000n), unit(usdc.decimals), pricesAt(w0).get(usdc.id)!);
    await hubWrite(account, "borrow", [usdc.id, borrowAmount]);

    const block = await reader().getBlockNumber();
    const [world, acc] = await Promise.all([readWorld(block), readAccount(account, block)]);
    const hfAt = (t: bigint) => tsAccountData(acc, world, t).healthFactor;
    expect(hfAt(world.timestamp)).toBe(acc.onchain.data[4]);
    expect(acc.onchain.data[4]!).toBeGreaterThanOrEqual(WAD);
    // The first second at which the TS math says HF < 1 (HF only falls as the index grows): binary search up to
    // the last second every feed is still fresh at (no price is written between here and there).
    let lo = world.timestamp;
    let hi = ASSETS.reduce((t, a) => minBig(t, world.rounds.get(a.id)!.updatedAt + listed.get(a.id)!.heartbeat), MAX_UINT256);
    expect(hfAt(hi)).toBeLessThan(WAD);
    while (hi - lo > 1n) {
      const mid = (lo + hi) / 2n;
      if (hfAt(mid) < WAD) hi = mid;
      else lo = mid;
    }
    const crossing = hi;

    const mineAt = async (t: bigint) => {
      await rpc("evm_setNextBlockTimestamp", [Number(t)]);
      await rpc("evm_mine");
      const b = await reader().getBlock();
      expect(b.timestamp).toBe(t);
      return b.number;
    };
    const results: { t: bigint; hub: bigint; ts: bigint; preview: readonly bigint[]; tsPreview: bigint[] }[] = [];
    for (const t of [crossing - 1n, crossing]) {
      const b = await mineAt(t);
      const [wb, ab] = await Promise.all([readWorld(b), readAccount(account, b)]);
      // Only the clock moved: the same positions, rates and rounds as at the borrow's block.
      expect({ collateral: ab.collateral, scaled: ab.scaled, rates: wb.rates, rounds: wb.rounds }).toEqual({ collateral: acc.collateral, scaled: acc.scaled, rates: world.rates, rounds: world.rounds });
      const ts = tsAccountData(ab, wb);
      expect(tuple(ts)).toEqual([...ab.onchain.data]);
      expect(ts.healthFactor).toBe(hfAt(t));
      const m = { eid: spoke.eid, assetId: weth.id };
      const preview = await reader().readContract({ address: hub, abi: accountedHubAbi, functionName: "previewLiquidation", args: [account, usdc.id, MAX_UINT256, m.eid, m.assetId], blockNumber: b });
      const tsPreview = previewLiquidation({
        scaledDebt: ab.scaled.get(usdc.id)!, index: indexAt(wb.rates.get(usdc.id)!, wb.timestamp),
        debtPriceWad: pricesAt(wb).get(usdc.id)!, debtDecimals: usdc.decimals,
        collateralAmount: ab.collateral.get(marketKey(m.eid, m.assetId))!, collateralPriceWad: pricesAt(wb).get(weth.id)!, collateralDecimals: weth.decimals,
        healthFactor: ts.healthFactor, params: HUB_ACCOUNTED_LIQUIDATION, maxRepay: MAX_UINT256,
      });
      results.push({ t, hub: ab.onchain.data[4]!, ts: ts.healthFactor, preview: [...preview], tsPreview: [tsPreview.repayAmount, tsPreview.seizeAmount, tsPreview.healthFactor] });
    }
    const [justBefore, at] = results as [(typeof results)[number], (typeof results)[number]];
    expect(justBefore.hub).toBe(justBefore.ts);
    expect(at.hub).toBe(at.ts);
    expect(justBefore.hub).toBeGreaterThanOrEqual(WAD);
    expect(at.hub).toBeLessThan(WAD);
    // Liquidatable exactly from the crossing: zeros a second before, the TS quote (half the debt: HF >= 0.95) at it.
    expect(justBefore.preview).toEqual([0n, 0n, justBefore.hub]);
    expect(justBefore.tsPreview).toEqual(justBefore.preview);
    expect(at.preview).toEqual(at.tsPreview);
    expect(at.preview[0]!).toBeGreaterThan(0n);
    expect(at.hub).toBeGreaterThanOrEqual(HUB_ACCOUNTED_LIQUIDATION.fullCloseBelowHf);
    // The devnet's own rates were what the earlier tests started from; put USDC's back.
    await hubWrite(devnetAccounts.deployer, "setInterestRate", [usdc.id, ratePerSecondRay(HUB_ACCOUNTED_RATES[usdc.id]!)]);
  });
});
