/**
 * The tables the health statements (src/protocols/hub-spoke/indexing/health-sql.ts) read and write, with the columns, keys and indexes
 * ponder.schema.ts gives them, in a schema of their own: for running those statements on PostgreSQL without Ponder
 * (test/health-sql.test.ts, bench/crash-write-plan.ts). The schema is not put on the `search_path` (Ponder's
 * indexing connections have none set: the statements must use the qualified names they are given).
 */
import type pg from "pg";
import type { HealthTables } from "../../src/protocols/hub-spoke/indexing/health-sql.js";

/** The qualified names of the health tables in `schema`. */
export function healthTablesIn(schema: string): HealthTables {
  const q = (name: string) => `${schema}.${name}`;
  return { collateral: q("collateral"), debt: q("debt"), asset: q("asset"), price: q("price"), accountHealth: q("account_health"), healthTrigger: q("health_trigger") };
}

/** Creates `schema` afresh with the health tables (dropping it first if it exists). */
export async function createHealthTables(client: pg.Client, schema: string): Promise<HealthTables> {
  const t = healthTablesIn(schema);
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema};
CREATE TABLE ${t.collateral} (account text, eid integer, asset_id integer, amount numeric(78,0), PRIMARY KEY (account, eid, asset_id));
CREATE TABLE ${t.debt} (account text, asset_id integer, amount numeric(78,0), PRIMARY KEY (account, asset_id));
CREATE TABLE ${t.asset} (asset_id integer PRIMARY KEY, decimals integer, ltv numeric(78,0), liquidation_threshold numeric(78,0));
CREATE TABLE ${t.price} (chain_id integer, asset_id integer, price_wad numeric(78,0), PRIMARY KEY (chain_id, asset_id));
CREATE TABLE ${t.accountHealth} (account text PRIMARY KEY, health_factor numeric(78,0) NOT NULL, collateral_value numeric(78,0) NOT NULL,
  threshold_value numeric(78,0) NOT NULL, borrow_power numeric(78,0) NOT NULL, debt_value numeric(78,0) NOT NULL,
  dominant_collateral_asset_id integer, liquidation_price_wad numeric(78,0), shock_wad numeric(78,0),
  guard_hf numeric(78,0) NOT NULL DEFAULT 0, updated_block numeric(78,0) NOT NULL, updated_at numeric(78,0) NOT NULL);
CREATE INDEX ON ${t.accountHealth} (guard_hf);
CREATE TABLE ${t.healthTrigger} (account text, asset_id integer, side integer, price_wad numeric(78,0) NOT NULL, PRIMARY KEY (account, asset_id, side));
CREATE INDEX ON ${t.healthTrigger} (asset_id, side, price_wad);`);
  return t;
}
