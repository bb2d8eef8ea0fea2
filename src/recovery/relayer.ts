/**
 * createRelayer: the recovery engine as a library. Each pass it takes candidates from detection (the
 * indexer's opportunity feed, or the incremental hub scanner when the feed is unreachable or lags), opens
 * their recoveries, and drives every due recovery one phase at a time in batches (coordinator.ts). On
 * local chains it also delivers the LayerZero packets (src/layerzero/), unless another process on this
 * machine already does. Several processes may share one PostgreSQL database.
 */
import { EventEmitter } from "node:events";
import { type Address, type Hex, getAddress, getContractAddress, parseUnits } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describeError } from "../chains/errors.js";
import { type DeliveryEvent, PacketDeliverer, deliveryChains } from "../layerzero/deliverer.js";
import { Redeliverer } from "../layerzero/redeliver.js";
import { Deployment } from "../protocol/deployment.js";
import { hubSpokeProtocol } from "../protocols/hub-spoke/index.js";
import { sleep } from "../util/concurrency.js";
import { type Logger, Coordinator, type TransitionEvent } from "./coordinator.js";
import { type Database, RELAYER_MIGRATION, openDatabase } from "./db.js";
import { type Detector, createDetector } from "./detection/index.js";
import { DeliveryTimes } from "./delivery-times.js";
import { createRelayerMetrics } from "./metrics.js";
import { type RelayerConfigInput, parseRelayerConfig } from "./config.js";
import type { LendingProtocol } from "./protocol.js";
import { RecoveryStore } from "./store.js";
import { TxManager } from "./transactions.js";

export interface Relayer extends EventEmitter<{ transition: [TransitionEvent]; packet: [DeliveryEvent]; error: [Error] }> {
  readonly store: RecoveryStore;
  readonly deployment: Deployment;
  readonly metrics: ReturnType<typeof createRelayerMetrics>;
  readonly workerId: string;
  /** The liquidator's executor on the hub (deployed on first start when not configured). */
  readonly executor: Address;
  /** Which detection source answers now, and why. */
  detection(): ReturnType<Detector["status"]>;
  /** Collateral chains (eids) whose pathway is stalled: no take crosses them until their SEIZEs in flight are delivered. */
  stalledPathways(): number[];
  /** One pass: detect, and beside it drive every due recovery one phase. Returns how many recoveries were opened or driven. */
  tick(): Promise<number>;
  start(): void;
  /** Stops detecting and driving after the current pass; the database stays open for reads. */
  stop(): Promise<void>;
  /** stop(), then closes the database. */
  close(): Promise<void>;
}

export interface RelayerOptions {
  log?: Logger;
  checkpoint?: (point: string) => void | Promise<void>;
  /** The lending protocol behind the relayer; the reference hub-and-spoke market when absent. */
  protocol?: (deployment: Deployment) => LendingProtocol;
}

export async function createRelayer(input: RelayerConfigInput, options: RelayerOptions = {}): Promise<Relayer> {
  const config = parseRelayerConfig(input);
  const deployment = new Deployment(config.manifest);
  const db: Database = await openDatabase({
    databaseUrl: config.database.url,
    pgliteDir: config.database.url ? undefined : config.database.pgliteDir,
    schema: config.database.schema,
    migration: RELAYER_MIGRATION,
  });
  const store = new RecoveryStore(db);
  const taker = privateKeyToAccount(config.keys.taker);
  const hubTx = new TxManager(db, deployment.hub.chainId, deployment.hubClients, taker, {
    bumpAfterMs: config.bumpAfterMs,
    maxFeeCapWei: parseUnits(config.maxFeePerGasGwei.toString(), 9),
    log: options.log,
  });
  const protocol = (options.protocol ?? hubSpokeProtocol)(deployment);
  let executor: Address;
  try {
    executor = await ensureExecutor({ db, hubTx, deployment, protocol, configured: config.executor as Address | undefined, confirmTimeoutMs: config.confirmTimeoutMs });
  } catch (error) {
    await db.close();
    throw error;
  }
  const deliveryTimes = new DeliveryTimes();
  const local = config.manifest.chains.every((c) => c.contracts.messageLib);
  const delivering = config.deliver ?? local;
  // Where LayerZero's executor delivers (salvage does not), the guardian delivers again a SEIZE whose lzReceive failed.
  const redeliver =
    (config.redelivery.enabled ?? !delivering)
      ? new Redeliverer({
          chains: new Map(deployment.spokes.map((s) => [s.eid, { clients: deployment.clients(s), endpoint: s.contracts.endpoint }] as const)),
          account: taker,
          budget: config.redelivery,
          log: options.log,
          onOutcome: (outcome) => metrics.onRedelivery(outcome),
        })
      : undefined;
  const coordinator = new Coordinator({
    protocol, store, hubTx, executor, policy: config.policy, deliveryTimes,
    hubClients: deployment.hubClients,
    debtTokens: deployment.debtAssets.map((a) => deployment.hub.tokens[String(a.id)]!),
    receiver: (config.receiver ?? taker.address) as Address,
    hubNativePriceWad: config.hubNativePriceUsd,
    worker: config.workerId,
    leaseMs: config.leaseMs,
    recheckMs: Math.min(config.pollIntervalMs, 250),
    batchGasShare: config.batchGasShare,
    maxBatchOrders: config.maxBatchOrders,
    pathwayStall: config.pathwayStall,
    redeliver,
    log: options.log, checkpoint: options.checkpoint,
  });
  let detector: Detector;
  try {
    detector = protocol.detector
      ? await protocol.detector({ db, log: options.log })
      : await createDetector({ deployment, db, indexerUrl: config.indexerUrl, maxFeedLagBlocks: config.maxFeedLagBlocks, backrun: config.backrun, log: options.log });
  } catch (error) {
    await db.close();
    throw error;
  }
  const metrics = createRelayerMetrics(store, () => detector.status(), deliveryTimes, () => coordinator.stalledPathways());
  const emitter = new EventEmitter<{ transition: [TransitionEvent]; packet: [DeliveryEvent]; error: [Error] }>();
  coordinator.on("transition", (e) => {
    metrics.onTransition(e);
    emitter.emit("transition", e);
  });

  let deliverer: PacketDeliverer | undefined;
  if (delivering) {
    if (!config.keys.verifier) throw new Error("keys.verifier: required to deliver packets on chains with a local message library");
    const verifier = privateKeyToAccount(config.keys.verifier);
    // One deliverer per chain on this machine: a second one (the devnet's, another relayer's) stands by.
    deliverer = new PacketDeliverer({
      chains: deliveryChains(config.manifest),
      verifier,
      executor: verifier,
      pollIntervalMs: Math.min(config.pollIntervalMs, 250),
      onEvent: (e) => {
        metrics.onPacket(e.type);
        emitter.emit("packet", e);
      },
    });
  }

  let allowancesReady = false;
  const ensureAllowances = async () => {
    if (allowancesReady) return;
    await coordinator.ensureAllowances(config.confirmTimeoutMs);
    allowancesReady = true;
  };
  /** Detection's latest candidates and the hub head they were read at: a pass offers again those whose take it saw mined. */
  let candidates: { accounts: readonly Address[]; head: bigint | null } = { accounts: [], head: null };
  /**
   * Opens recoveries for what detection finds; on a new hub head, makes every batch in flight due. Returns how many
   * recoveries were opened or made due, and whether feed updates are pending.
   */
  const detect = async (): Promise<{ opened: number; pending: boolean }> => {
    try {
      const started = Date.now();
      const found = await detector.poll();
      const polled = Date.now();
      coordinator.backrun(found.pending);
      let opened = await coordinator.detect(found.candidates);
      if (opened > 0) options.log?.info({ opened, source: found.source, candidates: found.candidates.length, head: found.head === null ? null : String(found.head), ms: { poll: polled - started, open: Date.now() - polled } }, "detection opened recoveries");
      await found.commit();
      const previous = candidates.head;
      candidates = { accounts: found.candidates, head: found.head };
      if (previous !== null && found.head !== null && found.head > previous) opened += await store.batchesDue();
      return { opened, pending: found.pending !== null };
    } catch (error) {
      options.log?.warn({ err: describeError(error) }, "detection failed; driving open recoveries");
      return { opened: 0, pending: false };
    }
  };
  /** One pass; returns how many recoveries it drove or reopened. */
  const work = async (): Promise<number> => {
    await ensureAllowances();
    const driven = await coordinator.work();
    // A take this pass saw mined frees its account for another recovery (one working recovery per account): if
    // detection, reading a head that has the take, still has it, it is opened now and planned by the next pass
    // rather than after one more detection (in a cascade, that is the difference of a block).
    const taken = coordinator.takenLastPass();
    const { accounts, head: seen } = candidates;
    const again = taken.size > 0 && seen !== null ? accounts.filter((a) => (taken.get(a.toLowerCase()) ?? seen + 1n) <= seen) : [];
    const reopened = again.length > 0 ? await coordinator.detect(again).catch((error) => (options.log?.warn({ err: describeError(error) }, "reopening just-taken accounts failed; detection offers them again"), 0)) : 0;
    return driven + reopened;
  };
  const tick = async () => {
    const [found, driven] = await Promise.all([detect(), work()]);
    return found.opened + driven;
  };

  let controller: AbortController | undefined;
  let loops: Promise<void> | undefined;
  const relayer = Object.assign(emitter, {
    store,
    deployment,
    metrics,
    executor,
    workerId: config.workerId,
    detection: () => detector.status(),
    tick: () => tick(),
    stalledPathways: () => coordinator.stalledPathways(),
    start() {
      if (controller) return;
      controller = new AbortController();
      const signal = controller.signal;
      deliverer?.start();
      // Two loops. Detection never holds a pass back (an indexer busy with a crash block may take seconds to answer
      // its status read), and a pass never holds detection back; detection wakes an idle pass when it opens
      // recoveries or sees feed updates pending.
      let wake = () => {};
      const nap = (ms: number) =>
        new Promise<void>((resolve) => {
          wake = resolve;
          void sleep(ms, signal).then(resolve);
        });
      const detecting = (async () => {
        // Nothing is opened before the executor may pull the debt tokens: the first pass sets the allowances up.
        while (!allowancesReady && !signal.aborted) await sleep(Math.min(50, config.pollIntervalMs), signal);
        while (!signal.aborted) {
          const found = await detect();
          if (found.opened > 0 || found.pending) wake();
          await sleep(config.pollIntervalMs, signal);
        }
      })();
      const working = (async () => {
        while (!signal.aborted) {
          let driven = 0;
          try {
            driven = await work();
          } catch (error) {
            // The hub RPC or the database is unreachable: nothing is lost, the next pass resumes from the database.
            options.log?.warn({ err: describeError(error) }, "relayer pass failed; retrying");
            if (emitter.listenerCount("error") > 0) emitter.emit("error", error as Error);
          }
          // Work in hand: go again at once (the phases themselves wait on nothing); idle: until detection wakes it.
          await nap(driven > 0 ? Math.min(50, config.pollIntervalMs) : config.pollIntervalMs);
        }
      })();
      loops = Promise.all([detecting, working]).then(() => {});
    },
    async stop() {
      controller?.abort();
      await loops;
      controller = undefined;
      await deliverer?.stop();
    },
    async close() {
      await relayer.stop();
      await detector.close();
      await db.close();
    },
  });
  return relayer;
}

/**
 * The taker's executor on the hub: the configured one (its owner must be the taker), else the one this
 * database deployed, else a new deployment, signed and stored before it is broadcast like every other
 * transaction (a restart resumes it instead of deploying twice).
 */
async function ensureExecutor(o: { db: Database; hubTx: TxManager; deployment: Deployment; protocol: LendingProtocol; configured?: Address; confirmTimeoutMs: number }): Promise<Address> {
  const chainId = o.deployment.hub.chainId;
  const owner = o.hubTx.address;
  if (o.configured) {
    const actual = await o.protocol.executorOwner(o.configured);
    if (getAddress(actual) !== getAddress(owner)) throw new Error(`executor ${o.configured} is owned by ${actual}, not by the taker ${owner}`);
    return o.configured;
  }
  const reader = o.deployment.hubClients.public;
  const [known] = await o.db.query<{ address: string }>(`SELECT address FROM executors WHERE chain_id = $1 AND owner = $2`, [chainId, owner.toLowerCase()]);
  if (known) {
    const code = await reader.getCode({ address: known.address as Address });
    if (code && code !== "0x") return known.address as Address;
  }
  // A devnet restarted from scratch reuses its chain id: a recorded executor without code is deployed again.
  const step = `deploy-executor:${reader.chain.id}:${(await reader.getBlock({ blockNumber: 0n })).hash}`;
  let [row] = await o.hubTx.attempts(null, step);
  if (!row) row = await o.hubTx.submit(null, step, { data: o.protocol.executorDeployment(owner) as Hex });
  const { receipt } = await o.hubTx.confirm(null, step, o.confirmTimeoutMs);
  if (receipt.status !== "success") throw new Error(`executor deployment ${receipt.transactionHash} reverted`);
  const address = receipt.contractAddress ?? getContractAddress({ from: owner, nonce: row.nonce });
  await o.db.query(
    `INSERT INTO executors (chain_id, owner, address) VALUES ($1, $2, $3) ON CONFLICT (chain_id, owner) DO UPDATE SET address = EXCLUDED.address`,
    [chainId, owner.toLowerCase(), address],
  );
  return address;
}
