/**
 * Devnet roles. These are anvil's built-in development keys (from the public "test test ... junk"
 * mnemonic), known to everyone and funded only on local chains: never use them on a real network, where
 * keys come from the environment (see README, "Real chains").
 */
import { keccak256, encodePacked, getAddress, type Address } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { ANVIL_DEV_KEYS } from "../chains/dev-keys.js";

export const DEVNET_KEYS = ANVIL_DEV_KEYS;

/** Concurrent writes of one key are ordered by src/chains/tx.ts `serialized`, so they never race on a nonce. */
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
