/**
 * The `salvage` command line. It lives in bin/, not src/: Ponder loads every module under src/ (except
 * src/api/) as indexing code, so nothing there may act on import.
 *   salvage devnet …   start the local multi-chain devnet (src/devnet/run.ts)
 *   salvage demo …     devnet + indexer + relayer together (src/devnet/demo.ts)
 *   salvage relay …    run the recovery relayer (src/recovery/cli.ts)
 */
import { parseArgs } from "node:util";
import { runDemo } from "../src/devnet/demo.js";
import { parseDevnetOptions, runDevnet } from "../src/devnet/run.js";
import { RELAY_USAGE, relayCommand } from "../src/recovery/cli.js";

const USAGE = `usage: salvage devnet [--spokes N] [--accounts M] [--seed S] [--scenario calm|crash|cascade]
                     [--protocol reference|hub-accounted|both]
                     [--block-time SECONDS] [--crash-after STEPS] [--crash-share SHARE]
                     [--cascade-decline-bps BPS] [--cascade-blocks N] [--cascade-noise-bps BPS]
                     [--cascade-second-leg-after N [--cascade-second-leg-bps BPS] [--cascade-second-leg-blocks N]]
                     [--duration SECONDS | --once] [--manifest PATH] [--hub-gas-limit GAS] [--lz-confirmations N]
       salvage demo   [the devnet flags] [--api-port 42069] [--metrics-port 9464]`;

const DEVNET_FLAGS = {
  spokes: { type: "string" },
  accounts: { type: "string" },
  seed: { type: "string" },
  scenario: { type: "string" },
  protocol: { type: "string" },
  "block-time": { type: "string" },
  "crash-after": { type: "string" },
  "crash-share": { type: "string" },
  duration: { type: "string" },
  once: { type: "boolean" },
  manifest: { type: "string" },
  "hub-gas-limit": { type: "string" },
  "lz-confirmations": { type: "string" },
  "cascade-decline-bps": { type: "string" },
  "cascade-blocks": { type: "string" },
  "cascade-noise-bps": { type: "string" },
  "cascade-second-leg-after": { type: "string" },
  "cascade-second-leg-bps": { type: "string" },
  "cascade-second-leg-blocks": { type: "string" },
} as const;

function devnetOptions(values: Record<string, string | boolean | undefined>, defaults: Record<string, unknown> = {}) {
  return parseDevnetOptions({
    ...defaults,
    ...Object.fromEntries(
      Object.entries({
        spokes: values.spokes,
        accounts: values.accounts,
        seed: values.seed,
        scenario: values.scenario,
        protocol: values.protocol,
        blockTime: values["block-time"],
        crashAfter: values["crash-after"],
        crashShare: values["crash-share"],
        duration: values.duration,
        once: values.once,
        manifest: values.manifest,
        hubGasLimit: values["hub-gas-limit"],
        lzConfirmations: values["lz-confirmations"],
        cascadeDeclineBps: values["cascade-decline-bps"],
        cascadeBlocks: values["cascade-blocks"],
        cascadeNoiseBps: values["cascade-noise-bps"],
        cascadeSecondLegAfter: values["cascade-second-leg-after"],
        cascadeSecondLegBps: values["cascade-second-leg-bps"],
        cascadeSecondLegBlocks: values["cascade-second-leg-blocks"],
      }).filter(([, v]) => v !== undefined),
    ),
  });
}

function interruptible(): AbortSignal {
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort());
  process.once("SIGTERM", () => controller.abort());
  return controller.signal;
}

async function devnet(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, strict: true, options: DEVNET_FLAGS });
  const signal = interruptible();
  await runDevnet(devnetOptions(values), (line) => console.log(line), signal);
  // Interrupted: everything is stopped; a request left waiting on a chain that is gone must not hold the exit.
  if (signal.aborted) process.exit(0);
}

async function demo(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { ...DEVNET_FLAGS, "api-port": { type: "string", default: "42069" }, "metrics-port": { type: "string", default: "9464" } },
  });
  // The crash a few steps after seeding: the relayer detects from the hub while the indexer still backfills.
  const options = devnetOptions(values, { scenario: "crash", crashAfter: 5 });
  const signal = interruptible();
  await runDemo({ ...options, apiPort: Number(values["api-port"]), metricsPort: Number(values["metrics-port"]) }, (line) => console.log(line), signal);
  if (signal.aborted) process.exit(0);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === "devnet") return devnet(rest);
  if (command === "demo") return demo(rest);
  if (command === "relay") return relayCommand(rest);
  console.error(`${USAGE}\n${RELAY_USAGE}`);
  process.exitCode = 2;
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exitCode = 1;
});
