/**
 * Durable recoveries: rows, leases and the transition log. Every state change is one transaction that
 * checks the worker still holds the lease (fencing), so a worker that lost its lease can never move a
 * recovery another worker now owns.
 */
import type { Address, Hex } from "viem";
import { storableText } from "../chains/errors.js";
import type { Database, Sql } from "./db.js";
import { type RecoveryState, TERMINAL_STATES_SQL, WORKING_STATES_SQL, canTransition } from "./states.js";

export interface Recovery {
  id: number;
  hubChainId: number;
  account: Address;
  state: RecoveryState;
  auctionId?: bigint;
  debtAsset?: number;
  collateralEid?: number;
  collateralAsset?: number;
  maxRepay?: bigint;
  repayAmount?: bigint;
  seizeAmount?: bigint;
  seizeValue?: bigint;
  bonus?: bigint;
  expectedProfit?: bigint;
  takeId?: bigint;
  guid?: Hex;
  packet?: Hex;
  takeTx?: Hex;
  takeBlock?: bigint;
  takeBlockHash?: Hex;
  deliverTx?: Hex;
  /** Spoke block to search for the Seized event from (the spoke's head when the take was mined). */
  spokeFromBlock?: bigint;
  reason?: string;
  /** The stored transaction (step in `transactions`) that carries this recovery's kick or take: a batch. */
  txStep?: string;
  attempts: number;
  nextAttemptAt: Date;
  lockedBy?: string;
  createdAt: Date;
  updatedAt: Date;
}

export type RecoveryPatch = Partial<Omit<Recovery, "id" | "hubChainId" | "account" | "state" | "lockedBy" | "createdAt" | "updatedAt">>;

const COLUMNS = {
  auctionId: ["auction_id", "bigint"],
  debtAsset: ["debt_asset", "number"],
  collateralEid: ["collateral_eid", "number"],
  collateralAsset: ["collateral_asset", "number"],
  maxRepay: ["max_repay", "bigint"],
  repayAmount: ["repay_amount", "bigint"],
  seizeAmount: ["seize_amount", "bigint"],
  seizeValue: ["seize_value", "bigint"],
  bonus: ["bonus", "bigint"],
  expectedProfit: ["expected_profit", "bigint"],
  takeId: ["take_id", "bigint"],
  guid: ["guid", "text"],
  packet: ["packet", "text"],
  takeTx: ["take_tx", "text"],
  takeBlock: ["take_block", "bigint"],
  takeBlockHash: ["take_block_hash", "text"],
  deliverTx: ["deliver_tx", "text"],
  spokeFromBlock: ["spoke_from_block", "bigint"],
  reason: ["reason", "text"],
  txStep: ["tx_step", "text"],
  attempts: ["attempts", "number"],
  nextAttemptAt: ["next_attempt_at", "date"],
} as const satisfies Record<keyof RecoveryPatch, readonly [string, "bigint" | "number" | "text" | "date"]>;


export class LeaseLostError extends Error {
  constructor(id: number, worker: string) {
    super(`worker ${worker} no longer holds recovery ${id}`);
  }
}

function fromRow(row: Record<string, unknown>): Recovery {
  const r: Recovery = {
    id: Number(row.id),
    hubChainId: Number(row.hub_chain_id),
    account: row.account as Address,
    state: row.state as RecoveryState,
    attempts: Number(row.attempts),
    nextAttemptAt: new Date(row.next_attempt_at as string),
    lockedBy: (row.locked_by as string | null) ?? undefined,
    createdAt: new Date(row.created_at as string),
    updatedAt: new Date(row.updated_at as string),
  };
  for (const [key, [column, kind]] of Object.entries(COLUMNS)) {
    const v = row[column];
    if (v === null || v === undefined) continue;
    (r as unknown as Record<string, unknown>)[key] =
      kind === "bigint" ? BigInt(v as string) : kind === "number" ? Number(v) : kind === "date" ? new Date(v as string) : v;
  }
  return r;
}

/** One transition of transitionMany. */
export interface Move {
  recovery: Recovery;
  to: RecoveryState;
  patch?: RecoveryPatch;
  detail?: string;
}

/** A patch value as text for an array parameter (cast to its column's type in SQL). */
function toText(value: unknown): string | null {
  const param = toParam(value);
  return param === null ? null : String(param);
}

function toParam(value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  // A revert reason may hold a NUL byte, which PostgreSQL TEXT refuses.
  if (typeof value === "string") return storableText(value, 4_000);
  if (value instanceof Date) return value.toISOString();
  return value ?? null;
}

export class RecoveryStore {
  constructor(readonly db: Database) {}

  /**
   * Opens a recovery for each account that has none working (detected, kicking, kicked, taking), in one
   * statement: an account whose take is mined and whose SEIZE is still crossing the bridge is opened again if
   * it is still liquidatable, as the hub's books already moved. An account whose last
   * recovery ended `skipped` (no inventory) or `abandoned` as unprofitable less than `cooldownMs` ago is
   * not reopened: detection must not spin on what the policy just refused. Returns the accounts opened.
   */
  async detectMany(hubChainId: number, accounts: readonly Address[], cooldownMs = 60_000): Promise<Address[]> {
    if (accounts.length === 0) return [];
    const rows = await this.db.query<{ account: string }>(
      `INSERT INTO recoveries (hub_chain_id, account, state)
       SELECT $1, a, 'detected' FROM unnest($2::text[]) AS a
       WHERE NOT EXISTS (
         SELECT 1 FROM recoveries r WHERE r.hub_chain_id = $1 AND r.account = a
           AND (r.state IN ${WORKING_STATES_SQL} OR (r.state = 'skipped' AND r.updated_at > now() - ($3 || ' milliseconds')::interval)))
       ON CONFLICT (hub_chain_id, account) WHERE state = 'detected' DO NOTHING RETURNING account`,
      [hubChainId, [...new Set(accounts.map((a) => a.toLowerCase()))], String(cooldownMs)],
    );
    return rows.map((r) => r.account as Address);
  }

  /** A new hub block: every recovery whose batch is in flight is due now (the block may have mined it). Returns how many. */
  async batchesDue(): Promise<number> {
    const rows = await this.db.query(
      `UPDATE recoveries SET next_attempt_at = now() WHERE state IN ('kicking', 'taking') AND tx_step IS NOT NULL AND next_attempt_at > now() RETURNING id`,
    );
    return rows.length;
  }

  /** Leases up to `limit` due open recoveries to `worker` in one statement, skipping rows others hold. */
  async claimMany(worker: string, leaseMs: number, limit: number): Promise<Recovery[]> {
    const rows = await this.db.query(
      `UPDATE recoveries SET locked_by = $1, lease_until = now() + ($2 || ' milliseconds')::interval
       WHERE id IN (
         SELECT id FROM recoveries
         WHERE state NOT IN ${TERMINAL_STATES_SQL} AND next_attempt_at <= now()
           AND (lease_until IS NULL OR lease_until < now() OR locked_by = $1)
         ORDER BY next_attempt_at, id
         LIMIT $3 FOR UPDATE SKIP LOCKED
       ) RETURNING *`,
      [worker, String(leaseMs), limit],
    );
    return rows.map(fromRow).sort((a, b) => a.id - b.id);
  }

  /** Gives back many leases at once; each recovery is due again at its own time with its own reason. */
  async releaseMany(worker: string, items: readonly { id: number; at: Date; reason?: string }[]): Promise<void> {
    if (items.length === 0) return;
    await this.db.query(
      `UPDATE recoveries r SET locked_by = NULL, lease_until = NULL, next_attempt_at = v.at, reason = COALESCE(v.reason, r.reason)
       FROM unnest($2::int[], $3::timestamptz[], $4::text[]) AS v(id, at, reason)
       WHERE r.id = v.id AND r.locked_by = $1`,
      [worker, items.map((i) => i.id), items.map((i) => i.at.toISOString()), items.map((i) => (i.reason === undefined ? null : storableText(i.reason, 4_000)))],
    );
  }

  /**
   * Moves a leased recovery to `to` with `patch`, and logs the transition, in one transaction.
   * Throws LeaseLostError if the worker no longer holds it or its state moved meanwhile.
   */
  async transition(recovery: Recovery, to: RecoveryState, worker: string, patch: RecoveryPatch = {}, detail?: string, tx?: Sql): Promise<Recovery> {
    if (!canTransition(recovery.state, to)) throw new Error(`recovery ${recovery.id}: no transition ${recovery.state} -> ${to}`);
    const sets = ["state = $4", "updated_at = now()"];
    const params: unknown[] = [recovery.id, worker, recovery.state, to];
    for (const [key, value] of Object.entries(patch)) {
      const column = COLUMNS[key as keyof RecoveryPatch];
      if (!column) throw new Error(`unknown recovery field ${key}`);
      params.push(toParam(value));
      sets.push(`${column[0]} = $${params.length}`);
    }
    const run = async (sql: Sql) => {
      const rows = await sql.query(
        `UPDATE recoveries SET ${sets.join(", ")} WHERE id = $1 AND locked_by = $2 AND state = $3 AND lease_until > now() RETURNING *`,
        params,
      );
      if (rows.length === 0) throw new LeaseLostError(recovery.id, worker);
      await sql.query(`INSERT INTO transitions (recovery_id, from_state, to_state, worker, detail) VALUES ($1, $2, $3, $4, $5)`, [
        recovery.id, recovery.state, to, worker, detail === undefined ? null : storableText(detail, 4_000),
      ]);
      return fromRow(rows[0]!);
    };
    return tx ? run(tx) : this.db.transaction(run);
  }

  /**
   * Many transitions in one database transaction: one UPDATE per set of patched fields (all rows of a batch
   * share one), one INSERT of their transitions. A recovery whose lease this worker lost (or whose state moved)
   * is left out of the result instead of failing the others.
   */
  async transitionMany(moves: readonly Move[], worker: string): Promise<Recovery[]> {
    for (const m of moves) if (!canTransition(m.recovery.state, m.to)) throw new Error(`recovery ${m.recovery.id}: no transition ${m.recovery.state} -> ${m.to}`);
    const groups = new Map<string, Move[]>();
    for (const m of moves) {
      const key = Object.keys(m.patch ?? {}).sort().join(",");
      groups.set(key, [...(groups.get(key) ?? []), m]);
    }
    if (moves.length === 0) return [];
    return this.db.transaction(async (sql) => {
      const moved: Recovery[] = [];
      for (const [key, group] of groups) {
        const fields = (key ? key.split(",") : []) as (keyof RecoveryPatch)[];
        const params: unknown[] = [worker, group.map((m) => m.recovery.id), group.map((m) => m.recovery.state), group.map((m) => m.to)];
        const sets = ["state = v.to_state", "updated_at = now()"];
        const columns = ["id", "from_state", "to_state"];
        const arrays = ["$2::int[]", "$3::text[]", "$4::text[]"];
        fields.forEach((field, i) => {
          const [column, kind] = COLUMNS[field];
          params.push(group.map((m) => toText(m.patch![field])));
          arrays.push(`$${params.length}::text[]`);
          columns.push(`c${i}`);
          sets.push(`${column} = v.c${i}::${kind === "text" ? "text" : kind === "date" ? "timestamptz" : "numeric"}`);
        });
        const rows = await sql.query(
          `UPDATE recoveries r SET ${sets.join(", ")} FROM unnest(${arrays.join(", ")}) AS v(${columns.join(", ")})
           WHERE r.id = v.id AND r.state = v.from_state AND r.locked_by = $1 AND r.lease_until > now() RETURNING r.*`,
          params,
        );
        moved.push(...rows.map(fromRow));
      }
      const byId = new Map(moves.map((m) => [m.recovery.id, m]));
      const done = moved.map((r) => byId.get(r.id)!);
      await sql.query(
        `INSERT INTO transitions (recovery_id, from_state, to_state, worker, detail) SELECT id, from_state, to_state, $1, detail FROM unnest($2::int[], $3::text[], $4::text[], $5::text[]) AS v(id, from_state, to_state, detail)`,
        [worker, done.map((m) => m.recovery.id), done.map((m) => m.recovery.state), done.map((m) => m.to), done.map((m) => (m.detail === undefined ? null : storableText(m.detail, 4_000)))],
      );
      return moved;
    });
  }

  async get(id: number): Promise<Recovery | undefined> {
    const rows = await this.db.query(`SELECT * FROM recoveries WHERE id = $1`, [id]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async list(): Promise<Recovery[]> {
    return (await this.db.query(`SELECT * FROM recoveries ORDER BY id`)).map(fromRow);
  }

  /** The `limit` most recently updated recoveries (every worker's), newest first; ties by id, newest first. */
  async recent(limit: number): Promise<Recovery[]> {
    return (await this.db.query(`SELECT * FROM recoveries ORDER BY updated_at DESC, id DESC LIMIT $1`, [limit])).map(fromRow);
  }

  async countsByState(): Promise<Map<RecoveryState, number>> {
    const rows = await this.db.query<{ state: string; n: string | number }>(`SELECT state, count(*) AS n FROM recoveries GROUP BY state`);
    return new Map(rows.map((r) => [r.state as RecoveryState, Number(r.n)]));
  }

  async transitions(id: number): Promise<{ from: RecoveryState; to: RecoveryState; worker: string; detail?: string }[]> {
    const rows = await this.db.query(`SELECT from_state, to_state, worker, detail FROM transitions WHERE recovery_id = $1 ORDER BY id`, [id]);
    return rows.map((r) => ({ from: r.from_state as RecoveryState, to: r.to_state as RecoveryState, worker: r.worker as string, detail: (r.detail as string | null) ?? undefined }));
  }

  /**
   * Per collateral chain, the seconds (this database's clock) since the oldest take whose SEIZE is still in flight
   * was recorded as mined (its transition to `taken`).
   */
  async oldestInFlightSeconds(): Promise<Map<number, number>> {
    const rows = await this.db.query<{ eid: string; age: string }>(
      `SELECT r.collateral_eid::text AS eid, extract(epoch FROM now() - min(t.at))::text AS age
       FROM recoveries r JOIN transitions t ON t.recovery_id = r.id AND t.to_state = 'taken'
       WHERE r.state IN ('taken', 'verified', 'stalled') AND r.collateral_eid IS NOT NULL
       GROUP BY r.collateral_eid`,
    );
    return new Map(rows.map((r) => [Number(r.eid), Number(r.age)]));
  }

  /** USD value (WAD) of collateral bought but not yet delivered on a spoke: the relayer's exposure there. */
  async exposure(collateralEid: number): Promise<bigint> {
    const rows = await this.db.query<{ total: string | null }>(
      `SELECT sum(seize_value)::text AS total FROM recoveries WHERE collateral_eid = $1 AND state IN ('taking', 'taken', 'verified', 'delivered', 'stalled')`,
      [collateralEid],
    );
    return BigInt(rows[0]?.total ?? 0);
  }
}
