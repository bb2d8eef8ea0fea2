/**
 * The incremental hub scanner: detection straight from the hub chain whose RPC cost per hub block does not
 * grow with the number of borrowers.
 *
 * At start (and after a reorg) it reads, at one block H, the hub's asset configs, debt assets and collateral
 * markets and each feed's latestRoundData, then replays the hub's position events from the deployment's start
 * block to H (eth_getLogs, chunked). Each poll after that makes one `eth_getBlockByNumber("latest")` and, when
 * there are new blocks, one `eth_getLogs` over them (chunked past `maxBlockRange`) with the address list
 * [hub, every price feed] and the topics of the events that change health: Hub CollateralUpdated, DebtUpdated,
 * AssetListed, CollateralMarketListed and PriceFeed AnswerUpdated. Only the accounts those logs touch (a
 * position change, or a price or config change of an asset they hold) are recomputed, with the hub's own math.
 *
 * Reorgs: the hash of the last block scanned is kept; when the chain no longer has it (checked through the new
 * head's parentHash, or one `eth_getBlockByNumber(last)` when several blocks are new) the book is rebuilt
 * from the start block. A failed read leaves the cursor and the book as they were and returns the last known
 * candidates: the scanner never throws from `poll`.
 */
import { type Address, type Log, getAbiItem } from "viem";
import { hubAbi, priceFeedAbi } from "../../../abis/index.js";
import type { Deployment } from "../../protocol/deployment.js";
import { mapLimit } from "../../util/concurrency.js";
import { type BookAsset, HubBook } from "./book.js";
import { type PendingOracle, PendingOracleWatch } from "./pending.js";
import { type DetectionLogger, errorMessage, silentLogger } from "./types.js";

const collateralUpdated = getAbiItem({ abi: hubAbi, name: "CollateralUpdated" });
const debtUpdated = getAbiItem({ abi: hubAbi, name: "DebtUpdated" });
const assetListed = getAbiItem({ abi: hubAbi, name: "AssetListed" });
const collateralMarketListed = getAbiItem({ abi: hubAbi, name: "CollateralMarketListed" });
const answerUpdated = getAbiItem({ abi: priceFeedAbi, name: "AnswerUpdated" });

/** Events replayed to build the book (configs and prices are read at the build block instead). */
const POSITION_EVENTS = [collateralUpdated, debtUpdated] as const;
/** Events that change some account's health, followed block by block. */
const HEALTH_EVENTS = [collateralUpdated, debtUpdated, assetListed, collateralMarketListed, answerUpdated] as const;

export interface HubScannerOptions {
  deployment: Deployment;
  log?: DetectionLogger;
  /** Most blocks per eth_getLogs request (default 5,000). */
  maxBlockRange?: number;
  /** eth_getLogs requests in flight while building the book (default 4). */
  buildConcurrency?: number;
  /** Watch the hub's pending feed updates and report the accounts they will put under HF 1 (pending.ts; default true). */
  backrun?: boolean;
}

export interface ScanResult {
  /** False when this poll could not read the chain: `candidates` are then the last known ones. */
  ok: boolean;
  /** The last hub head seen (null before the first successful read). */
  head: bigint | null;
  /** The last hub block whose events are in the book (null until the book is built). */
  scannedBlock: bigint | null;
  /** Accounts whose local health factor is below 1, lowest first. */
  candidates: Address[];
  /** Feed updates in the hub's pool and the accounts they put under HF 1 (null: none, or not watched). */
  pending: PendingOracle | null;
  error?: string;
}

interface BlockRef {
  number: bigint;
  hash: `0x${string}`;
}

type HealthLog = Log<bigint, number, false, undefined, true, typeof HEALTH_EVENTS>;

export class IncrementalHubScanner {
  private readonly deployment: Deployment;
  private readonly log: DetectionLogger;
  private readonly maxBlockRange: bigint;
  private readonly buildConcurrency: number;
  private book: HubBook | null = null;
  private last: BlockRef | null = null;
  private head: bigint | null = null;
  private failing = false;
  private running: Promise<ScanResult> | null = null;
  private readonly pendingWatch: PendingOracleWatch | null;
  private pendingFailing = false;

  constructor(options: HubScannerOptions) {
    this.deployment = options.deployment;
    this.log = options.log ?? silentLogger;
    this.maxBlockRange = BigInt(options.maxBlockRange ?? 5_000);
    this.buildConcurrency = options.buildConcurrency ?? 4;
    this.pendingWatch = options.backrun === false ? null : new PendingOracleWatch(this.deployment.hubClients, this.log);
    if (this.maxBlockRange < 1n) throw new RangeError(`maxBlockRange must be at least 1, got ${options.maxBlockRange}`);
  }

  /** Brings the book to the hub's head and returns the accounts under HF 1. Never throws. Concurrent calls share one poll. */
  poll(): Promise<ScanResult> {
    this.running ??= this.pollOnce().finally(() => (this.running = null));
    return this.running;
  }

  /** Accounts whose local health factor is below 1, lowest first (as of the last successful poll). */
  candidates(): Address[] {
    return this.book?.liquidatable() ?? [];
  }

  /** The local health factor of every account with positions (as of the last successful poll). */
  healthFactors(): ReadonlyMap<Address, bigint> {
    return this.book?.healthFactors() ?? new Map();
  }

  get scannedBlock(): bigint | null {
    return this.last?.number ?? null;
  }

  get headBlock(): bigint | null {
    return this.head;
  }

  private get reader() {
    return this.deployment.hubClients.public;
  }

  private async pollOnce(): Promise<ScanResult> {
    try {
      const latest = await this.reader.getBlock({ blockTag: "latest" });
      const head: BlockRef = { number: latest.number, hash: latest.hash };
      this.head = head.number;
      if (!this.book || !this.last) {
        await this.build(head);
      } else if (head.number < this.last.number || (head.number === this.last.number && head.hash !== this.last.hash)) {
        await this.rebuild(head, `the hub's head ${head.number} no longer extends block ${this.last.number} ${this.last.hash}`);
      } else if (head.number > this.last.number) {
        const extends_ =
          head.number === this.last.number + 1n
            ? latest.parentHash === this.last.hash
            : (await this.reader.getBlock({ blockNumber: this.last.number })).hash === this.last.hash;
        if (!extends_) await this.rebuild(head, `block ${this.last.number} changed (was ${this.last.hash})`);
        else await this.advance(this.book, this.last, head);
      }
      if (this.failing) this.log.info({ block: this.last?.number.toString() }, "hub scanner reads the chain again");
      this.failing = false;
      return this.result(true, await this.pollPending());
    } catch (error) {
      if (!this.failing) this.log.warn({ err: errorMessage(error), block: this.last?.number.toString() ?? null }, "hub scanner could not read the chain; keeping its last candidates");
      this.failing = true;
      return { ...this.result(false, null), error: errorMessage(error) };
    }
  }

  /** The pending feed updates over the book just brought to the head; a failed read is no update (said once). */
  private async pollPending(): Promise<PendingOracle | null> {
    if (!this.pendingWatch || !this.book) return null;
    try {
      const pending = await this.pendingWatch.poll(this.book);
      this.pendingFailing = false;
      return pending;
    } catch (error) {
      if (!this.pendingFailing) this.log.warn({ err: errorMessage(error) }, "pending feed updates not read; detection waits for their blocks");
      this.pendingFailing = true;
      return null;
    }
  }

  private result(ok: boolean, pending: PendingOracle | null): ScanResult {
    return { ok, head: this.head, scannedBlock: this.last?.number ?? null, candidates: this.candidates(), pending };
  }

  private async rebuild(head: BlockRef, why: string): Promise<void> {
    this.log.warn({ reason: why, head: head.number.toString() }, "hub reorg: rebuilding the scanner's book from the start block");
    await this.build(head);
  }

  /** A fresh book at `head`: configs and prices read at it, positions replayed from the start block. */
  private async build(head: BlockRef): Promise<void> {
    const book = new HubBook();
    const at = head.number;
    const hub = this.deployment.hubAddress;
    const [marketCount, debtCount] = await Promise.all([
      this.reader.readContract({ address: hub, abi: hubAbi, functionName: "collateralMarketCount", blockNumber: at }),
      this.reader.readContract({ address: hub, abi: hubAbi, functionName: "debtAssetCount", blockNumber: at }),
    ]);
    const markets = await mapLimit(range(marketCount), 8, (i) => this.reader.readContract({ address: hub, abi: hubAbi, functionName: "collateralMarkets", args: [i], blockNumber: at }));
    for (const [eid, assetId] of markets) book.listMarket(eid, assetId);
    const debtIds = await mapLimit(range(debtCount), 8, (i) => this.reader.readContract({ address: hub, abi: hubAbi, functionName: "debtAssetIds", args: [i], blockNumber: at }));
    for (const id of debtIds) book.addDebtAsset(id);
    const ids = new Set([...this.deployment.manifest.assets.map((a) => a.id), ...debtIds, ...markets.map(([, a]) => a)]);
    for (const asset of await mapLimit([...ids], 8, (id) => this.readAsset(id, at))) book.setAsset(asset);

    const start = BigInt(this.deployment.hub.startBlock);
    const chunks = splitRange(start, at, this.maxBlockRange);
    const pages = await mapLimit(chunks, this.buildConcurrency, ([fromBlock, toBlock]) =>
      this.reader.getLogs({ address: hub, events: POSITION_EVENTS, fromBlock, toBlock, strict: true }),
    );
    for (const log of pages.flat().sort(byPosition)) {
      if (log.eventName === "CollateralUpdated") book.setCollateral(log.args.account, log.args.eid, log.args.assetId, log.args.balance);
      else book.setDebt(log.args.account, log.args.assetId, log.args.balance);
    }
    for (const id of book.unknownAssets()) book.setAsset(await this.readAsset(id, at));
    book.recomputeAll();
    this.book = book;
    this.last = head;
    this.log.info({ block: at.toString(), accounts: book.accounts().length, liquidatable: book.liquidatable().length }, "hub scanner built its book");
  }

  /** Applies the health events of (last, head] to the book; all or nothing. */
  private async advance(book: HubBook, last: BlockRef, head: BlockRef): Promise<void> {
    const address = [this.deployment.hubAddress, ...book.feeds()];
    const chunks = splitRange(last.number + 1n, head.number, this.maxBlockRange);
    const pages = await mapLimit(chunks, this.buildConcurrency, ([fromBlock, toBlock]) =>
      this.reader.getLogs({ address, events: HEALTH_EVENTS, fromBlock, toBlock, strict: true }),
    );
    const logs = (pages.flat() as HealthLog[]).sort(byPosition);
    // A reorg between the head read and getLogs: logs of the head block from another fork. Try again next poll.
    const stray = logs.find((l) => l.blockNumber === head.number && l.blockHash !== head.hash);
    if (stray) throw new Error(`logs of block ${head.number} came from block ${stray.blockHash}, not the head ${head.hash}`);

    const touched = new Set<Address>();
    const relisted = new Set<number>();
    const hub = this.deployment.hubAddress.toLowerCase();
    for (const log of logs) {
      const fromHub = log.address.toLowerCase() === hub;
      switch (log.eventName) {
        case "CollateralUpdated":
          if (!fromHub) break;
          book.setCollateral(log.args.account, log.args.eid, log.args.assetId, log.args.balance);
          touched.add(log.args.account);
          break;
        case "DebtUpdated":
          if (!fromHub) break;
          book.setDebt(log.args.account, log.args.assetId, log.args.balance);
          touched.add(log.args.account);
          break;
        case "CollateralMarketListed":
          if (!fromHub) break;
          for (const a of book.listMarket(log.args.eid, log.args.assetId)) touched.add(a);
          break;
        case "AssetListed":
          if (fromHub) relisted.add(log.args.assetId);
          break;
        case "AnswerUpdated":
          if (fromHub) break;
          for (const a of book.priceAnswered(log.address, log.args.current)) touched.add(a);
          break;
      }
    }
    // A (re)listed asset: its config, debt-asset status and price are read at the head, where they are final.
    for (const id of new Set([...relisted, ...book.unknownAssets()])) {
      const wasListed = book.asset(id)?.listed ?? false;
      const asset = await this.readAsset(id, head.number);
      book.setAsset(asset);
      // Hub.listAsset adds a debt asset only at its first listing with a token.
      if (!wasListed && asset.listed && asset.token !== ZERO_ADDRESS) book.addDebtAsset(id);
      for (const a of book.holdersOf(id)) touched.add(a);
    }
    book.recompute(touched);
    this.last = head;
  }

  /** Hub.assets(id) and its feed's latest answer, at `blockNumber`. */
  private async readAsset(id: number, blockNumber: bigint): Promise<BookAsset> {
    const [feed, priceScale, decimals, token, ltv, liquidationThreshold, , listed] = await this.reader.readContract({
      address: this.deployment.hubAddress, abi: hubAbi, functionName: "assets", args: [id], blockNumber,
    });
    let priceWad: bigint | null = null;
    if (listed && feed !== ZERO_ADDRESS) {
      const round = await this.reader.readContract({ address: feed, abi: priceFeedAbi, functionName: "latestRoundData", blockNumber }).catch(() => null);
      if (round && round[1] > 0n) priceWad = round[1] * priceScale;
    }
    return { id, feed, priceScale, decimals, token, ltv, liquidationThreshold, listed, priceWad };
  }
}

const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";

function range(n: bigint): bigint[] {
  return Array.from({ length: Number(n) }, (_, i) => BigInt(i));
}

/** [from, to] cut into inclusive ranges of at most `size` blocks. */
export function splitRange(from: bigint, to: bigint, size: bigint): [bigint, bigint][] {
  const out: [bigint, bigint][] = [];
  for (let start = from; start <= to; start += size) out.push([start, start + size - 1n < to ? start + size - 1n : to]);
  return out;
}

function byPosition(a: { blockNumber: bigint; logIndex: number }, b: { blockNumber: bigint; logIndex: number }): number {
  return a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1;
}
