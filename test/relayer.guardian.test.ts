/**
 * The guardian where salvage does not deliver (real chains), on real chains and EndpointV2: LayerZero's executor —
 * the devnet's deliverer in its fault mode of too little gas, giving every lzReceive 30,000 gas (a SEIZE needs
 * ~62,000) and giving up after one attempt — verifies each SEIZE, runs its lzReceive out of gas and reports
 * LzReceiveAlert. The relayer (deliver off) sees the alert, moves the recovery to `stalled` with the reason, and
 * delivers the packet again itself with the gas the node estimates: every collateral paid once, by the taker's
 * own lzReceive, and said in the log and metrics.
 */
import { getAbiItem } from "viem";
import { afterAll, beforeAll, expect, it } from "vitest";
import { endpointV2Abi } from "../abis/index.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
import { createDevnetDeliverer } from "../src/devnet/network.js";
import type { PacketDeliverer } from "../src/layerzero/deliverer.js";
import { type Relayer, createRelayer } from "../src/recovery/relayer.js";
import { recordingLog } from "./helpers/log.js";
import { type CrashScenario, crashScenario, expectRecoveredExactlyOnce, scenarioRelayerConfig } from "./helpers/scenario.js";

let s: CrashScenario;
let relayer: Relayer;
let starved: PacketDeliverer;
const { logged, log } = recordingLog();

beforeAll(async () => {
  s = await crashScenario({ accounts: 12, seed: 11, share: 0.5 });
  relayer = await createRelayer(scenarioRelayerConfig(s, { deliver: false, redelivery: { intervalMs: 200 } }), { log });
  // The fault mode: too little gas, no retry (an executor that keeps failing after a gas repricing).
  starved = createDevnetDeliverer(s.net.deployment.manifest, { pollIntervalMs: 50, retryBaseMs: 50, lzReceiveGas: 30_000n, maxLzReceiveGas: 30_000n, maxAttempts: 1 });
  starved.start();
}, 300_000);

afterAll(async () => {
  await starved?.stop();
  await relayer?.close();
  await s?.net.stop();
});

it("delivers again, with the gas it needs, every SEIZE whose lzReceive ran out of gas: each collateral paid once", async () => {
  const d = s.net.deployment;
  const deadline = Date.now() + 180_000;
  for (;;) {
    await relayer.tick();
    const recoveries = await relayer.store.list();
    if (recoveries.length > 0 && recoveries.every((r) => ["seized", "abandoned", "skipped"].includes(r.state))) break;
    if (Date.now() > deadline) throw new Error(`not all recovered: ${JSON.stringify(recoveries.map((r) => [r.state, r.reason]))}`);
  }
  const recoveries = await relayer.store.list();
  await expectRecoveredExactlyOnce(s, recoveries, devnetAccounts.liquidator.address);
  const seized = recoveries.filter((r) => r.state === "seized");
  expect(seized.length).toBeGreaterThan(0);

  // Every SEIZE was alerted by the executor (out of gas), then delivered by the taker's own lzReceive.
  const alertEvent = getAbiItem({ abi: endpointV2Abi, name: "LzReceiveAlert" });
  const deliveredEvent = getAbiItem({ abi: endpointV2Abi, name: "PacketDelivered" });
  const byGuid = new Map<string, { alerts: number; from?: string }>();
  for (const spoke of d.spokes) {
    const reader = d.clients(spoke).public;
    for (const a of await reader.getLogs({ address: spoke.contracts.endpoint, event: alertEvent, fromBlock: 0n })) {
      const g = byGuid.get(a.args.guid!.toLowerCase()) ?? { alerts: 0 };
      byGuid.set(a.args.guid!.toLowerCase(), { ...g, alerts: g.alerts + 1 });
    }
    for (const e of await reader.getLogs({ address: spoke.contracts.endpoint, event: deliveredEvent, fromBlock: 0n })) {
      const tx = await reader.getTransaction({ hash: e.transactionHash! });
      // PacketDelivered carries the origin, not the guid: match the SEIZEs by their recovery's delivery transaction.
      for (const r of seized) if (r.deliverTx?.toLowerCase() === e.transactionHash!.toLowerCase()) byGuid.set(r.guid!.toLowerCase(), { ...(byGuid.get(r.guid!.toLowerCase()) ?? { alerts: 0 }), from: tx.from.toLowerCase() });
    }
  }
  for (const r of seized) {
    const g = byGuid.get(r.guid!.toLowerCase());
    expect(g?.alerts, `alerts of ${r.guid}`).toBe(1);
    expect(g?.from, `who delivered ${r.guid}`).toBe(devnetAccounts.liquidator.address.toLowerCase());
  }

  // The recovery said so: stalled with the executor's reason, then delivered.
  const alerted = logged.filter((l) => l.msg === "SEIZE delivery reverted on the spoke; the guardian retries it");
  expect(new Set(alerted.map((l) => String(l.obj.guid).toLowerCase()))).toEqual(new Set(seized.map((r) => r.guid!.toLowerCase())));
  for (const l of alerted) expect(l.obj.reason).toBe("LzReceiveOutOfGas(30000)");
  const delivered = logged.filter((l) => l.msg === "guardian delivered a packet whose lzReceive had failed");
  expect(new Set(delivered.map((l) => String(l.obj.guid).toLowerCase()))).toEqual(new Set(seized.map((r) => r.guid!.toLowerCase())));
  for (const l of delivered) expect(BigInt(String(l.obj.gas))).toBeGreaterThan(30_000n);
  const metric = await relayer.metrics.registry.getSingleMetricAsString("salvage_relayer_redeliveries_total");
  expect(metric).toContain(`salvage_relayer_redeliveries_total{outcome="delivered"} ${seized.length}`);
}, 300_000);
