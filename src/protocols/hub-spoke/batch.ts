/**
 * Batches through the liquidator's executor (contracts/SalvageExecutor.sol): orders encoded into one
 * `execute` call, and each order's outcome read back from the receipt by event name: the executor's
 * Executed/Failed, the hub's AuctionKicked/Take, the endpoint's PacketSent.
 */
import { type Abi, type Address, type Hex, type TransactionReceipt, encodeDeployData, encodeFunctionData, parseEventLogs } from "viem";
import { endpointV2Abi, hubAbi, salvageExecutorAbi, salvageExecutorBytecode } from "../../../abis/index.js";
import { decodeRevertData } from "../../chains/errors.js";
import { decodePacket } from "../../layerzero/packet.js";
import type { Order, OrderOutcome } from "../../recovery/protocol.js";

/** Errors an order can revert with, so a Failed reason decodes by name. */
const orderErrors = [...hubAbi, ...salvageExecutorAbi, ...endpointV2Abi].filter((item) => item.type === "error") as Abi;

export function encodeBatch(executor: Address, orders: readonly Order[], receiver: Address): { to: Address; data: Hex; value: bigint } {
  const data = encodeFunctionData({
    abi: salvageExecutorAbi,
    functionName: "execute",
    args: [
      orders.map((o) => ({
        account: o.account, kick: o.kick, take: o.take, debtAssetId: o.debtAssetId, maxRepay: o.maxRepay,
        eid: o.eid, collateralAssetId: o.collateralAssetId, minSeize: o.minSeize, fee: o.take ? o.feeWei : 0n,
      })),
      receiver,
    ],
  });
  return { to: executor, data, value: orders.reduce((sum, o) => sum + (o.take ? o.feeWei : 0n), 0n) };
}

export function decodeBatch(receipt: TransactionReceipt, executor: Address, hub: Address, endpoint: Address): Map<string, OrderOutcome> {
  const out = new Map<string, OrderOutcome>();
  if (receipt.status !== "success") return out;
  const from = (address: Address) => receipt.logs.filter((l) => l.address.toLowerCase() === address.toLowerCase());
  const exec = parseEventLogs({ abi: salvageExecutorAbi, logs: from(executor) });
  const hubLogs = parseEventLogs({ abi: hubAbi, logs: from(hub) });
  const packets = new Map<string, Hex>();
  for (const e of parseEventLogs({ abi: endpointV2Abi, logs: from(endpoint), eventName: "PacketSent" })) {
    const encoded = e.args.encodedPayload as Hex;
    packets.set(decodePacket(encoded).guid.toLowerCase(), encoded);
  }
  // Decoded by name, whatever else the hub emitted in between (AuctionEnded before a re-kick, AuctionEnded after a take).
  const kicks = new Map<string, bigint>();
  const takes = new Map<string, OrderOutcome & { status: "executed" }>();
  for (const e of hubLogs) {
    if (e.eventName === "AuctionKicked") kicks.set(e.args.account.toLowerCase(), e.args.auctionId);
    if (e.eventName === "Take") {
      const guid = e.args.guid.toLowerCase();
      const packet = packets.get(guid);
      if (!packet) throw new Error(`take ${e.args.takeId} in ${receipt.transactionHash} has no PacketSent for guid ${guid}`);
      takes.set(e.args.account.toLowerCase(), {
        status: "executed",
        kicked: false,
        auctionId: e.args.auctionId,
        take: { takeId: e.args.takeId, guid: e.args.guid, packet, repayAmount: e.args.repayAmount, seizeAmount: e.args.seizeAmount, bonus: e.args.bonus },
      });
    }
  }
  for (const e of exec) {
    const account = e.args.account.toLowerCase();
    if (e.eventName === "Failed") {
      const revert = decodeRevertData(orderErrors, e.args.reason);
      out.set(account, { status: "failed", errorName: revert.errorName, message: revert.message });
    } else if (e.eventName === "Executed") {
      const take = takes.get(account);
      out.set(account, { status: "executed", kicked: e.args.kicked, auctionId: kicks.get(account) ?? take?.auctionId, take: take?.take });
    }
  }
  return out;
}

export function executorCreationCode(hub: Address, owner: Address): Hex {
  return encodeDeployData({ abi: salvageExecutorAbi, bytecode: salvageExecutorBytecode, args: [hub, owner] });
}
