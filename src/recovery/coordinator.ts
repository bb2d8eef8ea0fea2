/**
 * The recovery engine: drives every open recovery through the state machine (states.ts) in passes, with
 * the chain read in batches and kicks and takes sent in batches through the liquidator's executor.
 *
 * One pass (`work`): lease every due recovery (one statement), then three phases side by side:
 * - plan: one batched read (Multicall3) of the market and every account to plan (at the pending state while feed
 *   updates wait in the hub's pool: their batches then follow those updates into their block, see backrun()); the policy decides per
 *   account (take now, kick and wait for the bonus, wait, skip); orders are packed into batches that fit a
 *   share of the hub's block gas, the intents are stored, each batch is signed, stored and broadcast, and
 *   the pass goes on without waiting for a receipt: many batches are in flight per key at once;
 * - confirm: each batch in flight is looked at once (receipt, rebroadcast, fee bump); a mined batch is read
 *   order by order (one order's revert is its own: Failed carries the revert data, classified by name);
 * - settle: takes in flight are followed to the spoke (packet state, Seized, LzReceiveAlert) for all of
 *   them in a few reads, and checked against hub reorgs.
 * Then every lease is given back in one statement, each recovery due again at its own time.
 *
 * Idempotency rests on: (1) at most one working recovery per account, before its take is mined (a unique
 * index and detection's guard; once the take is mined the account may be recovered again); (2) a transaction is
 * signed and stored before it is broadcast, under the leases of all its recoveries and only if none has
 * one in flight, and a retry resends the stored bytes (same nonce); (3) every decision re-reads the chain.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { type Address, BlockNotFoundError, type Hex, type TransactionReceipt, TransactionReceiptNotFoundError, encodeFunctionData, erc20Abi, maxUint256 } from "viem";
import { describeError } from "../chains/errors.js";
import { mapLimit } from "../util/concurrency.js";
import type { ChainClients } from "../chains/clients.js";
import { bonusAt } from "../health/health.js";
import { WAD } from "../health/wad.js";
import { type Coverage, type PolicyConfig, type TakePlan, batchMaxFeePerGas, coverage, nearestUnderWaterFirst, planTake } from "./policy.js";
import { DeliveryTimes } from "./delivery-times.js";
import type { AccountView, LendingProtocol, MarketView, Order, OrderOutcome, Settlement } from "./protocol.js";
import type { RecoveryState } from "./states.js";
import { LeaseLostError, type Move, type Recovery, type RecoveryPatch, type RecoveryStore } from "./store.js";
import type { TxManager } from "./transactions.js";
import type { PendingUpdates } from "./detection/types.js";
import type { Redeliverer } from "../layerzero/redeliver.js";
import { DEFAULT_STALL_RULE, type StallRule, stallBound } from "../layerzero/stall.js";

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface TransitionEvent {
  recovery: Recovery;
  from: RecoveryState;
  to: RecoveryState;
  detail?: string;
}

export interface CoordinatorOptions {
  protocol: LendingProtocol;
  store: RecoveryStore;
  /** The taker's key on the hub. */
  hubTx: TxManager;
  hubClients: ChainClients;
  /** The liquidator's executor contract (SalvageExecutor) on the hub, owned by the taker. */
  executor: Address;
  /** Debt tokens the executor pulls from the taker. */
  debtTokens: Address[];
  policy: PolicyConfig;
  /** Measured delivery time per pathway: a take's price risk is counted over it (the policy's guess until it has enough). */
  deliveryTimes?: DeliveryTimes;
  /** Receives seized collateral on every spoke. */
  receiver: Address;
  /** USD price (WAD) of the hub chain's native token, for gas and LayerZero fees. */
  hubNativePriceWad: bigint;
  /** This process's lease holder id. */
  worker: string;
  leaseMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** How soon a recovery waiting on the bonus, a batch or a packet is looked at again. */
  recheckMs?: number;
  /** Most recoveries leased in one pass. */
  claimLimit?: number;
  /** Largest share of the hub's block gas limit one batch may use (smaller batches pack blocks tighter). */
  batchGasShare?: number;
  /** Most orders in one batch. */
  maxBatchOrders?: number;
  /** When a pathway to a collateral chain is stalled (src/layerzero/stall.ts): no take crosses it until it clears. */
  pathwayStall?: StallRule;
  /**
   * The guardian's retry of a verified SEIZE whose lzReceive failed (src/layerzero/redeliver.ts), where salvage
   * does not deliver itself; absent where its own deliverer retries.
   */
  redeliver?: Pick<Redeliverer, "request" | "status">;
  log?: Logger;
  /**
   * Called after each persisted transition (with the state's name), after each batch broadcast
   * ("batch:broadcast") and when a mined batch is read, before its orders are applied ("batch:mined").
   * The CLI uses it for fault injection in the crash-safety tests (SALVAGE_KILL_AT).
   */
  checkpoint?: (point: string) => void | Promise<void>;
}

const silent: Logger = { info() {}, warn() {}, error() {} };
/** Batches signed or read back at once, and transitions written at once (the PostgreSQL pool holds 8). */
const SEND_CONCURRENCY = 4;
/** Accounts read in one Multicall3, and reads at once. */
const PLAN_CHUNK = 128;
const PLAN_CONCURRENCY = 4;
const MOVE_CONCURRENCY = 4;
const IN_FLIGHT: readonly RecoveryState[] = ["taken", "verified", "delivered", "stalled"];

interface Due {
  at: number;
  reason?: string;
}

interface Planned {
  r: Recovery;
  order: Order;
  plan: TakePlan;
  /** The bonus the plan was made at. */
  bonus: bigint;
  gas: bigint;
}

export class Coordinator extends EventEmitter<{ transition: [TransitionEvent] }> {
  private readonly o: Required<Omit<CoordinatorOptions, "checkpoint" | "redeliver">> & Pick<CoordinatorOptions, "checkpoint" | "redeliver">;
  /** Collateral chains (eids) whose pathway is stalled: no take crosses them. */
  private readonly stalled = new Set<number>();
  /** Feed updates in the hub's pool, as detection last saw them: plans read the pending state and batches follow them. */
  private pending: PendingUpdates | null = null;
  /** The hub's unusable prices as the last read saw them (`asset id: reason`), logged when they change. */
  private unusablePrices = "";
  /** Accounts (lower case) whose take the last pass saw mined, with the take's block: each may have a new recovery now. */
  private taken = new Map<string, bigint>();
  /**
   * The auction (by lower-case account) in which this process last took from each account. While that auction
   * runs, the account's next take is a second one, and waits behind every account not taken yet (see plan).
   */
  private readonly tookIn = new Map<string, bigint>();

  constructor(options: CoordinatorOptions) {
    super();
    this.o = {
      leaseMs: 60_000,
      retryBaseMs: 500,
      retryMaxMs: 30_000,
      recheckMs: 250,
      claimLimit: 5_000,
      batchGasShare: 1 / 6,
      maxBatchOrders: 128,
      pathwayStall: DEFAULT_STALL_RULE,
      log: silent,
      deliveryTimes: new DeliveryTimes(),
      // An option passed as undefined keeps its default.
      ...(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as CoordinatorOptions),
    };
  }

  private get reader() {
    return this.o.hubClients.public;
  }

  /** Collateral chains (eids) whose pathway is stalled as of the last pass: no take crosses them. */
  stalledPathways(): number[] {
    return [...this.stalled].sort((a, b) => a - b);
  }

  /**
   * Reads the age of each collateral chain's oldest SEIZE in flight and marks the pathway stalled past its bound
   * (its own delivery history, src/layerzero/stall.ts), cleared once under it; says so when either changes.
   */
  private async refreshStalled(): Promise<void> {
    const ages = await this.o.store.oldestInFlightSeconds();
    for (const eid of new Set([...ages.keys(), ...this.stalled])) {
      const age = ages.get(eid);
      const s = this.o.deliveryTimes.stats(eid);
      const bound = stallBound(s?.p99 ?? null, s?.samples ?? 0, this.o.pathwayStall);
      const stalled = age !== undefined && age > Number(bound);
      if (stalled && !this.stalled.has(eid)) {
        this.o.log.warn({ eid, oldestInFlightSeconds: Math.round(age), boundSeconds: Number(bound), deliveries: s?.samples ?? 0 }, "pathway stalled: no take crosses it until its SEIZEs in flight are delivered");
        this.stalled.add(eid);
      } else if (!stalled && this.stalled.has(eid)) {
        this.o.log.info({ eid, oldestInFlightSeconds: age === undefined ? null : Math.round(age), boundSeconds: Number(bound) }, "pathway cleared: takes cross it again");
        this.stalled.delete(eid);
      }
    }
  }

  /** Lets the executor pull every debt token from the taker, once. */
  async ensureAllowances(confirmTimeoutMs: number): Promise<void> {
    for (const token of this.o.debtTokens) {
      const allowance = await this.reader.readContract({ address: token, abi: erc20Abi, functionName: "allowance", args: [this.o.hubTx.address, this.o.executor] });
      if (allowance >= maxUint256 / 2n) continue;
      const step = `approve:${token}:${this.o.executor}`;
      if ((await this.o.hubTx.attempts(null, step)).length === 0) {
        await this.o.hubTx.submit(null, step, { to: token, data: encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [this.o.executor, maxUint256] }) });
      }
      await this.o.hubTx.confirm(null, step, confirmTimeoutMs);
    }
  }

  /**
   * Detection's latest view of the feed updates in the hub's pool (null: none). While there are some, a pass reads
   * the accounts at the pending state (the updates counted) and signs its batches with fees no higher than the
   * updates' own, so that they are mined after them, in their block: a backrun of the oracle.
   */
  backrun(pending: PendingUpdates | null): void {
    if (pending && !this.pending) this.o.log.info({ txs: pending.txs, maxFeePerGas: String(pending.fees.maxFeePerGas), maxPriorityFeePerGas: String(pending.fees.maxPriorityFeePerGas) }, "feed updates pending: planning at the pending state, batches follow them");
    this.pending = pending;
  }

  /** Opens a recovery for each account that has none open; returns how many were new. */
  async detect(accounts: readonly Address[]): Promise<number> {
    const opened = await this.o.store.detectMany(this.o.protocol.hubChainId, accounts);
    if (opened.length > 0) await this.o.checkpoint?.("detected");
    return opened.length;
  }

  /** One pass over every due recovery; returns how many were leased. */
  async work(): Promise<number> {
    this.taken = new Map();
    const claimed = await this.o.store.claimMany(this.o.worker, this.o.leaseMs, this.o.claimLimit);
    if (claimed.length === 0) return 0;
    const due = new Map<number, Due>(claimed.map((r) => [r.id, { at: Date.now() }]));
    const confirm = claimed.filter((r) => r.txStep && (r.state === "kicking" || r.state === "taking"));
    const settle = claimed.filter((r) => IN_FLIGHT.includes(r.state));
    const plan = claimed.filter((r) => !confirm.includes(r) && !settle.includes(r));
    const started = Date.now();
    // Pathways first: a pass with only SEIZEs in flight is the one that sees a pathway stall or clear.
    await this.refreshStalled().catch((error) => this.o.log.warn({ err: describeError(error) }, "pathway ages not read; stalled pathways as before"));
    const ms: Record<string, number> = {};
    const timed = (name: string, run: () => Promise<void>) => async () => {
      const t = Date.now();
      await run();
      ms[name] = Date.now() - t;
    };
    await Promise.all([
      this.phase("confirm", confirm, due, timed("confirm", () => this.confirmBatches(confirm, due))),
      this.phase("plan", plan, due, timed("plan", () => this.plan(plan, due, ms))),
      this.phase("settle", settle, due, timed("settle", () => this.settle(settle, due))),
    ]);
    this.o.log.info({ claimed: claimed.length, confirm: confirm.length, plan: plan.length, settle: settle.length, ms, passMs: Date.now() - started }, "pass");
    await this.o.store.releaseMany(
      this.o.worker,
      [...due].map(([id, d]) => ({ id, at: new Date(d.at), reason: d.reason })),
    );
    return claimed.length;
  }

  /** A phase that fails (an RPC outage) keeps its recoveries' states and retries them later; the other phases go on. */
  private async phase(name: string, list: Recovery[], due: Map<number, Due>, run: () => Promise<void>): Promise<void> {
    if (list.length === 0) return;
    try {
      await run();
    } catch (error) {
      const reason = `${name} failed: ${describeError(error)}`;
      this.o.log.warn({ phase: name, recoveries: list.length, err: reason }, "recovery phase failed; will retry");
      for (const r of list) {
        const d = due.get(r.id);
        if (d && d.at <= Date.now()) due.set(r.id, { at: Date.now() + this.backoff(r.attempts), reason });
      }
    }
  }

  /**
   * When a batch in flight is looked at again: the next instant of a grid of `recheckMs` shared by every batch, at
   * least `recheckMs` away. Batches sent a few passes apart (a crash's first pass sends many) are then due in the
   * same pass, which sees every one the new block mined, instead of one group per pass.
   */
  private batchRecheck(): number {
    const step = this.o.recheckMs;
    return (Math.floor(Date.now() / step) + 2) * step;
  }

  private backoff(attempts: number): number {
    return Math.min(this.o.retryBaseMs * 2 ** attempts, this.o.retryMaxMs);
  }

  /** Persists a transition; a lost lease drops the recovery from this pass (another worker owns it). */
  private async move(r: Recovery, to: RecoveryState, patch: RecoveryPatch = {}, detail?: string): Promise<Recovery | undefined> {
    let next: Recovery;
    try {
      next = await this.o.store.transition(r, to, this.o.worker, patch, detail);
    } catch (error) {
      if (error instanceof LeaseLostError) {
        this.o.log.warn({ recovery: r.id, account: r.account }, error.message);
        return undefined;
      }
      throw error;
    }
    this.announce(r, next, to, detail);
    await this.o.checkpoint?.(to);
    return next;
  }

  /** Logs a durable transition and tells the listeners. */
  private announce(r: Recovery, next: Recovery, to: RecoveryState, detail: string | undefined): void {
    this.o.log.info({ recovery: r.id, account: r.account, from: r.state, to, detail }, "transition");
    try {
      this.emit("transition", { recovery: next, from: r.state, to, detail });
    } catch (error) {
      // A listener's failure must not stop a recovery whose transition is already durable.
      this.o.log.error({ recovery: r.id, err: (error as Error).message }, "transition listener failed");
    }
  }

  /** Many transitions in one database transaction; the recoveries whose lease was lost are left out (and said so). */
  private async moveMany(moves: Move[]): Promise<Recovery[]> {
    const moved = await this.o.store.transitionMany(moves, this.o.worker);
    const byId = new Map(moved.map((r) => [r.id, r] as const));
    for (const m of moves) {
      const next = byId.get(m.recovery.id);
      const r = m.recovery;
      if (!next) {
        this.o.log.warn({ recovery: r.id, account: r.account }, `recovery ${r.id}: lease lost (or moved) before ${r.state} -> ${m.to}`);
        continue;
      }
      this.announce(r, next, m.to, m.detail);
    }
    for (const to of new Set(moves.filter((m) => byId.has(m.recovery.id)).map((m) => m.to))) await this.o.checkpoint?.(to);
    return moves.flatMap((m) => byId.get(m.recovery.id) ?? []);
  }

  // ------------------------------------------------------------------ plan

  /** `ms` receives the plan's parts: `read` (the chain), `send` (batches stored, signed and broadcast). */
  private async plan(list: Recovery[], due: Map<number, Due>, ms: Record<string, number> = {}): Promise<void> {
    // An intent whose transaction was never stored (the process died in between): plan it again.
    const ready: Recovery[] = [];
    for (const r of list) {
      if ((r.state === "kicking" || r.state === "taking") && !r.txStep) {
        const back = await this.move(r, "detected", {}, "intent never sent: planning again");
        if (back) ready.push(back);
      } else ready.push(r);
    }
    if (ready.length === 0) return;
    // Read in chunks side by side (one Multicall3 each), then planned in one order over all of them: accounts
    // not taken from yet in their auction before those taken already (a first take repays up to the close factor
    // of the whole debt, a second only of what is left), each group nearest to going under water first, so that
    // when the takes need many blocks, the first ones go where a block of delay costs the most. The nonces
    // follow that order, and so does the chain.
    const readStarted = Date.now();
    const pending = this.pending;
    const chunks: Recovery[][] = [];
    for (let i = 0; i < ready.length; i += PLAN_CHUNK) chunks.push(ready.slice(i, i + PLAN_CHUNK));
    const reads = await mapLimit(chunks, PLAN_CONCURRENCY, (chunk) =>
      this.o.protocol.read(chunk.map((r) => r.account), this.o.hubTx.address, pending ? "pending" : "latest").then(
        (read) => ({ chunk, read }),
        (error: unknown) => ({ chunk, error }),
      ),
    );
    ms.read = Date.now() - readStarted;
    const views: { r: Recovery; v: AccountView; market: MarketView; again: boolean; priority: Coverage }[] = [];
    let market: MarketView | undefined;
    for (const x of reads) {
      if (!("read" in x)) {
        this.o.log.warn({ accounts: x.chunk.length, err: describeError(x.error) }, "account read failed");
        for (const r of x.chunk) due.set(r.id, { at: Date.now() + this.backoff(r.attempts), reason: "account read failed" });
        continue;
      }
      market ??= x.read.market;
      for (const r of x.chunk) {
        const v = x.read.accounts.get(r.account.toLowerCase());
        // A price the hub refuses (StalePrice, InvalidPrice) keeps its holders waiting: no kick, no take.
        const unpriced = x.read.unpriced?.get(r.account.toLowerCase());
        if (!v && unpriced) due.set(r.id, { at: Date.now() + this.o.recheckMs * 4, reason: `waits for a usable price: ${unpriced}` });
        else if (!v) due.set(r.id, { at: Date.now() + this.backoff(r.attempts), reason: "account read failed" });
        else views.push({ r, v, market: x.read.market, again: this.takenBefore(v), priority: coverage(v) });
      }
    }
    if (!market) return;
    const unusable = [...(market.unusablePrices ?? [])].map(([id, reason]) => `${id}: ${reason}`).join("; ");
    if (unusable !== this.unusablePrices) {
      if (unusable) this.o.log.warn({ unusablePrices: Object.fromEntries(market.unusablePrices!) }, "hub refuses these prices: accounts holding or owing those assets are neither kicked nor taken until they are usable");
      else this.o.log.info({}, "every price usable again");
      this.unusablePrices = unusable;
    }
    views.sort((x, y) => Number(x.again) - Number(y.again) || nearestUnderWaterFirst(x.priority, y.priority) || x.r.id - y.r.id);

    const inventory = new Map(market.inventory);
    const exposure: Record<number, bigint> = {};
    for (const eid of market.messageFeeWei.keys()) exposure[eid] = await this.o.store.exposure(eid);
    const deliverySeconds = this.o.deliveryTimes.expectedSeconds(market.messageFeeWei.keys(), this.o.policy.expectedDeliverySeconds);
    const stalled = this.stalled;
    const planned: Planned[] = [];
    // Recoveries that end here (healthy, not worth a take) end in one database transaction, beside the batches.
    const ended: Move[] = [];
    for (const { r, v: read, market: m } of views) {
      if (read.healthFactor >= WAD) {
        ended.push({ recovery: r, to: "abandoned", patch: { reason: `healthy: HF ${read.healthFactor}` } });
        continue;
      }
      // Collateral across a stalled pathway is left out of the plan; an account with nothing else waits for it.
      const v = stalled.size === 0 ? read : { ...read, collaterals: read.collaterals.filter((c) => !stalled.has(c.eid)) };
      if (v.collaterals.every((c) => c.amount === 0n) && read.collaterals.some((c) => c.amount > 0n)) {
        due.set(r.id, { at: Date.now() + this.o.recheckMs * 4, reason: `collateral only across stalled pathway(s) to eid ${[...new Set(read.collaterals.filter((c) => c.amount > 0n).map((c) => c.eid))].join(", ")}` });
        continue;
      }
      // A protocol without auctions liquidates at its terms now; in an auction, a kick and take in one transaction
      // take at the kick's bonus, minBonus, and a running auction's bonus only grows.
      const live = v.terms !== undefined || (v.auction.active && m.block.timestamp <= v.auction.startedAt + m.auction.auctionTail);
      const bonus = v.terms?.bonus ?? (live ? bonusAt(m.auction, v.auction.startedAt, m.block.timestamp) : m.auction.minBonus);
      const gas = live ? this.o.protocol.gas.take : this.o.protocol.gas.kick + this.o.protocol.gas.take;
      const plan = planTake({ ...this.o.policy, takeGas: gas }, this.planInput(v, m, bonus, inventory, exposure, deliverySeconds));
      if (plan.action === "skip") {
        ended.push({ recovery: r, to: "skipped", patch: { reason: plan.reason } });
        continue;
      }
      if (plan.action === "take") {
        inventory.set(plan.debtAssetId, (inventory.get(plan.debtAssetId) ?? 0n) - plan.maxRepay);
        exposure[plan.collateralEid] = (exposure[plan.collateralEid] ?? 0n) + plan.seizeValue;
        planned.push({ r, plan, bonus, gas, order: this.order(r.account, !live, true, plan, m) });
        continue;
      }
      if (!live) {
        // Not worth a take at minBonus: kick only if a take pays by the time the bonus is at its maximum.
        // Dust that never pays is never kicked (no gas spent on it every auction).
        const later = planTake({ ...this.o.policy, takeGas: this.o.protocol.gas.take }, this.planInput(v, m, m.auction.maxBonus, inventory, exposure, deliverySeconds));
        if (later.action === "take") {
          planned.push({ r, plan: later, bonus: m.auction.maxBonus, gas: this.o.protocol.gas.kick, order: this.order(r.account, true, false, later, m) });
          continue;
        }
        due.set(r.id, { at: Date.now() + this.backoff(Math.max(r.attempts, 4)), reason: `not kicked: ${plan.reason}` });
        continue;
      }
      due.set(r.id, { at: Date.now() + this.o.recheckMs, reason: plan.reason });
    }
    const ending = this.moveMany(ended);
    // Batches are moved a few at a time and none waits for another's receipt; each is stored and signed after the
    // one before it (nonces are handed out under a row lock), so the nonces, and the chain, follow the order above.
    const batches = this.pack(planned, market);
    const sendStarted = Date.now();
    const turns = batches.map(() => {
      let resolve!: () => void;
      return { promise: new Promise<void>((r) => (resolve = r)), resolve };
    });
    await mapLimit(batches.map((_, i) => i), SEND_CONCURRENCY, (i) =>
      this.send(batches[i]!, market!, due, turns[i - 1]?.promise, pending?.fees).finally(() => turns[i]!.resolve()),
    );
    ms.send = Date.now() - sendStarted;
    await ending;
  }

  /** Whether this process has taken from the account in the auction that runs now (forgets ended auctions). */
  private takenBefore(v: AccountView): boolean {
    const key = v.account.toLowerCase();
    const auction = this.tookIn.get(key);
    if (auction === undefined) return false;
    if (v.auction.active && v.auction.id === auction) return true;
    this.tookIn.delete(key);
    return false;
  }

  private planInput(v: AccountView, m: MarketView, bonus: bigint, inventory: Map<number, bigint>, exposure: Record<number, bigint>, deliverySeconds?: Record<number, bigint>) {
    return {
      debts: v.debts.filter((p) => p.amount > 0n).map((p) => ({ ...p, priceWad: m.pricesWad.get(p.assetId)!, decimals: m.decimals.get(p.assetId)!, inventory: maxZero(inventory.get(p.assetId) ?? 0n) })),
      collaterals: v.collaterals.filter((p) => p.amount > 0n).map((p) => ({ ...p, priceWad: m.pricesWad.get(p.assetId)!, decimals: m.decimals.get(p.assetId)! })),
      closeFactor: v.terms?.closeFactor ?? m.auction.closeFactor,
      bonus,
      gasPriceWei: m.gasPriceWei,
      hubNativePriceWad: this.o.hubNativePriceWad,
      lzFeeWei: Object.fromEntries(m.messageFeeWei),
      exposure,
      deliverySeconds,
    };
  }

  private order(account: Address, kick: boolean, take: boolean, plan: TakePlan, m: MarketView): Order {
    return {
      account, kick, take, debtAssetId: plan.debtAssetId, maxRepay: plan.maxRepay, eid: plan.collateralEid,
      collateralAssetId: plan.collateralAssetId, minSeize: plan.minSeize, feeWei: m.messageFeeWei.get(plan.collateralEid) ?? 0n,
    };
  }

  /** Orders into batches that each fit a share of the hub's block gas limit (blocks then pack tightly). */
  private pack(planned: Planned[], m: MarketView): Planned[][] {
    const budget = BigInt(Math.floor(Number(m.blockGasLimit) * this.o.batchGasShare));
    const batches: Planned[][] = [];
    let current: Planned[] = [];
    let gas = this.o.protocol.gas.batchOverhead;
    for (const p of planned) {
      if (current.length > 0 && (gas + p.gas > budget || current.length >= this.o.maxBatchOrders)) {
        batches.push(current);
        current = [];
        gas = this.o.protocol.gas.batchOverhead;
      }
      current.push(p);
      gas += p.gas;
    }
    if (current.length > 0) batches.push(current);
    return batches;
  }

  /** `follow`: the fees of pending feed updates the batch must be mined after (see backrun()). */
  private async send(batch: Planned[], m: MarketView, due: Map<number, Due>, after?: Promise<void>, follow?: PendingUpdates["fees"]): Promise<void> {
    // The batch's recoveries move to kicking/taking in one database transaction before its transaction is stored.
    const t0 = Date.now();
    const moved = await this.moveMany(
      batch.map(({ r, plan, order, bonus }) => ({
        recovery: r,
        to: order.take ? "taking" : "kicking",
        patch: {
          debtAsset: plan.debtAssetId, collateralEid: plan.collateralEid, collateralAsset: plan.collateralAssetId,
          // Until the take is mined, seizeAmount holds the least seizure accepted (the take's minSeize).
          maxRepay: plan.maxRepay, repayAmount: plan.repayAmount, seizeAmount: plan.minSeize, seizeValue: plan.seizeValue,
          bonus: order.take ? bonus : undefined, expectedProfit: plan.profit,
        },
        detail: order.take
          ? `${order.kick ? "kick and take" : "take"}: repay ${plan.repayAmount} of asset ${plan.debtAssetId}, seize ${plan.seizeAmount} of asset ${plan.collateralAssetId} on eid ${plan.collateralEid} at bonus ${bonus}, profit ${plan.profit}`
          : `kick: a take pays from the maximum bonus (profit ${plan.profit} there)`,
      })),
    );
    const byId = new Map(moved.map((r) => [r.id, r] as const));
    const items: Planned[] = batch.flatMap((p) => (byId.has(p.r.id) ? [{ ...p, r: byId.get(p.r.id)! }] : []));
    const t1 = Date.now();
    await after;
    const t2 = Date.now();
    if (items.length === 0) return;
    items.sort((a, b) => a.r.id - b.r.id);
    const step = `batch:${randomUUID()}`;
    const call = this.o.protocol.batchCall(this.o.executor, items.map((i) => i.order), this.o.receiver);
    const gas = items.reduce((sum, i) => sum + i.gas, this.o.protocol.gas.batchOverhead);
    const row = await this.o.hubTx.submitBatch(step, items.map((i) => i.r.id), { ...call, gas, follow, maxFeeCapWei: batchMaxFeePerGas(items.map((i) => i.plan), { gasLimit: gas, gasPriceWei: m.gasPriceWei, hubNativePriceWad: this.o.hubNativePriceWad, minProfitUsd: this.o.policy.minProfitUsd }) }, this.o.worker);
    // ms: moving the recoveries, waiting for the batch before it, storing, signing and broadcasting.
    this.o.log.info({ step, orders: items.length, backrun: follow !== undefined, gas: String(gas), nonce: String(row.nonce), maxFeePerGas: String(row.maxFeePerGas), maxFeeCap: String(row.maxFeeCapWei), tx: row.hash, ms: { move: t1 - t0, turn: t2 - t1, submit: Date.now() - t2 } }, "batch broadcast");
    await this.o.checkpoint?.("batch:broadcast");
    for (const i of items) due.set(i.r.id, { at: this.batchRecheck(), reason: `in batch ${row.hash}` });
  }

  // ------------------------------------------------------------------ confirm

  private async confirmBatches(list: Recovery[], due: Map<number, Due>): Promise<void> {
    const bySteps = new Map<string, Recovery[]>();
    for (const r of list) bySteps.set(r.txStep!, [...(bySteps.get(r.txStep!) ?? []), r]);
    const spokeHeads = new Map<number, Promise<bigint>>();
    await mapLimit([...bySteps], SEND_CONCURRENCY, async ([step, rs]) => {
      const mined = await this.o.hubTx.poll(null, step);
      if (!mined) {
        for (const r of rs) due.set(r.id, { at: this.batchRecheck(), reason: "batch in flight" });
        return;
      }
      await this.o.checkpoint?.("batch:mined");
      const outcomes = this.o.protocol.batchOutcomes(mined.receipt, this.o.executor);
      // The takes of a batch (most of its orders in a crash) move to taken in one database transaction.
      const takes = (await mapLimit(rs, MOVE_CONCURRENCY, (r) => this.apply(r, mined.receipt, outcomes.get(r.account.toLowerCase()), spokeHeads, due))).filter((m) => m !== undefined);
      for (const r of await this.moveMany(takes)) {
        this.taken.set(r.account.toLowerCase(), r.takeBlock!);
        if (r.auctionId !== undefined) this.tookIn.set(r.account.toLowerCase(), r.auctionId);
      }
    });
  }

  /** Applies one order's outcome; a take is returned as the move to `taken`, for the batch's one transaction. */
  private async apply(r: Recovery, receipt: TransactionReceipt, outcome: OrderOutcome | undefined, spokeHeads: Map<number, Promise<bigint>>, due: Map<number, Due>): Promise<Move | undefined> {
    const retry = (reason: string) =>
      this.move(r, "detected", { txStep: undefined, attempts: r.attempts + 1, reason }, reason).then((next) => {
        if (next) due.set(r.id, { at: Date.now() + this.backoff(r.attempts), reason });
      });
    if (receipt.status !== "success") return void (await retry(`batch ${receipt.transactionHash} reverted`));
    if (!outcome) return void (await retry(`batch ${receipt.transactionHash} has no outcome for this account`));
    if (outcome.status === "failed") {
      const reason = `${r.state === "kicking" ? "kick" : "take"} failed in batch ${receipt.transactionHash}: ${outcome.message}`;
      const kind = this.o.protocol.classify(outcome.errorName);
      if (kind === "healthy") return void (await this.move(r, "abandoned", { txStep: undefined, reason }));
      // No auction (taken by another, or ended healthy) or expired: read the chain again and decide anew.
      if (kind === "no-auction" || kind === "expired") return void (await this.move(r, "detected", { txStep: undefined, reason }, reason));
      return void (await retry(reason));
    }
    if (!outcome.take) {
      await this.move(r, "kicked", { txStep: undefined, auctionId: outcome.auctionId }, `kicked in ${receipt.transactionHash}`);
      return;
    }
    const t = outcome.take;
    const eid = r.collateralEid!;
    if (!spokeHeads.has(eid)) spokeHeads.set(eid, this.o.protocol.collateralChainHead(eid));
    const head = await spokeHeads.get(eid)!;
    return {
      recovery: r,
      to: "taken",
      patch: {
        auctionId: outcome.auctionId, takeId: t.takeId, guid: t.guid, packet: t.packet, takeTx: receipt.transactionHash,
        takeBlock: receipt.blockNumber, takeBlockHash: receipt.blockHash, repayAmount: t.repayAmount, seizeAmount: t.seizeAmount,
        bonus: t.bonus, spokeFromBlock: head > 10n ? head - 10n : 0n,
      },
      detail: `take ${t.takeId} in ${receipt.transactionHash}, packet ${t.guid}`,
    };
  }

  /** Accounts (lower case) whose take the last pass saw mined, with its block: no working recovery holds them any more. */
  takenLastPass(): ReadonlyMap<string, bigint> {
    return this.taken;
  }

  // ------------------------------------------------------------------ settle

  private async settle(list: Recovery[], due: Map<number, Due>): Promise<void> {
    const live = await this.reorgCheck(list, due);
    const settlements = await this.o.protocol.settlements(
      live.map((r) => ({ key: r.id, packet: r.packet!, takeId: r.takeId!, account: r.account, receiver: this.o.receiver, fromBlock: r.spokeFromBlock ?? 0n, takeBlock: r.takeBlock })),
    );
    // Every move of the phase in two database transactions (a crash settles hundreds of takes at once): first to
    // delivered, verified or stalled, then delivered to seized (through `delivered`, so every recovery's log reads
    // the same whatever the pass saw first).
    const first: Move[] = [];
    const seizing: { r: Recovery; s: Settlement }[] = [];
    for (const r of live) {
      const s = settlements.get(r.id);
      const wait = (reason: string, ms = this.o.recheckMs) => due.set(r.id, { at: Date.now() + ms, reason });
      const delivered: Move = { recovery: r, to: "delivered", detail: r.guid ? `packet ${r.guid} delivered` : "no packet: the collateral stays on the hub" };
      if (!s) {
        wait("spoke read failed", this.backoff(r.attempts));
      } else if (s.state === "seized") {
        if (r.state !== "delivered") first.push(delivered);
        seizing.push({ r, s });
      } else if (s.state === "delivered") {
        if (r.state !== "delivered") first.push(delivered);
        else wait("delivered, Seized event not found yet");
      } else if (s.alert) {
        // Verified and failing: the guardian delivers it again itself, with the gas it needs, within its budget.
        const guardian = s.state === "verified" ? this.o.redeliver : undefined;
        guardian?.request(r.packet!);
        if (r.state !== "stalled") {
          this.o.log.warn({ recovery: r.id, account: r.account, guid: r.guid, reason: s.alert }, `SEIZE delivery reverted on the spoke; ${guardian ? "the guardian retries it" : "the executor retries it"}`);
          first.push({ recovery: r, to: "stalled", patch: { reason: `lzReceive reverted: ${s.alert}` }, detail: `LzReceiveAlert for packet ${r.guid}: ${s.alert}` });
        } else {
          const tried = guardian?.status(r.guid!);
          const last = tried?.last;
          wait(`lzReceive reverted: ${s.alert}${last ? `; guardian (${tried.attempts} sent): ${last.outcome}${last.reason ? `, ${last.reason}` : ""}` : ""}`, this.o.recheckMs * 4);
        }
      } else if (s.state === "verified" && r.state === "taken") {
        first.push({ recovery: r, to: "verified", detail: `packet ${r.guid} verified` });
      } else wait("packet in flight");
    }
    const moved = new Map((await this.moveMany(first)).map((r) => [r.id, r] as const));
    const second = seizing.flatMap(({ r, s }) => {
      const at = r.state === "delivered" ? r : moved.get(r.id);
      return at ? [{ recovery: at, to: "seized" as const, patch: { deliverTx: s.seizeTx }, detail: s.seizeTx ? `collateral paid to ${this.o.receiver} in ${s.seizeTx}` : `collateral kept on the hub (take ${r.takeTx})`, s }] : [];
    });
    const seized = new Set((await this.moveMany(second)).map((r) => r.id));
    for (const { recovery: r, s } of second) {
      if (seized.has(r.id) && s.sentAt !== undefined && s.seizedAt !== undefined && r.collateralEid !== undefined) this.o.deliveryTimes.record(r.collateralEid, s.sentAt, s.seizedAt);
    }
  }

  /**
   * Takes whose block is no longer in the hub's chain: re-included elsewhere (recorded), or gone (the batch
   * goes back to `taking` and resends the same signed transaction). A read that fails says nothing about a
   * reorg: those recoveries wait for the next pass.
   */
  private async reorgCheck(list: Recovery[], due: Map<number, Due>): Promise<Recovery[]> {
    const blocks = [...new Set(list.map((r) => r.takeBlock!))];
    const hashes = new Map<bigint, Hex | null | "unknown">();
    await Promise.all(
      blocks.map(async (n) => {
        try {
          hashes.set(n, (await this.reader.getBlock({ blockNumber: n })).hash);
        } catch (error) {
          hashes.set(n, error instanceof BlockNotFoundError ? null : "unknown");
        }
      }),
    );
    const live: Recovery[] = [];
    const reopened = new Set<string>();
    for (const r of list) {
      const hash = hashes.get(r.takeBlock!);
      if (hash === r.takeBlockHash) {
        live.push(r);
        continue;
      }
      if (hash === "unknown") {
        due.set(r.id, { at: Date.now() + this.backoff(r.attempts), reason: "hub block read failed" });
        continue;
      }
      let receipt: TransactionReceipt | undefined;
      try {
        receipt = await this.reader.getTransactionReceipt({ hash: r.takeTx! });
      } catch (error) {
        if (!(error instanceof TransactionReceiptNotFoundError)) {
          due.set(r.id, { at: Date.now() + this.backoff(r.attempts), reason: `hub receipt read failed: ${describeError(error)}` });
          continue;
        }
      }
      if (receipt?.status === "success") {
        const next = await this.move(r, r.state, { takeBlock: receipt.blockNumber, takeBlockHash: receipt.blockHash }, "take re-included after a reorg");
        if (next) live.push(next);
        continue;
      }
      if (r.txStep && !reopened.has(r.txStep)) {
        await this.o.hubTx.reopen(null, r.txStep);
        reopened.add(r.txStep);
      }
      await this.move(r, "taking", {}, "take reorged out: resending the same signed transaction");
    }
    return live;
  }
}

function maxZero(v: bigint): bigint {
  return v > 0n ? v : 0n;
}

