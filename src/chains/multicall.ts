/**
 * Multicall3 at its canonical address. Real chains have it (github.com/mds1/multicall); the devnet puts
 * the runtime code of contracts/Multicall3.sol there, so one batched read works the same everywhere.
 */
import type { Address, PublicClient } from "viem";
import { multicall3Bytecode } from "../../abis/index.js";

export const MULTICALL3_ADDRESS: Address = "0xcA11bde05977b3631167028862bE2a173976CA11";

/** Places Multicall3 at the canonical address of a local (anvil) chain, unless code is there already. */
export async function installMulticall3(reader: PublicClient): Promise<void> {
  const existing = await reader.getCode({ address: MULTICALL3_ADDRESS });
  if (existing && existing !== "0x") return;
  // eth_call of creation code returns the runtime code, without a transaction (no deployer nonce is used).
  const { data: runtime } = await reader.call({ data: multicall3Bytecode });
  if (!runtime) throw new Error("Multicall3: creation code returned no runtime code");
  await reader.request({ method: "anvil_setCode", params: [MULTICALL3_ADDRESS, runtime] } as never);
}
