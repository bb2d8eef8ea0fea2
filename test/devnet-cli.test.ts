/** `npx salvage devnet` end to end, as an operator runs it: headless, and leaving no chain behind. */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freePort } from "../src/chains/anvil.js";
import { parseManifest, readManifest } from "../src/deployment/manifest.js";
import { cascadePath } from "../src/devnet/cascade.js";

const root = join(import.meta.dirname, "..");

/** `detached`: in a process group of its own, as a shell runs a foreground job (Ctrl-C signals the whole group). */
function runCli(args: string[], options: { detached?: boolean; command?: "devnet" | "demo" } = {}): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [join(root, "bin/salvage.mjs"), options.command ?? "devnet", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"], detached: options.detached ?? false });
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

  it("--protocol hub-accounted and both: the second protocol deployed beside the reference one, seeded and crashed", async () => {
    const manifestPath = join(mkdtempSync(join(tmpdir(), "salvage-devnet-")), "manifest.json");
    const run = runCli(["--spokes", "2", "--accounts", "40", "--seed", "7", "--scenario", "crash", "--crash-share", "0.25", "--once", "--protocol", "hub-accounted", "--manifest", manifestPath]);
    expect(await run.exited, run.output()).toBe(0);
    const manifest = parseManifest(JSON.parse(readFileSync(manifestPath, "utf8")));
    expect(manifest.accounts).toEqual([]);
    const [p] = manifest.protocols;
    expect({ protocol: p!.protocol, name: p!.name, chains: Object.keys(p!.contracts).sort() }).toEqual({ protocol: "hub-accounted", name: "accounted", chains: ["hub", "spoke1", "spoke2"] });
    expect(p!.accounts).toHaveLength(40);
    expect(p!.crash!.liquidatable).toHaveLength(10);
    expect(manifest.devnet!.crash).toBeUndefined();
    expect(run.output()).toMatch(/10\/40 hub-accounted accounts under HF 1/);
    await expectNothingLeft(manifestPath);

    const both = join(mkdtempSync(join(tmpdir(), "salvage-devnet-")), "manifest.json");
    const run2 = runCli(["--spokes", "2", "--accounts", "20", "--seed", "7", "--scenario", "crash", "--once", "--protocol", "both", "--manifest", both]);
    expect(await run2.exited, run2.output()).toBe(0);
    const m2 = parseManifest(JSON.parse(readFileSync(both, "utf8")));
    expect(m2.accounts).toHaveLength(20);
    expect(m2.protocols[0]!.accounts).toHaveLength(20);
    expect(new Set([...m2.accounts, ...m2.protocols[0]!.accounts]).size).toBe(40);
    expect(m2.devnet!.crash!.liquidatable).toHaveLength(5);
    await expectNothingLeft(both);
    const bad = runCli(["--protocol", "nope", "--once"]);
    expect(await bad.exited).not.toBe(0);
    expect(bad.output()).toMatch(/--protocol/);
  }, 300_000);

  it("--scenario cascade --once: the crash, then the cascade one block a step, recorded so that its seed replays it", async () => {
    const manifestPath = join(mkdtempSync(join(tmpdir(), "salvage-devnet-")), "manifest.json");
    const run = runCli([
      "--spokes", "2", "--accounts", "40", "--seed", "7", "--scenario", "cascade", "--crash-share", "0.2", "--crash-after", "2",
      "--cascade-decline-bps", "200", "--cascade-blocks", "5", "--cascade-noise-bps", "50",
      "--cascade-second-leg-after", "2", "--cascade-second-leg-bps", "1000", "--cascade-second-leg-blocks", "3", "--once", "--manifest", manifestPath,
    ]);
    expect(await run.exited, run.output()).toBe(0);
    const manifest = readManifest(manifestPath);
    const devnet = manifest.devnet!;
    expect(devnet).toMatchObject({ seed: 7, scenario: "cascade" });
    expect(devnet.crash!.target).toBe(8);
    expect(devnet.crash!.liquidatable).toHaveLength(8);
    const cascade = devnet.cascade!;
    expect(cascade.params).toEqual({ declineBps: 200, blocks: 5, noiseBps: 50, secondLeg: { after: 2, crashBps: 1000, blocks: 3 } });
    expect(cascade.steps).toBe(1 + 5 + 2 + 1 + 3);
    expect(cascade.phases).toEqual(["crash", ...Array(5).fill("decline"), "pause", "pause", "second-crash", ...Array(3).fill("second-decline")]);
    // Step 0 is the crash, in the crash's block; then one hub block per step.
    expect(cascade.firstBlock).toBe(devnet.crash!.block);
    expect(cascade.blocks).toEqual(cascade.blocks.map((_, i) => cascade.firstBlock + i));
    expect(cascade.lastBlock).toBe(cascade.firstBlock + cascade.steps - 1);
    // The seed, the parameters, the start answers and the crash factor replay the path to the same final answers.
    const start = new Map(Object.entries(cascade.startAnswers).map(([id, a]) => [Number(id), a] as const));
    expect([...start.keys()].sort()).toEqual(manifest.assets.filter((a) => a.kind === "collateral").map((a) => a.id).sort());
    const replay = cascadePath({ seed: 7, params: cascade.params, start, crashFactorWad: devnet.crash!.factorWad });
    expect(Object.fromEntries([...replay.at(-1)!.answers].map(([id, a]) => [String(id), a]))).toEqual(cascade.endAnswers);
    // Every collateral price ends lower than right after the crash, so no account the crash took under 1 came back.
    for (const [id, a] of replay[0]!.answers) expect(cascade.endAnswers[String(id)]!).toBeLessThan(a);
    expect(cascade.liquidatable.length).toBeGreaterThan(8);
    for (const a of devnet.crash!.liquidatable) expect(cascade.liquidatable).toContain(a);
    expect(run.output()).toMatch(/crash at hub block \d+: .* 8\/40 accounts under HF 1; cascade of 11 more blocks follows/);
    expect(run.output()).toMatch(new RegExp(`cascade over at hub block ${cascade.lastBlock} after 12 blocks: ${cascade.liquidatable.length}/40 accounts under HF 1`));
    await expectNothingLeft(manifestPath);
  }, 300_000);

  it("--scenario cascade with 1 s blocks: the steps fill consecutive hub blocks", async () => {
    const manifestPath = join(mkdtempSync(join(tmpdir(), "salvage-devnet-")), "manifest.json");
    const run = runCli([
      "--spokes", "1", "--accounts", "10", "--seed", "5", "--scenario", "cascade", "--crash-share", "0.3", "--crash-after", "0",
      "--cascade-blocks", "6", "--block-time", "1", "--duration", "120", "--manifest", manifestPath,
    ]);
    const deadline = Date.now() + 100_000;
    const cascadeOver = () => existsSync(manifestPath) && readManifest(manifestPath).devnet?.cascade !== undefined;
    while (!cascadeOver() && Date.now() < deadline && run.child.exitCode === null) await new Promise((r) => setTimeout(r, 250));
    run.child.kill("SIGINT");
    expect(await run.exited, run.output()).toBe(0);
    const devnet = readManifest(manifestPath).devnet!;
    expect(devnet.cascade, run.output()).toBeDefined();
    // A step goes out as soon as the previous one is mined (50 ms receipt polling against 1 s blocks), so the steps
    // fill consecutive blocks; a loaded machine may miss one or two, a tick between steps (2 blocks each) would not.
    const blocks = devnet.cascade!.blocks;
    expect(blocks[0]).toBe(devnet.crash!.block);
    expect(blocks).toHaveLength(7);
    for (let i = 1; i < blocks.length; i++) expect(blocks[i]!).toBeGreaterThan(blocks[i - 1]!);
    expect(blocks.at(-1)! - blocks[0]!, blocks.join()).toBeLessThanOrEqual(6 + 2);
    await expectNothingLeft(manifestPath);
  }, 150_000);

  it("refuses bad cascade flags before starting anything, naming each flag", async () => {
    const dir = mkdtempSync(join(tmpdir(), "salvage-devnet-"));
    const refused = async (args: string[]) => {
      const run = runCli([...args, "--once", "--manifest", join(dir, "manifest.json")]);
      expect(await run.exited, run.output()).toBe(1);
      expect(existsSync(join(dir, "manifest.json"))).toBe(false);
      return run.output();
    };
    const types = await refused(["--scenario", "cascade", "--cascade-noise-bps", "abc", "--cascade-blocks=-3", "--cascade-decline-bps", "10000", "--cascade-second-leg-after", "1.5"]);
    expect(types).toMatch(/--cascade-noise-bps: Expected number, received nan/);
    expect(types).toMatch(/--cascade-blocks: Number must be greater than or equal to 0/);
    expect(types).toMatch(/--cascade-decline-bps: Number must be less than or equal to 9999/);
    expect(types).toMatch(/--cascade-second-leg-after: Expected integer, received float/);
    expect(await refused(["--scenario", "crash", "--cascade-blocks", "5"])).toMatch(/--cascade-blocks: only with --scenario cascade \(scenario is crash\)/);
    expect(await refused(["--scenario", "cascade", "--cascade-decline-bps", "9000", "--cascade-noise-bps", "1500"])).toMatch(/--cascade-noise-bps: decline 9000 \+ noise 1500 must stay below 10000 bps/);
    expect(await refused(["--scenario", "cascade", "--cascade-second-leg-bps", "500"])).toMatch(/--cascade-second-leg-bps: needs --cascade-second-leg-after/);
    expect(await refused(["--scenario", "avalanche"])).toMatch(/--scenario: Invalid enum value\. Expected 'calm' \| 'crash' \| 'cascade'/);
  }, 60_000);

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

  it("stops cleanly on a terminal's Ctrl-C (SIGINT to the whole process group: its chains die at once too)", async () => {
    const manifestPath = join(mkdtempSync(join(tmpdir(), "salvage-devnet-")), "manifest.json");
    const run = runCli(["--spokes", "2", "--accounts", "5", "--seed", "1", "--block-time", "1", "--duration", "600", "--manifest", manifestPath], { detached: true });
    const deadline = Date.now() + 120_000;
    while (!existsSync(manifestPath) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(manifestPath), run.output()).toBe(true);
    await new Promise((r) => setTimeout(r, 1_500)); // a price step or two under way
    process.kill(-run.child.pid!, "SIGINT");
    // Before the fix the run waited 60 s on a transaction to a chain that was gone, then exited 1 with the error.
    const code = await Promise.race([run.exited, new Promise<"still running">((r) => setTimeout(() => r("still running"), 20_000))]);
    expect(code, run.output()).toBe(0);
    expect(run.output()).toMatch(/stopping: interrupted\n[\s\S]*devnet stopped/);
    expect(run.output()).not.toMatch(/error|Timed out/i);
    await expectNothingLeft(manifestPath);
  }, 180_000);
});

describe("salvage demo", () => {
  it("prints its first recovery, and on a terminal's Ctrl-C stops the devnet, the indexer and the relayer with a clean stopped line", async () => {
    const manifestPath = join(mkdtempSync(join(tmpdir(), "salvage-demo-")), "manifest.json");
    const [apiPort, metricsPort] = [await freePort(), await freePort()];
    const run = runCli(["--manifest", manifestPath, "--api-port", String(apiPort), "--metrics-port", String(metricsPort)], { command: "demo", detached: true });
    const deadline = Date.now() + 180_000;
    while (!/\[demo\] first recovery [\d.]+ s after start/.test(run.output()) && run.child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    const first = /\[demo\] first recovery ([\d.]+) s after start/.exec(run.output());
    expect(first, run.output().slice(-3_000)).not.toBeNull();
    console.log(`[demo] first recovery ${first![1]} s after start`);
    // The recovery is real: the relayer counts a seized recovery, and the page's server answers (the relayer detects
    // from the hub, so its first recovery can come before the indexer's server is up: wait for it).
    let status: number | undefined;
    while (status !== 200 && Date.now() < deadline) {
      status = await fetch(`http://127.0.0.1:${apiPort}/salvage/status`).then((r) => r.status, () => undefined);
      if (status !== 200) await new Promise((r) => setTimeout(r, 500));
    }
    expect(status, run.output().slice(-3_000)).toBe(200);
    expect(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()).toMatch(/^salvage_recoveries\{state="seized"\} [1-9]/m);
    // The page's recoveries read the relayer's own report through the API (SALVAGE_RELAYER_URL), and the chains' takes.
    type Recoveries = { takes: { seized: number }; relayer: { error: string | null; states: { state: string; count: number }[] } | null };
    let recoveries: Recoveries | undefined;
    while (Date.now() < deadline) {
      recoveries = (await (await fetch(`http://127.0.0.1:${apiPort}/recoveries`)).json()) as Recoveries;
      if (recoveries.takes.seized > 0 && (recoveries.relayer?.states.find((s) => s.state === "seized")?.count ?? 0) > 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(recoveries?.relayer?.error, JSON.stringify(recoveries)).toBeNull();
    expect(recoveries!.takes.seized).toBeGreaterThan(0);
    expect(recoveries!.relayer!.states.map((s) => s.state)).toEqual(expect.arrayContaining(["detected", "skipped", "abandoned", "seized"]));

    process.kill(-run.child.pid!, "SIGINT");
    const code = await Promise.race([run.exited, new Promise<"still running">((r) => setTimeout(() => r("still running"), 30_000))]);
    expect(code, run.output().slice(-3_000)).toBe(0);
    expect(run.output()).toMatch(/\[devnet\] devnet stopped\n[\s\S]*\[demo\] stopped [\d.]+ s after the interrupt/);
    expect(run.output()).not.toMatch(/stopped on error|Timed out/i);
    for (const port of [apiPort, metricsPort]) expect(await portOpen(port), `port ${port} still answers`).toBe(false);
    await expectNothingLeft(manifestPath);
  }, 300_000);
});
