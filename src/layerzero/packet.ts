/**
 * LayerZero V2 packets as the relayer sees them: decoded from the EndpointV2 `PacketSent` log with
 * @layerzerolabs/lz-v2-utilities' PacketV1Codec (the same layout as the Solidity PacketV1Codec).
 */
import { PacketV1Codec } from "@layerzerolabs/lz-v2-utilities";
import { type Address, type Hex, getAddress } from "viem";

export interface Packet {
  /** The packet exactly as the source endpoint encoded it. */
  encoded: Hex;
  version: number;
  nonce: bigint;
  srcEid: number;
  /** bytes32 sender as LayerZero addresses it, and its EVM form. */
  sender: Hex;
  senderAddress: Address;
  dstEid: number;
  receiver: Hex;
  receiverAddress: Address;
  guid: Hex;
  message: Hex;
  /** keccak256(guid ‖ message): what the destination endpoint stores at verification. */
  payloadHash: Hex;
}

export function decodePacket(encoded: Hex): Packet {
  const codec = PacketV1Codec.from(encoded);
  return {
    encoded,
    version: codec.version(),
    nonce: BigInt(codec.nonce()),
    srcEid: codec.srcEid(),
    sender: codec.sender() as Hex,
    senderAddress: getAddress(codec.senderAddressB20()),
    dstEid: codec.dstEid(),
    receiver: codec.receiver() as Hex,
    receiverAddress: getAddress(codec.receiverAddressB20()),
    guid: codec.guid() as Hex,
    message: codec.message() as Hex,
    payloadHash: codec.payloadHash() as Hex,
  };
}

/** The ordered channel a packet travels on: LayerZero orders nonces per (srcEid, sender, dstEid, receiver). */
export function pathKey(p: Pick<Packet, "srcEid" | "sender" | "dstEid" | "receiver">): string {
  return `${p.srcEid}:${p.sender.toLowerCase()}->${p.dstEid}:${p.receiver.toLowerCase()}`;
}
