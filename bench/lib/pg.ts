/**
 * PostgreSQL for the benchmarks. Every devnet gets a database of its own (created from BENCH_DATABASE_URL's
 * server, dropped with the devnet): devnet chain ids repeat from run to run, and Ponder's RPC cache
 * (`ponder_sync`) is per database and keyed by chain id and block number, so a shared database would feed
 * one devnet's blocks to the next. Inside it, one unique schema per app run.
 */
import pg from "pg";

export const BENCH_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

let counter = 0;
const unique = (tag: string) => `bench_${tag}_${process.pid}_${Date.now().toString(36)}_${counter++}`;

export function uniqueSchema(tag: string): string {
  return unique(tag);
}

export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const checkName = (name: string) => {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad identifier ${name}`);
  return name;
};

export async function dropSchema(url: string, schema: string): Promise<void> {
  await withClient(url, (c) => c.query(`DROP SCHEMA IF EXISTS "${checkName(schema)}" CASCADE`));
}

/** A new database on BENCH_DATABASE_URL's server; `drop()` removes it (and disconnects whoever is left). */
export async function createDatabase(tag: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = checkName(unique(tag));
  await withClient(BENCH_DATABASE_URL, (c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(BENCH_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => withClient(BENCH_DATABASE_URL, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}
