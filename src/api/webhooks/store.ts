/**
 * The webhook store, in its own schema (salvage_webhooks) of the database opened by src/recovery/db.ts:
 *
 *   hooks              registrations: url, filter (JSON, as validated), description, the signing secret and
 *                      the previous one with the end of its overlap (after a rotation), disabled and why
 *                      (deleted through the API, or the receiver answered 410 Gone)
 *   deliveries         one row per (hook, feed event): the exact body sent, status pending|delivered|failed,
 *                      attempts, next_attempt_at, the last outcome, a lease (locked_by, lease_until), and
 *                      attempt_limit (set by a resend: the delivery fails for good after that attempt)
 *   attempts           one row per HTTP attempt: status code, error, duration
 *   dispatcher_cursor  the last feed event id turned into deliveries (resume point after a restart)
 *
 * Several API processes may share one PostgreSQL: deliveries are inserted once per (hook, event) (unique
 * key), claimed with FOR UPDATE SKIP LOCKED under a lease, and completed only by the lease holder.
 * Event ids are compared in JavaScript or with COLLATE "C", so the database's collation cannot reorder them.
 *
 * Secrets are stored in the clear (an HMAC needs the key itself): the database is as sensitive as the admin
 * token. They leave this module only for signing (claim) and in the registration and rotation responses.
 */
import type { Database, Sql } from "../../recovery/db.js";

export const WEBHOOK_MIGRATION: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS hooks (
     id SERIAL PRIMARY KEY,
     url TEXT NOT NULL,
     filter JSONB NOT NULL DEFAULT '{}'::jsonb,
     description TEXT,
     secret TEXT NOT NULL,
     after_event_id TEXT NOT NULL DEFAULT '',
     created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
     disabled BOOLEAN NOT NULL DEFAULT false,
     disabled_at TIMESTAMPTZ
   )`,
  `CREATE TABLE IF NOT EXISTS deliveries (
     id BIGSERIAL PRIMARY KEY,
     hook_id INTEGER NOT NULL REFERENCES hooks(id),
     event_id TEXT NOT NULL,
     body TEXT NOT NULL,
     status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
     last_status_code INTEGER,
     last_error TEXT,
     last_attempt_at TIMESTAMPTZ,
     delivered_at TIMESTAMPTZ,
     locked_by TEXT,
     lease_until TIMESTAMPTZ,
     created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
     UNIQUE (hook_id, event_id)
   )`,
  `CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_attempt_at, id) WHERE status = 'pending'`,
  `CREATE INDEX IF NOT EXISTS deliveries_by_hook ON deliveries (hook_id, id)`,
  `CREATE TABLE IF NOT EXISTS attempts (
     id BIGSERIAL PRIMARY KEY,
     delivery_id BIGINT NOT NULL REFERENCES deliveries(id),
     attempt INTEGER NOT NULL,
     worker TEXT NOT NULL,
     started_at TIMESTAMPTZ NOT NULL,
     duration_ms INTEGER NOT NULL,
     status_code INTEGER,
     error TEXT
   )`,
  `CREATE INDEX IF NOT EXISTS attempts_by_delivery ON attempts (delivery_id, id)`,
  `CREATE TABLE IF NOT EXISTS dispatcher_cursor (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     event_id TEXT NOT NULL,
     updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
   )`,
  // Standard Webhooks: secret rotation, 410 Gone, resends.
  `ALTER TABLE hooks ADD COLUMN IF NOT EXISTS previous_secret TEXT`,
  `ALTER TABLE hooks ADD COLUMN IF NOT EXISTS previous_secret_expires_at TIMESTAMPTZ`,
  `ALTER TABLE hooks ADD COLUMN IF NOT EXISTS secret_rotated_at TIMESTAMPTZ`,
  `ALTER TABLE hooks ADD COLUMN IF NOT EXISTS disabled_reason TEXT`,
  `ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS attempt_limit INTEGER`,
];

export type DeliveryStatus = "pending" | "delivered" | "failed";
export const DELIVERY_STATUSES = ["pending", "delivered", "failed"] as const;

/** Why a hook is disabled: deleted through the API, or its receiver answered 410 Gone. */
export type DisabledReason = "deleted" | "gone";

/** A hook as the API shows it (never a secret). */
export interface Hook {
  id: number;
  url: string;
  filter: Record<string, unknown>;
  description: string | null;
  createdAt: Date;
  disabled: boolean;
  disabledAt: Date | null;
  disabledReason: DisabledReason | null;
  secretRotatedAt: Date | null;
  /** Until when the previous secret still signs beside the current one (null: no overlap now). */
  previousSecretExpiresAt: Date | null;
}

/** What the dispatcher needs of an active hook. */
export interface ActiveHook {
  id: number;
  filter: Record<string, unknown>;
  /** The log's newest event id when the hook was registered: it gets events after it. */
  afterEventId: string;
}

/** A delivery leased to one worker for one attempt. */
export interface ClaimedDelivery {
  id: string;
  hookId: number;
  eventId: string;
  body: string;
  /** Attempts made before this one. */
  attempts: number;
  url: string;
  /** The secrets to sign with: the current one, then the previous one while its overlap lasts. */
  secrets: string[];
  /** The attempt after which the delivery fails for good (a resend's), or null: the retry schedule's. */
  attemptLimit: number | null;
}

export interface AttemptRecord {
  attempt: number;
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  worker: string;
}

export interface Delivery {
  id: string;
  hookId: number;
  eventId: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  lastStatusCode: number | null;
  lastError: string | null;
  lastAttemptAt: Date | null;
  deliveredAt: Date | null;
  createdAt: Date;
  attemptLog: AttemptRecord[];
}

export interface AttemptOutcome {
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  /** The delivery's status after this attempt; `retryInMs` when still pending. */
  status: DeliveryStatus;
  retryInMs?: number;
  /** The receiver answered 410 Gone: disable the hook (its pending deliveries are closed as failed). */
  disableHook?: boolean;
}

export type ResendResult =
  | { status: "resent"; ids: string[] }
  | { status: "no-hook" }
  | { status: "hook-disabled"; hook: Hook }
  | { status: "no-delivery" }
  | { status: "not-failed"; deliveryStatus: DeliveryStatus };

const CLOSED_BECAUSE: Record<DisabledReason, string> = {
  deleted: "hook deleted before delivery",
  gone: "hook disabled: its receiver answered 410 Gone",
};

const date = (v: unknown): Date | null => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)));
const json = (v: unknown): Record<string, unknown> => (typeof v === "string" ? (JSON.parse(v) as Record<string, unknown>) : ((v ?? {}) as Record<string, unknown>));
const idList = (ids: readonly (string | number)[]) => `{${ids.map((i) => String(i)).join(",")}}`;

function hookOf(r: Record<string, unknown>): Hook {
  return {
    id: Number(r.id),
    url: String(r.url),
    filter: json(r.filter),
    description: (r.description as string | null) ?? null,
    createdAt: date(r.created_at)!,
    disabled: Boolean(r.disabled),
    disabledAt: date(r.disabled_at),
    disabledReason: r.disabled ? ((r.disabled_reason as DisabledReason | null) ?? "deleted") : null,
    secretRotatedAt: date(r.secret_rotated_at),
    previousSecretExpiresAt: date(r.previous_secret_until),
  };
}

const HOOK_COLUMNS = `id, url, filter, description, created_at, disabled, disabled_at, disabled_reason, secret_rotated_at,
  CASE WHEN previous_secret_expires_at > now() THEN previous_secret_expires_at END AS previous_secret_until`;

/** Disables a hook in `tx` and closes its pending deliveries as failed. */
async function disable(tx: Sql, id: number, reason: DisabledReason): Promise<{ hook: Hook; cancelled: number } | undefined> {
  const rows = await tx.query(
    `UPDATE hooks SET disabled = true, disabled_at = COALESCE(disabled_at, now()), disabled_reason = COALESCE(disabled_reason, $2)
     WHERE id = $1 RETURNING ${HOOK_COLUMNS}`,
    [id, reason],
  );
  if (!rows[0]) return undefined;
  const cancelled = await tx.query(
    `UPDATE deliveries SET status = 'failed', last_error = $2, locked_by = NULL, lease_until = NULL
     WHERE hook_id = $1 AND status = 'pending' RETURNING id`,
    [id, CLOSED_BECAUSE[reason]],
  );
  return { hook: hookOf(rows[0]), cancelled: cancelled.length };
}

export class WebhookStore {
  constructor(readonly db: Database) {}

  // ------------------------------------------------------------------ hooks

  async createHook(h: { url: string; filter: Record<string, unknown>; description: string | null; secret: string; afterEventId: string }): Promise<Hook> {
    const rows = await this.db.query(
      `INSERT INTO hooks (url, filter, description, secret, after_event_id) VALUES ($1, $2::jsonb, $3, $4, $5) RETURNING ${HOOK_COLUMNS}`,
      [h.url, JSON.stringify(h.filter), h.description, h.secret, h.afterEventId],
    );
    return hookOf(rows[0]!);
  }

  async listHooks(): Promise<Hook[]> {
    return (await this.db.query(`SELECT ${HOOK_COLUMNS} FROM hooks ORDER BY id`)).map(hookOf);
  }

  async getHook(id: number): Promise<Hook | undefined> {
    const rows = await this.db.query(`SELECT ${HOOK_COLUMNS} FROM hooks WHERE id = $1`, [id]);
    return rows[0] ? hookOf(rows[0]) : undefined;
  }

  /** Deliveries of one hook by status. */
  async hookStats(id: number): Promise<Record<DeliveryStatus, number>> {
    const rows = await this.db.query<{ status: string; n: string | number }>(`SELECT status, count(*) AS n FROM deliveries WHERE hook_id = $1 GROUP BY status`, [id]);
    const stats: Record<DeliveryStatus, number> = { pending: 0, delivered: 0, failed: 0 };
    for (const r of rows) stats[r.status as DeliveryStatus] = Number(r.n);
    return stats;
  }

  /** Disables a hook (history kept); its pending deliveries are closed as failed. Idempotent (the first reason stays). */
  async disableHook(id: number, reason: DisabledReason = "deleted"): Promise<{ hook: Hook; cancelled: number } | undefined> {
    return this.db.transaction((tx) => disable(tx, id, reason));
  }

  /**
   * A new secret for an active hook; the current one becomes the previous one and keeps signing beside it
   * for `overlapMs` (a previous one still in its overlap is dropped). "disabled" for a disabled hook.
   */
  async rotateSecret(id: number, secret: string, overlapMs: number): Promise<Hook | "disabled" | undefined> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query(
        `UPDATE hooks SET previous_secret = secret, secret = $2, secret_rotated_at = now(),
           previous_secret_expires_at = now() + ($3 || ' milliseconds')::interval
         WHERE id = $1 AND NOT disabled RETURNING ${HOOK_COLUMNS}`,
        [id, secret, String(overlapMs)],
      );
      if (rows[0]) return hookOf(rows[0]);
      const exists = await tx.query(`SELECT 1 FROM hooks WHERE id = $1`, [id]);
      return exists.length > 0 ? "disabled" : undefined;
    });
  }

  /**
   * Sends failed deliveries of an active hook once more: `deliveryId`'s, or every failed one. Each is due at
   * once, for one attempt (if it fails, the delivery is failed again; resend again to retry).
   */
  async resend(hookId: number, deliveryId?: string): Promise<ResendResult> {
    return this.db.transaction(async (tx) => {
      // Locked against a concurrent disable: a disabled hook gets no pending delivery back.
      const hooks = await tx.query(`SELECT ${HOOK_COLUMNS} FROM hooks WHERE id = $1 FOR SHARE`, [hookId]);
      if (!hooks[0]) return { status: "no-hook" };
      const hook = hookOf(hooks[0]);
      if (hook.disabled) return { status: "hook-disabled", hook };
      const rows = await tx.query(
        `UPDATE deliveries SET status = 'pending', next_attempt_at = now(), attempt_limit = attempts + 1, locked_by = NULL, lease_until = NULL
         WHERE hook_id = $1 AND status = 'failed'${deliveryId === undefined ? "" : " AND id = $2"} RETURNING id`,
        deliveryId === undefined ? [hookId] : [hookId, deliveryId],
      );
      if (deliveryId !== undefined && rows.length === 0) {
        const found = await tx.query<{ status: string }>(`SELECT status FROM deliveries WHERE hook_id = $1 AND id = $2`, [hookId, deliveryId]);
        return found[0] ? { status: "not-failed", deliveryStatus: found[0].status as DeliveryStatus } : { status: "no-delivery" };
      }
      return { status: "resent", ids: rows.map((r) => String(r.id)) };
    });
  }

  /** Active hooks; `lock` (in a transaction) holds them until it ends, so a hook cannot be disabled meanwhile. */
  async activeHooks(sql: Sql = this.db, lock = false): Promise<ActiveHook[]> {
    const rows = await sql.query(`SELECT id, filter, after_event_id FROM hooks WHERE NOT disabled ORDER BY id${lock ? " FOR SHARE" : ""}`);
    return rows.map((r) => ({ id: Number(r.id), filter: json(r.filter), afterEventId: String(r.after_event_id) }));
  }

  // ------------------------------------------------------------------ the dispatcher's side

  async cursor(): Promise<string | null> {
    const rows = await this.db.query<{ event_id: string }>(`SELECT event_id FROM dispatcher_cursor WHERE id = 1`);
    return rows[0]?.event_id ?? null;
  }

  /**
   * Turns a batch of feed events into deliveries and moves the cursor to the batch's last id, in one
   * transaction: `plan` gets the active hooks (read in the transaction) and returns the rows to insert.
   * A (hook, event) already inserted (by another process, or before a restart) is skipped. Returns the
   * number of deliveries inserted.
   */
  async enqueue(lastEventId: string, plan: (hooks: ActiveHook[]) => { hookId: number; eventId: string; body: string }[]): Promise<number> {
    return this.db.transaction(async (tx) => {
      // Locked: a hook disabled concurrently gets no delivery after its pending ones were closed.
      const rows = plan(await this.activeHooks(tx, true));
      let inserted = 0;
      for (let i = 0; i < rows.length; i += 300) {
        const chunk = rows.slice(i, i + 300);
        const params: unknown[] = [];
        const values = chunk.map((r) => {
          params.push(r.hookId, r.eventId, r.body);
          return `($${params.length - 2}, $${params.length - 1}, $${params.length})`;
        });
        const out = await tx.query(`INSERT INTO deliveries (hook_id, event_id, body) VALUES ${values.join(", ")} ON CONFLICT (hook_id, event_id) DO NOTHING RETURNING id`, params);
        inserted += out.length;
      }
      await tx.query(
        `INSERT INTO dispatcher_cursor (id, event_id) VALUES (1, $1)
         ON CONFLICT (id) DO UPDATE SET
           event_id = CASE WHEN EXCLUDED.event_id COLLATE "C" > dispatcher_cursor.event_id COLLATE "C" THEN EXCLUDED.event_id ELSE dispatcher_cursor.event_id END,
           updated_at = now()`,
        [lastEventId],
      );
      return inserted;
    });
  }

  /**
   * Leases up to `max` due deliveries of active hooks to `worker`, oldest due first, at most `perHook` per
   * hook counting `inFlight` (requests this worker already has open, by hook). Rows locked or leased by
   * another worker are skipped.
   */
  async claim(worker: string, max: number, leaseMs: number, perHook: number, inFlight: ReadonlyMap<number, number>): Promise<ClaimedDelivery[]> {
    if (max <= 0) return [];
    const saturated = [...inFlight].filter(([, n]) => n >= perHook).map(([id]) => id);
    return this.db.transaction(async (tx) => {
      const candidates = await tx.query<{ id: string | number; hook_id: number }>(
        `SELECT d.id, d.hook_id FROM deliveries d JOIN hooks h ON h.id = d.hook_id
         WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND (d.lease_until IS NULL OR d.lease_until < now())
           AND NOT h.disabled AND d.hook_id <> ALL($1::int[])
         ORDER BY d.next_attempt_at, d.id
         LIMIT $2
         FOR UPDATE OF d SKIP LOCKED`,
        [idList(saturated), max * 4],
      );
      const taken = new Map(inFlight);
      const ids: string[] = [];
      for (const c of candidates) {
        if (ids.length >= max) break;
        const n = taken.get(Number(c.hook_id)) ?? 0;
        if (n >= perHook) continue;
        taken.set(Number(c.hook_id), n + 1);
        ids.push(String(c.id));
      }
      if (ids.length === 0) return [];
      const rows = await tx.query(
        `UPDATE deliveries d SET locked_by = $1, lease_until = now() + ($2 || ' milliseconds')::interval
         FROM hooks h WHERE h.id = d.hook_id AND d.id = ANY($3::bigint[])
         RETURNING d.id, d.hook_id, d.event_id, d.body, d.attempts, d.attempt_limit, h.url, h.secret,
           CASE WHEN h.previous_secret_expires_at > now() THEN h.previous_secret END AS previous_secret`,
        [worker, String(leaseMs), idList(ids)],
      );
      return rows
        .map((r) => ({
          id: String(r.id),
          hookId: Number(r.hook_id),
          eventId: String(r.event_id),
          body: String(r.body),
          attempts: Number(r.attempts),
          url: String(r.url),
          secrets: r.previous_secret ? [String(r.secret), String(r.previous_secret)] : [String(r.secret)],
          attemptLimit: r.attempt_limit === null || r.attempt_limit === undefined ? null : Number(r.attempt_limit),
        }))
        .sort((a, b) => ids.indexOf(a.id) - ids.indexOf(b.id));
    });
  }

  /**
   * Records an attempt and moves the delivery on (delivered, pending with a retry time, or failed), if
   * `worker` still holds it for this attempt. The attempt row is written either way: it happened.
   * With `outcome.disableHook` (410 Gone) the hook is disabled in the same transaction, either way too.
   * Returns whether the delivery moved.
   */
  async complete(d: ClaimedDelivery, worker: string, outcome: AttemptOutcome): Promise<boolean> {
    const attempt = d.attempts + 1;
    return this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO attempts (delivery_id, attempt, worker, started_at, duration_ms, status_code, error) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [d.id, attempt, worker, outcome.startedAt.toISOString(), outcome.durationMs, outcome.statusCode, outcome.error],
      );
      const rows = await tx.query(
        `UPDATE deliveries SET
           attempts = $3,
           status = $4,
           next_attempt_at = CASE WHEN $4 = 'pending' THEN now() + ($5 || ' milliseconds')::interval ELSE next_attempt_at END,
           last_status_code = $6,
           last_error = $7,
           last_attempt_at = now(),
           delivered_at = CASE WHEN $4 = 'delivered' THEN now() ELSE NULL END,
           locked_by = NULL,
           lease_until = NULL
         WHERE id = $1 AND locked_by = $2 AND attempts = $3 - 1 AND status = 'pending'
         RETURNING id`,
        [d.id, worker, attempt, outcome.status, String(outcome.retryInMs ?? 0), outcome.statusCode, outcome.error],
      );
      if (outcome.disableHook) await disable(tx, d.hookId, "gone");
      return rows.length === 1;
    });
  }

  /** Gives back leases without counting an attempt (shutdown): the deliveries are due again at once. */
  async release(ids: readonly string[], worker: string): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query(`UPDATE deliveries SET locked_by = NULL, lease_until = NULL WHERE id = ANY($1::bigint[]) AND locked_by = $2 AND status = 'pending'`, [idList(ids), worker]);
  }

  /** Milliseconds until the next pending delivery of a hook not in `exclude` is due (0 if one is), or null if none is pending. */
  async nextDueInMs(exclude: readonly number[] = []): Promise<number | null> {
    const rows = await this.db.query<{ ms: string | number | null }>(
      `SELECT EXTRACT(EPOCH FROM (min(GREATEST(d.next_attempt_at, COALESCE(d.lease_until, d.next_attempt_at))) - now())) * 1000 AS ms
       FROM deliveries d JOIN hooks h ON h.id = d.hook_id
       WHERE d.status = 'pending' AND NOT h.disabled AND d.hook_id <> ALL($1::int[])`,
      [idList(exclude)],
    );
    const ms = rows[0]?.ms;
    return ms === null || ms === undefined ? null : Math.max(0, Math.ceil(Number(ms)));
  }

  async pendingCount(): Promise<number> {
    const rows = await this.db.query<{ n: string | number }>(`SELECT count(*) AS n FROM deliveries WHERE status = 'pending'`);
    return Number(rows[0]?.n ?? 0);
  }

  /** A hook's deliveries, newest first, each with its attempts; `after` is the last id of the previous page. */
  async deliveries(hookId: number, args: { status?: DeliveryStatus; first: number; after?: string }): Promise<{ items: Delivery[]; hasNextPage: boolean }> {
    const rows = await this.db.query(
      `SELECT id, hook_id, event_id, status, attempts, next_attempt_at, last_status_code, last_error, last_attempt_at, delivered_at, created_at
       FROM deliveries WHERE hook_id = $1 AND ($2::text IS NULL OR status = $2::text) AND ($3::bigint IS NULL OR id < $3::bigint)
       ORDER BY id DESC LIMIT $4`,
      [hookId, args.status ?? null, args.after ?? null, args.first + 1],
    );
    const page = rows.slice(0, args.first);
    const log = new Map<string, AttemptRecord[]>();
    if (page.length > 0) {
      const attempts = await this.db.query(
        `SELECT delivery_id, attempt, worker, started_at, duration_ms, status_code, error FROM attempts WHERE delivery_id = ANY($1::bigint[]) ORDER BY delivery_id, id`,
        [idList(page.map((r) => String(r.id)))],
      );
      for (const a of attempts) {
        const key = String(a.delivery_id);
        const list = log.get(key) ?? [];
        list.push({
          attempt: Number(a.attempt),
          worker: String(a.worker),
          startedAt: date(a.started_at)!,
          durationMs: Number(a.duration_ms),
          statusCode: a.status_code === null ? null : Number(a.status_code),
          error: (a.error as string | null) ?? null,
        });
        log.set(key, list);
      }
    }
    return {
      hasNextPage: rows.length > args.first,
      items: page.map((r) => ({
        id: String(r.id),
        hookId: Number(r.hook_id),
        eventId: String(r.event_id),
        status: r.status as DeliveryStatus,
        attempts: Number(r.attempts),
        nextAttemptAt: r.status === "pending" ? date(r.next_attempt_at) : null,
        lastStatusCode: r.last_status_code === null ? null : Number(r.last_status_code),
        lastError: (r.last_error as string | null) ?? null,
        lastAttemptAt: date(r.last_attempt_at),
        deliveredAt: date(r.delivered_at),
        createdAt: date(r.created_at)!,
        attemptLog: log.get(String(r.id)) ?? [],
      })),
    };
  }
}
