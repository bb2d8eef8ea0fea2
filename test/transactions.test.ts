/**
 * TxManager against a real anvil and a real PostgreSQL: stuck transactions are re-signed at higher fees
 * on the same nonce, a transaction the node lost is resent from the stored bytes, and two managers of one
 * key (two relayer processes) never hand out the same nonce.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type Hex, encodeFunctionData, keccak256, parseGwei } from "viem";
import { testTokenAbi, testTokenBytecode } from "../abis/index.js";
import { type AnvilInstance, startAnvil } from "../src/chains/anvil.js";
import { type ChainClients, createChainClients } from "../src/chains/clients.js";
import { deployContract } from "../src/chains/tx.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
import { type Database, openDatabase } from "../src/recovery/db.js";
import { LeaseLostError, RecoveryStore } from "../src/recovery/store.js";
import { AlreadySubmittedError, TxManager } from "../src/recovery/transactions.js";
import { TEST_DATABASE_URL } from "./helpers/scenario.js";

const CHAIN_ID = 31_499;
let anvil: AnvilInstance;
let clients: ChainClients;
let db: Database;
let token: `0x${string}`;
const schema = `txm_${process.pid}_${Date.now() % 1_000_000}`;
const rpc = (method: string, params: unknown[] = []) => clients.public.request({ method, params } as never);
const mintCall = (amount: bigint) => ({ to: token, data: encodeFunctionData({ abi: testTokenAbi, functionName: "mint", args: [devnetAccounts.liquidator.address, amount] }), gas: 100_000n });

beforeAll(async () => {
  anvil = await startAnvil({ chainId: CHAIN_ID });
  clients = createChainClients({ chainId: CHAIN_ID, rpcUrl: anvil.rpcUrl });
  db = await openDatabase({ databaseUrl: TEST_DATABASE_URL, schema });
  // The token's owner is the liquidator key, so the manager's mints succeed.
  token = await deployContract(clients.wallet(devnetAccounts.liquidator), clients.public, { name: "TestToken", abi: testTokenAbi, bytecode: testTokenBytecode }, [devnetAccounts.liquidator.address, "T", "T", 18]);
});

afterAll(async () => {
  await db?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
  await db?.close();
  await anvil?.stop();
});

describe("TxManager", () => {
  it("re-signs a stuck transaction with higher fees on the same nonce until one is mined", async () => {
    await rpc("evm_setAutomine", [false]);
    try {
      const manager = new TxManager(db, CHAIN_ID, clients, devnetAccounts.liquidator, { bumpAfterMs: 150, pollMs: 50, priorityFeeWei: 1n });
      const first = await manager.submit(null, "bump-test", mintCall(1n));
      expect(first.maxFeePerGas < parseGwei("50")).toBe(true);
      // From now on blocks demand a base fee far above the first attempt's max fee: it sits in the pool, stuck.
      let confirmed = false;
      const mining = (async () => {
        for (let i = 0; i < 100 && !confirmed; i++) {
          await new Promise((r) => setTimeout(r, 100));
          await rpc("anvil_setNextBlockBaseFeePerGas", [`0x${parseGwei("50").toString(16)}`]);
          await rpc("evm_mine");
        }
      })();
      const { receipt, row } = await manager.confirm(null, "bump-test", 20_000);
      confirmed = true;
      expect(receipt.status).toBe("success");
      const attempts = await manager.attempts(null, "bump-test");
      expect(attempts.length).toBeGreaterThan(1);
      expect(new Set(attempts.map((a) => a.nonce))).toEqual(new Set([first.nonce]));
      expect(row.hash).toBe(attempts.find((a) => a.hash === receipt.transactionHash)!.hash);
      for (let i = 1; i < attempts.length; i++) expect(attempts[i]!.maxFeePerGas > attempts[i - 1]!.maxFeePerGas).toBe(true);
      expect(row.maxFeePerGas >= parseGwei("50")).toBe(true);
      await mining;
    } finally {
      await rpc("evm_setAutomine", [true]);
    }
  });

  it("bumps at once, not after bumpAfterMs, when the base fee has risen past what the pending attempt offers", async () => {
    await rpc("evm_setAutomine", [false]);
    try {
      const manager = new TxManager(db, CHAIN_ID, clients, devnetAccounts.liquidator, { bumpAfterMs: 3_600_000, pollMs: 50, priorityFeeWei: 1n, rebroadcastMs: 3_600_000 });
      const first = await manager.submit(null, "underpriced-test", mintCall(1n));
      // Still priced above the head's base fee: a poll leaves it alone (bumpAfterMs is an hour away).
      expect(await manager.poll(null, "underpriced-test")).toBeUndefined();
      expect(await manager.attempts(null, "underpriced-test")).toHaveLength(1);
      // A full block's worth of base-fee rise, past its max fee: mined empty blocks, the transaction sits in the pool.
      const risen = first.maxFeePerGas * 2n;
      await rpc("anvil_setNextBlockBaseFeePerGas", [`0x${risen.toString(16)}`]);
      await rpc("evm_mine");
      expect((await clients.public.getBlock()).baseFeePerGas).toBe(risen);
      await new Promise((r) => setTimeout(r, 300)); // past the manager's base-fee read cache
      expect(await manager.poll(null, "underpriced-test")).toBeUndefined();
      const attempts = await manager.attempts(null, "underpriced-test");
      expect(attempts).toHaveLength(2);
      expect(attempts[1]!.nonce).toBe(first.nonce);
      expect(attempts[1]!.maxFeePerGas >= risen).toBe(true);
      await rpc("anvil_setNextBlockBaseFeePerGas", [`0x${risen.toString(16)}`]);
      await rpc("evm_mine");
      const mined = await manager.poll(null, "underpriced-test");
      expect(mined?.row.hash).toBe(attempts[1]!.hash);
    } finally {
      await rpc("evm_setAutomine", [true]);
    }
  });

  it("resends the stored bytes of a transaction the node dropped, after a restart", async () => {
    await rpc("evm_setAutomine", [false]);
    let hash: `0x${string}`;
    try {
      const before = new TxManager(db, CHAIN_ID, clients, devnetAccounts.liquidator);
      ({ hash } = await before.submit(null, "drop-test", mintCall(2n)));
      await rpc("anvil_dropTransaction", [hash]);
      expect(await clients.public.getTransaction({ hash }).catch(() => undefined)).toBeUndefined();
    } finally {
      await rpc("evm_setAutomine", [true]);
    }
    // A new manager, as after a process restart: it finds the stored attempt and resends it.
    const after = new TxManager(db, CHAIN_ID, clients, devnetAccounts.liquidator);
    const { receipt } = await after.confirm(null, "drop-test", 10_000);
    expect(receipt.transactionHash).toBe(hash);
    expect(await after.attempts(null, "drop-test")).toHaveLength(1);
  });

  it("resends at once, not after rebroadcastMs, an attempt the node no longer holds (every later nonce waits behind it)", async () => {
    await rpc("evm_setAutomine", [false]);
    try {
      const manager = new TxManager(db, CHAIN_ID, clients, devnetAccounts.liquidator, { rebroadcastMs: 3_600_000, bumpAfterMs: 3_600_000 });
      const first = await manager.submit(null, "missing-test", mintCall(5n));
      const second = await manager.submit(null, "behind-test", mintCall(6n));
      expect(second.nonce).toBe(first.nonce + 1n);
      await rpc("anvil_dropTransaction", [first.hash]);
      await new Promise((r) => setTimeout(r, 300)); // past the manager's pending-nonce read cache
      // The node still holds the later nonce, so polling it resends nothing; the dropped one is resent now.
      expect(await manager.poll(null, "behind-test")).toBeUndefined();
      expect(await clients.public.getTransaction({ hash: first.hash }).catch(() => undefined)).toBeUndefined();
      expect(await manager.poll(null, "missing-test")).toBeUndefined();
      expect((await clients.public.getTransaction({ hash: first.hash })).nonce).toBe(Number(first.nonce));
      await rpc("evm_mine");
      expect((await manager.poll(null, "missing-test"))?.row.hash).toBe(first.hash);
      expect((await manager.poll(null, "behind-test"))?.row.hash).toBe(second.hash);
    } finally {
      await rpc("evm_setAutomine", [true]);
    }
  });

  it("re-signs an attempt the node takes but never makes ready (its pending nonce stays at the attempt's)", async () => {
    // A node that answers eth_sendRawTransaction for one transaction's bytes and keeps nothing: a JSON-RPC proxy in
    // front of anvil (anvil did this to a batch in the crash benchmark, but not on demand).
    const swallowed = new Set<string>();
    const proxy = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", async () => {
        const call = JSON.parse(body) as { id: number; method: string; params: unknown[] };
        if (call.method === "eth_sendRawTransaction" && swallowed.has(String(call.params[0]))) {
          res.setHeader("content-type", "application/json").end(JSON.stringify({ jsonrpc: "2.0", id: call.id, result: keccak256(call.params[0] as Hex) }));
          return;
        }
        const upstream = await fetch(anvil.rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body });
        res.setHeader("content-type", "application/json").end(await upstream.text());
      });
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const viaProxy = createChainClients({ chainId: CHAIN_ID, rpcUrl: url });
      const manager = new TxManager(db, CHAIN_ID, viaProxy, devnetAccounts.liquidator, { stuckAtNonceMs: 1_000, rebroadcastMs: 3_600_000, bumpAfterMs: 3_600_000 });
      await rpc("evm_setAutomine", [false]);
      const nonce = BigInt(await clients.public.getTransactionCount({ address: devnetAccounts.liquidator.address, blockTag: "pending" }));
      // Stored and sent, then lost by the node, whose proxy swallows these bytes from now on.
      const first = await manager.submit(null, "swallowed-test", mintCall(7n));
      expect(first.nonce).toBe(nonce);
      await rpc("anvil_dropTransaction", [first.hash]);
      swallowed.add(first.raw);
      await new Promise((r) => setTimeout(r, 300));
      expect(await manager.poll(null, "swallowed-test")).toBeUndefined();
      expect(await manager.attempts(null, "swallowed-test")).toHaveLength(1); // resent (swallowed), not re-signed yet
      await new Promise((r) => setTimeout(r, 800));
      expect(await manager.poll(null, "swallowed-test")).toBeUndefined();
      const attempts = await manager.attempts(null, "swallowed-test");
      expect(attempts).toHaveLength(2);
      expect(attempts[1]!.nonce).toBe(first.nonce);
      await rpc("evm_mine");
      expect((await manager.poll(null, "swallowed-test"))?.row.hash).toBe(attempts[1]!.hash);
    } finally {
      await rpc("evm_setAutomine", [true]);
      await new Promise((r) => proxy.close(r));
    }
  });

  it("signs a recovery's step only for the lease holder, and only once", async () => {
    const store = new RecoveryStore(db);
    const account = "0x00000000000000000000000000000000000a11ce";
    expect(await store.detectMany(CHAIN_ID, [account])).toEqual([account]);
    const [claimed] = await store.claimMany("worker-a", 60_000, 1);
    expect(claimed?.account).toBe(account);
    const manager = new TxManager(db, CHAIN_ID, clients, devnetAccounts.liquidator);
    await expect(manager.submit(claimed!.id, "take:0", mintCall(4n), "worker-b")).rejects.toBeInstanceOf(LeaseLostError);
    await manager.submit(claimed!.id, "take:0", mintCall(4n), "worker-a");
    await expect(manager.submit(claimed!.id, "take:0", mintCall(4n), "worker-a")).rejects.toBeInstanceOf(AlreadySubmittedError);
    expect(await manager.attempts(claimed!.id, "take:0")).toHaveLength(1);
    expect((await manager.confirm(claimed!.id, "take:0", 10_000)).receipt.status).toBe("success");
  });

  it("gives two managers of one key distinct, gapless nonces", async () => {
    const a = new TxManager(db, CHAIN_ID, clients, devnetAccounts.liquidator);
    const b = new TxManager(db, CHAIN_ID, clients, devnetAccounts.liquidator);
    const start = await clients.public.getTransactionCount({ address: devnetAccounts.liquidator.address });
    const rows = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).submit(null, `nonce-${i}`, mintCall(3n))));
    const nonces = rows.map((r) => Number(r.nonce)).sort((x, y) => x - y);
    expect(nonces).toEqual(Array.from({ length: 10 }, (_, i) => start + i));
    for (let i = 0; i < 10; i++) expect((await (i % 2 ? a : b).confirm(null, `nonce-${i}`, 10_000)).receipt.status).toBe("success");
  });
});

describe("RecoveryStore.transitionMany", () => {
  it("moves a batch in one transaction with its fields, records each transition, and leaves out only a recovery whose lease is gone", async () => {
    const store = new RecoveryStore(db);
    const accounts = ["0x00000000000000000000000000000000000b0001", "0x00000000000000000000000000000000000b0002", "0x00000000000000000000000000000000000b0003"] as const;
    expect(await store.detectMany(CHAIN_ID, [...accounts])).toEqual([...accounts]);
    const claimed = (await store.claimMany("worker-m", 60_000, 10)).filter((r) => (accounts as readonly string[]).includes(r.account));
    expect(claimed).toHaveLength(3);
    // The third one's lease passes to another worker.
    await db.query(`UPDATE recoveries SET locked_by = 'worker-other' WHERE id = $1`, [claimed[2]!.id]);
    const moved = await store.transitionMany(
      claimed.map((r, i) => ({ recovery: r, to: "taking", patch: { maxRepay: 10n ** 30n + BigInt(i), debtAsset: 2, bonus: undefined, reason: `nul\u0000${i}` }, detail: `order ${i}` })),
      "worker-m",
    );
    expect(moved.map((r) => r.id)).toEqual([claimed[0]!.id, claimed[1]!.id]);
    expect(moved.map((r) => [r.state, r.maxRepay, r.debtAsset, r.bonus])).toEqual([
      ["taking", 10n ** 30n, 2, undefined],
      ["taking", 10n ** 30n + 1n, 2, undefined],
    ]);
    expect((await store.get(claimed[2]!.id))?.state).toBe("detected");
    expect(await store.transitions(claimed[0]!.id)).toEqual([{ from: "detected", to: "taking", worker: "worker-m", detail: "order 0" }]);
    expect(await store.transitions(claimed[2]!.id)).toEqual([]);
  });
});
