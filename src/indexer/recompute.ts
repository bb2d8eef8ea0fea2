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

function writeThroughStore(count: number, block: BlockRef): boolean {
  const live = BigInt(Math.floor(Date.now() / 1000)) - block.timestamp < LIVE_BLOCK_AGE_SECONDS;
  return freshStart && !rawWritten && !live && count <= STORE_WRITE_LIMIT;
}

// Ponder's indexing `sql` is drizzle's pg-proxy driver: `execute` resolves to the rows themselves.
const rowsOf = async (context: Context, statement: string): Promise<Record<string, unknown>[]> =>
  (await context.db.sql.execute(sql.raw(statement))) as unknown as Record<string, unknown>[];

/**
 * Recomputes the subjects' health and envelope at the indexed prices and logs the feed's events. Counted first
 * (read-only, an index range scan); then either computed read-only (Ponder flushes the tables it reads, nothing
 * more) and written through the store, or computed and written in one statement (see STORE_WRITE_LIMIT).
 */
export async function recomputeSubjects(context: Context, subjects: Subjects, block: BlockRef, logIndex: number): Promise<void> {
  const args = { tables: healthTables(), hubChainId: hubChainId(), subjects };
  const [count] = await rowsOf(context, countSubjectsSql(args));
  const n = Number(count?.n ?? 0);
  if (n === 0) return;
  let changes: HealthChange[];
  if (writeThroughStore(n, block)) {
    const computed = parseComputedHealth(await rowsOf(context, computeHealthSql(args)));
    await storeHealth(context, computed, block);
    changes = computed;
  } else {
    rawWritten = true;
    changes = parseHealthChanges(await rowsOf(context, writeHealthSql({ ...args, blockNumber: block.number, blockTimestamp: block.timestamp })));
  }
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
