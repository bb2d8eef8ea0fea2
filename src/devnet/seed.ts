/**
 * Seeds the devnet's borrowers: collateral deposited on random spokes (and credited on the hub through
 * LayerZero), then debt borrowed on the hub to a random target health factor between 1.08 and 2.5.
 * Everything is drawn from the seed, so the same seed seeds the same book.
 *
 * Pipelined: each phase switches its chain to manual mining, sends every transaction at once
 * (eth_sendTransaction from the borrowers, which anvil's auto-impersonation allows, with explicit nonces
 * and gas), mines blocks with `evm_mine` until the pool is empty (anvil fills each block up to its gas
 * limit; the base fee is held at its starting value so full blocks do not price later transactions out),
 * then confirms every transaction from the mined blocks' receipts and switches automine back on. Phases:
 * gas, then per spoke (in parallel) mints and approvals, then deposits; the deposits' packets delivered by
 * the deliverer; then every borrow on the hub.
 */
import { type Address, type Hex, encodeFunctionData, numberToHex } from "viem";
import { hubAbi, spokeAbi, testTokenAbi } from "../../abis/index.js";
import { mulDiv, WAD, unit } from "../health/wad.js";
import { fundGas, quoteHubMessage } from "../protocol/actions.js";
import type { Deployment } from "../protocol/deployment.js";
import type { PacketDeliverer } from "../layerzero/deliverer.js";
import { borrowerAddress, devnetAccounts } from "./accounts.js";
import type { Rng } from "./rng.js";
import { mapLimit } from "../util/concurrency.js";

interface PlannedDeposit {
  spoke: string;
  assetId: number;
  amount: bigint;
}

export interface PlannedBorrower {
  address: Address;
  deposits: PlannedDeposit[];
  /** Target health factor in basis points (10_800 = 1.08). */
  targetHfBps: bigint;
  debtAssetId: number;
}

/**
 * Borrowers `first` .. `first + count - 1` of a seed: 1-3 deposits of $1k-$200k on random (spoke, asset) markets of
 * `spokes`, a target HF between 1.08 and 2.5, a debt asset; drawn from `rng` in that order.
 */
export function planBorrowers(deployment: Deployment, rng: Rng, seed: number, first: number, count: number, prices: Map<number, bigint>, spokes = deployment.spokes): PlannedBorrower[] {
  const markets = spokes.flatMap((s) => deployment.collateralAssets.map((a) => ({ spoke: s.name, asset: a })));
  return Array.from({ length: count }, (_, i) => {
    const deposits = rng.sample(markets, rng.int(1, 3)).map(({ spoke, asset }) => {
      const usd = BigInt(rng.int(1_000, 200_000));
      return { spoke, assetId: asset.id, amount: mulDiv(usd * WAD, unit(asset.decimals), prices.get(asset.id)!) };
    });
    return {
      address: borrowerAddress(seed, first + i),
      deposits,
      targetHfBps: BigInt(rng.int(10_800, 25_000)),
      debtAssetId: rng.pick(deployment.debtAssets).id,
    };
  });
}

/**
 * The debt (WAD USD) a borrower takes: what puts it at its target HF, or just inside its borrow limit when the LTV
 * allows less (LINK: 60 % LTV, 70 % threshold).
 */
export function targetDebtValue(data: { thresholdValue: bigint; borrowPower: bigint }, targetHfBps: bigint): bigint {
  const byHf = mulDiv(data.thresholdValue, 10_000n, targetHfBps);
  const byLtv = mulDiv(data.borrowPower, 999n, 1_000n);
  return byHf < byLtv ? byHf : byLtv;
}

export type SeedPhase = "gas" | "deposits" | "delivery" | "borrows";

/** One transaction of a batch. */
interface Call {
  from: Address;
  to: Address;
  data: Hex;
  value?: bigint;
  what: string;
}

/** Requests in flight per chain while sending or reading a batch. */
const IN_FLIGHT = 32;

const hexToBigInt = (h: unknown) => BigInt(h as string);

/**
 * Gas per call kind (target and selector): the largest estimate of up to 8 calls of that kind spread over
 * the batch, against the chain's current state, plus half again. A call that still runs out reverts and
 * is reported by sendBatch.
 */
async function gasLimits(reader: ReturnType<Deployment["clients"]>["public"], calls: Call[], blockGasLimit: bigint): Promise<bigint[]> {
  const kinds = new Map<string, number[]>();
  calls.forEach((c, i) => {
    const key = `${c.to.toLowerCase()}:${c.data.slice(0, 10)}`;
    const list = kinds.get(key) ?? [];
    list.push(i);
    kinds.set(key, list);
  });
  const gas = new Array<bigint>(calls.length);
  for (const indexes of kinds.values()) {
    const samples = [...new Set(Array.from({ length: Math.min(8, indexes.length) }, (_, k) => indexes[Math.floor((k * (indexes.length - 1)) / Math.max(1, Math.min(8, indexes.length) - 1))]!))];
    const estimates = await mapLimit(samples, 8, (i) => {
      const c = calls[i]!;
      return reader.estimateGas({ account: c.from, to: c.to, data: c.data, value: c.value });
    });
    const max = estimates.reduce((a, b) => (a > b ? a : b), 0n);
    const limit = (max * 3n) / 2n + 20_000n;
    const capped = limit < blockGasLimit ? limit : blockGasLimit;
    for (const i of indexes) gas[i] = capped;
  }
  return gas;
}

/**
 * Sends `calls` on one chain without waiting for receipts, mines them with evm_mine (automine off meanwhile),
 * then checks every receipt. Calls of one sender keep their order (consecutive nonces).
 */
async function sendBatch(deployment: Deployment, chain: string, calls: Call[]): Promise<void> {
  if (calls.length === 0) return;
  const reader = deployment.clients(chain).public;
  const rpc = <T>(method: string, params: unknown[]) => reader.request({ method, params } as never) as Promise<T>;
  const latest = await reader.getBlock();
  const baseFee = latest.baseFeePerGas ?? 0n;
  const gas = await gasLimits(reader, calls, latest.gasLimit);
  const senders = [...new Set(calls.map((c) => c.from))];
  const next = new Map(await mapLimit(senders, IN_FLIGHT, async (a) => [a, await reader.getTransactionCount({ address: a, blockTag: "pending" })] as const));
  const nonces = calls.map((c) => {
    const n = next.get(c.from)!;
    next.set(c.from, n + 1);
    return n;
  });
  // The base fee is reset before every block, so this cap never falls behind it.
  const fees = { maxFeePerGas: numberToHex(baseFee * 2n + 1_000_000_000n), maxPriorityFeePerGas: numberToHex(1_000_000_000n) };
  const startBlock = latest.number;
  await rpc("evm_setAutomine", [false]);
  let hashes: Hex[];
  try {
    hashes = await mapLimit(calls, IN_FLIGHT, (c, i) =>
      rpc<Hex>("eth_sendTransaction", [
        { from: c.from, to: c.to, data: c.data, value: numberToHex(c.value ?? 0n), gas: numberToHex(gas[i]!), nonce: numberToHex(nonces[i]!), ...fees },
      ]),
    );
    for (;;) {
      const status = await rpc<{ pending: string; queued: string }>("txpool_status", []);
      if (hexToBigInt(status.pending) === 0n) {
        if (hexToBigInt(status.queued) > 0n) throw new Error(`seed on ${chain}: ${hexToBigInt(status.queued)} transactions stuck behind a nonce gap`);
        break;
      }
      await rpc("anvil_setNextBlockBaseFeePerGas", [numberToHex(baseFee)]);
      await rpc("evm_mine", []);
      const block = await reader.getBlock();
      if (block.transactions.length === 0) throw new Error(`seed on ${chain}: a mined block took none of the ${hexToBigInt(status.pending)} pending transactions`);
    }
  } finally {
    await rpc("evm_setAutomine", [true]);
  }
  const endBlock = await reader.getBlockNumber();
  const blocks = Array.from({ length: Number(endBlock - startBlock) }, (_, i) => startBlock + 1n + BigInt(i));
  const receipts = (await mapLimit(blocks, IN_FLIGHT, (b) => rpc<{ transactionHash: Hex; status: Hex }[]>("eth_getBlockReceipts", [numberToHex(b)]))).flat();
  const status = new Map(receipts.map((r) => [r.transactionHash.toLowerCase(), r.status]));
  const failed = hashes.map((h, i) => ({ h, c: calls[i]!, s: status.get(h.toLowerCase()) })).filter((x) => x.s !== "0x1");
  if (failed.length > 0) {
    throw new Error(`seed on ${chain}: ${failed.length} of ${calls.length} transactions ${failed[0]!.s === undefined ? "not mined" : "reverted"} (first: ${failed[0]!.c.what}, tx ${failed[0]!.h})`);
  }
}

/**
 * Runs `fn` with automine off on every chain and a block mined every `everyMs` meanwhile (the base fee held
 * where it was), so a burst of transactions lands in full blocks instead of one block each.
 */
async function withBlockMining<T>(deployment: Deployment, fn: () => Promise<T>, everyMs = 100): Promise<T> {
  const chains = deployment.manifest.chains.map((c) => deployment.clients(c).public);
  const rpc = (reader: (typeof chains)[number], method: string, params: unknown[] = []) => reader.request({ method, params } as never);
  const baseFees = await Promise.all(chains.map(async (r) => (await r.getBlock()).baseFeePerGas ?? 0n));
  await Promise.all(chains.map((r) => rpc(r, "evm_setAutomine", [false])));
  let mining = true;
  const miner = (async () => {
    while (mining) {
      await Promise.all(chains.map(async (r, i) => {
        await rpc(r, "anvil_setNextBlockBaseFeePerGas", [numberToHex(baseFees[i]!)]);
        await rpc(r, "evm_mine");
      })).catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  try {
    return await fn();
  } finally {
    mining = false;
    await miner;
    await Promise.all(chains.map((r) => rpc(r, "evm_setAutomine", [true])));
  }
}

export async function seedBorrowers(
  deployment: Deployment,
  deliverer: PacketDeliverer,
  options: {
    count: number;
    seed: number;
    rng: Rng;
    /** Index of the first borrower (borrowerAddress(seed, first)); to add borrowers to a book seeded before with the same rng. */
    first?: number;
    /** Called with the wall time of each phase as it ends (gas, deposits sent and mined, packets delivered, borrows). */
    onPhase?: (phase: SeedPhase, ms: number) => void;
  },
): Promise<Address[]> {
  const prices = await deployment.pricesWad();
  const borrowers = planBorrowers(deployment, options.rng, options.seed, options.first ?? 0, options.count, prices);
  let mark = Date.now();
  const phase = (name: SeedPhase) => {
    const now = Date.now();
    options.onPhase?.(name, now - mark);
    mark = now;
  };
  await mapLimit(borrowers, IN_FLIGHT, (b) => fundGas(deployment, b.address));
  phase("gas");

  const deployer = devnetAccounts.deployer.address;
  await Promise.all(
    deployment.spokes.map(async (spoke) => {
      const spokeAddress = spoke.contracts.spoke!;
      const mine = borrowers.flatMap((b) => b.deposits.filter((d) => d.spoke === spoke.name).map((d) => ({ b, d, token: spoke.tokens[String(d.assetId)]! })));
      const fee = await quoteHubMessage(deployment, spoke.name);
      await sendBatch(deployment, spoke.name, [
        ...mine.map(({ b, d, token }) => ({ from: deployer, to: token, data: encodeFunctionData({ abi: testTokenAbi, functionName: "mint", args: [b.address, d.amount] }), what: `mint to ${b.address}` })),
        ...mine.map(({ b, d, token }) => ({ from: b.address, to: token, data: encodeFunctionData({ abi: testTokenAbi, functionName: "approve", args: [spokeAddress, d.amount] }), what: `approve by ${b.address}` })),
      ]);
      await sendBatch(
        deployment,
        spoke.name,
        mine.map(({ b, d }) => ({ from: b.address, to: spokeAddress, data: encodeFunctionData({ abi: spokeAbi, functionName: "deposit", args: [d.assetId, d.amount] }), value: fee, what: `deposit by ${b.address}` })),
      );
    }),
  );
  phase("deposits");
  const packets = borrowers.reduce((n, b) => n + b.deposits.length, 0);
  // Automine would make every verify and lzReceive a block of its own: mine full blocks instead.
  await withBlockMining(deployment, () => deliverer.drain(Math.max(120_000, packets * 100)));
  phase("delivery");

  // The hub credits exactly what was deposited, one (spoke, asset) market per deposit: the positions are the plan's.
  const eidOf = new Map(deployment.spokes.map((s) => [s.name, s.eid]));
  const borrows: Call[] = [];
  for (const b of borrowers) {
    const positions = { collateral: b.deposits.map((d) => ({ eid: eidOf.get(d.spoke)!, assetId: d.assetId, amount: d.amount })), debt: [] };
    const data = deployment.health(positions, prices);
    const debtValue = targetDebtValue(data, b.targetHfBps);
    const asset = deployment.asset(b.debtAssetId);
    const amount = mulDiv(debtValue, unit(asset.decimals), prices.get(asset.id)!);
    if (amount === 0n) continue;
    borrows.push({ from: b.address, to: deployment.hubAddress, data: encodeFunctionData({ abi: hubAbi, functionName: "borrow", args: [asset.id, amount] }), what: `borrow by ${b.address}` });
  }
  await sendBatch(deployment, deployment.hub.name, borrows);
  phase("borrows");
  return borrowers.map((b) => b.address);
}
