/** What a destination EndpointV2 says about an inbound packet: the one reading deliverer and coordinator share. */
import { type Address, type PublicClient, zeroHash } from "viem";
import { endpointV2Abi } from "../../abis/index.js";
import { MULTICALL3_ADDRESS } from "../chains/multicall.js";
import type { Packet } from "./packet.js";

export type InboundState = "pending" | "verified" | "delivered";

/**
 * delivered: the endpoint cleared it (nonce at or below the lazy inbound nonce, payload hash gone);
 * verified: its payload hash is stored and waits for lzReceive; pending: neither.
 */
export async function inboundState(reader: PublicClient, endpoint: Address, p: Packet): Promise<InboundState> {
  const [state] = await inboundStates(reader, endpoint, [p]);
  if (state === undefined) throw new Error(`could not read the inbound state of packet ${p.guid} on ${endpoint}`);
  return state;
}

/**
 * The inbound state of many packets of one destination endpoint in one Multicall3 read (the lazy nonce once
 * per path). A packet whose reads failed is undefined: the caller reads it again later.
 */
export async function inboundStates(reader: PublicClient, endpoint: Address, packets: readonly Packet[]): Promise<(InboundState | undefined)[]> {
  if (packets.length === 0) return [];
  const paths = [...new Map(packets.map((p) => [`${p.receiverAddress}:${p.srcEid}:${p.sender}`.toLowerCase(), p])).entries()];
  const pathIndex = new Map(paths.map(([key], i) => [key, i]));
  const results = await reader.multicall({
    multicallAddress: MULTICALL3_ADDRESS,
    allowFailure: true,
    batchSize: 0,
    contracts: [
      ...paths.map(([, p]) => ({ address: endpoint, abi: endpointV2Abi, functionName: "lazyInboundNonce", args: [p.receiverAddress, p.srcEid, p.sender] }) as const),
      ...packets.map((p) => ({ address: endpoint, abi: endpointV2Abi, functionName: "inboundPayloadHash", args: [p.receiverAddress, p.srcEid, p.sender, p.nonce] }) as const),
    ],
  });
  return packets.map((p, i) => {
    const lazy = results[pathIndex.get(`${p.receiverAddress}:${p.srcEid}:${p.sender}`.toLowerCase())!]!;
    const hash = results[paths.length + i]!;
    if (lazy.status !== "success" || hash.status !== "success") return undefined;
    if (p.nonce <= (lazy.result as bigint) && hash.result === zeroHash) return "delivered";
    return hash.result === p.payloadHash ? "verified" : "pending";
  });
}
