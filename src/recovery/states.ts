/**
 * The recovery state machine.
 *
 *   detected ─► kicking ─► kicked ─► taking ─► taken ─► verified ─► delivered ─► seized
 *      ▲  └──────────────────┘ (auction already open)   │
 *      └── auction expired (re-kick) ◄───────────────────┤
 *                             kicked ◄── take reverted ──┘ (retry with backoff)
 *   any open state ─► abandoned (healthy again, outbid, already taken) | skipped (policy: no inventory)
 *   taken / verified ─► stalled (the SEIZE's lzReceive reverted on the spoke: LayerZero's LzReceiveAlert)
 *                        ─► delivered / seized once a retry with more gas gets through
 *
 * `kicking` and `taking` are the intents persisted before a transaction; `kicked` and `taken` after its
 * receipt. taken ─► verified ─► delivered follow the SEIZE packet on the spoke's endpoint; seized is the
 * spoke's Seized event for the take. A take reorged out goes back to `taking` with the same signed
 * transaction, never a new one.
 */
export const RECOVERY_STATES = [
  "detected",
  "kicking",
  "kicked",
  "taking",
  "taken",
  "verified",
  "delivered",
  "stalled",
  "seized",
  "abandoned",
  "skipped",
] as const;

export type RecoveryState = (typeof RECOVERY_STATES)[number];

export const TERMINAL_STATES: readonly RecoveryState[] = ["seized", "abandoned", "skipped"];

/** The terminal states as an SQL list, for `state NOT IN …` in the schema and the store alike. */
export const TERMINAL_STATES_SQL = `(${TERMINAL_STATES.map((s) => `'${s}'`).join(", ")})`;

/**
 * The states of a recovery before its take is mined. An account has at most one recovery in them; once its
 * take is mined (taken and after: the SEIZE on its way), the hub's books have moved and the account, if still
 * under HF 1, can be recovered again without waiting for the bridge.
 */
export const WORKING_STATES: readonly RecoveryState[] = ["detected", "kicking", "kicked", "taking"];
export const WORKING_STATES_SQL = `(${WORKING_STATES.map((s) => `'${s}'`).join(", ")})`;

const NEXT: Record<RecoveryState, readonly RecoveryState[]> = {
  detected: ["kicking", "kicked", "taking", "abandoned", "skipped"],
  kicking: ["kicked", "detected", "abandoned", "kicking"],
  kicked: ["taking", "detected", "abandoned", "skipped", "kicked"],
  taking: ["taken", "kicked", "detected", "abandoned", "taking"],
  // Self-transitions record a take re-included in another block after a reorg.
  taken: ["taken", "verified", "delivered", "seized", "taking", "stalled"],
  verified: ["verified", "delivered", "seized", "taking", "stalled"],
  stalled: ["stalled", "verified", "delivered", "seized", "taking"],
  delivered: ["delivered", "seized", "taking"],
  seized: [],
  abandoned: [],
  skipped: [],
};

export function canTransition(from: RecoveryState, to: RecoveryState): boolean {
  return NEXT[from].includes(to);
}

export function isTerminal(state: RecoveryState): boolean {
  return TERMINAL_STATES.includes(state);
}
