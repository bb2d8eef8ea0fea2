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
import { type HealthSqlArgs, type Subjects, healthCte } from "../indexer/health-sql.js";
import { loadIndexerManifest } from "../indexer/manifest.js";
import { healthTables } from "../indexer/tables.js";
import type { HealthRow } from "./queries.js";
import { type Snapshot, atOneBlock, reader } from "./snapshot.js";

const HEALTH_COLUMNS = ["healthFactor", "collateralValue", "thresholdValue", "borrowPower", "debtValue", "liquidationPriceWad", "shockWad"] as const;

const args = (subjects: Subjects): HealthSqlArgs => ({ tables: healthTables(), hubChainId: loadIndexerManifest().hub.chainId, subjects });

async function rowsOf(statement: string): Promise<Record<string, unknown>[]> {
  return ((await reader().execute(sql.raw(statement))) as unknown as { rows: Record<string, unknown>[] }).rows;
}

const bigOrNull = (v: unknown): bigint | null => (v === null || v === undefined ? null : BigInt(v as string));

/** A computed row as account_health's, as of the snapshot's hub block (the stored row's block when nothing moved). */
function toRow(r: Record<string, unknown>, stored: HealthRow | undefined, snapshot: Snapshot): HealthRow {
  const computed = {
    account: String(r.account) as Address,
    healthFactor: BigInt(r.health_factor as string),
    collateralValue: BigInt(r.collateral_value as string),
    thresholdValue: BigInt(r.threshold_value as string),
    borrowPower: BigInt(r.borrow_power as string),
    debtValue: BigInt(r.debt_value as string),
    dominantCollateralAssetId: r.dominant_collateral_asset_id === null || r.dominant_collateral_asset_id === undefined ? null : Number(r.dominant_collateral_asset_id),
    liquidationPriceWad: bigOrNull(r.liquidation_price_wad),
    shockWad: bigOrNull(r.shock_wad),
  };
  if (stored && HEALTH_COLUMNS.every((c) => stored[c] === computed[c]) && stored.dominantCollateralAssetId === computed.dominantCollateralAssetId) return stored;
  return {
    ...computed,
    guardHf: stored?.guardHf ?? BigInt(r.guard_hf as string),
    updatedBlock: snapshot.hub?.number ?? stored?.updatedBlock ?? 0n,
    updatedAt: snapshot.hub?.timestamp ?? stored?.updatedAt ?? 0n,
  };
}

/**
 * The health of accounts the index knows (those with a stored row), computed at the answer's block; in the
 * snapshot open in this async context, or one of its own.
 */
export async function healthOf(keys: readonly Address[]): Promise<HealthRow[]> {
  if (keys.length === 0) return [];
  const lower = [...new Set(keys.map((k) => k.toLowerCase() as Address))];
  return atOneBlock(async (snapshot) => {
    const stored = await reader().select().from(accountHealth).where(inArray(accountHealth.account, lower));
    if (stored.length === 0) return [];
    const now = new Map((await rowsOf(`WITH ${healthCte(args({ kind: "accounts", accounts: stored.map((s) => s.account.toLowerCase()) }))} SELECT * FROM next`)).map((r) => [String(r.account), r]));
    // An account missing an input (a price not indexed) keeps its stored health, as in the indexer.
    return stored.map((s) => {
      const r = now.get(s.account.toLowerCase());
      return r ? toRow(r, s, snapshot) : s;
    });
  });
}

export interface AtRiskFilter {
  maxHealthFactor: bigint;
  minDebtUsd?: bigint;
  chainId?: number;
  assetId?: number;
  /** Rows after (healthFactor, account), exclusive. */
  after?: { healthFactor: bigint; account: string };
  limit: number;
}

const address = (a: string): string => {
  if (!/^0x[0-9a-f]{40}$/.test(a)) throw new RangeError(`a cursor's account must be a lowercase address, got ${JSON.stringify(a)}`);
  return a;
};

const int = (v: number | bigint): string => {
  const b = BigInt(v);
  if (b < 0n) throw new RangeError(`a filter value must not be negative, got ${v}`);
  return b.toString();
};

/**
 * Accounts whose health at the answer's block is strictly below `maxHealthFactor`, by health then account, after
 * the cursor, at most `limit`; and how many pass the filters (the cursor aside). Candidates: guard below the bound.
 */
export async function atRiskOf(f: AtRiskFilter): Promise<{ rows: HealthRow[]; total: number }> {
  return atOneBlock(async (snapshot) => {
    const t = healthTables();
    const where = [`n.health_factor < ${int(f.maxHealthFactor)}`];
    if (f.minDebtUsd !== undefined) where.push(`n.debt_value >= ${int(f.minDebtUsd)}`);
    if (f.chainId !== undefined) where.push(`EXISTS (SELECT 1 FROM ${t.collateral} c WHERE c.account = n.account AND c.chain_id = ${int(f.chainId)} AND c.amount > 0)`);
    if (f.assetId !== undefined) {
      const id = int(f.assetId);
      where.push(`(EXISTS (SELECT 1 FROM ${t.collateral} c WHERE c.account = n.account AND c.asset_id = ${id} AND c.amount > 0)
        OR EXISTS (SELECT 1 FROM ${t.debt} d WHERE d.account = n.account AND d.asset_id = ${id} AND d.amount > 0))`);
    }
    const after = f.after
      ? `WHERE health_factor > ${int(f.after.healthFactor)} OR (health_factor = ${int(f.after.healthFactor)} AND account > '${address(f.after.account)}')`
      : "";
    const rows = await rowsOf(`WITH ${healthCte(args({ kind: "guardBelow", bound: f.maxHealthFactor }))},
filtered AS (SELECT n.* FROM next n WHERE ${where.join(" AND ")}),
counted AS (SELECT f.*, count(*) OVER () AS total FROM filtered f)
SELECT * FROM counted ${after} ORDER BY health_factor, account LIMIT ${int(f.limit)}`);
    const stored = new Map(
      rows.length === 0 ? [] : (await reader().select().from(accountHealth).where(inArray(accountHealth.account, rows.map((r) => String(r.account) as Address)))).map((s) => [s.account.toLowerCase(), s]),
    );
    let total = rows.length > 0 ? Number(rows[0]!.total) : 0;
    if (rows.length === 0 && f.after) {
      const [c] = await rowsOf(`WITH ${healthCte(args({ kind: "guardBelow", bound: f.maxHealthFactor }))} SELECT count(*) AS total FROM next n WHERE ${where.join(" AND ")}`);
      total = Number(c?.total ?? 0);
    }
    return { rows: rows.map((r) => toRow(r, stored.get(String(r.account)), snapshot)), total };
  });
}
