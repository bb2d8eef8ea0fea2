/**
 * Recomputing a set of accounts' health and envelope inside PostgreSQL (health-sql.ts) and logging the feed's
 * events: what a price update (feeds.ts) and an asset's re-listing (hub.ts) do.
 */
import { sql } from "ponder";
import type { Context } from "ponder:registry";
import { accountHealth, healthTrigger } from "ponder:schema";
import {
  type ComputedHealth,
  type HealthSqlArgs,
  type PriceMove,
  type Subjects,
  bindPrices,
  computeHealthSql,
  movesWithin,
  parseComputedHealth,
  parseHealthChanges,
  renderedLength,
  writeHealthSql,
} from "./health-sql.js";
import { healthValues, logHealthEvents } from "./state.js";
import type { BlockRef } from "../../../indexer/feed-log.js";
import { hubChainId } from "../../../indexer/manifest.js";
import { noteHealth, noteTrigger, reachesNobody } from "./reach-bounds.js";
import { healthTables } from "./tables.js";

/**
 * How the recomputed rows are written. Ponder keeps a row cache that is complete only during the backfill of a
 * fresh start: there a lookup of a row it does not hold costs nothing, and a raw SQL write would make it give the
 * cache up for the rest of the backfill (every later lookup a database read). Live (Ponder invalidates the cache
 * when its backfill ends) or after a resume, every store write of a row costs a database read, and one raw
 * statement is cheaper. So: through the store while the cache can be complete, in one statement otherwise.
 */
export const STORE_WRITE_LIMIT = 5_000;

let freshStart = false;
let rawWritten = false;
let live = false;

/** Called by the setup handler, which Ponder runs only when it starts from the first block (hub.ts). */
export function markFreshStart(): void {
  freshStart = true;
}

/**
 * Called by the block handler (pathway.ts), which Ponder runs only on blocks it indexes live (from the head at
 * start). Until then this process is on the backfill, or on the few unfinalized blocks Ponder indexes right after
 * it, where the store path is correct too, only dearer. (Judging "live" by a block's age took the slow path for a
 * whole backfill of recent blocks: a devnet indexed right after its seeding, 9.3 s of work instead of 3.8 s.)
 */
export function markLive(): void {
  live = true;
}

let positions = false;
/** Called by every position event (hub.ts): from then on an account can hold a health row and triggers. */
export function markPositions(): void {
  positions = true;
}

/** Whether Ponder's row cache can still be complete: a fresh start's backfill, no raw write yet. */
function storeCanHold(): boolean {
  return freshStart && !rawWritten && !live;
}

/** A statement with parameters (drizzle's SQL, which ponder does not export by name). */
type SQL = ReturnType<typeof sql.raw>;

// Ponder's indexing `sql` is drizzle's pg-proxy driver: `execute` resolves to the rows themselves.
const rowsOf = async (context: Context, statement: string | SQL): Promise<Record<string, unknown>[]> =>
  (await context.db.sql.execute(typeof statement === "string" ? sql.raw(statement) : statement)) as unknown as Record<string, unknown>[];

/** A statement written with priceParam(i), each move's price bound as a parameter (health-sql.ts `bindPrices`). */
function withPrices(statement: string, moves: readonly PriceMove[]): SQL {
  const { parts, params } = bindPrices(statement, moves);
  return sql.join(parts.flatMap((part, i) => (i === 0 ? [sql.raw(part)] : [sql`${params[i - 1]}::numeric`, sql.raw(part)])));
}

/**
 * Recomputes the subjects' health and envelope at the indexed prices and logs the feed's events. While Ponder's
 * cache can be complete (see STORE_WRITE_LIMIT), computed read-only (Ponder flushes the tables it reads, nothing
 * more), at most one more row than the limit: within it, written through the store; past it, or otherwise,
 * computed and written in one statement (no count first: a statement that Ponder parses twice and flushes for).
 */
export async function recomputeSubjects(context: Context, subjects: Subjects, block: BlockRef, logIndex: number): Promise<void> {
  // From the first block, before any position: no account holds anything a price could reach (a protocol lists its
  // assets and sets its prices first). Not after a resume: positions indexed by an earlier process are unknown here.
  if (freshStart && !positions) return;
  const args = { tables: healthTables(), hubChainId: hubChainId(), subjects };
  if (storeCanHold()) {
    // What this process wrote on its fresh backfill proves some moves reach nobody: no statement for them.
    if (subjects.kind === "fired" && reachesNobody(subjects.moves)) return;
    // A block's price moves bind their prices: the text is the same whenever the same assets move together. Many
    // moves are computed in parts, each statement short enough for Ponder's gate to read as read-only.
    const parts: Subjects[] =
      subjects.kind === "fired"
        ? movesWithin(subjects.moves, (moves) => renderedLength(boundCompute(args, moves))).map((moves) => ({ kind: "fired", moves }))
        : [subjects];
    for (const [i, part] of parts.entries()) {
      const compute = part.kind === "fired" ? withPrices(boundCompute(args, part.moves), part.moves) : computeHealthSql(args, STORE_WRITE_LIMIT + 1);
      const rows = await rowsOf(context, compute);
      if (rows.length > STORE_WRITE_LIMIT) {
        // Past the limit: this part and the rest in one write statement.
        const rest: Subjects = part.kind === "fired" ? { kind: "fired", moves: parts.slice(i).flatMap((p) => (p.kind === "fired" ? p.moves : [])) } : part;
        return writeInOneStatement(context, { ...args, subjects: rest }, block, logIndex);
      }
      const computed = parseComputedHealth(rows);
      await storeHealth(context, computed, block);
      await logHealthEvents(context, computed, block, logIndex);
    }
    return;
  }
  await writeInOneStatement(context, args, block, logIndex);
}

/** The computation of the accounts `moves` reach, their prices written as priceParam(i). */
const boundCompute = (args: Omit<HealthSqlArgs, "subjects">, moves: readonly PriceMove[]): string =>
  computeHealthSql({ ...args, subjects: { kind: "fired", moves, bound: true } }, STORE_WRITE_LIMIT + 1);

async function writeInOneStatement(context: Context, args: HealthSqlArgs, block: BlockRef, logIndex: number): Promise<void> {
  rawWritten = true;
  const changes = parseHealthChanges(await rowsOf(context, writeHealthSql({ ...args, blockNumber: block.number, blockTimestamp: block.timestamp })));
  await logHealthEvents(context, changes, block, logIndex);
}

/** Writes computed rows and their triggers through Ponder's store (during a fresh backfill: its cache holds them). */
async function storeHealth(context: Context, computed: readonly ComputedHealth[], block: BlockRef): Promise<void> {
  for (const c of computed) {
    noteHealth(c.guardHf, c.heldAssets);
    for (const t of c.triggers) noteTrigger(t);
  }
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
