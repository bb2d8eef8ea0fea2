/**
 * The guardian's one action on a pathway: deliver again a verified packet whose `lzReceive` failed.
 *
 * Where salvage does not deliver itself (real chains), LayerZero's executor runs `lzReceive`; when that reverts it
 * reports `LzReceiveAlert` on the destination endpoint and may retry, or may not (an executor that gave too little
 * gas after a gas repricing keeps giving too little). `EndpointV2.lzReceive` is permissionless once a packet is
 * verified, so the guardian calls it itself:
 * - the gas it needs is what the node's `eth_estimateGas` finds (an out-of-gas retried blindly at twice the gas
 *   costs a transaction per doubling), with a 25 % margin, and never more than `maxGas`;
 * - a packet that reverts for another reason than gas is not sent (the estimate reverts): its reason is kept,
 *   and it is tried again after `intervalMs` (the state may change, e.g. a spoke refilled);
 * - at most `maxAttempts` transactions per packet in this process.
 * It never skips, clears, nilifies or burns a message; exactly once is the endpoint's (a second `lzReceive` of a
 * delivered packet reverts, and an estimate of one finds it delivered first).
 */
import type { Account, Address, Hex } from "viem";
import type { ChainClients } from "../chains/clients.js";
import { decodeRevertData, describeError, revertData } from "../chains/errors.js";
import { serialized } from "../chains/tx.js";
import { deliveryAbi, lzReceiveCalldata } from "./alerts.js";
import { inboundState } from "./endpoint.js";
import { type Packet, decodePacket } from "./packet.js";

export interface RedeliveryBudget {
  /** Most gas one lzReceive may be given. */
  maxGas: bigint;
  /** Transactions per packet. */
  maxAttempts: number;
  /** Wait between two tries of one packet. */
  intervalMs: number;
}

export const DEFAULT_REDELIVERY_BUDGET: RedeliveryBudget = { maxGas: 2_000_000n, maxAttempts: 3, intervalMs: 10_000 };

export type RedeliveryOutcome = "delivered" | "reverted" | "refused" | "exhausted" | "failed";

export interface RedeliveryStatus {
  attempts: number;
  /** What the last try found: sent and delivered, sent and reverted, not sent (estimate reverted, over budget), … */
  last?: { outcome: RedeliveryOutcome | "not-verified"; reason?: string; tx?: Hex; gas?: bigint };
}

interface Track extends RedeliveryStatus {
  running: boolean;
  nextAt: number;
}

export interface RedelivererOptions {
  /** Clients and endpoint of each destination chain, by eid. */
  chains: Map<number, { clients: ChainClients; endpoint: Address }>;
  /** Pays the gas of the retries (the taker, on real chains). */
  account: Account;
  budget?: Partial<RedeliveryBudget>;
  log?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
  onOutcome?: (outcome: RedeliveryOutcome) => void;
}

export class Redeliverer {
  private readonly budget: RedeliveryBudget;
  private readonly tracks = new Map<string, Track>();

  constructor(private readonly o: RedelivererOptions) {
    this.budget = { ...DEFAULT_REDELIVERY_BUDGET, ...o.budget };
  }

  /** What the guardian did for the packet `guid` so far (undefined: nothing). */
  status(guid: Hex): RedeliveryStatus | undefined {
    const t = this.tracks.get(guid.toLowerCase());
    return t && { attempts: t.attempts, last: t.last };
  }

  /**
   * Starts one try for an encoded packet whose lzReceive failed, unless one runs, the packet waits for its next
   * try, or its budget is spent. Never throws; the outcome is in status() and the log.
   */
  request(encoded: Hex): void {
    const p = decodePacket(encoded);
    const key = p.guid.toLowerCase();
    const t = this.tracks.get(key) ?? { attempts: 0, running: false, nextAt: 0 };
    this.tracks.set(key, t);
    if (t.running || Date.now() < t.nextAt || t.last?.outcome === "delivered") return;
    if (t.attempts >= this.budget.maxAttempts) {
      if (t.last?.outcome !== "exhausted") this.settle(p, t, { outcome: "exhausted", reason: `${t.attempts} attempts made (budget ${this.budget.maxAttempts}); last: ${t.last?.reason ?? "none"}` });
      return;
    }
    t.running = true;
    void this.attempt(p, t)
      .catch((error: unknown) => ({ outcome: "failed" as const, reason: describeError(error) }))
      .then((last) => this.settle(p, t, last));
  }

  private settle(p: Packet, t: Track, last: NonNullable<RedeliveryStatus["last"]>): void {
    t.running = false;
    t.last = last;
    t.nextAt = Date.now() + this.budget.intervalMs;
    if (last.outcome === "not-verified") return;
    this.o.onOutcome?.(last.outcome);
    const fields = { guid: p.guid, dstEid: p.dstEid, nonce: String(p.nonce), attempts: t.attempts, outcome: last.outcome, reason: last.reason, tx: last.tx, gas: last.gas === undefined ? undefined : String(last.gas) };
    if (last.outcome === "delivered") this.o.log?.info(fields, "guardian delivered a packet whose lzReceive had failed");
    else this.o.log?.warn(fields, "guardian could not deliver a packet whose lzReceive failed");
  }

  private async attempt(p: Packet, t: Track): Promise<NonNullable<RedeliveryStatus["last"]>> {
    const chain = this.o.chains.get(p.dstEid);
    if (!chain) return { outcome: "refused", reason: `no client for destination eid ${p.dstEid}` };
    const reader = chain.clients.public;
    const state = await inboundState(reader, chain.endpoint, p);
    if (state === "delivered") return { outcome: "delivered", reason: "delivered by someone else" };
    if (state === "pending") return { outcome: "not-verified" };
    const data = lzReceiveCalldata(p);
    let gas: bigint;
    try {
      gas = await reader.estimateGas({ account: this.o.account, to: chain.endpoint, data });
    } catch (error) {
      const bytes = revertData(error);
      const reason = bytes ? decodeRevertData(deliveryAbi, bytes).message : describeError(error);
      return { outcome: "refused", reason: `lzReceive would revert: ${reason}` };
    }
    gas = (gas * 5n) / 4n;
    if (gas > this.budget.maxGas) return { outcome: "refused", reason: `needs ${gas} gas, over the budget of ${this.budget.maxGas}` };
    t.attempts += 1;
    const wallet = chain.clients.wallet(this.o.account);
    const hash = await serialized(wallet, () => wallet.sendTransaction({ to: chain.endpoint, data, gas }));
    const receipt = await reader.waitForTransactionReceipt({ hash, timeout: 60_000 });
    if (receipt.status === "success") return { outcome: "delivered", tx: hash, gas };
    return { outcome: "reverted", tx: hash, gas, reason: `lzReceive reverted, gas ${receipt.gasUsed} of ${gas}` };
  }
}
