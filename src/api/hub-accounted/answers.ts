/**
 * A hub-accounted deployment's answers (src/api/protocols.ts), valued from its indexed rows at the snapshot's hub block
 * (./book.ts): every figure equal to what AccountedHub would say at that block, interest to the block included.
 * - at-risk accounts and opportunities: the book by health, each liquidation quoted as previewLiquidation would
 *   (no auction: one transaction at the fixed bonus, `auctionStatus: "instant"`);
 * - recoveries: its Liquidated events, each followed to where its collateral is: still on the hub (in the
 *   liquidator's position: `taken`), or on its way out by the WITHDRAW message sent in the liquidation's own
 *   transaction (AccountedExecutor's withdraw per order): verified, delivered, paid on the spoke (`seized`), or failed;
 *   and the bad debt it wrote off (BadDebtWrittenOff);
 * - solvency: per debt asset what its BadDebtWrittenOff events wrote off (valued at the hub price of their block),
 *   the reserve and the uncovered bad debt as the hub holds them (ReserveFunded, BadDebtWrittenOff), and the book's
 *   accounts under water at the block (collateral value below debt value, interest included);
 * - liquidation levels: the book's holders of the asset (borrowers: an account without debt is never liquidatable),
 *   their debt as owed at the block.
 * Cost: each answer values the deployment's whole book, O(borrowers); recoveries also read every liquidation and
 * withdrawal of the deployment, O(liquidations).
 */
import { accountedAsset, accountedLiquidation, accountedReserve, accountedWithdrawal, accountedWriteOff, packet } from "ponder:schema";
import { and, asc, count, desc, eq, gt, inArray, sum } from "ponder";
import { getAddress } from "viem";
import { priceProblem, valueOf } from "../../health/health.js";
import { type LevelsAccount, liquidationLevels } from "../../health/liquidation-levels.js";
import { WAD } from "../../health/wad.js";
import { chainIdOfEid, hubChainId, loadIndexerManifest } from "../../indexer/manifest.js";
import { type AccountedBook, type AccountedHealth, type AccountedOpportunity, accountedOpportunities, byHealth } from "../../protocols/hub-accounted/valuation.js";
import { opportunityJson, priceFields } from "../json.js";
import { levelsEid, levelsJson } from "../liquidation-levels.js";
import type { AccountHealthJson, ProtocolAnswers } from "../protocols.js";
import { type Opportunity, QueryError, type UnusablePrice, decodeCursor, encodeCursor, unusablePrice } from "../queries.js";
import { type RecentTake, TAKE_STATES, type TakeState, recoveriesJson } from "../recoveries.js";
import { solvencyJson } from "../solvency.js";
import { asOf, reader } from "../snapshot.js";
import { accountedBook } from "./book.js";

const s = (v: bigint) => v.toString();
const symbolOf = (assetId: number) => loadIndexerManifest().assetById.get(assetId)?.symbol ?? null;

/** The prices the hub refuses at the book's block for the assets `h` holds or owes (its accountData reverts). */
function unusableOf(h: AccountedHealth, book: AccountedBook): UnusablePrice[] {
  return h.unusablePriceAssetIds.flatMap((assetId) => {
    const u = unusablePrice(assetId, book.rounds.get(assetId)!, { symbol: symbolOf(assetId), heartbeat: book.assets.get(assetId)!.heartbeat }, book.block.timestamp);
    return u ? [u] : [];
  });
}

function healthJson(h: AccountedHealth, book: AccountedBook): AccountHealthJson {
  const dominant = h.dominantCollateralAssetId;
  return {
    ...priceFields(unusableOf(h, book)),
    protocol: h.protocol,
    address: h.account,
    healthFactor: s(h.healthFactor),
    collateralValue: s(h.collateralValue),
    thresholdValue: s(h.thresholdValue),
    borrowPower: s(h.borrowPower),
    debtValue: s(h.debtValue),
    dominantCollateralAssetId: dominant,
    dominantCollateral: dominant === null ? null : { assetId: dominant, symbol: symbolOf(dominant), decimals: book.assets.get(dominant)?.decimals ?? 18 },
    // The reference protocol's liquidation-price envelope is not computed for this protocol (yet).
    liquidationPriceWad: null,
    shockWad: null,
    priceDropToLiquidationWad: null,
    // Health is computed at the answer's block, not stored at the account's last change.
    updatedBlock: s(book.block.number),
    updatedAt: s(book.block.timestamp),
  };
}

/** An AccountedOpportunity in the API's Opportunity model (the shape every protocol's feed events and pages share). */
function opportunityOf(o: AccountedOpportunity, book: AccountedBook): Opportunity {
  const price = (id: number) => book.prices.get(id)!;
  const decimals = (id: number) => book.assets.get(id)!.decimals;
  return {
    protocol: book.protocol,
    account: o.health.account,
    healthFactor: o.health.healthFactor,
    collateralValue: o.health.collateralValue,
    debtValue: o.health.debtValue,
    collateral: { ...o.collateral, chainId: chainIdOfEid(o.collateral.eid), symbol: symbolOf(o.collateral.assetId), decimals: decimals(o.collateral.assetId), priceWad: price(o.collateral.assetId) },
    debt: { ...o.debt, symbol: symbolOf(o.debt.assetId), decimals: decimals(o.debt.assetId), priceWad: price(o.debt.assetId) },
    maxRepay: o.maxRepay,
    closeFactor: o.closeFactor,
    repayAmount: o.repayAmount,
    seizeAmount: o.seizeAmount,
    profitUsd: o.profitUsd,
    // No auction: one transaction at the fixed bonus (closeFactor 100 % below the protocol's fullCloseBelowHf).
    auctionStatus: "instant",
    auctionId: null,
    auctionStartedAt: null,
    bonus: o.bonus,
    minBonus: o.bonus,
    maxBonus: o.bonus,
    auctionDuration: 0n,
    maxBonusAt: null,
    expiresAt: null,
    blockNumber: book.block.number,
    timestamp: book.block.timestamp,
    chainId: hubChainId(),
    // accountedOpportunities leaves out accounts whose prices the hub refuses (its liquidate would revert).
    unusablePrices: [],
  };
}

/** Rows after the `after` cursor of a page in health order. */
function afterCursor<T>(rows: T[], after: string | undefined, key: (row: T) => { healthFactor: bigint; account: string }): T[] {
  if (after === undefined) return rows;
  const cursor = decodeCursor(after);
  return rows.filter((r) => byHealth(key(r), { healthFactor: cursor.healthFactor, account: cursor.account }) > 0);
}

const cursorOf = (h: { healthFactor: bigint; account: string } | undefined) => (h ? encodeCursor({ healthFactor: h.healthFactor, account: h.account.toLowerCase() }) : null);

/**
 * Each liquidation's withdrawal: the WITHDRAW its liquidator sent in the same transaction for the same collateral and
 * amount (AccountedExecutor withdraws per order), matched one to one in id order. A liquidation without one left its
 * collateral in the liquidator's hub position.
 */
function withdrawalsOf(liquidations: (typeof accountedLiquidation.$inferSelect)[], withdrawals: (typeof accountedWithdrawal.$inferSelect)[]) {
  const key = (tx: string, account: string, eid: number, assetId: number, amount: bigint) => `${tx.toLowerCase()}:${account.toLowerCase()}:${eid}:${assetId}:${amount}`;
  const open = new Map<string, (typeof accountedWithdrawal.$inferSelect)[]>();
  for (const w of [...withdrawals].sort((a, b) => (a.withdrawalId < b.withdrawalId ? -1 : 1))) {
    if (!w.sentTx || !w.account || w.eid === null || w.assetId === null || w.amount === null) continue; // its payment indexed before its sending
    const k = key(w.sentTx, w.account, w.eid, w.assetId, w.amount);
    open.set(k, [...(open.get(k) ?? []), w]);
  }
  const out = new Map<bigint, typeof accountedWithdrawal.$inferSelect>();
  for (const l of [...liquidations].sort((a, b) => (a.liquidationId < b.liquidationId ? -1 : 1))) {
    const w = open.get(key(l.tx, l.liquidator, l.eid, l.collateralAssetId, l.seizeAmount))?.shift();
    if (w) out.set(l.liquidationId, w);
  }
  return out;
}

/** The answers of the hub-accounted deployment named `name`. */
export function hubAccountedAnswers(name: string): ProtocolAnswers {
  return {
    name,
    kind: "hub-accounted",

    async atRiskAccounts(args, snapshot) {
      const book = await accountedBook(name, snapshot);
      const eid = args.chainId === undefined ? undefined : loadIndexerManifest().manifest.chains.find((c) => c.chainId === args.chainId)?.eid ?? -1;
      const passing = book.health
        .filter((h) => h.healthFactor < args.maxHealthFactor)
        .filter((h) => eid === undefined || h.collateral.some((c) => c.eid === eid))
        .filter((h) => args.assetId === undefined || h.collateral.some((c) => c.assetId === args.assetId) || h.debt.some((d) => d.assetId === args.assetId))
        .filter((h) => args.minDebtUsd === undefined || h.debtValue >= args.minDebtUsd)
        .sort(byHealth);
      const rest = afterCursor(passing, args.after, (h) => h);
      const items = rest.slice(0, args.first);
      return {
        items: items.map((h) => healthJson(h, book)),
        pageInfo: { hasNextPage: rest.length > items.length, endCursor: cursorOf(items.at(-1)) },
        totalCount: passing.length,
        ...asOf(snapshot),
      };
    },

    async opportunities(args, snapshot) {
      const book = await accountedBook(name, snapshot);
      const all = accountedOpportunities(book)
        .filter((o) => args.minProfitUsd === undefined || o.profitUsd >= args.minProfitUsd)
        .filter((o) => args.chainId === undefined || chainIdOfEid(o.collateral.eid) === args.chainId);
      const rest = afterCursor(all, args.after, (o) => o.health);
      const items = rest.slice(0, args.first);
      return {
        items: items.map((o) => ({ ...opportunityJson(opportunityOf(o, book)), ...priceFields([]) })),
        pageInfo: { hasNextPage: rest.length > items.length, endCursor: cursorOf(items.at(-1)?.health) },
        ...asOf(snapshot),
      };
    },

    async liquidationsOf(accounts, snapshot) {
      const book = await accountedBook(name, snapshot, accounts);
      return new Map(accountedOpportunities(book).map((o) => [o.health.account.toLowerCase(), opportunityOf(o, book)]));
    },

    async recoveries(first, snapshot) {
      const r = reader();
      const [book, liquidations, withdrawals, [written]] = await Promise.all([
        accountedBook(name, snapshot),
        r.select().from(accountedLiquidation).where(eq(accountedLiquidation.protocol, name)).orderBy(desc(accountedLiquidation.liquidationId)),
        r.select().from(accountedWithdrawal).where(eq(accountedWithdrawal.protocol, name)),
        r.select({ n: count(), usd: sum(accountedWriteOff.amountUsd) }).from(accountedWriteOff).where(eq(accountedWriteOff.protocol, name)),
      ]);
      const withdrawalOf = withdrawalsOf(liquidations, withdrawals);
      const guids = [...new Set([...withdrawalOf.values()].flatMap((w) => (w.guid ? [w.guid] : [])))];
      const packets = guids.length === 0 ? [] : await r.select().from(packet).where(inArray(packet.guid, guids as `0x${string}`[]));
      const packetOf = new Map(packets.map((p) => [p.guid?.toLowerCase(), p]));
      const chains = loadIndexerManifest().manifest.chains;
      const takes = Object.fromEntries(TAKE_STATES.map((x) => [x, 0])) as Record<TakeState, number>;
      const recent: RecentTake[] = [];
      for (const l of liquidations) {
        const w = withdrawalOf.get(l.liquidationId);
        const p = w?.guid ? packetOf.get(w.guid.toLowerCase()) : undefined;
        const state: TakeState = w?.paidBlock != null ? "seized" : p?.status === "delivered" ? "delivered" : (p?.failures ?? 0) > 0 ? "failed" : p?.status === "verified" ? "verified" : "taken";
        takes[state]++;
        if (recent.length >= first) continue;
        const chain = chains.find((c) => c.eid === l.eid);
        const paidAt = w?.paidAt ?? null;
        recent.push({
          takeId: l.liquidationId,
          auctionId: null,
          account: getAddress(l.account),
          state,
          take: {
            block: l.block, timestamp: l.timestamp, tx: l.tx, debtAssetId: l.debtAssetId, symbol: symbolOf(l.debtAssetId),
            decimals: book.assets.get(l.debtAssetId)?.decimals ?? 18, repayAmount: l.repayAmount, bonus: book.terms?.bonus ?? 0n,
          },
          seize: {
            chainId: chain?.chainId ?? null, chainName: chain?.name ?? null, eid: l.eid, assetId: l.collateralAssetId, symbol: symbolOf(l.collateralAssetId),
            decimals: book.assets.get(l.collateralAssetId)?.decimals ?? 18, amount: l.seizeAmount, block: w?.paidBlock ?? null, timestamp: paidAt,
          },
          packet: w?.guid
            ? { guid: w.guid, nonce: p?.nonce ?? null, status: p?.status ?? null, failures: p?.failures ?? 0, lastFailureReason: p?.lastFailureReason ?? null, deliveredTx: p?.deliveredTx ?? null }
            : null,
          seconds: paidAt === null ? null : paidAt - l.timestamp,
        });
      }
      return {
        protocol: name,
        ...recoveriesJson({
          liquidatable: book.health.filter((h) => h.healthFactor < WAD).length,
          auctionsOpen: 0,
          takes,
          badDebt: { writeOffs: Number(written?.n ?? 0), writtenOffUsd: BigInt(written?.usd ?? 0) },
          recent,
          snapshot,
        }),
      };
    },

    async liquidationLevels(args, snapshot) {
      const eid = levelsEid(args);
      const book = await accountedBook(name, snapshot);
      const asset = book.assets.get(args.assetId);
      if (!asset) throw new QueryError(`assetId ${args.assetId} is not listed on ${name}'s hub`, "assetId");
      const round = book.rounds.get(args.assetId);
      if (!round) throw new QueryError(`assetId ${args.assetId} has no indexed price yet`, "assetId");
      const holding = (c: { eid: number; assetId: number; amount: bigint }) => c.assetId === args.assetId && c.amount > 0n && (eid === undefined || c.eid === eid);
      const accounts: LevelsAccount[] = book.health
        .filter((h) => h.collateral.some(holding))
        .map((h) => ({ address: h.account, collateral: h.collateral, debt: h.debt.map((d) => ({ assetId: d.assetId, amount: d.amount })) }));
      const out = liquidationLevels(accounts, book.assets, book.prices, {
        assetId: args.assetId, bins: args.bins, maxDropWad: args.maxDropWad, eids: eid === undefined ? undefined : new Set([eid]),
      });
      return {
        protocol: name,
        ...levelsJson({
          ...out, symbol: symbolOf(args.assetId), decimals: asset.decimals, chainId: args.chainId ?? null, maxDropWad: args.maxDropWad,
          priceStale: priceProblem(args.assetId, round, asset.heartbeat, book.block.timestamp) !== undefined, holders: accounts.length, snapshot,
        }),
      };
    },

    async solvency(snapshot) {
      const r = reader();
      const [book, reserves, written] = await Promise.all([
        accountedBook(name, snapshot),
        r.select().from(accountedReserve).where(eq(accountedReserve.protocol, name)),
        r
          .select({ assetId: accountedWriteOff.assetId, n: count(), amount: sum(accountedWriteOff.amount), usd: sum(accountedWriteOff.amountUsd), covered: sum(accountedWriteOff.coveredByReserve) })
          .from(accountedWriteOff)
          .where(eq(accountedWriteOff.protocol, name))
          .groupBy(accountedWriteOff.assetId),
      ]);
      const reserveOf = new Map(reserves.map((x) => [x.assetId, x]));
      const writtenOf = new Map(written.map((x) => [x.assetId, x]));
      const underWater = book.health.filter((h) => h.healthFactor < WAD && h.collateralValue < h.debtValue);
      const usd = (assetId: number, amount: bigint) => {
        const p = book.prices.get(assetId);
        const a = book.assets.get(assetId);
        return p === undefined || !a ? null : valueOf(amount, p, a.decimals);
      };
      const assets = loadIndexerManifest()
        .manifest.assets.filter((a) => a.kind === "debt" && book.assets.has(a.id))
        .sort((a, b) => a.id - b.id)
        .map((a) => {
          const w = writtenOf.get(a.id);
          const reserve = reserveOf.get(a.id)?.reserve ?? 0n;
          const underWaterDebt = underWater.reduce((sum, h) => sum + (h.debt.find((d) => d.assetId === a.id)?.amount ?? 0n), 0n);
          return {
            assetId: a.id, symbol: a.symbol, decimals: book.assets.get(a.id)!.decimals,
            writtenOff: BigInt(w?.amount ?? 0), writtenOffUsd: BigInt(w?.usd ?? 0), coveredByReserve: BigInt(w?.covered ?? 0),
            uncovered: reserveOf.get(a.id)?.badDebt ?? 0n, writeOffs: Number(w?.n ?? 0),
            reserve, reserveUsd: usd(a.id, reserve), underWaterDebt, underWaterDebtUsd: usd(a.id, underWaterDebt),
          };
        });
      const debtUsd = underWater.reduce((sum, h) => sum + h.debtValue, 0n);
      const collateralUsd = underWater.reduce((sum, h) => sum + h.collateralValue, 0n);
      return {
        protocol: name,
        ...solvencyJson({
          block: snapshot.hub ?? null,
          chainBlocks: snapshot.chains,
          assets,
          writtenOffUsd: assets.reduce((sum, a) => sum + a.writtenOffUsd, 0n),
          reserveUsd: assets.reduce((sum, a) => sum + (a.reserveUsd ?? 0n), 0n),
          underWater: { accounts: underWater.length, debtUsd, collateralUsd, shortfallUsd: debtUsd - collateralUsd },
        }),
      };
    },

    async collateralAssets() {
      const rows = await reader().select().from(accountedAsset).where(and(eq(accountedAsset.protocol, name), gt(accountedAsset.liquidationThreshold, 0n))).orderBy(asc(accountedAsset.assetId));
      return rows.map((a) => ({ assetId: a.assetId, symbol: symbolOf(a.assetId), decimals: a.decimals }));
    },
  };
}
