/**
 * The read side of the salvage API, shared by GET /at-risk, the salvage GraphQL endpoint, the feed and webhooks.
 *
 * Everything reads through `reader()` (src/api/snapshot.ts): inside `atOneBlock` the answer's one snapshot
 * transaction, else Ponder's readonly database (`db` from "ponder:api"). Money math comes from src/health/health.ts
 * and the take from the opportunity model (src/opportunity/take.ts, shared with the relayer); nothing here
 * re-derives them.
 */
import { account, accountHealth, asset, auction, auctionParams, collateral, debt, liquidation, opportunityEvent, price } from "ponder:schema";
import { and, asc, desc, eq, gt, inArray, lt, or } from "ponder";
import { type Address, getAddress, isAddress, parseUnits } from "viem";
import { type AuctionParams, type FeedRound, priceProblem, valueOf } from "../health/health.js";
import { MAX_UINT256, WAD } from "../health/wad.js";
import { type AuctionStatus, auctionAt, bestTake, isLiquidatable } from "../opportunity/index.js";
import { loadIndexerManifest } from "../indexer/manifest.js";
import { REFERENCE_PROTOCOL } from "../deployment/manifest.js";
import { FEED_EVENT_ID } from "../indexer/feed-log.js";
import { atRiskOf, healthOf } from "./health-read.js";
import { type IndexedBlock, type Snapshot, atOneBlock, oncePerSnapshot, openSnapshot, reader, readCheckpoints } from "./snapshot.js";

/** A caller error (bad argument): 400 on REST, a GraphQL error naming the argument on GraphQL. */
export class QueryError extends Error {
  constructor(
    message: string,
    /** The argument at fault, when there is one. */
    readonly argument?: string,
  ) {
    super(message);
  }
}

export const MAX_PAGE = 500;
const DECIMAL = /^\d{1,30}(\.\d{1,18})?$/;

// ------------------------------------------------------------------ argument parsing

/** A non-negative decimal with at most 18 fractional digits, as a WAD. */
export function parseDecimalWad(name: string, value: string): bigint {
  if (!DECIMAL.test(value)) throw new QueryError(`${name} must be a non-negative decimal with at most 18 fractional digits, got ${JSON.stringify(value.slice(0, 40))}`, name);
  return parseUnits(value, 18);
}

export function parseMaxHealthFactor(query: { maxHealthFactor?: string; maxHealthFactorWad?: string }): bigint {
  if (query.maxHealthFactorWad !== undefined) {
    if (!/^\d{1,78}$/.test(query.maxHealthFactorWad) || BigInt(query.maxHealthFactorWad) > MAX_UINT256) {
      throw new QueryError("maxHealthFactorWad must be an integer WAD in [0, 2^256)", "maxHealthFactorWad");
    }
    return BigInt(query.maxHealthFactorWad);
  }
  return parseDecimalWad("maxHealthFactor", query.maxHealthFactor ?? "1");
}

/**
 * An integer argument in [min, max]: a number (GraphQL) or its decimal digits (a query string); undefined when absent.
 * Anything else is a QueryError naming the argument.
 */
export function checkInt(name: string, v: number | string | null | undefined, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = typeof v === "number" ? v : /^\d{1,16}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new QueryError(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(typeof v === "string" ? v.slice(0, 40) : v)}`, name);
  return n;
}

export function parseAddress(name: string, raw: string): Address {
  if (!isAddress(raw, { strict: false })) throw new QueryError(`${name} must be a 20-byte hex address, got ${JSON.stringify(raw.slice(0, 50))}`, name);
  return getAddress(raw);
}

/** Cursor of the last row of a page: `<healthFactor>:<account>` (opaque to clients). */
export const encodeCursor = (row: { healthFactor: bigint; account: string }) => `${row.healthFactor}:${row.account}`;
export function decodeCursor(raw: string, name = "after"): { healthFactor: bigint; account: `0x${string}` } {
  const match = /^(\d{1,78}):(0x[0-9a-f]{40})$/.exec(raw);
  if (!match) throw new QueryError(`${name} must be a cursor returned as endCursor`, name);
  return { healthFactor: BigInt(match[1]!), account: match[2] as `0x${string}` };
}

const afterCondition = (after: { healthFactor: bigint; account: `0x${string}` }) =>
  or(
    gt(accountHealth.healthFactor, after.healthFactor),
    and(eq(accountHealth.healthFactor, after.healthFactor), gt(accountHealth.account, after.account)),
  )!;

// ------------------------------------------------------------------ at-risk accounts

export interface AtRiskArgs {
  maxHealthFactor: bigint;
  chainId?: number;
  assetId?: number;
  minDebtUsd?: bigint;
  first: number;
  after?: string;
  withTotalCount?: boolean;
}

export type HealthRow = typeof accountHealth.$inferSelect;

export interface Page<T> {
  items: T[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  totalCount?: number;
}

/**
 * Accounts with HF strictly below `maxHealthFactor`, across all chains, by HF then address; read in one snapshot
 * (`atOneBlock`: the caller's, or one of its own), which it returns with the page.
 */
export async function atRiskAccounts(args: AtRiskArgs): Promise<Page<HealthRow> & { snapshot: Snapshot }> {
  const cursor = args.after === undefined ? undefined : decodeCursor(args.after);
  return atOneBlock(async (snapshot) => ({ ...(await readAtRisk(args, cursor)), snapshot }));
}

async function readAtRisk(args: AtRiskArgs, cursor: ReturnType<typeof decodeCursor> | undefined): Promise<Page<HealthRow>> {
  // Computed at the answer's block from the accounts whose guard is below the bound (health-read.ts).
  const { rows, total } = await atRiskOf({
    maxHealthFactor: args.maxHealthFactor,
    minDebtUsd: args.minDebtUsd,
    chainId: args.chainId,
    assetId: args.assetId,
    after: cursor,
    limit: args.first + 1,
  });
  const items = rows.slice(0, args.first);
  const last = items[items.length - 1];
  return {
    items,
    pageInfo: { hasNextPage: rows.length > args.first, endCursor: last ? encodeCursor(last) : null },
    ...(args.withTotalCount ? { totalCount: total } : {}),
  };
}

// ------------------------------------------------------------------ reference data (small tables)

export interface AssetRow {
  assetId: number;
  symbol: string | null;
  decimals: number;
  liquidationThreshold: bigint;
  ltv: bigint;
  heartbeat: bigint;
}

export interface Market {
  assets: Map<number, AssetRow>;
  /** WAD prices by asset id, from the hub chain's feeds (what the hub reads): the latest positive answer's. */
  prices: Map<number, bigint>;
  /** Each feed's latest round (answer, non-positive ones included, and updatedAt), by asset id. */
  rounds: Map<number, FeedRound>;
  params: AuctionParams | undefined;
}

/** A price the hub refuses at a block (Hub.priceWad's StalePrice or InvalidPrice), for an asset an account needs. */
export interface UnusablePrice {
  assetId: number;
  symbol: string | null;
  error: "StalePrice" | "InvalidPrice";
  answer: bigint;
  updatedAt: bigint;
  heartbeat: bigint;
}

/**
 * The prices the hub would refuse at `timestamp` (the indexed hub block's: what the answer is as of), by asset id:
 * src/health/health.ts `priceProblem`, Hub.priceWad's rule. Health computed at such a price is the last the hub
 * could compute; the hub's own healthFactor, kick and take revert for its holders.
 */
export function unusablePrices(mk: Market, timestamp: bigint | undefined): Map<number, UnusablePrice> {
  const out = new Map<number, UnusablePrice>();
  if (timestamp === undefined) return out;
  for (const [assetId, round] of mk.rounds) {
    const a = mk.assets.get(assetId);
    const u = a && unusablePrice(assetId, round, a, timestamp);
    if (u) out.set(assetId, u);
  }
  return out;
}

/** Why the hub refuses an asset's latest round at `timestamp` (health.ts `priceProblem`), or undefined when it takes it. */
export function unusablePrice(assetId: number, round: FeedRound, asset: { symbol: string | null; heartbeat: bigint }, timestamp: bigint): UnusablePrice | undefined {
  const problem = priceProblem(assetId, round, asset.heartbeat, timestamp);
  return problem && { assetId, symbol: asset.symbol, error: problem.errorName, answer: round.answer, updatedAt: round.updatedAt, heartbeat: asset.heartbeat };
}

/** Those of `unusable` an account needs: the assets it holds or owes (amounts as indexed, zero ones ignored). */
export function unusablePricesOf(
  positions: { collateral: readonly { assetId: number; amount: string | bigint }[]; debt: readonly { assetId: number; amount: string | bigint }[] },
  unusable: ReadonlyMap<number, UnusablePrice>,
): UnusablePrice[] {
  if (unusable.size === 0) return [];
  const ids = new Set([...positions.collateral, ...positions.debt].filter((p) => BigInt(p.amount) > 0n).map((p) => p.assetId));
  return [...ids].sort((x, y) => x - y).flatMap((id) => (unusable.has(id) ? [unusable.get(id)!] : []));
}

/**
 * The unusable prices each account needs, by lower-case address, at the indexed hub block, in one snapshot
 * (the caller's, or one of its own); accounts never seen are absent.
 */
export async function unusablePricesByAccount(addresses: readonly Address[], mk?: Market): Promise<Map<string, UnusablePrice[]>> {
  const keys = [...new Set(addresses.map((a) => a.toLowerCase() as Address))];
  if (keys.length === 0) return new Map();
  return atOneBlock(async (snapshot) => {
    const [m, rows] = await Promise.all([mk ?? market(), reader().select().from(account).where(inArray(account.address, keys))]);
    const unusable = unusablePrices(m, snapshot.hub?.timestamp);
    return new Map(rows.map((r) => [r.address.toLowerCase(), unusablePricesOf(r, unusable)]));
  });
}

/** The hub's assets, prices and auction parameters: read once per snapshot (a feed tick's batches, an answer's parts share it). */
export function market(): Promise<Market> {
  return oncePerSnapshot("market", readMarket);
}

async function readMarket(): Promise<Market> {
  const hubChainId = loadIndexerManifest().hub.chainId;
  const [assets, prices, params] = await Promise.all([
    reader().select().from(asset),
    reader().select().from(price).where(eq(price.chainId, hubChainId)),
    reader().select().from(auctionParams).where(eq(auctionParams.id, 0)),
  ]);
  return {
    assets: new Map(assets.map((a) => [a.assetId, a])),
    prices: new Map(prices.map((p) => [p.assetId, p.priceWad])),
    rounds: new Map(prices.map((p) => [p.assetId, { answer: p.answer, updatedAt: p.updatedAt }])),
    params: params[0],
  };
}

/**
 * The hub chain's latest indexed block (Ponder's checkpoint), or undefined before the first: the open snapshot's
 * when there is one (what its rows are as of), else a read of its own.
 */
export async function indexedHubBlock(): Promise<IndexedBlock | undefined> {
  const open = openSnapshot();
  if (open) return open.hub;
  const hubChainId = loadIndexerManifest().hub.chainId;
  return (await readCheckpoints()).find((c) => c.chainId === hubChainId);
}

const chainOfEid = (eid: number) => loadIndexerManifest().manifest.chains.find((c) => c.eid === eid);

// ------------------------------------------------------------------ one account

export interface CollateralView {
  chainId: number;
  chainName: string | null;
  eid: number;
  assetId: number;
  symbol: string | null;
  decimals: number;
  amount: bigint;
  valueUsd: bigint | null;
  updatedBlock: bigint;
}

export interface DebtView {
  assetId: number;
  symbol: string | null;
  decimals: number;
  amount: bigint;
  valueUsd: bigint | null;
  updatedBlock: bigint;
}

export interface AccountView {
  address: Address;
  health: HealthRow | null;
  /** Prices of assets the account holds or owes that the hub refuses at the indexed hub block (see `unusablePrices`). */
  unusablePrices: UnusablePrice[];
  collateral: CollateralView[];
  debt: DebtView[];
  auctions: (typeof auction.$inferSelect)[];
  liquidations: (typeof liquidation.$inferSelect)[];
}

/** Accounts by address (lower-case hex keys), read in one snapshot; unknown addresses are absent from the map. */
export async function accountsByAddress(addresses: readonly Address[], m?: Market): Promise<Map<string, AccountView>> {
  const keys = [...new Set(addresses.map((a) => a.toLowerCase() as Address))];
  if (keys.length === 0) return new Map();
  return atOneBlock((snapshot) => readAccounts(keys, m, snapshot.hub?.timestamp));
}

async function readAccounts(keys: Address[], m: Market | undefined, timestamp: bigint | undefined): Promise<Map<string, AccountView>> {
  const [mk, known, healths, cols, debts, auctions, liquidations] = await Promise.all([
    m ?? market(),
    reader().select({ address: account.address }).from(account).where(inArray(account.address, keys)),
    healthOf(keys),
    reader().select().from(collateral).where(and(inArray(collateral.account, keys), gt(collateral.amount, 0n))).orderBy(asc(collateral.chainId), asc(collateral.assetId)),
    reader().select().from(debt).where(and(inArray(debt.account, keys), gt(debt.amount, 0n))).orderBy(asc(debt.assetId)),
    reader().select().from(auction).where(inArray(auction.account, keys)).orderBy(desc(auction.auctionId)),
    reader().select().from(liquidation).where(inArray(liquidation.account, keys)).orderBy(desc(liquidation.takeId)),
  ]);
  const out = new Map<string, AccountView>();
  for (const { address } of known) {
    out.set(address.toLowerCase(), { address: getAddress(address), health: null, unusablePrices: [], collateral: [], debt: [], auctions: [], liquidations: [] });
  }
  const unusable = unusablePrices(mk, timestamp);
  const value = (assetId: number, amount: bigint): bigint | null => {
    const a = mk.assets.get(assetId);
    const p = mk.prices.get(assetId);
    return a && p !== undefined ? valueOf(amount, p, a.decimals) : null;
  };
  for (const h of healths) {
    const v = out.get(h.account.toLowerCase());
    if (v) v.health = h;
  }
  for (const c of cols) {
    const a = mk.assets.get(c.assetId);
    out.get(c.account.toLowerCase())?.collateral.push({
      chainId: c.chainId, chainName: chainOfEid(c.eid)?.name ?? null, eid: c.eid, assetId: c.assetId,
      symbol: a?.symbol ?? null, decimals: a?.decimals ?? 18, amount: c.amount, valueUsd: value(c.assetId, c.amount), updatedBlock: c.updatedBlock,
    });
  }
  for (const d of debts) {
    const a = mk.assets.get(d.assetId);
    out.get(d.account.toLowerCase())?.debt.push({
      assetId: d.assetId, symbol: a?.symbol ?? null, decimals: a?.decimals ?? 18, amount: d.amount, valueUsd: value(d.assetId, d.amount), updatedBlock: d.updatedBlock,
    });
  }
  for (const au of auctions) out.get(au.account.toLowerCase())?.auctions.push(au);
  for (const l of liquidations) out.get(l.account.toLowerCase())?.liquidations.push(l);
  for (const v of out.values()) v.unusablePrices = unusablePricesOf(v, unusable);
  return out;
}

// ------------------------------------------------------------------ opportunities

export interface Opportunity {
  /** The lending protocol ("reference", or a deployment name from the manifest's `protocols`). */
  protocol: string;
  account: Address;
  healthFactor: bigint;
  collateralValue: bigint;
  debtValue: bigint;
  /** The chosen pair (`bestTake`: the most profitable; ties to the larger collateral position, then the larger debt). */
  collateral: { chainId: number; eid: number; assetId: number; symbol: string | null; decimals: number; amount: bigint; valueUsd: bigint; priceWad: bigint };
  /** The chosen debt position. */
  debt: { assetId: number; symbol: string | null; decimals: number; amount: bigint; valueUsd: bigint; priceWad: bigint };
  /** debt × closeFactor: the most one take may repay. */
  maxRepay: bigint;
  /** The close factor applied (WAD). */
  closeFactor: bigint;
  /** quoteTake(maxRepay, bonus): what a take of maxRepay repays and seizes (the collateral cap applied): the hub's previewTake. */
  repayAmount: bigint;
  seizeAmount: bigint;
  /** Value of seized collateral minus value repaid (WAD USD). */
  profitUsd: bigint;
  /** The auction's state, or `instant` for a protocol without auctions (one liquidation at a fixed bonus). */
  auctionStatus: AuctionStatus | "instant";
  auctionId: bigint | null;
  auctionStartedAt: bigint | null;
  /** Bonus (WAD) a take would get at `timestamp`: bonusAt(startedAt, timestamp) when active, else minBonus. */
  bonus: bigint;
  minBonus: bigint;
  maxBonus: bigint;
  /** Seconds over which the bonus grows linearly from minBonus to maxBonus after a kick. */
  auctionDuration: bigint;
  /** When the bonus reaches maxBonus (unix seconds), if an auction is active. */
  maxBonusAt: bigint | null;
  /** When the active auction expires and needs a re-kick (unix seconds). */
  expiresAt: bigint | null;
  blockNumber: bigint;
  timestamp: bigint;
  chainId: number;
  /**
   * Prices the account needs that the hub refuses at `blockNumber` (StalePrice, InvalidPrice): the numbers above
   * rest on the last usable ones, and the hub's kick and take revert until the prices are usable again.
   */
  unusablePrices: UnusablePrice[];
}

export interface OpportunityArgs {
  first: number;
  after?: string;
  minProfitUsd?: bigint;
  /** Only opportunities whose best collateral sits on this chain. */
  chainId?: number;
}

/**
 * Accounts liquidatable now (indexed HF < 1), by HF then address, each with its best take. Read in one snapshot
 * (`atOneBlock`) with the hub's checkpoint, so `block` (and each `blockNumber`) is the block the numbers are true at.
 */
export async function opportunities(args: OpportunityArgs): Promise<Page<Opportunity> & { block: IndexedBlock | null; snapshot: Snapshot }> {
  return atOneBlock(async (snapshot) => ({ ...(await readOpportunities(args, snapshot.hub)), block: snapshot.hub ?? null, snapshot }));
}

async function readOpportunities(args: OpportunityArgs, head: IndexedBlock | undefined): Promise<Page<Opportunity>> {
  const mk = await market();
  const items: Opportunity[] = [];
  if (!head || !mk.params) return { items, pageInfo: { hasNextPage: false, endCursor: null } };
  let cursor = args.after === undefined ? undefined : decodeCursor(args.after);
  let lastSeen: HealthRow | undefined;
  // Batches of liquidatable accounts in HF order, until `first` pass the filters (+1 to know about a next page).
  for (;;) {
    const batch = await reader().select().from(accountHealth)
      .where(and(lt(accountHealth.healthFactor, WAD) /* isLiquidatable, in SQL */, ...(cursor ? [afterCondition(cursor)] : [])))
      .orderBy(asc(accountHealth.healthFactor), asc(accountHealth.account))
      .limit(MAX_PAGE);
    if (batch.length === 0) break;
    const takes = await takesOf(batch, mk, head);
    for (const h of batch) {
      const o = takes.get(h.account.toLowerCase());
      if (o && (args.minProfitUsd === undefined || o.profitUsd >= args.minProfitUsd) && (args.chainId === undefined || o.collateral.chainId === args.chainId)) {
        if (items.length === args.first) return { items, pageInfo: { hasNextPage: true, endCursor: encodeCursor(lastSeen!) } };
        items.push(o);
      }
      lastSeen = h;
    }
    if (batch.length < MAX_PAGE) break;
    cursor = { healthFactor: batch[batch.length - 1]!.healthFactor, account: batch[batch.length - 1]!.account };
  }
  return { items, pageInfo: { hasNextPage: false, endCursor: lastSeen ? encodeCursor(lastSeen) : null } };
}

/**
 * The best take of each liquidatable account among `health` (HF < 1), keyed by lower-case address, from one
 * read of their positions and active auctions.
 */
export async function takesOf(health: readonly HealthRow[], mk: Market, head: IndexedBlock): Promise<Map<string, Opportunity>> {
  const takes = new Map<string, Opportunity>();
  const liquidatable = health.filter((h) => isLiquidatable(h.healthFactor));
  if (!mk.params || liquidatable.length === 0) return takes;
  const addresses = liquidatable.map((h) => h.account);
  const [positions, active] = await Promise.all([
    reader().select().from(account).where(inArray(account.address, addresses)),
    reader().select().from(auction).where(and(inArray(auction.account, addresses), eq(auction.active, true))),
  ]);
  const rowOf = new Map(positions.map((p) => [p.address.toLowerCase(), p]));
  const auctionOf = new Map(active.map((a) => [a.account.toLowerCase(), a]));
  for (const h of liquidatable) {
    const key = h.account.toLowerCase();
    const row = rowOf.get(key);
    const o = row && opportunityOf(h, row, auctionOf.get(key), mk, mk.params, head);
    if (o) takes.set(key, o);
  }
  return takes;
}

/**
 * One account's best take, from its indexed positions (the `account` row keeps them inline): the opportunity
 * model's `bestTake` at the bonus of its auction at the indexed block, with no constraints and no costs.
 * Positions whose asset or price is not indexed yet are left out; undefined when no pair repays and seizes.
 */
export function opportunityOf(
  h: HealthRow,
  row: typeof account.$inferSelect,
  au: typeof auction.$inferSelect | undefined,
  mk: Market,
  params: AuctionParams,
  head: IndexedBlock,
): Opportunity | undefined {
  const collaterals: Opportunity["collateral"][] = [];
  for (const c of row.collateral) {
    const a = mk.assets.get(c.assetId);
    const p = mk.prices.get(c.assetId);
    const amount = BigInt(c.amount);
    if (!a || p === undefined || amount === 0n) continue;
    const chainId = chainOfEid(c.eid)?.chainId ?? 0;
    collaterals.push({ chainId, eid: c.eid, assetId: c.assetId, symbol: a.symbol, decimals: a.decimals, amount, valueUsd: valueOf(amount, p, a.decimals), priceWad: p });
  }
  const debts: Opportunity["debt"][] = [];
  for (const d of row.debt) {
    const a = mk.assets.get(d.assetId);
    const p = mk.prices.get(d.assetId);
    const amount = BigInt(d.amount);
    if (!a || p === undefined || amount === 0n) continue;
    debts.push({ assetId: d.assetId, symbol: a.symbol, decimals: a.decimals, amount, valueUsd: valueOf(amount, p, a.decimals), priceWad: p });
  }
  const auctionNow = auctionAt(params, au?.startedAt, head.timestamp);
  const { take } = bestTake({ debts, collaterals, closeFactor: params.closeFactor, bonus: auctionNow.bonus });
  if (!take) return undefined;
  return {
    protocol: REFERENCE_PROTOCOL,
    account: getAddress(h.account),
    healthFactor: h.healthFactor,
    collateralValue: h.collateralValue,
    debtValue: h.debtValue,
    collateral: take.collateral,
    debt: take.debt,
    maxRepay: take.maxRepay,
    closeFactor: params.closeFactor,
    repayAmount: take.repayAmount,
    seizeAmount: take.seizeAmount,
    profitUsd: take.profit,
    auctionStatus: auctionNow.status,
    auctionId: au?.auctionId ?? null,
    auctionStartedAt: au?.startedAt ?? null,
    bonus: auctionNow.bonus,
    minBonus: params.minBonus,
    maxBonus: params.maxBonus,
    auctionDuration: params.auctionDuration,
    maxBonusAt: auctionNow.maxBonusAt,
    expiresAt: auctionNow.expiresAt,
    blockNumber: head.number,
    timestamp: head.timestamp,
    chainId: head.chainId,
    unusablePrices: unusablePricesOf(row, unusablePrices(mk, head.timestamp)),
  };
}

// ------------------------------------------------------------------ the opportunity feed's log

export type OpportunityEventRow = typeof opportunityEvent.$inferSelect;

/** `since` meaning "from the start of the log". */
export const FROM_START = "0";

/** A resume cursor as given: an event id, or FROM_START; undefined when absent. */
export function parseSince(raw: string | null | undefined, name = "since"): string | undefined {
  if (raw === null || raw === undefined) return undefined;
  if (raw !== FROM_START && !FEED_EVENT_ID.test(raw)) throw new QueryError(`${name} must be an event id (<block:20>:<logIndex:10>:<account or pathway-<srcEid>-<dstEid>>) or "0" for the start of the log`, name);
  return raw;
}

/**
 * Feed events after `since` (an event id; from the start without it or with "0"), in indexing order. The id
 * is the resume cursor: a subscriber that saw event X asks for `since: X` and gets exactly what it missed.
 */
export async function opportunityEvents(args: { since?: string | null; first: number }): Promise<Page<OpportunityEventRow>> {
  const since = parseSince(args.since);
  const after = since === FROM_START ? undefined : since;
  const rows = await atOneBlock(() => eventsAfter(after, args.first + 1));
  const items = rows.slice(0, args.first);
  return { items, pageInfo: { hasNextPage: rows.length > args.first, endCursor: items[items.length - 1]?.id ?? after ?? null } };
}

/** Up to `limit` log rows with an id above `after` (any string: an id, or a block's `feedEventIdFloor`), in id order. */
export async function eventsAfter(after: string | undefined, limit: number): Promise<OpportunityEventRow[]> {
  return reader()
    .select()
    .from(opportunityEvent)
    .where(after === undefined ? undefined : gt(opportunityEvent.id, after))
    .orderBy(asc(opportunityEvent.id))
    .limit(limit);
}

/** The newest event id of the log (where a live subscriber starts), or null while it is empty. */
export async function latestEventId(): Promise<string | null> {
  const [row] = await reader().select({ id: opportunityEvent.id }).from(opportunityEvent).orderBy(desc(opportunityEvent.id)).limit(1);
  return row?.id ?? null;
}
