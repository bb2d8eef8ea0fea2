/**
 * Where each take's collateral stands on its spoke, for every in-flight take in a few reads: the
 * destination endpoint's inbound state per packet (one Multicall3 per spoke), and the spoke's Seized and
 * the endpoint's LzReceiveAlert events from a cursor per spoke (one eth_getLogs each per call).
 */
import { type Address, type Hex, type PublicClient, getAbiItem } from "viem";
import { endpointV2Abi, spokeAbi } from "../../../abis/index.js";
import { decodeRevertData } from "../../chains/errors.js";
import { deliveryReasonAbi } from "../../layerzero/alerts.js";
import { inboundStates } from "../../layerzero/endpoint.js";
import { decodePacket } from "../../layerzero/packet.js";
import type { Deployment } from "../../protocol/deployment.js";
import type { Settlement } from "../../recovery/protocol.js";

const seizedEvent = getAbiItem({ abi: spokeAbi, name: "Seized" });
const alertEvent = getAbiItem({ abi: endpointV2Abi, name: "LzReceiveAlert" });
// The reasons an executor reports: the spoke's and endpoint's errors, and an out-of-gas without revert data.
const alertErrors = [...deliveryReasonAbi, ...endpointV2Abi, ...spokeAbi].filter((i) => i.type === "error");
const MAX_RANGE = 5_000n;

interface SpokeLog {
  next?: bigint;
  seized: Map<string, { tx: Hex; block: bigint }>;
  alerts: Map<string, string>;
}

export class SettlementReader {
  private readonly logs = new Map<number, SpokeLog>();
  /** Block timestamps by `chainId:block`, for the delivery times (a few thousand kept). */
  private readonly timestamps = new Map<string, bigint>();

  constructor(private readonly d: Deployment) {}

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
        const log = await this.scan(eid, reader, spoke.contracts.spoke!, endpoint, list.reduce((m, t) => (t.fromBlock < m ? t.fromBlock : m), list[0]!.fromBlock));
        const packets = list.map((t) => decodePacket(t.packet));
        const states = await inboundStates(reader, endpoint, packets);
        await Promise.all(
          list.map(async (t, k) => {
            const p = packets[k]!;
            const inbound = states[k];
            // A failed read says nothing: leave this take out, it is read again next time.
            if (inbound === undefined) return;
            const seized = log.seized.get(t.takeId.toString());
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

  private async scan(eid: number, reader: PublicClient, spoke: Address, endpoint: Address, fromBlock: bigint): Promise<SpokeLog> {
    const log: SpokeLog = this.logs.get(eid) ?? { seized: new Map(), alerts: new Map() };
    this.logs.set(eid, log);
    let next = log.next === undefined || fromBlock < log.next - 64n ? fromBlock : log.next;
    const head = await reader.getBlockNumber();
    while (next <= head) {
      const to: bigint = next + MAX_RANGE - 1n < head ? next + MAX_RANGE - 1n : head;
      const [seized, alerts] = await Promise.all([
        reader.getLogs({ address: spoke, event: seizedEvent, fromBlock: next, toBlock: to }),
        reader.getLogs({ address: endpoint, event: alertEvent, fromBlock: next, toBlock: to }),
      ]);
      for (const e of seized) log.seized.set(e.args.takeId!.toString(), { tx: e.transactionHash!, block: e.blockNumber! });
      for (const e of alerts) log.alerts.set(e.args.guid!.toLowerCase(), decodeRevertData(alertErrors as never, e.args.reason as Hex).message);
      next = to + 1n;
    }
    // Re-read the newest blocks next time: a spoke reorg may replace them.
    log.next = next > 8n ? next - 8n : 0n;
    return log;
  }
}
