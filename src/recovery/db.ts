/**
 * The relayer's database: PostgreSQL when a connection string is given (several relayer processes share
 * it), PGlite (embedded PostgreSQL, nothing to install) otherwise. Both speak the same SQL, so the store
 * is written once against this small interface. Tables live in their own schema, beside the index.
 */
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { TERMINAL_STATES_SQL } from "./states.js";

export interface Sql {
  query<R extends Record<string, unknown> = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
}

export interface Database extends Sql {
  readonly kind: "postgres" | "pglite";
  readonly schema: string;
  /** Runs `fn` in one transaction on one connection; rolls back if it throws. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** postgres://… ; PGlite when absent. */
  databaseUrl?: string;
  /** PGlite data directory; in memory when absent. */
  pgliteDir?: string;
  schema: string;
  /** Idempotent statements run at open, in one transaction, in `schema` (default: the relayer's tables). */
  migration?: readonly string[];
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (!SCHEMA_NAME.test(options.schema)) throw new Error(`database schema must match ${SCHEMA_NAME}, got "${options.schema}"`);
  const db = options.databaseUrl ? openPostgres(options.databaseUrl, options.schema) : await openPglite(options.pgliteDir, options.schema);
  await migrate(db, options.migration ?? RELAYER_MIGRATION);
  return db;
}

function openPostgres(url: string, schema: string): Database {
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  // A dropped idle connection must not crash the process; the next query reconnects.
  pool.on("error", () => {});
  const setPath = `SET search_path TO ${schema}, public`;
  return {
    kind: "postgres",
    schema,
    async query(text, params) {
      const client = await pool.connect();
      try {
        await client.query(setPath);
        return (await client.query(text, params)).rows;
      } finally {
        client.release();
      }
    },
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query(setPath);
        await client.query("BEGIN");
        const result = await fn({ query: async (text, params) => (await client.query(text, params)).rows });
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

async function openPglite(dir: string | undefined, schema: string): Promise<Database> {
  const lite = new PGlite(dir);
  await lite.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema}, public;`);
  let queue: Promise<unknown> = Promise.resolve();
  // PGlite is one connection: serialize transactions so statements of two never interleave.
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => {});
    return run;
  };
  return {
    kind: "pglite",
    schema,
    query: (text, params) => exclusive(async () => (await lite.query(text, params)).rows as never),
    transaction: (fn) =>
      exclusive(async () => (await lite.transaction((tx) => fn({ query: async (text, params) => (await tx.query(text, params)).rows as never }))) as never),
    close: () => lite.close(),
  };
}

/** Idempotent schema setup; a later version adds statements at the end. */
async function migrate(db: Database, migration: readonly string[]): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${db.schema}`);
    await tx.query(`SET LOCAL search_path TO ${db.schema}, public`);
    await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`${db.schema}.migrate`]);
    for (const statement of migration) await tx.query(statement);
  });
}

/** The relayer's tables (recoveries, transitions, transactions, nonces). */
export const RELAYER_MIGRATION: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS recoveries (
     id SERIAL PRIMARY KEY,
     hub_chain_id INTEGER NOT NULL,
     account TEXT NOT NULL,
     state TEXT NOT NULL,
     auction_id NUMERIC(78),
     debt_asset INTEGER,
     collateral_eid BIGINT,
     collateral_asset INTEGER,
     max_repay NUMERIC(78),
     repay_amount NUMERIC(78),
     seize_amount NUMERIC(78),
     seize_value NUMERIC(78),
     bonus NUMERIC(78),
     expected_profit NUMERIC(78),
     take_id NUMERIC(78),
     guid TEXT,
     packet TEXT,
     take_tx TEXT,
     take_block BIGINT,
     take_block_hash TEXT,
     deliver_tx TEXT,
     spoke_from_block BIGINT,
     reason TEXT,
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
     locked_by TEXT,
     lease_until TIMESTAMPTZ,
     created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
     updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
   )`,
  // At most one detected recovery per account: detection by several workers inserts it once (detectMany also
  // opens none while one is working). An account whose take is mined may be recovered again while its SEIZE
  // crosses the bridge, so the index of earlier versions (one open recovery per account) goes.
  `DROP INDEX IF EXISTS recoveries_one_open`,
  `CREATE UNIQUE INDEX IF NOT EXISTS recoveries_one_detected ON recoveries (hub_chain_id, account) WHERE state = 'detected'`,
  `CREATE INDEX IF NOT EXISTS recoveries_due ON recoveries (next_attempt_at) WHERE state NOT IN ${TERMINAL_STATES_SQL}`,
  `CREATE TABLE IF NOT EXISTS transitions (
     id SERIAL PRIMARY KEY,
     recovery_id INTEGER NOT NULL REFERENCES recoveries(id),
     from_state TEXT NOT NULL,
     to_state TEXT NOT NULL,
     worker TEXT NOT NULL,
     detail TEXT,
     at TIMESTAMPTZ NOT NULL DEFAULT now()
   )`,
  `CREATE INDEX IF NOT EXISTS transitions_by_recovery ON transitions (recovery_id)`,
  // Every signed transaction is stored before it is broadcast, so a restart rebroadcasts it instead of signing another.
  `CREATE TABLE IF NOT EXISTS transactions (
     id SERIAL PRIMARY KEY,
     recovery_id INTEGER REFERENCES recoveries(id),
     step TEXT NOT NULL,
     chain_id INTEGER NOT NULL,
     sender TEXT NOT NULL,
     nonce BIGINT NOT NULL,
     hash TEXT NOT NULL UNIQUE,
     raw TEXT NOT NULL,
     max_fee_per_gas NUMERIC(78) NOT NULL,
     max_priority_fee_per_gas NUMERIC(78) NOT NULL,
     status TEXT NOT NULL DEFAULT 'pending',
     block_number BIGINT,
     block_hash TEXT,
     created_at TIMESTAMPTZ NOT NULL DEFAULT now()
   )`,
  `CREATE INDEX IF NOT EXISTS transactions_by_step ON transactions (recovery_id, step)`,
  `CREATE TABLE IF NOT EXISTS nonces (
     chain_id INTEGER NOT NULL,
     address TEXT NOT NULL,
     next_nonce BIGINT NOT NULL,
     PRIMARY KEY (chain_id, address)
   )`,
  // Batches: one transaction carries the kicks and takes of many recoveries (recoveries.tx_step names it).
  `ALTER TABLE recoveries ADD COLUMN IF NOT EXISTS tx_step TEXT`,
  // The most a fee bump may offer per gas for this transaction: what its plan can pay, not a global constant.
  `ALTER TABLE transactions ADD COLUMN IF NOT EXISTS max_fee_cap NUMERIC(78)`,
  `ALTER TABLE transactions ADD COLUMN IF NOT EXISTS gas_limit NUMERIC(78)`,
  `CREATE INDEX IF NOT EXISTS transactions_by_chain_step ON transactions (chain_id, step)`,
  // The liquidator's executor contract per (chain, owner), deployed once by the relayer.
  `CREATE TABLE IF NOT EXISTS executors (
     chain_id INTEGER NOT NULL,
     owner TEXT NOT NULL,
     address TEXT NOT NULL,
     PRIMARY KEY (chain_id, owner)
   )`,
];
