/**
 * Benchmark 4, at-risk query latency at 10k / 100k / 1M accounts.
 *
 * The schema is created by the salvage indexer itself: `ponder start` over a freshly deployed devnet (hub +
 * 3 spokes, no borrowers) on PostgreSQL until /ready, then stopped. Accounts are then written straight into
 * its tables (bench/lib/synthetic.ts: account, account_health, collateral over the 3 spoke chains, debt) and
 * analysed, and `ponder serve` (the API only, no indexing) answers. Requests are sequential on loopback;
 * latency is client-side, request sent to body read.
 */
import { type BenchResult, type Figure, log, percentile, round, timed } from "./lib/common.js";
import { startBenchNetwork } from "./lib/network.js";
import { dropSchema, uniqueSchema, withClient } from "./lib/pg.js";
import { startIndexer, startPonderProcess } from "./lib/ponder.js";
import { addressOf, analyze, insertSynthetic } from "./lib/synthetic.js";

const AT_RISK = `{ atRiskAccounts(maxHealthFactor: "1", first: 50) { totalCount pageInfo { endCursor hasNextPage } items { address healthFactor debtValue liquidationPriceWad shockWad } } }`;
const ACCOUNT = `query($a: String!) { account(address: $a) { address
  health { healthFactor collateralValue debtValue borrowPower liquidationPriceWad shockWad dominantCollateral { assetId symbol } }
  collateral { chainId chainName eid assetId symbol decimals amount valueUsd }
  debt { assetId symbol amount valueUsd }
  auctions { auctionId active startedAt startedBlock takes } } }`;

export async function benchQuery(options: { sizes: number[]; queries: number; appRoot: string }): Promise<BenchResult> {
  const sizes = [...options.sizes].sort((a, b) => a - b);
  const net = await startBenchNetwork({ spokes: 3, accounts: 0, seed: 1 });
  const schema = uniqueSchema("query");
  const figures: Figure[] = [];
  const details: Record<string, unknown> = { schema: "dropped after the run" };
  try {
    const indexer = await startIndexer({ schema, manifestPath: net.manifestPath, databaseUrl: net.databaseUrl, root: options.appRoot });
    await indexer.stop();
    const spokes = net.manifest.chains.filter((c) => c.role === "spoke").map((c) => ({ eid: c.eid, chainId: c.chainId }));
    let have = 0;
    for (const size of sizes) {
      const t0 = Date.now();
      await withClient(net.databaseUrl, async (c) => {
        for (let from = have; from < size; from += 100_000) await insertSynthetic(c, { schema, from, to: Math.min(size, from + 100_000), spokes, hubChainId: net.manifest.chains.find((x) => x.role === "hub")!.chainId, mode: { kind: "spread" } });
        await analyze(c, schema);
      });
      have = size;
      const atRisk = await withClient(net.databaseUrl, async (c) => Number((await c.query(`SELECT count(*) AS n FROM "${schema}".account_health WHERE health_factor < 1e18`)).rows[0].n));
      log(`query: ${size} accounts in the tables (${atRisk} with HF < 1), inserted in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const serve = await startPonderProcess({ command: "serve", schema, manifestPath: net.manifestPath, databaseUrl: net.databaseUrl, root: options.appRoot });
      try {
        await serve.waitFor("ponder serve", async () => ((await fetch(`${serve.url}/health`)).status === 200 ? true : undefined), 120_000);
        const gql = (query: string, variables?: Record<string, unknown>) => () =>
          fetch(`${serve.url}/salvage/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
        let k = 0;
        const randomAccount = () => addressOf((k++ * 7919) % size);
        const kinds: [string, () => () => Promise<Response>][] = [
          ["atRiskAccounts (GraphQL, first 50, with totalCount)", () => gql(AT_RISK)],
          ["account(address) (GraphQL, positions on every chain)", () => gql(ACCOUNT, { a: randomAccount() })],
          ["GET /at-risk?maxHealthFactor=1&first=100", () => () => fetch(`${serve.url}/at-risk?maxHealthFactor=1&first=100`)],
        ];
        // Sanity: the API sees the seeded rows.
        const check = (await (await gql(ACCOUNT, { a: addressOf(size - 1) })()).json()) as { data?: { account?: { collateral: unknown[] } | null } };
        const count = (await (await gql(AT_RISK)()).json()) as { data?: { atRiskAccounts?: { totalCount: number } } };
        if (!check.data?.account?.collateral.length || count.data?.atRiskAccounts?.totalCount !== atRisk) {
          throw new Error(`ponder serve does not see the seeded rows: ${JSON.stringify(check).slice(0, 200)} ${JSON.stringify(count).slice(0, 200)}`);
        }
        const samples: Record<string, number[]> = {};
        for (const [name, make] of kinds) {
          for (let w = 0; w < 10; w++) await timed(make());
          const list: number[] = [];
          for (let q = 0; q < options.queries; q++) list.push(await timed(make()));
          samples[name] = list;
          const setup = `${size.toLocaleString("en-US")} accounts (${atRisk.toLocaleString("en-US")} with HF < 1) seeded directly into the indexer's tables over 3 spoke chains; ponder serve on PostgreSQL; ${options.queries} sequential requests after 10 warm-up`;
          figures.push({ bench: "4 query", metric: `${name} p50 @ ${size.toLocaleString("en-US")}`, value: round(percentile(list, 50)!, 1), unit: "ms", setup });
          figures.push({ bench: "4 query", metric: `${name} p95 @ ${size.toLocaleString("en-US")}`, value: round(percentile(list, 95)!, 1), unit: "ms", setup });
          log(`query ${size} ${name}: p50 ${round(percentile(list, 50)!, 1)} ms, p95 ${round(percentile(list, 95)!, 1)} ms`);
        }
        details[String(size)] = { atRisk, servePeakRssMiB: serve.memory()?.peakRssMiB, samplesMs: Object.fromEntries(Object.entries(samples).map(([k2, v]) => [k2, v.map((x) => round(x, 2))])) };
      } finally {
        await serve.stop();
      }
    }
  } finally {
    await dropSchema(net.databaseUrl, schema);
    await net.stop();
  }
  return { name: "query", figures, details, skipped: [] };
}
