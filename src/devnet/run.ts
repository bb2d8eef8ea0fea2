/**
 * `salvage devnet`: the whole local system in one command. Starts the chains, deploys, seeds borrowers,
 * writes the manifest, then runs the market simulation and delivers LayerZero packets until stopped
 * (Ctrl-C), until `duration` seconds have passed, or at once after the crash with `once`.
 */
import { writeFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { type Manifest, serializeManifest, formatIssues } from "../deployment/manifest.js";
import { Deployment } from "../protocol/deployment.js";
import { createDevnetDeliverer, startNetwork } from "./network.js";
import { Rng } from "./rng.js";
import { seedBorrowers } from "./seed.js";
import { mint } from "../protocol/actions.js";
import { devnetAccounts } from "./accounts.js";

/** Debt tokens minted to the devnet's liquidator role, in whole tokens of each debt asset. */
const LIQUIDATOR_INVENTORY_TOKENS = 100_000_000n;
import { MarketSimulator } from "./simulate.js";
import { formatWad } from "../health/wad.js";
import { sleep } from "../util/concurrency.js";

export const devnetOptionsSchema = z.object({
  spokes: z.coerce.number().int().min(1).max(16).default(2),
  accounts: z.coerce.number().int().min(1).max(100_000).default(200),
  seed: z.coerce.number().int().default(1),
  scenario: z.enum(["calm", "crash"]).default("calm"),
  /** Seconds per block after seeding (interval mining); 0 keeps automine. */
  blockTime: z.coerce.number().min(0).max(60).default(1),
  /** Random-walk steps before the crash. */
  crashAfter: z.coerce.number().int().min(0).default(10),
  /** Share of accounts the crash pushes under HF 1. */
  crashShare: z.coerce.number().gt(0).lt(1).default(0.25),
  /** Stop after this many seconds of simulation. */
  duration: z.coerce.number().positive().optional(),
  /** Seed, walk, crash, deliver, write the manifest, and exit. */
  once: z.boolean().default(false),
  manifest: z.string().default(".devnet/manifest.json"),
  /** Block gas limit of the hub chain (anvil --gas-limit); anvil's default when absent. */
  hubGasLimit: z.coerce.bigint().positive().optional(),
});
export type DevnetOptions = z.output<typeof devnetOptionsSchema>;

export function parseDevnetOptions(input: unknown): DevnetOptions {
  const result = devnetOptionsSchema.safeParse(input);
  if (!result.success) throw new Error(`invalid devnet options:\n${formatIssues(result.error)}`);
  return result.data;
}

type Log = (line: string) => void;

function writeManifestFile(path: string, manifest: Manifest): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, serializeManifest(manifest));
}

export async function runDevnet(options: DevnetOptions, log: Log = console.log, signal?: AbortSignal): Promise<Manifest> {
  const started = Date.now();
  const network = await startNetwork({ spokes: options.spokes, gasLimits: { hub: options.hubGasLimit } });
  const deliverer = createDevnetDeliverer(network.manifest, { pollIntervalMs: 200 });
  try {
    const manifest: Manifest = { ...network.manifest, devnet: { seed: options.seed, scenario: options.scenario, blockTime: options.blockTime } };
    for (const c of manifest.chains) log(`chain ${c.name}: id ${c.chainId}, eid ${c.eid}, ${c.rpcUrl}`);
    const deployment = new Deployment(manifest);
    const rng = new Rng(options.seed);
    manifest.accounts = await seedBorrowers(deployment, deliverer, { count: options.accounts, seed: options.seed, rng });
    // Inventory for the liquidator role, so a relayer started with --devnet-keys can take.
    for (const asset of deployment.debtAssets) {
      await mint(deployment, deployment.hub.name, deployment.hub.tokens[String(asset.id)]!, devnetAccounts.liquidator.address, LIQUIDATOR_INVENTORY_TOKENS * 10n ** BigInt(asset.decimals));
    }
    log(`seeded ${manifest.accounts.length} borrowers in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    if (options.blockTime > 0 && !options.once) {
      for (const c of manifest.chains) {
        await deployment.clients(c).public.request({ method: "evm_setIntervalMining", params: [options.blockTime] } as never);
      }
    }
    writeManifestFile(options.manifest, manifest);
    log(`manifest: ${options.manifest}`);

    const simulator = new MarketSimulator(deployment, rng);
    deliverer.start();
    const deadline = options.duration ? started + options.duration * 1000 : Number.POSITIVE_INFINITY;
    const tickMs = options.once ? 0 : Math.max(250, options.blockTime * 1000);
    for (let step = 1; !signal?.aborted && Date.now() < deadline; step++) {
      await simulator.step();
      if (options.scenario === "crash" && step === options.crashAfter + 1) {
        const crash = await simulator.crash(manifest.accounts, options.crashShare);
        const block = Number(await deployment.hubClients.public.getBlockNumber());
        manifest.devnet!.crash = { ...crash, block };
        writeManifestFile(options.manifest, manifest);
        log(`crash at hub block ${block}: collateral prices x${formatWad(crash.factorWad)}, ${crash.liquidatable.length}/${manifest.accounts.length} accounts under HF 1`);
        if (options.once) break;
      }
      if (options.once && options.scenario !== "crash" && step > options.crashAfter) break;
      await sleep(tickMs, signal);
    }
    await deliverer.stop();
    await deliverer.drain(60_000);
    return manifest;
  } finally {
    await deliverer.stop();
    await network.stop();
    log("devnet stopped");
  }
}
