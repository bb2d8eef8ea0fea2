/**
 * `salvage devnet`: the whole local system in one command. Starts the chains, deploys, seeds borrowers,
 * writes the manifest, then runs the market simulation and delivers LayerZero packets until stopped
 * (Ctrl-C), until `duration` seconds have passed, or at once after the crash (or the whole cascade) with `once`.
 *
 * Scenarios: `calm` (a seeded random walk), `crash` (the walk, then one crash that pushes `crashShare` of the
 * book under HF 1), `cascade` (that crash, then the path of src/devnet/cascade.ts, one step per hub block).
 *
 * Protocols: `reference` (the hub-and-spoke market), `hub-accounted` (contracts/hub-accounted/, deployed beside the
 * reference one, which stays unseeded: its borrowers and the crash are the hub-accounted book's), or `both` (each
 * seeded with `accounts` borrowers; the crash is calibrated on the reference book and moves both, the feeds being
 * shared).
 */
import { writeFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { type Manifest, serializeManifest } from "../deployment/manifest.js";
import { Deployment } from "../protocol/deployment.js";
import { createDevnetDeliverer, startNetwork } from "./network.js";
import { Rng } from "./rng.js";
import { seedBorrowers } from "./seed.js";
import { accountedHealthFactor, seedAccountedBorrowers } from "./seed-hub-accounted.js";
import { accountedContracts } from "../protocols/hub-accounted/contracts.js";
import type { Address } from "viem";
import { mint } from "../protocol/actions.js";
import { devnetAccounts } from "./accounts.js";

/** Debt tokens minted to the devnet's liquidator role, in whole tokens of each debt asset. */
const LIQUIDATOR_INVENTORY_TOKENS = 100_000_000n;
import { MarketSimulator } from "./simulate.js";
import { BPS, type CascadeParams, type CascadeStep, cascadePath } from "./cascade.js";
import { formatWad } from "../health/wad.js";
import { sleep } from "../util/concurrency.js";

/** Defaults of the cascade's flags (a 1 % drift down per block for 20 blocks, ± 0.5 % noise, no second leg). */
export const CASCADE_DEFAULTS = { declineBps: 100, blocks: 20, noiseBps: 50, secondLegBps: 1_000 } as const;

const bps = (max: number) => z.coerce.number().int().min(0).max(max);
const blocks = (min: number) => z.coerce.number().int().min(min).max(100_000);

const devnetFields = z.object({
  spokes: z.coerce.number().int().min(1).max(16).default(2),
  accounts: z.coerce.number().int().min(1).max(100_000).default(200),
  seed: z.coerce.number().int().default(1),
  scenario: z.enum(["calm", "crash", "cascade"]).default("calm"),
  /** Which lending protocol(s) to deploy and seed. */
  protocol: z.enum(["reference", "hub-accounted", "both"]).default("reference"),
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
  /** Source blocks a LayerZero packet waits before it is verified, on every chain (the manifest's lzConfirmations). */
  lzConfirmations: z.coerce.number().int().min(0).max(10_000).default(0),
  // The cascade (--scenario cascade only; defaults in CASCADE_DEFAULTS).
  /** Drift down of every collateral price per block after the crash, basis points. */
  cascadeDeclineBps: bps(BPS - 1).optional(),
  /** Decline blocks after the crash. */
  cascadeBlocks: blocks(0).optional(),
  /** Noise per asset per block, ± basis points. */
  cascadeNoiseBps: bps(BPS - 1).optional(),
  /** Blocks of noise only after the decline before a second leg; the second leg runs only when given. */
  cascadeSecondLegAfter: blocks(0).optional(),
  /** The second leg's one-block drop, basis points. */
  cascadeSecondLegBps: bps(BPS - 1).optional(),
  /** Decline blocks of the second leg (default: --cascade-blocks). */
  cascadeSecondLegBlocks: blocks(0).optional(),
});

const CASCADE_FIELDS = ["cascadeDeclineBps", "cascadeBlocks", "cascadeNoiseBps", "cascadeSecondLegAfter", "cascadeSecondLegBps", "cascadeSecondLegBlocks"] as const;

export const devnetOptionsSchema = devnetFields.superRefine((o, ctx) => {
  if (o.scenario !== "cascade") {
    for (const f of CASCADE_FIELDS) if (o[f] !== undefined) ctx.addIssue({ code: "custom", path: [f], message: `only with --scenario cascade (scenario is ${o.scenario})` });
    return;
  }
  const decline = o.cascadeDeclineBps ?? CASCADE_DEFAULTS.declineBps;
  const noise = o.cascadeNoiseBps ?? CASCADE_DEFAULTS.noiseBps;
  if (decline + noise >= BPS) {
    ctx.addIssue({ code: "custom", path: [o.cascadeNoiseBps !== undefined ? "cascadeNoiseBps" : "cascadeDeclineBps"], message: `decline ${decline} + noise ${noise} must stay below ${BPS} bps (a price must stay positive)` });
  }
  if (o.cascadeSecondLegAfter === undefined) {
    for (const f of ["cascadeSecondLegBps", "cascadeSecondLegBlocks"] as const) {
      if (o[f] !== undefined) ctx.addIssue({ code: "custom", path: [f], message: "needs --cascade-second-leg-after (the pause before the second leg)" });
    }
  }
});
export type DevnetOptions = z.output<typeof devnetOptionsSchema>;

/** The CLI flag of an option (`cascadeDeclineBps` → `--cascade-decline-bps`). */
export const flagOf = (field: string) => `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Parses devnet options; every error names its flag (`--cascade-noise-bps: Number must be less than or equal to 9999`). */
export function parseDevnetOptions(input: unknown): DevnetOptions {
  const result = devnetOptionsSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${i.path.length ? flagOf(String(i.path[0])) : "(options)"}: ${i.message}`);
    throw new Error(`invalid devnet options:\n${lines.join("\n")}`);
  }
  return result.data;
}

/** The cascade's parameters from the options (defaults filled in). */
export function cascadeParams(o: DevnetOptions): CascadeParams {
  const blocks = o.cascadeBlocks ?? CASCADE_DEFAULTS.blocks;
  return {
    declineBps: o.cascadeDeclineBps ?? CASCADE_DEFAULTS.declineBps,
    blocks,
    noiseBps: o.cascadeNoiseBps ?? CASCADE_DEFAULTS.noiseBps,
    ...(o.cascadeSecondLegAfter === undefined
      ? {}
      : { secondLeg: { after: o.cascadeSecondLegAfter, crashBps: o.cascadeSecondLegBps ?? CASCADE_DEFAULTS.secondLegBps, blocks: o.cascadeSecondLegBlocks ?? blocks } }),
  };
}

type Log = (line: string) => void;

function writeManifestFile(path: string, manifest: Manifest): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, serializeManifest(manifest));
}

export async function runDevnet(options: DevnetOptions, log: Log = console.log, signal?: AbortSignal): Promise<Manifest> {
  const started = Date.now();
  const network = await startNetwork({ spokes: options.spokes, gasLimits: { hub: options.hubGasLimit }, hubAccounted: options.protocol !== "reference" });
  // Seeding delivers its deposits at once; the running devnet's deliverer waits --lz-confirmations blocks.
  const seeder = createDevnetDeliverer(network.manifest, { pollIntervalMs: 200 });
  const chains = network.manifest.chains.map((c) => ({ ...c, lzConfirmations: options.lzConfirmations }));
  const deliverer = createDevnetDeliverer({ ...network.manifest, chains }, { pollIntervalMs: 200 });
  try {
    const manifest: Manifest = { ...network.manifest, chains, devnet: { seed: options.seed, scenario: options.scenario, blockTime: options.blockTime } };
    for (const c of manifest.chains) log(`chain ${c.name}: id ${c.chainId}, eid ${c.eid}, ${c.rpcUrl}`);
    const deployment = new Deployment(manifest);
    const rng = new Rng(options.seed);
    const accounted = options.protocol === "reference" ? undefined : { entry: manifest.protocols[0]!, contracts: accountedContracts(deployment) };
    const seeding = (async () => {
      if (options.protocol !== "hub-accounted") manifest.accounts = await seedBorrowers(deployment, seeder, { count: options.accounts, seed: options.seed, rng });
      if (accounted) accounted.entry.accounts = await seedAccountedBorrowers(deployment, accounted.contracts, seeder, { count: options.accounts, seed: options.seed, rng });
    })();
    if (await orAborted(seeding, signal)) {
      log("stopping: interrupted while seeding");
      return manifest;
    }
    await seeder.stop();
    // Inventory for the liquidator role, so a relayer started with --devnet-keys can take.
    for (const asset of deployment.debtAssets) {
      await mint(deployment, deployment.hub.name, deployment.hub.tokens[String(asset.id)]!, devnetAccounts.liquidator.address, LIQUIDATOR_INVENTORY_TOKENS * 10n ** BigInt(asset.decimals));
    }
    const seeded = manifest.accounts.length + (accounted?.entry.accounts.length ?? 0);
    log(`seeded ${seeded} borrowers${accounted ? ` (${manifest.accounts.length} reference, ${accounted.entry.accounts.length} hub-accounted)` : ""} in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    if (options.blockTime > 0 && !options.once) {
      for (const c of manifest.chains) {
        await deployment.clients(c).public.request({ method: "evm_setIntervalMining", params: [options.blockTime] } as never);
      }
    }
    writeManifestFile(options.manifest, manifest);
    log(`manifest: ${options.manifest}`);

    // The crashed book: the hub-accounted one alone when it is the only one seeded; else the reference one.
    const crashed = options.protocol === "hub-accounted" ? accounted! : undefined;
    const book = crashed ? crashed.entry.accounts : manifest.accounts;
    const simulator = crashed
      ? new MarketSimulator(deployment, rng, 150, (a, b) => accountedHealthFactor(deployment, crashed.contracts, a, b))
      : new MarketSimulator(deployment, rng);
    const recordCrash = (crash: NonNullable<NonNullable<Manifest["devnet"]>["crash"]>) => {
      if (crashed) crashed.entry.crash = crash;
      else manifest.devnet!.crash = crash;
    };
    deliverer.start();
    const deadline = options.duration ? started + options.duration * 1000 : Number.POSITIVE_INFINITY;
    const tickMs = options.once ? 0 : Math.max(250, options.blockTime * 1000);
    let crashRecorded: Promise<void> = Promise.resolve();
    const finishCascade = async (c: { path: CascadeStep[]; blocks: number[]; start: Map<number, bigint> }) => {
      await crashRecorded;
      const record = await cascadeRecord(simulator, book, options, c);
      manifest.devnet!.cascade = record;
      writeManifestFile(options.manifest, manifest);
      log(`cascade over at hub block ${record.lastBlock} after ${record.steps} blocks: ${record.liquidatable.length}/${book.length} accounts under HF 1`);
    };
    /** The cascade once it started: its steps and the hub block of each step applied so far. */
    let cascade: { path: CascadeStep[]; blocks: number[]; start: Map<number, bigint> } | undefined;
    const crashStep = options.crashAfter + 1;
    let stepEnds = false;
    for (let step = 1; !signal?.aborted && Date.now() < deadline; step++) {
      // Stopped (Ctrl-C in a terminal signals the chains too): the step in flight is not waited for, whatever it
      // was waiting on; the network is stopped below and the process reports a clean stop.
      if (await orAborted(runStep(step), signal)) break;
      // A cascade step waits for its block: the next one goes out at once, so the steps fill consecutive blocks.
      if (cascade && cascade.blocks.length < cascade.path.length) continue;
      if (options.once && stepEnds) break;
      await sleep(tickMs, signal);
    }
    if (signal?.aborted) {
      log("stopping: interrupted");
      return manifest;
    }
    await crashRecorded;
    await deliverer.stop();
    // What is still in flight gets its confirmations (an automining chain mines nothing by itself).
    if (options.lzConfirmations > 0) {
      for (const c of manifest.chains) await deployment.clients(c).public.request({ method: "anvil_mine", params: [`0x${options.lzConfirmations.toString(16)}`, "0x0"] } as never);
    }
    await deliverer.drain(60_000);
    return manifest;

    /** One step of the run; sets `stepEnds` when a --once run is complete after it. */
    async function runStep(step: number): Promise<void> {
      if (cascade && cascade.blocks.length < cascade.path.length) {
        // One cascade step per hub block.
        const next = cascade.path[cascade.blocks.length]!;
        cascade.blocks.push(Number(await simulator.applyAnswers(next.answers)));
        if (cascade.blocks.length === cascade.path.length) await finishCascade(cascade);
      } else {
        await simulator.step();
      }
      if (options.scenario === "crash" && step === crashStep) {
        const crash = await simulator.crash(book, options.crashShare);
        const block = Number(await deployment.hubClients.public.getBlockNumber());
        recordCrash({ ...crash, block });
        writeManifestFile(options.manifest, manifest);
        log(`crash at hub block ${block}: collateral prices x${formatWad(crash.factorWad)}, ${crash.liquidatable.length}/${book.length} ${crashed ? "hub-accounted " : ""}accounts under HF 1`);
        if (options.once) return void (stepEnds = true);
      }
      if (options.scenario === "cascade" && step === crashStep) {
        // The crash is the cascade's step 0, in one hub block; the decline follows, a step a block.
        const { factorWad, target } = await simulator.crashFactor(book, options.crashShare);
        const all = await deployment.answers();
        const start = new Map(deployment.collateralAssets.map((a) => [a.id, all.get(a.id)!] as const));
        const path = cascadePath({ seed: options.seed, params: cascadeParams(options), start, crashFactorWad: factorWad });
        const block = await simulator.applyAnswers(path[0]!.answers);
        cascade = { path, blocks: [Number(block)], start };
        // Who the crash took under 1 is read at the crash block beside the next steps, which must not wait for it.
        crashRecorded = simulator.liquidatable(book, block).then((liquidatable) => {
          recordCrash({ factorWad, target, liquidatable, block: Number(block) });
          writeManifestFile(options.manifest, manifest);
          log(`crash at hub block ${block}: collateral prices x${formatWad(factorWad)}, ${liquidatable.length}/${book.length} accounts under HF 1; cascade of ${path.length - 1} more blocks follows`);
        });
        if (options.once) {
          while (cascade.blocks.length < path.length && !signal?.aborted) cascade.blocks.push(Number(await simulator.applyAnswers(path[cascade.blocks.length]!.answers)));
          if (cascade.blocks.length === path.length) await finishCascade(cascade);
          return void (stepEnds = true);
        }
      }
      if (options.once && options.scenario === "calm" && step > options.crashAfter) stepEnds = true;
    }
  } finally {
    await seeder.stop();
    await deliverer.stop();
    await network.stop();
    log("devnet stopped");
  }
}

/** The manifest's record of a finished cascade (`devnet.cascade`). */
async function cascadeRecord(
  simulator: MarketSimulator,
  book: readonly Address[],
  options: DevnetOptions,
  cascade: { path: CascadeStep[]; blocks: number[]; start: Map<number, bigint> },
): Promise<NonNullable<NonNullable<Manifest["devnet"]>["cascade"]>> {
  const answers = (m: ReadonlyMap<number, bigint>) => Object.fromEntries([...m].map(([id, a]) => [String(id), a]));
  return {
    params: cascadeParams(options),
    steps: cascade.path.length,
    firstBlock: cascade.blocks[0]!,
    lastBlock: cascade.blocks[cascade.blocks.length - 1]!,
    blocks: cascade.blocks,
    phases: cascade.path.map((s) => s.phase),
    startAnswers: answers(cascade.start),
    endAnswers: answers(cascade.path[cascade.path.length - 1]!.answers),
    liquidatable: await simulator.liquidatable(book),
  };
}

/**
 * Waits for `work` unless `signal` aborts first: true when it did (the work is left to fail on its own, quietly:
 * its chains may be gone). A failure of the work before any abort is thrown as usual.
 */
async function orAborted(work: Promise<void>, signal?: AbortSignal): Promise<boolean> {
  if (!signal) return work.then(() => false);
  if (signal.aborted) {
    work.catch(() => undefined);
    return true;
  }
  let onAbort!: () => void;
  const aborted = new Promise<true>((resolve) => {
    onAbort = () => resolve(true);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([work.then(() => false), aborted]);
  } catch (error) {
    if (signal.aborted) return true;
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
    work.catch(() => undefined);
  }
}
