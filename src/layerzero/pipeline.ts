/**
 * Pipelined transactions: many transactions of one signer in flight at once. Each is signed locally
 * with an explicit nonce and a fixed gas limit (no estimateGas: an lzReceive cannot be estimated before
 * its verify is mined), broadcast in nonce order, and all receipts are awaited in one polling loop.
 * A signer's transactions are mined in nonce order, so the order of the list is the order on chain,
 * even within one block.
 *
 * Nonces: the next nonce per (chain, signer) lives in memory and is read again from the node's pending
 * count at the start of each round and after any broadcast that did not go through. A broadcast whose
 * nonce someone else took ("nonce too low") or that the node already has ("already known") is told apart
 * by reading the node's state (its transaction by hash, the signer's pending count), not its message.
 */
import { type Account, type Address, type Hex, type TransactionReceipt, keccak256 } from "viem";
import type { ChainClients } from "../chains/clients.js";
import { describeError } from "../chains/errors.js";
import { mapLimit, sleep } from "../util/concurrency.js";

export interface TxIntent {
  account: Account;
  to: Address;
  data: Hex;
  gas: bigint;
}

export type Broadcast =
  | { kind: "sent"; hash: Hex; nonce: number }
  /** Not broadcast and not a failure: an earlier transaction of its signer did not go through, or its nonce was taken. */
  | { kind: "deferred"; reason: string }
  | { kind: "error"; reason: string };

export type Outcome =
  | { kind: "mined"; receipt: TransactionReceipt }
  /** Its nonce was used by another transaction (replaced, or another sender of the key): not a failure. */
  | { kind: "dropped" }
  | { kind: "timeout" };

interface Fees {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

export class NonceBook {
  private readonly next = new Map<string, number>();

  private key(clients: ChainClients, address: Address): string {
    const url = clients.chain.rpcUrls.default.http[0] ?? "";
    return `${clients.chain.id}:${url}:${address.toLowerCase()}`;
  }

  async resync(clients: ChainClients, address: Address): Promise<number> {
    const nonce = await clients.public.getTransactionCount({ address, blockTag: "pending" });
    this.next.set(this.key(clients, address), nonce);
    return nonce;
  }

  take(clients: ChainClients, address: Address): number {
    const key = this.key(clients, address);
    const nonce = this.next.get(key);
    if (nonce === undefined) throw new Error(`no nonce for ${address}: resync first`);
    this.next.set(key, nonce + 1);
    return nonce;
  }

  forget(clients: ChainClients, address: Address): void {
    this.next.delete(this.key(clients, address));
  }
}

async function roundFees(clients: ChainClients): Promise<Fees> {
  const fees = await clients.public.estimateFeesPerGas();
  // Room for a burst that fills several blocks (the base fee rises 12.5 % per full block); only the base
  // fee and the tip are paid.
  return { maxFeePerGas: fees.maxFeePerGas * 3n, maxPriorityFeePerGas: fees.maxPriorityFeePerGas };
}

/**
 * Signs and broadcasts `intents` in list order per signer with consecutive nonces. After the first
 * transaction of a signer that does not go through, that signer's later intents are deferred (sending
 * them would leave a nonce gap).
 */
export async function broadcastAll(clients: ChainClients, nonces: NonceBook, intents: readonly TxIntent[]): Promise<Broadcast[]> {
  const results = new Array<Broadcast>(intents.length);
  if (intents.length === 0) return results;
  const bySigner = new Map<Address, number[]>();
  intents.forEach((intent, i) => {
    const list = bySigner.get(intent.account.address) ?? [];
    list.push(i);
    bySigner.set(intent.account.address, list);
  });
  const fees = await roundFees(clients);
  await Promise.all(
    [...bySigner].map(async ([address, indexes]) => {
      await nonces.resync(clients, address);
      let blocked: string | undefined;
      for (const i of indexes) {
        if (blocked) {
          results[i] = { kind: "deferred", reason: blocked };
          continue;
        }
        const intent = intents[i]!;
        const nonce = nonces.take(clients, address);
        const result = await sendOne(clients, intent, nonce, fees);
        results[i] = result;
        if (result.kind !== "sent") {
          blocked = `not sent: an earlier transaction of ${address} did not go through (${result.reason})`;
          nonces.forget(clients, address);
        }
      }
    }),
  );
  return results;
}

async function sendOne(clients: ChainClients, intent: TxIntent, nonce: number, fees: Fees): Promise<Broadcast> {
  const { account } = intent;
  const tx = { to: intent.to, data: intent.data, gas: intent.gas, nonce, value: 0n, ...fees };
  let hash: Hex | undefined;
  try {
    if (account.type === "local") {
      const serialized = await account.signTransaction({ ...tx, chainId: clients.chain.id, type: "eip1559" });
      hash = keccak256(serialized);
      await clients.public.sendRawTransaction({ serializedTransaction: serialized });
      return { kind: "sent", hash, nonce };
    }
    // A node-held key (anvil impersonation): the node signs, with our nonce and gas.
    hash = await clients.wallet(account).sendTransaction({ ...tx, account, chain: clients.chain });
    return { kind: "sent", hash, nonce };
  } catch (error) {
    // "already known": the node has these very bytes, so the transaction is in flight.
    if (hash && (await clients.public.getTransaction({ hash }).then(() => true, () => false))) return { kind: "sent", hash, nonce };
    // "nonce too low": someone else's transaction has this nonce. Not a failure of the packet.
    const pending = await clients.public.getTransactionCount({ address: account.address, blockTag: "pending" }).catch(() => undefined);
    if (pending !== undefined && pending > nonce) return { kind: "deferred", reason: `nonce ${nonce} of ${account.address} already used` };
    return { kind: "error", reason: describeError(error) };
  }
}

/**
 * Waits for every sent transaction in one loop: each poll reads the signers' mined nonce counts and
 * fetches receipts only for transactions whose nonce is now mined.
 */
export async function awaitAll(
  clients: ChainClients,
  sent: readonly { hash: Hex; nonce: number; from: Address }[],
  options: { timeoutMs: number; pollMs: number },
): Promise<Map<Hex, Outcome>> {
  const outcomes = new Map<Hex, Outcome>();
  const outstanding = new Map(sent.map((s) => [s.hash, s]));
  const deadline = Date.now() + options.timeoutMs;
  // A mined nonce without our receipt is read twice before it counts as dropped (a receipt can lag the count).
  const missingOnce = new Set<Hex>();
  while (outstanding.size > 0) {
    const signers = [...new Set([...outstanding.values()].map((s) => s.from))];
    const mined = new Map(
      await Promise.all(signers.map(async (address) => [address, await clients.public.getTransactionCount({ address, blockTag: "latest" })] as const)),
    );
    const due = [...outstanding.values()].filter((s) => s.nonce < mined.get(s.from)!);
    const receipts = await mapLimit(due, 32, (s) => clients.public.getTransactionReceipt({ hash: s.hash }).catch(() => undefined));
    due.forEach((s, i) => {
      const receipt = receipts[i];
      if (!receipt && !missingOnce.has(s.hash)) return void missingOnce.add(s.hash);
      outcomes.set(s.hash, receipt ? { kind: "mined", receipt } : { kind: "dropped" });
      outstanding.delete(s.hash);
    });
    if (outstanding.size === 0) break;
    if (Date.now() > deadline) {
      for (const hash of outstanding.keys()) outcomes.set(hash, { kind: "timeout" });
      break;
    }
    await sleep(options.pollMs);
  }
  return outcomes;
}
