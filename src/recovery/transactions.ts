/**
 * Transactions that must happen at most once. Each is signed, stored, and only then broadcast; a restart
 * rebroadcasts the stored bytes instead of signing anew, and a fee bump re-signs the same nonce, so every
 * attempt of one step competes for one nonce and at most one of them can ever be mined.
 *
 * Nonces come from a row per (chain, sender) locked for the allocation, so several relayer processes
 * sharing a key never hand out the same nonce, and every allocated nonce has a stored transaction.
 */
import { type Address, type Hex, type LocalAccount, type TransactionReceipt, keccak256, parseTransaction } from "viem";
import type { ChainClients } from "../chains/clients.js";
import { describeError } from "../chains/errors.js";
import type { Database, Sql } from "./db.js";
import { LeaseLostError } from "./store.js";

export interface TxRequest {
  /** Absent for a contract creation. */
  to?: Address;
  data: Hex;
  value?: bigint;
  /** Gas limit; estimated (plus 25%) when omitted. Estimation reverts surface here, before anything is stored. */
  gas?: bigint;
  /** The most a fee bump may offer per gas for this transaction (what its plan can pay); the manager's cap when absent. */
  maxFeeCapWei?: bigint;
  /**
   * Fees the first signing offers at most: those of the transactions this one must follow in their block (a
   * node orders by fee, then arrival). A later fee bump may pass them: by then the block has been mined.
   */
  follow?: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint };
}

export interface TxRow {
  id: number;
  recoveryId: number | null;
  step: string;
  nonce: bigint;
  hash: Hex;
  raw: Hex;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
  maxFeeCapWei?: bigint;
  status: "pending" | "mined" | "replaced";
  createdAt: Date;
}

export interface TxManagerOptions {
  /** Re-sign with higher fees when no attempt was mined this long after the last one. */
  bumpAfterMs?: number;
  /** Fee increase per bump, in percent (a node accepts a replacement from +10%). */
  bumpPercent?: bigint;
  /** Tip offered on a first attempt. */
  priorityFeeWei?: bigint;
  /** Never offer more than this per gas. */
  maxFeeCapWei?: bigint;
  pollMs?: number;
  /** poll() resends a pending attempt at most this often. */
  rebroadcastMs?: number;
  /** poll() re-signs an attempt at higher fees when the node still holds nothing ready at its nonce this long after it was signed. */
  stuckAtNonceMs?: number;
  /** Told when the node refuses a stored attempt (the attempt stays stored and is resent). */
  log?: { warn(obj: object, msg?: string): void };
}

export class StuckTransactionError extends Error {}
/** The step already has a stored transaction (another worker stored it): confirm that one instead. */
export class AlreadySubmittedError extends Error {}

function rowOf(r: Record<string, unknown>): TxRow {
  return {
    id: Number(r.id),
    recoveryId: r.recovery_id === null ? null : Number(r.recovery_id),
    step: r.step as string,
    nonce: BigInt(r.nonce as string),
    hash: r.hash as Hex,
    raw: r.raw as Hex,
    maxFeePerGas: BigInt(r.max_fee_per_gas as string),
    maxPriorityFeePerGas: BigInt(r.max_priority_fee_per_gas as string),
    maxFeeCapWei: r.max_fee_cap === null || r.max_fee_cap === undefined ? undefined : BigInt(r.max_fee_cap as string),
    status: r.status as TxRow["status"],
    createdAt: new Date(r.created_at as string),
  };
}

/** Errors a node returns for a raw transaction it has already seen or already mined. */
const ALREADY_SENT = /already known|nonce too low|known transaction|replacement transaction underpriced|transaction already imported/i;

export class TxManager {
  private readonly bumpAfterMs: number;
  private readonly bumpPercent: bigint;
  private readonly priorityFeeWei: bigint;
  private readonly maxFeeCapWei: bigint;
  private readonly pollMs: number;
  private readonly rebroadcastMs: number;
  private readonly stuckAtNonceMs: number;
  private readonly lastBroadcast = new Map<Hex, number>();
  private readonly log?: { warn(obj: object, msg?: string): void };
  /**
   * The head's base fee and the key's pending nonce, each read at most every 250 ms: poll runs for every batch in
   * flight every pass, and a crash stores a dozen batches in a second, while the node may be busy mining a block.
   */
  private readonly reads = new Map<"baseFee" | "pendingNonce", { at: number; value: Promise<bigint> }>();

  constructor(
    private readonly db: Database,
    private readonly chainId: number,
    private readonly clients: ChainClients,
    readonly account: LocalAccount,
    options: TxManagerOptions = {},
  ) {
    this.bumpAfterMs = options.bumpAfterMs ?? 15_000;
    this.bumpPercent = options.bumpPercent ?? 25n;
    this.priorityFeeWei = options.priorityFeeWei ?? 1_000_000_000n;
    this.maxFeeCapWei = options.maxFeeCapWei ?? 500_000_000_000n;
    this.pollMs = options.pollMs ?? 100;
    this.rebroadcastMs = options.rebroadcastMs ?? 3_000;
    this.stuckAtNonceMs = options.stuckAtNonceMs ?? 2_000;
    this.log = options.log;
  }

  get address(): Address {
    return this.account.address;
  }

  async attempts(recoveryId: number | null, step: string): Promise<TxRow[]> {
    const rows = await this.db.query(
      `SELECT * FROM transactions WHERE recovery_id IS NOT DISTINCT FROM $1 AND step = $2 AND chain_id = $3 ORDER BY id`,
      [recoveryId, step, this.chainId],
    );
    return rows.map(rowOf);
  }

  /**
   * Signs, stores and broadcasts a transaction for (recovery, step). With `worker`, the store happens only
   * while that worker holds the recovery's lease and no attempt of the step exists (checked under a row
   * lock in the same database transaction), so two workers can never sign two transactions for one step.
   */
  async submit(recoveryId: number | null, step: string, request: TxRequest, worker?: string): Promise<TxRow> {
    return this.store(request, step, recoveryId, async (tx) => {
      if (recoveryId === null || worker === undefined) return;
      const held = await tx.query(`SELECT id FROM recoveries WHERE id = $1 AND locked_by = $2 AND lease_until > now() FOR UPDATE`, [recoveryId, worker]);
      if (held.length === 0) throw new LeaseLostError(recoveryId, worker);
      const existing = await tx.query(`SELECT id FROM transactions WHERE recovery_id = $1 AND step = $2 AND chain_id = $3`, [recoveryId, step, this.chainId]);
      if (existing.length > 0) throw new AlreadySubmittedError(`recovery ${recoveryId} step ${step} already has a stored transaction`);
    });
  }

  /**
   * Signs, stores and broadcasts one transaction that carries the steps of many recoveries (a batch). It is
   * stored only if `worker` holds every one of their leases and none of them has a transaction in flight
   * (`tx_step` unset), checked under row locks; the same database transaction sets their `tx_step`. So a
   * recovery is never in two batches, and a stalled worker can never sign a second one for it.
   */
  async submitBatch(step: string, recoveryIds: readonly number[], request: TxRequest, worker: string): Promise<TxRow> {
    return this.store(request, step, null, async (tx) => {
      const held = await tx.query<{ id: number }>(
        `SELECT id FROM recoveries WHERE id = ANY($1::int[]) AND locked_by = $2 AND lease_until > now() AND tx_step IS NULL FOR UPDATE`,
        [recoveryIds, worker],
      );
      if (held.length !== recoveryIds.length) {
        const missing = recoveryIds.find((id) => !held.some((h) => Number(h.id) === id))!;
        throw new LeaseLostError(missing, worker);
      }
      await tx.query(`UPDATE recoveries SET tx_step = $2 WHERE id = ANY($1::int[])`, [recoveryIds, step]);
    });
  }

  private async store(request: TxRequest, step: string, recoveryId: number | null, guard: (tx: Sql) => Promise<void>): Promise<TxRow> {
    const reader = this.clients.public;
    const gas = request.gas ?? ((await reader.estimateGas({ account: this.account, to: request.to, data: request.data, value: request.value })) * 125n) / 100n;
    const onChainNonce = this.pendingNonce();
    const baseFee = await this.baseFee();
    const cap = request.maxFeeCapWei !== undefined ? minFee(request.maxFeeCapWei, this.maxFeeCapWei) : this.maxFeeCapWei;
    const maxPriorityFeePerGas = minFee(minFee(this.priorityFeeWei, cap), request.follow?.maxPriorityFeePerGas ?? cap);
    // A burst of full blocks (a crash) raises the base fee 12.5% a block: a batch offers four times today's base
    // fee (twelve full blocks of headroom; EIP-1559 charges the base fee plus the tip, never the cap), so batches
    // signed together are not stranded behind fee bumps. Bumps then raise it up to the plan's cap.
    const headroom = request.maxFeeCapWei !== undefined ? 4n : 2n;
    const maxFeePerGas = minFee(minFee(baseFee * headroom + maxPriorityFeePerGas, cap), request.follow?.maxFeePerGas ?? cap);
    const row = await this.db.transaction(async (tx) => {
      await guard(tx);
      await tx.query(`INSERT INTO nonces (chain_id, address, next_nonce) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING`, [this.chainId, this.address]);
      const [locked] = await tx.query<{ next_nonce: string }>(`SELECT next_nonce FROM nonces WHERE chain_id = $1 AND address = $2 FOR UPDATE`, [this.chainId, this.address]);
      const onChain = await onChainNonce;
      const stored = BigInt(locked!.next_nonce);
      const nonce = stored > onChain ? stored : onChain;
      const signed = await this.sign({ ...request, gas }, nonce, maxFeePerGas, maxPriorityFeePerGas);
      await tx.query(`UPDATE nonces SET next_nonce = $3 WHERE chain_id = $1 AND address = $2`, [this.chainId, this.address, (nonce + 1n).toString()]);
      const [inserted] = await tx.query(
        `INSERT INTO transactions (recovery_id, step, chain_id, sender, nonce, hash, raw, max_fee_per_gas, max_priority_fee_per_gas, max_fee_cap, gas_limit)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
        [recoveryId, step, this.chainId, this.address, nonce.toString(), signed.hash, signed.raw, maxFeePerGas.toString(), maxPriorityFeePerGas.toString(), cap.toString(), gas.toString()],
      );
      return rowOf(inserted!);
    });
    // Stored means owned: if the node refuses it now (underpriced, unreachable), poll()/confirm() resend and
    // bump it. Throwing here would let a caller sign a new transaction behind a nonce nobody sends.
    this.lastBroadcast.set(row.hash, Date.now());
    await this.resend(row);
    return row;
  }

  /** Broadcasts a stored attempt; a refusal is logged, not thrown: the attempt stays stored and is resent. */
  private async resend(row: TxRow): Promise<void> {
    await this.broadcast(row).catch((error) =>
      this.log?.warn({ chainId: this.chainId, nonce: String(row.nonce), tx: row.hash, step: row.step, error: describeError(error) }, "node refused a stored transaction; it stays stored and is resent"),
    );
  }

  /** Sends stored bytes again (after a restart, an RPC outage or a reorg). Harmless if the node has them. */
  async broadcast(row: TxRow): Promise<void> {
    try {
      await this.clients.public.request({ method: "eth_sendRawTransaction", params: [row.raw] });
    } catch (error) {
      if (!ALREADY_SENT.test(String((error as Error).message) + String((error as { details?: string }).details ?? ""))) throw error;
    }
  }

  /**
   * Waits until one attempt of (recovery, step) is mined and returns its receipt, rebroadcasting the
   * pending attempts and bumping fees while it waits. Throws StuckTransactionError after `timeoutMs`;
   * the stored attempts remain, and the next call resumes them.
   */
  async confirm(recoveryId: number | null, step: string, timeoutMs = 60_000): Promise<{ receipt: TransactionReceipt; row: TxRow }> {
    const deadline = Date.now() + timeoutMs;
    let rows = await this.attempts(recoveryId, step);
    if (rows.length === 0) throw new Error(`no transaction stored for recovery ${recoveryId} step ${step}`);
    for (const row of rows) await this.resend(row);
    for (;;) {
      const mined = await this.minedAttempt(recoveryId, step, rows);
      if (mined) return mined;
      const last = rows[rows.length - 1]!;
      if (Date.now() - last.createdAt.getTime() > this.bumpAfterMs) {
        rows = [...rows, await this.bump(last)];
      }
      if (Date.now() > deadline) throw new StuckTransactionError(`${step} of recovery ${recoveryId}: no attempt mined after ${timeoutMs} ms (${rows.length} attempts, nonce ${last.nonce})`);
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  /**
   * One look at (recovery, step), without waiting: the receipt of the attempt that was mined, if any;
   * otherwise rebroadcasts the pending attempts and bumps the fee when due, and returns undefined.
   */
  async poll(recoveryId: number | null, step: string): Promise<{ receipt: TransactionReceipt; row: TxRow } | undefined> {
    let rows = await this.attempts(recoveryId, step);
    if (rows.length === 0) throw new Error(`no transaction stored for recovery ${recoveryId} step ${step}`);
    const mined = await this.minedAttempt(recoveryId, step, rows);
    if (mined) return mined;
    // The node has them (they were broadcast when stored): resend only now and then, for a node that restarted or
    // dropped them; at once when the node's pending nonce is this attempt's, i.e. it holds nothing ready there and
    // every later nonce of the key waits behind it.
    const now = Date.now();
    const pending = await this.pendingNonce().catch(() => undefined);
    let missing = false;
    for (const row of rows) {
      missing ||= row.nonce === pending;
      if (row.nonce !== pending && now - (this.lastBroadcast.get(row.hash) ?? 0) < this.rebroadcastMs) continue;
      this.lastBroadcast.set(row.hash, now);
      if (row.nonce === pending) this.log?.warn({ chainId: this.chainId, nonce: String(row.nonce), tx: row.hash, step: row.step }, "node holds nothing ready at a stored attempt's nonce; resending it");
      await this.resend(row);
    }
    // And the key's later attempts after it, in nonce order: anvil was seen to leave a later nonce it held out of
    // blocks once the missing one came back, until it was sent again.
    if (missing) for (const row of await this.pendingAfter(pending!)) await this.resend(row);
    const last = rows[rows.length - 1]!;
    // Bumped when due, or at once when the base fee has risen past what it offers (full blocks in a crash raise it
    // 12.5% a block): a node cannot mine it, and every later nonce of the key waits behind it. Likewise when the node
    // still holds nothing ready at its nonce a while after it was sent and resent: a replacement is validated anew.
    // (Seen in the crash benchmark: anvil took the resent bytes of a batch without an error, yet its pending nonce
    // stayed at the batch's and two blocks with room for it were mined without it.)
    const underpriced = last.maxFeePerGas < (await this.baseFee());
    const stuckAtNonce = last.nonce === pending && now - last.createdAt.getTime() > this.stuckAtNonceMs;
    if (underpriced || stuckAtNonce || now - last.createdAt.getTime() > this.bumpAfterMs) rows = [...rows, await this.bump(last)];
    return undefined;
  }

  /** The key's stored attempts not known mined above `nonce`, in nonce order. */
  private async pendingAfter(nonce: bigint): Promise<TxRow[]> {
    const rows = await this.db.query(
      `SELECT * FROM transactions WHERE chain_id = $1 AND sender = $2 AND status = 'pending' AND nonce > $3 ORDER BY nonce, id`,
      [this.chainId, this.address, nonce.toString()],
    );
    return rows.map(rowOf);
  }

  private baseFee(): Promise<bigint> {
    return this.recent("baseFee", () => this.clients.public.getBlock().then((b) => b.baseFeePerGas ?? 0n));
  }

  /**
   * The key's pending transaction count on the node. Our own transactions are counted by the stored nonce,
   * which a transaction takes under a row lock; this read only catches the key used elsewhere (or a database
   * that lost its rows), which a read 250 ms old catches as well as one taken under the lock.
   */
  private pendingNonce(): Promise<bigint> {
    return this.recent("pendingNonce", () => this.clients.public.getTransactionCount({ address: this.address, blockTag: "pending" }).then(BigInt));
  }

  private recent(key: "baseFee" | "pendingNonce", read: () => Promise<bigint>): Promise<bigint> {
    const now = Date.now();
    const last = this.reads.get(key);
    if (last && now - last.at <= 250) return last.value;
    const value = read();
    this.reads.set(key, { at: now, value });
    value.catch(() => this.reads.delete(key));
    return value;
  }

  private async minedAttempt(recoveryId: number | null, step: string, rows: TxRow[]): Promise<{ receipt: TransactionReceipt; row: TxRow } | undefined> {
    for (const row of rows) {
      const receipt = await this.clients.public.getTransactionReceipt({ hash: row.hash }).catch(() => undefined);
      if (!receipt) continue;
      await this.db.query(
        `UPDATE transactions SET status = CASE WHEN id = $1 THEN 'mined' ELSE 'replaced' END, block_number = CASE WHEN id = $1 THEN $2::bigint END, block_hash = CASE WHEN id = $1 THEN $3 END
         WHERE recovery_id IS NOT DISTINCT FROM $4 AND step = $5 AND chain_id = $6`,
        [row.id, receipt.blockNumber.toString(), receipt.blockHash, recoveryId, step, this.chainId],
      );
      return { receipt, row };
    }
    return undefined;
  }

  /** A stored attempt is no longer in the chain (reorg): mark it pending again so confirm() resumes it. */
  async reopen(recoveryId: number | null, step: string): Promise<void> {
    await this.db.query(`UPDATE transactions SET status = 'pending', block_number = NULL, block_hash = NULL WHERE recovery_id IS NOT DISTINCT FROM $1 AND step = $2 AND chain_id = $3`, [recoveryId, step, this.chainId]);
  }

  private async bump(last: TxRow): Promise<TxRow> {
    const stored = parseTransaction(last.raw);
    const baseFee = await this.baseFee();
    const raise = (v: bigint) => (v * (100n + this.bumpPercent)) / 100n + 1n;
    const maxPriorityFeePerGas = raise(last.maxPriorityFeePerGas);
    const cap = last.maxFeeCapWei ?? this.maxFeeCapWei;
    const maxFeePerGas = minFee(maxBig(raise(last.maxFeePerGas), baseFee * 2n + maxPriorityFeePerGas), cap);
    // At the cap already: another attempt at the same price cannot replace the last one.
    if (maxFeePerGas <= last.maxFeePerGas) return last;
    const signed = await this.sign(
      { to: stored.to ?? undefined, data: stored.data ?? "0x", value: stored.value, gas: stored.gas! },
      last.nonce,
      maxFeePerGas,
      maxPriorityFeePerGas,
    );
    const [inserted] = await this.db.query(
      `INSERT INTO transactions (recovery_id, step, chain_id, sender, nonce, hash, raw, max_fee_per_gas, max_priority_fee_per_gas, max_fee_cap, gas_limit)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
      [last.recoveryId, last.step, this.chainId, this.address, last.nonce.toString(), signed.hash, signed.raw, maxFeePerGas.toString(), maxPriorityFeePerGas.toString(), cap.toString(), String(stored.gas!)],
    );
    const row = rowOf(inserted!);
    await this.resend(row);
    return row;
  }

  private async sign(request: Required<Pick<TxRequest, "data" | "gas">> & { to?: Address; value?: bigint }, nonce: bigint, maxFeePerGas: bigint, maxPriorityFeePerGas: bigint) {
    const raw = await this.account.signTransaction({
      type: "eip1559",
      chainId: this.chainId,
      to: request.to,
      data: request.data,
      value: request.value ?? 0n,
      gas: request.gas,
      nonce: Number(nonce),
      maxFeePerGas,
      maxPriorityFeePerGas: maxPriorityFeePerGas > maxFeePerGas ? maxFeePerGas : maxPriorityFeePerGas,
    });
    return { raw, hash: keccak256(raw) };
  }
}

function minFee(a: bigint, cap: bigint): bigint {
  return a < cap ? a : cap;
}

function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
