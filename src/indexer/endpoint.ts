/**
 * LayerZero EndpointV2 on every chain: a packet is sent on its source chain, verified and delivered on its
 * destination, and each lzReceive that reverted there is an LzReceiveAlert (an executor's report: counted as a
 * failure). Packets are keyed by path and nonce (all that PacketVerified/PacketDelivered carry); each event
 * upserts, so the lifecycle is right whatever order the chains are indexed in.
 */
import { ponder } from "ponder:registry";
import { packet } from "ponder:schema";
import { type Hex, pad } from "viem";
import { decodePacket } from "../layerzero/packet.js";
import { pathwaysChanged } from "./pathway-watch.js";
import { eidOfChain } from "./manifest.js";

const RANK = { sent: 0, verified: 1, delivered: 2 } as const;
type Status = keyof typeof RANK;

const bytes32 = (v: Hex): Hex => pad(v, { size: 32 }).toLowerCase() as Hex;
const packetId = (srcEid: number, sender: Hex, dstEid: number, receiver: Hex, nonce: bigint) =>
  `${srcEid}:${bytes32(sender)}:${dstEid}:${bytes32(receiver)}:${nonce}`;

const later = (a: string, b: Status): Status => (RANK[b] > (RANK[a as Status] ?? -1) ? b : (a as Status));

function latency(row: { sentAt: bigint | null; verifiedBlock: bigint | null; deliveredAt: bigint | null; deliveredBlock: bigint | null }) {
  return {
    latencySeconds: row.sentAt !== null && row.deliveredAt !== null ? row.deliveredAt - row.sentAt : null,
    latencyBlocks: row.verifiedBlock !== null && row.deliveredBlock !== null ? row.deliveredBlock - row.verifiedBlock : null,
  };
}

ponder.on("EndpointV2:PacketSent", async ({ event, context }) => {
  const p = decodePacket(event.args.encodedPayload);
  const id = packetId(p.srcEid, p.sender, p.dstEid, p.receiver, p.nonce);
  const sent = { guid: p.guid, sentBlock: event.block.number, sentAt: event.block.timestamp, sentTx: event.transaction.hash };
  await pathwaysChanged(context);
  const existing = await context.db.find(packet, { id });
  if (!existing) {
    await context.db.insert(packet).values({
      id, srcEid: p.srcEid, sender: bytes32(p.sender), dstEid: p.dstEid, receiver: bytes32(p.receiver), nonce: p.nonce, status: "sent", ...sent,
    });
    return;
  }
  await context.db.update(packet, { id }).set({ ...sent, status: later(existing.status, "sent"), ...latency({ ...existing, ...sent }) });
});

async function arrived(
  context: Parameters<Parameters<typeof ponder.on<"EndpointV2:PacketDelivered">>[1]>[0]["context"],
  chainName: string,
  origin: { srcEid: number; sender: Hex; nonce: bigint },
  receiver: Hex,
  status: "verified" | "delivered",
  block: { number: bigint; timestamp: bigint },
  tx: Hex,
) {
  const dstEid = eidOfChain(chainName);
  const id = packetId(origin.srcEid, origin.sender, dstEid, receiver, origin.nonce);
  const fields =
    status === "verified"
      ? { verifiedBlock: block.number, verifiedAt: block.timestamp }
      : { deliveredBlock: block.number, deliveredAt: block.timestamp, deliveredTx: tx };
  await pathwaysChanged(context);
  const existing = await context.db.find(packet, { id });
  if (!existing) {
    await context.db.insert(packet).values({
      id, srcEid: origin.srcEid, sender: bytes32(origin.sender), dstEid, receiver: bytes32(receiver), nonce: origin.nonce, status, ...fields,
    });
    return;
  }
  await context.db.update(packet, { id }).set({ ...fields, status: later(existing.status, status), ...latency({ ...existing, ...fields }) });
}

ponder.on("EndpointV2:PacketVerified", async ({ event, context }) => {
  await arrived(context, context.chain.name, event.args.origin, event.args.receiver, "verified", event.block, event.transaction.hash);
});

ponder.on("EndpointV2:PacketDelivered", async ({ event, context }) => {
  await arrived(context, context.chain.name, event.args.origin, event.args.receiver, "delivered", event.block, event.transaction.hash);
});

ponder.on("EndpointV2:LzReceiveAlert", async ({ event, context }) => {
  const { origin, receiver, reason } = event.args;
  const dstEid = eidOfChain(context.chain.name);
  const id = packetId(origin.srcEid, origin.sender, dstEid, receiver, origin.nonce);
  const failure = { lastFailureReason: reason, lastFailureAt: event.block.timestamp };
  const existing = await context.db.find(packet, { id });
  if (!existing) {
    // An alert is sent for a verified packet only.
    await context.db.insert(packet).values({
      id, srcEid: origin.srcEid, sender: bytes32(origin.sender), dstEid, receiver: bytes32(receiver), nonce: origin.nonce, status: "verified", failures: 1, ...failure,
    });
    return;
  }
  await context.db.update(packet, { id }).set({ failures: existing.failures + 1, ...failure });
});
