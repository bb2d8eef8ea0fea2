/** LayerZero packets in the tests' devnets: verified without being executed, as a DVN does before the executor runs. */
import type { Hex } from "viem";
import { simpleMessageLibAbi } from "../../abis/index.js";
import { write } from "../../src/chains/tx.js";
import { devnetAccounts } from "../../src/devnet/accounts.js";
import { createDevnetDeliverer } from "../../src/devnet/network.js";
import { inboundState } from "../../src/layerzero/endpoint.js";
import type { TestNetwork } from "./network.js";

/** Verifies (but does not execute) every pending packet to a spoke; returns how many. */
export async function verifyPendingPackets(net: Pick<TestNetwork, "deployment">): Promise<number> {
  const scanner = createDevnetDeliverer(net.deployment.manifest);
  await scanner.scan();
  let verified = 0;
  for (const p of scanner.pending()) {
    const dst = net.deployment.manifest.chains.find((c) => c.eid === p.dstEid)!;
    if (dst.role !== "spoke") continue;
    const { public: reader, wallet } = net.deployment.clients(dst);
    if ((await inboundState(reader, dst.contracts.endpoint, p)) !== "pending") continue;
    await write(wallet(devnetAccounts.relayer), reader, { address: dst.contracts.messageLib!, abi: simpleMessageLibAbi, functionName: "validatePacket", args: [p.encoded as Hex] });
    verified++;
  }
  return verified;
}
