/**
 * The `salvage` command line. It lives in bin/, not src/: Ponder loads every module under src/ (except
 * src/api/) as indexing code, so nothing there may act on import.
 *   salvage devnet …   start the local multi-chain devnet (src/devnet/run.ts)
 *   salvage relay …    run the recovery relayer (src/relayer/cli.ts)
 */
import { parseArgs } from "node:util";
import { parseDevnetOptions, runDevnet } from "../src/devnet/run.js";
import { RELAY_USAGE, relayCommand } from "../src/relayer/cli.js";

const USAGE = `usage: salvage devnet [--spokes N] [--accounts M] [--seed S] [--scenario calm|crash]
                     [--block-time SECONDS] [--crash-after STEPS] [--crash-share SHARE]
                     [--duration SECONDS | --once] [--manifest PATH]`;

async function devnet(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      spokes: { type: "string" },
      accounts: { type: "string" },
      seed: { type: "string" },
      scenario: { type: "string" },
      "block-time": { type: "string" },
      "crash-after": { type: "string" },
      "crash-share": { type: "string" },
      duration: { type: "string" },
      once: { type: "boolean" },
      manifest: { type: "string" },
    },
  });
  const options = parseDevnetOptions({
    spokes: values.spokes,
    accounts: values.accounts,
    seed: values.seed,
    scenario: values.scenario,
    blockTime: values["block-time"],
    crashAfter: values["crash-after"],
    crashShare: values["crash-share"],
    duration: values.duration,
    once: values.once,
    manifest: values.manifest,
  });
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  await runDevnet(options, (line) => console.log(line), controller.signal);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === "devnet") return devnet(rest);
  if (command === "relay") return relayCommand(rest);
  console.error(`${USAGE}\n${RELAY_USAGE}`);
  process.exitCode = 2;
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exitCode = 1;
});
