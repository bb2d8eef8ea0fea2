/**
 * Where the feed source keeps its resume point: one row per source in the relayer's database, in the
 * relayer's schema (the Database sets its search_path). The table is created here, idempotently, so the
 * relayer's own migration does not need to know about it.
 *
 *   detection_cursor (source TEXT PRIMARY KEY, cursor TEXT NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now())
 */
import { z } from "zod";
import type { Database } from "../db.js";

const CREATE = `CREATE TABLE IF NOT EXISTS detection_cursor (
  source TEXT PRIMARY KEY,
  cursor TEXT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`;

const cursorRow = z.object({ cursor: z.string().min(1, "must be a non-empty event id") });

export class CursorStore {
  private ready: Promise<void> | null = null;

  constructor(
    private readonly db: Database,
    /** The row's key, e.g. "feed:31400:0xhub…" (one per deployment, so two deployments can share a database). */
    readonly source: string,
  ) {}

  private ensureTable(): Promise<void> {
    // Under an advisory lock: two processes creating the table at once would race on PostgreSQL's catalog.
    this.ready ??= this.db
      .transaction(async (tx) => {
        await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`${this.db.schema}.detection_cursor`]);
        await tx.query(CREATE);
      })
      .then(
      () => undefined,
      (error: unknown) => {
        this.ready = null;
        throw error;
      },
    );
    return this.ready;
  }

  /** The stored cursor, or null when this source never committed. */
  async read(): Promise<string | null> {
    await this.ensureTable();
    const rows = await this.db.query("SELECT cursor FROM detection_cursor WHERE source = $1", [this.source]);
    if (rows.length === 0) return null;
    const parsed = cursorRow.safeParse(rows[0]);
    if (!parsed.success) throw new Error(`detection_cursor row "${this.source}": ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    return parsed.data.cursor;
  }

  async write(cursor: string): Promise<void> {
    await this.ensureTable();
    await this.db.query(
      `INSERT INTO detection_cursor (source, cursor) VALUES ($1, $2)
       ON CONFLICT (source) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = now()`,
      [this.source, cursor],
    );
  }
}
