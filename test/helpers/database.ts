/**
 * A database of its own on the test PostgreSQL server (TEST_DATABASE_URL), for a test that runs Ponder on it:
 * devnet chain ids repeat across runs and Ponder's RPC cache (`ponder_sync`) is per database.
 */
import { execFileSync } from "node:child_process";
import { TEST_DATABASE_URL } from "./scenario.js";

export interface TestDatabase {
  name: string;
  url: string;
  /** Drops it (connections forced out); a failure is only a warning. */
  drop(): void;
}

const psql = (url: string, sql: string) => execFileSync("psql", [url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], { stdio: "pipe", timeout: 20_000 });

/**
 * Creates `salvage_<tag>_<pid>_<time>`. Returns undefined when SALVAGE_TEST_POSTGRES=0 or, unless `required`, when
 * the server cannot be reached (the caller falls back to PGlite or skips, and says so).
 */
export function createTestDatabase(tag: string, options: { required?: boolean } = {}): TestDatabase | undefined {
  if (process.env.SALVAGE_TEST_POSTGRES === "0") return undefined;
  const name = `salvage_${tag}_${process.pid}_${Date.now()}`;
  try {
    psql(TEST_DATABASE_URL, `CREATE DATABASE ${name}`);
  } catch (error) {
    if (options.required) throw error;
    console.warn(`${tag} test: PostgreSQL not used (${(error as Error).message.split("\n")[0]})`);
    return undefined;
  }
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop() {
      try {
        psql(TEST_DATABASE_URL, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } catch (error) {
        console.warn(`${tag} test: could not drop ${name}: ${(error as Error).message}`);
      }
    },
  };
}
