/**
 * Synthetic accounts written straight into the indexer's own tables (account, collateral, debt), through SQL
 * generate_series, with the column types Ponder created from ponder.schema.ts; their health, guard and triggers
 * (account_health, health_trigger) are then computed by the indexer's own statement (src/protocols/hub-spoke/indexing/health-sql.ts)
 * at the indexed prices. Used where replaying that many borrowers through the contracts would take hours
 * (benchmarks 4 and 5); the output says so.
 *
 * Triggers are bypassed (session_replication_role = replica): Ponder's reorg triggers would otherwise record
 * the rows as unfinalised and revert them on the next start. Addresses are 0xbe… + the index in hex.
 */
import type pg from "pg";
import { type HealthTables, writeHealthSql } from "../../src/protocols/hub-spoke/indexing/health-sql.js";

export const SYNTHETIC_PREFIX = "0xbe";
const address = (i: string) => `'${SYNTHETIC_PREFIX}' || lpad(to_hex(${i}), 38, '0')`;

export interface SyntheticSpec {
  schema: string;
  from: number;
  to: number;
  /** The hub chain's id: prices are its (price.chain_id). */
  hubChainId: number;
  /** Spoke (eid, chain id) pairs to spread collateral over. */
  spokes: { eid: number; chainId: number }[];
  /**
   * "spread": two collateral positions per account over the spokes and assets 10/11/12, debt in asset 1 or 2
   * scaled so that health factors spread over about [0.9, 3.0) (a few percent below 1).
   * "holders": one collateral position, asset 11 (WBTC) for accounts below `holders`, asset 10 (WETH) for the
   * rest; debt in DAI (2); positions healthy (HF about 1.3 at the opening prices).
   */
  mode: { kind: "spread" } | { kind: "holders"; holders: number };
}

export const addressOf = (i: number) => `${SYNTHETIC_PREFIX}${i.toString(16).padStart(38, "0")}`;

export async function insertSynthetic(c: pg.Client, spec: SyntheticSpec): Promise<void> {
  const s = `"${spec.schema}"`;
  const eids = `ARRAY[${spec.spokes.map((x) => x.eid).join(",")}]::int[]`;
  const chains = `ARRAY[${spec.spokes.map((x) => x.chainId).join(",")}]::int[]`;
  const n = spec.spokes.length;
  const positions = spec.mode.kind === "spread" ? 2 : 1;
  const assetExpr = spec.mode.kind === "spread" ? `10 + ((i + j) % 3)` : `CASE WHEN i < ${spec.mode.holders} THEN 11 ELSE 10 END`;
  // Amounts worth (1 + i % 10) × ~3,000 USD at the devnet's opening prices (WETH 3,000, WBTC 60,000, LINK 15).
  const amount = (i: string, asset: string) => `(1 + ${i} % 10)::numeric * CASE ${asset} WHEN 10 THEN 1000000000000000000::numeric WHEN 11 THEN 5000000 ELSE 200 * 1000000000000000000::numeric END`;
  const debtAsset = spec.mode.kind === "spread" ? `1 + (i % 2)` : `2`;
  // Spread: the debt of account i scaled by a fixed pseudo-random factor in [0.4, 1.33) (HF about 1.2 / factor).
  const scale = spec.mode.kind === "spread" ? ` * (4000 + (i * 7919) % 9300)::numeric / 10000` : "";
  const debtAmount = `floor((1 + i % 10)::numeric * ${positions} * 2000 * CASE WHEN (${debtAsset}) = 1 THEN 1000000::numeric ELSE 1000000000000000000::numeric END${scale})`;
  await c.query("SET session_replication_role = replica");
  await c.query("SELECT setseed(0.4242)");
  await c.query("BEGIN");
  await c.query(`CREATE TEMP TABLE syn_pos ON COMMIT DROP AS
    SELECT i, j, ${address("i")} AS account, (${eids})[1 + ((i + j) % ${n})] AS eid, (${chains})[1 + ((i + j) % ${n})] AS chain_id, asset
    FROM generate_series(${spec.from}, ${spec.to - 1}) i, generate_series(0, ${positions - 1}) j, LATERAL (SELECT ${assetExpr} AS asset) a`);
  await c.query(`INSERT INTO ${s}.collateral (account, eid, chain_id, asset_id, amount, updated_block, updated_at)
    SELECT account, eid, chain_id, asset, ${amount("i", "asset")}, 1, 1 FROM syn_pos`);
  await c.query(`INSERT INTO ${s}.debt (account, asset_id, amount, updated_block, updated_at)
    SELECT ${address("i")}, ${debtAsset}, ${debtAmount}, 1, 1 FROM generate_series(${spec.from}, ${spec.to - 1}) i`);
  await c.query(`INSERT INTO ${s}.account (address, collateral, debt, first_block, updated_block)
    SELECT p.account,
      json_agg(json_build_object('eid', p.eid, 'assetId', p.asset, 'amount', (${amount("p.i", "p.asset")})::text) ORDER BY p.eid, p.asset),
      json_build_array(json_build_object('assetId', ${debtAsset.replace(/\bi\b/g, "p.i")}, 'amount', (${debtAmount.replace(/\bi\b/g, "p.i")})::text)),
      1, 1
    FROM syn_pos p GROUP BY p.account, p.i`);
  // Health, guard and triggers as the indexer computes them: every synthetic account owes asset 1 or 2. Rows are
  // placed first and the table analyzed, so the statement updates them: inserting 100,000 new rows through it,
  // PostgreSQL (planning on an empty table's statistics) checked each against every row inserted before.
  await c.query(`INSERT INTO ${s}.account_health (account, health_factor, collateral_value, threshold_value, borrow_power, debt_value, guard_hf, updated_block, updated_at)
    SELECT ${address("i")}, 0, 0, 0, 0, 0, 0, 1, 1 FROM generate_series(${spec.from}, ${spec.to - 1}) i`);
  await c.query(`ANALYZE ${s}.account_health`);
  for (const assetId of spec.mode.kind === "spread" ? [1, 2] : [2]) {
    await c.query(writeHealthSql({ tables: tablesOf(spec.schema), hubChainId: spec.hubChainId, subjects: { kind: "holders", assetId }, blockNumber: 1n, blockTimestamp: 1n }));
  }
  await c.query("COMMIT");
  await c.query("SET session_replication_role = origin");
}

export async function deleteSynthetic(c: pg.Client, schema: string): Promise<void> {
  const s = `"${schema}"`;
  await c.query("SET session_replication_role = replica");
  await c.query(`DELETE FROM ${s}.collateral WHERE account LIKE '${SYNTHETIC_PREFIX}%'`);
  await c.query(`DELETE FROM ${s}.debt WHERE account LIKE '${SYNTHETIC_PREFIX}%'`);
  await c.query(`DELETE FROM ${s}.account WHERE address LIKE '${SYNTHETIC_PREFIX}%'`);
  await c.query(`DELETE FROM ${s}.account_health WHERE account LIKE '${SYNTHETIC_PREFIX}%'`);
  await c.query(`DELETE FROM ${s}.health_trigger WHERE account LIKE '${SYNTHETIC_PREFIX}%'`);
  await c.query(`DELETE FROM ${s}.opportunity_event WHERE account LIKE '${SYNTHETIC_PREFIX}%'`);
  await c.query("SET session_replication_role = origin");
}

export async function analyze(c: pg.Client, schema: string): Promise<void> {
  for (const t of ["account", "account_health", "health_trigger", "collateral", "debt"]) await c.query(`ANALYZE "${schema}".${t}`);
}

const tablesOf = (schema: string): HealthTables => {
  const q = (t: string) => `"${schema}"."${t}"`;
  return { collateral: q("collateral"), debt: q("debt"), asset: q("asset"), price: q("price"), accountHealth: q("account_health"), healthTrigger: q("health_trigger") };
};
