/**
 * The reference hub-and-spoke money market (contracts/Hub.sol, contracts/Spoke.sol) behind the relayer's
 * LendingProtocol seam: debt and auctions on the hub, collateral on spokes, SEIZE messages over LayerZero.
 */
import { type Address, getAbiItem } from "viem";
import { salvageExecutorAbi, spokeAbi } from "../../../abis/index.js";
import { SettlementReader } from "../../layerzero/settlement.js";
import type { Deployment } from "../../protocol/deployment.js";
import type { LendingProtocol, RevertClass } from "../../recovery/protocol.js";
import { decodeBatch, encodeBatch, executorCreationCode } from "./batch.js";
import { readHub } from "./reads.js";

/** The hub's errors that mean something to a recovery; anything else is retried with backoff. */
const CLASSES: Record<string, RevertClass> = {
  AccountHealthy: "healthy",
  NoActiveAuction: "no-auction",
  AuctionExpired: "expired",
};

export function hubSpokeProtocol(d: Deployment): LendingProtocol {
  // A take's SEIZE is paid by the spoke's Seized event, which carries the take id.
  const settlement = new SettlementReader(d, {
    app: (eid) => d.spokes.find((s) => s.eid === eid)!.contracts.spoke!,
    event: getAbiItem({ abi: spokeAbi, name: "Seized" }),
    idOf: (args) => String(args.takeId),
    idOfTake: (t) => t.takeId.toString(),
    errors: spokeAbi,
  });
  return {
    hubChainId: d.hub.chainId,
    read: (accounts, liquidator, at) => readHub(d, accounts, liquidator, at),
    batchCall: encodeBatch,
    batchOutcomes: (receipt, executor) => decodeBatch(receipt, executor, d.hubAddress, d.hub.contracts.endpoint),
    classify: (errorName) => (errorName ? CLASSES[errorName] : undefined) ?? "retry",
    settlements: (takes) => settlement.read(takes.map((t) => ({ ...t, packet: t.packet! }))),
    collateralChainHead: (eid) => d.clients(d.spokes.find((s) => s.eid === eid)!).public.getBlockNumber(),
    executorDeployment: (owner) => executorCreationCode(d.hubAddress, owner),
    executorOwner: (executor: Address) => d.hubClients.public.readContract({ address: executor, abi: salvageExecutorAbi, functionName: "owner" }),
    // Planning gas per order, a margin above what the devnet measured: a kick-and-take order used 257k–262k gas
    // inside batches of 6 and 9 (storage the batch already touched is warm). A batch whose orders need more
    // than planned fails only its last orders (out of gas inside the executor's try), which are retried.
    gas: { kick: 70_000n, take: 270_000n, batchOverhead: 100_000n },
  };
}
