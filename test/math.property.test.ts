/**
 * Property: the TypeScript health and take math (src/health/health.ts) equals the deployed hub's to the wei,
 * over a few hundred seeded positions (1-3 collateral positions across both spokes, 6/8/18-decimal
 * tokens, USDC or DAI debt) and random price vectors.
 */
import fc from "fast-check";
import type { Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubAbi, priceFeedAbi } from "../abis/index.js";
import { write } from "../src/chains/tx.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
import { ASSETS, AUCTION_PARAMS, FEED_DECIMALS, HEARTBEAT_SECONDS } from "../src/devnet/market.js";
import { Rng } from "../src/devnet/rng.js";
import { seedBorrowers } from "../src/devnet/seed.js";
import { mapLimit } from "../src/util/concurrency.js";
import { revertOf } from "../src/chains/errors.js";
import { bonusAt, checkedPriceWad, priceProblem, priceToWad, quoteTake } from "../src/health/health.js";
import type { Deployment } from "../src/protocol/deployment.js";
import { type TestNetwork, startTestNetwork } from "./helpers/network.js";

const ACCOUNTS = 300;
let net: TestNetwork;
let deployment: Deployment;
let accounts: Address[];
let positions: Map<Address, Awaited<ReturnType<Deployment["positions"]>>>;

beforeAll(async () => {
  net = await startTestNetwork(2);
  deployment = net.deployment;
  accounts = await seedBorrowers(deployment, net.deliverer, { count: ACCOUNTS, seed: 42, rng: new Rng(42) });
  positions = new Map(await mapLimit(accounts, 16, async (a) => [a, await deployment.positions(a)] as const));
}, 300_000);

afterAll(async () => {
  await net?.stop();
});

/** A price vector: each asset's answer as a multiple (in bps) of its opening price. */
const priceVector = fc.record(
  Object.fromEntries(ASSETS.map((a) => [a.id, a.kind === "debt" ? fc.integer({ min: 9_000, max: 11_000 }) : fc.integer({ min: 100, max: 30_000 })])),
);

async function applyPrices(vector: Record<string, number>): Promise<bigint> {
  const { public: reader, wallet } = deployment.hubClients;
  for (const asset of ASSETS) {
    const answer = (asset.initialAnswer * BigInt(vector[asset.id]!)) / 10_000n;
    await write(wallet(devnetAccounts.deployer), reader, { address: deployment.feed(asset.id), abi: priceFeedAbi, functionName: "updateAnswer", args: [answer > 0n ? answer : 1n] });
  }
  return reader.getBlockNumber();
}

describe("TypeScript math against the hub", () => {
  it("seeds the positions it claims", () => {
    expect(accounts).toHaveLength(ACCOUNTS);
    const collateralCounts = [...positions.values()].map((p) => p.collateral.filter((c) => c.amount > 0n).length);
    expect(Math.min(...collateralCounts)).toBeGreaterThanOrEqual(1);
    expect(new Set(collateralCounts).size).toBeGreaterThan(1);
  });

  it("accountData and healthFactor equal the hub's to the wei under random prices", async () => {
    await fc.assert(
      fc.asyncProperty(priceVector, async (vector) => {
        const block = await applyPrices(vector);
        const prices = await deployment.pricesWad(block);
        const reader = deployment.hubClients.public;
        await mapLimit(accounts, 16, async (account) => {
          const onchain = await reader.readContract({ address: deployment.hubAddress, abi: hubAbi, functionName: "accountData", args: [account], blockNumber: block });
          const ts = deployment.health(positions.get(account)!, prices);
          expect([ts.collateralValue, ts.thresholdValue, ts.borrowPower, ts.debtValue, ts.healthFactor]).toEqual([...onchain]);
        });
      }),
      { numRuns: 4 },
    );
  });

  it("quoteTake equals the hub's previewTake to the wei", async () => {
    const reader = deployment.hubClients.public;
    const block = await reader.getBlock();
    const prices = await deployment.pricesWad(block.number);
    const bonus = bonusAt(AUCTION_PARAMS, 0n, block.timestamp); // never-kicked accounts: startedAt 0
    const cases = fc.sample(
      fc.record({
        account: fc.constantFrom(...accounts),
        spoke: fc.constantFrom(...deployment.spokes),
        collateralAsset: fc.constantFrom(...deployment.collateralAssets),
        debtAsset: fc.constantFrom(...deployment.debtAssets),
        maxRepay: fc.oneof(fc.bigInt({ min: 1n, max: 10n ** 24n }), fc.constant(2n ** 255n)),
      }),
      { numRuns: 200, seed: 7 },
    );
    await mapLimit(cases, 16, async (c) => {
      const [repayAmount, seizeAmount, onchainBonus] = await reader.readContract({
        address: deployment.hubAddress, abi: hubAbi, functionName: "previewTake",
        args: [c.account, c.debtAsset.id, c.maxRepay, c.spoke.eid, c.collateralAsset.id], blockNumber: block.number,
      });
      const p = positions.get(c.account)!;
      const ts = quoteTake({
        debtAmount: p.debt.find((d) => d.assetId === c.debtAsset.id)!.amount,
        debtPriceWad: prices.get(c.debtAsset.id)!, debtDecimals: c.debtAsset.decimals,
        collateralAmount: p.collateral.find((x) => x.eid === c.spoke.eid && x.assetId === c.collateralAsset.id)!.amount,
        collateralPriceWad: prices.get(c.collateralAsset.id)!, collateralDecimals: c.collateralAsset.decimals,
        closeFactor: AUCTION_PARAMS.closeFactor, bonus, maxRepay: c.maxRepay,
      });
      expect(onchainBonus).toBe(bonus);
      expect({ repayAmount, seizeAmount }).toEqual(ts);
    });
  });

  it("the price rule equals Hub.priceWad's: a value to the wei, or InvalidPrice/StalePrice with the hub's arguments, at ages around the heartbeat", async () => {
    const { public: reader, wallet } = deployment.hubClients;
    const heartbeat = BigInt(HEARTBEAT_SECONDS);
    const cases = fc.sample(
      fc.record({
        asset: fc.constantFrom(...ASSETS),
        answer: fc.oneof(fc.bigInt({ min: -(10n ** 30n), max: 0n }), fc.constant(0n), fc.bigInt({ min: 1n, max: 10n ** 20n })),
        age: fc.oneof(fc.constantFrom(HEARTBEAT_SECONDS - 1, HEARTBEAT_SECONDS, HEARTBEAT_SECONDS + 1), fc.integer({ min: 1, max: 3 * HEARTBEAT_SECONDS })),
      }),
      { numRuns: 40, seed: 9 },
    );
    const outcome = (call: Promise<bigint>) =>
      call.then(
        (value) => ({ value }),
        (error: unknown) => {
          const { errorName, args } = revertOf(error);
          return { errorName, args };
        },
      );
    const seen = new Set<string>();
    for (const c of cases) {
      const set = await write(wallet(devnetAccounts.deployer), reader, { address: deployment.feed(c.asset.id), abi: priceFeedAbi, functionName: "updateAnswer", args: [c.answer] });
      const roundBlock = await reader.getBlock({ blockNumber: set.blockNumber });
      await reader.request({ method: "evm_setNextBlockTimestamp", params: [Number(roundBlock.timestamp) + c.age] } as never);
      await reader.request({ method: "evm_mine", params: [] } as never);
      const later = await reader.getBlock();
      expect(later.timestamp - roundBlock.timestamp).toBe(BigInt(c.age));
      for (const block of [roundBlock, later]) {
        const [, answer, , updatedAt] = await reader.readContract({ address: deployment.feed(c.asset.id), abi: priceFeedAbi, functionName: "latestRoundData", blockNumber: block.number });
        const onchain = await outcome(reader.readContract({ address: deployment.hubAddress, abi: hubAbi, functionName: "priceWad", args: [c.asset.id], blockNumber: block.number }));
        const problem = priceProblem(c.asset.id, { answer, updatedAt }, heartbeat, block.timestamp);
        const expected = problem ? { errorName: problem.errorName, args: [...problem.args] } : { value: checkedPriceWad(c.asset.id, { answer, updatedAt }, FEED_DECIMALS, heartbeat, block.timestamp) };
        expect(onchain).toEqual(expected);
        seen.add(problem?.errorName ?? "usable");
      }
    }
    expect([...seen].sort()).toEqual(["InvalidPrice", "StalePrice", "usable"]);
    for (const asset of ASSETS) await write(wallet(devnetAccounts.deployer), reader, { address: deployment.feed(asset.id), abi: priceFeedAbi, functionName: "updateAnswer", args: [asset.initialAnswer] });
  });

  it("an account is valued at the prices of what it holds or owes only: with one asset's price invalid, exactly its holders revert (naming it), the others equal the TypeScript math", async () => {
    const { public: reader, wallet } = deployment.hubClients;
    const setAnswer = (assetId: number, answer: bigint) =>
      write(wallet(devnetAccounts.deployer), reader, { address: deployment.feed(assetId), abi: priceFeedAbi, functionName: "updateAnswer", args: [answer] });
    for (const bad of ASSETS) {
      for (const a of ASSETS) await setAnswer(a.id, a.id === bad.id ? -1n : a.initialAnswer);
      const block = await reader.getBlockNumber();
      const usable = new Map(ASSETS.filter((a) => a.id !== bad.id).map((a) => [a.id, priceToWad(a.initialAnswer, FEED_DECIMALS)]));
      let holders = 0;
      await mapLimit(accounts, 16, async (account) => {
        const p = positions.get(account)!;
        const holds = [...p.collateral, ...p.debt].some((x) => x.assetId === bad.id && x.amount > 0n);
        const onchain = await reader.readContract({ address: deployment.hubAddress, abi: hubAbi, functionName: "accountData", args: [account], blockNumber: block }).then(
          (data) => [...data],
          (error: unknown) => revertOf(error),
        );
        if (holds) {
          holders++;
          expect(onchain).toMatchObject({ errorName: "InvalidPrice", args: [bad.id, -1n] });
        } else {
          const ts = deployment.health(p, usable);
          expect(onchain).toEqual([ts.collateralValue, ts.thresholdValue, ts.borrowPower, ts.debtValue, ts.healthFactor]);
        }
      });
      expect(holders).toBeGreaterThan(0);
      expect(holders).toBeLessThan(ACCOUNTS);
    }
    for (const a of ASSETS) await setAnswer(a.id, a.initialAnswer);
  });
});
