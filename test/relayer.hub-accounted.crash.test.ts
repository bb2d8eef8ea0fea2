/**
 * Crash safety on the second protocol (contracts/hub-accounted/), with `salvage relay --protocol accounted` as real
 * processes on one PostgreSQL: SIGKILL at each checkpoint of a recovery in turn (detected, taking, the batch
 * broadcast and mined, taken, the WITHDRAW verified, delivered, seized), restart, and every account the crash made
 * liquidatable ends liquidated exactly once, its collateral paid once to the receiver, every token where the
 * books say, and no batch mined twice.
 */
import { afterEach, expect, it } from "vitest";
import { testTokenAbi } from "../abis/index.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
import { openDatabase } from "../src/recovery/db.js";
import { RecoveryStore } from "../src/recovery/store.js";
import { accountedCrashScenario, accountedLiquidatableNow, expectAccountedRecoveredOnce } from "./helpers/hub-accounted.js";
import { verifyPendingPackets } from "./helpers/packets.js";
import { relayProcess } from "./helpers/relay-process.js";
import { TEST_DATABASE_URL, waitUntilSettled } from "./helpers/scenario.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
});

it("survives SIGKILL at each checkpoint of a recovery and completes each one exactly once", async () => {
  const s = await accountedCrashScenario({ accounts: 40, seed: 23 });
  cleanup.push(() => s.net.stop());
  const schema = `relay_accounted_${process.pid}_${Date.now() % 1_000_000}`;
  const db = await openDatabase({ databaseUrl: TEST_DATABASE_URL, schema });
  cleanup.push(async () => {
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await db.close();
  });
  const store = new RecoveryStore(db);
  const d = s.net.deployment;
  const liquidator = devnetAccounts.liquidator.address;
  const balances = () => Promise.all(d.debtAssets.map(async (a) => [a.id, await d.hubClients.public.readContract({ address: d.hub.tokens[String(a.id)]!, abi: testTokenAbi, functionName: "balanceOf", args: [liquidator] })] as const));
  const before = new Map(await balances());

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
  const run = (extra: { killAt?: string; noDeliver?: boolean }) =>
    relayProcess(s, schema, "crash-test", { ...extra, protocol: s.c.entry.name }, (fn) => cleanup.push(fn));
  for (const step of plan) {
    if (step.killAt === "verified") expect(await verifyPendingPackets(s.net)).toBeGreaterThan(0);
    const p = run(step);
    const outcome = await Promise.race([p.exited, new Promise((r) => setTimeout(() => r("timeout"), 60_000))]);
    expect(outcome, `${step.killAt}: ${p.output().slice(-2_000)}`).toBe("SIGKILL");
    expect((await store.list()).length).toBeGreaterThan(0);
  }

  const final = run({});
  await waitUntilSettled(() => store.list(), () => accountedLiquidatableNow(s), 180_000, () => final.output().slice(-2_000));
  final.child.kill("SIGTERM");
  expect(await final.exited).toBe(0);

  const after = new Map(await balances());
  const [row] = await db.query<{ address: `0x${string}` }>(`SELECT address FROM executors`);
  await expectAccountedRecoveredOnce(s, await store.list(), {
    receiver: liquidator, executor: row!.address, withdrawn: true,
    liquidatorPaid: new Map([...before].map(([id, v]) => [id, v - after.get(id)!] as const)),
  });
  // Each batch was mined once, whatever the restarts (a restart resends the stored bytes, never new ones).
  const rows = await db.query<{ step: string; n: string }>(`SELECT step, count(*) FILTER (WHERE status = 'mined') AS n FROM transactions WHERE step LIKE 'batch:%' GROUP BY step`);
  expect(rows.length).toBeGreaterThan(0);
  for (const r of rows) expect(Number(r.n)).toBeLessThanOrEqual(1);
}, 600_000);
