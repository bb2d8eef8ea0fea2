/**
 * Backrunning the oracle: a crash is first a feed update in the hub's pool. The relayer sees it there, reads the
 * accounts at the pending state, and sends its kicks and takes with fees no higher than the update's, so that
 * they are mined after it, in its own block: the block an ideal liquidator acts in. Real chains; the hub's
 * automine is off while the update waits in the pool (interval mining without the timing).
 */
import type { Address, Hex } from "viem";
import { afterAll, beforeAll, expect, it } from "vitest";
import { hubAbi, priceFeedAbi } from "../abis/index.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
import { Rng } from "../src/devnet/rng.js";
import { seedBorrowers } from "../src/devnet/seed.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { WAD } from "../src/health/wad.js";
import { mint } from "../src/protocol/actions.js";
import { type Relayer, createRelayer } from "../src/recovery/relayer.js";
import { mapLimit } from "../src/util/concurrency.js";
import { type TestNetwork, startTestNetwork } from "./helpers/network.js";
import { scenarioRelayerConfig } from "./helpers/scenario.js";

let net: TestNetwork;
let borrowers: Address[];
let relayer: Relayer;

beforeAll(async () => {
  net = await startTestNetwork(2);
  borrowers = await seedBorrowers(net.deployment, net.deliverer, { count: 24, seed: 11, rng: new Rng(11) });
  for (const asset of net.deployment.debtAssets) {
    await mint(net.deployment, "hub", net.deployment.hub.tokens[String(asset.id)]!, devnetAccounts.liquidator.address, 10n ** 30n);
  }
  relayer = await createRelayer(scenarioRelayerConfig({ net }, { deliver: false }));
  await relayer.tick(); // allowances mined, the scanner's book built, while the hub still automines
}, 300_000);

afterAll(async () => {
  await relayer?.close();
  await net?.stop();
});

it("kicks and takes in the block of the feed update that made the accounts liquidatable, after the update", async () => {
  const d = net.deployment;
  const reader = d.hubClients.public;
  const rpc = (method: string, params: unknown[] = []) => reader.request({ method, params } as never) as Promise<unknown>;
  const { factorWad } = await new MarketSimulator(d, new Rng(11)).crashFactor(borrowers, 0.4);
  const answers = await d.answers();
  const healthyBefore = (await mapLimit(borrowers, 16, async (a) => [a, await d.onchainHealthFactor(a)] as const)).every(([, hf]) => hf >= WAD);
  expect(healthyBefore).toBe(true);

  await rpc("evm_setAutomine", [false]);
  try {
    // The crash, as a thrifty feed keeper sends it: transactions in the pool offering less than the relayer's
    // batches would (twice the base fee and a 1 wei tip): a batch at its own fees would be mined before them.
    const deployer = d.hubClients.wallet(devnetAccounts.deployer);
    const nonce = await reader.getTransactionCount({ address: devnetAccounts.deployer.address, blockTag: "pending" });
    const baseFee = (await reader.getBlock()).baseFeePerGas!;
    const fees = { maxFeePerGas: baseFee * 2n + 1n, maxPriorityFeePerGas: 1n };
    const updates: Hex[] = [];
    for (const [i, asset] of d.collateralAssets.entries()) {
      updates.push(await deployer.writeContract({ address: d.feed(asset.id), abi: priceFeedAbi, functionName: "updateAnswer", args: [(answers.get(asset.id)! * factorWad) / WAD], nonce: nonce + i, gas: 200_000n, ...fees }));
    }
    // Who the update puts under HF 1: the hub's own healthFactor at the pending state.
    const expected = (await mapLimit(borrowers, 16, async (a) => [a, await reader.readContract({ address: d.hubAddress, abi: hubAbi, functionName: "healthFactor", args: [a], blockTag: "pending" })] as const))
      .filter(([, hf]) => hf < WAD)
      .map(([a]) => a.toLowerCase());
    expect(expected.length).toBeGreaterThan(0);

    // The relayer works until its batch waits in the pool beside the update; nothing is mined meanwhile.
    const head = await reader.getBlockNumber({ cacheTime: 0 });
    const taker = devnetAccounts.liquidator.address.toLowerCase();
    const pool = async () => (await reader.getBlock({ blockTag: "pending", includeTransactions: true })).transactions.filter((t) => t.from.toLowerCase() === taker);
    const deadline = Date.now() + 60_000;
    while ((await pool()).length === 0) {
      if (Date.now() > deadline) throw new Error("the relayer sent nothing while the update was pending");
      await relayer.tick();
    }
    expect(await reader.getBlockNumber({ cacheTime: 0 })).toBe(head);
    const batches = (await pool()).map((t) => t.hash);

    await rpc("evm_mine");
    const block = await reader.getBlock({ blockTag: "latest", includeTransactions: true });
    expect(block.number).toBe(head + 1n);
    const index = new Map(block.transactions.map((t) => [t.hash, t.transactionIndex] as const));
    for (const h of [...updates, ...batches]) expect(index.has(h), `${h} in block ${block.number}`).toBe(true);
    // Mined after every update of the crash, in its block.
    expect(Math.min(...batches.map((h) => index.get(h)!))).toBeGreaterThan(Math.max(...updates.map((h) => index.get(h)!)));
    for (const h of batches) expect((await reader.getTransactionReceipt({ hash: h })).status).toBe("success");

    // Every account the update put under HF 1 is kicked and taken in that block, and no other.
    const at = { address: d.hubAddress, abi: hubAbi, fromBlock: block.number, toBlock: block.number } as const;
    const kicks = await reader.getContractEvents({ ...at, eventName: "AuctionKicked" });
    const takes = await reader.getContractEvents({ ...at, eventName: "Take" });
    expect(new Set(kicks.map((e) => e.args.account!.toLowerCase()))).toEqual(new Set(expected));
    expect(new Set(takes.map((e) => e.args.account!.toLowerCase()))).toEqual(new Set(expected));
    expect(takes.every((e) => e.args.seizeAmount! > 0n)).toBe(true);
  } finally {
    await rpc("evm_setAutomine", [true]);
  }
}, 180_000);
