/**
 * LzReceiveAlert: what LayerZero's executor does when an lzReceive reverts. It calls
 * `EndpointV2.lzReceiveAlert(origin, receiver, guid, gas, value, message, extraData, reason)` and the
 * endpoint emits `LzReceiveAlert` with the revert reason, so anyone watching the destination endpoint
 * (the relayer, the indexer) sees why a packet is stuck. This module finds the reason (an eth_call replay
 * at the failing block, decoded against every ABI that can revert in an lzReceive) and reads the alerts.
 */
import { type Abi, type Address, type Hex, encodeErrorResult, encodeFunctionData, getAbiItem, parseAbi } from "viem";
import { endpointV2Abi, hubAbi, simpleMessageLibAbi, spokeAbi } from "../../abis/index.js";
import type { Reader } from "../chains/tx.js";
import { type DecodedRevert, decodeRevertData, replayRevert } from "../chains/errors.js";
import type { Packet } from "./packet.js";

/**
 * A reason the EVM gives no bytes for: the receiver ran out of the gas the executor gave it. Not a
 * contract's error: the deliverer puts it in the alert, so the reason decodes by name like any other.
 */
export const deliveryReasonAbi = parseAbi(["error LzReceiveOutOfGas(uint256 gas)"]);

/** Endpoint ABI plus every error a receiver (hub, spoke), the message library or the deliverer may give. */
export const deliveryAbi = [
  ...endpointV2Abi,
  ...[...hubAbi, ...spokeAbi, ...simpleMessageLibAbi].filter((item) => item.type === "error"),
  ...deliveryReasonAbi,
] as Abi;

const lzReceiveAlertEvent = getAbiItem({ abi: endpointV2Abi, name: "LzReceiveAlert" });

export interface LzReceiveAlert {
  guid: Hex;
  receiver: Address;
  executor: Address;
  origin: { srcEid: number; sender: Hex; nonce: bigint };
  gas: bigint;
  value: bigint;
  message: Hex;
  extraData: Hex;
  /** The raw reason bytes as alerted. */
  reason: Hex;
  /** The reason decoded by name: `StalePrice(10, 1700000000, 86400)`, `LzReceiveOutOfGas(25000)`. */
  decoded: DecodedRevert;
  blockNumber: bigint;
  transactionHash: Hex;
}

/** Every LzReceiveAlert the endpoint emitted in [fromBlock, toBlock], by guid, oldest first. */
export async function lzReceiveAlerts(reader: Reader, endpoint: Address, fromBlock: bigint, toBlock?: bigint): Promise<Map<Hex, LzReceiveAlert[]>> {
  const logs = await reader.getLogs({ address: endpoint, event: lzReceiveAlertEvent, fromBlock, toBlock: toBlock ?? "latest" });
  const byGuid = new Map<Hex, LzReceiveAlert[]>();
  for (const log of logs) {
    const a = log.args;
    const alert: LzReceiveAlert = {
      guid: a.guid!,
      receiver: a.receiver!,
      executor: a.executor!,
      origin: { srcEid: a.origin!.srcEid, sender: a.origin!.sender, nonce: a.origin!.nonce },
      gas: a.gas!,
      value: a.value!,
      message: a.message!,
      extraData: a.extraData!,
      reason: a.reason!,
      decoded: decodeRevertData(deliveryAbi, a.reason!),
      blockNumber: log.blockNumber!,
      transactionHash: log.transactionHash!,
    };
    const list = byGuid.get(alert.guid) ?? [];
    list.push(alert);
    byGuid.set(alert.guid, list);
  }
  return byGuid;
}

export function lzReceiveCalldata(p: Packet, extraData: Hex = "0x"): Hex {
  return encodeFunctionData({
    abi: endpointV2Abi,
    functionName: "lzReceive",
    args: [{ srcEid: p.srcEid, sender: p.sender, nonce: p.nonce }, p.receiverAddress, p.guid, p.message, extraData],
  });
}

export function lzReceiveAlertCalldata(p: Packet, gas: bigint, reason: Hex, extraData: Hex = "0x"): Hex {
  return encodeFunctionData({
    abi: endpointV2Abi,
    functionName: "lzReceiveAlert",
    args: [{ srcEid: p.srcEid, sender: p.sender, nonce: p.nonce }, p.receiverAddress, p.guid, gas, 0n, p.message, extraData, reason],
  });
}

export interface ReplayedRevert {
  reason: Hex;
  decoded: DecodedRevert;
}

/**
 * Why an lzReceive reverted: the call replayed at the failing block with the same sender and gas,
 * decoded by name. A revert without data that passes with `retryGas` is the receiver running out of gas
 * (`LzReceiveOutOfGas(gas)`).
 */
export async function replayLzReceive(
  reader: Reader,
  call: { endpoint: Address; executor: Address; packet: Packet; gas: bigint; blockNumber: bigint; retryGas: bigint },
): Promise<ReplayedRevert> {
  const replay = (gas: bigint) =>
    replayRevert(reader, { from: call.executor, to: call.endpoint, data: lzReceiveCalldata(call.packet), gas, blockNumber: call.blockNumber });
  const first = await replay(call.gas);
  if (first !== undefined && first !== "passed") return { reason: first, decoded: decodeRevertData(deliveryAbi, first) };
  // A replay that passes tells nothing (the state moved on): reverted without data.
  if (first === undefined && (await replay(call.retryGas)) === "passed") {
    const outOfGas = encodeErrorResult({ abi: deliveryReasonAbi, errorName: "LzReceiveOutOfGas", args: [call.gas] });
    return { reason: outOfGas, decoded: decodeRevertData(deliveryAbi, outOfGas) };
  }
  return { reason: "0x", decoded: decodeRevertData(deliveryAbi, "0x") };
}
