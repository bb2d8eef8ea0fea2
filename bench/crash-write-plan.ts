/**
 * The plan of a crash-sized price update's write statement (health-sql.ts `writeHealthSql`) on PostgreSQL alone:
 * N holders of one collateral (debt in another asset, health factors from 1 to 2), their health and triggers
 * written, then the collateral's price set to P % and EXPLAIN ANALYZE of the fired accounts' statement (rolled
 * back). A diagnostic, not a benchmark: no Ponder (so none of its reorg triggers), one run, nothing written out.
 *
 *   npx tsx bench/crash-write-plan.ts [N=100000] [P=80]
 */
import pg from "pg";
import { writeHealthSql } from "../src/indexer/health-sql.js";
import { BENCH_DATABASE_URL } from "./lib/pg.js";
const N = Number(process.argv[2] ?? 100000);
const S = "crash_profile";
const T = { collateral: `${S}.collateral`, debt: `${S}.debt`, asset: `${S}.asset`, price: `${S}.price`, accountHealth: `${S}.account_health`, healthTrigger: `${S}.health_trigger` };
const c = new pg.Client({ connectionString: BENCH_DATABASE_URL });
await c.connect();
await c.query("SET jit=off; SET work_mem='64MB'; SET random_page_cost=1.1; SET max_parallel_workers_per_gather=0");
await c.query(`DROP SCHEMA IF EXISTS ${S} CASCADE; CREATE SCHEMA ${S}; SET search_path TO ${S};
CREATE TABLE collateral (account text, eid integer, asset_id integer, amount numeric(78,0), PRIMARY KEY (account, eid, asset_id));
CREATE TABLE debt (account text, asset_id integer, amount numeric(78,0), PRIMARY KEY (account, asset_id));
CREATE TABLE asset (asset_id integer PRIMARY KEY, decimals integer, ltv numeric(78,0), liquidation_threshold numeric(78,0));
CREATE TABLE price (chain_id integer, asset_id integer, price_wad numeric(78,0), PRIMARY KEY (chain_id, asset_id));
CREATE TABLE account_health (account text PRIMARY KEY, health_factor numeric(78,0) NOT NULL, collateral_value numeric(78,0) NOT NULL,
  threshold_value numeric(78,0) NOT NULL, borrow_power numeric(78,0) NOT NULL, debt_value numeric(78,0) NOT NULL,
  dominant_collateral_asset_id integer, liquidation_price_wad numeric(78,0), shock_wad numeric(78,0),
  guard_hf numeric(78,0) NOT NULL DEFAULT 0, updated_block numeric(78,0) NOT NULL, updated_at numeric(78,0) NOT NULL);
CREATE INDEX ON account_health (guard_hf);
CREATE TABLE health_trigger (account text, asset_id integer, side integer, price_wad numeric(78,0) NOT NULL, PRIMARY KEY (account, asset_id, side));
CREATE INDEX ON health_trigger (asset_id, side, price_wad);
SET search_path TO public;`);
await c.query(`INSERT INTO ${T.asset} VALUES (10, 18, 800000000000000000, 850000000000000000), (2, 18, 900000000000000000, 950000000000000000)`);
await c.query(`INSERT INTO ${T.price} VALUES (1, 10, 3000000000000000000000), (1, 2, 1000000000000000000)`);
await c.query(`INSERT INTO ${T.collateral} SELECT '0xbe' || lpad(to_hex(i), 38, '0'), 40101, 10, (1 + i % 10)::numeric * 1000000000000000000 FROM generate_series(0, ${N - 1}) i`);
await c.query(`INSERT INTO ${T.debt} SELECT '0xbe' || lpad(to_hex(i), 38, '0'), 2, floor((1 + i % 10)::numeric * 3000 * 850 / 1000 * (5000 + (i * 7919) % 5000) / 10000 * 1000000000000000000) FROM generate_series(0, ${N - 1}) i`);
await c.query(`ANALYZE ${T.collateral}; ANALYZE ${T.debt}`);
let t = Date.now();
await c.query(writeHealthSql({ tables: T, hubChainId: 1, subjects: { kind: "holders", assetId: 10 }, blockNumber: 1n, blockTimestamp: 1n }));
console.log("seed", Date.now() - t, "ms");
await c.query(`ANALYZE ${T.accountHealth}; ANALYZE ${T.healthTrigger}`);
console.log((await c.query(`SELECT count(*) FILTER (WHERE guard_hf < 1000000000000000000) watched, count(*) FILTER (WHERE health_factor < 1000000000000000000) liq FROM ${T.accountHealth}`)).rows);
const pct = Number(process.argv[3] ?? 80);
await c.query(`UPDATE ${T.price} SET price_wad = ${3000n * 10n ** 18n * BigInt(pct) / 100n} WHERE asset_id = 10`);
const stmt = writeHealthSql({ tables: T, hubChainId: 1, subjects: { kind: "fired", assetId: 10, priceWad: 3000n * 10n ** 18n * BigInt(pct) / 100n }, blockNumber: 2n, blockTimestamp: 2n });
await c.query("BEGIN");
t = Date.now();
const plan = await c.query(`EXPLAIN (ANALYZE, BUFFERS off, COSTS off) ${stmt}`);
console.log("crash", Date.now() - t, "ms");
console.log(plan.rows.map((r) => r["QUERY PLAN"]).join("\n"));
await c.query("ROLLBACK");
await c.query(`DROP SCHEMA ${S} CASCADE`);
await c.end();
