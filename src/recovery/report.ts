/**
 * The relayer's report: what only the relayer knows and the chains do not show — recoveries detected, intents
 * persisted before a transaction (kicking, taking), those skipped by policy or abandoned — as plain JSON for the
 * indexer's page (`salvage relay`'s GET /recoveries). Counts cover every worker sharing the database; bigints
 * are decimal strings and dates ISO 8601.
 */
import type { Relayer } from "./relayer.js";
import { RECOVERY_STATES, type RecoveryState } from "./states.js";
import type { Recovery } from "./store.js";

/** One recovery as the report shows it. */
export interface ReportedRecovery {
  id: number;
  account: string;
  state: RecoveryState;
  /** Why it waits, was skipped or abandoned (the last reason recorded); null when none. */
  reason: string | null;
  /** The hub's take id, decimal; null before the take is mined. */
  takeId: string | null;
  /** The SEIZE packet's LayerZero GUID; null before the take is mined. */
  guid: string | null;
  takeTx: string | null;
  /** The spoke transaction that delivered the SEIZE; null until delivered. */
  deliverTx: string | null;
  /** ISO 8601. */
  updatedAt: string;
}

export interface RelayerReport {
  /** The reporting relayer's workerId. */
  worker: string;
  /** Recoveries per state, every state of RECOVERY_STATES (0 when none), across all workers of the database. */
  states: Record<RecoveryState, number>;
  /** The most recently updated recoveries, newest first. */
  recent: ReportedRecovery[];
}

/** The default number of recent recoveries in a report. */
export const DEFAULT_RECENT = 20;

function reported(recovery: Recovery): ReportedRecovery {
  return {
    id: recovery.id,
    account: recovery.account,
    state: recovery.state,
    reason: recovery.reason ?? null,
    takeId: recovery.takeId === undefined ? null : recovery.takeId.toString(),
    guid: recovery.guid ?? null,
    takeTx: recovery.takeTx ?? null,
    deliverTx: recovery.deliverTx ?? null,
    updatedAt: recovery.updatedAt.toISOString(),
  };
}

/** The report of `relayer`'s database: counts by state and the `recent` most recently updated recoveries. */
export async function relayerReport(relayer: Pick<Relayer, "store" | "workerId">, recent = DEFAULT_RECENT): Promise<RelayerReport> {
  const [counts, rows] = await Promise.all([relayer.store.countsByState(), relayer.store.recent(recent)]);
  const states = Object.fromEntries(RECOVERY_STATES.map((state) => [state, counts.get(state) ?? 0])) as Record<RecoveryState, number>;
  return { worker: relayer.workerId, states, recent: rows.map(reported) };
}
