/**
 * The plan of a crash-sized price update's write statement (health-sql.ts `writeHealthSql`) on PostgreSQL alone:
 * N holders of one collateral (debt in another asset, health factors from 1 to 2), their health and triggers
 * written, then the collateral's price set to P % and EXPLAIN ANALYZE of the fired accounts' statement (rolled
 * back). A diagnostic, not a benchmark: no Ponder (so none of its reorg triggers), one run, nothing written out.
 *
 *   npx tsx bench/crash-write-plan.ts [N=100000] [P=80]
 */
import pg from "pg";
import { HEALTH_SQL_SESSION_OPTIONS, writeHealthSql } from "../src/protocols/hub-spoke/indexing/health-sql.js";
import { createHealthTables } from "./lib/health-tables.js";
import { BENCH_DATABASE_URL } from "./lib/pg.js";
const N = Number(process.argv[2] ?? 100000);
const S = "crash_profile";
const c = new pg.Client({ connectionString: BENCH_DATABASE_URL, options: HEALTH_SQL_SESSION_OPTIONS });
await c.connect();
const T = await createHealthTables(c, S);
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
const stmt = writeHealthSql({ tables: T, hubChainId: 1, subjects: { kind: "fired", moves: [{ assetId: 10, priceWad: 3000n * 10n ** 18n * BigInt(pct) / 100n }] }, blockNumber: 2n, blockTimestamp: 2n });
await c.query("BEGIN");
t = Date.now();
const plan = await c.query(`EXPLAIN (ANALYZE, BUFFERS off, COSTS off) ${stmt}`);
console.log("crash", Date.now() - t, "ms");
console.log(plan.rows.map((r) => r["QUERY PLAN"]).join("\n"));
await c.query("ROLLBACK");
await c.query(`DROP SCHEMA ${S} CASCADE`);
await c.end();
