/**
 * The hub-accounted money market (contracts/hub-accounted/) behind the relayer's LendingProtocol seam: collateral
 * and debt accounted on the hub, liquidation in one hub transaction at fixed terms (no auction: every account's
 * `terms` say the close factor and bonus), the seized collateral credited to the executor's hub position and, by
 * policy, withdrawn to the receiver on its spoke in the same transaction (a WITHDRAW message) or kept on the hub.
 */
import { type Address, type Hex, getAbiItem } from "viem";
import { accountedExecutorAbi, accountedSpokeAbi } from "../../../abis/index.js";
import { SettlementReader } from "../../layerzero/settlement.js";
import type { Deployment } from "../../protocol/deployment.js";
import type { LendingProtocol, RevertClass, Settlement } from "../../recovery/protocol.js";
import { decodeBatch, encodeBatch, executorCreationCode, withdrawalIdOf } from "./batch.js";
import { accountedContracts } from "./contracts.js";
import { readAccounted } from "./reads.js";
import { AccountedScanner } from "./scanner.js";

/** The hub's errors that mean something to a recovery; anything else is retried with backoff. */
const CLASSES: Record<string, RevertClass> = { AccountHealthy: "healthy" };

export interface HubAccountedOptions {
  /** The deployment's name in the manifest's `protocols` (the first hub-accounted one when absent). */
  name?: string;
  /** Where seized collateral goes: withdrawn to the receiver on its spoke (default), or kept in the executor's hub position. */
  collateral?: "withdraw" | "keep";
}

export function hubAccountedProtocol(d: Deployment, options: HubAccountedOptions = {}): LendingProtocol {
  const c = accountedContracts(d, options.name);
  const withdraw = (options.collateral ?? "withdraw") === "withdraw";
  // A WITHDRAW is paid by the spoke's Withdrawn event, which carries the hub's withdrawal id (the message's ref).
  const settlement = new SettlementReader(d, {
    app: (eid) => c.spoke(eid),
    event: getAbiItem({ abi: accountedSpokeAbi, name: "Withdrawn" }),
    idOf: (args) => String(args.withdrawalId),
    idOfTake: (t) => withdrawalIdOf(t.packet).toString(),
    errors: accountedSpokeAbi,
  });
  return {
    hubChainId: d.hub.chainId,
    read: (accounts, liquidator, at) => readAccounted(d, c, accounts, liquidator, at),
    batchCall: (executor, orders, receiver) => encodeBatch(executor, orders, receiver, withdraw),
    batchOutcomes: (receipt, executor) => decodeBatch(receipt, executor, c.hub, d.hub.contracts.endpoint, c.entry.liquidation.bonus),
    classify: (errorName) => (errorName ? CLASSES[errorName] : undefined) ?? "retry",
    async settlements(takes) {
      // Collateral kept on the hub is settled by the liquidation itself.
      const kept = new Map<number, Settlement>(takes.filter((t) => !t.packet).map((t) => [t.key, { state: "seized" }] as const));
      const sent = await settlement.read(takes.filter((t): t is typeof t & { packet: Hex } => t.packet !== undefined));
      return new Map([...kept, ...sent]);
    },
    collateralChainHead: (eid) => d.clients(d.spokes.find((s) => s.eid === eid)!).public.getBlockNumber(),
    executorDeployment: (owner) => executorCreationCode(c.hub, owner),
    executorOwner: (executor: Address) => d.hubClients.public.readContract({ address: executor, abi: accountedExecutorAbi, functionName: "owner" }),
    // Planning gas per order: no kick; a liquidation with its withdrawal (two debt/collateral updates, an index
    // accrual and a LayerZero send), a margin above what the devnet measured.
    gas: { kick: 0n, take: withdraw ? 330_000n : 220_000n, batchOverhead: 100_000n },
    detector: async () => new AccountedScanner(d, c),
  };
}
