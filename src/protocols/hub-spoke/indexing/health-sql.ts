/**
 * Health of a set of accounts in one set-based statement: what a price update, and the API's reads, cost.
 *
 * The statement sums each account's positions at the indexed prices with exact integer arithmetic (`numeric`,
 * `div` truncating as Solidity's Math.mulDiv floors for non-negative operands), step by step as
 * src/protocols/hub-spoke/indexing/health.ts `computeHealth` (itself Hub.accountData plus the risk-desk extras), and adds the
 * envelope (src/health/envelope.ts): the guard and the trigger price of every asset the account holds.
 * test/health-sql.test.ts checks it equal to the TypeScript to the wei on random markets.
 *
 * Which accounts (`Subjects`): every holder of an asset (a re-listing, seeding); the accounts whose trigger a new
 * price crosses (a price update: one range scan of health_trigger); given accounts (the API's `account`); or
 * the accounts whose guard is below a bound (the API's at-risk list: the only ones that can be below it).
 * Accounts with a position in an asset whose price or listing is not indexed are left out (they keep their
 * previous health), as computeHealth's MissingInputError does.
 *
 * A price update either reads its subjects with `computeHealthSql` (read-only: Ponder flushes the tables it reads
 * and keeps its row cache) and writes them through Ponder's store, or computes and writes them in one statement,
 * `writeHealthSql` (recompute.ts says when). The API reads with
 * `healthCte` and `atRiskSql`.
 *
 * Tables are named by the caller, qualified with their schema (Ponder's `ponder start --schema`): in the
 * indexer and the API, as drizzle renders Ponder's tables (tables.ts `healthTables`).
 */
import { COLLATERAL_TRIGGER, DEBT_TRIGGER, GUARD_PRECISION, MIN_VALUE, isWatched, triggerPrice } from "../../../health/envelope.js";
import { MAX_UINT256, WAD } from "../../../health/wad.js";

/** The qualified SQL names of the tables the statement reads and writes. */
export interface HealthTables {
  collateral: string;
  debt: string;
  asset: string;
  price: string;
  accountHealth: string;
  healthTrigger: string;
}

/** The accounts a statement computes. */
export type Subjects =
  | { kind: "holders"; assetId: number }
  | {
      /** The accounts a hub block's price moves reach: one move per asset, at its last price in the block. */
      kind: "fired";
      moves: readonly PriceMove[];
      /** Write priceParam(i) where move i's price goes, for `bindPrices` to make each a bound parameter. */
      bound?: true;
    }
  | { kind: "accounts"; accounts: readonly string[] }
  | { kind: "guardBelow"; bound: bigint };

/** An asset's new price (WAD). */
export interface PriceMove {
  assetId: number;
  priceWad: bigint;
}

export interface HealthSqlArgs {
  tables: HealthTables;
  /** Prices are the hub chain's (price.chain_id). */
  hubChainId: number;
  subjects: Subjects;
}

export interface WriteHealthArgs extends HealthSqlArgs {
  /** Block the health is as of (updated_block, updated_at). */
  blockNumber: bigint;
  blockTimestamp: bigint;
}

/** An account whose health is below 1 now or was before the update: a candidate for a feed event. */
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

const ADDRESS = /^0x[0-9a-f]{40}$/;

/** The SELECT of the subjects' account column (every value validated: the statement is plain SQL text). */
function subjectsSql(t: HealthTables, subjects: Subjects): string {
  switch (subjects.kind) {
    case "holders": {
      const assetId = int("assetId", subjects.assetId, 65_535n);
      return `SELECT account FROM ${t.collateral} WHERE asset_id = ${assetId} AND amount > 0
  UNION
  SELECT account FROM ${t.debt} WHERE asset_id = ${assetId} AND amount > 0`;
    }
    case "fired": {
      if (subjects.moves.length === 0) throw new RangeError("fired subjects need at least one price move");
      const ids = subjects.moves.map((m) => int("assetId", m.assetId, 65_535n));
      if (new Set(ids).size !== ids.length) throw new RangeError(`fired subjects take one move per asset, got assets ${ids.join(",")}`);
      const prices = subjects.moves.map((m, i) => (subjects.bound ? priceParam(i) : int("priceWad", m.priceWad, MAX_UINT256)));
      // Per move, two range scans of health_trigger_fires_idx (collateral at or above the price, debt at or below
      // it: one OR, planned as a BitmapOr); and the watched accounts (guard below 1, account_health_guard_idx)
      // that hold a moved asset: they keep no triggers. (Joins, not EXISTS: Ponder's read-only gate refuses sub-links.)
      const fires = ids.map((id, i) => `(asset_id=${id} AND side=0 AND price_wad>=${prices[i]}) OR (asset_id=${id} AND side=1 AND price_wad<=${prices[i]})`).join(" OR ");
      const moved = ids.length === 1 ? `=${ids[0]}` : ` IN (${ids.join(",")})`;
      return `SELECT account FROM ${t.healthTrigger} WHERE ${fires}
UNION SELECT h.account FROM ${t.accountHealth} h JOIN ${t.collateral} c ON c.account=h.account AND c.asset_id${moved} AND c.amount>0 WHERE h.guard_hf<${WAD}
UNION SELECT h.account FROM ${t.accountHealth} h JOIN ${t.debt} d ON d.account=h.account AND d.asset_id${moved} AND d.amount>0 WHERE h.guard_hf<${WAD}`;
    }
    case "accounts": {
      for (const a of subjects.accounts) if (!ADDRESS.test(a)) throw new RangeError(`accounts must be lowercase 0x-prefixed 20-byte hex addresses, got ${JSON.stringify(a)}`);
      if (subjects.accounts.length === 0) return `SELECT NULL::text AS account WHERE false`;
      return `SELECT DISTINCT unnest(ARRAY[${subjects.accounts.map((a) => `'${a}'`).join(",")}]::text[]) AS account`;
    }
    case "guardBelow":
      return `SELECT account FROM ${t.accountHealth} WHERE guard_hf < ${int("bound", subjects.bound, MAX_UINT256)}`;
  }
}

/**
 * Where a statement of bound fired subjects takes move i's price. Ponder parses every raw statement of an indexing
 * function to find the tables it reads (and flushes them), caching the answer by the statement's text: with the
 * prices bound as parameters the text is one per set of assets moved together, and the parse (~20 ms for the
 * computation) is done once.
 */
export const priceParam = (i: number): string => `$price${i}$`;
const PRICE_PARAMS = /\$price(\d+)\$/g;

/** A statement written with priceParam(i) as Ponder receives it, each place a numbered parameter: its length. */
export function renderedLength(statement: string): number {
  let n = 0;
  return statement.replace(PRICE_PARAMS, () => `$${++n}::numeric`).length;
}

/** Binds the prices into a statement written with priceParam(i): each place one parameter (numeric, as text). */
export function bindPrices(statement: string, moves: readonly PriceMove[]): { parts: string[]; params: string[] } {
  const values = moves.map((m) => int("priceWad", m.priceWad, MAX_UINT256));
  const parts: string[] = [];
  const params: string[] = [];
  let last = 0;
  for (const match of statement.matchAll(PRICE_PARAMS)) {
    const i = Number(match[1]);
    if (values[i] === undefined) throw new RangeError(`the statement names price ${i} of ${values.length}`);
    parts.push(statement.slice(last, match.index));
    params.push(values[i]!);
    last = match.index! + match[0].length;
  }
  parts.push(statement.slice(last));
  return { parts, params };
}

/** Ponder's raw-SQL gate takes a longer statement for a write (and drops its row cache for it). */
export const PONDER_READ_LIMIT = 5_000;

/**
 * A block's moves in parts whose statement (`lengthOf` a part) Ponder's gate can read as read-only: the moves in
 * order, each part as long as fits. Recomputing the parts one after the other at the block's last prices gives what
 * one statement would: an account two parts reach is recomputed twice at the same prices.
 */
export function movesWithin<T>(moves: readonly T[], lengthOf: (part: T[]) => number, limit = PONDER_READ_LIMIT): T[][] {
  const parts: T[][] = [];
  let part: T[] = [];
  for (const m of moves) {
    if (part.length > 0 && lengthOf([...part, m]) > limit) {
      parts.push(part);
      part = [];
    }
    part.push(m);
  }
  if (part.length > 0) parts.push(part);
  return parts;
}

/** The envelope's guard from health_factor, tv and dv: src/health/envelope.ts `guardOf`. */
const GUARD = `CASE WHEN dv=0 THEN ${MAX_UINT256} WHEN tv<${MIN_VALUE} OR dv<${MIN_VALUE} THEN 0 ELSE greatest(div(health_factor*${COLLATERAL_TRIGGER.num * DEBT_TRIGGER.den * (GUARD_PRECISION - 1n)},${COLLATERAL_TRIGGER.den * DEBT_TRIGGER.num * GUARD_PRECISION})-1,0) END`;

/** A position's trigger price from its side, its reference price and the account's guard (n.guard_hf): envelope.ts `triggerPrice`. */
const triggerSql = (side: 0 | 1, price: string): string =>
  side === 0
    ? `CASE WHEN n.guard_hf<${WAD} THEN ${MAX_UINT256} ELSE div(${price}*${COLLATERAL_TRIGGER.num}+${COLLATERAL_TRIGGER.den - 1n},${COLLATERAL_TRIGGER.den}) END`
    : `CASE WHEN n.guard_hf<${WAD} THEN 0 ELSE div(${price}*${DEBT_TRIGGER.num},${DEBT_TRIGGER.den}) END`;

/** 10^80: above any uint256, to pack an amount under a dominance key. */
const PACK = `1${"0".repeat(80)}`;

/**
 * The CTEs that compute each subject's health (columns as account_health's, with guard_hf) into `next`, and the
 * trigger price of every asset it holds into `triggers` (none without debt: no price makes it liquidatable).
 *
 * Written for Ponder's raw-SQL gate as well as for PostgreSQL: a statement Ponder cannot prove read-only (longer
 * than 5,000 characters, or calling a function outside its allow-list: repeat, bool_or, array_agg, set_config…)
 * is taken for a write, and Ponder then flushes and drops its whole row cache for the rest of the process. Hence
 * power() for 10^decimals, max() over 0/1 for "an input is missing", and the dominant collateral (the largest
 * value, the lowest asset id among equals: computeHealth's order) as the max() of one packed key,
 * (value × 65536 + 65535 − asset id) × 10^80 + amount. test/health-sql.test.ts checks the read statements pass
 * Ponder's own check.
 */
export function healthCte(args: HealthSqlArgs): string {
  const t = args.tables;
  const chainId = int("hubChainId", args.hubChainId, 2n ** 63n - 1n);
  return `
s AS (${subjectsSql(t, args.subjects)}),
m AS (SELECT a.asset_id,a.ltv,a.liquidation_threshold lt,power(10::numeric,a.decimals)::numeric(78,0) u,p.price_wad pw
FROM ${t.asset} a JOIN ${t.price} p ON p.chain_id=${chainId} AND p.asset_id=a.asset_id),
col AS (SELECT c.account,c.asset_id,sum(c.amount) amount,sum(c.v) v,sum(div(c.v*c.lt,${WAD})) tv,sum(div(c.v*c.ltv,${WAD})) bp,max(c.miss) miss,max(c.pw) pw
FROM (SELECT c.account,c.asset_id,c.amount,m.lt,m.ltv,m.pw,div(c.amount*m.pw,m.u) v,(m.asset_id IS NULL)::int miss
FROM ${t.collateral} c JOIN s ON s.account=c.account LEFT JOIN m ON m.asset_id=c.asset_id WHERE c.amount>0) c GROUP BY c.account,c.asset_id),
cs AS (SELECT account,sum(v) cv,sum(tv) tv,sum(bp) bp,max(miss) miss,max((v*65536+65535-asset_id)*${PACK}+amount) dom,
json_agg(json_build_array(asset_id,pw::text)) hc FROM col GROUP BY account),
dbt AS (SELECT d.account,d.asset_id,m.pw,div(d.amount*m.pw,m.u) v,(m.asset_id IS NULL)::int miss
FROM ${t.debt} d JOIN s ON s.account=d.account LEFT JOIN m ON m.asset_id=d.asset_id WHERE d.amount>0),
ds AS (SELECT account,sum(v) dv,max(miss) miss,json_agg(json_build_array(asset_id,pw::text)) hd FROM dbt GROUP BY account),
sums AS (SELECT s.account,coalesce(cs.cv,0) cv,coalesce(cs.tv,0) tv,coalesce(cs.bp,0) bp,coalesce(ds.dv,0) dv,
(65535-mod(div(cs.dom,${PACK}),65536))::integer dom_id,mod(cs.dom,${PACK}) dom_amount,div(div(cs.dom,${PACK}),65536) dom_v,
coalesce(cs.hc,'[]'::json) held_c,coalesce(ds.hd,'[]'::json) held_d
FROM s LEFT JOIN cs ON cs.account=s.account LEFT JOIN ds ON ds.account=s.account
WHERE coalesce(cs.miss,0)=0 AND coalesce(ds.miss,0)=0),
hf AS (SELECT x.*,m.lt dom_lt,m.u dom_unit,CASE WHEN dv=0 THEN ${MAX_UINT256} ELSE div(tv*${WAD},dv) END health_factor,
dv-(tv-div(dom_v*m.lt,${WAD})) needed FROM sums x LEFT JOIN m ON m.asset_id=x.dom_id),
next AS (SELECT account,health_factor,cv collateral_value,tv threshold_value,bp borrow_power,dv debt_value,dom_id dominant_collateral_asset_id,
CASE WHEN dom_id IS NULL OR dv=0 THEN NULL WHEN needed<=0 OR dom_amount*dom_lt=0 THEN 0 ELSE div(needed*dom_unit*${WAD},dom_amount*dom_lt) END liquidation_price_wad,
CASE WHEN health_factor=${MAX_UINT256} THEN NULL WHEN health_factor<=${WAD} THEN 0 ELSE div((health_factor-${WAD})*${WAD},health_factor) END shock_wad,
${GUARD} guard_hf,held_c,held_d FROM hf)`;
}

/**
 * The trigger rows of the accounts in `next` that are not watched (write path): each held asset's price from the
 * account's own list, so no CTE is joined to another (PostgreSQL cannot estimate a CTE's rows; a nested loop over two took minutes).
 */
const TRIGGERS_CTE = `triggers AS (
SELECT n.account,(e->>0)::integer asset_id,0 side,${triggerSql(0, "(e->>1)::numeric")} price_wad
FROM next n,json_array_elements(n.held_c) e WHERE n.debt_value>0 AND n.guard_hf>=${WAD}
UNION ALL
SELECT n.account,(e->>0)::integer,1,${triggerSql(1, "(e->>1)::numeric")}
FROM next n,json_array_elements(n.held_d) e WHERE n.debt_value>0 AND n.guard_hf>=${WAD})`;

/**
 * Session settings of every Ponder connection (ponder.config.ts `poolConfig.options`), for the health statements:
 * no JIT (compiling the plan of a 100,000-holder update took ~1.2 s), room for their hash aggregates, index lookups
 * priced as what they are for the indexer's hot tables, in memory (with the default random_page_cost of 4, 1,000
 * holders among 100,000 accounts were joined by scanning every table: 181 ms instead of 45), and no parallel
 * workers (the planner sent 200,000 triggers to a parallel sequential scan, 100 ms, where the two index range
 * scans take 1 ms). Set per session, not per statement: `SET LOCAL`/`set_config` are writes to Ponder's gate.
 */
export const HEALTH_SQL_SESSION_OPTIONS = "-c jit=off -c work_mem=64MB -c random_page_cost=1.1 -c max_parallel_workers_per_gather=0";

const COLUMNS = [
  "health_factor", "collateral_value", "threshold_value", "borrow_power", "debt_value",
  "dominant_collateral_asset_id", "liquidation_price_wad", "shock_wad", "guard_hf", "updated_block", "updated_at",
] as const;

/**
 * Read-only: each subject's health and guard (next's columns, with the assets it holds and their prices as JSON
 * [asset_id, "price_wad"] lists `held_c` and `held_d`), and its stored row's health factor before
 * (`previous_health_factor`, null without a row). Ordered by account, the first `limit` when given. Its triggers are computed from those lists by
 * `parseComputedHealth` (envelope.ts `triggerPrice`).
 */
export function computeHealthSql(args: HealthSqlArgs, limit?: number): string {
  return `WITH ${healthCte(args)}
SELECT n.*,old.health_factor previous_health_factor FROM next n LEFT JOIN ${args.tables.accountHealth} old ON old.account=n.account ORDER BY n.account${
    limit === undefined ? "" : ` LIMIT ${int("limit", limit, 2n ** 31n)}`
  }`;
}

/** The at-risk list's filters (src/api/health-read.ts `atRiskOf`). */
export interface AtRiskFilter {
  maxHealthFactor: bigint;
  minDebtUsd?: bigint;
  chainId?: number;
  assetId?: number;
  /** Rows after (healthFactor, account), exclusive. */
  after?: { healthFactor: bigint; account: string };
  limit: number;
}

/**
 * Read-only: the accounts whose health is strictly below the bound among those whose guard is below it (no other can
 * be), with the filters, by health then account, after the cursor, at most `limit`, each with `total`: how many pass
 * the filters, the cursor aside. With `countOnly`, that count alone (a page after the last row has no row to carry it).
 */
export function atRiskSql(args: Omit<HealthSqlArgs, "subjects">, f: AtRiskFilter, countOnly = false): string {
  const t = args.tables;
  const u = (name: string, v: number | bigint) => int(name, v, MAX_UINT256);
  const where = [`n.health_factor<${u("maxHealthFactor", f.maxHealthFactor)}`];
  if (f.minDebtUsd !== undefined) where.push(`n.debt_value>=${u("minDebtUsd", f.minDebtUsd)}`);
  if (f.chainId !== undefined) where.push(`EXISTS (SELECT 1 FROM ${t.collateral} c WHERE c.account=n.account AND c.chain_id=${u("chainId", f.chainId)} AND c.amount>0)`);
  if (f.assetId !== undefined) {
    const id = u("assetId", f.assetId);
    where.push(`(EXISTS (SELECT 1 FROM ${t.collateral} c WHERE c.account=n.account AND c.asset_id=${id} AND c.amount>0)
OR EXISTS (SELECT 1 FROM ${t.debt} d WHERE d.account=n.account AND d.asset_id=${id} AND d.amount>0))`);
  }
  const cte = healthCte({ ...args, subjects: { kind: "guardBelow", bound: f.maxHealthFactor } });
  if (countOnly) return `WITH ${cte} SELECT count(*) AS total FROM next n WHERE ${where.join(" AND ")}`;
  let after = "";
  if (f.after) {
    if (!ADDRESS.test(f.after.account)) throw new RangeError(`a cursor's account must be a lowercase address, got ${JSON.stringify(f.after.account)}`);
    const hf = u("after.healthFactor", f.after.healthFactor);
    after = `WHERE health_factor>${hf} OR (health_factor=${hf} AND account>'${f.after.account}')`;
  }
  return `WITH ${cte},
filtered AS (SELECT n.* FROM next n WHERE ${where.join(" AND ")}),
counted AS (SELECT f.*,count(*) OVER () AS total FROM filtered f)
SELECT * FROM counted ${after} ORDER BY health_factor,account LIMIT ${int("limit", f.limit, 2n ** 31n)}`;
}

/**
 * Recomputes and writes the subjects' health and triggers in one statement; returns the rows whose health factor
 * is below 1 after the update or was before it (the previous value read from the statement's snapshot, before its
 * own write).
 */
export function writeHealthSql(args: WriteHealthArgs): string {
  const block = int("blockNumber", args.blockNumber, 2n ** 255n);
  const timestamp = int("blockTimestamp", args.blockTimestamp, 2n ** 255n);
  const t = args.tables.accountHealth;
  const trig = args.tables.healthTrigger;
  const set = COLUMNS.map((c) => `${c} = n.${c}`).join(", ");
  // Existing rows are updated in place (their old health read from the statement's snapshot through the
  // self-join), missing ones inserted: cheaper than INSERT … ON CONFLICT's speculative insertion per row. A
  // trigger that did not move (a watched account's) is not written again.
  return `WITH ${healthCte(args)},${TRIGGERS_CTE},
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
),
triggers_written AS (
  INSERT INTO ${trig} AS tr (account, asset_id, side, price_wad) SELECT account, asset_id, side, price_wad FROM triggers
  ON CONFLICT (account, asset_id, side) DO UPDATE SET price_wad = excluded.price_wad WHERE tr.price_wad <> excluded.price_wad
  RETURNING 1
)
SELECT * FROM (SELECT * FROM updated UNION ALL SELECT * FROM inserted) changed
WHERE health_factor < ${WAD} OR previous_health_factor < ${WAD}
ORDER BY account`;
}

const big = (v: unknown, name: string): bigint => {
  if (typeof v === "string" || typeof v === "number" || typeof v === "bigint") return BigInt(v);
  throw new TypeError(`health row: ${name} is ${typeof v}`);
};
const bigOrNull = (v: unknown, name: string): bigint | null => (v === null || v === undefined ? null : big(v, name));

/** Rows of `writeHealthSql`, as PostgreSQL returns them (numerics as decimal strings). */
export function parseHealthChanges(rows: readonly Record<string, unknown>[]): HealthChange[] {
  return rows.map((r) => ({
    account: String(r.account) as `0x${string}`,
    previousHealthFactor: bigOrNull(r.previous_health_factor, "previous_health_factor"),
    healthFactor: big(r.health_factor, "health_factor"),
    debtValue: big(r.debt_value, "debt_value"),
  }));
}

/** One account's health as `computeHealthSql` returns it (account_health's columns but the block ones). */
export interface ComputedHealth {
  account: `0x${string}`;
  healthFactor: bigint;
  collateralValue: bigint;
  thresholdValue: bigint;
  borrowPower: bigint;
  debtValue: bigint;
  dominantCollateralAssetId: number | null;
  liquidationPriceWad: bigint | null;
  shockWad: bigint | null;
  guardHf: bigint;
  previousHealthFactor: bigint | null;
  triggers: { assetId: number; side: 0 | 1; priceWad: bigint }[];
  /** The assets it holds as collateral or owes (amounts above zero), by id. */
  heldAssets: number[];
}

/** Rows of `computeHealthSql`, with each held asset's trigger price (none without debt, none when watched). */
export function parseComputedHealth(rows: readonly Record<string, unknown>[]): ComputedHealth[] {
  return rows.map((r) => {
    const debtValue = big(r.debt_value, "debt_value");
    const guardHf = big(r.guard_hf, "guard_hf");
    const triggers: ComputedHealth["triggers"] = [];
    const held = [[0, heldList(r.held_c)], [1, heldList(r.held_d)]] as const;
    if (debtValue > 0n && !isWatched(guardHf)) {
      for (const [side, list] of held) {
        for (const [assetId, priceWad] of list) triggers.push({ assetId, side, priceWad: triggerPrice(side === 0 ? "collateral" : "debt", priceWad, guardHf) });
      }
    }
    return {
      account: String(r.account) as `0x${string}`,
      healthFactor: big(r.health_factor, "health_factor"),
      collateralValue: big(r.collateral_value, "collateral_value"),
      thresholdValue: big(r.threshold_value, "threshold_value"),
      borrowPower: big(r.borrow_power, "borrow_power"),
      debtValue,
      dominantCollateralAssetId: r.dominant_collateral_asset_id === null || r.dominant_collateral_asset_id === undefined ? null : Number(r.dominant_collateral_asset_id),
      liquidationPriceWad: bigOrNull(r.liquidation_price_wad, "liquidation_price_wad"),
      shockWad: bigOrNull(r.shock_wad, "shock_wad"),
      guardHf,
      previousHealthFactor: bigOrNull(r.previous_health_factor, "previous_health_factor"),
      triggers: triggers.sort((a, b) => a.assetId - b.assetId || a.side - b.side),
      heldAssets: [...new Set(held.flatMap(([, list]) => list.map(([assetId]) => assetId)))].sort((a, b) => a - b),
    };
  });
}

/** A `held_c`/`held_d` JSON list of [asset_id, "price_wad"]. */
function heldList(v: unknown): [number, bigint][] {
  const list = (typeof v === "string" ? JSON.parse(v) : v ?? []) as unknown;
  if (!Array.isArray(list)) throw new TypeError("health row: held is not an array");
  return list.map((x) => {
    if (!Array.isArray(x) || x.length !== 2) throw new TypeError("health row: a held asset is not [asset_id, price_wad]");
    return [Number(x[0]), big(x[1], "held price_wad")];
  });
}
