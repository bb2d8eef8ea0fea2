/** `npx salvage devnet` end to end, as an operator runs it: headless, and leaving no chain behind. */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseManifest, readManifest } from "../src/deployment/manifest.js";

const root = join(import.meta.dirname, "..");

function runCli(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [join(root, "bin/salvage.mjs"), "devnet", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function anvilsOnPorts(ports: number[]): string[] {
  const ps = execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
  return ps.split("\n").filter((line) => line.includes("anvil") && ports.some((p) => line.includes(`--port ${p} `)));
}

async function expectNothingLeft(manifestPath: string): Promise<void> {
  const ports = readManifest(manifestPath).chains.map((c) => Number(new URL(c.rpcUrl).port));
  for (const port of ports) expect(await portOpen(port), `port ${port} still answers`).toBe(false);
  expect(anvilsOnPorts(ports)).toEqual([]);
}

describe("salvage devnet", () => {
  it("--spokes 2 --accounts 200 --seed 7 --scenario crash --once runs headless and writes a valid manifest", async () => {
    const manifestPath = join(mkdtempSync(join(tmpdir(), "salvage-devnet-")), "manifest.json");
    const run = runCli(["--spokes", "2", "--accounts", "200", "--seed", "7", "--scenario", "crash", "--crash-share", "0.25", "--once", "--manifest", manifestPath]);
    expect(await run.exited, run.output()).toBe(0);

    const manifest = parseManifest(JSON.parse(readFileSync(manifestPath, "utf8")));
    expect(manifest.chains.map((c) => c.role)).toEqual(["hub", "spoke", "spoke"]);
    expect(new Set(manifest.chains.map((c) => c.chainId)).size).toBe(3);
    expect(new Set(manifest.chains.map((c) => c.eid)).size).toBe(3);
    expect(manifest.accounts).toHaveLength(200);
    expect(manifest.devnet).toMatchObject({ seed: 7, scenario: "crash" });
    // The crash pushes the known share under HF 1: 25% of 200, as the hub reported right after it.
    expect(manifest.devnet!.crash!.target).toBe(50);
    expect(manifest.devnet!.crash!.liquidatable).toHaveLength(50);
    expect(run.output()).toMatch(/50\/200 accounts under HF 1/);
    await expectNothingLeft(manifestPath);
  }, 300_000);

  it("stops every chain it started on SIGINT", async () => {
    const manifestPath = join(mkdtempSync(join(tmpdir(), "salvage-devnet-")), "manifest.json");
    const run = runCli(["--spokes", "2", "--accounts", "5", "--seed", "1", "--block-time", "1", "--duration", "600", "--manifest", manifestPath]);
    const deadline = Date.now() + 120_000;
    while (!existsSync(manifestPath) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(manifestPath), run.output()).toBe(true);
    const ports = readManifest(manifestPath).chains.map((c) => Number(new URL(c.rpcUrl).port));
    expect(await portOpen(ports[0]!)).toBe(true);

    run.child.kill("SIGINT");
    expect(await run.exited, run.output()).toBe(0);
    expect(run.output()).toMatch(/devnet stopped/);
    await expectNothingLeft(manifestPath);
  }, 180_000);
});
