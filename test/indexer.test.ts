/**
 * The indexer end to end: a hub and two spokes on anvil, seeded borrowers, Ponder (`ponder start`) as child
 * processes: one on its own PGlite directory, and one on a throwaway PostgreSQL database when a server is
 * reachable (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test; SALVAGE_TEST_POSTGRES=0
 * skips it). Every account's indexed health factor must equal the hub's `healthFactor(account)` to the wei
 * after the backfill, through live price moves, a crash and a hub reorg, and in a fresh re-index; /at-risk
 * must return exactly the accounts the hub considers liquidatable, in HF order.
 * SALVAGE_INDEXER_TEST_ACCOUNTS sets the number of seeded borrowers (default 60).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Address, type Hex, pad, parseEventLogs } from "viem";
import { endpointV2Abi, simpleMessageLibAbi } from "../abis/index.js";
import { write } from "../src/chains/tx.js";
import { decodePacket } from "../src/layerzero/packet.js";
import { deposit, mint } from "../src/protocol/actions.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../src/chains/anvil.js";
import { writeManifest } from "../src/deployment/manifest.js";
import { createDevnetDeliverer, type Network, startNetwork } from "../src/devnet/network.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
import { Rng } from "../src/devnet/rng.js";
import { seedBorrowers } from "../src/devnet/seed.js";
import { mapLimit } from "../src/util/concurrency.js";
import { stopProcessGroup } from "../src/util/process-group.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { WAD } from "../src/health/wad.js";
import { Deployment } from "../src/protocol/deployment.js";
import type { PacketDeliverer } from "../src/layerzero/deliverer.js";
import { type PathwayEvent, createSalvageClient } from "../src/client/index.js";
import { type TestDatabase, createTestDatabase } from "./helpers/database.js";

const ACCOUNTS = Number(process.env.SALVAGE_INDEXER_TEST_ACCOUNTS ?? 60);
const SEED = 11;

interface HealthRow {
  account: string;
  healthFactor: string;
}

let network: Network | undefined;
let deployment: Deployment;
let deliverer: PacketDeliverer | undefined;
let dir: string | undefined;
let manifestPath: string;
let accounts: Address[];
let rng: Rng;

/** One Ponder process: PGlite always; PostgreSQL too when reachable (a throwaway database per run). */
interface Indexer {
  backend: "pglite" | "postgres";
  port: number;
  child: ChildProcess;
  log: string;
  /** Set once Ponder logs the port it listens on. */
  listening: boolean;
}
const indexers: Indexer[] = [];
let pgDatabase: TestDatabase | undefined;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(ix: Indexer, what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (ix.child.exitCode !== null) throw new Error(`ponder (${ix.backend}) exited (${ix.child.exitCode}) while waiting for ${what}:\n${ix.log.slice(-4000)}`);
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`ponder (${ix.backend}) timed out waiting for ${what}:\n${ix.log.slice(-4000)}`);
    await sleep(200);
  }
}

const api = (ix: Indexer, path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${ix.port}${path}`, init);

/** Waits until every indexer has indexed the hub chain through `block` (default: the hub's head); returns it. */
async function caughtUp(block?: bigint): Promise<bigint> {
  const target = block ?? (await deployment.hubClients.public.getBlockNumber({ cacheTime: 0 }));
  // Every chain, not only the hub: packets are sent on one chain and delivered on another.
  const heads = new Map<string, bigint>([[deployment.hub.name, target]]);
  for (const spoke of deployment.spokes) heads.set(spoke.name, await deployment.clients(spoke).public.getBlockNumber({ cacheTime: 0 }));
  for (const ix of indexers) {
    await waitFor(ix, `hub block ${target} and the spokes' heads`, async () => {
      const res = await api(ix, "/status");
      if (!res.ok) return undefined;
      const status = (await res.json()) as Record<string, { block?: { number: number } }>;
      const behind = [...heads].filter(([name, head]) => {
        const indexed = status[name]?.block?.number;
        return indexed === undefined || BigInt(indexed) < head;
      });
      return behind.length === 0 ? true : undefined;
    }, 120_000);
  }
  return target;
}

/**
 * Every seeded account's served health factor (salvage GraphQL `account`, computed at the answer's block) equals
 * the hub's at `block`, on every indexer; and the stored rows keep their envelope (src/health/envelope.ts): the
 * hub's HF is at or above each row's guard, watched rows (guard below 1) are exact, and the rows stored below 1
 * are exactly the accounts the hub has below 1.
 */
async function expectExactHealth(block: bigint): Promise<Map<string, bigint>> {
  const onchain = new Map(await mapLimit(accounts, 16, async (a) => [a.toLowerCase(), await deployment.onchainHealthFactor(a, block)] as const));
  for (const ix of indexers) {
    // In requests of 40 aliases (the API allows 50).
    const indexed = new Map<string, bigint | undefined>();
    for (let from = 0; from < accounts.length; from += 40) {
      const chunk = accounts.slice(from, from + 40);
      const served = await graphql<Record<string, { health: { healthFactor: string } | null } | null>>(
        ix,
        `{ ${chunk.map((a, i) => `a${i}: account(address: "${a}") { health { healthFactor } }`).join(" ")} }`,
        "/salvage/graphql",
      );
      expect(served.errors, ix.backend).toBeUndefined();
      for (const [i, a] of chunk.entries()) {
        const h = served.data![`a${i}`]?.health;
        indexed.set(a.toLowerCase(), h ? BigInt(h.healthFactor) : undefined);
      }
    }
    const mismatches = [...onchain].filter(([a, hf]) => indexed.get(a) !== hf).map(([a, hf]) => `${ix.backend} ${a}: hub ${hf}, served ${indexed.get(a)}`);
    expect(mismatches).toEqual([]);

    // The stored rows (Ponder's GraphQL over the table itself) and their envelope.
    const body = await graphql<{ accountHealths: { totalCount: number; items: (HealthRow & { guardHf: string })[] } }>(ix, "{ accountHealths(limit: 1000) { totalCount items { account healthFactor guardHf } } }");
    expect(body.data!.accountHealths.totalCount).toBe(accounts.length);
    const broken: string[] = [];
    for (const r of body.data!.accountHealths.items) {
      const hub = onchain.get(r.account.toLowerCase())!;
      const [stored, guard] = [BigInt(r.healthFactor), BigInt(r.guardHf)];
      if (hub < guard) broken.push(`${ix.backend} ${r.account}: hub ${hub} below the guard ${guard}`);
      if (guard < WAD && stored !== hub) broken.push(`${ix.backend} ${r.account}: watched, stored ${stored}, hub ${hub}`);
      if (stored < WAD !== hub < WAD) broken.push(`${ix.backend} ${r.account}: stored ${stored}, hub ${hub}: liquidatable differs`);
    }
    expect(broken).toEqual([]);
  }
  return onchain;
}

/** Positions, prices and health as an indexer holds them, rows sorted, for comparing two indexes. */
async function indexedTables(ix: Indexer): Promise<Record<string, string[]>> {
  const tables = {
    accountHealths: "account healthFactor collateralValue thresholdValue borrowPower debtValue dominantCollateralAssetId liquidationPriceWad shockWad guardHf updatedBlock",
    healthTriggers: "account assetId side priceWad",
    collaterals: "account eid chainId assetId amount updatedBlock",
    debts: "account assetId amount updatedBlock",
    prices: "chainId assetId feed answer priceWad roundId block",
    auctions: "auctionId account active",
    packets: "id status guid",
    opportunityEvents: "id account kind healthFactor previousHealthFactor blockNumber",
  };
  const out: Record<string, string[]> = {};
  for (const [table, fields] of Object.entries(tables)) {
    const body = await graphql<Record<string, { items: unknown[] }>>(ix, `{ ${table}(limit: 1000) { items { ${fields} } } }`);
    expect(body.errors, `${ix.backend} ${table}`).toBeUndefined();
    out[table] = body.data![table]!.items.map((row) => JSON.stringify(row)).sort();
  }
  return out;
}

interface PathwayOut {
  srcEid: number; dstEid: number; asOf: { number: string; timestamp: string } | null; inFlight: number; oldestAgeSeconds: string | null;
  p50Seconds: string | null; p99Seconds: string | null; samples: number; failures: number; stallBoundSeconds: string; stalled: boolean;
  stalledReason: string | null; blockedNonce: string | null; blockedPackets: number;
}

async function indexedPathways(ix: Indexer): Promise<PathwayOut[]> {
  const res = await api(ix, "/salvage/graphql", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: "{ pathways { srcEid dstEid asOf { number timestamp } inFlight oldestAgeSeconds p50Seconds p99Seconds samples failures stallBoundSeconds stalled stalledReason blockedNonce blockedPackets } }" }),
  });
  const body = (await res.json()) as { data?: { pathways: PathwayOut[] }; errors?: unknown };
  expect(body.errors, ix.backend).toBeUndefined();
  return body.data!.pathways;
}

const clamp = (v: bigint, lo: bigint, hi: bigint) => (v < lo ? lo : v > hi ? hi : v);

interface PathwayEventOut {
  id: string; kind: string; account: string | null; healthFactor: string | null; chainId: number; blockNumber: string; logIndex: number;
  pathway: { srcEid: number; dstEid: number; srcChainId: number; dstChainId: number; reason: string | null; asOf: { chainId: number; number: string; timestamp: string } } | null;
}

/** The feed log's `stalled` / `cleared` events after `since` (the replay a subscriber gets with that cursor). */
async function pathwayEventsAfter(ix: Indexer, since: string): Promise<PathwayEventOut[]> {
  const res = await api(ix, "/salvage/graphql", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      query: "query($s: String) { opportunityEvents(since: $s, first: 500) { items { id kind account healthFactor chainId blockNumber logIndex pathway { srcEid dstEid srcChainId dstChainId reason asOf { chainId number timestamp } } } } }",
      variables: { s: since },
    }),
  });
  const body = (await res.json()) as { data?: { opportunityEvents: { items: PathwayEventOut[] } }; errors?: unknown };
  expect(body.errors, ix.backend).toBeUndefined();
  return body.data!.opportunityEvents.items.filter((e) => e.kind === "stalled" || e.kind === "cleared");
}

async function latestEventId(ix: Indexer): Promise<string> {
  const res = await api(ix, "/salvage/graphql", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ latestEventId }" }) });
  return ((await res.json()) as { data: { latestEventId: string | null } }).data.latestEventId ?? "0";
}

/** A typed-client (SSE) subscriber to the pathway events of one indexer, from `since`. */
function pathwaySubscriber(ix: Indexer, since: string) {
  const got: PathwayEvent[] = [];
  const stop = new AbortController();
  const client = createSalvageClient({ url: `http://127.0.0.1:${ix.port}` });
  let failure: unknown;
  const done = (async () => {
    for await (const e of client.opportunities({ since, filter: { kinds: ["stalled", "cleared"] }, signal: stop.signal })) got.push(e);
  })().catch((e: unknown) => {
    failure = e;
  });
  return {
    got,
    /** Waits until it holds `n` events. */
    has: async (n: number) => {
      await waitFor(ix, `${n} pathway events over SSE`, async () => (got.length >= n || failure !== undefined ? true : undefined), 60_000).catch(async (e: Error) => {
        throw new Error(`${e.message.split("\n")[0]}; got ${got.length}; the log's pathway events after ${since}: ${JSON.stringify(await pathwayEventsAfter(ix, since))}`);
      });
      if (failure !== undefined) throw new Error(`the SSE subscriber failed: ${String(failure)}`);
    },
    stop: async () => {
      stop.abort();
      await done;
    },
  };
}


interface EndpointEvents {
  sent: Map<string, { srcEid: number; dstEid: number; at: bigint }>;
  delivered: Map<string, bigint>;
  alerts: Map<string, number>;
}

/** Every PacketSent, PacketDelivered and LzReceiveAlert of every endpoint, by packet (path and nonce), with block timestamps. */
async function endpointEvents(): Promise<EndpointEvents> {
  const out: EndpointEvents = { sent: new Map(), delivered: new Map(), alerts: new Map() };
  const key = (srcEid: number, sender: string, dstEid: number, receiver: string, nonce: bigint) =>
    `${srcEid}:${pad(sender as Hex, { size: 32 }).toLowerCase()}:${dstEid}:${pad(receiver as Hex, { size: 32 }).toLowerCase()}:${nonce}`;
  for (const chain of deployment.manifest.chains) {
    const reader = deployment.clients(chain).public;
    const times = new Map<bigint, bigint>();
    const at = async (n: bigint) => times.get(n) ?? times.set(n, (await reader.getBlock({ blockNumber: n })).timestamp).get(n)!;
    const address = chain.contracts.endpoint;
    for (const l of await reader.getContractEvents({ address, abi: endpointV2Abi, eventName: "PacketSent", fromBlock: 0n })) {
      const p = decodePacket(l.args.encodedPayload!);
      out.sent.set(key(p.srcEid, p.sender, p.dstEid, p.receiver, p.nonce), { srcEid: p.srcEid, dstEid: p.dstEid, at: await at(l.blockNumber) });
    }
    for (const l of await reader.getContractEvents({ address, abi: endpointV2Abi, eventName: "PacketDelivered", fromBlock: 0n })) {
      out.delivered.set(key(l.args.origin!.srcEid, l.args.origin!.sender, chain.eid, l.args.receiver!, l.args.origin!.nonce), await at(l.blockNumber));
    }
    for (const l of await reader.getContractEvents({ address, abi: endpointV2Abi, eventName: "LzReceiveAlert", fromBlock: 0n })) {
      const k = key(l.args.origin!.srcEid, l.args.origin!.sender, chain.eid, l.args.receiver!, l.args.origin!.nonce);
      out.alerts.set(k, (out.alerts.get(k) ?? 0) + 1);
    }
  }
  return out;
}

/** Per pathway from the events: packets in flight, send → delivery nearest-rank p50/p99 (all deliveries: fewer than 1,000), alerts. */
function expectedPathways(e: EndpointEvents) {
  const by = new Map<string, { srcEid: number; dstEid: number; inFlight: number; latencies: bigint[]; failures: number }>();
  for (const [k, s] of e.sent) {
    const id = `${s.srcEid}:${s.dstEid}`;
    const p = by.get(id) ?? by.set(id, { srcEid: s.srcEid, dstEid: s.dstEid, inFlight: 0, latencies: [], failures: 0 }).get(id)!;
    const delivered = e.delivered.get(k);
    if (delivered === undefined) p.inFlight++;
    else p.latencies.push(delivered - s.at);
    p.failures += e.alerts.get(k) ?? 0;
  }
  const rank = (sorted: bigint[], q: number) => (sorted.length === 0 ? null : String(sorted[Math.ceil(q * sorted.length) - 1]));
  return [...by.values()].map((p) => {
    const sorted = p.latencies.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return { srcEid: p.srcEid, dstEid: p.dstEid, inFlight: p.inFlight, p50Seconds: rank(sorted, 0.5), p99Seconds: rank(sorted, 0.99), samples: sorted.length, failures: p.failures };
  });
}

const comparable = (list: readonly { srcEid: number; dstEid: number; inFlight: number; p50Seconds: string | null; p99Seconds: string | null; samples: number; failures: number }[]) =>
  list.map(({ srcEid, dstEid, inFlight, p50Seconds, p99Seconds, samples, failures }) => ({ srcEid, dstEid, inFlight, p50Seconds, p99Seconds, samples, failures })).sort((a, b) => a.srcEid - b.srcEid || a.dstEid - b.dstEid);

async function graphql<T = unknown>(ix: Indexer, query: string, path = "/graphql"): Promise<{ data?: T; errors?: { message: string }[] }> {
  const res = await api(ix, path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) });
  return (await res.json()) as { data?: T; errors?: { message: string }[] };
}


function startPonder(backend: Indexer["backend"], port: number, extraEnv: NodeJS.ProcessEnv): Indexer {
  const env: NodeJS.ProcessEnv = { ...process.env, SALVAGE_MANIFEST: manifestPath, PONDER_TELEMETRY_DISABLED: "true", NODE_ENV: "production" };
  delete env.DATABASE_URL;
  delete env.DATABASE_PRIVATE_URL;
  delete env.SALVAGE_PGLITE_DIR;
  Object.assign(env, extraEnv);
  // The ponder binary directly (not through npx), in its own process group so afterAll can end all of it.
  const child = spawn(
    process.execPath,
    ["node_modules/ponder/dist/esm/bin/ponder.js", "--log-format", "json", "start", "--schema", `test_${process.pid}_${Date.now()}`, "--port", String(port)],
    { cwd: process.cwd(), env, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  const ix: Indexer = { backend, port, child, log: "", listening: false };
  const collect = (chunk: Buffer) => {
    ix.log += chunk.toString();
    // Ponder moves to the next port when the requested one is taken ("Port in use"): follow it.
    const created = /"msg":"Created HTTP server"[^\n]*?"port":(\d+)/.exec(ix.log) ?? /"port":(\d+)[^\n]*?"msg":"Created HTTP server"/.exec(ix.log);
    if (created && !ix.listening) {
      ix.port = Number(created[1]);
      ix.listening = true;
    }
    if (ix.log.length > 200_000) ix.log = ix.log.slice(-100_000);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  return ix;
}

async function stopPonder(ix: Indexer): Promise<void> {
  await stopProcessGroup(ix.child);
}

beforeAll(async () => {
  network = await startNetwork({ spokes: 2 });
  deployment = new Deployment(network.manifest);
  deliverer = createDevnetDeliverer(network.manifest, { retryBaseMs: 50, retryMaxMs: 400 });
  rng = new Rng(SEED);
  accounts = await seedBorrowers(deployment, deliverer, { count: ACCOUNTS, seed: SEED, rng });
  network.manifest.accounts = accounts;

  dir = mkdtempSync(join(tmpdir(), "salvage-indexer-"));
  manifestPath = join(dir, "manifest.json");
  writeManifest(manifestPath, network.manifest);

  indexers.push(startPonder("pglite", await freePort(), { SALVAGE_PGLITE_DIR: join(dir, "pglite") }));
  pgDatabase = createTestDatabase("indexer");
  if (pgDatabase) indexers.push(startPonder("postgres", await freePort(), { DATABASE_URL: pgDatabase.url }));
  for (const ix of indexers) await waitFor(ix, "/ready", async () => (ix.listening && (await api(ix, "/ready")).status === 200 ? true : undefined), 180_000);
}, 480_000);

afterAll(async () => {
  await Promise.all(indexers.map(stopPonder));
  await deliverer?.stop();
  await network?.stop();
  pgDatabase?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("indexer", () => {
  it("indexes every account's health equal to the hub's after the backfill", async () => {
    const block = await caughtUp();
    const hfs = await expectExactHealth(block);
    expect([...hfs.values()].every((hf) => hf >= WAD)).toBe(true);
  });

  it("tracks every LayerZero packet from sent to delivered", async () => {
    await deliverer!.drain();
    await caughtUp();
    for (const ix of indexers) {
      const body = await graphql<{ all: { totalCount: number }; pending: { totalCount: number }; sample: { items: { guid: string | null; latencySeconds: string | null }[] } }>(
        ix,
        `{ all: packets { totalCount } pending: packets(where: { status_not: "delivered" }) { totalCount }
           sample: packets(limit: 5) { items { guid latencySeconds } } }`,
      );
      expect(body.data?.all.totalCount).toBeGreaterThanOrEqual(accounts.length);
      expect(body.data?.pending.totalCount).toBe(0);
      for (const p of body.data!.sample.items) {
        expect(p.guid).toMatch(/^0x[0-9a-f]{64}$/);
        expect(p.latencySeconds).not.toBeNull();
      }
    }
  });

  it("keeps health exact through price moves (live indexing)", async () => {
    const simulator = new MarketSimulator(deployment, rng);
    for (let i = 0; i < 3; i++) {
      await simulator.step();
      await expectExactHealth(await caughtUp());
    }
  });

  it("after a crash, health is exact and /at-risk returns exactly the liquidatable accounts in HF order", async () => {
    const simulator = new MarketSimulator(deployment, rng);
    const crash = await simulator.crash(accounts, 0.25);
    const block = await caughtUp();
    const hfs = await expectExactHealth(block);

    const expected = [...hfs.entries()]
      .filter(([, hf]) => hf < WAD)
      .sort(([a, x], [b, y]) => (x < y ? -1 : x > y ? 1 : a < b ? -1 : a > b ? 1 : 0))
      .map(([a, hf]) => ({ account: a, healthFactor: hf.toString() }));
    expect(expected.length).toBe(crash.liquidatable.length);
    expect(expected.length).toBeGreaterThan(0);

    for (const ix of indexers) {
      const res = await api(ix, "/at-risk?maxHealthFactor=1");
      expect(res.status).toBe(200);
      const body = (await res.json()) as { accounts: HealthRow[] };
      expect(body.accounts.map((r) => ({ account: r.account.toLowerCase(), healthFactor: r.healthFactor })), ix.backend).toEqual(expected);
      expect(new Set(body.accounts.map((r) => r.account.toLowerCase()))).toEqual(new Set(crash.liquidatable.map((a) => a.toLowerCase())));

      // Cursor pages of 4 concatenate to the same list.
      const paged: string[] = [];
      let after: string | null = null;
      do {
        const page = (await (await api(ix, `/at-risk?maxHealthFactor=1&first=4${after ? `&after=${after}` : ""}`)).json()) as {
          accounts: HealthRow[];
          pageInfo: { hasNextPage: boolean; endCursor: string | null };
        };
        paged.push(...page.accounts.map((r) => r.account.toLowerCase()));
        after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
      } while (after);
      expect(paged).toEqual(expected.map((e) => e.account));
    }

    // Per chain: the liquidatable accounts with collateral on spoke 1, by the hub's own positions.
    const spoke = deployment.spokes[0]!;
    const onSpoke = new Set<string>();
    for (const e of expected) {
      const positions = await deployment.positions(e.account as Address, block);
      if (positions.collateral.some((c) => c.eid === spoke.eid && c.amount > 0n)) onSpoke.add(e.account);
    }
    for (const ix of indexers) {
      const body = (await (await api(ix, `/at-risk?maxHealthFactor=1&chainId=${spoke.chainId}`)).json()) as { accounts: HealthRow[] };
      expect(body.accounts.map((r) => r.account.toLowerCase())).toEqual(expected.map((e) => e.account).filter((a) => onSpoke.has(a)));
    }
  });

  it("follows a hub reorg (anvil snapshot/revert) back to the canonical chain", async () => {
    const reader = deployment.hubClients.public;
    const before = await expectExactHealth(await caughtUp());
    const snapshot = (await reader.request({ method: "evm_snapshot", params: [] } as never)) as string;
    // Orphaned branch: every collateral price moves, and the indexer follows.
    await new MarketSimulator(deployment, new Rng(SEED + 1)).step();
    const orphanedTip = await caughtUp();
    const orphaned = await expectExactHealth(orphanedTip);
    expect(orphaned).not.toEqual(before);
    // Canonical branch: the same start, no price moves, and longer than the orphaned one.
    expect(await reader.request({ method: "evm_revert", params: [snapshot] } as never)).toBe(true);
    await reader.request({ method: "anvil_mine", params: ["0x8"] } as never);
    const block = await caughtUp();
    expect(block).toBeGreaterThan(orphanedTip);
    // Health is back to the pre-branch values: the orphaned prices were reverted, not kept.
    expect(await expectExactHealth(block)).toEqual(before);
    for (const ix of indexers) expect(ix.log, ix.backend).toMatch(/Reverted reorged database rows|Reorged block/);
  });

  it("a fresh index after the crash (every price update on the backfill path) agrees to the wei", async () => {
    const fresh = startPonder("pglite", await freePort(), { SALVAGE_PGLITE_DIR: join(dir!, "pglite-fresh") });
    indexers.push(fresh);
    await waitFor(fresh, "/ready", async () => (fresh.listening && (await api(fresh, "/ready")).status === 200 ? true : undefined), 180_000);
    await expectExactHealth(await caughtUp());
    // The indexers that lived through the reorg hold exactly what a fresh index of the canonical chain holds,
    // the opportunity feed's log included.
    const expected = await indexedTables(fresh);
    for (const ix of indexers.filter((i) => i !== fresh)) expect(await indexedTables(ix), ix.backend).toEqual(expected);
  });

  it("pathways equal what the endpoints' events say; one whose packet waits past its bound is stalled, and clears once delivered", async () => {
    await deliverer!.drain();
    await caughtUp();
    const events = await endpointEvents();
    for (const ix of indexers) expect(comparable(await indexedPathways(ix)), ix.backend).toEqual(comparable(expectedPathways(events)));

    // spoke1 → hub stalls: a deposit nobody delivers, and the hub's clock past the pathway's bound.
    const spoke1 = deployment.spokes.find((c) => c.name === "spoke1")!;
    const before = (await indexedPathways(indexers[0]!)).find((p) => p.srcEid === spoke1.eid && p.dstEid === deployment.hub.eid)!;
    expect(before).toMatchObject({ inFlight: 0, stalled: false });
    expect(before.samples).toBeGreaterThanOrEqual(20);
    const bound = BigInt(before.stallBoundSeconds);
    expect(bound).toBe(clamp((BigInt(before.p99Seconds!) * 3n), 60n, 1_800n));
    // The feed: where each indexer's log ends now, and an SSE subscriber (typed client) of its pathway events.
    const since = await Promise.all(indexers.map(latestEventId));
    // The API's answers need PostgreSQL (one snapshot per answer): the subscriber reads from that indexer when there is one.
    const served = Math.max(0, indexers.findIndex((i) => i.backend === "postgres"));
    const subscriber = pathwaySubscriber(indexers[served]!, since[served]!);
    await mint(deployment, spoke1.name, spoke1.tokens["10"]!, accounts[0]!, 10n ** 18n);
    const sent = await deposit(deployment, spoke1.name, accounts[0]!, 10, 10n ** 18n);
    const sentAt = (await deployment.clients(spoke1).public.getBlock({ blockNumber: sent.blockNumber })).timestamp;
    await deployment.hubClients.public.request({ method: "evm_increaseTime", params: [Number(bound) + 60] } as never);
    await deployment.hubClients.public.request({ method: "evm_mine", params: [] } as never);
    const stalledAt = await caughtUp();
    for (const ix of indexers) {
      const stalled = (await indexedPathways(ix)).find((p) => p.srcEid === spoke1.eid && p.dstEid === deployment.hub.eid)!;
      expect(stalled, ix.backend).toMatchObject({ inFlight: 1, stalled: true, stallBoundSeconds: String(bound), stalledReason: "oldest in flight past the bound", blockedNonce: null, blockedPackets: 0 });
      const hubNow = (await deployment.hubClients.public.getBlock({ blockNumber: BigInt(stalled.asOf!.number) })).timestamp;
      expect(BigInt(stalled.oldestAgeSeconds!)).toBe(hubNow - sentAt);
      expect((await api(ix, "/salvage/metrics").then((r) => r.text())).split("\n")).toContain(`salvage_pathway_stalled{src_eid="${spoke1.eid}",dst_eid="${deployment.hub.eid}"} 1`);
    }
    await subscriber.has(1);
    await deliverer!.drain();
    // Two more hub blocks: a watch that logged every block it finds the pathway clear would log again.
    await deployment.hubClients.public.request({ method: "anvil_mine", params: ["0x2"] } as never);
    await caughtUp();
    for (const ix of indexers) {
      const cleared = (await indexedPathways(ix)).find((p) => p.srcEid === spoke1.eid && p.dstEid === deployment.hub.eid)!;
      expect(cleared, ix.backend).toMatchObject({ inFlight: 0, stalled: false, oldestAgeSeconds: null });
    }
    const after = await endpointEvents();
    for (const ix of indexers) expect(comparable(await indexedPathways(ix)), ix.backend).toEqual(comparable(expectedPathways(after)));

    // Exactly one `stalled` at the hub block whose clock passed the bound, and one `cleared` at the block that delivered it.
    const deliveredAt = (
      await deployment.hubClients.public.getContractEvents({ address: deployment.hub.contracts.endpoint, abi: endpointV2Abi, eventName: "PacketDelivered", fromBlock: stalledAt })
    ).find((l) => l.args.origin!.srcEid === spoke1.eid)!.blockNumber;
    const pathway = { srcEid: spoke1.eid, dstEid: deployment.hub.eid, srcChainId: spoke1.chainId, dstChainId: deployment.hub.chainId };
    const at = (block: bigint) => `${String(block).padStart(20, "0")}:2147483647:pathway-${spoke1.eid}-${deployment.hub.eid}`;
    const expected = [
      { id: at(stalledAt), kind: "stalled", account: null, healthFactor: null, chainId: deployment.hub.chainId, blockNumber: String(stalledAt), logIndex: 2147483647,
        pathway: { ...pathway, reason: "oldest in flight past the bound", asOf: { chainId: deployment.hub.chainId, number: String(stalledAt) } } },
      { id: at(deliveredAt), kind: "cleared", account: null, healthFactor: null, chainId: deployment.hub.chainId, blockNumber: String(deliveredAt), logIndex: 2147483647,
        pathway: { ...pathway, reason: null, asOf: { chainId: deployment.hub.chainId, number: String(deliveredAt) } } },
    ];
    // The replay from the cursor taken before: the same two events, with the same ids, on every indexer.
    for (const [i, ix] of indexers.entries()) expect(await pathwayEventsAfter(ix, since[i]!), ix.backend).toMatchObject(expected);
    await subscriber.has(2);
    await subscriber.stop();
    expect(subscriber.got.map((e) => ({ id: e.id, kind: e.kind, reason: e.pathway.reason, srcEid: e.pathway.srcEid, dstEid: e.pathway.dstEid, blockNumber: e.blockNumber })), "SSE").toEqual(
      expected.map((e) => ({ id: e.id, kind: e.kind, reason: e.pathway.reason, srcEid: e.pathway.srcEid, dstEid: e.pathway.dstEid, blockNumber: BigInt(e.blockNumber) })),
    );
    expect(subscriber.got[0]!.pathway.asOf.timestamp).toBe((await deployment.hubClients.public.getBlock({ blockNumber: stalledAt })).timestamp);
    // A subscriber resuming after the stalled event gets the cleared one only.
    const resumed = pathwaySubscriber(indexers[served]!, expected[0]!.id);
    await resumed.has(1);
    await resumed.stop();
    expect(resumed.got.map((e) => e.id)).toEqual([expected[1]!.id]);
  });

  it("a pathway whose later nonce is verified while an earlier one is not is nonce-blocked, and stalled once that lasts past the rule's minimum", async () => {
    // Two deposits spoke1 → hub; only the second is verified (the DVN skipped the first), so EndpointV2 cannot run it.
    const spoke1 = deployment.spokes.find((c) => c.name === "spoke1")!;
    const since = await Promise.all(indexers.map(latestEventId));
    const { public: hubReader, wallet } = deployment.hubClients;
    // Ages are the hub's clock minus spoke1's, and the test before moved the hub's on: spoke1's catches up first.
    const spokeReader = deployment.clients(spoke1).public;
    const [hubNow, spokeNow] = [(await hubReader.getBlock()).timestamp, (await spokeReader.getBlock()).timestamp];
    if (hubNow > spokeNow) await spokeReader.request({ method: "evm_increaseTime", params: [Number(hubNow - spokeNow)] } as never);
    const packets: { encoded: Hex; nonce: bigint; block: bigint }[] = [];
    for (const amount of [1n, 2n]) {
      await mint(deployment, spoke1.name, spoke1.tokens["10"]!, accounts[1]!, amount * 10n ** 18n);
      const receipt = await deposit(deployment, spoke1.name, accounts[1]!, 10, amount * 10n ** 18n);
      const [sent] = parseEventLogs({ abi: endpointV2Abi, eventName: "PacketSent", logs: receipt.logs });
      packets.push({ encoded: sent!.args.encodedPayload, nonce: decodePacket(sent!.args.encodedPayload).nonce, block: receipt.blockNumber });
    }
    await write(wallet(devnetAccounts.relayer), hubReader, { address: deployment.hub.contracts.messageLib!, abi: simpleMessageLibAbi, functionName: "validatePacket", args: [packets[1]!.encoded] });
    await caughtUp();
    const onPath = (list: PathwayOut[]) => list.find((p) => p.srcEid === spoke1.eid && p.dstEid === deployment.hub.eid)!;
    for (const ix of indexers) {
      // Blocked, not yet stalled: verification a moment out of order is no stall.
      expect(onPath(await indexedPathways(ix)), ix.backend).toMatchObject({ inFlight: 2, blockedNonce: String(packets[0]!.nonce), blockedPackets: 1, stalled: false, stalledReason: null });
    }
    // The hub's clock to 62 s past the blocking packet's send (its age is the hub's time minus the spoke's stamp).
    const blockingSentAt = (await spokeReader.getBlock({ blockNumber: packets[0]!.block })).timestamp;
    const hubLatest = (await hubReader.getBlock()).timestamp;
    if (blockingSentAt + 62n > hubLatest) await hubReader.request({ method: "evm_increaseTime", params: [Number(blockingSentAt + 62n - hubLatest)] } as never);
    await hubReader.request({ method: "evm_mine", params: [] } as never);
    await caughtUp();
    for (const ix of indexers) {
      expect(onPath(await indexedPathways(ix)), ix.backend).toMatchObject({ inFlight: 2, blockedNonce: String(packets[0]!.nonce), blockedPackets: 1, stalled: true, stalledReason: "nonce blocked" });
      // A scrape reads the pathways at most once a second (onePerScrape): the line may come one read later.
      const line = `salvage_pathway_blocked_packets{src_eid="${spoke1.eid}",dst_eid="${deployment.hub.eid}"} 1`;
      let lines: string[] = [];
      for (let i = 0; i < 30 && !lines.includes(line); i++) {
        if (i > 0) await sleep(100);
        lines = (await api(ix, "/salvage/metrics").then((r) => r.text())).split("\n");
      }
      expect(lines).toContain(line);
    }
    await deliverer!.drain();
    await caughtUp();
    for (const ix of indexers) expect(onPath(await indexedPathways(ix)), ix.backend).toMatchObject({ inFlight: 0, blockedNonce: null, blockedPackets: 0, stalled: false, stalledReason: null });
    // The feed: one `stalled` ("nonce blocked", not before the rule's minimum), then one `cleared`, the same ids everywhere.
    const logged = await Promise.all(indexers.map((ix, i) => pathwayEventsAfter(ix, since[i]!)));
    expect(logged[0]!.map((e) => [e.kind, e.pathway?.reason ?? null, e.pathway?.srcEid, e.pathway?.dstEid])).toEqual([
      ["stalled", "nonce blocked", spoke1.eid, deployment.hub.eid],
      ["cleared", null, spoke1.eid, deployment.hub.eid],
    ]);
    for (const list of logged) expect(list.map((e) => e.id)).toEqual(logged[0]!.map((e) => e.id));
    const stalledAsOf = logged[0]![0]!.pathway!.asOf;
    expect(BigInt(stalledAsOf.timestamp) - blockingSentAt).toBeGreaterThan(60n);
  });

  it("rejects malformed requests with errors and keeps serving", async () => {
    for (const ix of indexers) {
      let nested = "account";
      for (let i = 0; i < 50; i++) nested = `accountHealths { items { ${nested} } }`;
      expect((await graphql(ix, `{ ${nested} }`)).errors?.length).toBeGreaterThan(0);
      const aliases = Array.from({ length: 10_000 }, (_, i) => `a${i}: accountHealths { totalCount }`).join(" ");
      expect((await graphql(ix, `{ ${aliases} }`)).errors?.length).toBeGreaterThan(0);
      expect((await graphql(ix, "{ accountHealths { items { account }")).errors?.length).toBeGreaterThan(0);
      expect((await graphql(ix, `{ accountHealths(limit: "ten") { totalCount } }`)).errors?.length).toBeGreaterThan(0);
      expect((await api(ix, "/at-risk?maxHealthFactor=abc")).status).toBe(400);
      expect((await api(ix, "/at-risk?first=0")).status).toBe(400);
      expect((await api(ix, "/at-risk?after=nonsense")).status).toBe(400);
      expect((await api(ix, `/at-risk?maxHealthFactorWad=${2n ** 256n}`)).status).toBe(400);
      expect((await api(ix, "/ready")).status).toBe(200);
    }
  });
});
