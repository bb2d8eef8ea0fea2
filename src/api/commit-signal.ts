/**
 * A signal at each block the indexer commits live, so the feed reads the new events at once instead of at its
 * next poll.
 *
 * Ponder (0.16, PostgreSQL) already sends one: when it indexes live it keeps a statement trigger on
 * `_ponder_checkpoint` that runs `pg_notify('<schema>_live_query', …)` in the transaction that commits each block
 * (node_modules/ponder/src/database/actions.ts `createLiveQueryTriggers`; its `@ponder/client` middleware listens
 * to it). A notification is delivered at COMMIT, so a reader woken by it sees the block. Replicas (`ponder serve`
 * on the same database and schema) hear the indexer's notifications too.
 *
 * One LISTEN connection per process, opened on first use, reopened after an error. Without PostgreSQL (PGlite) or
 * before Ponder has named its schema there is no signal: the feed's poll alone (SALVAGE_FEED_POLL_MS) carries it.
 */
import pg from "pg";

declare global {
  // Set by Ponder's build (node_modules/ponder/src/build/index.ts): the schema of `ponder start|serve --schema`.
  var PONDER_NAMESPACE_BUILD: { schema: string } | undefined;
}

const RECONNECT_MS = 1_000;
const listeners = new Set<() => void>();
let started = false;

/** Calls `listener` after each block the indexer commits live; returns how to stop. */
export function onIndexedCommit(listener: () => void): () => void {
  listeners.add(listener);
  if (!started) {
    started = true;
    void listen();
  }
  return () => listeners.delete(listener);
}

async function listen(): Promise<void> {
  const url = process.env.DATABASE_URL;
  const schema = globalThis.PONDER_NAMESPACE_BUILD?.schema;
  if (!url || !schema) return;
  const client = new pg.Client({ connectionString: url, application_name: "salvage-feed-listen" });
  const retry = () => {
    client.removeAllListeners();
    void client.end().catch(() => undefined);
    setTimeout(() => void listen(), RECONNECT_MS).unref();
  };
  try {
    client.on("notification", () => {
      for (const l of listeners) l();
    });
    client.on("error", retry);
    await client.connect();
    // The channel is an identifier: quoted, as Ponder's own LISTEN does.
    await client.query(`LISTEN "${`${schema}_live_query`.replace(/"/g, '""')}"`);
  } catch {
    retry();
  }
}
