/**
 * Health as the API serves it: computed when read, at the answer's block.
 *
 * The indexer stores each account's health at reference prices with its envelope (src/health/envelope.ts): rows
 * of watched accounts (guard below 1) are exact, the others may lag the prices within their guard. So an
 * account's health is computed from its positions and the indexed prices in the answer's snapshot (health-sql.ts,
 * the indexer's own statement, read-only), and the at-risk list takes its candidates from the guard: only an
 * account whose guard is below the bound can be below it, and each candidate is computed exactly.
 */
import { accountHealth } from "ponder:schema";
import { inArray, sql } from "ponder";
import type { Address } from "viem";
import { type AtRiskFilter, type ComputedHealth, atRiskSql, healthCte, parseComputedHealth } from "../protocols/hub-spoke/indexing/health-sql.js";
import { isWatched } from "../health/envelope.js";
import { loadIndexerManifest } from "../indexer/manifest.js";
import { healthTables } from "../protocols/hub-spoke/indexing/tables.js";
import type { HealthRow } from "./queries.js";
import { type Snapshot, atOneBlock, reader } from "./snapshot.js";

const HEALTH_COLUMNS = ["healthFactor", "collateralValue", "thresholdValue", "borrowPower", "debtValue", "liquidationPriceWad", "shockWad", "dominantCollateralAssetId"] as const;

const sqlArgs = () => ({ tables: healthTables(), hubChainId: loadIndexerManifest().hub.chainId });

async function rowsOf(statement: string): Promise<Record<string, unknown>[]> {
  return ((await reader().execute(sql.raw(statement))) as unknown as { rows: Record<string, unknown>[] }).rows;
}

/** A computed health as account_health's row, as of the snapshot's hub block (the stored row when nothing moved). */
function toRow(c: ComputedHealth, stored: HealthRow | undefined, snapshot: Snapshot): HealthRow {
  if (stored && HEALTH_COLUMNS.every((k) => stored[k] === c[k])) return stored;
  return {
    account: c.account,
    healthFactor: c.healthFactor,
    collateralValue: c.collateralValue,
    thresholdValue: c.thresholdValue,
    borrowPower: c.borrowPower,
    debtValue: c.debtValue,
    dominantCollateralAssetId: c.dominantCollateralAssetId,
    liquidationPriceWad: c.liquidationPriceWad,
    shockWad: c.shockWad,
    guardHf: stored?.guardHf ?? c.guardHf,
    updatedBlock: snapshot.hub?.number ?? stored?.updatedBlock ?? 0n,
    updatedAt: snapshot.hub?.timestamp ?? stored?.updatedAt ?? 0n,
  };
}

/** The stored rows of `accounts`, by lower-case address. */
async function storedRows(accounts: readonly Address[]): Promise<Map<string, HealthRow>> {
  if (accounts.length === 0) return new Map();
  return new Map((await reader().select().from(accountHealth).where(inArray(accountHealth.account, [...accounts]))).map((s) => [s.account.toLowerCase(), s]));
}

/**
 * The health of accounts the index knows (those with a stored row), computed at the answer's block; in the
 * snapshot open in this async context, or one of its own.
 */
export async function healthOf(keys: readonly Address[]): Promise<HealthRow[]> {
  if (keys.length === 0) return [];
  const lower = [...new Set(keys.map((k) => k.toLowerCase() as Address))];
  return atOneBlock(async (snapshot) => {
    const stored = await storedRows(lower);
    if (stored.size === 0) return [];
    // A watched account's row is exact at every block (the indexer recomputes it at each move of a price it
    // holds, and at each position event): only the others are computed. In a crash that is most of the feed's.
    const moving = [...stored.values()].filter((s) => !isWatched(s.guardHf)).map((s) => s.account.toLowerCase());
    const subjects = { kind: "accounts" as const, accounts: moving };
    const now =
      moving.length === 0
        ? new Map<string, ComputedHealth>()
        : new Map(parseComputedHealth(await rowsOf(`WITH ${healthCte({ ...sqlArgs(), subjects })} SELECT * FROM next`)).map((c) => [c.account.toLowerCase(), c]));
    // An account missing an input (a price not indexed) keeps its stored health, as in the indexer.
    return [...stored.values()].map((s) => {
      const c = now.get(s.account.toLowerCase());
      return c ? toRow(c, s, snapshot) : s;
    });
  });
}

/**
 * Accounts whose health at the answer's block is strictly below `maxHealthFactor`, by health then account, after
 * the cursor, at most `limit`; and how many pass the filters (the cursor aside). Candidates: guard below the bound.
 */
export async function atRiskOf(f: AtRiskFilter): Promise<{ rows: HealthRow[]; total: number }> {
  return atOneBlock(async (snapshot) => {
    const raw = await rowsOf(atRiskSql(sqlArgs(), f));
    const computed = parseComputedHealth(raw);
    const stored = await storedRows(computed.map((c) => c.account));
    let total = raw.length > 0 ? Number(raw[0]!.total) : 0;
    if (raw.length === 0 && f.after) total = Number((await rowsOf(atRiskSql(sqlArgs(), f, true)))[0]?.total ?? 0);
    return { rows: computed.map((c) => toRow(c, stored.get(c.account.toLowerCase()), snapshot)), total };
  });
}
