/**
 * Recoveries as the chains tell them, at one indexed hub block (GraphQL `recoveries`, GET /recoveries, the page):
 * how many accounts are liquidatable and not yet in an auction, auctions open, and every take by where its
 * collateral is — taken (repaid on the hub, its SEIZE packet sent), verified on the spoke, delivered, seized (the
 * spoke's Seized), or failed (the spoke's lzReceive reverted: LayerZero's LzReceiveAlert, waiting for a retry) —
 * the debt written off, and the latest takes with their take, packet and seizure.
 *
 * What only a relayer knows (accounts it detected and skipped by policy, its intents before a transaction) comes
 * from the relayer itself when `SALVAGE_RELAYER_URL` names it (src/api/relayer-report.ts).
 */
import { accountHealth, auction, liquidation, packet, reserve } from "ponder:schema";
import { and, count, desc, eq, isNull, lt, sql, sum } from "ponder";
import { WAD } from "../health/wad.js";
import { loadIndexerManifest } from "../indexer/manifest.js";
import { checkInt, market } from "./queries.js";
import { type RelayerRecoveries, relayerRecoveries } from "./relayer-report.js";
import { type Snapshot, asOf, atOneBlock, reader } from "./snapshot.js";

export const TAKE_STATES = ["taken", "verified", "delivered", "seized", "failed"] as const;
export type TakeState = (typeof TAKE_STATES)[number];
export const MAX_RECENT = 100;

/** A take's state from its liquidation row and its packet (null until the packet is indexed). */
const takeState = sql<TakeState>`CASE WHEN ${liquidation.seizedBlock} IS NOT NULL THEN 'seized'
  WHEN ${packet.status} = 'delivered' THEN 'delivered'
  WHEN ${packet.failures} > 0 THEN 'failed'
  WHEN ${packet.status} = 'verified' THEN 'verified'
  ELSE 'taken' END`;

export interface RecentTake {
  takeId: bigint;
  /** The auction it took from; null for a protocol without auctions. */
  auctionId: bigint | null;
  account: string;
  state: TakeState;
  take: { block: bigint; timestamp: bigint; tx: string; debtAssetId: number; symbol: string | null; decimals: number; repayAmount: bigint; bonus: bigint };
  seize: { chainId: number | null; chainName: string | null; eid: number; assetId: number; symbol: string | null; decimals: number; amount: bigint; block: bigint | null; timestamp: bigint | null };
  /** The message that carries the collateral; null when none does (a hub-accounted liquidation kept on the hub). */
  packet: { guid: string; nonce: bigint | null; status: string | null; failures: number; lastFailureReason: string | null; deliveredTx: string | null } | null;
  /** Take to seizure, seconds of block time (null until seized). */
  seconds: bigint | null;
}

/** The reference protocol's recoveries at one indexed hub block (the relayer's view is added by `withRelayer`). */
export interface Recoveries {
  /** Liquidatable (HF < 1) with no auction open: waiting for a kick. */
  liquidatable: number;
  /** Auctions open: kicked, waiting for (more) takes. */
  auctionsOpen: number;
  takes: Record<TakeState, number>;
  badDebt: { writeOffs: number; writtenOffUsd: bigint };
  recent: RecentTake[];
  snapshot: Snapshot;
}

/** The `first` argument of every protocol's recoveries (0..MAX_RECENT, default 20), checked. */
export const recentCount = (first: number | string | null | undefined) => checkInt("first", first ?? 20, 0, MAX_RECENT)!;

export async function recoveries(first: number): Promise<Recoveries> {
  const chains = loadIndexerManifest().manifest.chains;
  return atOneBlock(async (snapshot) => {
    const [mk, byState, [waiting], [open], [written], recent] = await Promise.all([
      market(),
      reader().select({ state: takeState, takes: count() }).from(liquidation).leftJoin(packet, eq(packet.guid, liquidation.guid)).groupBy(takeState),
      reader()
        .select({ n: count() })
        .from(accountHealth)
        .leftJoin(auction, and(eq(auction.account, accountHealth.account), eq(auction.active, true)))
        .where(and(lt(accountHealth.healthFactor, WAD), isNull(auction.auctionId))),
      reader().select({ n: count() }).from(auction).where(eq(auction.active, true)),
      reader().select({ writeOffs: sum(reserve.writeOffs), usd: sum(reserve.writtenOffUsd) }).from(reserve),
      first === 0
        ? Promise.resolve([])
        : reader()
            .select({ liquidation, packet, state: takeState })
            .from(liquidation)
            .leftJoin(packet, eq(packet.guid, liquidation.guid))
            .orderBy(desc(liquidation.takeId))
            .limit(first),
    ]);
    const takes = Object.fromEntries(TAKE_STATES.map((s) => [s, 0])) as Record<TakeState, number>;
    for (const r of byState) takes[r.state] = Number(r.takes);
    const assetOf = (id: number) => mk.assets.get(id);
    return {
      liquidatable: Number(waiting?.n ?? 0),
      auctionsOpen: Number(open?.n ?? 0),
      takes,
      badDebt: { writeOffs: Number(written?.writeOffs ?? 0), writtenOffUsd: BigInt(written?.usd ?? 0) },
      recent: recent.map(({ liquidation: l, packet: p, state }): RecentTake => {
        const chain = chains.find((c) => c.eid === l.collateralEid);
        return {
          takeId: l.takeId,
          auctionId: l.auctionId,
          account: l.account,
          state,
          take: {
            block: l.block, timestamp: l.timestamp, tx: l.transactionHash, debtAssetId: l.debtAssetId, symbol: assetOf(l.debtAssetId)?.symbol ?? null,
            decimals: assetOf(l.debtAssetId)?.decimals ?? 18, repayAmount: l.repayAmount, bonus: l.bonus,
          },
          seize: {
            chainId: chain?.chainId ?? null, chainName: chain?.name ?? null, eid: l.collateralEid, assetId: l.collateralAssetId, symbol: assetOf(l.collateralAssetId)?.symbol ?? null,
            decimals: assetOf(l.collateralAssetId)?.decimals ?? 18, amount: l.seizeAmount, block: l.seizedBlock, timestamp: l.seizedAt,
          },
          packet: { guid: l.guid, nonce: p?.nonce ?? null, status: p?.status ?? null, failures: p?.failures ?? 0, lastFailureReason: p?.lastFailureReason ?? null, deliveredTx: p?.deliveredTx ?? null },
          seconds: l.seizedAt === null ? null : l.seizedAt - l.timestamp,
        };
      }),
      snapshot,
    };
  });
}

const str = (v: bigint | null) => (v === null ? null : v.toString());

/** The JSON of GraphQL and REST: bigints as decimal strings, and the block it is as of. */
export function recoveriesJson(r: Recoveries) {
  return {
    liquidatable: r.liquidatable,
    auctionsOpen: r.auctionsOpen,
    takes: r.takes,
    badDebt: { writeOffs: r.badDebt.writeOffs, writtenOffUsd: r.badDebt.writtenOffUsd.toString() },
    recent: r.recent.map((t) => ({
      takeId: t.takeId.toString(),
      auctionId: str(t.auctionId),
      account: t.account,
      state: t.state,
      take: { ...t.take, block: t.take.block.toString(), timestamp: t.take.timestamp.toString(), repayAmount: t.take.repayAmount.toString(), bonus: t.take.bonus.toString() },
      seize: { ...t.seize, amount: t.seize.amount.toString(), block: str(t.seize.block), timestamp: str(t.seize.timestamp) },
      packet: t.packet && { ...t.packet, nonce: str(t.packet.nonce) },
      seconds: str(t.seconds),
    })),
    ...asOf(r.snapshot),
  };
}
export type RecoveriesJson = ReturnType<typeof recoveriesJson>;

/**
 * A protocol's recoveries with the relayer's own view (`relayer`: its report when SALVAGE_RELAYER_URL names one, else
 * null), read while the chains' answer is (the relayer is asked first, so the two overlap).
 */
export async function withRelayer<T extends object>(answer: () => Promise<T>): Promise<T & { relayer: ReturnType<typeof relayerJson> }> {
  const relayer = relayerRecoveries();
  const chains = await answer();
  return { ...chains, relayer: relayerJson(relayer === null ? null : await relayer) };
}

function relayerJson(r: RelayerRecoveries | null) {
  return r === null
    ? null
    : {
        error: r.error,
        worker: r.report?.worker ?? null,
        states: Object.entries(r.report?.states ?? {}).map(([state, count]) => ({ state, count })),
        recent: r.report?.recent ?? [],
      };
}
