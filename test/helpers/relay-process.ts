/** `salvage relay` as a real child process on PostgreSQL, for the crash-safety tests (SALVAGE_KILL_AT). */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { type CrashScenario, PROTOCOL_KEEPER_MIN_PROFIT, TEST_DATABASE_URL } from "./scenario.js";

const root = join(import.meta.dirname, "..", "..");

export interface RelayProcess {
  child: ChildProcess;
  /** Resolves with the signal that ended the process, or its exit code. */
  exited: Promise<NodeJS.Signals | number | null>;
  output(): string;
}

/**
 * Starts `salvage relay --devnet-keys` against the scenario's manifest. `killAt` names the checkpoint at which
 * the process sends itself SIGKILL; `onCleanup` receives the function that kills and awaits it.
 */
export function relayProcess(
  s: Pick<CrashScenario, "manifestPath">,
  schema: string,
  worker: string,
  extra: { killAt?: string; noDeliver?: boolean; metricsPort?: number; protocol?: string },
  onCleanup: (fn: () => Promise<void>) => void,
): RelayProcess {
  const args = [join(root, "bin/salvage.mjs"), "relay", "--manifest", s.manifestPath, "--database-url", TEST_DATABASE_URL, "--schema", schema, "--worker-id", worker, "--devnet-keys", `--min-profit-usd=${PROTOCOL_KEEPER_MIN_PROFIT}`, "--poll-ms", "100"];
  if (extra.noDeliver) args.push("--no-deliver");
  if (extra.protocol) args.push("--protocol", extra.protocol);
  if (extra.metricsPort) args.push("--metrics-port", String(extra.metricsPort));
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, SALVAGE_KILL_AT: extra.killAt ?? "", LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once("exit", (code, signal) => resolve(signal ?? code)));
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  });
  return { child, exited, output: () => output };
}
