/**
 * Relayer RPC requests per hub block while idle: a counting JSON-RPC proxy (lib/rpc-proxy.ts) in front of the
 * hub, a manifest copy whose hub rpcUrl is the proxy, the relayer CLI started on it (with `--indexer-url`
 * when feed detection is asked for and an indexer is given), blocks every `blockTime` s on every chain, no
 * price moves; after `warmupBlocks` hub blocks the counter is reset and the requests over the next `blocks`
 * hub blocks are divided by the blocks mined.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Manifest, writeManifest } from "../src/deployment/manifest.js";
import type { Deployment } from "../src/protocol/deployment.js";
import { log, round, sleep } from "./lib/common.js";
import { setMining } from "./lib/network.js";
import { dropSchema, uniqueSchema } from "./lib/pg.js";
import { type PonderProcess, startIndexer } from "./lib/ponder.js";
import { feedRefused, startRelayer } from "./lib/relayer.js";
import { startRpcProxy } from "./lib/rpc-proxy.js";

export interface IdleRpc {
  accounts: number;
  detection: "feed" | "scanner";
  note?: string;
  warmupBlocks: number;
  blocks: number;
  requests: number;
  httpRequests: number;
  perBlock: number;
  byMethod: Record<string, number>;
}

async function waitBlocks(d: Deployment, from: bigint, blocks: number, timeoutMs: number): Promise<bigint> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const head = await d.hubClients.public.getBlockNumber();
    if (head >= from + BigInt(blocks)) return head;
    if (Date.now() > deadline) throw new Error(`idle: the hub mined ${head - from} of ${blocks} blocks in ${timeoutMs} ms`);
    await sleep(50);
  }
}

export async function measureIdleRpc(
  net: { deployment: Deployment; manifest: Manifest; databaseUrl: string; accounts: readonly `0x${string}`[] },
  o: { appRoot: string; blockTime: number; warmupBlocks: number; blocks: number; indexerUrl?: string },
): Promise<IdleRpc> {
  const d = net.deployment;
  const hub = d.hub;
  const proxy = await startRpcProxy(hub.rpcUrl);
  const dir = mkdtempSync(join(tmpdir(), "salvage-idle-"));
  const manifestPath = join(dir, "manifest.json");
  writeManifest(manifestPath, { ...net.manifest, accounts: [...net.accounts], chains: net.manifest.chains.map((c) => (c.name === hub.name ? { ...c, rpcUrl: proxy.url } : c)) });
  const schema = uniqueSchema("idle");
  let relayer: Awaited<ReturnType<typeof startRelayer>> | undefined;
  try {
    await setMining(d, { intervalSeconds: o.blockTime });
    relayer = await startRelayer({ appRoot: o.appRoot, manifestPath, databaseUrl: net.databaseUrl, schema, indexerUrl: o.indexerUrl });
    const timeout = (n: number) => (n * o.blockTime + 60) * 1000;
    const h0 = await waitBlocks(d, await d.hubClients.public.getBlockNumber(), o.warmupBlocks, timeout(o.warmupBlocks));
    proxy.reset();
    const h1 = await waitBlocks(d, h0, o.blocks, timeout(o.blocks));
    const requests = proxy.requests();
    const mined = Number(h1 - h0);
    const out: IdleRpc = {
      accounts: net.accounts.length,
      detection: relayer.detection,
      note: relayer.note,
      warmupBlocks: o.warmupBlocks,
      blocks: mined,
      requests,
      httpRequests: proxy.httpRequests(),
      perBlock: round(requests / mined, 2),
      byMethod: proxy.byMethod(),
    };
    log(`idle relayer (${out.detection}) at ${out.accounts} borrowers: ${requests} hub RPC requests over ${mined} hub blocks = ${out.perBlock} per block`);
    return out;
  } finally {
    await relayer?.stop();
    await proxy.close();
    await setMining(d, { automine: true });
    await dropSchema(net.databaseUrl, schema);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The idle measurement at a seeding stage (fewer borrowers than the full book): with feed detection, an
 * indexer of its own over the devnet as seeded so far (its schema dropped afterwards).
 */
export async function measureIdleRpcAtStage(
  stage: { deployment: Deployment; manifest: Manifest; databaseUrl: string; accounts: readonly `0x${string}`[] },
  o: { appRoot: string; blockTime: number; warmupBlocks: number; blocks: number; feed: boolean },
): Promise<IdleRpc> {
  if (!o.feed || feedRefused(o.appRoot)) return measureIdleRpc(stage, o);
  const dir = mkdtempSync(join(tmpdir(), "salvage-idle-indexer-"));
  const manifestPath = join(dir, "manifest.json");
  writeManifest(manifestPath, { ...stage.manifest, accounts: [...stage.accounts] });
  const schema = uniqueSchema("idle_index");
  let indexer: PonderProcess | undefined;
  try {
    indexer = await startIndexer({ schema, manifestPath, databaseUrl: stage.databaseUrl, root: o.appRoot });
    return await measureIdleRpc(stage, { ...o, indexerUrl: indexer.url });
  } finally {
    await indexer?.stop();
    await dropSchema(stage.databaseUrl, schema);
    rmSync(dir, { recursive: true, force: true });
  }
}
