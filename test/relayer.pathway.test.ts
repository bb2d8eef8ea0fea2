/**
 * A stalled pathway, on real chains and EndpointV2: SEIZEs to spoke1 are not delivered (a deliverer serving the
 * hub and spoke2 only stands in for a DVN that stopped verifying spoke1's packets). Once the oldest is in flight
 * past the bound, the relayer takes nothing more whose collateral must cross to spoke1, while takes towards
 * spoke2 go on, and it says so in its log and metrics. When spoke1's packets are delivered the pathway clears,
 * the rest is taken, and every recovery completes once.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { hubAbi } from "../abis/index.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
import { Rng } from "../src/devnet/rng.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { createDevnetDeliverer } from "../src/devnet/network.js";
import type { PacketDeliverer } from "../src/layerzero/deliverer.js";
import { type Relayer, createRelayer } from "../src/recovery/relayer.js";
import { recordingLog } from "./helpers/log.js";
import { type CrashScenario, crashScenario, expectRecoveredExactlyOnce, scenarioRelayerConfig } from "./helpers/scenario.js";

let s: CrashScenario;
let relayer: Relayer;
const deliverers: PacketDeliverer[] = [];
const { logged, log } = recordingLog();

beforeAll(async () => {
  s = await crashScenario({ accounts: 24, seed: 8, share: 0.5 });
  // No history yet: the bound is maxSeconds (3 s here; 30 min by default).
  relayer = await createRelayer(scenarioRelayerConfig(s, { deliver: false, pathwayStall: { factor: 3, minSeconds: 1, maxSeconds: 3, minSamples: 1_000 } }), { log });
}, 300_000);

afterAll(async () => {
  for (const d of deliverers) await d.stop();
  await relayer?.close();
  await s?.net.stop();
});

/** The devnet's deliverer (DVN and executor stand-in) over every chain but `exceptChain`: nothing is delivered there. */
function deliverer(exceptChain?: string): PacketDeliverer {
  const manifest = s.net.deployment.manifest;
  const d = createDevnetDeliverer({ ...manifest, chains: manifest.chains.filter((c) => c.name !== exceptChain) }, { pollIntervalMs: 50, retryBaseMs: 50 });
  deliverers.push(d);
  return d;
}

async function takesTowards(eid: number, afterBlock = 0n): Promise<number> {
  const d = s.net.deployment;
  if (afterBlock + 1n > (await d.hubClients.public.getBlockNumber({ cacheTime: 0 }))) return 0;
  const takes = await d.hubClients.public.getContractEvents({ address: d.hubAddress, abi: hubAbi, eventName: "Take", fromBlock: afterBlock + 1n });
  return takes.filter((t) => Number(t.args.collateralEid) === eid).length;
}

it("takes nothing more across a stalled pathway, goes on elsewhere, and resumes once it clears, every recovery once", async () => {
  const d = s.net.deployment;
  const [spoke1, spoke2] = [d.spokes.find((c) => c.name === "spoke1")!, d.spokes.find((c) => c.name === "spoke2")!];
  const held = deliverer(spoke1.name);
  held.start();
  const deadline = Date.now() + 120_000;
  while (!relayer.stalledPathways().includes(spoke1.eid)) {
    if (Date.now() > deadline) throw new Error(`spoke1 never stalled: ${JSON.stringify((await relayer.store.list()).map((r) => [r.state, r.collateralEid]))}`);
    await relayer.tick();
  }
  const stalledAt = await d.hubClients.public.getBlockNumber();
  expect(await takesTowards(spoke1.eid)).toBeGreaterThan(0);
  const warned = logged.find((l) => l.msg?.startsWith("pathway stalled"));
  expect(warned?.obj).toMatchObject({ eid: spoke1.eid, boundSeconds: 3 });
  expect(await relayer.metrics.registry.getSingleMetricAsString("salvage_relayer_pathway_stalled")).toContain(`salvage_relayer_pathway_stalled{eid="${spoke1.eid}"} 1`);

  // Prices fall further while it is stalled: of the accounts liquidatable now, those with collateral on spoke2 are
  // taken there, none across to spoke1 (a batch broadcast before the stall may still be mined in the next block),
  // and those with collateral on spoke1 only wait.
  const second = await new MarketSimulator(d, new Rng(99)).crash(s.borrowers, 0.7);
  const spoke2Before = await takesTowards(spoke2.eid);
  const until = Date.now() + 5_000;
  while (Date.now() < until) await relayer.tick();
  expect(relayer.stalledPathways()).toContain(spoke1.eid);
  expect(await takesTowards(spoke1.eid, stalledAt + 1n)).toBe(0);
  expect(await takesTowards(spoke2.eid)).toBeGreaterThan(spoke2Before);
  const waiting = (await relayer.store.list()).filter((r) => r.state === "detected" && r.reason?.includes("stalled pathway"));
  const onlySpoke1 = await Promise.all(
    waiting.map(async (r) => (await d.positions(r.account)).collateral.filter((c) => c.amount > 0n).every((c) => c.eid === spoke1.eid)),
  );
  expect(onlySpoke1.every(Boolean)).toBe(true);

  // spoke1's packets are delivered: the pathway clears and the rest is taken.
  await held.stop();
  deliverer().start();
  const end = Date.now() + 180_000;
  for (;;) {
    await relayer.tick();
    const recoveries = await relayer.store.list();
    if (recoveries.length > 0 && recoveries.every((r) => ["seized", "abandoned", "skipped"].includes(r.state)) && !relayer.stalledPathways().includes(spoke1.eid)) break;
    if (Date.now() > end) throw new Error(`not all recovered: ${JSON.stringify(recoveries.map((r) => [r.state, r.collateralEid, r.reason]))}`);
  }
  expect(logged.some((l) => l.msg?.startsWith("pathway cleared") && l.obj.eid === spoke1.eid)).toBe(true);
  expect(await takesTowards(spoke1.eid, stalledAt + 1n)).toBeGreaterThan(0);
  const liquidatable = [...new Set([...s.crash.liquidatable, ...second.liquidatable])];
  await expectRecoveredExactlyOnce({ ...s, crash: { ...s.crash, liquidatable } }, await relayer.store.list(), devnetAccounts.liquidator.address);
}, 300_000);
