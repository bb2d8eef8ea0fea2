/**
 * Property: the set-based health (src/protocols/hub-spoke/indexing/health-sql.ts, run by PostgreSQL) equals `computeHealth`
 * (src/protocols/hub-spoke/indexing/health.ts, itself equal to Hub.accountData to the wei: math.property.test.ts) for every holder,
 * with the envelope's guard and triggers equal to src/health/envelope.ts, on random markets: 1-4 collateral
 * positions over several spokes and assets of 6, 8 and 18 decimals, 0-2 debts, values tied on purpose for the
 * dominant collateral, zero balances, accounts without debt, and assets whose price is not indexed. It also checks
 * what the update returns (only rows below 1 now or before, with the previous health read before the write) and
 * that it leaves non-holders alone.
 *
 * Property of the envelope: over random sequences of price moves, each followed by recomputing only the accounts
 * whose trigger it crosses (what the indexer does), every account's true health stays at or above its stored
 * guard, every watched row is exact, and the accounts stored below 1 are exactly those below 1.
 *
 * The tables are the columns the statement reads, in a schema of their own that is not on the `search_path`
 * (Ponder's indexing connections have none set: the statement must use the qualified names it is given):
 * bench/lib/health-tables.ts, shared with the benchmarks' plan of the crash-sized write.
 */
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AssetInfo, computeHealth } from "../src/protocols/hub-spoke/indexing/health.js";
import { type Subjects, bindPrices, computeHealthSql, healthCte, movesWithin, parseComputedHealth, parseHealthChanges, renderedLength, writeHealthSql } from "../src/protocols/hub-spoke/indexing/health-sql.js";
import { guardOf, isWatched, triggerPrice } from "../src/health/envelope.js";
import { MAX_UINT256, WAD } from "../src/health/wad.js";
import { TEST_DATABASE_URL } from "./helpers/scenario.js";
import { createHealthTables, healthTablesIn } from "../bench/lib/health-tables.js";

const SCHEMA = `health_sql_${process.pid}`;
const HUB = 31337;
const TABLES = healthTablesIn(SCHEMA);
const holders = (assetId: number): Subjects => ({ kind: "holders", assetId });
let client: pg.Client;

beforeAll(async () => {
  client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  await createHealthTables(client, SCHEMA);
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
  await client.query(`TRUNCATE ${TABLES.collateral}, ${TABLES.debt}, ${TABLES.asset}, ${TABLES.price}, ${TABLES.accountHealth}, ${TABLES.healthTrigger}`);
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
function expected(m: Market, i: number, priceOf: (assetId: number) => bigint | null = (id) => m.assets[ASSET_IDS.indexOf(id)]!.priceWad) {
  const acc = m.accounts[i]!;
  const prices = new Map<number, bigint>();
  const assets = new Map<number, AssetInfo>();
  for (const [j, a] of m.assets.entries()) {
    assets.set(ASSET_IDS[j]!, { decimals: a.decimals, ltv: a.ltv, liquidationThreshold: a.lt });
    const p = priceOf(ASSET_IDS[j]!);
    if (p !== null) prices.set(ASSET_IDS[j]!, p);
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
        const { rows: computed } = await client.query(`WITH ${healthCte({ tables: TABLES, subjects: holders(m.updated), hubChainId: HUB })} SELECT * FROM next ORDER BY account`);
        const withTriggers = new Map(parseComputedHealth((await client.query(computeHealthSql({ tables: TABLES, subjects: holders(m.updated), hubChainId: HUB }))).rows).map((r) => [r.account as string, r]));
        const wantTriggersOf = new Map<string, { assetId: number; side: 0 | 1; priceWad: bigint }[]>();
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
          // The envelope: the guard, and a trigger per held asset and side from its reference price (none without debt).
          const guard = guardOf(want);
          expect(got.guard_hf).toBe(guard.toString());
          const acc = m.accounts[i]!;
          const held = [
            ...new Set(dedupe(acc.collateral, (c) => `${c.eid}:${c.assetId}`).filter((c) => c.amount > 0n).map((c) => `${c.assetId}:0`)),
            ...new Set(dedupe(acc.debt, (d) => `${d.assetId}`).filter((d) => d.amount > 0n).map((d) => `${d.assetId}:1`)),
          ].sort();
          // Triggers for every held asset and side; none without debt, none when watched (found by its guard).
          const wantTriggers = want.debtValue === 0n || isWatched(guard) ? [] : held.map((k) => {
            const [assetId, side] = k.split(":").map(Number) as [number, 0 | 1];
            return { assetId, side, priceWad: triggerPrice(side === 0 ? "collateral" : "debt", m.assets[ASSET_IDS.indexOf(assetId)]!.priceWad!, guard) };
          });
          wantTriggers.sort((a, b) => a.assetId - b.assetId || a.side - b.side);
          expect(withTriggers.get(address)!.triggers).toEqual(wantTriggers);
          wantTriggersOf.set(address, wantTriggers);
        }

        // The update: writes those rows at the block, returns those below 1 now or before, with the old value.
        const before = new Map((await client.query(`SELECT account, health_factor FROM ${TABLES.accountHealth}`)).rows.map((r) => [r.account as string, BigInt(r.health_factor)]));
        const { rows } = await client.query(writeHealthSql({ tables: TABLES, subjects: holders(m.updated), hubChainId: HUB, blockNumber: 99n, blockTimestamp: 1_700_000_000n }));
        const changes = parseHealthChanges(rows);
        const wantChanges = computed
          .map((r) => ({ account: r.account, previousHealthFactor: before.get(r.account) ?? null, healthFactor: BigInt(r.health_factor), debtValue: BigInt(r.debt_value) }))
          .filter((c) => c.healthFactor < WAD || (c.previousHealthFactor !== null && c.previousHealthFactor < WAD));
        expect(changes).toEqual(wantChanges);
        // The statement's own triggers (SQL) equal the TypeScript envelope's.
        const stored = (await client.query(`SELECT account, asset_id, side, price_wad FROM ${TABLES.healthTrigger} ORDER BY account, asset_id, side`)).rows;
        for (const [address, want] of wantTriggersOf) {
          expect(stored.filter((r) => r.account === address).map((r) => ({ assetId: r.asset_id, side: r.side, priceWad: BigInt(r.price_wad) })), `triggers of ${address}`).toEqual(want);
        }
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
    expect(() => writeHealthSql({ tables: TABLES, subjects: holders(1.5), hubChainId: HUB, blockNumber: 1n, blockTimestamp: 1n })).toThrow(/assetId/);
    expect(() => writeHealthSql({ tables: TABLES, subjects: holders(1), hubChainId: HUB, blockNumber: -1n, blockTimestamp: 1n })).toThrow(/blockNumber/);
    expect(() => healthCte({ tables: TABLES, subjects: holders(70_000), hubChainId: HUB })).toThrow(/assetId/);
    expect(() => healthCte({ tables: TABLES, subjects: { kind: "fired", moves: [{ assetId: 1, priceWad: -1n }] }, hubChainId: HUB })).toThrow(/priceWad/);
    expect(() => healthCte({ tables: TABLES, subjects: { kind: "fired", moves: [] }, hubChainId: HUB })).toThrow(/at least one/);
    expect(() => healthCte({ tables: TABLES, subjects: { kind: "fired", moves: [{ assetId: 1, priceWad: 1n }, { assetId: 1, priceWad: 2n }] }, hubChainId: HUB })).toThrow(/one move per asset/);
    expect(() => healthCte({ tables: TABLES, subjects: { kind: "accounts", accounts: ["0x1'; DROP TABLE x; --"] }, hubChainId: HUB })).toThrow(/accounts/);
  });
});

describe("the envelope (PostgreSQL): recomputing only the accounts a move fires keeps health exact where it matters", () => {
  const moveArb = fc.record({
    assetIndex: fc.nat({ max: ASSET_IDS.length - 1 }),
    // Per mille of the current price: small moves (most fire nothing) and crash-sized ones.
    perMille: fc.oneof(fc.integer({ min: 985, max: 1_015 }), fc.integer({ min: 500, max: 1_500 })),
  });

  it("true health ≥ stored guard for every account, watched rows exact, the liquidatable set exact, over random blocks of moves", async () => {
    await fc.assert(
      fc.asyncProperty(
        marketArb.map((m) => ({ ...m, assets: m.assets.map((a) => ({ ...a, priceWad: a.priceWad ?? WAD })) as typeof m.assets })),
        // Blocks of one to three moves (an asset may move twice in a block: its last price is the block's).
        fc.array(fc.array(moveArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 8 }),
        async (m, blocks) => {
          const { addresses } = await load(m);
          await client.query(`TRUNCATE ${TABLES.accountHealth}`);
          for (const id of ASSET_IDS) await client.query(writeHealthSql({ tables: TABLES, subjects: holders(id), hubChainId: HUB, blockNumber: 1n, blockTimestamp: 1n }));
          const prices = new Map(ASSET_IDS.map((id, j) => [id, m.assets[j]!.priceWad!]));
          for (const [step, moves] of blocks.entries()) {
            const moved = new Map<number, bigint>();
            for (const move of moves) {
              const id = ASSET_IDS[move.assetIndex]!;
              const next = (prices.get(id)! * BigInt(move.perMille)) / 1_000n || 1n;
              prices.set(id, next);
              moved.set(id, next);
              await client.query(`UPDATE ${TABLES.price} SET price_wad = $1 WHERE chain_id = $2 AND asset_id = $3`, [next.toString(), HUB, id]);
            }
            const subjects: Subjects = { kind: "fired", moves: [...moved].map(([assetId, priceWad]) => ({ assetId, priceWad })) };
            await client.query(writeHealthSql({ tables: TABLES, subjects, hubChainId: HUB, blockNumber: BigInt(step + 2), blockTimestamp: 1n }));
            const stored = new Map((await client.query(`SELECT account, health_factor, guard_hf FROM ${TABLES.accountHealth}`)).rows.map((r) => [r.account as string, r]));
            for (const [i, address] of addresses.entries()) {
              const truth = expected(m, i, (a) => prices.get(a)!);
              const row = stored.get(address);
              if (!truth || !row) continue;
              const guard = BigInt(row.guard_hf);
              expect(truth.healthFactor >= guard, `account ${i} after move ${step}: true HF ${truth.healthFactor} below its guard ${guard}`).toBe(true);
              if (isWatched(guard)) expect(BigInt(row.health_factor), `watched account ${i} after move ${step}`).toBe(truth.healthFactor);
              expect(BigInt(row.health_factor) < WAD, `account ${i} liquidatable after move ${step}`).toBe(truth.healthFactor < WAD);
            }
          }
        },
      ),
      { numRuns: 60, seed: 20261127 },
    );
  }, 180_000);
});

describe("Ponder's raw-SQL gate", () => {
  // Ponder takes a raw statement it cannot prove read-only (over 5,000 characters, or a function outside its
  // allow-list) for a write, and then flushes and drops its row cache for the rest of the process: every later
  // lookup goes to the database. The price update's read statements must pass Ponder's own check, with the longest
  // schema name PostgreSQL allows. (Ponder's module is not exported: it is imported by its file.)
  const schema = `"${"s".repeat(63)}"`;
  const tables = {
    collateral: `${schema}."collateral"`, debt: `${schema}."debt"`, asset: `${schema}."asset"`, price: `${schema}."price"`,
    accountHealth: `${schema}."account_health"`, healthTrigger: `${schema}."health_trigger"`,
  };
  const moves = (n: number) => Array.from({ length: n }, (_, i) => ({ assetId: 65_535 - i, priceWad: MAX_UINT256 - BigInt(i) }));
  const fired: Subjects = { kind: "fired", moves: moves(1) };

  it("takes the computation of the fired accounts for a read, and the write for a write", async () => {
    const gate = (await import(new URL("../node_modules/ponder/dist/esm/utils/sql-parse.js", import.meta.url).href)) as { isReadonlySQLQuery: (sql: string) => Promise<boolean> };
    const compute = computeHealthSql({ tables, subjects: fired, hubChainId: 2 ** 53 - 1 }, 2 ** 31);
    expect(compute.length).toBeLessThanOrEqual(5_000);
    expect(await gate.isReadonlySQLQuery(compute)).toBe(true);
    expect(await gate.isReadonlySQLQuery(writeHealthSql({ tables, subjects: fired, hubChainId: 1, blockNumber: 1n, blockTimestamp: 1n }))).toBe(false);
  });

  it("writes a block's moves with their prices bound: one text per set of assets, read-only as Ponder renders the parameters; past 5,000 characters, in parts", async () => {
    const gate = (await import(new URL("../node_modules/ponder/dist/esm/utils/sql-parse.js", import.meta.url).href)) as { isReadonlySQLQuery: (sql: string) => Promise<boolean> };
    const bound = (ms: { assetId: number; priceWad: bigint }[]) => computeHealthSql({ tables, subjects: { kind: "fired", moves: ms, bound: true }, hubChainId: 2 ** 53 - 1 }, 5_001);
    const three = moves(3);
    expect(bound(three)).toBe(bound(three.map((m) => ({ ...m, priceWad: 1n }))));
    const { parts, params } = bindPrices(bound(three), three);
    expect(parts.length).toBe(params.length + 1);
    expect(new Set(params)).toEqual(new Set(three.map((m) => m.priceWad.toString())));
    // drizzle numbers the parameters $1, $2, … in order.
    const rendered = parts.reduce((text, part, i) => `${text}$${i}::numeric${part}`);
    expect(rendered).not.toMatch(/\$price\d+\$/);
    expect(await gate.isReadonlySQLQuery(rendered)).toBe(true);
    expect(() => bindPrices(bound(three), [...three.slice(0, 2), { assetId: 1, priceWad: -1n }])).toThrow(/priceWad/);
    // The longest names: every part the indexer sends is within Ponder's 5,000 characters and read-only.
    const all = moves(24);
    const split = movesWithin(all, (ms) => renderedLength(bound(ms)));
    expect(split.flat()).toEqual(all);
    expect(split.length).toBeGreaterThan(1);
    for (const part of split) {
      const p = bindPrices(bound(part), part);
      const text = p.parts.reduce((t, x, i) => `${t}$${i}::numeric${x}`);
      expect(text.length).toBeLessThanOrEqual(5_000);
      expect(await gate.isReadonlySQLQuery(text)).toBe(true);
    }
    // The devnet's five assets fit in one statement.
    expect(movesWithin(moves(5), (ms) => renderedLength(bound(ms)))).toHaveLength(1);
  });
});
