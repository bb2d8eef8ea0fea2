/**
 * Sync status of every chain of the manifest: the block Ponder has indexed (its checkpoint table), the chain's
 * head (eth_blockNumber on the manifest's RPC, 2 s timeout), and the lag between them.
 *
 *   GET /salvage/status   { ready, maxLagBlocks, chains: [{ name, chainId, eid, role, indexedBlock, headBlock, lagBlocks }] }
 *   GET /salvage/ready    200 when every chain is indexed to within SALVAGE_READY_MAX_LAG blocks (default 2) of
 *                         its head, else 503 with the status. (Ponder's /ready only says the backfill is done.)
 *   GET /salvage/metrics  salvage's Prometheus metrics (lag per chain, feed events, subscribers, webhooks).
 */
import { Hono } from "hono";
import { Gauge } from "prom-client";
import { http, createPublicClient } from "viem";
import { loadIndexerManifest } from "../indexer/manifest.js";
import { salvageRegistry } from "./metrics.js";
import { readCheckpoints } from "./snapshot.js";

export interface ChainStatus {
  name: string;
  chainId: number;
  eid: number;
  role: "hub" | "spoke";
  indexedBlock: bigint | null;
  headBlock: bigint | null;
  lagBlocks: bigint | null;
}

const clients = new Map<string, ReturnType<typeof createPublicClient>>();
const clientOf = (rpcUrl: string) => {
  let c = clients.get(rpcUrl);
  if (!c) clients.set(rpcUrl, (c = createPublicClient({ transport: http(rpcUrl, { timeout: 2_000, retryCount: 0 }) })));
  return c;
};

/** The block Ponder has indexed, per chain id. */
async function indexedBlocks(): Promise<Map<number, bigint>> {
  return new Map((await readCheckpoints()).map((b) => [b.chainId, b.number]));
}

export async function chainStatuses(): Promise<ChainStatus[]> {
  const { manifest } = loadIndexerManifest();
  const indexed = await indexedBlocks().catch(() => new Map<number, bigint>());
  return Promise.all(
    manifest.chains.map(async (c) => {
      const head = await clientOf(c.rpcUrl).getBlockNumber({ cacheTime: 0 }).catch(() => null);
      const at = indexed.get(c.chainId) ?? null;
      return {
        name: c.name, chainId: c.chainId, eid: c.eid, role: c.role,
        indexedBlock: at, headBlock: head,
        lagBlocks: at === null || head === null ? null : head > at ? head - at : 0n,
      };
    }),
  );
}

export function maxReadyLag(): bigint {
  const raw = process.env.SALVAGE_READY_MAX_LAG ?? "2";
  if (!/^\d{1,6}$/.test(raw)) throw new Error(`SALVAGE_READY_MAX_LAG must be a whole number of blocks, got ${JSON.stringify(raw)}`);
  return BigInt(raw);
}

const isReady = (chains: ChainStatus[], maxLag: bigint) => chains.every((c) => c.lagBlocks !== null && c.lagBlocks <= maxLag);

const json = (chains: ChainStatus[], maxLag: bigint) => ({
  ready: isReady(chains, maxLag),
  maxLagBlocks: maxLag.toString(),
  chains: chains.map((c) => ({ ...c, indexedBlock: c.indexedBlock?.toString() ?? null, headBlock: c.headBlock?.toString() ?? null, lagBlocks: c.lagBlocks?.toString() ?? null })),
});

new Gauge({
  name: "salvage_indexing_lag_blocks",
  help: "Chain head minus the block Ponder has indexed, per chain (read at scrape time)",
  labelNames: ["chain", "chain_id"],
  registers: [salvageRegistry],
  async collect() {
    for (const c of await chainStatuses()) {
      if (c.lagBlocks !== null) this.set({ chain: c.name, chain_id: String(c.chainId) }, Number(c.lagBlocks));
    }
  },
});

export const statusRoutes = new Hono()
  .get("/status", async (c) => {
    const maxLag = maxReadyLag();
    return c.json(json(await chainStatuses(), maxLag));
  })
  .get("/ready", async (c) => {
    const maxLag = maxReadyLag();
    const chains = await chainStatuses();
    return c.json(json(chains, maxLag), isReady(chains, maxLag) ? 200 : 503);
  })
  .get("/metrics", async (c) => c.text(await salvageRegistry.metrics(), 200, { "content-type": salvageRegistry.contentType }));
