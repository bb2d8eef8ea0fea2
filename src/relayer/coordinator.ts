/**
 * The recovery coordinator: drives each recovery through the state machine (states.ts), one leased row
 * at a time, persisting every transition before and after the transaction it guards.
 *
 * Idempotency rests on three things: (1) at most one open recovery per account (a unique index);
 * (2) a transaction is signed and stored before it is broadcast, and a retry of the same intent resends
 * the stored bytes (same nonce) instead of signing a new one; (3) every decision re-reads the chain
 * (auction, health, endpoint state, spoke events) instead of trusting what the process remembered.
 */
import { EventEmitter } from "node:events";
import { type Address, type Hex, decodeEventLog, encodeFunctionData, erc20Abi, getAbiItem, maxUint256, parseTransaction } from "viem";
import { endpointV2Abi, hubAbi, spokeAbi } from "../../abis/index.js";
import { inboundState } from "../layerzero/endpoint.js";
import { decodePacket } from "../layerzero/packet.js";
import { bonusAt } from "../math/health.js";
import { WAD } from "../math/wad.js";
import type { Deployment } from "../protocol/deployment.js";
import { describeError } from "./deliverer.js";
import { type PolicyConfig, planTake } from "./policy.js";
import { type RecoveryState, isTerminal } from "./states.js";
import { LeaseLostError, type Recovery, type RecoveryPatch, type RecoveryStore } from "./store.js";
import { AlreadySubmittedError, StuckTransactionError, type TxManager } from "./transactions.js";

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
  deployment: Deployment;
  store: RecoveryStore;
  /** The taker's key on the hub. */
  hubTx: TxManager;
  policy: PolicyConfig;
  /** Receives seized collateral on every spoke. */
  receiver: Address;
  /** USD price (WAD) of the hub chain's native token, for gas and LayerZero fees. */
  hubNativePriceWad: bigint;
  leaseMs?: number;
  confirmTimeoutMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** How often a recovery waiting on the policy or on a packet is looked at again. */
  recheckMs?: number;
  log?: Logger;
  /**
   * Called after each persisted transition and after each broadcast ("<step>:broadcast"), before anything
   * else happens. The CLI uses it for fault injection in the crash-safety tests (SALVAGE_KILL_AT).
   */
  checkpoint?: (point: string) => void | Promise<void>;
}

type Outcome = { next: Recovery } | { wait: number; reason?: string } | { done: true };

const kickedEvent = getAbiItem({ abi: hubAbi, name: "AuctionKicked" });
const silent: Logger = { info() {}, warn() {}, error() {} };

export class Coordinator extends EventEmitter<{ transition: [TransitionEvent] }> {
  private readonly o: Required<Omit<CoordinatorOptions, "checkpoint">> & Pick<CoordinatorOptions, "checkpoint">;

  constructor(options: CoordinatorOptions) {
    super();
    this.o = {
      ...options,
      // A wait for a receipt stays well inside the lease; the lease is renewed after every transition.
      leaseMs: options.leaseMs ?? 60_000,
      confirmTimeoutMs: options.confirmTimeoutMs ?? 20_000,
      retryBaseMs: options.retryBaseMs ?? 500,
      retryMaxMs: options.retryMaxMs ?? 30_000,
      recheckMs: options.recheckMs ?? 500,
      log: options.log ?? silent,
    };
  }

  private get hub(): Address {
    return this.o.deployment.hubAddress;
  }

  private get reader() {
    return this.o.deployment.hubClients.public;
  }

  /** Approves the hub to pull every debt token from the taker, once. */
  async ensureAllowances(): Promise<void> {
    for (const asset of this.o.deployment.debtAssets) {
      const token = this.o.deployment.hub.tokens[String(asset.id)]!;
      const allowance = await this.reader.readContract({ address: token, abi: erc20Abi, functionName: "allowance", args: [this.o.hubTx.address, this.hub] });
      if (allowance >= maxUint256 / 2n) continue;
      const step = `approve:${token}`;
      if ((await this.o.hubTx.attempts(null, step)).length === 0) {
        await this.o.hubTx.submit(null, step, { to: token, data: encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [this.hub, maxUint256] }) });
      }
      await this.o.hubTx.confirm(null, step, this.o.confirmTimeoutMs);
    }
  }

  /** Opens a recovery for each account; returns how many were new. */
  async detect(accounts: readonly Address[]): Promise<number> {
    let opened = 0;
    for (const account of accounts) {
      if (!(await this.o.store.detect(this.o.deployment.hub.chainId, account))) continue;
      opened++;
      await this.o.checkpoint?.("detected");
    }
    return opened;
  }

  /**
   * Claims and drives due recoveries until none is due; returns how many were driven. Each concurrent
   * loop passes its own `worker` id (leases are per loop); a restarted process reuses its ids and so
   * takes back its own leases at once.
   */
  async work(worker: string, signal?: AbortSignal): Promise<number> {
    let driven = 0;
    while (!signal?.aborted) {
      const recovery = await this.o.store.claim(worker, this.o.leaseMs);
      if (!recovery) break;
      driven++;
      await this.drive(recovery, worker);
    }
    return driven;
  }

  private async drive(start: Recovery, worker: string): Promise<void> {
    let r = start;
    try {
      for (let steps = 0; steps < 32; steps++) {
        const outcome = await this.step(r);
        if ("done" in outcome) return;
        if ("wait" in outcome) {
          await this.o.store.release(r.id, worker, new Date(Date.now() + outcome.wait), outcome.reason);
          return;
        }
        r = outcome.next;
        await this.o.store.renew(r.id, worker, this.o.leaseMs);
      }
      await this.o.store.release(r.id, worker);
    } catch (error) {
      if (error instanceof LeaseLostError) {
        this.o.log.warn({ recovery: r.id, account: r.account }, error.message);
        return;
      }
      // An RPC outage or any unexpected failure: keep the state, come back later.
      this.o.log.warn({ recovery: r.id, account: r.account, state: r.state, err: describeError(error) }, "recovery step failed; will retry");
      await this.o.store.release(r.id, worker, new Date(Date.now() + this.backoff(r.attempts)), `step failed: ${describeError(error)}`).catch(() => {});
    }
  }

  private backoff(attempts: number): number {
    return Math.min(this.o.retryBaseMs * 2 ** attempts, this.o.retryMaxMs);
  }

  private async move(r: Recovery, to: RecoveryState, patch: RecoveryPatch = {}, detail?: string): Promise<Outcome> {
    // The recovery carries the lease holder it was claimed by: the loop driving it.
    const next = await this.o.store.transition(r, to, r.lockedBy!, patch, detail);
    this.o.log.info({ recovery: r.id, account: r.account, from: r.state, to, detail }, "transition");
    try {
      this.emit("transition", { recovery: next, from: r.state, to, detail });
    } catch (error) {
      // A listener's failure must not stop a recovery whose transition is already durable.
      this.o.log.error({ recovery: r.id, err: (error as Error).message }, "transition listener failed");
    }
    await this.o.checkpoint?.(to);
    return isTerminal(to) ? { done: true } : { next };
  }

  private async auction(account: Address) {
    const [id, startedAt, , active] = await this.reader.readContract({ address: this.hub, abi: hubAbi, functionName: "auctions", args: [account] });
    const head = await this.reader.getBlock();
    const expired = active && head.timestamp > startedAt + this.o.deployment.manifest.auction.auctionTail;
    return { id, startedAt, active, expired, now: head.timestamp };
  }

  private step(r: Recovery): Promise<Outcome> {
    switch (r.state) {
      case "detected":
        return this.onDetected(r);
      case "kicking":
        return this.onKicking(r);
      case "kicked":
        return this.onKicked(r);
      case "taking":
        return this.onTaking(r);
      case "taken":
      case "verified":
      case "delivered":
        return this.onInFlight(r);
      default:
        return Promise.resolve({ done: true });
    }
  }

  private async onDetected(r: Recovery): Promise<Outcome> {
    const au = await this.auction(r.account);
    if (au.active && !au.expired) return this.move(r, "kicked", { auctionId: au.id }, "auction already open");
    const hf = await this.o.deployment.onchainHealthFactor(r.account);
    if (hf >= WAD) return this.move(r, "abandoned", { reason: "healthy" });
    return this.move(r, "kicking", {}, `HF ${hf}`);
  }

  private async onKicking(r: Recovery): Promise<Outcome> {
    const step = `kick:${r.attempts}`;
    if ((await this.o.hubTx.attempts(r.id, step)).length === 0) {
      const au = await this.auction(r.account);
      if (au.active && !au.expired) return this.move(r, "kicked", { auctionId: au.id }, "kicked by someone else");
      try {
        await this.o.hubTx.submit(r.id, step, { to: this.hub, data: encodeFunctionData({ abi: hubAbi, functionName: "kick", args: [r.account] }) }, r.lockedBy);
        await this.o.checkpoint?.("kick:broadcast");
      } catch (error) {
        if (error instanceof LeaseLostError) throw error;
        if (!(error instanceof AlreadySubmittedError)) {
          const reason = describeError(error);
          if (/AccountHealthy/.test(reason)) return this.move(r, "abandoned", { reason: `healthy: ${reason}` });
          if (/AuctionActive/.test(reason)) return this.move(r, "kicked", { auctionId: (await this.auction(r.account)).id }, "kicked by someone else");
          return { wait: this.backoff(r.attempts), reason };
        }
      }
    }
    const confirmed = await this.confirm(r, step);
    if ("wait" in confirmed) return confirmed;
    const { receipt } = confirmed;
    if (receipt.status === "success") {
      const log = receipt.logs.find((l) => l.address.toLowerCase() === this.hub.toLowerCase());
      const kicked = log ? decodeEventLog({ abi: [kickedEvent], data: log.data, topics: log.topics }) : undefined;
      return this.move(r, "kicked", { auctionId: kicked?.args.auctionId }, `kick ${receipt.transactionHash}`);
    }
    const au = await this.auction(r.account);
    if (au.active && !au.expired) return this.move(r, "kicked", { auctionId: au.id }, "kick reverted: kicked by someone else");
    return this.move(r, "detected", { attempts: r.attempts + 1, reason: "kick reverted", nextAttemptAt: new Date(Date.now() + this.backoff(r.attempts)) });
  }

  private async onKicked(r: Recovery): Promise<Outcome> {
    const d = this.o.deployment;
    const au = await this.auction(r.account);
    const hf = await d.onchainHealthFactor(r.account);
    if (!au.active) {
      return hf < WAD
        ? this.move(r, "detected", { reason: "auction ended while still unhealthy" })
        : this.move(r, "abandoned", { reason: "auction ended: healthy again or taken by another" });
    }
    if (au.expired) return this.move(r, "detected", { reason: "auction expired: re-kick" });
    if (hf >= WAD) return this.move(r, "abandoned", { reason: "healthy again" });

    const [positions, prices, gasPriceWei] = await Promise.all([d.positions(r.account), d.pricesWad(), this.reader.getGasPrice()]);
    const bonus = bonusAt(d.manifest.auction, au.startedAt, au.now);
    const lzFeeWei: Record<number, bigint> = {};
    const exposure: Record<number, bigint> = {};
    for (const spoke of d.spokes) {
      lzFeeWei[spoke.eid] = await this.reader.readContract({ address: this.hub, abi: hubAbi, functionName: "quoteSpokeMessage", args: [spoke.eid] });
      exposure[spoke.eid] = await this.o.store.exposure(spoke.eid);
    }
    const debts = await Promise.all(
      positions.debt.map(async (p) => {
        const asset = d.asset(p.assetId);
        const inventory = await this.reader.readContract({ address: d.hub.tokens[String(p.assetId)]!, abi: erc20Abi, functionName: "balanceOf", args: [this.o.hubTx.address] });
        return { assetId: p.assetId, amount: p.amount, priceWad: prices.get(p.assetId)!, decimals: asset.decimals, inventory };
      }),
    );
    const collaterals = positions.collateral.map((p) => ({ ...p, priceWad: prices.get(p.assetId)!, decimals: d.asset(p.assetId).decimals }));
    const plan = planTake(this.o.policy, {
      debts, collaterals, closeFactor: d.manifest.auction.closeFactor, bonus, gasPriceWei,
      hubNativePriceWad: this.o.hubNativePriceWad, lzFeeWei, exposure,
    });
    if (plan.action === "skip") return this.move(r, "skipped", { reason: plan.reason });
    if (plan.action === "wait") return { wait: this.o.recheckMs, reason: plan.reason };
    return this.move(
      r,
      "taking",
      {
        auctionId: au.id, debtAsset: plan.debtAssetId, collateralEid: plan.collateralEid, collateralAsset: plan.collateralAssetId,
        maxRepay: plan.maxRepay, repayAmount: plan.repayAmount, seizeAmount: plan.minSeize, seizeValue: plan.seizeValue,
        // Until the take is mined, seizeAmount holds the least seizure accepted (the take's minSeize).
        bonus, expectedProfit: plan.profit,
      },
      `take intent: repay ${plan.repayAmount} of asset ${plan.debtAssetId}, seize ${plan.seizeAmount} of asset ${plan.collateralAssetId} on eid ${plan.collateralEid}, profit ${plan.profit}`,
    );
  }

  private async onTaking(r: Recovery): Promise<Outcome> {
    const step = `take:${r.attempts}`;
    if ((await this.o.hubTx.attempts(r.id, step)).length === 0) {
      const fee = await this.reader.readContract({ address: this.hub, abi: hubAbi, functionName: "quoteSpokeMessage", args: [r.collateralEid!] });
      const data = encodeFunctionData({
        abi: hubAbi,
        functionName: "take",
        args: [r.account, r.debtAsset!, r.maxRepay!, r.collateralEid!, r.collateralAsset!, r.seizeAmount!, this.o.receiver],
      });
      try {
        await this.o.hubTx.submit(r.id, step, { to: this.hub, data, value: fee }, r.lockedBy);
        await this.o.checkpoint?.("take:broadcast");
      } catch (error) {
        if (error instanceof LeaseLostError) throw error;
        if (!(error instanceof AlreadySubmittedError)) return this.takeFailed(r, describeError(error));
      }
    }
    const confirmed = await this.confirm(r, step);
    if ("wait" in confirmed) return confirmed;
    const { receipt } = confirmed;
    if (receipt.status !== "success") {
      const sent = parseTransaction(confirmed.row.raw);
      const replay = await this.reader
        .call({ account: this.o.hubTx.address, to: this.hub, data: sent.data, value: sent.value, blockNumber: receipt.blockNumber })
        .then(() => "reverted")
        .catch((e: unknown) => describeError(e));
      return this.takeFailed(r, `take reverted on chain: ${replay}`);
    }
    let take: { takeId: bigint; repayAmount: bigint; seizeAmount: bigint; bonus: bigint; guid: Hex } | undefined;
    let packet: Hex | undefined;
    for (const log of receipt.logs) {
      if (log.address.toLowerCase() === this.hub.toLowerCase()) {
        const e = decodeEventLog({ abi: hubAbi, data: log.data, topics: log.topics, strict: false });
        if (e.eventName === "Take") take = e.args as never;
      } else if (log.address.toLowerCase() === this.o.deployment.hub.contracts.endpoint.toLowerCase()) {
        const e = decodeEventLog({ abi: endpointV2Abi, data: log.data, topics: log.topics, strict: false });
        if (e.eventName === "PacketSent") packet = e.args.encodedPayload as Hex;
      }
    }
    if (!take || !packet) throw new Error(`take ${receipt.transactionHash} has no Take or PacketSent log`);
    const spoke = this.o.deployment.spokes.find((s) => s.eid === r.collateralEid)!;
    const spokeHead = await this.o.deployment.clients(spoke).public.getBlockNumber();
    return this.move(
      r,
      "taken",
      {
        takeId: take.takeId, guid: take.guid, packet, takeTx: receipt.transactionHash, takeBlock: receipt.blockNumber, takeBlockHash: receipt.blockHash,
        repayAmount: take.repayAmount, seizeAmount: take.seizeAmount, bonus: take.bonus, spokeFromBlock: spokeHead > 10n ? spokeHead - 10n : 0n,
      },
      `take ${receipt.transactionHash}, packet ${take.guid}`,
    );
  }

  private async takeFailed(r: Recovery, reason: string): Promise<Outcome> {
    if (/NoActiveAuction|AccountHealthy/.test(reason)) return this.move(r, "abandoned", { reason: `outbid, already taken or healthy: ${reason}` });
    if (/AuctionExpired/.test(reason)) return this.move(r, "detected", { reason, attempts: r.attempts + 1 });
    return this.move(r, "kicked", { reason, attempts: r.attempts + 1, nextAttemptAt: new Date(Date.now() + this.backoff(r.attempts)) }, reason);
  }

  private async confirm(r: Recovery, step: string) {
    try {
      return await this.o.hubTx.confirm(r.id, step, this.o.confirmTimeoutMs);
    } catch (error) {
      if (error instanceof StuckTransactionError) return { wait: this.o.recheckMs, reason: error.message };
      throw error;
    }
  }

  /** taken / verified / delivered: follow the SEIZE packet and watch for the take being reorged out. */
  private async onInFlight(r: Recovery): Promise<Outcome> {
    const d = this.o.deployment;
    const block = await this.reader.getBlock({ blockNumber: r.takeBlock! }).catch(() => undefined);
    if (!block || block.hash !== r.takeBlockHash) {
      const receipt = await this.reader.getTransactionReceipt({ hash: r.takeTx! }).catch(() => undefined);
      if (receipt?.status === "success") {
        return this.move(r, r.state, { takeBlock: receipt.blockNumber, takeBlockHash: receipt.blockHash }, "take re-included after a reorg");
      }
      await this.o.hubTx.reopen(r.id, `take:${r.attempts}`);
      return this.move(r, "taking", {}, "take reorged out: resending the same signed transaction");
    }

    const p = decodePacket(r.packet!);
    const spoke = d.manifest.chains.find((c) => c.eid === p.dstEid)!;
    const spokeReader = d.clients(spoke).public;
    const state = await inboundState(spokeReader, spoke.contracts.endpoint, p);
    if (state !== "delivered") {
      if (r.state === "taken" && state === "verified") return this.move(r, "verified", {}, `packet ${p.guid} verified`);
      return { wait: this.o.recheckMs, reason: "packet in flight" };
    }
    if (r.state !== "delivered") return this.move(r, "delivered", {}, `packet ${p.guid} delivered`);
    const seized = await spokeReader.getContractEvents({
      address: spoke.contracts.spoke!, abi: spokeAbi, eventName: "Seized",
      args: { account: r.account, receiver: this.o.receiver }, fromBlock: r.spokeFromBlock ?? 0n,
    });
    const mine = seized.find((e) => e.args.takeId === r.takeId);
    if (!mine) return { wait: this.o.recheckMs, reason: "delivered, Seized event not found yet" };
    return this.move(r, "seized", { deliverTx: mine.transactionHash }, `collateral paid to ${this.o.receiver} in ${mine.transactionHash}`);
  }
}
