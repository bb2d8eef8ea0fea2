/**
 * The packet deliverer: plays LayerZero's DVN and executor for chains whose endpoints use the
 * SimpleMessageLib (the devnet). It watches `PacketSent` on every endpoint, decodes each packet,
 * verifies it on the destination (SimpleMessageLib.validatePacket, whitelisted to the verifier key) and
 * calls EndpointV2.lzReceive, in nonce order per path, exactly once per packet.
 *
 * Exactly once holds across restarts because every decision reads the destination endpoint first: a
 * packet the endpoint has already cleared is marked delivered without a transaction, and one already
 * verified is not verified again. A packet whose lzReceive reverts stays at the head of its path and is
 * retried with exponential backoff (later nonces of that path wait behind it, as ordered delivery
 * requires). A packet addressed to an unknown chain, to a contract that is not a configured receiver, or
 * from a sender that is not the receiver's peer is rejected and never delivered.
 */
import {
  type Abi,
  type Account,
  type Address,
  type Hex,
  BaseError,
  ContractFunctionRevertedError,
  getAbiItem,
  zeroHash,
} from "viem";
import { endpointV2Abi, hubAbi, simpleMessageLibAbi, spokeAbi } from "../../abis/index.js";
import { type ChainClients, createChainClients } from "../chain/clients.js";
import { confirm, serialized } from "../chain/tx.js";
import { sleep } from "../util/concurrency.js";
import type { Manifest } from "../deployment/manifest.js";
import { inboundState } from "../layerzero/endpoint.js";
import { type Packet, decodePacket, pathKey } from "../layerzero/packet.js";

export interface DeliveryChain {
  name: string;
  chainId: number;
  rpcUrl: string;
  eid: number;
  endpoint: Address;
  messageLib: Address;
  /** OApps on this chain the deliverer may deliver to. */
  receivers: Address[];
  /** First block to scan for PacketSent. */
  startBlock: number;
}

export type PacketStatus = "sent" | "verified" | "delivered" | "failed" | "rejected";

export interface PacketRecord extends Packet {
  status: PacketStatus;
  srcChain: string;
  dstChain?: string;
  sentBlock: bigint;
  sentTx: Hex;
  verifyTx?: Hex;
  deliverTx?: Hex;
  attempts: number;
  lastError?: string;
  nextAttemptAt: number;
}

export type DeliveryEvent = { type: PacketStatus; packet: PacketRecord };

export interface DelivererOptions {
  chains: DeliveryChain[];
  verifier: Account;
  executor: Account;
  pollIntervalMs?: number;
  /** Backoff for a packet whose verify or lzReceive failed: base * 2^(attempts-1), capped. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Largest block range per eth_getLogs call. */
  maxLogRange?: number;
  onEvent?: (event: DeliveryEvent) => void;
}

const packetSentEvent = getAbiItem({ abi: endpointV2Abi, name: "PacketSent" });
const peersAbi = [
  { type: "function", name: "peers", stateMutability: "view", inputs: [{ name: "eid", type: "uint32" }], outputs: [{ type: "bytes32" }] },
] as const;
/** Endpoint ABI plus the errors a receiver or the message library may revert with, so reverts decode by name. */
const deliveryAbi = [
  ...endpointV2Abi,
  ...[...hubAbi, ...spokeAbi, ...simpleMessageLibAbi].filter((item) => item.type === "error"),
] as Abi;

interface ChainState {
  config: DeliveryChain;
  clients: ChainClients;
  nextBlock: bigint;
}

export class PacketDeliverer {
  private readonly chains = new Map<number, ChainState>();
  private readonly packets = new Map<Hex, PacketRecord>();
  private readonly paths = new Map<string, PacketRecord[]>();
  private readonly peerCache = new Map<string, Hex>();
  private timer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private stopped = true;

  constructor(private readonly options: DelivererOptions) {
    for (const config of options.chains) {
      this.chains.set(config.eid, { config, clients: createChainClients(config), nextBlock: BigInt(config.startBlock) });
    }
  }

  /** Every packet seen so far, in the order it was sent per chain. */
  list(): PacketRecord[] {
    return [...this.packets.values()];
  }

  get(guid: Hex): PacketRecord | undefined {
    return this.packets.get(guid);
  }

  /** Packets not yet delivered or rejected. */
  pending(): PacketRecord[] {
    return this.list().filter((p) => p.status !== "delivered" && p.status !== "rejected");
  }

  /** Reads new PacketSent logs on every chain; returns how many new packets were found. */
  async scan(): Promise<number> {
    const found = await Promise.all([...this.chains.values()].map((chain) => this.scanChain(chain)));
    return found.reduce((a, b) => a + b, 0);
  }

  /** Verifies and delivers what is due on every path; returns how many packets were delivered. */
  async deliverDue(): Promise<number> {
    let delivered = 0;
    await Promise.all(
      [...this.paths.values()].map(async (queue) => {
        while (queue.length > 0) {
          const head = queue[0]!;
          if (head.status === "delivered" || head.status === "rejected") {
            queue.shift();
            continue;
          }
          if (head.nextAttemptAt > Date.now()) return;
          const outcome = await this.advance(head);
          if (outcome === "retry") return;
          if (outcome === "delivered") delivered++;
        }
      }),
    );
    return delivered;
  }

  /** Scans and delivers until nothing is left to do (replies create new packets), or fails after `timeoutMs`. */
  async drain(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = await this.scan();
      // A delivery can send a reply (the hub answers withdraw requests): scan again after any.
      const delivered = await this.deliverDue();
      const pending = this.pending();
      if (found === 0 && delivered === 0 && pending.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(`drain timed out with ${pending.length} packets pending: ${pending.map((p) => `${p.guid} ${p.status} ${p.lastError ?? ""}`).join("; ")}`);
      }
      if (found === 0) await sleep(Math.min(50, Math.max(0, Math.min(...pending.map((p) => p.nextAttemptAt)) - Date.now())));
    }
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const interval = this.options.pollIntervalMs ?? 250;
    const tick = async () => {
      try {
        await this.scan();
        await this.deliverDue();
      } catch {
        // An unreachable RPC or a transient failure: the next tick retries from the same cursor.
      }
      if (!this.stopped) this.timer = setTimeout(() => (this.loop = tick()), interval);
    };
    this.loop = tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.loop;
  }

  private async scanChain(chain: ChainState): Promise<number> {
    const head = await chain.clients.public.getBlockNumber();
    let found = 0;
    const maxRange = BigInt(this.options.maxLogRange ?? 2_000);
    while (chain.nextBlock <= head) {
      const toBlock = chain.nextBlock + maxRange - 1n < head ? chain.nextBlock + maxRange - 1n : head;
      const logs = await chain.clients.public.getLogs({
        address: chain.config.endpoint,
        event: packetSentEvent,
        fromBlock: chain.nextBlock,
        toBlock,
      });
      for (const log of logs) {
        const packet = decodePacket(log.args.encodedPayload!);
        if (this.packets.has(packet.guid)) continue;
        this.track(packet, chain, log.blockNumber!, log.transactionHash!);
        found++;
      }
      chain.nextBlock = toBlock + 1n;
    }
    return found;
  }

  private track(packet: Packet, src: ChainState, sentBlock: bigint, sentTx: Hex): void {
    const dst = this.chains.get(packet.dstEid);
    const record: PacketRecord = {
      ...packet,
      status: "sent",
      srcChain: src.config.name,
      dstChain: dst?.config.name,
      sentBlock,
      sentTx,
      attempts: 0,
      nextAttemptAt: 0,
    };
    this.packets.set(packet.guid, record);
    this.emit("sent", record);
    if (packet.srcEid !== src.config.eid) return this.reject(record, `srcEid ${packet.srcEid} does not match the emitting chain's eid ${src.config.eid}`);
    if (!dst) return this.reject(record, `no configured chain has eid ${packet.dstEid}`);
    const receiverKnown = dst.config.receivers.some((r) => r.toLowerCase() === packet.receiverAddress.toLowerCase());
    if (!receiverKnown) return this.reject(record, `receiver ${packet.receiverAddress} is not a configured OApp on ${dst.config.name}`);
    const key = pathKey(packet);
    const queue = this.paths.get(key) ?? [];
    queue.push(record);
    queue.sort((a, b) => (a.nonce < b.nonce ? -1 : a.nonce > b.nonce ? 1 : 0));
    this.paths.set(key, queue);
  }

  private reject(record: PacketRecord, reason: string): void {
    record.status = "rejected";
    record.lastError = reason;
    this.emit("rejected", record);
  }

  /** Moves one packet forward (verify, then deliver). "retry": its path waits for the backoff. */
  private async advance(p: PacketRecord): Promise<"delivered" | "rejected" | "retry"> {
    const dst = this.chains.get(p.dstEid)!;
    const reader = dst.clients.public;
    const endpoint = dst.config.endpoint;
    try {
      const peer = await this.peerOf(dst, p.receiverAddress, p.srcEid);
      if (peer.toLowerCase() !== p.sender.toLowerCase()) {
        this.reject(p, `sender ${p.senderAddress} is not the peer of ${p.receiverAddress} for eid ${p.srcEid}`);
        return "rejected";
      }
      const state = await inboundState(reader, endpoint, p);
      if (state === "delivered") {
        // Cleared by an earlier run of ours (or by anyone): delivered, and never again.
        this.markDelivered(p, undefined);
        return "delivered";
      }
      if (state === "pending") {
        const hash = await this.send(dst, this.options.verifier, dst.config.messageLib, "validatePacket", [p.encoded]);
        p.verifyTx = hash;
        p.status = "verified";
        this.emit("verified", p);
      }
      const hash = await this.send(dst, this.options.executor, endpoint, "lzReceive", [
        { srcEid: p.srcEid, sender: p.sender, nonce: p.nonce },
        p.receiverAddress,
        p.guid,
        p.message,
        "0x",
      ]);
      this.markDelivered(p, hash);
      return "delivered";
    } catch (error) {
      p.attempts++;
      p.lastError = describeError(error);
      const base = this.options.retryBaseMs ?? 500;
      p.nextAttemptAt = Date.now() + Math.min(base * 2 ** (p.attempts - 1), this.options.retryMaxMs ?? 30_000);
      p.status = "failed";
      this.emit("failed", p);
      return "retry";
    }
  }

  private markDelivered(p: PacketRecord, tx: Hex | undefined): void {
    p.status = "delivered";
    p.deliverTx = tx;
    p.lastError = undefined;
    this.emit("delivered", p);
  }

  private async peerOf(dst: ChainState, receiver: Address, srcEid: number): Promise<Hex> {
    const key = `${dst.config.eid}:${receiver}:${srcEid}`;
    const cached = this.peerCache.get(key);
    if (cached && cached !== zeroHash) return cached;
    const peer = await dst.clients.public.readContract({ address: receiver, abi: peersAbi, functionName: "peers", args: [srcEid] });
    this.peerCache.set(key, peer);
    return peer;
  }

  private async send(dst: ChainState, account: Account, address: Address, functionName: "validatePacket" | "lzReceive", args: readonly unknown[]): Promise<Hex> {
    const abi = functionName === "validatePacket" ? ([...simpleMessageLibAbi, ...deliveryAbi] as Abi) : deliveryAbi;
    const wallet = dst.clients.wallet(account);
    const hash = await serialized(wallet, async () => {
      const { request } = await dst.clients.public.simulateContract({ address, abi, functionName, args, account } as never);
      return wallet.writeContract(request as never);
    });
    await confirm(dst.clients.public, hash, `${functionName} on ${dst.config.name}`);
    return hash;
  }

  private emit(type: PacketStatus, packet: PacketRecord): void {
    this.options.onEvent?.({ type, packet });
  }
}

/** The revert's error name and arguments when the ABI knows it, else viem's short message. */
export function describeError(error: unknown): string {
  if (error instanceof BaseError) {
    const revert = error.walk((e) => e instanceof ContractFunctionRevertedError);
    if (revert instanceof ContractFunctionRevertedError && revert.data?.errorName) {
      const args = (revert.data.args ?? []).map((a) => String(a)).join(", ");
      return `${revert.data.errorName}(${args})`;
    }
    return error.shortMessage;
  }
  return error instanceof Error ? error.message : String(error);
}


/** The deliverer's view of a manifest: every chain with a local message library. */
export function deliveryChains(manifest: Manifest): DeliveryChain[] {
  return manifest.chains.map((c) => {
    if (!c.contracts.messageLib) throw new Error(`chain ${c.name} has no messageLib: LayerZero's executor delivers there`);
    return {
      name: c.name,
      chainId: c.chainId,
      rpcUrl: c.rpcUrl,
      eid: c.eid,
      endpoint: c.contracts.endpoint,
      messageLib: c.contracts.messageLib,
      receivers: [c.contracts.hub ?? c.contracts.spoke!],
      startBlock: c.startBlock,
    };
  });
}
