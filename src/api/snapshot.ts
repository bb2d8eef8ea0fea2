/**
 * One block per answer: every read of an API answer runs in one read-only REPEATABLE READ transaction that also
 * reads Ponder's checkpoint of every chain, so the rows of the answer are exactly the state of the blocks it names.
 *
 * Why that is enough: in realtime Ponder (0.16, PostgreSQL) indexes a block's events, flushes their row writes and
 * moves `_ponder_checkpoint` in ONE transaction of the indexer's pool (node_modules/ponder/src/runtime/multichain.ts,
 * `case "block"`; omnichain.ts the same); the backfill also moves the checkpoint in the transaction of its flush.
 * A REPEATABLE READ transaction sees one snapshot from its first statement on: either all of a block's writes and
 * its checkpoint, or none of them. (PGlite has no such guarantee: Ponder runs PGlite "transactions" as plain
 * statements, so there a reader can see a block's rows before its checkpoint. Use PostgreSQL for the API.)
 *
 * `atOneBlock(fn)` opens the snapshot (or joins the one already open in this async context) and runs `fn` with
 * `reader()` bound to it: the query code reads through `reader()` and so takes part without knowing. Reads outside
 * any snapshot (the feed's poller, the account watch) go to Ponder's readonly pool as before.
 *
 * The transaction goes through Ponder's wrapper of `db.transaction`, which retries a failed transaction (up to 9
 * times, backing off); errors of the reads and of `fn` (a bad argument, say) are carried out of the transaction and
 * thrown after it, so only a failing BEGIN or COMMIT is retried.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { db } from "ponder:api";
import { GraphQLError } from "graphql";
import { sql } from "ponder";
import { loadIndexerManifest } from "../indexer/manifest.js";
import { checkpointBlock } from "../indexer/pathway-history.js";
import { apiLimits } from "./limits.js";

/** What the query code reads through: Ponder's readonly database or the open snapshot transaction. */
export type Reader = Pick<typeof db, "select" | "execute">;

/** A block of a chain the index has processed. */
export interface IndexedBlock {
  chainId: number;
  number: bigint;
  timestamp: bigint;
}

export interface Snapshot {
  /** The hub chain's indexed block: what the answer is as of (undefined before the first is indexed). */
  hub: IndexedBlock | undefined;
  /** Every chain's indexed block in the same snapshot, hub first, then by chain id. */
  chains: IndexedBlock[];
}

interface Open extends Snapshot {
  tx: Reader;
  /** Reads made once per snapshot (`oncePerSnapshot`), by key. */
  once: Map<string, Promise<unknown>>;
}

const current = new AsyncLocalStorage<Open>();

/**
 * Ponder types `db` without `transaction` (ReadonlyDrizzle omits it), but the object is its readonly query builder,
 * which has it: Ponder's own SQL-over-HTTP middleware reads through `readonlyQB.raw.transaction(fn, { accessMode:
 * "read only" })` (node_modules/ponder/src/client/index.ts). The config goes to drizzle's BEGIN.
 */
interface Transactional {
  transaction<T>(fn: (tx: Reader) => Promise<T>, config: { isolationLevel: "repeatable read"; accessMode: "read only" }): Promise<T>;
}
const transactional = (): Transactional => {
  const t = db as unknown as Partial<Transactional>;
  if (typeof t.transaction !== "function") throw new Error("Ponder's readonly database has no transaction(): one-block answers need it");
  return t as Transactional;
};

/** The open snapshot's transaction, or Ponder's readonly database outside one. */
export function reader(): Reader {
  return current.getStore()?.tx ?? db;
}

/**
 * `read()` once per open snapshot (its rows cannot change inside it): every caller in the snapshot shares the first
 * read, keyed by `key`. Outside a snapshot, a read of its own.
 */
export function oncePerSnapshot<T>(key: string, read: () => Promise<T>): Promise<T> {
  const open = current.getStore();
  if (!open) return read();
  if (!open.once.has(key)) open.once.set(key, read());
  return open.once.get(key) as Promise<T>;
}

/** The snapshot open in this async context, if any. */
export function openSnapshot(): Snapshot | undefined {
  return current.getStore();
}

/** Every chain's latest indexed block (Ponder's `_ponder_checkpoint`), hub first, then by chain id. */
export async function readCheckpoints(from: Reader = reader()): Promise<IndexedBlock[]> {
  const hubChainId = loadIndexerManifest().hub.chainId;
  const result = (await from.execute(sql`SELECT chain_id, latest_checkpoint FROM _ponder_checkpoint`)) as unknown as {
    rows: { chain_id: number | string; latest_checkpoint: string }[];
  };
  return result.rows
    .map((r) => ({ chainId: Number(r.chain_id), ...checkpointBlock(r.latest_checkpoint) }))
    .sort((a, b) => (a.chainId === hubChainId ? -1 : b.chainId === hubChainId ? 1 : a.chainId - b.chainId));
}

/**
 * Runs `fn` inside one read-only REPEATABLE READ snapshot whose first read is every chain's checkpoint; joins the
 * snapshot already open in this async context (a GraphQL request's, say) instead of opening another. `fn` only
 * reads, so an answer whose read hit a lock timeout is read again, in a new snapshot (up to LOCK_TIMEOUT_ATTEMPTS).
 */
export async function atOneBlock<T>(fn: (snapshot: Snapshot) => Promise<T>): Promise<T> {
  const open = current.getStore();
  if (open) return fn(open);
  for (let attempt = 1; ; attempt++) {
    try {
      return await inSnapshot(fn);
    } catch (error) {
      // A read waited past Ponder's lock_timeout (500 ms on its readonly pool) for a lock held for a moment, as
      // autovacuum truncating a hot table holds one: nothing was read, so the answer is read again in a new snapshot.
      if (attempt >= LOCK_TIMEOUT_ATTEMPTS || !hasPgCode(error, "55P03")) throw error;
    }
  }
}

/** Answers a read that hit a lock timeout this many times at most. */
const LOCK_TIMEOUT_ATTEMPTS = 3;

async function inSnapshot<T>(fn: (snapshot: Snapshot) => Promise<T>): Promise<T> {
  const hubChainId = loadIndexerManifest().hub.chainId;
  const timeoutMs = apiLimits().statementTimeoutMs;
  const outcome = await transactional().transaction(
    async (tx): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> => {
      try {
        // Every statement of the answer is bounded (SET LOCAL: this transaction only; allowed when read only).
        if (timeoutMs > 0) await tx.execute(sql.raw(`SET LOCAL statement_timeout = ${timeoutMs}`));
        const chains = await readCheckpoints(tx);
        const snapshot: Open = { tx, chains, hub: chains.find((c) => c.chainId === hubChainId), once: new Map() };
        return { ok: true, value: await current.run(snapshot, () => fn(snapshot)) };
      } catch (error) {
        return { ok: false, error };
      }
    },
    { isolationLevel: "repeatable read", accessMode: "read only" },
  );
  if (!outcome.ok) throw isStatementTimeout(outcome.error) ? new StatementTimeoutError(timeoutMs) : outcome.error;
  return outcome.value;
}

/** An answer whose database statement ran past SALVAGE_STATEMENT_TIMEOUT_MS: 503 over REST, a GraphQL error naming the limit. */
export class StatementTimeoutError extends GraphQLError {
  constructor(readonly timeoutMs: number) {
    super(`the answer took longer than the database statement timeout of ${timeoutMs} ms (SALVAGE_STATEMENT_TIMEOUT_MS); ask for less (a smaller first, fewer fields)`, {
      extensions: { code: "STATEMENT_TIMEOUT", limit: timeoutMs, variable: "SALVAGE_STATEMENT_TIMEOUT_MS" },
    });
  }
}

/** PostgreSQL's query_canceled (57014), the code of a statement timeout, wherever drizzle or pg nested it. */
export function isStatementTimeout(error: unknown): boolean {
  return hasPgCode(error, "57014");
}

/** Whether PostgreSQL's error code `code` is on the error or its causes (drizzle and pg nest them). */
function hasPgCode(error: unknown, code: string): boolean {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === code) return true;
  }
  return false;
}

/** A block as the API writes it: bigints as decimal strings. */
export function blockJson(b: IndexedBlock): { chainId: number; number: string; timestamp: string };
export function blockJson(b: IndexedBlock | undefined | null): { chainId: number; number: string; timestamp: string } | null;
export function blockJson(b: IndexedBlock | undefined | null) {
  return b ? { chainId: b.chainId, number: b.number.toString(), timestamp: b.timestamp.toString() } : null;
}

/** The `block` (hub) and `chainBlocks` (every chain) fields of an answer read in `snapshot`. */
export function asOf(snapshot: Snapshot) {
  return { block: blockJson(snapshot.hub), chainBlocks: snapshot.chains.map((c) => blockJson(c)) };
}
