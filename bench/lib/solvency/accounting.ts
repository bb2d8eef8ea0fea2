/**
 * Bad-debt accounting of one run, from the hub's own events, block by block, checked against the hub's state.
 *
 * Starting from the book and prices at the snapshot block, the hub's CollateralUpdated and DebtUpdated (balances
 * after), BadDebtWrittenOff and Take logs and the feeds' AnswerUpdated are applied block by block. At the end of
 * every block:
 * - written off: Σ BadDebtWrittenOff.amount per debt asset so far, each valued at its asset's price in its block
 *   (the hub's valueOf) — the debt the hub gave up, whether its reserve covered it or not;
 * - under water: accounts whose collateral value is below their debt value (Hub.accountData's values, as the
 *   solvency API counts them); their debt, and their shortfall (debt − collateral);
 * - bad debt = written off + shortfall of the accounts under water (what the protocol loses if they were closed
 *   now with no bonus paid); `badDebtWholeDebtUsd` counts their whole debt instead (the issue's wording).
 * At risk: every account that went under HF 1 — with its positions at the start of a block and the prices at
 * its end (a liquidator in that block acts after the price updates), or at the end of a block — or was taken;
 * its debt value at the first such block. Recovered: the debt repaid by takes (Take.repayAmount at the debt
 * asset's price). Every figure is a bigint (WAD USD); nothing here is a float.
 *
 * `checkAgainstHub` reads the hub at the last block and compares: every account's positions, its collateral and
 * debt value (Hub.accountData), every price (Hub.priceWad), and per debt asset the written-off total against
 * Hub.badDebt and Hub.reserve (written off = Δ badDebt − Δ reserve: the reserve pays what it covers).
 */
import type { Abi, AbiEvent, Address, Log } from "viem";
import { getAbiItem } from "viem";
import { hubAbi, priceFeedAbi } from "../../../abis/index.js";
import { priceToWad, valueOf } from "../../../src/health/health.js";
import { WAD } from "../../../src/health/wad.js";
import type { Deployment } from "../../../src/protocol/deployment.js";
import { type Book, type Position, cloneBook, clonePosition, hasDebt, marketKey, readBook, valuePosition } from "./book.js";
import { readMany } from "../multicall.js";

export interface BlockPoint {
  block: bigint;
  writtenOffUsd: bigint;
  underWaterAccounts: number;
  underWaterDebtUsd: bigint;
  shortfallUsd: bigint;
  /** writtenOffUsd + shortfallUsd. */
  badDebtUsd: bigint;
  /** writtenOffUsd + underWaterDebtUsd. */
  badDebtWholeDebtUsd: bigint;
  /** Accounts below HF 1 at the end of the block. */
  liquidatable: number;
  /** Debt repaid by takes so far (WAD USD). */
  repaidUsd: bigint;
}

export interface Accounting {
  series: BlockPoint[];
  final: BlockPoint;
  /** Written off per debt asset (base units) over the run. */
  writtenOff: Map<number, bigint>;
  /** Accounts at risk, with the block where each first went under HF 1 and its debt value then. */
  atRisk: Map<Address, { block: bigint; debtUsd: bigint }>;
  atRiskDebtUsd: bigint;
  takes: { account: Address; block: bigint; repayUsd: bigint }[];
  book: Book;
  prices: Map<number, bigint>;
}

const events = {
  collateral: getAbiItem({ abi: hubAbi, name: "CollateralUpdated" }),
  debt: getAbiItem({ abi: hubAbi, name: "DebtUpdated" }),
  writeOff: getAbiItem({ abi: hubAbi, name: "BadDebtWrittenOff" }),
  take: getAbiItem({ abi: hubAbi, name: "Take" }),
  answer: getAbiItem({ abi: priceFeedAbi, name: "AnswerUpdated" }),
};

type AnyLog = Log<bigint, number, false, AbiEvent, true> & { eventName: string; args: Record<string, unknown> };

async function logs(d: Deployment, fromBlock: bigint, toBlock: bigint): Promise<AnyLog[]> {
  const reader = d.hubClients.public;
  const feeds = d.manifest.assets.map((a) => d.feed(a.id));
  const out: AnyLog[] = [];
  for (let from = fromBlock; from <= toBlock; from += 2_000n) {
    const to = from + 1_999n < toBlock ? from + 1_999n : toBlock;
    const [hub, feed] = await Promise.all([
      reader.getLogs({ address: d.hubAddress, events: [events.collateral, events.debt, events.writeOff, events.take], fromBlock: from, toBlock: to, strict: true }),
      reader.getLogs({ address: feeds, event: events.answer, fromBlock: from, toBlock: to, strict: true }),
    ]);
    out.push(...(hub as unknown as AnyLog[]), ...(feed as unknown as AnyLog[]));
  }
  return out.sort((a, b) => (a.blockNumber !== b.blockNumber ? (a.blockNumber < b.blockNumber ? -1 : 1) : a.logIndex - b.logIndex));
}

export interface ReplayInput {
  d: Deployment;
  accounts: readonly Address[];
  /** The book and WAD prices at the block before `fromBlock` (the snapshot). */
  book: Book;
  prices: ReadonlyMap<number, bigint>;
  fromBlock: bigint;
  toBlock: bigint;
  /** Points are kept from this block on (every block is replayed). */
  seriesFrom?: bigint;
}

/** Replays the run's hub events block by block (see the header). */
export async function replay(input: ReplayInput): Promise<Accounting> {
  const { d } = input;
  const book = cloneBook(input.book);
  for (const a of input.accounts) if (!book.has(a)) book.set(a, { collateral: new Map(), debt: new Map() });
  const prices = new Map(input.prices);
  const feedAsset = new Map(d.manifest.assets.map((a) => [d.feed(a.id).toLowerCase(), a] as const));
  const decimals = new Map(d.manifest.assets.map((a) => [a.id, a.decimals] as const));
  const writtenOff = new Map<number, bigint>(d.debtAssets.map((a) => [a.id, 0n]));
  let writtenOffUsd = 0n;
  let repaidUsd = 0n;
  const atRisk = new Map<Address, { block: bigint; debtUsd: bigint }>();
  const takes: Accounting["takes"] = [];
  const series: BlockPoint[] = [];
  const all = await logs(d, input.fromBlock, input.toBlock);
  let i = 0;
  let point: BlockPoint | undefined;
  for (let block = input.fromBlock; block <= input.toBlock; block++) {
    const touched = new Map<Address, Position>();
    const taken = new Set<Address>();
    for (; i < all.length && all[i]!.blockNumber === block; i++) {
      const log = all[i]!;
      const args = log.args;
      const before = (account: Address) => {
        const p = book.get(account)!;
        if (!touched.has(account)) touched.set(account, clonePosition(p));
        return p;
      };
      switch (log.eventName) {
        case "CollateralUpdated": {
          const account = args.account as Address;
          if (!book.has(account)) book.set(account, { collateral: new Map(), debt: new Map() });
          before(account).collateral.set(marketKey(Number(args.eid), Number(args.assetId)), args.balance as bigint);
          break;
        }
        case "DebtUpdated": {
          const account = args.account as Address;
          if (!book.has(account)) book.set(account, { collateral: new Map(), debt: new Map() });
          before(account).debt.set(Number(args.assetId), args.balance as bigint);
          break;
        }
        case "BadDebtWrittenOff": {
          const assetId = Number(args.assetId);
          const amount = args.amount as bigint;
          writtenOff.set(assetId, (writtenOff.get(assetId) ?? 0n) + amount);
          writtenOffUsd += valueOf(amount, prices.get(assetId)!, decimals.get(assetId)!);
          break;
        }
        case "Take": {
          const assetId = Number(args.debtAssetId);
          const repayUsd = valueOf(args.repayAmount as bigint, prices.get(assetId)!, decimals.get(assetId)!);
          repaidUsd += repayUsd;
          takes.push({ account: args.account as Address, block, repayUsd });
          taken.add(args.account as Address);
          break;
        }
        case "AnswerUpdated": {
          const asset = feedAsset.get(log.address.toLowerCase());
          if (asset) prices.set(asset.id, priceToWad(args.current as bigint, asset.feedDecimals));
          break;
        }
      }
    }
    let underWaterAccounts = 0;
    let underWaterDebtUsd = 0n;
    let shortfallUsd = 0n;
    let liquidatable = 0;
    for (const [account, p] of book) {
      // The position before this block's own changes, at this block's prices: what a liquidator in it saw.
      const start = touched.get(account) ?? p;
      if (!atRisk.has(account)) {
        const seen = hasDebt(start) ? valuePosition(d, start, prices) : undefined;
        const end = start === p ? seen : hasDebt(p) ? valuePosition(d, p, prices) : undefined;
        if ((seen && seen.healthFactor < WAD) || (end && end.healthFactor < WAD) || taken.has(account)) {
          atRisk.set(account, { block, debtUsd: (seen ?? valuePosition(d, start, prices)).debtValue });
        }
      }
      if (!hasDebt(p)) continue;
      const v = valuePosition(d, p, prices);
      if (v.healthFactor < WAD) liquidatable++;
      if (v.collateralValue < v.debtValue) {
        underWaterAccounts++;
        underWaterDebtUsd += v.debtValue;
        shortfallUsd += v.debtValue - v.collateralValue;
      }
    }
    point = {
      block,
      writtenOffUsd,
      underWaterAccounts,
      underWaterDebtUsd,
      shortfallUsd,
      badDebtUsd: writtenOffUsd + shortfallUsd,
      badDebtWholeDebtUsd: writtenOffUsd + underWaterDebtUsd,
      liquidatable,
      repaidUsd,
    };
    if (block >= (input.seriesFrom ?? input.fromBlock)) series.push(point);
  }
  if (!point) throw new Error(`replay: empty block range ${input.fromBlock}..${input.toBlock}`);
  const atRiskDebtUsd = [...atRisk.values()].reduce((s, r) => s + r.debtUsd, 0n);
  return { series, final: point, writtenOff, atRisk, atRiskDebtUsd, takes, book, prices };
}

/** Hub.badDebt and Hub.reserve per debt asset at a block. */
export async function reserves(d: Deployment, blockNumber: bigint): Promise<Map<number, { badDebt: bigint; reserve: bigint }>> {
  const ids = d.debtAssets.map((a) => a.id);
  const calls = ids.flatMap((id) => [
    { address: d.hubAddress, abi: hubAbi as Abi, functionName: "badDebt", args: [id] },
    { address: d.hubAddress, abi: hubAbi as Abi, functionName: "reserve", args: [id] },
  ]);
  const values = (await readMany(d.hubClients.public, calls, blockNumber)) as bigint[];
  return new Map(ids.map((id, i) => [id, { badDebt: values[2 * i]!, reserve: values[2 * i + 1]! }] as const));
}

/**
 * Compares the replay's end state with the hub's at `toBlock`, to the wei; returns the mismatches (none when
 * the accounting is the hub's). `before` is Hub.badDebt/reserve at the snapshot block.
 */
export async function checkAgainstHub(
  d: Deployment,
  acc: Accounting,
  toBlock: bigint,
  before: Map<number, { badDebt: bigint; reserve: bigint }>,
): Promise<string[]> {
  const mismatches: string[] = [];
  const accounts = [...acc.book.keys()];
  const [book, after, prices, data] = await Promise.all([
    readBook(d, accounts, toBlock),
    reserves(d, toBlock),
    d.pricesWad(toBlock),
    readMany(
      d.hubClients.public,
      accounts.map((a) => ({ address: d.hubAddress, abi: hubAbi as Abi, functionName: "accountData", args: [a] })),
      toBlock,
      50,
    ) as Promise<[bigint, bigint, bigint, bigint, bigint][]>,
  ]);
  for (const [id, p] of prices) if (acc.prices.get(id) !== p) mismatches.push(`price of asset ${id}: replay ${acc.prices.get(id)}, hub ${p}`);
  accounts.forEach((account, i) => {
    const mine = acc.book.get(account)!;
    const hub = book.get(account)!;
    for (const [key, amount] of hub.collateral) if ((mine.collateral.get(key) ?? 0n) !== amount) mismatches.push(`${account} collateral ${key}: replay ${mine.collateral.get(key) ?? 0n}, hub ${amount}`);
    for (const [id, amount] of hub.debt) if ((mine.debt.get(id) ?? 0n) !== amount) mismatches.push(`${account} debt ${id}: replay ${mine.debt.get(id) ?? 0n}, hub ${amount}`);
    const v = valuePosition(d, mine, acc.prices);
    const [collateralValue, , , debtValue] = data[i]!;
    if (v.collateralValue !== collateralValue || v.debtValue !== debtValue) {
      mismatches.push(`${account} values: replay ${v.collateralValue}/${v.debtValue}, hub accountData ${collateralValue}/${debtValue}`);
    }
  });
  for (const [id, written] of acc.writtenOff) {
    const b = before.get(id)!;
    const a = after.get(id)!;
    const hub = a.badDebt - b.badDebt + (b.reserve - a.reserve);
    if (hub !== written) mismatches.push(`asset ${id} written off: replay ${written}, hub Δ badDebt − Δ reserve ${hub}`);
  }
  return mismatches;
}
