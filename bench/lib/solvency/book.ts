/**
 * The hub's book for the solvency benchmark: every account's collateral per (spoke eid, asset) and debt per asset,
 * read at one block in a few Multicall3 reads, and valued with the hub's own math (src/health/health.ts, equal to
 * Hub.accountData to the wei). Amounts are bigints in base units, prices WAD.
 */
import type { Abi, Address } from "viem";
import { hubAbi } from "../../../abis/index.js";
import type { AccountData } from "../../../src/health/health.js";
import type { Deployment } from "../../../src/protocol/deployment.js";
import { type Call, readMany } from "../multicall.js";

export interface Position {
  /** By `${eid}:${assetId}`. */
  collateral: Map<string, bigint>;
  /** By debt asset id. */
  debt: Map<number, bigint>;
}

/** By account (checksummed, as viem decodes event addresses). */
export type Book = Map<Address, Position>;

export interface AuctionState {
  active: boolean;
  startedAt: bigint;
}

export const marketKey = (eid: number, assetId: number) => `${eid}:${assetId}`;

export function markets(d: Deployment): { eid: number; assetId: number }[] {
  return d.spokes.flatMap((s) => d.collateralAssets.map((a) => ({ eid: s.eid, assetId: a.id })));
}

export function clonePosition(p: Position): Position {
  return { collateral: new Map(p.collateral), debt: new Map(p.debt) };
}

export function cloneBook(book: Book): Book {
  return new Map([...book].map(([a, p]) => [a, clonePosition(p)]));
}

/** Every account's hub positions at `blockNumber`. */
export async function readBook(d: Deployment, accounts: readonly Address[], blockNumber: bigint): Promise<Book> {
  const ms = markets(d);
  const debts = d.debtAssets.map((a) => a.id);
  const hub = d.hubAddress;
  const abi = hubAbi as Abi;
  const calls: Call[] = accounts.flatMap((account) => [
    ...ms.map((m) => ({ address: hub, abi, functionName: "collateral", args: [account, m.eid, m.assetId] })),
    ...debts.map((id) => ({ address: hub, abi, functionName: "debt", args: [account, id] })),
  ]);
  const values = (await readMany(d.hubClients.public, calls, blockNumber)) as bigint[];
  const per = ms.length + debts.length;
  return new Map(
    accounts.map((account, i) => {
      const row = values.slice(i * per, (i + 1) * per);
      return [
        account,
        {
          collateral: new Map(ms.map((m, j) => [marketKey(m.eid, m.assetId), row[j]!] as const)),
          debt: new Map(debts.map((id, j) => [id, row[ms.length + j]!] as const)),
        },
      ] as const;
    }),
  );
}

/** Every account's auction (Hub.auctions) at `blockNumber`. */
export async function readAuctions(d: Deployment, accounts: readonly Address[], blockNumber: bigint): Promise<Map<Address, AuctionState>> {
  const calls: Call[] = accounts.map((account) => ({ address: d.hubAddress, abi: hubAbi as Abi, functionName: "auctions", args: [account] }));
  const values = (await readMany(d.hubClients.public, calls, blockNumber)) as [bigint, bigint, Address, boolean][];
  return new Map(accounts.map((a, i) => [a, { startedAt: values[i]![1], active: values[i]![3] }] as const));
}

/** Hub.accountData of a position at `prices` (WAD by asset id), with the hub's rounding. */
export function valuePosition(d: Deployment, p: Position, prices: ReadonlyMap<number, bigint>): AccountData {
  const collateral = [...p.collateral].map(([key, amount]) => ({ assetId: Number(key.split(":")[1]), amount }));
  const debt = [...p.debt].map(([assetId, amount]) => ({ assetId, amount }));
  return d.health({ collateral, debt }, prices as Map<number, bigint>);
}

export function hasDebt(p: Position): boolean {
  for (const v of p.debt.values()) if (v !== 0n) return true;
  return false;
}
