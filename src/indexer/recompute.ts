/**
 * Recomputing a set of accounts' health and envelope inside PostgreSQL (health-sql.ts) and logging the feed's
 * events: what a price update (feeds.ts) and an asset's re-listing (hub.ts) do.
 */
import { sql } from "ponder";
import type { Context } from "ponder:registry";
import { accountHealth, healthTrigger } from "ponder:schema";
import { type ComputedHealth, type Subjects, bindPrice, computeHealthSql, parseComputedHealth, parseHealthChanges, writeHealthSql } from "./health-sql.js";
import { type BlockRef, healthValues, hubChainId, logHealthEvents } from "./state.js";
import { healthTables } from "./tables.js";

/**
 * How the recomputed rows are written. Ponder keeps a row cache that is complete only during the backfill of a
 * fresh start: there a lookup of a row it does not hold costs nothing, and a raw SQL write would make it give the
 * cache up for the rest of the backfill (every later lookup a database read). Live (Ponder invalidates the cache
 * when its backfill ends) or after a resume, every store write of a row costs a database read, and one raw
 * statement is cheaper. So: through the store while the cache can be complete, in one statement otherwise.
 */
export const STORE_WRITE_LIMIT = 5_000;
/** A block this close to the wall clock is at the chain's head: Ponder is live. */
export const LIVE_BLOCK_AGE_SECONDS = 30n;

let freshStart = false;
let rawWritten = false;

/** Called by the setup handler, which Ponder runs only when it starts from the first block (hub.ts). */
export function markFreshStart(): void {
  freshStart = true;
}

/** Whether Ponder's row cache can still be complete: a fresh start's backfill, no raw write yet. */
function storeCanHold(block: BlockRef): boolean {
  const live = BigInt(Math.floor(Date.now() / 1000)) - block.timestamp < LIVE_BLOCK_AGE_SECONDS;
  return freshStart && !rawWritten && !live;
}

/** A statement with parameters (drizzle's SQL, which ponder does not export by name). */
type SQL = ReturnType<typeof sql.raw>;

// Ponder's indexing `sql` is drizzle's pg-proxy driver: `execute` resolves to the rows themselves.
const rowsOf = async (context: Context, statement: string | SQL): Promise<Record<string, unknown>[]> =>
  (await context.db.sql.execute(typeof statement === "string" ? sql.raw(statement) : statement)) as unknown as Record<string, unknown>[];

/** A statement written with PRICE_PARAM, the price bound as a parameter in each place (health-sql.ts `bindPrice`). */
function withPrice(statement: string, priceWad: bigint): SQL {
  const { parts, param } = bindPrice(statement, priceWad);
  return sql.join(parts.flatMap((part, i) => (i === 0 ? [sql.raw(part)] : [sql`${param}::numeric`, sql.raw(part)])));
}

/**
 * Recomputes the subjects' health and envelope at the indexed prices and logs the feed's events. While Ponder's
 * cache can be complete (see STORE_WRITE_LIMIT), computed read-only (Ponder flushes the tables it reads, nothing
 * more), at most one more row than the limit: within it, written through the store; past it, or otherwise,
 * computed and written in one statement (no count first: a statement that Ponder parses twice and flushes for).
 */
export async function recomputeSubjects(context: Context, subjects: Subjects, block: BlockRef, logIndex: number): Promise<void> {
  const args = { tables: healthTables(), hubChainId: hubChainId(), subjects };
  if (storeCanHold(block)) {
    // A price update's statement binds its price: its text is the same at every update of the asset.
    const compute = subjects.kind === "fired" ? withPrice(computeHealthSql({ ...args, subjects: { ...subjects, bound: true } }, STORE_WRITE_LIMIT + 1), subjects.priceWad) : computeHealthSql(args, STORE_WRITE_LIMIT + 1);
    const rows = await rowsOf(context, compute);
    if (rows.length <= STORE_WRITE_LIMIT) {
      const computed = parseComputedHealth(rows);
      await storeHealth(context, computed, block);
      return logHealthEvents(context, computed, block, logIndex);
    }
  }
  rawWritten = true;
  const changes = parseHealthChanges(await rowsOf(context, writeHealthSql({ ...args, blockNumber: block.number, blockTimestamp: block.timestamp })));
  await logHealthEvents(context, changes, block, logIndex);
}

/** Writes computed rows and their triggers through Ponder's store (during a fresh backfill: its cache holds them). */
async function storeHealth(context: Context, computed: readonly ComputedHealth[], block: BlockRef): Promise<void> {
  const rows = new Map(computed.map((c) => [c.account, healthValues(c, block)]));
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
