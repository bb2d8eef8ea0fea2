/**
 * Crash safety and shared work, with `salvage relay` as real processes on one PostgreSQL:
 * - SIGKILL at every state of the machine in turn, restart, and every recovery completes exactly once;
 * - two processes recover the same crash without a duplicate take;
 * - the hub's RPC endpoint goes away mid-recovery (every connection to it reset for 3 s while the chain goes on).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../src/chains/anvil.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
import { openDatabase } from "../src/recovery/db.js";
import { createRelayer } from "../src/recovery/relayer.js";
import type { RelayerReport } from "../src/recovery/report.js";
import { RECOVERY_STATES } from "../src/recovery/states.js";
import { RecoveryStore } from "../src/recovery/store.js";
import { verifyPendingPackets } from "./helpers/packets.js";
import { relayProcess as startRelayProcess } from "./helpers/relay-process.js";
import { startRpcOutageProxy } from "./helpers/rpc-outage.js";
import { type CrashScenario, TEST_DATABASE_URL, crashScenario, expectRecoveredExactlyOnce, waitUntilRecovered, scenarioRelayerConfig } from "./helpers/scenario.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
});

function relayProcess(s: CrashScenario, schema: string, worker: string, extra: { killAt?: string; noDeliver?: boolean; metricsPort?: number } = {}) {
  return startRelayProcess(s, schema, worker, extra, (fn) => cleanup.push(fn));
}

async function openStore(schema: string): Promise<RecoveryStore> {
  const db = await openDatabase({ databaseUrl: TEST_DATABASE_URL, schema });
  cleanup.push(async () => {
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await db.close();
  });
  return new RecoveryStore(db);
}

async function scenario(seed: number): Promise<CrashScenario> {
  const s = await crashScenario({ accounts: 40, seed });
  cleanup.push(() => s.net.stop());
  return s;
}

const schemaName = (tag: string) => `relay_${tag}_${process.pid}_${Date.now() % 1_000_000}`;

describe("salvage relay processes", () => {
  it("survive SIGKILL at every state of the machine and complete each recovery exactly once", async () => {
    const s = await scenario(21);
    const schema = schemaName("crash");
    const store = await openStore(schema);
    // A profitable account is kicked and taken in one order of a batch (detected → taking → taken); kicking and
    // kicked are the kick-only path (test/relayer.batch.test.ts covers batches half of whose orders revert).
    const plan: { killAt: string; noDeliver: boolean }[] = [
      { killAt: "detected", noDeliver: true },
      { killAt: "taking", noDeliver: true },
      { killAt: "batch:broadcast", noDeliver: true },
      { killAt: "batch:mined", noDeliver: true },
      { killAt: "taken", noDeliver: true },
      { killAt: "verified", noDeliver: true },
      { killAt: "delivered", noDeliver: false },
      { killAt: "seized", noDeliver: false },
    ];
    const killed: string[] = [];
    for (const step of plan) {
      if (step.killAt === "verified") expect(await verifyPendingPackets(s.net)).toBeGreaterThan(0);
      const run = relayProcess(s, schema, "crash-test", step);
      const outcome = await Promise.race([run.exited, new Promise((r) => setTimeout(() => r("timeout"), 60_000))]);
      expect(outcome, `${step.killAt}: ${run.output().slice(-2_000)}`).toBe("SIGKILL");
      killed.push(step.killAt);
      const transitions = (await store.list()).length;
      expect(transitions).toBeGreaterThan(0);
    }
    expect(killed).toEqual(plan.map((p) => p.killAt));

    const final = relayProcess(s, schema, "crash-test");
    await waitUntilRecovered(s, () => store.list());
    final.child.kill("SIGTERM");
    expect(await final.exited).toBe(0);
    await expectRecoveredExactlyOnce(s, await store.list(), devnetAccounts.liquidator.address);
    // Each batch was signed once per fee level (a restart resends the stored bytes) and mined once.
    const rows = await store.db.query<{ step: string; n: string }>(
      `SELECT step, count(*) FILTER (WHERE status = 'mined') AS n FROM transactions WHERE step LIKE 'batch:%' GROUP BY step`,
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(Number(r.n)).toBeLessThanOrEqual(1);
  }, 600_000);

  it("share one crash between two processes without a duplicate take", async () => {
    const s = await scenario(22);
    const schema = schemaName("pair");
    const store = await openStore(schema);
    const metricsPort = await freePort();
    const a = relayProcess(s, schema, "worker-a", { metricsPort });
    const b = relayProcess(s, schema, "worker-b");
    await waitUntilRecovered(s, () => store.list());
    // Prometheus metrics: recoveries by state (shared database) and this worker's transitions.
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const seizedGauge = /salvage_recoveries\{state="seized"\} (\d+)/.exec(metrics);
    expect(Number(seizedGauge?.[1])).toBe((await store.list()).filter((r) => r.state === "seized").length);
    expect(metrics).toMatch(/salvage_recovery_transitions_total\{from="\w+",to="\w+"\} \d+/);
    expect(metrics).toMatch(/salvage_recovery_seconds_count \d+/);
    // The relayer's report (GET /recoveries): every state counted across both workers, the latest recoveries as stored.
    const answer = await fetch(`http://127.0.0.1:${metricsPort}/recoveries?recent=3`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toBe("application/json");
    const report = (await answer.json()) as RelayerReport;
    expect(report.worker).toBe("worker-a");
    expect(Object.keys(report.states).sort()).toEqual([...RECOVERY_STATES].sort());
    const stored = await store.list();
    expect(Object.values(report.states).reduce((a, b) => a + b, 0)).toBe(stored.length);
    expect(report.states.seized).toBe(stored.filter((r) => r.state === "seized").length);
    expect(report.recent).toHaveLength(3);
    for (const r of report.recent) {
      const row = stored.find((x) => x.id === r.id);
      expect({ account: r.account, state: r.state, takeId: r.takeId }).toEqual({ account: row?.account, state: row?.state, takeId: row?.takeId?.toString() ?? null });
    }
    expect(((await (await fetch(`http://127.0.0.1:${metricsPort}/recoveries`)).json()) as RelayerReport).recent.length).toBe(Math.min(20, stored.length));
    const bad = await fetch(`http://127.0.0.1:${metricsPort}/recoveries?recent=abc`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/\brecent\b/);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/recoveries?recent=101`)).status).toBe(400);
    a.child.kill("SIGTERM");
    b.child.kill("SIGTERM");
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    await expectRecoveredExactlyOnce(s, await store.list(), devnetAccounts.liquidator.address);
    const workers = await store.db.query<{ worker: string }>(`SELECT DISTINCT split_part(worker, '/', 1) AS worker FROM transitions`);
    expect(workers.map((w) => w.worker).sort()).toEqual(["worker-a", "worker-b"]);
  }, 300_000);

  it("wait out a hub RPC outage mid-recovery without losing or duplicating a recovery", async () => {
    const s = await scenario(23);
    // The relayer reaches the hub through an endpoint that goes down (test/helpers/rpc-outage.ts); the chain goes on.
    const hubRpc = await startRpcOutageProxy(s.net.deployment.hub.rpcUrl);
    cleanup.push(() => hubRpc.close());
    const manifest = { ...s.net.deployment.manifest, chains: s.net.deployment.manifest.chains.map((c) => (c.role === "hub" ? { ...c, rpcUrl: hubRpc.url } : c)) };
    // The PGlite directory keeps the relayer's state across the outage, as an operator's default does.
    const relayer = await createRelayer(scenarioRelayerConfig(s, { manifest, database: { pgliteDir: mkdtempSync(join(tmpdir(), "salvage-pglite-")) } }));
    cleanup.push(() => relayer.close());
    relayer.start();
    const deadline = Date.now() + 60_000;
    while (!(await relayer.store.list()).some((r) => ["taking", "taken", "verified", "delivered", "seized"].includes(r.state))) {
      if (Date.now() > deadline) throw new Error("no recovery reached taking");
      await new Promise((r) => setTimeout(r, 50));
    }
    const duringOutage: string[] = [];
    relayer.on("transition", (e) => duringOutage.push(`${e.from}>${e.to} ${e.detail ?? ""}`));
    hubRpc.down();
    await expect(fetch(hubRpc.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_blockNumber", params: [] }) })).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 3_000));
    // A read that fails is not a reorg: no take was reopened while the hub could not be read.
    expect(duringOutage.filter((t) => /reorged out/.test(t))).toEqual([]);
    relayer.removeAllListeners("transition");
    const during = await relayer.store.list();
    expect(during.filter((r) => r.state === "seized").length).toBeLessThan(s.crash.liquidatable.length);
    hubRpc.up();
    await waitUntilRecovered(s, () => relayer.store.list());
    await relayer.stop();
    await expectRecoveredExactlyOnce(s, await relayer.store.list(), devnetAccounts.liquidator.address);
  }, 300_000);
});
