/**
 * Health of every holder of an asset in one set-based statement: what a price update costs.
 *
 * A price answer moves the health of the k accounts holding that asset (as collateral or debt). Recomputing
 * them one by one through Ponder's store (read the row, compute in TypeScript, upsert, read the previous
 * health) costs three store calls per holder; at k = 100,000 that is tens of seconds, many blocks behind the
 * chain in the very block a crash happens. This statement does the same work inside PostgreSQL: find the
 * holders through the (asset_id, amount) indexes, sum their positions at the indexed prices with exact integer
 * arithmetic (`numeric`, `div` truncating as Solidity's Math.mulDiv floors for non-negative operands), upsert
 * `account_health` and return only the accounts whose health is or was below 1, from which the indexer
 * writes the feed's events (src/opportunity/event.ts decides their kind).
 *
 * Every operation mirrors src/indexer/health.ts `computeHealth` (itself Hub.accountData plus the risk-desk
 * extras) step by step, and test/health-sql.test.ts checks them equal to the wei on random markets.
 * Accounts with a position in an asset whose price or listing is not indexed keep their previous health, as
 * computeHealth's MissingInputError does. Single-account recomputation (a position event) stays in
 * TypeScript: a raw write makes Ponder flush and drop its row cache, which pays for k holders, not for one.
 *
 * Tables are named by the caller, qualified with their schema (Ponder's `ponder start --schema`): in the
 * indexer, as drizzle renders Ponder's tables (state.ts `qualifiedName`).
 */
import { MAX_UINT256, WAD } from "../health/wad.js";

/** The qualified SQL names of the tables the statement reads and writes. */
export interface HealthTables {
  collateral: string;
  debt: string;
  asset: string;
  price: string;
  accountHealth: string;
}

export interface HolderHealthArgs {
  tables: HealthTables;
  /** The asset whose price moved: its holders are recomputed. */
  assetId: number;
  /** Prices are the hub chain's (price.chain_id). */
  hubChainId: number;
  /** Block the health is as of (updated_block, updated_at). */
  blockNumber: bigint;
  blockTimestamp: bigint;
}

/** A holder whose health is below 1 now or was before the update: a candidate for a feed event. */
export interface HealthChange {
  account: `0x${string}`;
  previousHealthFactor: bigint | null;
  healthFactor: bigint;
  debtValue: bigint;
}

const int = (name: string, v: number | bigint, max: bigint): string => {
  if (typeof v === "number" && !Number.isSafeInteger(v)) throw new RangeError(`${name} must be an integer in [0, ${max}], got ${v}`);
  const b = BigInt(v);
  if (b < 0n || b > max) throw new RangeError(`${name} must be an integer in [0, ${max}], got ${v}`);
  return b.toString();
};

/**
 * The SELECT that computes each holder's health (columns as account_health's), without writing: shared by
 * the update below and by the equality test. Its output relation is `next`.
 */
export function holderHealthCte(args: Pick<HolderHealthArgs, "tables" | "assetId" | "hubChainId">): string {
  const t = args.tables;
  const assetId = int("assetId", args.assetId, 65_535n);
  const chainId = int("hubChainId", args.hubChainId, 2n ** 63n - 1n);
  return `
holders AS (
  SELECT account FROM ${t.collateral} WHERE asset_id = ${assetId} AND amount > 0
  UNION
  SELECT account FROM ${t.debt} WHERE asset_id = ${assetId} AND amount > 0
),
market AS (
  SELECT a.asset_id, a.ltv, a.liquidation_threshold AS lt, ('1' || repeat('0', a.decimals))::numeric AS unit, p.price_wad
  FROM ${t.asset} a JOIN ${t.price} p ON p.chain_id = ${chainId} AND p.asset_id = a.asset_id
),
col AS (
  SELECT c.account, c.asset_id, sum(c.amount) AS amount, sum(c.v) AS v, sum(div(c.v * c.lt, ${WAD})) AS tv, sum(div(c.v * c.ltv, ${WAD})) AS bp,
    min(c.lt) AS lt, min(c.unit) AS unit, bool_or(c.missing) AS missing
  FROM (
    SELECT c.account, c.asset_id, c.amount, m.lt, m.ltv, m.unit, div(c.amount * m.price_wad, m.unit) AS v, m.asset_id IS NULL AS missing
    FROM ${t.collateral} c JOIN holders h ON h.account = c.account LEFT JOIN market m ON m.asset_id = c.asset_id
    WHERE c.amount > 0
  ) c
  GROUP BY c.account, c.asset_id
),
col_sum AS (
  -- The dominant collateral: the largest value, the lowest asset id among equals (computeHealth's order).
  SELECT account, sum(v) AS cv, sum(tv) AS tv, sum(bp) AS bp, bool_or(missing) AS missing,
    array_agg(ARRAY[asset_id, amount, v, lt, unit] ORDER BY v DESC, asset_id ASC) AS dom
  FROM col GROUP BY account
),
dbt_sum AS (
  SELECT d.account, sum(div(d.amount * m.price_wad, m.unit)) AS dv, bool_or(m.asset_id IS NULL) AS missing
  FROM ${t.debt} d JOIN holders h ON h.account = d.account LEFT JOIN market m ON m.asset_id = d.asset_id
  WHERE d.amount > 0
  GROUP BY d.account
),
sums AS (
  SELECT h.account, coalesce(cs.cv, 0) AS cv, coalesce(cs.tv, 0) AS tv, coalesce(cs.bp, 0) AS bp, coalesce(ds.dv, 0) AS dv,
    cs.dom[1][1]::integer AS dom_id, cs.dom[1][2] AS dom_amount, cs.dom[1][3] AS dom_v, cs.dom[1][4] AS dom_lt, cs.dom[1][5] AS dom_unit
  FROM holders h LEFT JOIN col_sum cs ON cs.account = h.account LEFT JOIN dbt_sum ds ON ds.account = h.account
  WHERE NOT coalesce(cs.missing, false) AND NOT coalesce(ds.missing, false)
),
hf AS (
  SELECT *, CASE WHEN dv = 0 THEN ${MAX_UINT256} ELSE div(tv * ${WAD}, dv) END AS health_factor,
    dv - (tv - div(dom_v * dom_lt, ${WAD})) AS needed
  FROM sums
),
next AS (
  SELECT account, health_factor, cv AS collateral_value, tv AS threshold_value, bp AS borrow_power, dv AS debt_value,
    dom_id AS dominant_collateral_asset_id,
    CASE WHEN dom_id IS NULL OR dv = 0 THEN NULL
      WHEN needed <= 0 OR dom_amount * dom_lt = 0 THEN 0
      ELSE div(needed * dom_unit * ${WAD}, dom_amount * dom_lt) END AS liquidation_price_wad,
    CASE WHEN health_factor = ${MAX_UINT256} THEN NULL
      WHEN health_factor <= ${WAD} THEN 0
      ELSE div((health_factor - ${WAD}) * ${WAD}, health_factor) END AS shock_wad
  FROM hf
)`;
}

/**
 * Transaction-local settings for the update (set_config(…, true) is SET LOCAL, in a SELECT): no JIT (compiling
 * the plan of a 100,000-holder update took ~1.2 s), room for its hash aggregates, and index lookups priced as
 * what they are for the indexer's hot tables, in memory (with the default random_page_cost of 4, 1,000 holders
 * among 100,000 accounts were joined by scanning every table: 181 ms instead of 45).
 */
export const HOLDER_UPDATE_SETTINGS = `SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true), set_config('random_page_cost', '1.1', true)`;

const COLUMNS = [
  "health_factor", "collateral_value", "threshold_value", "borrow_power", "debt_value",
  "dominant_collateral_asset_id", "liquidation_price_wad", "shock_wad", "updated_block", "updated_at",
] as const;

/**
 * Recomputes and upserts the health of every holder of `assetId`; returns the rows whose health factor is
 * below 1 after the update or was before it (the previous value is read from the statement's snapshot, before
 * its own write).
 */
export function updateHolderHealthSql(args: HolderHealthArgs): string {
  const block = int("blockNumber", args.blockNumber, 2n ** 255n);
  const timestamp = int("blockTimestamp", args.blockTimestamp, 2n ** 255n);
  const t = args.tables.accountHealth;
  const set = COLUMNS.map((c) => `${c} = n.${c}`).join(", ");
  // Existing rows are updated in place (their old health read from the statement's snapshot through the
  // self-join), missing ones inserted: cheaper than INSERT … ON CONFLICT's speculative insertion per row.
  return `WITH ${holderHealthCte(args)},
fresh AS (SELECT *, ${block}::numeric AS updated_block, ${timestamp}::numeric AS updated_at FROM next),
updated AS (
  UPDATE ${t} AS ah SET ${set}
  FROM fresh n JOIN ${t} AS old ON old.account = n.account
  WHERE ah.account = n.account
  RETURNING ah.account, old.health_factor AS previous_health_factor, ah.health_factor, ah.debt_value
),
inserted AS (
  INSERT INTO ${t} (account, ${COLUMNS.join(", ")})
  SELECT account, ${COLUMNS.join(", ")} FROM fresh n WHERE NOT EXISTS (SELECT 1 FROM ${t} x WHERE x.account = n.account)
  RETURNING account, NULL::numeric AS previous_health_factor, health_factor, debt_value
)
SELECT * FROM (SELECT * FROM updated UNION ALL SELECT * FROM inserted) changed
WHERE health_factor < ${WAD} OR previous_health_factor < ${WAD}
ORDER BY account`;
}

/** Rows of `updateHolderHealthSql`, as PostgreSQL returns them (numerics as decimal strings). */
export function parseHealthChanges(rows: readonly Record<string, unknown>[]): HealthChange[] {
  const big = (v: unknown, name: string): bigint => {
    if (typeof v === "string" || typeof v === "number" || typeof v === "bigint") return BigInt(v);
    throw new TypeError(`health change: ${name} is ${typeof v}`);
  };
  return rows.map((r) => ({
    account: String(r.account) as `0x${string}`,
    previousHealthFactor: r.previous_health_factor === null || r.previous_health_factor === undefined ? null : big(r.previous_health_factor, "previous_health_factor"),
    healthFactor: big(r.health_factor, "health_factor"),
    debtValue: big(r.debt_value, "debt_value"),
  }));
}
