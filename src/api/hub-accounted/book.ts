/**
 * The hub-accounted money market as the salvage API serves it: its rows read in the answer's snapshot
 * (src/api/snapshot.ts) and valued at the snapshot's hub block (src/protocols/hub-accounted/valuation.ts): positions
 * and borrow indexes as indexed, debt grown to the block's timestamp, the hub chain's feeds as indexed (the `price`
 * table: the same feeds the reference hub reads). Equal to AccountedHub.accountData at that block to the wei
 * (test/indexer.hub-accounted.test.ts). It lives under src/api/ (Ponder runs every other file under src/ as
 * indexing code, which may not import the API). Every account with debt is valued (O(borrowers) per answer), or
 * only those asked for.
 */
import { accountedAsset, accountedCollateral, accountedDebt, accountedRate, accountedTerms, price } from "ponder:schema";
import { and, eq, inArray } from "ponder";
import type { Address } from "viem";
import { hubChainId } from "../../indexer/manifest.js";
import { type Snapshot, reader } from "../snapshot.js";
import { type AccountedBook, valueBook } from "../../protocols/hub-accounted/valuation.js";

/** The deployment's accounts with debt (or those of `only` with debt), valued at the snapshot's hub block. */
export async function accountedBook(protocol: string, snapshot: Snapshot, only?: readonly Address[]): Promise<AccountedBook> {
  const block = { number: snapshot.hub?.number ?? 0n, timestamp: snapshot.hub?.timestamp ?? 0n };
  const r = reader();
  const wanted = only && ([...new Set(only.map((a) => a.toLowerCase()))] as Address[]);
  const [assets, terms, rates, prices, debts] = await Promise.all([
    r.select().from(accountedAsset).where(eq(accountedAsset.protocol, protocol)),
    r.select().from(accountedTerms).where(eq(accountedTerms.protocol, protocol)),
    r.select().from(accountedRate).where(eq(accountedRate.protocol, protocol)),
    r.select().from(price).where(eq(price.chainId, hubChainId())),
    r.select().from(accountedDebt).where(and(eq(accountedDebt.protocol, protocol), ...(wanted ? [inArray(accountedDebt.account, wanted)] : []))),
  ]);
  const accounts = [...new Set(debts.map((d) => d.account.toLowerCase()))];
  const collateral = accounts.length === 0 ? [] : await r.select().from(accountedCollateral).where(and(eq(accountedCollateral.protocol, protocol), inArray(accountedCollateral.account, accounts as Address[])));
  return valueBook(protocol, { assets, terms, rates, prices, debts, collateral }, accounts, block);
}
