/**
 * Recomputing a set of accounts' health and envelope inside PostgreSQL (health-sql.ts) and logging the feed's
 * events: what a price update (feeds.ts) and an asset's re-listing (hub.ts) do.
 */
import { sql } from "ponder";
import type { Context } from "ponder:registry";
import { accountHealth, healthTrigger } from "ponder:schema";
import {
  type ComputedHealth,
  type HealthChange,
  type Subjects,
  computeHealthSql,
  countSubjectsSql,
  parseComputedHealth,
  parseHealthChanges,
  writeHealthSql,
} from "./health-sql.js";
import { type BlockRef, hubChainId, logHealthEvents } from "./state.js";
import { healthTables } from "./tables.js";

/**
 * Up to this many recomputed accounts are written through Ponder's store (its row cache stays complete); more are
 * written by one raw statement, which makes Ponder flush and give up its cache (a crash-sized update).
 */
export const STORE_WRITE_LIMIT = 1_000;

// Ponder's indexing `sql` is drizzle's pg-proxy driver: `execute` resolves to the rows themselves.
const rowsOf = async (context: Context, statement: string): Promise<Record<string, unknown>[]> =>
  (await context.db.sql.execute(sql.raw(statement))) as unknown as Record<string, unknown>[];

/**
 * Recomputes the subjects' health and envelope at the indexed prices and logs the feed's events. Counted first
 * (read-only, an index range scan); few are computed read-only (Ponder flushes the tables it reads, nothing more)
 * and written through the store, many in one statement.
 */
export async function recomputeSubjects(context: Context, subjects: Subjects, block: BlockRef, logIndex: number): Promise<void> {
  const args = { tables: healthTables(), hubChainId: hubChainId(), subjects };
  const [count] = await rowsOf(context, countSubjectsSql(args));
  const n = Number(count?.n ?? 0);
  if (n === 0) return;
  let changes: HealthChange[];
  if (n <= STORE_WRITE_LIMIT) {
    const computed = parseComputedHealth(await rowsOf(context, computeHealthSql({ ...args, triggers: true })));
    await storeHealth(context, computed, block);
    changes = computed;
  } else {
    changes = parseHealthChanges(await rowsOf(context, writeHealthSql({ ...args, blockNumber: block.number, blockTimestamp: block.timestamp })));
  }
  await logHealthEvents(context, changes, block, logIndex);
}

/** Writes computed rows and their moved triggers (computeHealthSql leaves out those that did not move) through Ponder's store. */
async function storeHealth(context: Context, computed: readonly ComputedHealth[], block: BlockRef): Promise<void> {
  const rows = new Map(
    computed.map((c) => [
      c.account,
      {
        healthFactor: c.healthFactor,
        collateralValue: c.collateralValue,
        thresholdValue: c.thresholdValue,
        borrowPower: c.borrowPower,
        debtValue: c.debtValue,
        dominantCollateralAssetId: c.dominantCollateralAssetId,
        liquidationPriceWad: c.liquidationPriceWad,
        shockWad: c.shockWad,
        guardHf: c.guardHf,
        updatedBlock: block.number,
        updatedAt: block.timestamp,
      },
    ]),
  );
  await context.db
    .insert(accountHealth)
    .values([...rows].map(([account, v]) => ({ account, ...v })))
    .onConflictDoUpdate((existing) => rows.get(existing.account)!);
  const triggers = computed.flatMap((c) => c.triggers.map((t) => ({ account: c.account, ...t })));
  if (triggers.length === 0) return;
  const key = (t: { account: string; assetId: number; side: number }) => `${t.account}:${t.assetId}:${t.side}`;
  const prices = new Map(triggers.map((t) => [key(t), t.priceWad]));
  await context.db
    .insert(healthTrigger)
    .values(triggers)
    .onConflictDoUpdate((existing) => ({ priceWad: prices.get(key(existing))! }));
}
