/** Send-and-confirm helpers: every write waits for its receipt and fails loudly on a revert, with its reason. */
import type { Abi, Account, Address, Chain, ContractFunctionArgs, ContractFunctionName, Hex, PublicClient, Transport, TransactionReceipt, WalletClient } from "viem";
import { decodeRevertData, replayRevert } from "./errors.js";

export type Wallet = WalletClient<Transport, Chain, Account>;
export type Reader = PublicClient<Transport, Chain>;

const senders = new Map<string, Promise<unknown>>();

/**
 * Runs `send` after every earlier send of the same key on the same chain has been handed to the node, so
 * concurrent callers never read the same pending nonce. (A nonce cache would outlive a restarted devnet
 * that reuses chain ids; asking the node each time, one sender at a time, cannot go stale.)
 */
export function serialized<T>(wallet: Wallet, send: () => Promise<T>): Promise<T> {
  const url = (wallet.transport as { url?: string }).url ?? "";
  const key = `${wallet.chain.id}:${url}:${wallet.account.address.toLowerCase()}`;
  const run = (senders.get(key) ?? Promise.resolve()).then(send, send);
  const tail = run.catch(() => {});
  senders.set(key, tail);
  void tail.then(() => {
    if (senders.get(key) === tail) senders.delete(key);
  });
  return run;
}

/**
 * Waits for `hash`'s receipt; a revert throws with its reason: the transaction replayed at its block (eth_call,
 * same sender, value and gas limit) and decoded against `abi`, with the gas it used of its limit (all of it:
 * out of gas).
 */
export async function confirm(reader: Reader, hash: Hex, what: string, timeout = 60_000, abi?: Abi): Promise<TransactionReceipt> {
  // On an automining chain the receipt exists already: ask once before falling back to polling.
  const receipt =
    (await reader.getTransactionReceipt({ hash }).catch(() => undefined)) ??
    (await reader.waitForTransactionReceipt({ hash, timeout }));
  if (receipt.status !== "success") throw new Error(`${what} reverted (tx ${hash}): ${await revertReason(reader, receipt, abi)}`);
  return receipt;
}

async function revertReason(reader: Reader, receipt: TransactionReceipt, abi: Abi = []): Promise<string> {
  try {
    const tx = await reader.getTransaction({ hash: receipt.transactionHash });
    const gas = `gas ${receipt.gasUsed} of ${tx.gas}, block ${receipt.blockNumber}`;
    if (!tx.to) return gas;
    const data = await replayRevert(reader, { from: tx.from, to: tx.to, data: tx.input, value: tx.value, gas: tx.gas, blockNumber: receipt.blockNumber });
    if (data === "passed") return `${gas}; the replay at its block passes (the state it reverted on has moved on)`;
    return `${decodeRevertData(abi, data ?? "0x").message}; ${gas}`;
  } catch (error) {
    return `reason unknown (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`;
  }
}

export async function deployContract(
  wallet: Wallet,
  reader: Reader,
  contract: { abi: Abi; bytecode: Hex; name: string },
  args: readonly unknown[],
): Promise<Address> {
  const hash = await serialized(wallet, () => wallet.deployContract({ abi: contract.abi, bytecode: contract.bytecode, args } as never));
  const receipt = await confirm(reader, hash, `deploy ${contract.name}`);
  if (!receipt.contractAddress) throw new Error(`deploy ${contract.name}: no contract address in receipt`);
  return receipt.contractAddress;
}

export async function write<
  const abi extends Abi,
  name extends ContractFunctionName<abi, "nonpayable" | "payable">,
>(
  wallet: Wallet,
  reader: Reader,
  call: {
    address: Address;
    abi: abi;
    functionName: name;
    args: ContractFunctionArgs<abi, "nonpayable" | "payable", name>;
    value?: bigint;
  },
): Promise<TransactionReceipt> {
  const hash = await serialized(wallet, async () => {
    // The estimate runs the call (a revert throws here, decoded against the ABI, before anything is sent). Sent with a
    // margin over it: state that changes with the block's time (a borrow index accrued once per second,
    // AccountedHub._accrue) costs storage writes the estimate skipped when it ran in the second of an earlier accrual.
    const estimate = await reader.estimateContractGas({ ...call, account: wallet.account } as never);
    return wallet.writeContract({ ...call, gas: (estimate * 5n) / 4n + 30_000n } as never);
  });
  return confirm(reader, hash, `${call.functionName} on ${call.address}`, undefined, call.abi);
}
