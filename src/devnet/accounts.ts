/**
 * Devnet roles. These are anvil's built-in development keys (from the public "test test ... junk"
 * mnemonic), known to everyone and funded only on local chains: never use them on a real network, where
 * keys come from the environment (see README, "Real chains").
 */
import { type Hex, keccak256, encodePacked, getAddress, type Address } from "viem";
import { privateKeyToAccount } from "viem/accounts";

export const DEVNET_KEYS = {
  deployer: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  relayer: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  liquidator: "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
} as const satisfies Record<string, Hex>;

/** Concurrent writes of one key are ordered by src/chain/tx.ts `serialized`, so they never race on a nonce. */
export const devnetAccounts = {
  deployer: privateKeyToAccount(DEVNET_KEYS.deployer),
  relayer: privateKeyToAccount(DEVNET_KEYS.relayer),
  liquidator: privateKeyToAccount(DEVNET_KEYS.liquidator),
};

/** The address of synthetic borrower `index` for a seed. Borrowers act through anvil's auto-impersonation. */
export function borrowerAddress(seed: number, index: number): Address {
  const hash = keccak256(encodePacked(["string", "uint256", "uint256"], ["salvage-borrower", BigInt(seed), BigInt(index)]));
  return getAddress(`0x${hash.slice(26)}`);
}
