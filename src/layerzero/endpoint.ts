/** What a destination EndpointV2 says about an inbound packet: the one reading deliverer and coordinator share. */
import { type Address, type PublicClient, zeroHash } from "viem";
import { endpointV2Abi } from "../../abis/index.js";
import type { Packet } from "./packet.js";

export type InboundState = "pending" | "verified" | "delivered";

/**
 * delivered: the endpoint cleared it (nonce at or below the lazy inbound nonce, payload hash gone);
 * verified: its payload hash is stored and waits for lzReceive; pending: neither.
 */
export async function inboundState(reader: PublicClient, endpoint: Address, p: Packet): Promise<InboundState> {
  const [lazyNonce, storedHash] = await Promise.all([
    reader.readContract({ address: endpoint, abi: endpointV2Abi, functionName: "lazyInboundNonce", args: [p.receiverAddress, p.srcEid, p.sender] }),
    reader.readContract({ address: endpoint, abi: endpointV2Abi, functionName: "inboundPayloadHash", args: [p.receiverAddress, p.srcEid, p.sender, p.nonce] }),
  ]);
  if (p.nonce <= lazyNonce && storedHash === zeroHash) return "delivered";
  return storedHash === p.payloadHash ? "verified" : "pending";
}
