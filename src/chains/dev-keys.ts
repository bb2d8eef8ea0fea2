/**
 * anvil's built-in development keys (from the public "test test ... junk" mnemonic): known to everyone,
 * funded only on local chains. The devnet gives them roles; `salvage relay --devnet-keys` uses them, and
 * only when every chain of the manifest is on loopback.
 */
import type { Hex } from "viem";

export const ANVIL_DEV_KEYS = {
  deployer: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  relayer: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  liquidator: "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
} as const satisfies Record<string, Hex>;
