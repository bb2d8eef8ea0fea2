/** Stopping a child process spawned with `detached: true`, i.e. the leader of its own process group. */
import type { ChildProcess } from "node:child_process";
import { sleep } from "./concurrency.js";

/**
 * SIGTERM to the child's whole process group (a Ponder or relayer process and anything it started), then
 * SIGKILL if it has not exited after `graceMs`. Resolves once the child has exited.
 */
export async function stopProcessGroup(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, s);
    } catch {
      // The group is already gone.
    }
  };
  signal("SIGTERM");
  if (!(await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]))) {
    signal("SIGKILL");
    await exited;
  }
}
