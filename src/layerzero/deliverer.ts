/**
 * The packet deliverer: plays LayerZero's DVN and executor for chains whose endpoints use the
 * SimpleMessageLib (the devnet). It watches `PacketSent` on every endpoint, decodes each packet,
 * verifies it on the destination (SimpleMessageLib.validatePacket, whitelisted to the verifier key) and
 * calls EndpointV2.lzReceive, exactly once per packet.
 *
 * Pipelined: a round takes every due packet of a destination chain that is not already in flight. The
 * state that decides what to send (the receiver's peer, the endpoint's inbound state of each packet) is read
 * for the whole round up front; then every validatePacket of the round is broadcast, then the lzReceives in
 * nonce order per path, all signed locally with explicit nonces (pipeline.ts). The round's receipts are
 * awaited in the background: the next poll starts the next round with the packets sent since, so packets
 * never wait behind an earlier round's receipts. A signer's transactions are mined in nonce order, so a
 * path's verify precedes its lzReceive, and an earlier round's transactions precede a later one's, even in
 * one block. Broadcasts of one chain (rounds and alerts) are serialized, so nonces never race.
 *
 * Gas limits count against the block gas limit (a node packs a block by the limits of the transactions it
 * takes), so they bound how many packets fit in a block. They are learned: a validatePacket, and an
 * lzReceive per (destination, receiver, first word of the message: the kind, for most OApps), gets 1.5 × the
 * most gas a successful one used so far + 10,000, never more than the configured limit; the first one
 * gets the configured limit. An lzReceive that still runs out of gas is retried with twice its gas.
 *
 * Exactly once holds across restarts and beside other deliverers because every decision reads the
 * destination endpoint first: a packet the endpoint has cleared is marked delivered without a
 * transaction, one already verified is not verified again, and a reverted lzReceive whose packet the
 * endpoint then shows delivered was delivered by someone else (not a failure).
 *
 * A packet whose lzReceive reverts is handled as LayerZero's executor does: `EndpointV2.lzReceiveAlert`
 * with the decoded revert reason (alerts.ts), then retries with twice the gas each attempt, bounded by
 * `maxLzReceiveGas` and `maxAttempts`, with backoff. Past the bound it stays `failed` with its reason
 * (`exhausted`; `retry(guid)` re-arms it). A failing packet that is verified does not hold back its path:
 * EndpointV2 executes a nonce once every earlier one is verified, so the later packets are verified and
 * executed meanwhile. Only a packet that cannot be verified (or waits for its confirmations) holds back the
 * later nonces of its path.
 *
 * Confirmations: a packet is due only once its source chain's head (as last scanned) is at least its
 * `sentBlock + confirmations` of the source chain (`DeliveryChain.confirmations`, the manifest's
 * `lzConfirmations`), as LayerZero's DVNs wait for block confirmations before they verify. A packet not yet
 * confirmed is simply not due: other paths go on, and the later nonces of its own path wait behind it.
 *
 * Reorgs: a packet is verified only while the block that sent it is still in its source chain (read just before
 * the round that would verify it). One whose block has left the chain is forgotten (event `reorged`) and the
 * chain rescanned from there: its debt may never have been repaid, so its collateral must never be paid.
 *
 * A packet addressed to an unknown chain, to a contract that is not a configured receiver, or from a
 * sender that is not the receiver's peer is rejected and never delivered.
 *
 * One deliverer per (destination chain, verifier) on the machine (lock.ts): a deliverer that does not
 * hold a chain's lock sends nothing there; a started deliverer that holds no lock at all is on standby
 * (scans nothing) and takes over when the holder goes away. deliverDue() and drain() called on a
 * deliverer that is not started take the free locks for the call only.
 */
import { type Account, type Address, BlockNotFoundError, type Hex, encodeFunctionData, getAbiItem, zeroHash } from "viem";
import { endpointV2Abi, simpleMessageLibAbi } from "../../abis/index.js";
import { type ChainClients, createChainClients } from "../chains/clients.js";
import { decodeRevertData, replayRevert } from "../chains/errors.js";
import type { Manifest } from "../deployment/manifest.js";
import { mapLimit, sleep } from "../util/concurrency.js";
import { deliveryAbi, lzReceiveAlertCalldata, lzReceiveCalldata, replayLzReceive } from "./alerts.js";
import { type InboundState, inboundStates } from "./endpoint.js";
import { DeliveryLock } from "./lock.js";
import { type Packet, decodePacket, pathKey } from "./packet.js";
import { type Broadcast, NonceBook, type Outcome, type TxIntent, awaitAll, broadcastAll } from "./pipeline.js";

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
  /** Blocks of this chain a packet sent here waits before it is verified (default 0: verified at once). */
  confirmations?: number;
}

export type PacketStatus = "sent" | "verified" | "delivered" | "failed" | "rejected";

export interface PacketRecord extends Packet {
  status: PacketStatus;
  srcChain: string;
  dstChain?: string;
  sentBlock: bigint;
  /** Hash of the block that sent it: a packet whose block left its chain (a reorg) is never verified. */
  sentBlockHash: Hex;
  sentTx: Hex;
  verifyTx?: Hex;
  /** Our lzReceive; undefined when the endpoint showed the packet delivered by an earlier run or someone else. */
  deliverTx?: Hex;
  /** Our lzReceives broadcast whose receipt no round settled (a wait that failed or timed out, a drop): asked by hash once the endpoint shows the packet delivered. */
  unsettledTxs: Hex[];
  /** Failed attempts (a nonce taken by someone else, or a packet someone else delivered, is not one). */
  attempts: number;
  lastError?: string;
  nextAttemptAt: number;
  /** Gas the next lzReceive gets: lzReceiveGas, doubled after each failed attempt, at most maxLzReceiveGas. */
  gas: bigint;
  /** lzReceiveAlert transactions sent for this packet, one per reverted lzReceive. */
  alertTxs: Hex[];
  /** Past maxAttempts: stays failed until retry(guid) (its path goes on if it is verified, waits if not). */
  exhausted: boolean;
  /** The destination endpoint holds its payload hash (verified by us or anyone): later nonces of its path can execute. */
  verified: boolean;
}

/** `reorged`: the block that sent the packet left its chain before the packet was verified; it is forgotten. */
export type DeliveryEvent = { type: PacketStatus | "reorged"; packet: PacketRecord };

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
  /**
   * Largest gas limit of a validatePacket (default 150,000; one uses ~71,000 on the devnet); the limit
   * actually given is learned from the ones mined (see above).
   */
  validateGas?: bigint;
  /**
   * Largest gas limit of a first lzReceive (default 300,000; a deposit uses ~95,000, a withdraw with its reply
   * ~199,000, a seize ~62,000); the limit actually given is learned per kind of message. Doubled after each
   * failed attempt.
   */
  lzReceiveGas?: bigint;
  /** Bound of the doubled lzReceive gas (default 2,000,000). */
  maxLzReceiveGas?: bigint;
  /** Failed attempts after which a packet stays failed (default 6). */
  maxAttempts?: number;
  /** Gas limit of an lzReceiveAlert (default 300,000). */
  alertGas?: bigint;
  /** Most packets per destination chain in flight at once, over all its rounds (default 1,024). */
  maxInFlight?: number;
  /** How long a round waits for its receipts before leaving the rest to a later round (default 60 s). */
  receiptTimeoutMs?: number;
  /** Directory of the delivery lock files (default os.tmpdir()). */
  lockDir?: string;
  onEvent?: (event: DeliveryEvent) => void;
}

const packetSentEvent = getAbiItem({ abi: endpointV2Abi, name: "PacketSent" });
const peersAbi = [
  { type: "function", name: "peers", stateMutability: "view", inputs: [{ name: "eid", type: "uint32" }], outputs: [{ type: "bytes32" }] },
] as const;

interface ChainState {
  config: DeliveryChain;
  clients: ChainClients;
  nextBlock: bigint;
  /** The chain's head at the last scan (-1 before any; lower after a reorg): what confirmations are counted against. */
  head: bigint;
  lock: DeliveryLock;
  /** Packets with a transaction of a round whose receipts are not settled yet. */
  inFlight: Set<Hex>;
  /** Rounds whose receipts are being awaited. */
  rounds: Set<Promise<void>>;
  /** Broadcasts on this chain run one at a time (nonces are taken in order). */
  sending: Promise<unknown>;
}

/** A transaction of a round and the packet it moves. */
interface Step {
  packet: PacketRecord;
  kind: "validate" | "lzReceive" | "alert";
  intent: TxIntent;
  broadcast?: Broadcast;
  /** The chain's head when it was broadcast: it is mined in a later block. */
  sentAfter?: bigint;
  outcome?: Outcome;
}

export class PacketDeliverer {
  private readonly chains = new Map<number, ChainState>();
  private readonly packets = new Map<Hex, PacketRecord>();
  private readonly paths = new Map<string, PacketRecord[]>();
  private readonly peerCache = new Map<string, Hex>();
  /** Pathways ("srcEid:dstEid") held by hold(): nothing of theirs is verified. */
  private readonly held = new Set<string>();
  private readonly nonces = new NonceBook();
  /** Most gas a successful transaction of each kind used (see gasFor). */
  private readonly gasUsed = new Map<string, bigint>();
  private deliveredCount = 0;
  private timer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private stopped = true;
  /** Scans and rounds of this instance run one at a time (the loop and an explicit drain may overlap). */
  private serial: Promise<unknown> = Promise.resolve();
  /** Explicit calls holding locks for their duration (when not started). */
  private transientHolds = 0;

  constructor(private readonly options: DelivererOptions) {
    for (const config of options.chains) {
      this.chains.set(config.eid, {
        config,
        clients: createChainClients(config),
        nextBlock: BigInt(config.startBlock),
        head: -1n,
        lock: new DeliveryLock({ chainId: config.chainId, rpcUrl: config.rpcUrl, verifier: options.verifier.address }, options.lockDir),
        inFlight: new Set(),
        rounds: new Set(),
        sending: Promise.resolve(),
      });
    }
  }

  private get validateGas(): bigint {
    return this.options.validateGas ?? 150_000n;
  }
  private get lzReceiveGas(): bigint {
    return this.options.lzReceiveGas ?? 300_000n;
  }
  private get maxLzReceiveGas(): bigint {
    return this.options.maxLzReceiveGas ?? 2_000_000n;
  }
  private get maxAttempts(): number {
    return this.options.maxAttempts ?? 6;
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

  /** Whether this deliverer holds the delivery lock of `chainId` (it delivers there) right now. */
  delivering(chainId: number): boolean {
    return [...this.chains.values()].some((c) => c.config.chainId === chainId && c.lock.held());
  }

  /**
   * Holds a pathway (source eid → destination eid): none of its packets is verified until release(), as a DVN that
   * stopped verifying it; the later nonces of its paths wait behind the first held one, other pathways go on. The
   * devnet's drill of a stalled pathway (test/deliverer.test.ts, test/relayer.pathway.test.ts).
   */
  hold(srcEid: number, dstEid: number): void {
    this.held.add(`${srcEid}:${dstEid}`);
  }

  /** Ends hold(): the pathway's packets are due again, in nonce order. */
  release(srcEid: number, dstEid: number): void {
    this.held.delete(`${srcEid}:${dstEid}`);
  }

  /** Re-arms a packet that failed past the bound: fresh attempts and gas, due now. */
  retry(guid: Hex): boolean {
    const p = this.packets.get(guid);
    if (!p || p.status !== "failed") return false;
    p.exhausted = false;
    p.attempts = 0;
    p.gas = this.lzReceiveGas;
    p.nextAttemptAt = 0;
    return true;
  }

  /** Reads new PacketSent logs on every chain; returns how many new packets were found. */
  scan(): Promise<number> {
    return this.exclusive(async () => {
      const found = await Promise.all([...this.chains.values()].map((chain) => this.scanChain(chain)));
      return found.reduce((a, b) => a + b, 0);
    });
  }

  /**
   * Verifies and delivers what is due on every chain whose lock this deliverer holds (one pipelined round
   * per chain), and waits until every round in flight is settled; on the chains it does not hold it only
   * reads the endpoint (a packet someone else delivered is marked so). Returns how many packets became
   * delivered meanwhile.
   */
  deliverDue(): Promise<number> {
    return this.withLocks(async () => {
      const before = this.deliveredCount;
      await this.exclusive(() => this.startRounds());
      await this.settled();
      return this.deliveredCount - before;
    });
  }

  /** Starts a round on every held chain (not waiting for its receipts); observes the others. */
  private async startRounds(): Promise<void> {
    await Promise.all([...this.chains.values()].map((chain) => (chain.lock.held() ? this.startRound(chain) : this.observe(chain))));
  }

  /** Resolves when no round is in flight on any chain (rounds settled meanwhile may start none). */
  private async settled(): Promise<void> {
    for (;;) {
      const rounds = [...this.chains.values()].flatMap((c) => [...c.rounds]);
      if (rounds.length === 0) return;
      await Promise.all(rounds);
    }
  }

  /**
   * Scans and delivers until nothing is left to do (replies create new packets). Fails once `timeoutMs` pass with
   * nothing found and nothing delivered (a drain that keeps delivering is not stuck, however long its backlog:
   * seeding 1,000 borrowers on a slow machine timed out mid-delivery, "with 0 packets pending"), or at once when
   * every pending packet failed past the bound or waits behind one that did.
   */
  drain(timeoutMs = 30_000): Promise<void> {
    return this.withLocks(async () => {
      let progressAt = Date.now();
      let deliveredInAll = 0;
      for (;;) {
        const found = await this.scan();
        // A delivery can send a reply (the hub answers withdraw requests): scan again after any.
        const delivered = await this.deliverDue();
        deliveredInAll += delivered;
        if (found > 0 || delivered > 0) progressAt = Date.now();
        const pending = this.pending();
        if (found === 0 && delivered === 0 && pending.length === 0) return;
        const describe = (ps: PacketRecord[]) => ps.map((p) => `${p.guid} ${p.status} ${p.lastError ?? this.awaiting(p)}`).join("; ");
        if (found === 0 && delivered === 0 && pending.every((p) => this.stuck(p))) {
          throw new Error(`drain: ${pending.length} packets cannot be delivered (failed past ${this.maxAttempts} attempts, or behind one that did): ${describe(pending)}`);
        }
        if (Date.now() - progressAt > timeoutMs) {
          throw new Error(`drain: nothing found or delivered for ${timeoutMs} ms (${deliveredInAll} delivered before), ${pending.length} packets pending: ${describe(pending)}`);
        }
        // A packet waiting for confirmations waits for blocks: look again in 50 ms.
        if (found === 0) await sleep(Math.min(50, Math.max(0, Math.min(...pending.map((p) => (this.confirmed(p) ? p.nextAttemptAt : Date.now() + 50))) - Date.now())));
      }
    });
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const interval = this.options.pollIntervalMs ?? 250;
    const tick = async () => {
      try {
        // Standby unless this deliverer holds at least one chain's lock: then it scans nothing, sends nothing.
        if (this.acquireLocks() > 0) {
          await this.scan();
          // Rounds settle in the background: the next tick sends what arrived meanwhile.
          await this.exclusive(() => this.startRounds());
        }
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
    await this.serial.catch(() => {});
    await this.settled();
    if (this.transientHolds === 0) this.releaseLocks();
  }

  // ---------------------------------------------------------------- locks

  private acquireLocks(): number {
    let held = 0;
    for (const chain of this.chains.values()) if (chain.lock.tryAcquire()) held++;
    return held;
  }

  private releaseLocks(): void {
    for (const chain of this.chains.values()) chain.lock.release();
  }

  /** Outside the running loop, an explicit call takes the free locks for its duration. */
  private async withLocks<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.stopped) return fn();
    if (this.transientHolds++ === 0) this.acquireLocks();
    try {
      return await fn();
    } finally {
      if (--this.transientHolds === 0 && this.stopped) this.releaseLocks();
    }
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.serial.then(fn, fn);
    this.serial = run.catch(() => {});
    return run;
  }

  // ---------------------------------------------------------------- scanning

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
        this.track(packet, chain, log.blockNumber!, log.blockHash!, log.transactionHash!);
        found++;
      }
      chain.nextBlock = toBlock + 1n;
    }
    chain.head = head;
    return found;
  }

  private track(packet: Packet, src: ChainState, sentBlock: bigint, sentBlockHash: Hex, sentTx: Hex): void {
    const dst = this.chains.get(packet.dstEid);
    const record: PacketRecord = {
      ...packet,
      status: "sent",
      srcChain: src.config.name,
      dstChain: dst?.config.name,
      sentBlock,
      sentBlockHash,
      sentTx,
      attempts: 0,
      nextAttemptAt: 0,
      gas: this.lzReceiveGas,
      alertTxs: [],
      unsettledTxs: [],
      exhausted: false,
      verified: false,
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

  // ---------------------------------------------------------------- a round

  /** Whether the packet's source chain has `confirmations` blocks on top of the one that sent it (as last scanned). */
  private confirmed(p: PacketRecord): boolean {
    const src = this.chains.get(p.srcEid);
    const n = BigInt(src?.config.confirmations ?? 0);
    return n === 0n || (src !== undefined && src.head >= p.sentBlock + n);
  }

  /** Why a pending packet is not sent yet, for error messages ("" when it is due). */
  private awaiting(p: PacketRecord): string {
    if (this.confirmed(p)) return "";
    const src = this.chains.get(p.srcEid)!;
    return `awaiting ${src.config.confirmations} confirmations of ${src.config.name} block ${p.sentBlock} (head ${src.head})`;
  }

  /**
   * The due packets to `dst` not in flight: per path, from its head, up to the first one in backoff, past
   * the bound or not yet confirmed on its source chain (`confirmations`: false when only observing). Packets
   * behind one in flight may go: their transactions follow its own in nonce order.
   */
  private duePackets(dst: ChainState, now: number, confirmations = true): PacketRecord[] {
    const due: PacketRecord[] = [];
    const limit = (this.options.maxInFlight ?? 1_024) - dst.inFlight.size;
    for (const queue of this.paths.values()) {
      if (queue[0]?.dstEid !== dst.config.eid) continue;
      while (queue.length > 0 && (queue[0]!.status === "delivered" || queue[0]!.status === "rejected")) queue.shift();
      for (const p of queue) {
        if (due.length >= limit) return due;
        if (p.status === "delivered" || p.status === "rejected" || dst.inFlight.has(p.guid)) continue;
        if (p.exhausted || p.nextAttemptAt > now) {
          // Verified and failing: the later nonces go on (the endpoint only needs this one verified).
          if (p.verified) continue;
          break;
        }
        if (confirmations && !this.confirmed(p)) break;
        if (!p.verified && this.held.has(`${p.srcEid}:${p.dstEid}`)) break;
        due.push(p);
      }
    }
    return due;
  }

  /** A pending packet nothing will move without outside help: past the bound, or behind such a packet not verified. */
  private stuck(p: PacketRecord): boolean {
    if (p.exhausted) return true;
    const queue = this.paths.get(pathKey(p));
    return queue?.some((q) => q.exhausted && !q.verified && q.nonce < p.nonce) ?? false;
  }

  /** The round's reads, up front: the peer of every (receiver, srcEid) and the inbound state of every packet. */
  private async readRound(dst: ChainState, due: PacketRecord[]): Promise<{ peers: Map<string, Hex>; states: (InboundState | undefined)[] }> {
    const reader = dst.clients.public;
    const peerKeys = [...new Set(due.map((p) => `${p.receiverAddress}:${p.srcEid}`))];
    const [peerValues, states] = await Promise.all([
      Promise.all(
        peerKeys.map(async (key) => {
          const cacheKey = `${dst.config.eid}:${key}`;
          const cached = this.peerCache.get(cacheKey);
          if (cached && cached !== zeroHash) return cached;
          const [receiver, srcEid] = key.split(":") as [Address, string];
          const peer = await reader.readContract({ address: receiver, abi: peersAbi, functionName: "peers", args: [Number(srcEid)] });
          this.peerCache.set(cacheKey, peer);
          return peer;
        }),
      ),
      inboundStates(reader, dst.config.endpoint, due),
    ]);
    return { peers: new Map(peerKeys.map((k, i) => [k, peerValues[i]!])), states };
  }

  /**
   * The packets of `due` still sent from a block of their source chain, as DVNs check before they verify: one
   * block read per source block of a packet not yet verified. A packet whose block has left the chain is
   * forgotten (`reorged`) and its chain scanned again from that block, so the packet is tracked anew if the
   * reorg mined it elsewhere; one whose block cannot be read now waits for the next round.
   */
  private async canonical(due: PacketRecord[]): Promise<PacketRecord[]> {
    const hashes = new Map<string, Promise<Hex | null | undefined>>();
    const key = (p: PacketRecord) => `${p.srcEid}:${p.sentBlock}`;
    for (const p of due) {
      const src = this.chains.get(p.srcEid);
      if (p.verified || !src || hashes.has(key(p))) continue;
      hashes.set(
        key(p),
        src.clients.public.getBlock({ blockNumber: p.sentBlock }).then(
          (b) => b.hash,
          (error) => (error instanceof BlockNotFoundError ? null : undefined),
        ),
      );
    }
    const kept: PacketRecord[] = [];
    for (const p of due) {
      if (p.verified || !hashes.has(key(p))) {
        kept.push(p);
        continue;
      }
      const hash = await hashes.get(key(p))!;
      if (hash === undefined) continue;
      if (hash === p.sentBlockHash) kept.push(p);
      else this.forgetReorged(p, hash);
    }
    return kept;
  }

  private forgetReorged(p: PacketRecord, hash: Hex | null): void {
    this.packets.delete(p.guid);
    const queue = this.paths.get(pathKey(p));
    const at = queue?.indexOf(p) ?? -1;
    if (at >= 0) queue!.splice(at, 1);
    const src = this.chains.get(p.srcEid)!;
    if (src.nextBlock > p.sentBlock) src.nextBlock = p.sentBlock;
    p.lastError = `block ${p.sentBlock} of ${p.srcChain} is ${hash ?? "gone"} now, not ${p.sentBlockHash}: the packet left the chain before it was verified`;
    this.emit("reorged", p);
  }

  /** A chain this deliverer does not hold: read the endpoint only, and mark what someone else delivered. */
  private async observe(dst: ChainState): Promise<void> {
    const due = this.duePackets(dst, Number.POSITIVE_INFINITY, false);
    if (due.length === 0) return;
    const states = await inboundStates(dst.clients.public, dst.config.endpoint, due);
    await this.markDeliveredSeen(dst, due.filter((_, i) => states[i] === "delivered"));
    due.forEach((p, i) => {
      if (states[i] === "verified") {
        p.verified = true;
        if (p.status === "sent") {
          p.status = "verified";
          this.emit("verified", p);
        }
      }
    });
  }

  /**
   * Reads and broadcasts one round on `dst`; its receipts are awaited and settled in the background
   * (`dst.rounds`), its packets counted in flight until then.
   */
  private async startRound(dst: ChainState): Promise<void> {
    const due = await this.canonical(this.duePackets(dst, Date.now()));
    if (due.length === 0) return;
    const { peers, states } = await this.readRound(dst, due);

    const { verifier, executor } = this.options;
    const validates: Step[] = [];
    const receives: Step[] = [];
    const seenDelivered: PacketRecord[] = [];
    due.forEach((p, i) => {
      const peer = peers.get(`${p.receiverAddress}:${p.srcEid}`)!;
      if (peer.toLowerCase() !== p.sender.toLowerCase()) {
        return this.reject(p, `sender ${p.senderAddress} is not the peer of ${p.receiverAddress} for eid ${p.srcEid}`);
      }
      const state = states[i];
      // A read that failed says nothing: the packet waits for the next round.
      if (state === undefined) return;
      if (state === "delivered") {
        // Cleared by an earlier run of ours (or by anyone): delivered, and never again.
        seenDelivered.push(p);
        return;
      }
      if (state === "verified") p.verified = true;
      if (state === "pending") {
        validates.push({
          packet: p,
          kind: "validate",
          intent: { account: verifier, to: dst.config.messageLib, gas: this.gasFor(dst, "validate"), data: encodeFunctionData({ abi: simpleMessageLibAbi, functionName: "validatePacket", args: [p.encoded] }) },
        });
      }
      receives.push({ packet: p, kind: "lzReceive", intent: { account: executor, to: dst.config.endpoint, gas: this.lzReceiveGasOf(dst, p), data: lzReceiveCalldata(p) } });
    });
    await this.markDeliveredSeen(dst, seenDelivered);
    if (receives.length === 0) return;
    for (const s of receives) dst.inFlight.add(s.packet.guid);

    const sameSigner = verifier.address.toLowerCase() === executor.address.toLowerCase();
    // One signer: its nonces order every verify before every lzReceive, even within one block. Two signers are
    // not ordered against each other: the verifies are mined first, in the background part.
    const first = await this.broadcast(dst, sameSigner ? [...validates, ...receives] : validates);
    // Assigned before its first await resumes, so `finally` sees it.
    let round!: Promise<void>;
    round = (async () => {
      try {
        await this.awaitReceipts(dst, first);
        if (!sameSigner) {
          const verified = new Set(validates.filter((s) => s.outcome?.kind === "mined" && s.outcome.receipt.status === "success").map((s) => s.packet.guid));
          const stopped = new Set<string>();
          const ready = receives.filter((s) => {
            const key = pathKey(s.packet);
            const ok = !stopped.has(key) && (verified.has(s.packet.guid) || !validates.some((v) => v.packet === s.packet));
            if (!ok) stopped.add(key);
            return ok;
          });
          await this.awaitReceipts(dst, await this.broadcast(dst, ready));
        }
        await this.settle(dst, validates, receives);
      } catch {
        // An RPC failure while waiting: the packets' next round reads the endpoint again.
      } finally {
        for (const s of receives) dst.inFlight.delete(s.packet.guid);
        dst.rounds.delete(round);
      }
    })();
    dst.rounds.add(round);
  }

  /** Broadcasts `steps` in order (one broadcast at a time per chain); returns them. */
  private broadcast(dst: ChainState, steps: Step[]): Promise<Step[]> {
    const run = dst.sending.then(async () => {
      if (steps.length === 0) return steps;
      const head = await dst.clients.public.getBlockNumber({ cacheTime: 0 });
      const broadcasts = await broadcastAll(dst.clients, this.nonces, steps.map((s) => s.intent));
      steps.forEach((s, i) => {
        const b = broadcasts[i]!;
        s.broadcast = b;
        s.sentAfter = head;
        if (s.kind === "lzReceive" && b.kind === "sent") s.packet.unsettledTxs.push(b.hash);
      });
      return steps;
    });
    dst.sending = run.catch(() => {});
    return run;
  }

  /** Waits for the receipts of the broadcast steps, and learns the gas of the successful ones. */
  private async awaitReceipts(dst: ChainState, steps: Step[]): Promise<void> {
    const sent = steps.flatMap((s) => (s.broadcast?.kind === "sent" ? [{ hash: s.broadcast.hash, nonce: s.broadcast.nonce, from: s.intent.account.address }] : []));
    if (sent.length === 0) return;
    const fromBlock = steps.reduce((min, s) => (s.sentAfter !== undefined && s.sentAfter < min ? s.sentAfter : min), steps[0]!.sentAfter ?? 0n);
    const outcomes = await awaitAll(dst.clients, sent, { timeoutMs: this.options.receiptTimeoutMs ?? 60_000, pollMs: Math.min(this.options.pollIntervalMs ?? 250, 100), fromBlock });
    for (const s of steps) {
      if (s.broadcast?.kind !== "sent") continue;
      s.outcome = outcomes.get(s.broadcast.hash);
      if (s.outcome?.kind === "mined" && s.outcome.receipt.status === "success" && s.kind !== "alert") this.learnGas(dst, s, s.outcome.receipt.gasUsed);
    }
  }

  private gasKey(dst: ChainState, kind: "validate" | "lzReceive", p?: PacketRecord): string {
    return kind === "validate" ? `${dst.config.eid}:validate` : `${dst.config.eid}:${p!.receiverAddress.toLowerCase()}:${p!.message.slice(0, 66)}`;
  }

  private learnGas(dst: ChainState, s: Step, used: bigint): void {
    const key = this.gasKey(dst, s.kind as "validate" | "lzReceive", s.packet);
    if (used > (this.gasUsed.get(key) ?? 0n)) this.gasUsed.set(key, used);
  }

  /** 1.5 × the most gas a successful transaction of this kind used + 10,000, at most `ceiling`; `ceiling` before any. */
  private gasFor(dst: ChainState, kind: "validate" | "lzReceive", p?: PacketRecord, ceiling = this.validateGas): bigint {
    const used = this.gasUsed.get(this.gasKey(dst, kind, p));
    if (used === undefined) return ceiling;
    const learned = (used * 3n) / 2n + 10_000n;
    return learned < ceiling ? learned : ceiling;
  }

  /** A first attempt gets the learned gas (at most lzReceiveGas); a retry gets the gas its failure doubled. */
  private lzReceiveGasOf(dst: ChainState, p: PacketRecord): bigint {
    return p.attempts === 0 ? this.gasFor(dst, "lzReceive", p, p.gas) : p.gas;
  }

  /** Applies a round's outcomes: verified, delivered, or failed with the reason (and an alert). */
  private async settle(dst: ChainState, validates: Step[], receives: Step[]): Promise<void> {
    const reverted: Step[] = [];
    for (const s of [...validates, ...receives]) {
      const p = s.packet;
      if (p.status === "rejected" || p.status === "delivered") continue;
      if (s.broadcast?.kind === "error") {
        this.fail(p, `${s.kind} not sent: ${s.broadcast.reason}`, s.kind === "lzReceive" ? s.intent.gas : undefined);
        continue;
      }
      const outcome = s.outcome;
      if (outcome?.kind !== "mined") continue; // deferred, dropped or not yet mined: the next round reads the endpoint again
      if (s.kind === "lzReceive") p.unsettledTxs = p.unsettledTxs.filter((h) => h !== outcome.receipt.transactionHash);
      if (outcome.receipt.status === "success") {
        if (s.kind === "validate") {
          p.verifyTx = outcome.receipt.transactionHash;
          p.verified = true;
          if (p.status === "sent") {
            p.status = "verified";
            this.emit("verified", p);
          }
        } else {
          this.markDelivered(p, outcome.receipt.transactionHash);
        }
      } else {
        reverted.push(s);
      }
    }
    if (reverted.length === 0) return;

    // A revert is ours only if the endpoint still shows the packet where we left it.
    const reader = dst.clients.public;
    const states = await inboundStates(reader, dst.config.endpoint, reverted.map((s) => s.packet));
    const failures: { step: Step; reason: Hex; message: string }[] = [];
    await mapLimit(reverted, 16, async (s, i) => {
      const p = s.packet;
      const state = states[i];
      if (p.status === "delivered" || state === undefined) return;
      if (state === "delivered") {
        // Someone else executed it (or our own lzReceive of an earlier round did): not a failure.
        await this.markDeliveredSeen(dst, [p]);
        return;
      }
      const receipt = (s.outcome as Extract<Outcome, { kind: "mined" }>).receipt;
      if (s.kind === "validate") {
        if (state === "verified") return; // verified by someone else meanwhile
        const data = await replayRevert(reader, { from: s.intent.account.address, to: s.intent.to, data: s.intent.data, gas: s.intent.gas, blockNumber: receipt.blockNumber });
        const message = typeof data === "string" && data !== "passed" ? decodeRevertData(deliveryAbi, data).message : `validatePacket reverted (tx ${receipt.transactionHash})`;
        this.fail(p, message, undefined);
        return;
      }
      // Not verified: its verify did not land this round (not this lzReceive's fault); the next round verifies it.
      if (state !== "verified") return;
      p.verified = true;
      const replayed = await replayLzReceive(reader, {
        endpoint: dst.config.endpoint,
        executor: s.intent.account.address,
        packet: p,
        gas: s.intent.gas,
        blockNumber: receipt.blockNumber,
        // The diagnosis costs nothing (an eth_call): an out of gas is named as one even past this deliverer's own cap.
        retryGas: this.maxLzReceiveGas > s.intent.gas * 10n ? this.maxLzReceiveGas : s.intent.gas * 10n,
      });
      failures.push({ step: s, reason: replayed.reason, message: replayed.decoded.message });
    });
    if (failures.length === 0) return;

    // LayerZero's executor alerts the endpoint of each reverted lzReceive, with the reason.
    const alerts: Step[] = failures.map(({ step, reason }) => ({
      packet: step.packet,
      kind: "alert",
      intent: { account: this.options.executor, to: dst.config.endpoint, gas: this.options.alertGas ?? 300_000n, data: lzReceiveAlertCalldata(step.packet, step.intent.gas, reason) },
    }));
    await this.broadcast(dst, alerts).then((sent) => this.awaitReceipts(dst, sent)).catch(() => {});
    for (const [i, { step, message }] of failures.entries()) {
      const alert = alerts[i]!.outcome;
      if (alert?.kind === "mined" && alert.receipt.status === "success") step.packet.alertTxs.push(alert.receipt.transactionHash);
      this.fail(step.packet, message, step.intent.gas);
    }
  }

  /** `lzReceiveGas`: the gas of the lzReceive that failed (the next attempt gets twice it); undefined for a verify. */
  private fail(p: PacketRecord, reason: string, lzReceiveGas: bigint | undefined): void {
    p.attempts++;
    p.lastError = reason;
    p.status = "failed";
    if (lzReceiveGas !== undefined) p.gas = lzReceiveGas * 2n < this.maxLzReceiveGas ? lzReceiveGas * 2n : this.maxLzReceiveGas;
    if (p.attempts >= this.maxAttempts) {
      p.exhausted = true;
      p.nextAttemptAt = Number.POSITIVE_INFINITY;
    } else {
      const base = this.options.retryBaseMs ?? 500;
      p.nextAttemptAt = Date.now() + Math.min(base * 2 ** (p.attempts - 1), this.options.retryMaxMs ?? 30_000);
    }
    this.emit("failed", p);
  }

  private reject(record: PacketRecord, reason: string): void {
    record.status = "rejected";
    record.lastError = reason;
    this.emit("rejected", record);
  }

  /**
   * Packets the endpoint shows delivered though no round of ours saw its lzReceive succeed: credited to one of
   * our own lzReceives whose receipt was never settled when it succeeded (one receipt read each), else to
   * someone else (an earlier run, another deliverer).
   */
  private async markDeliveredSeen(dst: ChainState, packets: PacketRecord[]): Promise<void> {
    await mapLimit(packets, 16, async (p) => {
      let ours: Hex | undefined;
      for (const hash of p.unsettledTxs) {
        const receipt = await dst.clients.public.getTransactionReceipt({ hash }).catch(() => undefined);
        if (receipt?.status === "success") ours = hash;
      }
      if (p.status !== "delivered") this.markDelivered(p, ours);
    });
  }

  private markDelivered(p: PacketRecord, tx: Hex | undefined): void {
    if (p.status !== "delivered") this.deliveredCount++;
    p.status = "delivered";
    p.deliverTx = tx;
    p.unsettledTxs = [];
    p.lastError = undefined;
    p.exhausted = false;
    this.emit("delivered", p);
  }

  private emit(type: DeliveryEvent["type"], packet: PacketRecord): void {
    this.options.onEvent?.({ type, packet });
  }
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
      // The reference protocol's app on the chain, and every other protocol's.
      receivers: [c.contracts.hub ?? c.contracts.spoke!, ...manifest.protocols.flatMap((p) => (p.contracts[c.name] ? [p.contracts[c.name]!.address] : []))],
      startBlock: c.startBlock,
      confirmations: c.lzConfirmations,
    };
  });
}
