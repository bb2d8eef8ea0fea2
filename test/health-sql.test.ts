/**
 * Property: the set-based health of a price update (src/indexer/health-sql.ts, run by PostgreSQL) equals
 * `computeHealth` (src/indexer/health.ts, itself equal to Hub.accountData to the wei: math.property.test.ts)
 * for every holder, on random markets: 1-4 collateral positions over several spokes and assets of 6, 8 and 18
 * decimals, 0-2 debts, values tied on purpose for the dominant collateral, zero balances, accounts without
 * debt, and assets whose price is not indexed. It also checks what the update returns (only rows below 1 now
 * or before, with the previous health read before the write) and that it leaves non-holders alone.
 *
 * The tables are the columns the statement reads, in a schema of their own that is not on the `search_path`
 * (Ponder's indexing connections have none set: the statement must use the qualified names it is given).
 */
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AssetInfo, computeHealth } from "../src/indexer/health.js";
import { holderHealthCte, parseHealthChanges, updateHolderHealthSql } from "../src/indexer/health-sql.js";
import { MAX_UINT256, WAD } from "../src/health/wad.js";
import { TEST_DATABASE_URL } from "./helpers/scenario.js";

const SCHEMA = `health_sql_${process.pid}`;
const HUB = 31337;
const TABLES = { collateral: `${SCHEMA}.collateral`, debt: `${SCHEMA}.debt`, asset: `${SCHEMA}.asset`, price: `${SCHEMA}.price`, accountHealth: `${SCHEMA}.account_health` };
let client: pg.Client;

beforeAll(async () => {
  client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE; CREATE SCHEMA ${SCHEMA}; SET search_path TO public`);
  await client.query(`
    SET search_path TO ${SCHEMA};
    CREATE TABLE collateral (account text, eid integer, asset_id integer, amount numeric(78,0), PRIMARY KEY (account, eid, asset_id));
    CREATE TABLE debt (account text, asset_id integer, amount numeric(78,0), PRIMARY KEY (account, asset_id));
    CREATE TABLE asset (asset_id integer PRIMARY KEY, decimals integer, ltv numeric(78,0), liquidation_threshold numeric(78,0));
    CREATE TABLE price (chain_id integer, asset_id integer, price_wad numeric(78,0), PRIMARY KEY (chain_id, asset_id));
    CREATE TABLE account_health (account text PRIMARY KEY, health_factor numeric(78,0) NOT NULL, collateral_value numeric(78,0) NOT NULL,
      threshold_value numeric(78,0) NOT NULL, borrow_power numeric(78,0) NOT NULL, debt_value numeric(78,0) NOT NULL,
      dominant_collateral_asset_id integer, liquidation_price_wad numeric(78,0), shock_wad numeric(78,0),
      updated_block numeric(78,0) NOT NULL, updated_at numeric(78,0) NOT NULL);
    SET search_path TO public;`);
});

afterAll(async () => {
  await client?.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await client?.end();
});

const DECIMALS = [6, 8, 18] as const;
const ASSET_IDS = [1, 2, 3, 4, 5];
const EIDS = [40_101, 40_102, 40_103];

const marketArb = fc.record({
  assets: fc.tuple(
    ...ASSET_IDS.map(() =>
      fc.record({
        decimals: fc.constantFrom(...DECIMALS),
        ltv: fc.bigInt({ min: 0n, max: 9n * 10n ** 17n }),
        lt: fc.bigInt({ min: 0n, max: WAD }),
        // A few prices are not indexed: those assets' holders keep their previous health.
        priceWad: fc.option(fc.oneof(fc.constant(WAD), fc.bigInt({ min: 1n, max: 10n ** 23n })), { freq: 12 }),
      }),
    ),
  ),
  accounts: fc.array(
    fc.record({
      collateral: fc.array(
        fc.record({ eid: fc.constantFrom(...EIDS), assetId: fc.constantFrom(...ASSET_IDS), amount: fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 10n ** 26n }), fc.constant(10n ** 8n)) }),
        { maxLength: 4 },
      ),
      debt: fc.array(fc.record({ assetId: fc.constantFrom(...ASSET_IDS), amount: fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 10n ** 26n })) }), { maxLength: 2 }),
      previousHf: fc.option(fc.oneof(fc.bigInt({ min: 0n, max: 3n * WAD }), fc.constant(MAX_UINT256))),
    }),
    { minLength: 1, maxLength: 40 },
  ),
  updated: fc.constantFrom(...ASSET_IDS),
});

type Market = typeof marketArb extends fc.Arbitrary<infer T> ? T : never;

function dedupe<T>(list: T[], key: (t: T) => string): T[] {
  return [...new Map(list.map((x) => [key(x), x])).values()];
}

async function load(m: Market): Promise<{ addresses: string[] }> {
  await client.query(`TRUNCATE ${TABLES.collateral}, ${TABLES.debt}, ${TABLES.asset}, ${TABLES.price}, ${TABLES.accountHealth}`);
  const addresses = m.accounts.map((_, i) => `0x${i.toString(16).padStart(40, "0")}`);
  for (const [i, a] of m.assets.entries()) {
    const id = ASSET_IDS[i]!;
    await client.query(`INSERT INTO ${TABLES.asset} VALUES ($1, $2, $3, $4)`, [id, a.decimals, a.ltv.toString(), a.lt.toString()]);
    if (a.priceWad !== null) await client.query(`INSERT INTO ${TABLES.price} VALUES ($1, $2, $3)`, [HUB, id, a.priceWad.toString()]);
  }
  // Another chain's price of the same asset must not be read.
  await client.query(`INSERT INTO ${TABLES.price} VALUES ($1, 1, 7)`, [HUB + 1]);
  for (const [i, acc] of m.accounts.entries()) {
    for (const c of dedupe(acc.collateral, (c) => `${c.eid}:${c.assetId}`)) await client.query(`INSERT INTO ${TABLES.collateral} VALUES ($1, $2, $3, $4)`, [addresses[i], c.eid, c.assetId, c.amount.toString()]);
    for (const d of dedupe(acc.debt, (d) => `${d.assetId}`)) await client.query(`INSERT INTO ${TABLES.debt} VALUES ($1, $2, $3)`, [addresses[i], d.assetId, d.amount.toString()]);
    if (acc.previousHf !== null) {
      await client.query(`INSERT INTO ${TABLES.accountHealth} (account, health_factor, collateral_value, threshold_value, borrow_power, debt_value, updated_block, updated_at) VALUES ($1, $2, 1, 1, 1, 1, 1, 1)`, [addresses[i], acc.previousHf.toString()]);
    }
  }
  return { addresses };
}

/** What the TypeScript path computes for account i, or null when an input is missing (health left as it was). */
function expected(m: Market, i: number) {
  const acc = m.accounts[i]!;
  const prices = new Map<number, bigint>();
  const assets = new Map<number, AssetInfo>();
  for (const [j, a] of m.assets.entries()) {
    assets.set(ASSET_IDS[j]!, { decimals: a.decimals, ltv: a.ltv, liquidationThreshold: a.lt });
    if (a.priceWad !== null) prices.set(ASSET_IDS[j]!, a.priceWad);
  }
  try {
    return computeHealth({
      collateral: dedupe(acc.collateral, (c) => `${c.eid}:${c.assetId}`),
      debt: dedupe(acc.debt, (d) => `${d.assetId}`),
      prices,
      assets,
    });
  } catch {
    return null;
  }
}

const holds = (m: Market, i: number) => {
  const acc = m.accounts[i]!;
  const c = dedupe(acc.collateral, (c) => `${c.eid}:${c.assetId}`);
  const d = dedupe(acc.debt, (d) => `${d.assetId}`);
  return c.some((p) => p.assetId === m.updated && p.amount > 0n) || d.some((p) => p.assetId === m.updated && p.amount > 0n);
};

const str = (v: bigint | null) => (v === null ? null : v.toString());

describe("set-based holder health (PostgreSQL) equals computeHealth", () => {
  it("on random markets, to the wei, for every holder; non-holders and accounts with a missing input untouched", async () => {
    await fc.assert(
      fc.asyncProperty(marketArb, async (m) => {
        const { addresses } = await load(m);
        const { rows: computed } = await client.query(`WITH ${holderHealthCte({ tables: TABLES, assetId: m.updated, hubChainId: HUB })} SELECT * FROM next ORDER BY account`);
        const byAccount = new Map(computed.map((r) => [r.account as string, r]));
        for (const [i, address] of addresses.entries()) {
          const want = holds(m, i) ? expected(m, i) : null;
          const got = byAccount.get(address);
          if (!want) {
            expect(got, `account ${i} must not be recomputed`).toBeUndefined();
            continue;
          }
          expect(got, `account ${i} holds asset ${m.updated}`).toBeDefined();
          expect({
            healthFactor: got.health_factor, collateralValue: got.collateral_value, thresholdValue: got.threshold_value,
            borrowPower: got.borrow_power, debtValue: got.debt_value, dominant: got.dominant_collateral_asset_id,
            liquidationPriceWad: got.liquidation_price_wad, shockWad: got.shock_wad,
          }).toEqual({
            healthFactor: want.healthFactor.toString(), collateralValue: want.collateralValue.toString(), thresholdValue: want.thresholdValue.toString(),
            borrowPower: want.borrowPower.toString(), debtValue: want.debtValue.toString(), dominant: want.dominantCollateralAssetId,
            liquidationPriceWad: str(want.liquidationPriceWad), shockWad: str(want.shockWad),
          });
        }

        // The update: writes those rows at the block, returns those below 1 now or before, with the old value.
        const before = new Map((await client.query(`SELECT account, health_factor FROM ${TABLES.accountHealth}`)).rows.map((r) => [r.account as string, BigInt(r.health_factor)]));
        const { rows } = await client.query(updateHolderHealthSql({ tables: TABLES, assetId: m.updated, hubChainId: HUB, blockNumber: 99n, blockTimestamp: 1_700_000_000n }));
        const changes = parseHealthChanges(rows);
        const wantChanges = computed
          .map((r) => ({ account: r.account, previousHealthFactor: before.get(r.account) ?? null, healthFactor: BigInt(r.health_factor), debtValue: BigInt(r.debt_value) }))
          .filter((c) => c.healthFactor < WAD || (c.previousHealthFactor !== null && c.previousHealthFactor < WAD));
        expect(changes).toEqual(wantChanges);
        const after = (await client.query(`SELECT account, health_factor, updated_block FROM ${TABLES.accountHealth}`)).rows;
        for (const r of after) {
          const fresh = byAccount.get(r.account);
          if (fresh) expect([r.health_factor, r.updated_block]).toEqual([fresh.health_factor, "99"]);
          else expect(BigInt(r.health_factor)).toBe(before.get(r.account));
        }
      }),
      { numRuns: 150, seed: 20261126 },
    );
  }, 120_000);

  it("rejects arguments that are not integers in range, naming them", () => {
    expect(() => updateHolderHealthSql({ tables: TABLES, assetId: 1.5, hubChainId: HUB, blockNumber: 1n, blockTimestamp: 1n })).toThrow(/assetId/);
    expect(() => updateHolderHealthSql({ tables: TABLES, assetId: 1, hubChainId: HUB, blockNumber: -1n, blockTimestamp: 1n })).toThrow(/blockNumber/);
    expect(() => holderHealthCte({ tables: TABLES, assetId: 70_000, hubChainId: HUB })).toThrow(/assetId/);
  });
});
