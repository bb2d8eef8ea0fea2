/**
 * Benchmark 8, the second protocol at size: a devnet with the hub-accounted money market (contracts/hub-accounted/)
 * seeded with `accounts` borrowers, then
 * - the relayer's scanner (src/protocols/hub-accounted/scanner.ts): its first poll (every hub event since the
 *   deployment, then every borrower valued at the head's time) and an idle poll after it, in ms;
 * - a crash that puts `share` of the book under HF 1 in one hub block;
 * - the indexer on that book (`ponder start` on PostgreSQL, both protocols): its backfill to the crash block; each
 *   hub-accounted answer of the API (atRiskAccounts, opportunities, solvency, recoveries, liquidationLevels with
 *   `protocol: "accounted"`), sequential requests, latency p50 / max (client side); and live hub blocks, quiet ones
 *   (no transaction: the feed's AccountedWatch reads a few cached rows) and ones where prices moved (it values the
 *   whole book), each as Ponder's own mean duration of that handler and as the time from mined to indexed;
 * - then one hub block every `blockTime` s;
 * - the relayer as a library (createRelayer with hubAccountedProtocol, PGlite in memory, delivering itself), from
 *   its start (right after the indexer's measurement: the book still the crash's) until no account is under HF 1 and
 *   every recovery is settled: ms, hub blocks from its start block to each liquidation (p50, last), and recoveries
 *   per minute (liquidated accounts / (last liquidation's block time − start block time)).
 * Measured from the chain (Liquidated events and their blocks) and the relayer's store.
 */
import { createRelayer } from "../src/recovery/relayer.js";
import { isTerminal } from "../src/recovery/states.js";
import { DEVNET_KEYS, devnetAccounts } from "../src/devnet/accounts.js";
import { createDevnetDeliverer, startNetwork } from "../src/devnet/network.js";
import { Rng } from "../src/devnet/rng.js";
import { accountedHealthFactor, fundLiquidator, seedAccountedBorrowers } from "../src/devnet/seed-hub-accounted.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { WAD } from "../src/health/wad.js";
import { Deployment } from "../src/protocol/deployment.js";
import { accountedContracts } from "../src/protocols/hub-accounted/contracts.js";
import { hubAccountedProtocol } from "../src/protocols/hub-accounted/index.js";
import { AccountedScanner } from "../src/protocols/hub-accounted/scanner.js";
import { mapLimit } from "../src/util/concurrency.js";
import { accountedHubAbi } from "../abis/index.js";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serializeManifest } from "../src/deployment/manifest.js";
import { type BenchResult, type Figure, log, percentile, round, sleep, timed } from "./lib/common.js";
import { BENCH_DATABASE_URL, dropSchema, uniqueSchema } from "./lib/pg.js";
import { type PonderProcess, startIndexer, sumMetric } from "./lib/ponder.js";

/** The hub-accounted answers the API serves, as a liquidator's dashboard asks for them. */
const ANSWERS: [string, string][] = [
  ["atRiskAccounts(protocol, maxHealthFactor 1, first 50)", `{ atRiskAccounts(protocol: "accounted", maxHealthFactor: "1", first: 50) { totalCount items { address healthFactor debtValue } } }`],
  ["opportunities(protocol, first 50)", `{ opportunities(protocol: "accounted", first: 50) { items { account repayAmount seizeAmount profitUsd } } }`],
  ["solvency(protocol)", `{ solvency(protocol: "accounted") { underWater { accounts shortfallUsd } assets { assetId reserve } } }`],
  ["recoveries(protocol, first 20)", `{ recoveries(protocol: "accounted", first: 20) { liquidatable takes { taken seized } } }`],
  ["liquidationLevels(protocol, 50 bins)", `{ liquidationLevels(protocol: "accounted", assetId: 10, bins: 50) { holders now { accounts } } }`],
];
const REQUESTS = 20;
const LIVE_BLOCKS = 20;

/** The indexer and API on the crashed book: backfill, each answer's latency, what a live hub block costs. */
async function measureIndexer(d: Deployment, crashBlock: bigint, appRoot: string): Promise<{ figures: [string, number | string, string][]; details: Record<string, unknown> }> {
  const dir = mkdtempSync(join(tmpdir(), "salvage-accounted-bench-"));
  const manifestPath = join(dir, "manifest.json");
  writeFileSync(manifestPath, serializeManifest(d.manifest));
  const schema = uniqueSchema("accounted");
  let indexer: PonderProcess | undefined;
  try {
    const started = Date.now();
    indexer = await startIndexer({ schema, manifestPath, databaseUrl: BENCH_DATABASE_URL, root: appRoot });
    await indexer.indexed(d.hub.name, crashBlock);
    const backfillMs = Date.now() - started;
    log(`hub-accounted: indexed to the crash block in ${round(backfillMs / 1000, 1)} s`);
    const figures: [string, number | string, string][] = [["indexer start to the crash block indexed (backfill, PostgreSQL)", round(backfillMs / 1000, 1), "s"]];
    const latencies: Record<string, number[]> = {};
    for (const [name, query] of ANSWERS) {
      const times: number[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        times.push(await timed(() => fetch(`${indexer!.url}/salvage/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) })));
      }
      latencies[name] = times;
      figures.push([`${name}: latency p50 / max of ${REQUESTS} sequential requests`, `${round(percentile(times, 50)!, 1)} / ${round(Math.max(...times), 1)}`, "ms"]);
    }
    // Live blocks with no transaction: each still values the whole book (interest moves health), one at a time.
    const hub = d.hubClients.public;
    const before = await indexer.metrics();
    const watch = (labels: Record<string, string>) => labels.event?.startsWith("AccountedWatch") ?? false;
    const blockMs: number[] = [];
    for (let i = 0; i < LIVE_BLOCKS; i++) {
      await hub.request({ method: "evm_mine", params: [] } as never);
      const head = await hub.getBlockNumber({ cacheTime: 0 });
      const t = Date.now();
      await indexer.indexed(d.hub.name, head, 60_000);
      blockMs.push(Date.now() - t);
    }
    const quiet = await indexer.metrics();
    // Blocks where a hub price moved (each feed stamped again at its answer ± 1): each one values the whole book.
    const sim = new MarketSimulator(d, new Rng(5));
    const answers = await d.answers();
    const movedMs: number[] = [];
    for (let i = 0; i < LIVE_BLOCKS; i++) {
      await sim.applyAnswers(i % 2 === 0 ? new Map([...answers].map(([id, a]) => [id, a + 1n])) : answers);
      const head = await hub.getBlockNumber({ cacheTime: 0 });
      const t = Date.now();
      await indexer.indexed(d.hub.name, head, 60_000);
      movedMs.push(Date.now() - t);
    }
    const moved = await indexer.metrics();
    const mean = (from: typeof before, to: typeof before) => {
      const count = sumMetric(to, "ponder_indexing_function_duration_count", watch) - sumMetric(from, "ponder_indexing_function_duration_count", watch);
      const sum = sumMetric(to, "ponder_indexing_function_duration_sum", watch) - sumMetric(from, "ponder_indexing_function_duration_sum", watch);
      return { count, ms: count > 0 ? sum / count : undefined };
    };
    const quietWatch = mean(before, quiet);
    const movedWatch = mean(quiet, moved);
    figures.push(
      [`a quiet live hub block (no transaction): AccountedWatch, Ponder's mean handler duration over ${quietWatch.count}`, quietWatch.ms === undefined ? "-" : round(quietWatch.ms, 1), "ms"],
      [`a quiet live hub block: mined → indexed (status polled every 100 ms), p50 / max of ${LIVE_BLOCKS}`, `${percentile(blockMs, 50)} / ${Math.max(...blockMs)}`, "ms"],
      [`a hub block whose prices moved: AccountedWatch values the whole book, Ponder's mean handler duration over ${movedWatch.count}`, movedWatch.ms === undefined ? "-" : round(movedWatch.ms, 1), "ms"],
      [`a hub block whose prices moved: mined → indexed (its price handlers and the reference's health too), p50 / max of ${LIVE_BLOCKS}`, `${percentile(movedMs, 50)} / ${Math.max(...movedMs)}`, "ms"],
    );
    return { figures, details: { backfillMs, latencies, quietBlockMs: blockMs, movedBlockMs: movedMs, quietWatch, movedWatch } };
  } finally {
    await indexer?.stop();
    await dropSchema(BENCH_DATABASE_URL, schema).catch(() => undefined);
  }
}

export async function benchHubAccounted(o: { accounts: number; seed: number; share: number; blockTime: number; appRoot: string }): Promise<BenchResult> {
  const network = await startNetwork({ spokes: 2, hubAccounted: true });
  const deliverer = createDevnetDeliverer(network.manifest, { pollIntervalMs: 200 });
  const setup = `devnet: hub + 2 spokes (anvil), the hub-accounted market beside the reference one, ${o.accounts} seeded borrowers, seed ${o.seed}`;
  try {
    const d = new Deployment(network.manifest);
    const c = accountedContracts(d);
    const rng = new Rng(o.seed);
    const seedStarted = Date.now();
    const borrowers = await seedAccountedBorrowers(d, c, deliverer, { count: o.accounts, seed: o.seed, rng });
    const seedMs = Date.now() - seedStarted;
    log(`hub-accounted: seeded ${borrowers.length} borrowers in ${round(seedMs / 1000, 1)} s`);
    await fundLiquidator(d, devnetAccounts.liquidator.address);

    const scanner = new AccountedScanner(d, c);
    let t = Date.now();
    await scanner.poll();
    const firstPollMs = Date.now() - t;
    t = Date.now();
    await scanner.poll();
    const idlePollMs = Date.now() - t;

    const sim = new MarketSimulator(d, rng, 150, (a, b) => accountedHealthFactor(d, c, a, b));
    const crash = await sim.crash(borrowers, o.share);
    const hub = d.hubClients.public;
    const crashBlock = await hub.getBlock({ blockTag: "latest" });
    log(`hub-accounted: crash at hub block ${crashBlock.number}: ${crash.liquidatable.length}/${borrowers.length} under HF 1`);
    const indexing = await measureIndexer(d, crashBlock.number, o.appRoot);
    // The indexer's measurement mined blocks after the crash: the recovery is counted from the block the relayer
    // starts at, where the book is still the crash's (no one liquidated in between).
    const startBlock = await hub.getBlock({ blockTag: "latest" });
    if (o.blockTime > 0) for (const chain of d.manifest.chains) await d.clients(chain).public.request({ method: "evm_setIntervalMining", params: [o.blockTime] } as never);

    const relayer = await createRelayer(
      { manifest: d.manifest, keys: { taker: DEVNET_KEYS.liquidator, verifier: DEVNET_KEYS.relayer }, policy: { minProfitUsd: "-100" }, database: { memory: true }, pollIntervalMs: 200 },
      { protocol: (dep) => hubAccountedProtocol(dep) },
    );
    const started = Date.now();
    relayer.start();
    const deadline = started + 30 * 60_000;
    let recoveredMs: number | undefined;
    for (;;) {
      const open = (await relayer.store.list()).filter((r) => !isTerminal(r.state));
      const under = (await mapLimit(borrowers, 32, (a) => accountedHealthFactor(d, c, a))).filter((hf) => hf < WAD).length;
      if (open.length === 0 && under === 0) {
        recoveredMs = Date.now() - started;
        break;
      }
      if (Date.now() > deadline) break;
      await sleep(500);
    }
    await relayer.close();
    const liquidations = await hub.getContractEvents({ address: c.hub, abi: accountedHubAbi, eventName: "Liquidated", fromBlock: startBlock.number });
    const firstBlock = new Map<string, bigint>();
    for (const e of liquidations) if (!firstBlock.has(e.args.account!.toLowerCase())) firstBlock.set(e.args.account!.toLowerCase(), e.blockNumber);
    const blocks = [...firstBlock.values()].map((b) => Number(b - startBlock.number));
    const lastBlock = liquidations.length ? await hub.getBlock({ blockNumber: liquidations.at(-1)!.blockNumber }) : undefined;
    const seconds = lastBlock ? Number(lastBlock.timestamp - startBlock.timestamp) : 0;
    const perMinute = seconds > 0 ? (firstBlock.size / seconds) * 60 : undefined;
    const runSetup = `${setup}; crash: ${crash.liquidatable.length} of ${borrowers.length} under HF 1 in one hub block, then a block every ${o.blockTime} s; relayer as a library (PGlite in memory, delivering itself), scanner detection, collateral withdrawn to its spoke`;
    const figures: Figure[] = [
      { bench: "8 hub-accounted", metric: `seeding ${borrowers.length.toLocaleString("en-US")} borrowers`, value: round(seedMs / 1000, 1), unit: "s", setup: `${setup}; 16 borrowers at a time, automine` },
      { bench: "8 hub-accounted", metric: "scanner first poll (every event since deployment, every borrower valued)", value: firstPollMs, unit: "ms", setup },
      { bench: "8 hub-accounted", metric: "scanner idle poll (no new event; every borrower valued at the head's time)", value: idlePollMs, unit: "ms", setup },
      ...indexing.figures.map(([metric, value, unit]): Figure => ({
        bench: "8 hub-accounted", metric, value, unit,
        setup: `${setup}; after the crash (${crash.liquidatable.length} under HF 1): ponder start, both protocols, PostgreSQL 15, API on loopback`,
      })),
      { bench: "8 hub-accounted", metric: "crash → every account recovered and settled (relayer start to done)", value: recoveredMs ?? "not within 30 min", unit: "ms", setup: runSetup },
      { bench: "8 hub-accounted", metric: "hub blocks from the relayer's start (the crash's book) to each account's first liquidation, p50 / last", value: `${percentile(blocks, 50) ?? "-"} / ${blocks.length ? Math.max(...blocks) : "-"}`, unit: "blocks", setup: runSetup },
      { bench: "8 hub-accounted", metric: "recoveries per minute (accounts liquidated / (last liquidation − relayer's start block), block times)", value: perMinute === undefined ? "-" : round(perMinute, 1), unit: "/min", setup: runSetup },
    ];
    return {
      name: "hub-accounted",
      figures,
      details: { indexing: indexing.details, seedMs, firstPollMs, idlePollMs, liquidatable: crash.liquidatable.length, liquidated: firstBlock.size, liquidations: liquidations.length, recoveredMs, blocksToFirstLiquidation: blocks, seconds },
      skipped: [],
    };
  } finally {
    await deliverer.stop();
    await network.stop();
  }
}
