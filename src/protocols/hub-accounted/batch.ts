/**
 * Batches through the liquidator's AccountedExecutor (contracts/hub-accounted/AccountedExecutor.sol): orders
 * encoded into one `execute` call, each order's outcome read back from the receipt by event name: the executor's
 * Executed/Failed, the hub's Liquidated and WithdrawSent, the endpoint's PacketSent.
 */
import { type Abi, type Address, type Hex, type TransactionReceipt, decodeAbiParameters, encodeDeployData, encodeFunctionData, parseEventLogs } from "viem";
import { accountedExecutorAbi, accountedExecutorBytecode, accountedHubAbi, endpointV2Abi } from "../../../abis/index.js";
import { decodeRevertData } from "../../chains/errors.js";
import { decodePacket } from "../../layerzero/packet.js";
import type { Order, OrderOutcome } from "../../recovery/protocol.js";

/** Errors an order can revert with, so a Failed reason decodes by name. */
const orderErrors = [...accountedHubAbi, ...accountedExecutorAbi, ...endpointV2Abi].filter((item) => item.type === "error") as Abi;

/** `withdraw`: each order withdraws its collateral to the receiver on its spoke (else it stays in the executor's hub position). */
export function encodeBatch(executor: Address, orders: readonly Order[], receiver: Address, withdraw: boolean): { to: Address; data: Hex; value: bigint } {
  const data = encodeFunctionData({
    abi: accountedExecutorAbi,
    functionName: "execute",
    args: [
      orders.map((o) => ({
        account: o.account, debtAssetId: o.debtAssetId, maxRepay: o.maxRepay, eid: o.eid, collateralAssetId: o.collateralAssetId,
        minSeize: o.minSeize, withdraw, fee: withdraw ? o.feeWei : 0n,
      })),
      receiver,
    ],
  });
  return { to: executor, data, value: withdraw ? orders.reduce((sum, o) => sum + o.feeWei, 0n) : 0n };
}

/** The withdrawal id an AccountedMessages WITHDRAW carries (its `ref`). */
export function withdrawalIdOf(packet: Hex): bigint {
  const [, , , , , ref] = decodeAbiParameters(
    [{ type: "uint8" }, { type: "address" }, { type: "uint16" }, { type: "uint256" }, { type: "address" }, { type: "uint256" }],
    decodePacket(packet).message,
  );
  return ref;
}

/** `bonus`: the hub's fixed liquidation bonus, what every liquidation of the batch got. */
export function decodeBatch(receipt: TransactionReceipt, executor: Address, hub: Address, endpoint: Address, bonus: bigint): Map<string, OrderOutcome> {
  const out = new Map<string, OrderOutcome>();
  if (receipt.status !== "success") return out;
  const from = (address: Address) => receipt.logs.filter((l) => l.address.toLowerCase() === address.toLowerCase());
  const packets = new Map<string, Hex>();
  for (const e of parseEventLogs({ abi: endpointV2Abi, logs: from(endpoint), eventName: "PacketSent" })) {
    const encoded = e.args.encodedPayload as Hex;
    packets.set(decodePacket(encoded).guid.toLowerCase(), encoded);
  }
  const liquidations = new Map<string, { id: bigint; repayAmount: bigint; seizeAmount: bigint }>();
  const withdrawals = new Map<bigint, Hex>();
  for (const e of parseEventLogs({ abi: accountedHubAbi, logs: from(hub) })) {
    if (e.eventName === "Liquidated") liquidations.set(e.args.account.toLowerCase(), { id: e.args.liquidationId, repayAmount: e.args.repayAmount, seizeAmount: e.args.seizeAmount });
    if (e.eventName === "WithdrawSent") withdrawals.set(e.args.withdrawalId, e.args.guid);
  }
  for (const e of parseEventLogs({ abi: accountedExecutorAbi, logs: from(executor) })) {
    const account = e.args.account.toLowerCase();
    if (e.eventName === "Failed") {
      const revert = decodeRevertData(orderErrors, e.args.reason);
      out.set(account, { status: "failed", errorName: revert.errorName, message: revert.message });
      continue;
    }
    if (e.eventName !== "Executed") continue;
    const l = liquidations.get(account);
    if (!l) throw new Error(`order for ${account} in ${receipt.transactionHash} executed without a Liquidated event`);
    let guid: Hex | undefined;
    let packet: Hex | undefined;
    if (e.args.withdrawalId !== 0n) {
      guid = withdrawals.get(e.args.withdrawalId);
      packet = guid ? packets.get(guid.toLowerCase()) : undefined;
      if (!guid || !packet) throw new Error(`withdrawal ${e.args.withdrawalId} in ${receipt.transactionHash} has no WithdrawSent/PacketSent`);
    }
    out.set(account, { status: "executed", kicked: false, take: { takeId: l.id, guid, packet, repayAmount: l.repayAmount, seizeAmount: l.seizeAmount, bonus } });
  }
  return out;
}

export function executorCreationCode(hub: Address, owner: Address): Hex {
  return encodeDeployData({ abi: accountedExecutorAbi, bytecode: accountedExecutorBytecode, args: [hub, owner] });
}
