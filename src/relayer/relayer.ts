/**
 * createRelayer: the recovery coordinator as a library. It detects liquidatable accounts on the hub,
 * drives their recoveries (coordinator.ts) with `concurrency` loops, and on local chains delivers the
 * LayerZero packets itself. Several processes may share one PostgreSQL database.
 */
import { EventEmitter } from "node:events";
import { privateKeyToAccount } from "viem/accounts";
import type { Address } from "viem";
import { Deployment } from "../protocol/deployment.js";
import { sleep } from "../util/concurrency.js";
import { type Logger, Coordinator, type TransitionEvent } from "./coordinator.js";
import { type Database, RELAYER_MIGRATION, openDatabase } from "./db.js";
import { type DeliveryEvent, PacketDeliverer, deliveryChains } from "./deliverer.js";
import { createRelayerMetrics } from "./metrics.js";
import { type RelayerConfigInput, parseRelayerConfig } from "./config.js";
import { HubScanner } from "./scanner.js";
import { RecoveryStore } from "./store.js";
import { TxManager } from "./transactions.js";

export interface Relayer extends EventEmitter<{ transition: [TransitionEvent]; packet: [DeliveryEvent]; error: [Error] }> {
  readonly store: RecoveryStore;
  readonly deployment: Deployment;
  readonly metrics: ReturnType<typeof createRelayerMetrics>;
  readonly workerId: string;
  /** One pass: detect, then drive every due recovery. Returns how many recoveries were driven. */
  tick(): Promise<number>;
  start(): void;
  /** Stops detecting and driving after the current step; the database stays open for reads. */
  stop(): Promise<void>;
  /** stop(), then closes the database. */
  close(): Promise<void>;
}

export async function createRelayer(input: RelayerConfigInput, options: { log?: Logger; checkpoint?: (point: string) => void | Promise<void> } = {}): Promise<Relayer> {
  const config = parseRelayerConfig(input);
  const deployment = new Deployment(config.manifest);
  const db: Database = await openDatabase({ databaseUrl: config.database.url, pgliteDir: config.database.pgliteDir, schema: config.database.schema, migration: RELAYER_MIGRATION });
  const store = new RecoveryStore(db);
  const taker = privateKeyToAccount(config.keys.taker);
  const hubTx = new TxManager(db, deployment.hub.chainId, deployment.hubClients, taker, { bumpAfterMs: config.bumpAfterMs });
  const coordinator = new Coordinator({
    deployment, store, hubTx, policy: config.policy,
    receiver: (config.receiver ?? taker.address) as Address,
    hubNativePriceWad: config.hubNativePriceUsd,
    leaseMs: config.leaseMs, confirmTimeoutMs: config.confirmTimeoutMs,
    log: options.log, checkpoint: options.checkpoint,
  });
  const scanner = new HubScanner(deployment);
  const metrics = createRelayerMetrics(store);
  const emitter = new EventEmitter<{ transition: [TransitionEvent]; packet: [DeliveryEvent]; error: [Error] }>();
  coordinator.on("transition", (e) => {
    metrics.onTransition(e);
    emitter.emit("transition", e);
  });

  const local = config.manifest.chains.every((c) => c.contracts.messageLib);
  const deliver = config.deliver ?? local;
  let deliverer: PacketDeliverer | undefined;
  if (deliver) {
    if (!config.keys.verifier) throw new Error("keys.verifier: required to deliver packets on chains with a local message library");
    const verifier = privateKeyToAccount(config.keys.verifier);
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
  const tick = async (signal?: AbortSignal) => {
    if (!allowancesReady) {
      await coordinator.ensureAllowances();
      allowancesReady = true;
    }
    const liquidatable = await scanner.liquidatable();
    await coordinator.detect(liquidatable.map((a) => a.account));
    const driven = await Promise.all(Array.from({ length: config.concurrency }, (_, i) => coordinator.work(`${config.workerId}/${i}`, signal)));
    return driven.reduce((a, b) => a + b, 0);
  };

  let controller: AbortController | undefined;
  let loop: Promise<void> | undefined;
  const relayer = Object.assign(emitter, {
    store,
    deployment,
    metrics,
    workerId: config.workerId,
    tick: () => tick(),
    start() {
      if (controller) return;
      controller = new AbortController();
      const signal = controller.signal;
      deliverer?.start();
      loop = (async () => {
        while (!signal.aborted) {
          try {
            await tick(signal);
          } catch (error) {
            // The hub RPC is unreachable or failed: nothing is lost, the next pass resumes from the database.
            options.log?.warn({ err: (error as Error).message }, "relayer pass failed; retrying");
            if (emitter.listenerCount("error") > 0) emitter.emit("error", error as Error);
          }
          await sleep(config.pollIntervalMs, signal);
        }
      })();
    },
    async stop() {
      controller?.abort();
      await loop;
      controller = undefined;
      await deliverer?.stop();
    },
    async close() {
      await relayer.stop();
      await db.close();
    },
  });
  return relayer;
}
