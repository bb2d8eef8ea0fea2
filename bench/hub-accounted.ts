/**
 * Benchmark 8, the second protocol at size: a devnet with the hub-accounted money market (contracts/hub-accounted/)
 * seeded with `accounts` borrowers, then
 * - the relayer's scanner (src/protocols/hub-accounted/scanner.ts): its first poll (every hub event since the
 *   deployment, then every borrower valued at the head's time) and an idle poll after it, in ms;
 * - a crash that puts `share` of the book under HF 1 in one hub block, then one hub block every `blockTime` s;
 * - the relayer as a library (createRelayer with hubAccountedProtocol, PGlite in memory, delivering itself), from
 *   its start right after the crash until no account is under HF 1 and every recovery is settled: ms, hub blocks
 *   from the crash block to each liquidation (p50, last), and recoveries per minute (liquidated accounts / (last
 *   liquidation's block time − crash block time)).
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
import { type BenchResult, type Figure, log, percentile, round, sleep } from "./lib/common.js";

export async function benchHubAccounted(o: { accounts: number; seed: number; share: number; blockTime: number }): Promise<BenchResult> {
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
    const liquidations = await hub.getContractEvents({ address: c.hub, abi: accountedHubAbi, eventName: "Liquidated", fromBlock: crashBlock.number });
    const firstBlock = new Map<string, bigint>();
    for (const e of liquidations) if (!firstBlock.has(e.args.account!.toLowerCase())) firstBlock.set(e.args.account!.toLowerCase(), e.blockNumber);
    const blocks = [...firstBlock.values()].map((b) => Number(b - crashBlock.number));
    const lastBlock = liquidations.length ? await hub.getBlock({ blockNumber: liquidations.at(-1)!.blockNumber }) : undefined;
    const seconds = lastBlock ? Number(lastBlock.timestamp - crashBlock.timestamp) : 0;
    const perMinute = seconds > 0 ? (firstBlock.size / seconds) * 60 : undefined;
    const runSetup = `${setup}; crash: ${crash.liquidatable.length} of ${borrowers.length} under HF 1 in one hub block, then a block every ${o.blockTime} s; relayer as a library (PGlite in memory, delivering itself), scanner detection, collateral withdrawn to its spoke`;
    const figures: Figure[] = [
      { bench: "8 hub-accounted", metric: `seeding ${borrowers.length.toLocaleString("en-US")} borrowers`, value: round(seedMs / 1000, 1), unit: "s", setup: `${setup}; 16 borrowers at a time, automine` },
      { bench: "8 hub-accounted", metric: "scanner first poll (every event since deployment, every borrower valued)", value: firstPollMs, unit: "ms", setup },
      { bench: "8 hub-accounted", metric: "scanner idle poll (no new event; every borrower valued at the head's time)", value: idlePollMs, unit: "ms", setup },
      { bench: "8 hub-accounted", metric: "crash → every account recovered and settled (relayer start to done)", value: recoveredMs ?? "not within 30 min", unit: "ms", setup: runSetup },
      { bench: "8 hub-accounted", metric: "hub blocks from the crash to each account's first liquidation, p50 / last", value: `${percentile(blocks, 50) ?? "-"} / ${blocks.length ? Math.max(...blocks) : "-"}`, unit: "blocks", setup: runSetup },
      { bench: "8 hub-accounted", metric: "recoveries per minute (accounts liquidated / (last liquidation − crash), block times)", value: perMinute === undefined ? "-" : round(perMinute, 1), unit: "/min", setup: runSetup },
    ];
    return {
      name: "hub-accounted",
      figures,
      details: { seedMs, firstPollMs, idlePollMs, liquidatable: crash.liquidatable.length, liquidated: firstBlock.size, liquidations: liquidations.length, recoveredMs, blocksToFirstLiquidation: blocks, seconds },
      skipped: [],
    };
  } finally {
    await deliverer.stop();
    await network.stop();
  }
}
