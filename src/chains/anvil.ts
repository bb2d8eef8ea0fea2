/**
 * Local chains: anvil processes from the @foundry-rs/anvil npm package.
 *
 * The native binary is spawned directly (not through `npx anvil`, a chain of wrappers whose outer pid does
 * not own the chain), so stopping the instance stops the chain. Every started instance is also stopped when
 * this process exits or is interrupted.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);

export interface AnvilOptions {
  chainId: number;
  /** Loopback port; a free one is chosen when omitted. */
  port?: number;
  /** Seconds between blocks; automine (a block per transaction) when omitted. */
  blockTime?: number;
  /** Accept transactions from any `from` address (the devnet's synthetic borrowers). */
  autoImpersonate?: boolean;
  /** Balance of each of anvil's dev accounts, in ether. */
  balanceEther?: number;
  /** Load state from / dump state to this file (anvil --state): a chain that survives a restart. */
  stateFile?: string;
  /** Block gas limit (anvil --gas-limit); anvil's default (30,000,000) when omitted. */
  gasLimit?: bigint;
}

export interface AnvilInstance {
  chainId: number;
  port: number;
  rpcUrl: string;
  pid: number;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  const killAll = () => {
    for (const child of running) child.kill("SIGKILL");
  };
  process.on("exit", killAll);
}

export function anvilBinary(): string {
  const platform = `${process.platform === "win32" ? "win32" : process.platform}-${process.arch === "x64" ? "amd64" : process.arch}`;
  const pkg = `@foundry-rs/anvil-${platform}`;
  const root = dirname(require.resolve(`${pkg}/package.json`));
  return join(root, "bin", process.platform === "win32" ? "anvil.exe" : "anvil");
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startAnvil(options: AnvilOptions, attempts = 5): Promise<AnvilInstance> {
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    try {
      return await spawnAnvil({ ...options, port });
    } catch (error) {
      // A port chosen by freePort() can be taken by someone else before anvil binds it: try another.
      if (options.port !== undefined || attempt >= attempts) throw error;
    }
  }
}

function spawnAnvil(options: AnvilOptions & { port: number }): Promise<AnvilInstance> {
  const args = [
    "--host", "127.0.0.1",
    "--port", String(options.port),
    "--chain-id", String(options.chainId),
    "--balance", String(options.balanceEther ?? 1_000_000),
    "--accounts", "10",
  ];
  if (options.blockTime !== undefined) args.push("--block-time", String(options.blockTime));
  if (options.autoImpersonate) args.push("--auto-impersonate");
  if (options.stateFile) args.push("--state", options.stateFile);
  if (options.gasLimit !== undefined) args.push("--gas-limit", options.gasLimit.toString());

  hookExit();
  const child = spawn(anvilBinary(), args, { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.once("exit", () => running.delete(child));

  // A chain that keeps its state (--state) writes it on SIGTERM: under load that can take seconds, and a SIGKILL
  // meanwhile would restart it from nothing. It gets 30 s; a throwaway chain 3 s.
  const graceMs = options.stateFile ? 30_000 : 3_000;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // Mining is switched off first, so that no block is being mined while anvil writes its state: the file is
      // then one block's state with that block's receipts (the RPC-outage test once came back with every batch
      // unmined for good after a restart under load). Best effort: a chain that does not answer is stopped anyway.
      if (options.stateFile) await pauseMining(`http://127.0.0.1:${options.port}`);
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    }
  };

  return new Promise((resolve, reject) => {
    let output = "";
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Listening on")) {
        child.stdout?.off("data", onData);
        child.stdout?.resume();
        child.stderr?.resume();
        clearTimeout(timeout);
        resolve({
          chainId: options.chainId,
          port: options.port,
          rpcUrl: `http://127.0.0.1:${options.port}`,
          pid: child.pid!,
          stop,
        });
      }
    };
    const fail = (why: string) => {
      clearTimeout(timeout);
      void stop().then(() => reject(new Error(`anvil (chain ${options.chainId}, port ${options.port}) ${why}\n${output.slice(-2_000)}`)));
    };
    const timeout = setTimeout(() => fail("did not start within 20 s"), 20_000);
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => fail(`exited with code ${code}`));
  });
}

/** evm_setAutomine(false) and evm_setIntervalMining(0), each given up after 2 s. */
async function pauseMining(rpcUrl: string): Promise<void> {
  for (const [method, params] of [["evm_setAutomine", [false]], ["evm_setIntervalMining", [0]]] as const) {
    try {
      await fetch(rpcUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
        signal: AbortSignal.timeout(2_000),
      });
    } catch {}
  }
}
