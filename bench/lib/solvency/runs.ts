/**
 * The three runs of the solvency benchmark on one seeded devnet, each from the same pre-crash state.
 *
 * State: after seeding (and the random walk), `evm_snapshot` on every chain; before each run every chain drops
 * its pending transactions, `evm_revert`s to its snapshot and snapshots again, and the bench checks that every
 * chain's head block (number and hash) is the snapshot's. One seeding serves every run.
 *
 * Blocks: the bench mines the hub itself (automine off, `evm_setNextBlockTimestamp` + `evm_mine`), one block per
 * step, `blockTime` seconds apart in block time, so step i of the cascade is in hub block crash + i in every run,
 * and every run has the same horizon: the cascade's steps, then `tail` blocks of unchanged prices. A step's feed
 * updates are sent before anything else bound for its block, so they come first in it (the hub orders its pool
 * by arrival; the ideal run checks it).
 * - none: the steps, nothing else.
 * - ideal: in each block, after the step's updates, every account below HF 1 at the new prices is kicked (unless
 *   its auction runs) and taken at the close factor (debt × closeFactor of its largest debt, from its collateral
 *   positions largest first, as many takes as that needs), with the hub's own math; again in every block while it
 *   is below 1. The hub's block gas limit is lifted for it (evm_setBlockGasLimit) so every kick and take fits in
 *   its block: the ideal is not limited by gas. Blocks are mined as fast as the bench can send. Its SEIZE packets
 *   go through a devnet deliverer with the run's confirmations (spokes automine).
 * - salvage: one relayer process as shipped (bench/lib/relayer.ts, hub scanner detection, oracle backrun), started
 *   on a manifest with the run's lzConfirmations and let build its book; the devnet's deliverer in a process of its
 *   own (the relayer runs with --no-deliver: on a real network LayerZero's DVN and executor deliver); then a hub
 *   block every `blockTime` seconds of wall time (the relayer sees a chain with `blockTime` blocks), spokes
 *   interval-mined at `blockTime`.
 */
import { type Address, type Hex, encodeFunctionData, maxUint256, numberToHex } from "viem";
import { hubAbi, priceFeedAbi, testTokenAbi } from "../../../abis/index.js";
import { writeManifest, type Manifest } from "../../../src/deployment/manifest.js";
import { devnetAccounts } from "../../../src/devnet/accounts.js";
import type { CascadeStep } from "../../../src/devnet/cascade.js";
import { createDevnetDeliverer } from "../../../src/devnet/network.js";
import { type AuctionParams, bonusAt, priceToWad, quoteTake, valueOf } from "../../../src/health/health.js";
import { WAD, mulDiv } from "../../../src/health/wad.js";
import type { Deployment } from "../../../src/protocol/deployment.js";
import { mapLimit } from "../../../src/util/concurrency.js";
import { log, sleep } from "../common.js";
import type { BenchNetwork } from "../network.js";
import { dropSchema, uniqueSchema } from "../pg.js";
import { startDelivererProcess, startRelayer } from "../relayer.js";
import { type AuctionState, type Book, cloneBook, hasDebt, marketKey, readAuctions, readBook, valuePosition } from "./book.js";

export type RunKind = "none" | "ideal" | "salvage";

export interface SolvencyDevnet {
  net: BenchNetwork;
  d: Deployment;
  accounts: Address[];
  /** Snapshot id per chain name (renewed by every reset). */
  snapshots: Map<string, Hex>;
  heads: Map<string, { number: bigint; hash: Hex }>;
  /** The hub's book and WAD prices at the snapshot block. */
  book: Book;
  prices: Map<number, bigint>;
  hubGasLimit: bigint;
}

export interface RunRecord {
  kind: RunKind;
  confirmations: number;
  /** First block after the snapshot (the replay starts here). */
  fromBlock: bigint;
  /** Hub block of step 0 (the crash). */
  crashBlock: bigint;
  /** The last block of the horizon (crash + steps + tail − 1): every figure is read here. */
  endBlock: bigint;
  wallMs: number;
  /** Ideal: kicks and takes sent, and the ones that reverted; SEIZE packets delivered. */
  sent?: { kicks: number; takes: number; reverted: number; delivered: number };
  /** Salvage: accounts the relayer logged as recovered (collateral seized) before it was stopped. */
  recovered?: number;
  note?: string;
}

const rpc = <T = unknown>(d: Deployment, chain: string, method: string, params: unknown[] = []) =>
  d.clients(chain).public.request({ method, params } as never) as Promise<T>;

async function head(d: Deployment, chain: string): Promise<{ number: bigint; hash: Hex; timestamp: bigint }> {
  const b = await d.clients(chain).public.getBlock({ blockTag: "latest" });
  return { number: b.number, hash: b.hash, timestamp: b.timestamp };
}

/** Snapshots every chain of a seeded devnet and reads the book at the snapshot. */
export async function snapshotDevnet(net: BenchNetwork): Promise<SolvencyDevnet> {
  const d = net.deployment;
  const snapshots = new Map<string, Hex>();
  const heads = new Map<string, { number: bigint; hash: Hex }>();
  for (const c of d.manifest.chains) {
    snapshots.set(c.name, await rpc<Hex>(d, c.name, "evm_snapshot"));
    const h = await head(d, c.name);
    heads.set(c.name, { number: h.number, hash: h.hash });
  }
  const at = heads.get(d.hub.name)!.number;
  const book = await readBook(d, net.borrowers, at);
  const prices = await d.pricesWad(at);
  return { net, d, accounts: net.borrowers, snapshots, heads, book, prices, hubGasLimit: net.hubGasLimit };
}

/** Every chain back to the snapshot: pending transactions dropped, reverted, snapshotted again, automining. */
export async function resetDevnet(dev: SolvencyDevnet): Promise<void> {
  const { d } = dev;
  for (const c of d.manifest.chains) {
    await rpc(d, c.name, "evm_setIntervalMining", [0]);
    await rpc(d, c.name, "evm_setAutomine", [false]);
    await rpc(d, c.name, "anvil_dropAllTransactions");
    const ok = await rpc<boolean>(d, c.name, "evm_revert", [dev.snapshots.get(c.name)]);
    if (!ok) throw new Error(`evm_revert refused on ${c.name}`);
    dev.snapshots.set(c.name, await rpc<Hex>(d, c.name, "evm_snapshot"));
    const h = await head(d, c.name);
    const want = dev.heads.get(c.name)!;
    if (h.number !== want.number || h.hash !== want.hash) throw new Error(`${c.name} after evm_revert: head ${h.number} ${h.hash}, snapshot ${want.number} ${want.hash}`);
    await rpc(d, c.name, "anvil_dropAllTransactions");
    await rpc(d, c.name, "evm_setAutomine", [true]);
  }
  await rpc(d, d.hub.name, "evm_setBlockGasLimit", [numberToHex(dev.hubGasLimit)]);
}

/** A manifest whose every chain waits `confirmations` blocks before a packet sent there is verified. */
export function withConfirmations(manifest: Manifest, confirmations: number): Manifest {
  return { ...manifest, chains: manifest.chains.map((c) => ({ ...c, lzConfirmations: confirmations })) };
}

const FEES = { maxFeePerGas: numberToHex(1_000n * 10n ** 9n), maxPriorityFeePerGas: numberToHex(10n ** 9n) };

interface Tx {
  from: Address;
  to: Address;
  data: Hex;
  gas: bigint;
  value?: bigint;
}

/** Sends transactions of one sender with consecutive nonces from its pending count; returns their hashes in order. */
async function sendAll(d: Deployment, from: Address, txs: Omit<Tx, "from">[]): Promise<Hex[]> {
  if (txs.length === 0) return [];
  const reader = d.hubClients.public;
  const nonce = await reader.getTransactionCount({ address: from, blockTag: "pending" });
  return mapLimit(txs, 16, (tx, i) =>
    rpc<Hex>(d, d.hub.name, "eth_sendTransaction", [
      { from, to: tx.to, data: tx.data, gas: numberToHex(tx.gas), value: numberToHex(tx.value ?? 0n), nonce: numberToHex(nonce + i), ...FEES },
    ]),
  );
}

/** The step's feed updates (deployer), sent before anything else of its block. */
function sendAnswers(d: Deployment, answers: ReadonlyMap<number, bigint> | undefined): Promise<Hex[]> {
  if (!answers) return Promise.resolve([]);
  return sendAll(
    d,
    devnetAccounts.deployer.address,
    [...answers].map(([id, answer]) => ({ to: d.feed(id), data: encodeFunctionData({ abi: priceFeedAbi, functionName: "updateAnswer", args: [answer] }), gas: 200_000n })),
  );
}

async function mineAt(d: Deployment, timestamp: bigint): Promise<bigint> {
  await rpc(d, d.hub.name, "evm_setNextBlockTimestamp", [numberToHex(timestamp)]);
  await rpc(d, d.hub.name, "evm_mine");
  return (await head(d, d.hub.name)).number;
}

interface Receipt {
  transactionHash: Hex;
  transactionIndex: Hex;
  status: Hex;
  from: Address;
}

async function receiptsOf(d: Deployment, block: bigint): Promise<Receipt[]> {
  return rpc<Receipt[]>(d, d.hub.name, "eth_getBlockReceipts", [numberToHex(block)]);
}

export interface HorizonOptions {
  path: CascadeStep[];
  tail: number;
  blockTime: number;
}

const horizon = (o: HorizonOptions) => o.path.length + o.tail;

/** none: the cascade's steps one hub block each, then the tail's blocks; nobody liquidates. */
export async function runNone(dev: SolvencyDevnet, o: HorizonOptions & { confirmations: number }): Promise<RunRecord> {
  const started = Date.now();
  await resetDevnet(dev);
  const { d } = dev;
  const fromBlock = dev.heads.get(d.hub.name)!.number + 1n;
  await rpc(d, d.hub.name, "evm_setAutomine", [false]);
  let t = (await head(d, d.hub.name)).timestamp + BigInt(o.blockTime);
  let crashBlock = 0n;
  let block = 0n;
  for (let i = 0; i < horizon(o); i++, t += BigInt(o.blockTime)) {
    await sendAnswers(d, o.path[i]?.answers);
    block = await mineAt(d, t);
    if (i === 0) crashBlock = block;
  }
  await rpc(d, d.hub.name, "evm_setAutomine", [true]);
  return { kind: "none", confirmations: o.confirmations, fromBlock, crashBlock, endBlock: block, wallMs: Date.now() - started };
}

/** The ideal liquidator's orders for one block (see the header); `book`/`auctions` are updated as the hub will. */
export function idealOrders(
  d: Deployment,
  book: Book,
  auctions: Map<Address, AuctionState>,
  prices: ReadonlyMap<number, bigint>,
  params: AuctionParams,
  timestamp: bigint,
): { account: Address; kick: boolean; takes: { debtAssetId: number; maxRepay: bigint; eid: number; assetId: number }[] }[] {
  const out: ReturnType<typeof idealOrders> = [];
  const decimals = new Map(d.manifest.assets.map((a) => [a.id, a.decimals] as const));
  for (const [account, p] of book) {
    if (!hasDebt(p) || valuePosition(d, p, prices).healthFactor >= WAD) continue;
    const auction = auctions.get(account) ?? { active: false, startedAt: 0n };
    const kick = !auction.active || timestamp > auction.startedAt + params.auctionTail;
    const startedAt = kick ? timestamp : auction.startedAt;
    const bonus = bonusAt(params, startedAt, timestamp);
    const [debtAssetId, debt] = [...p.debt]
      .filter(([, a]) => a > 0n)
      .sort(([x, a], [y, b]) => {
        const va = valueOf(a, prices.get(x)!, decimals.get(x)!);
        const vb = valueOf(b, prices.get(y)!, decimals.get(y)!);
        return va > vb ? -1 : va < vb ? 1 : x - y;
      })[0]!;
    let remaining = mulDiv(debt, params.closeFactor, WAD);
    const positions = [...p.collateral]
      .filter(([, a]) => a > 0n)
      .map(([key, amount]) => {
        const [eid, assetId] = key.split(":").map(Number) as [number, number];
        return { eid, assetId, amount, value: valueOf(amount, prices.get(assetId)!, decimals.get(assetId)!) };
      })
      .sort((a, b) => (a.value > b.value ? -1 : a.value < b.value ? 1 : a.eid - b.eid || a.assetId - b.assetId));
    const takes: ReturnType<typeof idealOrders>[number]["takes"] = [];
    for (const c of positions) {
      if (remaining === 0n || !hasDebt(p) || valuePosition(d, p, prices).healthFactor >= WAD) break;
      const q = quoteTake({
        debtAmount: p.debt.get(debtAssetId)!,
        debtPriceWad: prices.get(debtAssetId)!,
        debtDecimals: decimals.get(debtAssetId)!,
        collateralAmount: c.amount,
        collateralPriceWad: prices.get(c.assetId)!,
        collateralDecimals: decimals.get(c.assetId)!,
        closeFactor: params.closeFactor,
        bonus,
        maxRepay: remaining,
      });
      if (q.repayAmount === 0n || q.seizeAmount === 0n) continue;
      takes.push({ debtAssetId, maxRepay: remaining, eid: c.eid, assetId: c.assetId });
      p.debt.set(debtAssetId, p.debt.get(debtAssetId)! - q.repayAmount);
      p.collateral.set(marketKey(c.eid, c.assetId), c.amount - q.seizeAmount);
      remaining = q.repayAmount >= remaining ? 0n : remaining - q.repayAmount;
      // The hub writes off what is left once no collateral is.
      if ([...p.collateral.values()].every((a) => a === 0n)) for (const id of p.debt.keys()) p.debt.set(id, 0n);
    }
    if (takes.length === 0 && !kick) continue;
    const healthy = !hasDebt(p) || valuePosition(d, p, prices).healthFactor >= WAD;
    auctions.set(account, healthy && takes.length > 0 ? { active: false, startedAt } : { active: true, startedAt });
    out.push({ account, kick, takes });
  }
  return out;
}

/** ideal: see the header. */
export async function runIdeal(dev: SolvencyDevnet, o: HorizonOptions & { confirmations: number; idealGasLimit?: bigint }): Promise<RunRecord> {
  const started = Date.now();
  await resetDevnet(dev);
  const { d } = dev;
  const hub = d.hubAddress;
  const liquidator = devnetAccounts.liquidator.address;
  const reader = d.hubClients.public;
  // Inventory approvals (automine): the liquidator's debt tokens (minted when the devnet was seeded) to the hub.
  for (const a of d.debtAssets) {
    const hash = await rpc<Hex>(d, d.hub.name, "eth_sendTransaction", [{ from: liquidator, to: d.hub.tokens[String(a.id)]!, data: encodeFunctionData({ abi: testTokenAbi, functionName: "approve", args: [hub, maxUint256] }) }]);
    const r = await reader.waitForTransactionReceipt({ hash });
    if (r.status !== "success") throw new Error(`ideal: approve of asset ${a.id} reverted`);
  }
  const fromBlock = dev.heads.get(d.hub.name)!.number + 1n;
  const [closeFactor, minBonus, maxBonus, auctionDuration, auctionTail] = await reader.readContract({ address: hub, abi: hubAbi, functionName: "auctionParams" });
  const params: AuctionParams = { closeFactor, minBonus, maxBonus, auctionDuration: BigInt(auctionDuration), auctionTail: BigInt(auctionTail) };
  const fees = new Map(await Promise.all(d.spokes.map(async (s) => [s.eid, await reader.readContract({ address: hub, abi: hubAbi, functionName: "quoteSpokeMessage", args: [s.eid] })] as const)));

  const deliverer = createDevnetDeliverer(withConfirmations(d.manifest, o.confirmations), { pollIntervalMs: 100, retryBaseMs: 50, retryMaxMs: 400 });
  const book = cloneBook(dev.book);
  const auctions = new Map<Address, AuctionState>();
  const prices = new Map(dev.prices);
  const feedDecimals = new Map(d.manifest.assets.map((a) => [a.id, a.feedDecimals] as const));
  let kicks = 0;
  let takes = 0;
  let reverted = 0;
  let crashBlock = 0n;
  let block = 0n;
  try {
    deliverer.start();
    await rpc(d, d.hub.name, "evm_setAutomine", [false]);
    await rpc(d, d.hub.name, "evm_setBlockGasLimit", [numberToHex(o.idealGasLimit ?? 10_000_000_000n)]);
    let t = (await head(d, d.hub.name)).timestamp + BigInt(o.blockTime);
    for (let i = 0; i < horizon(o); i++, t += BigInt(o.blockTime)) {
      const answers = o.path[i]?.answers;
      const priceTxs = await sendAnswers(d, answers);
      for (const [id, answer] of answers ?? []) prices.set(id, priceToWad(answer, feedDecimals.get(id)!));
      const orders = idealOrders(d, book, auctions, prices, params, t);
      const txs: Omit<Tx, "from">[] = [];
      for (const order of orders) {
        if (order.kick) txs.push({ to: hub, data: encodeFunctionData({ abi: hubAbi, functionName: "kick", args: [order.account] }), gas: 200_000n });
        for (const k of order.takes) {
          txs.push({
            to: hub,
            data: encodeFunctionData({ abi: hubAbi, functionName: "take", args: [order.account, k.debtAssetId, k.maxRepay, k.eid, k.assetId, 0n, liquidator] }),
            gas: 600_000n,
            value: fees.get(k.eid)!,
          });
        }
        kicks += order.kick ? 1 : 0;
        takes += order.takes.length;
      }
      const liquidatorTxs = await sendAll(d, liquidator, txs);
      block = await mineAt(d, t);
      if (i === 0) crashBlock = block;
      const receipts = await receiptsOf(d, block);
      const byHash = new Map(receipts.map((r) => [r.transactionHash.toLowerCase(), r] as const));
      const missing = [...priceTxs, ...liquidatorTxs].filter((h) => !byHash.has(h.toLowerCase()));
      if (missing.length) throw new Error(`ideal: ${missing.length} transactions of step ${i} not mined in its block ${block}`);
      const priceIdx = priceTxs.map((h) => Number(byHash.get(h.toLowerCase())!.transactionIndex));
      const liqIdx = liquidatorTxs.map((h) => Number(byHash.get(h.toLowerCase())!.transactionIndex));
      if (liqIdx.length > 0 && priceIdx.length > 0 && Math.max(...priceIdx) > Math.min(...liqIdx)) {
        throw new Error(`ideal: block ${block} did not put the step's price updates first`);
      }
      if (priceTxs.some((h) => byHash.get(h.toLowerCase())!.status !== "0x1")) throw new Error(`ideal: a price update of step ${i} reverted`);
      reverted += liquidatorTxs.filter((h) => byHash.get(h.toLowerCase())!.status !== "0x1").length;
      // The hub's word on every account acted on: positions and auctions as mined.
      const touched = orders.map((x) => x.account);
      if (touched.length) {
        const [fresh, freshAuctions] = await Promise.all([readBook(d, touched, block), readAuctions(d, touched, block)]);
        for (const [a, p] of fresh) book.set(a, p);
        for (const [a, s] of freshAuctions) auctions.set(a, s);
      }
    }
    // Confirmations for the last SEIZE packets (blocks past the horizon change nothing measured), then delivery.
    await rpc(d, d.hub.name, "anvil_mine", [numberToHex(Math.max(1, o.confirmations)), numberToHex(o.blockTime)]);
    await deliverer.drain(300_000);
  } finally {
    await deliverer.stop();
    await rpc(d, d.hub.name, "evm_setAutomine", [true]);
    await rpc(d, d.hub.name, "evm_setBlockGasLimit", [numberToHex(dev.hubGasLimit)]);
  }
  const delivered = deliverer.list().filter((p) => p.srcEid === d.hub.eid && p.sentBlock >= fromBlock && p.status === "delivered").length;
  return { kind: "ideal", confirmations: o.confirmations, fromBlock, crashBlock, endBlock: block, wallMs: Date.now() - started, sent: { kicks, takes, reverted, delivered } };
}

/** salvage: see the header. */
export async function runSalvage(
  dev: SolvencyDevnet,
  o: HorizonOptions & { confirmations: number; appRoot: string; manifestPath: string; startTimeoutMs?: number },
): Promise<RunRecord> {
  const started = Date.now();
  await resetDevnet(dev);
  const { d, net } = dev;
  const fromBlock = dev.heads.get(d.hub.name)!.number + 1n;
  writeManifest(o.manifestPath, withConfirmations(net.manifest, o.confirmations));
  const schema = uniqueSchema("solvency");
  // LayerZero's DVN and executor are not the relayer's process on a real network: the devnet's deliverer runs in a
  // process of its own (as in the crash benchmark), with the run's confirmations, and the relayer does not deliver.
  const deliverer = await startDelivererProcess(o.manifestPath, 100);
  const relayer = await startRelayer({ appRoot: o.appRoot, manifestPath: o.manifestPath, databaseUrl: net.databaseUrl, schema, noDeliver: true }).catch(async (error: unknown) => {
    await deliverer.stop();
    throw error;
  });
  let crashBlock = 0n;
  let block = 0n;
  try {
    // Steady state before the crash: the scanner has built its book, and a few polls ran (allowances set).
    const deadline = Date.now() + (o.startTimeoutMs ?? 120_000);
    while (!relayer.log().includes("hub scanner built its book")) {
      if (Date.now() > deadline) throw new Error(`salvage: the relayer did not build its book in time:\n${relayer.log().slice(-2_000)}`);
      await sleep(100);
    }
    await sleep(2_000);
    for (const s of d.spokes) {
      await rpc(d, s.name, "evm_setAutomine", [false]);
      await rpc(d, s.name, "evm_setIntervalMining", [o.blockTime]);
    }
    await rpc(d, d.hub.name, "evm_setAutomine", [false]);
    let t = (await head(d, d.hub.name)).timestamp + BigInt(o.blockTime);
    let tick = Date.now() + o.blockTime * 1_000;
    for (let i = 0; i < horizon(o); i++, t += BigInt(o.blockTime), tick += o.blockTime * 1_000) {
      // The step's updates go out at once, before the relayer's reaction to the last block: first in this one.
      await sendAnswers(d, o.path[i]?.answers);
      await sleep(Math.max(0, tick - Date.now()));
      block = await mineAt(d, t);
      if (i === 0) crashBlock = block;
    }
  } finally {
    await relayer.stop();
    await deliverer.stop();
    await dropSchema(net.databaseUrl, schema).catch(() => {});
    for (const c of d.manifest.chains) {
      await rpc(d, c.name, "evm_setIntervalMining", [0]);
      await rpc(d, c.name, "evm_setAutomine", [true]);
    }
  }
  const recovered = new Set(relayer.recovered.map((r) => r.account)).size;
  log(`salvage run (${o.confirmations} confirmations): ${recovered} accounts recovered by the relayer before the horizon`);
  return { kind: "salvage", confirmations: o.confirmations, fromBlock, crashBlock, endBlock: block, wallMs: Date.now() - started, recovered, note: relayer.note };
}
