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
import { type Account, type Address, type Hex, type RpcTransactionReceipt, type TransactionReceipt, formatTransactionReceipt, keccak256, numberToHex } from "viem";
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
 * Signs and broadcasts `intents` in list order per signer with consecutive nonces. A signer with a local
 * key signs all its transactions first and sends them as one JSON-RPC batch (one request for a round, not
 * one per transaction); a node-held key sends one at a time. After the first transaction of a signer that
 * does not go through, its later ones are deferred when they were not sent yet; in a batch they were sent
 * with it, and stay in the node's pool until the gap is filled or a later round takes their nonces again
 * (their receipts time out; the next round reads the nonce from the node).
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
      const account = intents[indexes[0]!]!.account;
      if (account.type === "local") {
        const signed = await Promise.all(indexes.map((i) => signOne(clients, intents[i]!, nonces.take(clients, address), fees)));
        const sent = await Promise.all(signed.map((tx) => clients.batched.sendRawTransaction({ serializedTransaction: tx.raw }).then(() => undefined, (error: unknown) => error)));
        let failed = false;
        for (const [k, i] of indexes.entries()) {
          const { hash, nonce } = signed[k]!;
          results[i] = sent[k] === undefined ? { kind: "sent", hash, nonce } : await notSent(clients, account.address, hash, nonce, sent[k]);
          failed ||= results[i]!.kind !== "sent";
        }
        if (failed) nonces.forget(clients, address);
        return;
      }
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

async function signOne(clients: ChainClients, intent: TxIntent, nonce: number, fees: Fees): Promise<{ raw: Hex; hash: Hex; nonce: number }> {
  const raw = await intent.account.signTransaction!({ to: intent.to, data: intent.data, gas: intent.gas, nonce, value: 0n, ...fees, chainId: clients.chain.id, type: "eip1559" });
  return { raw, hash: keccak256(raw), nonce };
}

/** A broadcast the node refused: in flight anyway ("already known"), its nonce taken by someone else, or an error. */
async function notSent(clients: ChainClients, address: Address, hash: Hex | undefined, nonce: number, error: unknown): Promise<Broadcast> {
  // "already known": the node has these very bytes, so the transaction is in flight.
  if (hash && (await clients.public.getTransaction({ hash }).then(() => true, () => false))) return { kind: "sent", hash, nonce };
  // "nonce too low": someone else's transaction has this nonce. Not a failure of the packet.
  const pending = await clients.public.getTransactionCount({ address, blockTag: "pending" }).catch(() => undefined);
  if (pending !== undefined && pending > nonce) return { kind: "deferred", reason: `nonce ${nonce} of ${address} already used` };
  return { kind: "error", reason: describeError(error) };
}

/** One transaction of a node-held key (anvil impersonation): the node signs, with our nonce and gas. */
async function sendOne(clients: ChainClients, intent: TxIntent, nonce: number, fees: Fees): Promise<Broadcast> {
  const { account } = intent;
  let hash: Hex | undefined;
  try {
    hash = await clients.wallet(account).sendTransaction({ to: intent.to, data: intent.data, gas: intent.gas, nonce, value: 0n, ...fees, account, chain: clients.chain });
    return { kind: "sent", hash, nonce };
  } catch (error) {
    return notSent(clients, account.address, hash, nonce, error);
  }
}

/**
 * Waits for every sent transaction in one loop, reading whole blocks: each new block's receipts in one
 * request (eth_getBlockReceipts), from `fromBlock` (a block mined before the first of them was sent) on.
 * A transaction whose nonce the signer's count at a read block has passed without its receipt in any
 * block up to it was dropped (its nonce went to another transaction).
 */
export async function awaitAll(
  clients: ChainClients,
  sent: readonly { hash: Hex; nonce: number; from: Address }[],
  options: { timeoutMs: number; pollMs: number; fromBlock: bigint },
): Promise<Map<Hex, Outcome>> {
  const outcomes = new Map<Hex, Outcome>();
  const outstanding = new Map(sent.map((s) => [s.hash.toLowerCase() as Hex, s]));
  const deadline = Date.now() + options.timeoutMs;
  let next = options.fromBlock + 1n;
  while (outstanding.size > 0) {
    const head = await clients.public.getBlockNumber({ cacheTime: 0 });
    const numbers: bigint[] = [];
    for (let n = next; n <= head; n++) numbers.push(n);
    const blocks = await mapLimit(numbers, 4, (n) => clients.public.request({ method: "eth_getBlockReceipts", params: [numberToHex(n)] } as never) as Promise<RpcTransactionReceipt[] | null>);
    // A block the node numbers but does not serve yet (null) is read again next poll, with every block after it.
    const unread = blocks.findIndex((receipts) => receipts === null);
    const read = unread === -1 ? blocks : blocks.slice(0, unread);
    for (const receipts of read) {
      for (const raw of receipts!) {
        const s = outstanding.get(raw.transactionHash.toLowerCase() as Hex);
        if (!s) continue;
        outcomes.set(s.hash, { kind: "mined", receipt: formatTransactionReceipt(raw) });
        outstanding.delete(raw.transactionHash.toLowerCase() as Hex);
      }
    }
    const through = next + BigInt(read.length) - 1n;
    next = through + 1n;
    if (outstanding.size > 0 && read.length > 0) {
      const signers = [...new Set([...outstanding.values()].map((s) => s.from))];
      const mined = new Map(await Promise.all(signers.map(async (address) => [address, await clients.public.getTransactionCount({ address, blockNumber: through })] as const)));
      for (const [key, s] of outstanding) {
        if (s.nonce >= mined.get(s.from)!) continue;
        // Its nonce is used and its receipt was in no block read: asked by hash before it is called dropped,
        // so that a block whose receipts the node served short cannot turn a mined transaction into a drop.
        const receipt = await clients.public.getTransactionReceipt({ hash: s.hash }).catch(() => undefined);
        outcomes.set(s.hash, receipt ? { kind: "mined", receipt } : { kind: "dropped" });
        outstanding.delete(key);
      }
    }
    if (outstanding.size === 0) break;
    if (Date.now() > deadline) {
      for (const s of outstanding.values()) outcomes.set(s.hash, { kind: "timeout" });
      break;
    }
    await sleep(options.pollMs);
  }
  return outcomes;
}
