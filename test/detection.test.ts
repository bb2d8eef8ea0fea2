/**
 * Relayer detection (src/recovery/detection/) on real chains, a real Ponder and a real PostgreSQL:
 * - the incremental scanner's local health factor of every borrower equals the hub's to the wei, after the
 *   crash and after further price moves and a deposit followed block by block; its candidates are exactly
 *   the accounts the hub reports under 1;
 * - its JSON-RPC requests per idle poll (blocks mined, nothing changing health) are the same for a book
 *   and a book four times larger, counted by an HTTP proxy in front of the hub's RPC;
 * - the feed source yields the crash's liquidatable accounts from the indexer; after commit, a new detector
 *   on the same database yields nothing already committed, then what happens next; with the indexer
 *   stopped it answers from the scanner.
 */
import { type IncomingMessage, type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubAbi } from "../abis/index.js";
import { write } from "../src/chains/tx.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
import { Rng } from "../src/devnet/rng.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { deposit, mint } from "../src/protocol/actions.js";
import { Deployment } from "../src/protocol/deployment.js";
import { type Database, openDatabase } from "../src/recovery/db.js";
import { type Detector, IncrementalHubScanner, IndexerStatusReader, createDetector } from "../src/recovery/detection/index.js";
import { mapLimit } from "../src/util/concurrency.js";
import { type PonderApp, sleep, startPonder } from "./helpers/ponder.js";
import { type CrashScenario, TEST_DATABASE_URL, crashScenario, liquidatableNow } from "./helpers/scenario.js";

let small: CrashScenario;
let large: CrashScenario;
let db: Database;
const schema = `detection_${process.pid}_${Date.now()}`;

beforeAll(async () => {
  [small, large] = await Promise.all([crashScenario({ accounts: 10, seed: 41 }), crashScenario({ accounts: 40, seed: 42 })]);
  db = await openDatabase({ databaseUrl: TEST_DATABASE_URL, schema });
}, 400_000);

afterAll(async () => {
  await db?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
  await db?.close();
  await Promise.all([small?.net.stop(), large?.net.stop()]);
}, 60_000);

const lower = (list: readonly string[]) => [...new Set(list.map((a) => a.toLowerCase()))].sort();

async function mine(s: CrashScenario, blocks = 1): Promise<void> {
  for (let i = 0; i < blocks; i++) await s.net.deployment.hubClients.public.request({ method: "evm_mine", params: [] } as never);
}

/** Every borrower's local HF equals the hub's healthFactor at the block the scanner is at, to the wei. */
async function expectScannerEqualsHub(s: CrashScenario, scanner: IncrementalHubScanner): Promise<void> {
  const block = scanner.scannedBlock!;
  const local = scanner.healthFactors();
  const hub = await mapLimit(s.borrowers, 16, async (a) => [a, await s.net.deployment.onchainHealthFactor(a, block)] as const);
  for (const [account, hf] of hub) expect(local.get(account), `HF of ${account} at block ${block}`).toBe(hf);
  expect(lower(scanner.candidates())).toEqual(lower(await liquidatableNow(s)));
}

describe("incremental hub scanner", () => {
  it("after the crash, and block by block after it, every borrower's local HF equals the hub's to the wei and the candidates are the hub's accounts under 1", async () => {
    const s = large;
    const d = s.net.deployment;
    const scanner = new IncrementalHubScanner({ deployment: d });
    const built = await scanner.poll();
    expect(built.ok).toBe(true);
    expect(scanner.healthFactors().size).toBe(s.borrowers.length);
    expect(lower(built.candidates)).toEqual(lower(s.crash.liquidatable));
    await expectScannerEqualsHub(s, scanner);

    // Price moves followed incrementally (AnswerUpdated of every collateral feed).
    const sim = new MarketSimulator(d, new Rng(7));
    await sim.step();
    await sim.step();
    expect((await scanner.poll()).ok).toBe(true);
    await expectScannerEqualsHub(s, scanner);

    // A position change: a deposit delivered to the hub (CollateralUpdated) for a liquidatable borrower.
    const spoke = d.spokes[0]!;
    const assetId = Number(Object.keys(spoke.tokens).find((id) => d.asset(Number(id)).kind === "collateral"));
    const account = (await liquidatableNow(s))[0] ?? s.borrowers[0]!;
    const amount = 10n ** BigInt(d.asset(assetId).decimals + 2);
    await mint(d, spoke.name, spoke.tokens[String(assetId)]!, account, amount);
    await deposit(d, spoke.name, account, assetId, amount);
    await s.net.deliverer.drain();
    const before = scanner.healthFactors().get(account)!;
    expect((await scanner.poll()).ok).toBe(true);
    expect(scanner.healthFactors().get(account)).toBeGreaterThan(before);
    await expectScannerEqualsHub(s, scanner);
  });

  it("after a reorg (evm_snapshot / evm_revert, then other blocks) it rebuilds its book and equals the hub again", async () => {
    const s = small;
    const d = s.net.deployment;
    const reader = d.hubClients.public;
    const warnings: string[] = [];
    const scanner = new IncrementalHubScanner({ deployment: d, log: { info() {}, warn: (_: object, msg?: string) => void warnings.push(msg ?? ""), error() {} } });
    expect((await scanner.poll()).ok).toBe(true);
    const snapshot = await reader.request({ method: "evm_snapshot", params: [] } as never);
    await new MarketSimulator(d, new Rng(1)).step();
    expect((await scanner.poll()).ok).toBe(true);
    const orphaned = scanner.scannedBlock!;
    await reader.request({ method: "evm_revert", params: [snapshot] } as never);
    await new MarketSimulator(d, new Rng(2)).step();
    await mine(s, 2);
    expect(await reader.getBlockNumber({ cacheTime: 0 })).toBeGreaterThan(orphaned);
    expect((await scanner.poll()).ok).toBe(true);
    expect(warnings).toEqual(["hub reorg: rebuilding the scanner's book from the start block"]);
    await expectScannerEqualsHub(s, scanner);
  });

  it("a failed eth_getLogs keeps its cursor and last candidates; the next poll catches up", async () => {
    const s = small;
    const d = s.net.deployment;
    const proxy = await countingProxy(d.hub.rpcUrl);
    try {
      const manifest = d.manifest;
      const scanner = new IncrementalHubScanner({ deployment: new Deployment({ ...manifest, chains: manifest.chains.map((c) => (c.role === "hub" ? { ...c, rpcUrl: proxy.url } : c)) }) });
      expect((await scanner.poll()).ok).toBe(true);
      const before = { block: scanner.scannedBlock, candidates: scanner.candidates(), health: new Map(scanner.healthFactors()) };
      await new MarketSimulator(d, new Rng(3)).step();
      proxy.failing.add("eth_getLogs");
      const failed = await scanner.poll();
      expect(failed.ok).toBe(false);
      expect(failed.error).toBeTruthy();
      expect(failed.scannedBlock).toBe(before.block);
      expect(failed.candidates).toEqual(before.candidates);
      expect(new Map(scanner.healthFactors())).toEqual(before.health);
      proxy.failing.clear();
      expect((await scanner.poll()).ok).toBe(true);
      expect(scanner.scannedBlock).toBeGreaterThan(before.block!);
      await expectScannerEqualsHub(s, scanner);
    } finally {
      await proxy.close();
    }
  });
});

/** A JSON-RPC proxy on 127.0.0.1 that counts each request (a batch counts each call) by method. */
async function countingProxy(
  target: string,
): Promise<{ url: string; counts: Map<string, number>; failing: Set<string>; total(): number; reset(): void; close(): Promise<void> }> {
  const counts = new Map<string, number>();
  /** Methods answered with HTTP 503 instead of being forwarded (an RPC provider's outage, for real over HTTP). */
  const failing = new Set<string>();
  const body = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString();
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const text = await body(req);
      const parsed = JSON.parse(text) as { method: string } | { method: string }[];
      const calls = Array.isArray(parsed) ? parsed : [parsed];
      for (const call of calls) counts.set(call.method, (counts.get(call.method) ?? 0) + 1);
      if (calls.some((c) => failing.has(c.method))) {
        res.writeHead(503, { "content-type": "text/plain" });
        res.end("unavailable");
        return;
      }
      const upstream = await fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body: text });
      res.writeHead(upstream.status, { "content-type": "application/json" });
      res.end(await upstream.text());
    })().catch((error: unknown) => {
      res.writeHead(502);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    failing,
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    reset: () => counts.clear(),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The detector's JSON-RPC requests over `polls` idle polls, each after one new hub block. */
async function idlePollRequests(s: CrashScenario, polls: number): Promise<{ total: number; byMethod: Record<string, number>; candidates: Address[] }> {
  const manifest = s.net.deployment.manifest;
  const proxy = await countingProxy(s.net.deployment.hub.rpcUrl);
  const proxied = new Deployment({ ...manifest, chains: manifest.chains.map((c) => (c.role === "hub" ? { ...c, rpcUrl: proxy.url } : c)) });
  const detector = await createDetector({ deployment: proxied, db });
  try {
    await detector.poll(); // caught up
    proxy.reset();
    let candidates: Address[] = [];
    for (let i = 0; i < polls; i++) {
      await mine(s);
      const batch = await detector.poll();
      expect(batch.source).toBe("scanner");
      candidates = batch.candidates;
    }
    return { total: proxy.total(), byMethod: Object.fromEntries(proxy.counts), candidates };
  } finally {
    await detector.close();
    await proxy.close();
  }
}

describe("detection cost", () => {
  it("JSON-RPC requests per idle poll do not grow with the number of borrowers (10 vs 40)", async () => {
    const polls = 5;
    const a = await idlePollRequests(small, polls);
    const b = await idlePollRequests(large, polls);
    expect(large.borrowers.length).toBe(4 * small.borrowers.length);
    expect(b.byMethod).toEqual(a.byMethod);
    expect(b.total).toBe(a.total);
    // One head read and one getLogs per new block, and one look at what the hub's pool gained (the oracle
    // backrun, src/recovery/detection/pending.ts): nothing per borrower.
    expect(a.byMethod).toEqual({ eth_getBlockByNumber: polls, eth_getLogs: polls, eth_getFilterChanges: polls });
    expect(lower(a.candidates)).toEqual(lower(await liquidatableNow(small)));
    expect(lower(b.candidates)).toEqual(lower(await liquidatableNow(large)));
  });
});

describe("indexer status", () => {
  it("an indexer slow to answer its status holds no poll back: after the first reading, the last one is used while the next is read", async () => {
    // A real HTTP server standing in for the indexer's /salvage/status; it answers only when the test lets it.
    const held: (() => void)[] = [];
    let indexed = 100;
    const server: Server = createServer((_req, res) => {
      const body = JSON.stringify({ chains: [{ role: "hub", chainId: 31337, indexedBlock: String(indexed), headBlock: String(indexed) }] });
      held.push(() => res.writeHead(200, { "content-type": "application/json" }).end(body));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const reader = new IndexerStatusReader({ indexerUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hubChainId: 31337, minIntervalMs: 100, timeoutMs: 10_000 });
      // The first reading is waited for: there is nothing to judge the feed by before it.
      const first = reader.read();
      while (held.length < 1) await sleep(10);
      held.shift()!();
      expect(await first).toMatchObject({ ok: true, status: { hubIndexedBlock: 100n } });
      // Once the interval has passed, a read starts the next request and answers at once with the last reading…
      await sleep(150);
      indexed = 101;
      expect(await reader.read()).toMatchObject({ ok: true, status: { hubIndexedBlock: 100n } });
      while (held.length < 1) await sleep(10);
      expect(await reader.read()).toMatchObject({ status: { hubIndexedBlock: 100n } });
      expect(held).toHaveLength(1); // one request in flight, however many reads
      // …and the answer, when it comes, is the next reading.
      held.shift()!();
      let next = await reader.read();
      for (; next.ok && next.status.hubIndexedBlock === 100n; next = await reader.read()) await sleep(10);
      expect(next).toMatchObject({ ok: true, status: { hubIndexedBlock: 101n } });
    } finally {
      for (const answer of held) answer();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe("feed source", () => {
  let ponder: PonderApp | undefined;
  const detectors: Detector[] = [];

  afterAll(async () => {
    for (const d of detectors) await d.close();
    await ponder?.stop();
  }, 60_000);

  /** Polls until `done` says so, committing every feed batch; returns the union of the feed's candidates. */
  async function collect(detector: Detector, done: (seen: Set<string>, source: string) => boolean, what: string, timeoutMs = 90_000): Promise<Set<string>> {
    const seen = new Set<string>();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const batch = await detector.poll();
      if (batch.source === "feed") {
        // What the feed itself brought (the detector adds the scanner's candidates to it).
        for (const a of batch.fromFeed) seen.add(a.toLowerCase());
        await batch.commit();
      }
      if (done(seen, batch.source)) return seen;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: status ${JSON.stringify(detector.status())}, seen ${[...seen].join(", ")}`);
      await sleep(100);
    }
  }

  it("yields the crash's liquidatable accounts, resumes after its committed cursor, and falls back to the scanner without the indexer", async () => {
    const s = large;
    const d = s.net.deployment;
    ponder = await startPonder({ manifest: s.net.network.manifest, env: { SALVAGE_FEED_POLL_MS: "50" } });
    await ponder.indexed(d.hub.name, await d.hubClients.public.getBlockNumber({ cacheTime: 0 }));
    const indexerUrl = ponder.url;

    // First start: no cursor, so the snapshot of what is liquidatable now.
    const expected = lower(await liquidatableNow(s));
    expect(expected.length).toBeGreaterThan(3);
    const first = await createDetector({ deployment: d, db, indexerUrl, retry: { minMs: 50, maxMs: 500 } });
    detectors.push(first);
    const firstSeen = await collect(first, (seen) => seen.size >= expected.length, "the crash's liquidatable accounts from the feed");
    expect([...firstSeen].sort()).toEqual(expected);
    expect(first.status()).toMatchObject({ source: "feed" });
    expect(first.status().feedLagBlocks).toBeLessThanOrEqual(3);
    await first.close();
    const [row] = await db.query<{ source: string; cursor: string }>("SELECT source, cursor FROM detection_cursor");
    expect(row?.source).toBe(`feed:${d.hub.chainId}:${d.hubAddress.toLowerCase()}`);

    // A new detector on the same database resumes after the cursor: nothing committed comes again. A kick makes
    // exactly one new event; everything yielded up to it must be that account alone (the feed is in order).
    const switches: string[] = [];
    const log = { info: (_: object, msg?: string) => void (msg?.startsWith("detection") && switches.push(msg)), warn: (_: object, msg?: string) => void (msg?.startsWith("detection") && switches.push(msg)), error() {} };
    const second = await createDetector({ deployment: d, db, indexerUrl, log, retry: { minMs: 50, maxMs: 500 } });
    detectors.push(second);
    await collect(second, (_, source) => source === "feed", "the second detector on the feed");
    const target = expected[0]! as Address;
    const { public: reader, wallet } = d.hubClients;
    await write(wallet(devnetAccounts.liquidator), reader, { address: d.hubAddress, abi: hubAbi, functionName: "kick", args: [target] });
    const afterKick = await collect(second, (seen) => seen.has(target), "the kicked account");
    expect([...afterKick]).toEqual([target]);

    // Accounts made liquidatable afterwards are yielded.
    const crash = await new MarketSimulator(d, new Rng(43)).crash(s.borrowers, 0.5);
    const newly = lower(crash.liquidatable).filter((a) => !expected.includes(a));
    expect(newly.length).toBeGreaterThan(0);
    const later = await collect(second, (seen) => newly.every((a) => seen.has(a)), "the newly liquidatable accounts");
    for (const a of newly) expect(later.has(a), a).toBe(true);

    // Indexer stopped: the scanner answers, with the hub's accounts under 1.
    await ponder.stop();
    ponder = undefined;
    const deadline = Date.now() + 60_000;
    let batch = await second.poll();
    while (batch.source !== "scanner") {
      if (Date.now() > deadline) throw new Error(`still on the feed: ${JSON.stringify(second.status())}`);
      await sleep(200);
      batch = await second.poll();
    }
    expect(second.status().source).toBe("scanner");
    expect(second.status().reason).toMatch(/unreachable|down/);
    expect(lower(batch.candidates)).toEqual(lower(await liquidatableNow(s)));
    expect(batch.candidates.length).toBeGreaterThanOrEqual(expected.length + newly.length);
    // Each switch logged once: (scanner while the feed starts ->) feed -> scanner (indexer gone), nothing repeated.
    expect(switches.filter((m, i) => i > 0 && m === switches[i - 1])).toEqual([]);
    expect(switches.slice(-2)).toEqual(["detection uses the indexer's feed", "detection falls back to the hub scanner"]);
  }, 400_000);
});
