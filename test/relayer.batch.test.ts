/**
 * Batches of kicks and takes through the executor, and the defects review found in the old relayer:
 * - a batch broadcast but not mined, and a batch half of whose orders reverted, each with the process
 *   SIGKILLed there: every recovery ends exactly once, the reverted orders classified by error name;
 * - an expired auction kicked again (the hub emits AuctionEnded before AuctionKicked in one receipt);
 * - auction parameters read from the chain, not the manifest;
 * - dust that never pays is not kicked; a recovery skipped for lack of inventory is not re-detected;
 * - revert reasons holding a NUL byte are stored;
 * - a SEIZE whose lzReceive reverts on the spoke: the recovery is `stalled`, counted, and seized once delivered;
 * - one account whose reads fail is left out of a pass, not the whole pass.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Address, parseEventLogs } from "viem";
import { afterEach, describe, expect, it } from "vitest";
import { hubAbi, salvageExecutorAbi, testTokenAbi } from "../abis/index.js";
import { PacketDeliverer, deliveryChains } from "../src/layerzero/deliverer.js";
import { write } from "../src/chains/tx.js";
import { DEVNET_KEYS, devnetAccounts } from "../src/devnet/accounts.js";
import { parseRelayerConfig } from "../src/recovery/config.js";
import { openDatabase } from "../src/recovery/db.js";
import { createRelayer } from "../src/recovery/relayer.js";
import { RecoveryStore } from "../src/recovery/store.js";
import { relayProcess as startRelayProcess } from "./helpers/relay-process.js";
import { type CrashScenario, PROTOCOL_KEEPER_MIN_PROFIT, TEST_DATABASE_URL, crashScenario, liquidatableNow, onchainLiquidations } from "./helpers/scenario.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
});

async function scenario(seed: number, accounts = 40): Promise<CrashScenario> {
  const s = await crashScenario({ accounts, seed });
  cleanup.push(() => s.net.stop());
  return s;
}

function relayProcess(s: CrashScenario, schema: string, killAt: string) {
  return startRelayProcess(s, schema, "batch-test", { killAt, noDeliver: true }, (fn) => cleanup.push(fn));
}

const hubRpc = (s: CrashScenario, method: string, params: unknown[] = []) => s.net.deployment.hubClients.public.request({ method, params } as never);

async function until<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("batches", () => {
  it("survive SIGKILL with a batch broadcast but not mined, and with a batch half of whose orders reverted", async () => {
    const s = await scenario(24);
    const d = s.net.deployment;
    const schema = `relay_batch_${process.pid}_${Date.now() % 1_000_000}`;
    const db = await openDatabase({ databaseUrl: TEST_DATABASE_URL, schema });
    cleanup.push(async () => {
      await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await db.close();
    });
    const store = new RecoveryStore(db);
    // A first run deploys the executor, approves it and detects; it dies once the recoveries are stored.
    const setup = relayProcess(s, schema, "detected");
    expect(await Promise.race([setup.exited, new Promise((r) => setTimeout(() => r("timeout"), 90_000))]), setup.output().slice(-2000)).toBe("SIGKILL");
    // Hold the hub's blocks: the first batch is broadcast, the process dies, nothing is mined yet.
    await hubRpc(s, "evm_setAutomine", [false]);
    const first = relayProcess(s, schema, "batch:broadcast");
    expect(await Promise.race([first.exited, new Promise((r) => setTimeout(() => r("timeout"), 90_000))]), first.output().slice(-2000)).toBe("SIGKILL");
    const inBatch = (await store.list()).filter((r) => r.txStep);
    expect(inBatch.length).toBeGreaterThan(1);
    const step = inBatch[0]!.txStep!;
    const batch = inBatch.filter((r) => r.txStep === step);
    // A competitor repays half of the batch's accounts in full, with a higher tip: mined first, their orders revert.
    const repaid = batch.slice(0, Math.ceil(batch.length / 2)).map((r) => r.account.toLowerCase());
    const payer = await s.net.newAccount();
    for (const account of repaid) {
      const positions = await d.positions(account as Address);
      for (const debt of positions.debt.filter((p) => p.amount > 0n)) {
        const token = d.hub.tokens[String(debt.assetId)]!;
        const wallet = d.hubClients.wallet(payer);
        await wallet.writeContract({ address: token, abi: testTokenAbi, functionName: "mint", args: [payer, debt.amount], account: devnetAccounts.deployer, gas: 100_000n, maxPriorityFeePerGas: 50_000_000_000n, maxFeePerGas: 100_000_000_000n } as never);
        await wallet.writeContract({ address: token, abi: testTokenAbi, functionName: "approve", args: [d.hubAddress, debt.amount], gas: 100_000n, maxPriorityFeePerGas: 50_000_000_000n, maxFeePerGas: 100_000_000_000n });
        await wallet.writeContract({ address: d.hubAddress, abi: hubAbi, functionName: "repay", args: [debt.assetId, debt.amount, account as Address], gas: 400_000n, maxPriorityFeePerGas: 50_000_000_000n, maxFeePerGas: 100_000_000_000n });
      }
    }
    await hubRpc(s, "evm_mine");
    // The restarted process reads the mined batch and dies before applying a single order.
    const second = relayProcess(s, schema, "batch:mined");
    expect(await Promise.race([second.exited, new Promise((r) => setTimeout(() => r("timeout"), 90_000))]), second.output().slice(-2000)).toBe("SIGKILL");
    const [tx] = await db.query<{ hash: `0x${string}` }>(`SELECT hash FROM transactions WHERE step = $1 AND status = 'mined'`, [step]);
    const receipt = await d.hubClients.public.getTransactionReceipt({ hash: tx!.hash });
    const failed = parseEventLogs({ abi: salvageExecutorAbi, logs: receipt.logs, eventName: "Failed" }).map((e) => e.args.account.toLowerCase());
    expect(failed.sort()).toEqual([...repaid].sort());

    await hubRpc(s, "evm_setAutomine", [true]);
    s.net.deliverer.start();
    const final = relayProcess(s, schema, "");
    await until("every recovery closed and no account liquidatable", async () => {
      const open = (await store.list()).filter((r) => !["seized", "abandoned", "skipped"].includes(r.state));
      return open.length === 0 && (await liquidatableNow(s)).length === 0 ? true : undefined;
    }, 180_000);
    void final;
    const recoveries = await store.list();
    for (const account of repaid) {
      const r = recoveries.find((x) => x.id === batch.find((b) => b.account.toLowerCase() === account)!.id)!;
      expect(r.state).toBe("abandoned");
      expect(r.reason).toMatch(/^take failed in batch .*: AccountHealthy\(/);
    }
    // Exactly once: no account taken twice in one auction round, every take seized once, repaid accounts never taken.
    const { takes, seizures } = await onchainLiquidations(s);
    for (const t of takes) expect(repaid).not.toContain(t.args.account!.toLowerCase());
    const takeIds = takes.map((t) => t.args.takeId!).sort();
    expect(recoveries.filter((r) => r.state === "seized").map((r) => r.takeId).sort()).toEqual(takeIds);
    expect(seizures.map((e) => e.args.takeId).sort()).toEqual(takeIds);
    const signed = await db.query<{ n: string }>(`SELECT count(DISTINCT nonce) AS n FROM transactions WHERE step = $1`, [step]);
    expect(Number(signed[0]!.n)).toBe(1);
  }, 600_000);

  it("kicks an expired auction again, takes at the chain's auction parameters, and never kicks dust", async () => {
    const s = await scenario(25);
    const d = s.net.deployment;
    const hub = d.hubClients;
    const [victim, ...others] = await liquidatableNow(s);
    // An auction kicked by someone else long ago, past its tail: the relayer's kick ends it and opens a new one.
    await write(hub.wallet(devnetAccounts.deployer), hub.public, { address: d.hubAddress, abi: hubAbi, functionName: "kick", args: [victim!] });
    const tail = d.manifest.auction.auctionTail;
    await s.net.advanceTime(Number(tail) + 10);
    // The owner changes the bonus curve on chain; the manifest still has the old one.
    const params = { ...d.manifest.auction, minBonus: 30_000_000_000_000_000n };
    await write(hub.wallet(devnetAccounts.deployer), hub.public, {
      address: d.hubAddress, abi: hubAbi, functionName: "setAuctionParams",
      args: [{ closeFactor: params.closeFactor, minBonus: params.minBonus, maxBonus: params.maxBonus, auctionDuration: Number(params.auctionDuration), auctionTail: Number(params.auctionTail) }],
    });
    // First a relayer whose minimum profit no take can reach: it must not kick anything.
    const greedy = await createRelayer({ manifest: d.manifest, database: { memory: true }, keys: { taker: DEVNET_KEYS.liquidator }, deliver: false, policy: { minProfitUsd: "100000000" } });
    cleanup.push(() => greedy.close());
    for (let i = 0; i < 4; i++) await greedy.tick();
    expect((await onchainLiquidations(s)).kicks.map((k) => k.args.account)).toEqual([victim]);
    const waiting = await greedy.store.list();
    expect(waiting.length).toBe(others.length + 1);
    for (const r of waiting) expect(r.state === "detected" && /^not kicked: profit/.test(r.reason ?? ""), `${r.state} ${r.reason}`).toBe(true);
    await greedy.close();

    const relayer = await createRelayer({ manifest: d.manifest, database: { memory: true }, keys: { taker: DEVNET_KEYS.liquidator }, deliver: false, policy: { minProfitUsd: PROTOCOL_KEEPER_MIN_PROFIT } });
    cleanup.push(() => relayer.close());
    const taken = await until("the victim taken", async () => {
      await relayer.tick();
      return (await relayer.store.list()).find((r) => r.account === victim!.toLowerCase() && r.state === "taken");
    });
    const kicks = (await onchainLiquidations(s)).kicks.filter((k) => k.args.account === victim);
    expect(kicks.length).toBe(2);
    expect(taken.auctionId).toBe(kicks[1]!.args.auctionId);
    // Kicked and taken in one transaction: the bonus is the chain's minBonus, not the manifest's.
    expect(taken.bonus).toBe(params.minBonus);
    const transitions = await relayer.store.transitions(taken.id);
    expect(transitions.map((t) => t.to)).toEqual(["taking", "taken"]);
  }, 300_000);

  it("does not re-detect an account skipped for lack of inventory, and stores a reason holding a NUL byte", async () => {
    const s = await scenario(26, 20);
    const d = s.net.deployment;
    const liquidatable = await liquidatableNow(s);
    expect(liquidatable.length).toBeGreaterThan(0);
    // The deployer holds no debt tokens on the hub.
    for (const a of d.debtAssets) {
      expect(await d.hubClients.public.readContract({ address: d.hub.tokens[String(a.id)]!, abi: testTokenAbi, functionName: "balanceOf", args: [devnetAccounts.deployer.address] })).toBe(0n);
    }
    const relayer = await createRelayer({ manifest: d.manifest, database: { memory: true }, keys: { taker: DEVNET_KEYS.deployer }, deliver: false, policy: { minProfitUsd: PROTOCOL_KEEPER_MIN_PROFIT } });
    cleanup.push(() => relayer.close());
    for (let i = 0; i < 6; i++) await relayer.tick();
    const all = await relayer.store.list();
    expect(all.length).toBe(liquidatable.length);
    for (const r of all) expect(r.state).toBe("skipped");

    const [r] = all;
    const reason = "SeizeBelowMinimum\u0000(1, 2)";
    const opened = await relayer.store.db.query<{ id: number }>(`INSERT INTO recoveries (hub_chain_id, account, state, locked_by, lease_until) VALUES ($1, $2, 'detected', 'w', now() + interval '1 minute') RETURNING id`, [d.hub.chainId, "0x00000000000000000000000000000000000000aa"]);
    const fresh = (await relayer.store.get(Number(opened[0]!.id)))!;
    const moved = await relayer.store.transition(fresh, "abandoned", "w", { reason }, reason);
    expect(moved.reason).toBe("SeizeBelowMinimum\\0(1, 2)");
    expect(r!.account).toBeTruthy();
  }, 300_000);
});

describe("settlement", () => {
  it("marks a take stalled when its SEIZE reverts on the spoke (LzReceiveAlert), and seized once a retry delivers it", async () => {
    const s = await scenario(27, 20);
    const d = s.net.deployment;
    const relayer = await createRelayer({ manifest: d.manifest, database: { memory: true }, keys: { taker: DEVNET_KEYS.liquidator }, deliver: false, policy: { minProfitUsd: PROTOCOL_KEEPER_MIN_PROFIT } });
    cleanup.push(() => relayer.close());
    const taken = await until("takes in flight", async () => {
      await relayer.tick();
      const list = (await relayer.store.list()).filter((r) => r.state === "taken");
      return list.length > 0 ? list : undefined;
    });
    // An executor that gives lzReceive too little gas, and gives up after one attempt: every SEIZE reverts.
    const starved = new PacketDeliverer({
      chains: deliveryChains(d.manifest), verifier: devnetAccounts.relayer, executor: devnetAccounts.relayer,
      lzReceiveGas: 40_000n, maxAttempts: 1, lockDir: mkdtempSync(join(tmpdir(), "salvage-lock-")),
    });
    await starved.scan();
    await starved.deliverDue();
    expect(starved.list().filter((p) => p.status === "failed").length).toBeGreaterThanOrEqual(taken.length);
    const stalled = await until("the takes stalled", async () => {
      await relayer.tick();
      const list = (await relayer.store.list()).filter((r) => taken.some((t) => t.id === r.id) && r.state === "stalled");
      return list.length === taken.length ? list : undefined;
    });
    for (const r of stalled) expect(r.reason).toMatch(/^lzReceive reverted: LzReceiveOutOfGas\(/);
    expect(await relayer.metrics.registry.getSingleMetricAsString("salvage_delivery_alerts_total")).toMatch(new RegExp(`salvage_delivery_alerts_total ${taken.length}$`, "m"));
    // A working executor delivers them: stalled → seized, once.
    await s.net.deliverer.drain(60_000);
    await until("the stalled takes seized", async () => {
      await relayer.tick();
      const list = (await relayer.store.list()).filter((r) => taken.some((t) => t.id === r.id));
      return list.every((r) => r.state === "seized") ? true : undefined;
    });
    const { seizures } = await onchainLiquidations(s);
    for (const r of taken) expect(seizures.filter((e) => e.args.takeId === r.takeId).length).toBe(1);
  }, 300_000);

  it("leaves out only the accounts whose reads fail, and recovers the rest", async () => {
    const s = await scenario(28);
    const d = s.net.deployment;
    const liquidatable = await liquidatableNow(s);
    // A price feed that reverts (paused, or replaced by a broken deployment) makes the hub's healthFactor revert
    // for every holder of that asset; nobody else's reads depend on it.
    const asset = d.collateralAssets[0]!;
    const holds = async (a: Address) => (await d.positions(a)).collateral.some((p) => p.assetId === asset.id && p.amount > 0n);
    const broken = new Set<string>();
    for (const a of s.borrowers) if (await holds(a)) broken.add(a.toLowerCase());
    const readable = liquidatable.map((a) => a.toLowerCase()).filter((a) => !broken.has(a));
    expect(readable.length).toBeGreaterThan(0);
    expect(readable.length).toBeLessThan(liquidatable.length);
    await hubRpc(s, "anvil_setCode", [d.feed(asset.id), "0x60006000fd"]); // PUSH1 0 PUSH1 0 REVERT
    const relayer = await createRelayer({ manifest: d.manifest, database: { memory: true }, keys: { taker: DEVNET_KEYS.liquidator }, deliver: false, policy: { minProfitUsd: PROTOCOL_KEEPER_MIN_PROFIT } });
    cleanup.push(() => relayer.close());
    await relayer.store.detectMany(d.hub.chainId, liquidatable);
    await until("every readable account taken", async () => {
      await relayer.tick();
      const list = await relayer.store.list();
      return readable.every((a) => list.some((r) => r.account === a && r.state === "taken")) ? true : undefined;
    });
    for (const r of (await relayer.store.list()).filter((x) => broken.has(x.account))) {
      expect(r.state).toBe("detected");
      // Its price cannot be read: the account waits, and says for which asset.
      expect(r.reason).toMatch(new RegExp(`^waits for a usable price: asset ${asset.id}: `));
    }
  }, 300_000);
});

describe("relayer config", () => {
  it("keeps state durably unless told to keep it in memory", () => {
    const base = { manifest: "no-such-manifest.json", keys: { taker: DEVNET_KEYS.liquidator } };
    // Checked before the manifest is read: the old default (PGlite in memory) lost every recovery on restart.
    expect(() => parseRelayerConfig(base)).toThrow(/database: give url \(PostgreSQL\) or pgliteDir/);
    expect(() => parseRelayerConfig({ ...base, database: { memory: true } })).toThrow(/no-such-manifest/);
    expect(() => parseRelayerConfig({ ...base, database: { pgliteDir: "/tmp/x" } })).toThrow(/no-such-manifest/);
  });
});
