/**
 * Where each take's collateral stands on its chain, for every in-flight take in a few reads: the destination
 * endpoint's inbound state per packet (one Multicall3 per chain), and the destination app's "paid" event (the
 * reference spoke's Seized, the hub-accounted spoke's Withdrawn) and the endpoint's LzReceiveAlert events from a
 * cursor per chain (one eth_getLogs each per call). Which event pays, and which id of the message it carries, is
 * the protocol's: `PaidEvent`.
 */
import { type AbiEvent, type Abi, type Address, type Hex, type PublicClient } from "viem";
import { getAbiItem } from "viem";
import { endpointV2Abi } from "../../abis/index.js";
import { decodeRevertData } from "../chains/errors.js";
import { deliveryReasonAbi } from "./alerts.js";
import { inboundStates } from "./endpoint.js";
import { decodePacket } from "./packet.js";
import type { Deployment } from "../protocol/deployment.js";
import type { Settlement } from "../recovery/protocol.js";

const alertEvent = getAbiItem({ abi: endpointV2Abi, name: "LzReceiveAlert" });
const MAX_RANGE = 5_000n;

/** The event that pays a message's collateral on its destination, and the id that ties it to the take. */
export interface PaidEvent {
  /** The app that emits it on the chain of `eid`. */
  app(eid: number): Address;
  event: AbiEvent;
  /** The id an emitted event carries (decimal string). */
  idOf(args: Record<string, unknown>): string;
  /** The id the take's message carries (decimal string). */
  idOfTake(take: { takeId: bigint; packet: Hex }): string;
  /** The destination app's errors, so an executor's alert reads by name. */
  errors: Abi;
}

interface SpokeLog {
  next?: bigint;
  seized: Map<string, { tx: Hex; block: bigint }>;
  alerts: Map<string, string>;
}

export class SettlementReader {
  private readonly logs = new Map<number, SpokeLog>();
  /** Block timestamps by `chainId:block`, for the delivery times (a few thousand kept). */
  private readonly timestamps = new Map<string, bigint>();
  // The reasons an executor reports: the app's and endpoint's errors, and an out-of-gas without revert data.
  private readonly alertErrors: Abi;

  constructor(
    private readonly d: Deployment,
    private readonly paid: PaidEvent,
  ) {
    this.alertErrors = [...deliveryReasonAbi, ...endpointV2Abi, ...paid.errors].filter((i) => i.type === "error");
  }

  async read(takes: readonly { key: number; packet: Hex; takeId: bigint; fromBlock: bigint; takeBlock?: bigint }[]): Promise<Map<number, Settlement>> {
    const out = new Map<number, Settlement>();
    const byEid = new Map<number, typeof takes[number][]>();
    for (const t of takes) {
      const eid = decodePacket(t.packet).dstEid;
      byEid.set(eid, [...(byEid.get(eid) ?? []), t]);
    }
    await Promise.all(
      [...byEid].map(async ([eid, list]) => {
        const spoke = this.d.spokes.find((s) => s.eid === eid);
        if (!spoke) return;
        const reader = this.d.clients(spoke).public;
        const endpoint = spoke.contracts.endpoint;
        const log = await this.scan(eid, reader, this.paid.app(eid), endpoint, list.reduce((m, t) => (t.fromBlock < m ? t.fromBlock : m), list[0]!.fromBlock));
        const packets = list.map((t) => decodePacket(t.packet));
        const states = await inboundStates(reader, endpoint, packets);
        await Promise.all(
          list.map(async (t, k) => {
            const p = packets[k]!;
            const inbound = states[k];
            // A failed read says nothing: leave this take out, it is read again next time.
            if (inbound === undefined) return;
            const seized = log.seized.get(this.paid.idOfTake(t));
            const alert = log.alerts.get(p.guid.toLowerCase());
            const state = seized ? "seized" : inbound;
            const settlement: Settlement = { state, seizeTx: seized?.tx, alert: state === "seized" || state === "delivered" ? undefined : alert };
            if (seized && t.takeBlock !== undefined) {
              // When it was sent (the take's hub block) and paid (the Seized block): the pathway's delivery time.
              const [sentAt, seizedAt] = await Promise.all([this.timestamp(this.d.hubClients.public, t.takeBlock), this.timestamp(reader, seized.block)]).catch(() => [undefined, undefined]);
              settlement.sentAt = sentAt;
              settlement.seizedAt = seizedAt;
            }
            out.set(t.key, settlement);
          }),
        );
      }),
    );
    return out;
  }

  private async timestamp(reader: PublicClient, block: bigint): Promise<bigint> {
    const key = `${reader.chain?.id}:${block}`;
    const known = this.timestamps.get(key);
    if (known !== undefined) return known;
    const { timestamp } = await reader.getBlock({ blockNumber: block });
    this.timestamps.set(key, timestamp);
    if (this.timestamps.size > 4_096) this.timestamps.delete(this.timestamps.keys().next().value!);
    return timestamp;
  }

  private async scan(eid: number, reader: PublicClient, app: Address, endpoint: Address, fromBlock: bigint): Promise<SpokeLog> {
    const log: SpokeLog = this.logs.get(eid) ?? { seized: new Map(), alerts: new Map() };
    this.logs.set(eid, log);
    let next = log.next === undefined || fromBlock < log.next - 64n ? fromBlock : log.next;
    const head = await reader.getBlockNumber();
    while (next <= head) {
      const to: bigint = next + MAX_RANGE - 1n < head ? next + MAX_RANGE - 1n : head;
      const [seized, alerts] = await Promise.all([
        reader.getLogs({ address: app, event: this.paid.event, fromBlock: next, toBlock: to }),
        reader.getLogs({ address: endpoint, event: alertEvent, fromBlock: next, toBlock: to }),
      ]);
      for (const e of seized) log.seized.set(this.paid.idOf(e.args as Record<string, unknown>), { tx: e.transactionHash!, block: e.blockNumber! });
      for (const e of alerts) log.alerts.set(e.args.guid!.toLowerCase(), decodeRevertData(this.alertErrors, e.args.reason as Hex).message);
      next = to + 1n;
    }
    // Re-read the newest blocks next time: a spoke reorg may replace them.
    log.next = next > 8n ? next - 8n : 0n;
    return log;
  }
}
