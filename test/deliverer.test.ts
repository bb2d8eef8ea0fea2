/**
 * The LayerZero packet deliverer on real anvil chains with LayerZero's real EndpointV2 and
 * SimpleMessageLib and the real hub and spokes: pipelined delivery, lzReceiveAlert and gas retries,
 * the bound on attempts, confirmations per source chain, and one deliverer per (chain, verifier) on the machine.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Address, type Hex, getAbiItem, parseUnits } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endpointV2Abi, hubAbi, spokeAbi, testTokenAbi } from "../abis/index.js";
import { write } from "../src/chains/tx.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
import { createDevnetDeliverer } from "../src/devnet/network.js";
import { Rng } from "../src/devnet/rng.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { lzReceiveAlerts } from "../src/layerzero/alerts.js";
import { DeliveryLock } from "../src/layerzero/lock.js";
import { type DelivererOptions, type DeliveryEvent, PacketDeliverer } from "../src/layerzero/deliverer.js";
import { borrow, deposit, mint, quoteHubMessage, requestWithdraw } from "../src/protocol/actions.js";
import { fundLiquidator, openPosition } from "./helpers/bad-debt.js";
import { type TestNetwork, startTestNetwork } from "./helpers/network.js";
import { refreshPrices, staleExcept } from "./helpers/prices.js";

const WETH = 10;
const weth = (n: string) => parseUnits(n, 18);
const packetDelivered = getAbiItem({ abi: endpointV2Abi, name: "PacketDelivered" });

let net: TestNetwork;
let hub: Address;
let spoke1: { name: string; eid: number; spoke: Address; weth: Address };
const deliverers: PacketDeliverer[] = [];

function deliverer(options: Partial<Omit<DelivererOptions, "chains" | "verifier" | "executor">> & { events?: DeliveryEvent[] } = {}): PacketDeliverer {
  const { events, ...rest } = options;
  const d = createDevnetDeliverer(net.network.manifest, { retryBaseMs: 20, retryMaxMs: 200, pollIntervalMs: 50, onEvent: (e) => events?.push({ ...e, packet: { ...e.packet } }), ...rest });
  deliverers.push(d);
  return d;
}

const hubCollateral = (account: Address) =>
  net.deployment.hubClients.public.readContract({ address: hub, abi: hubAbi, functionName: "collateral", args: [account, spoke1.eid, WETH] });

const rpc = (chain: "hub" | "spoke1", method: string, params: unknown[] = []) =>
  net.deployment.clients(chain).public.request({ method, params } as never);

/** `count` funded accounts with `amount` WETH on spoke 1, approved to the spoke. */
async function depositors(count: number, amount: bigint): Promise<Address[]> {
  const accounts: Address[] = [];
  const { public: reader, wallet } = net.deployment.clients(spoke1.name);
  for (let i = 0; i < count; i++) {
    const account = await net.newAccount();
    await mint(net.deployment, spoke1.name, spoke1.weth, account, amount);
    await write(wallet(account), reader, { address: spoke1.weth, abi: testTokenAbi, functionName: "approve", args: [spoke1.spoke, amount] });
    accounts.push(account);
  }
  return accounts;
}

/** Every account deposits `amount` on spoke 1 in one block: as many packets leave the spoke at once. */
async function depositInOneBlock(accounts: Address[], amount: bigint): Promise<bigint> {
  const { public: reader, wallet } = net.deployment.clients(spoke1.name);
  const fee = await quoteHubMessage(net.deployment, spoke1.name);
  await rpc("spoke1", "evm_setAutomine", [false]);
  try {
    const hashes = await Promise.all(
      accounts.map((account) =>
        wallet(account).writeContract({ address: spoke1.spoke, abi: spokeAbi, functionName: "deposit", args: [WETH, amount], value: fee, gas: 400_000n }),
      ),
    );
    await rpc("spoke1", "evm_mine");
    const receipts = await Promise.all(hashes.map((hash) => reader.getTransactionReceipt({ hash })));
    expect(receipts.every((r) => r.status === "success")).toBe(true);
    expect(new Set(receipts.map((r) => r.blockNumber)).size).toBe(1);
    return receipts[0]!.blockNumber;
  } finally {
    await rpc("spoke1", "evm_setAutomine", [true]);
  }
}

async function deliveredCount(guid: Hex, fromBlock = 0n): Promise<number> {
  const logs = await net.deployment.hubClients.public.getLogs({ address: net.deployment.hub.contracts.endpoint, event: packetDelivered, fromBlock });
  // PacketDelivered carries the origin, not the guid: match by (srcEid, sender, nonce).
  const p = [...deliverers, net.deliverer].map((d) => d.get(guid)).find(Boolean)!;
  return logs.filter((l) => l.args.origin!.srcEid === p.srcEid && l.args.origin!.sender === p.sender && l.args.origin!.nonce === p.nonce).length;
}

async function until(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  net = await startTestNetwork(2);
  hub = net.deployment.hubAddress;
  const s = net.deployment.spokes[0]!;
  spoke1 = { name: s.name, eid: s.eid, spoke: s.contracts.spoke!, weth: s.tokens[String(WETH)]! };
});

afterAll(async () => {
  for (const d of deliverers) await d.stop();
  await net?.stop();
});

describe("pipelined delivery", () => {
  it("delivers 30 packets sent in one block exactly once, their lzReceives in few hub blocks", async () => {
    const amount = weth("1");
    const accounts = await depositors(30, amount);
    await depositInOneBlock(accounts, amount);

    // The hub mines a block a second: serial delivery (verify, receipt, lzReceive, receipt) would need 60 blocks.
    await rpc("hub", "evm_setAutomine", [false]);
    await rpc("hub", "evm_setIntervalMining", [1]);
    const events: DeliveryEvent[] = [];
    const d = deliverer({ events });
    try {
      await d.drain(120_000);
    } finally {
      await rpc("hub", "evm_setIntervalMining", [0]);
      await rpc("hub", "evm_setAutomine", [true]);
    }

    const packets = d.list().filter((p) => p.srcEid === spoke1.eid);
    expect(packets).toHaveLength(30);
    expect(packets.every((p) => p.status === "delivered" && p.deliverTx && p.verifyTx && p.attempts === 0)).toBe(true);
    expect(events.filter((e) => e.type === "failed")).toHaveLength(0);
    for (const account of accounts) expect(await hubCollateral(account)).toBe(amount);
    for (const p of packets) expect(await deliveredCount(p.guid)).toBe(1);

    const reader = net.deployment.hubClients.public;
    const receipts = await Promise.all(packets.map((p) => reader.getTransactionReceipt({ hash: p.deliverTx! })));
    const verifies = await Promise.all(packets.map((p) => reader.getTransactionReceipt({ hash: p.verifyTx! })));
    expect(new Set(receipts.map((r) => r.blockNumber)).size).toBeLessThanOrEqual(2);
    expect(new Set([...receipts, ...verifies].map((r) => r.blockNumber)).size).toBeLessThanOrEqual(2);
    // Nonce order per path: each packet's lzReceive comes after its verify and after the previous nonce's lzReceive.
    const sorted = packets.map((p, i) => ({ p, r: receipts[i]!, v: verifies[i]! })).sort((a, b) => Number(a.p.nonce - b.p.nonce));
    const before = (x: { blockNumber: bigint; transactionIndex: number }, y: { blockNumber: bigint; transactionIndex: number }) =>
      x.blockNumber < y.blockNumber || (x.blockNumber === y.blockNumber && x.transactionIndex < y.transactionIndex);
    for (const [i, { r, v }] of sorted.entries()) {
      expect(before(v, r)).toBe(true);
      if (i > 0) expect(before(sorted[i - 1]!.r, r)).toBe(true);
    }
    await d.stop();
  });
});

describe("rounds in flight", () => {
  it("sends packets that arrive while a round awaits its receipts, without waiting for them; later ones get the learned gas", async () => {
    const amount = weth("1");
    const [a, b, c] = [await depositors(10, amount), await depositors(10, amount), await depositors(10, amount)];
    const pool = async () => {
      const status = (await rpc("hub", "txpool_status")) as { pending: Hex; queued: Hex };
      return Number(BigInt(status.pending) + BigInt(status.queued));
    };
    const from = await net.deployment.clients(spoke1.name).public.getBlockNumber();
    const ours = () => d.list().filter((p) => p.srcEid === spoke1.eid && p.sentBlock > from);
    const d = deliverer({});
    // Earlier tests' packets are delivered already: this deliverer marks them so from the endpoint, sending nothing.
    await d.deliverDue();
    await rpc("hub", "evm_setAutomine", [false]);
    try {
      d.start();
      // Round one: 10 verifies + 10 lzReceives, broadcast and left unmined.
      await depositInOneBlock(a, amount);
      await until(async () => (await pool()) === 20, "the first round in the hub's pool");
      // Round two starts while round one's receipts are still pending: nothing has been mined on the hub.
      await depositInOneBlock(b, amount);
      await until(async () => (await pool()) === 40, "the second round in the hub's pool beside the first");
      await rpc("hub", "evm_mine");
      await until(() => ours().filter((p) => p.status === "delivered").length >= 20, "the first two rounds delivered");
      // Round three: its lzReceives get 1.5 × the most gas a deposit's lzReceive used + 10,000, not the 300,000 ceiling.
      await depositInOneBlock(c, amount);
      await until(async () => (await pool()) === 20, "the third round in the hub's pool");
      await rpc("hub", "evm_mine");
      await until(() => ours().filter((p) => p.status === "delivered").length >= 30, "the third round delivered");
    } finally {
      await rpc("hub", "evm_setAutomine", [true]);
      await d.stop();
    }
    const reader = net.deployment.hubClients.public;
    const packets = ours().sort((x, y) => Number(x.nonce - y.nonce));
    expect(packets.map((p) => p.status)).toEqual(new Array(30).fill("delivered"));
    for (const p of packets) expect(await deliveredCount(p.guid)).toBe(1);
    const receipts = await Promise.all(packets.map((p) => reader.getTransactionReceipt({ hash: p.deliverTx! })));
    const txs = await Promise.all(packets.map((p) => reader.getTransaction({ hash: p.deliverTx! })));
    // The first two rounds in one hub block.
    expect(new Set(receipts.slice(0, 20).map((r) => r.blockNumber)).size).toBe(1);
    expect(txs.slice(0, 20).every((t) => t.gas === 300_000n)).toBe(true);
    const most = receipts.slice(0, 20).reduce((m, r) => (r.gasUsed > m ? r.gasUsed : m), 0n);
    expect(txs.slice(20).every((t) => t.gas === (most * 3n) / 2n + 10_000n)).toBe(true);
    expect(receipts.slice(20).every((r) => r.status === "success" && r.gasUsed < (most * 3n) / 2n)).toBe(true);
  });
});

describe("confirmations", () => {
  it("verifies a packet only once its source block has 3 confirmations, then exactly once; another source chain's packets do not wait", async () => {
    // spoke1 waits 3 blocks (its lzConfirmations); spoke2 none. Both spokes automine: only we mine spoke1's blocks.
    const manifest = { ...net.network.manifest, chains: net.network.manifest.chains.map((c) => ({ ...c, lzConfirmations: c.name === spoke1.name ? 3 : 0 })) };
    const spoke2 = net.deployment.spokes[1]!;
    let mined = 0;
    const verifiedAt = new Map<Hex, number>();
    const events: DeliveryEvent[] = [];
    const d = createDevnetDeliverer(manifest, {
      pollIntervalMs: 50,
      retryBaseMs: 20,
      onEvent: (e) => {
        events.push({ ...e, packet: { ...e.packet } });
        if (e.type === "verified") verifiedAt.set(e.packet.guid, mined);
      },
    });
    deliverers.push(d);
    // Earlier tests' packets: confirmed once spoke1 has 3 more blocks, and found delivered on the endpoint.
    await rpc("spoke1", "anvil_mine", ["0x3"]);
    await d.drain();

    const [a] = await depositors(1, weth("1"));
    const b = await net.newAccount();
    await mint(net.deployment, spoke2.name, spoke2.tokens[String(WETH)]!, b, weth("1"));
    const sent = await deposit(net.deployment, spoke1.name, a!, WETH, weth("1"));
    d.start();
    try {
      await deposit(net.deployment, spoke2.name, b, WETH, weth("1"));
      const ofA = () => d.list().find((p) => p.srcEid === spoke1.eid && p.sentBlock === sent.blockNumber);
      // The other path is delivered while spoke1's packet waits for its confirmations.
      await until(async () => (await net.deployment.hubClients.public.readContract({ address: hub, abi: hubAbi, functionName: "collateral", args: [b, spoke2.eid, WETH] })) === weth("1"), "spoke2's deposit delivered");
      expect(ofA()?.status).toBe("sent");
      for (mined = 1; mined <= 2; mined++) {
        await rpc("spoke1", "anvil_mine", ["0x1"]);
        // Many polls (50 ms each) with the source head at sentBlock + 1, then + 2: never verified.
        await new Promise((r) => setTimeout(r, 600));
        expect(ofA()?.status, `after ${mined} confirmation(s)`).toBe("sent");
        expect(await hubCollateral(a!)).toBe(0n);
      }
      mined = 3;
      await rpc("spoke1", "anvil_mine", ["0x1"]);
      await until(() => ofA()?.status === "delivered", "spoke1's deposit delivered after 3 confirmations");
    } finally {
      await d.stop();
    }
    const p = d.list().find((x) => x.srcEid === spoke1.eid && x.sentBlock === sent.blockNumber)!;
    expect(verifiedAt.get(p.guid)).toBe(3);
    expect(events.filter((e) => e.packet.guid === p.guid).map((e) => e.type)).toEqual(["sent", "verified", "delivered"]);
    expect(await hubCollateral(a!)).toBe(weth("1"));
    expect(await deliveredCount(p.guid)).toBe(1);
    const verifiedLogs = await net.deployment.hubClients.public.getLogs({ address: net.deployment.hub.contracts.endpoint, event: getAbiItem({ abi: endpointV2Abi, name: "PacketVerified" }), fromBlock: 0n });
    expect(verifiedLogs.filter((l) => l.args.origin!.srcEid === p.srcEid && l.args.origin!.sender === p.sender && l.args.origin!.nonce === p.nonce)).toHaveLength(1);
  });
});

describe("a held pathway (the devnet's drill of a DVN that stopped verifying)", () => {
  it("verifies nothing of the held pathway while the others are delivered; released, its packets are delivered once", async () => {
    const spoke2 = net.deployment.spokes[1]!;
    const hubEid = net.deployment.hub.eid;
    const d = createDevnetDeliverer(net.network.manifest, { pollIntervalMs: 50, retryBaseMs: 20 });
    deliverers.push(d);
    await d.drain();
    d.hold(spoke1.eid, hubEid);
    const [a, a2] = await depositors(2, weth("1"));
    const b = await net.newAccount();
    await mint(net.deployment, spoke2.name, spoke2.tokens[String(WETH)]!, b, weth("1"));
    const first = await deposit(net.deployment, spoke1.name, a!, WETH, weth("1"));
    await deposit(net.deployment, spoke1.name, a2!, WETH, weth("1"));
    d.start();
    try {
      await deposit(net.deployment, spoke2.name, b, WETH, weth("1"));
      await until(async () => (await net.deployment.hubClients.public.readContract({ address: hub, abi: hubAbi, functionName: "collateral", args: [b, spoke2.eid, WETH] })) === weth("1"), "spoke2's deposit delivered");
      const held = () => d.list().filter((p) => p.srcEid === spoke1.eid && p.sentBlock >= first.blockNumber);
      // Many polls (50 ms each): spoke1's two packets are neither verified nor delivered.
      await new Promise((r) => setTimeout(r, 600));
      expect(held().map((p) => p.status)).toEqual(["sent", "sent"]);
      expect([await hubCollateral(a!), await hubCollateral(a2!)]).toEqual([0n, 0n]);
      d.release(spoke1.eid, hubEid);
      await until(() => held().every((p) => p.status === "delivered"), "spoke1's deposits delivered once released");
      expect([await hubCollateral(a!), await hubCollateral(a2!)]).toEqual([weth("1"), weth("1")]);
      for (const p of held()) expect(await deliveredCount(p.guid)).toBe(1);
    } finally {
      await d.stop();
    }
  });
});

describe("a reorg on the source chain", () => {
  it("never verifies a packet whose block left the chain before its confirmations; the packet mined in its place is delivered once", async () => {
    const manifest = { ...net.network.manifest, chains: net.network.manifest.chains.map((c) => ({ ...c, lzConfirmations: c.name === spoke1.name ? 3 : 0 })) };
    const events: DeliveryEvent[] = [];
    const d = createDevnetDeliverer(manifest, { pollIntervalMs: 50, retryBaseMs: 20, onEvent: (e) => events.push({ ...e, packet: { ...e.packet } }) });
    deliverers.push(d);
    await rpc("spoke1", "anvil_mine", ["0x3"]);
    await d.drain();

    const [a] = await depositors(1, weth("3"));
    const snapshot = await rpc("spoke1", "evm_snapshot");
    const reorged = await deposit(net.deployment, spoke1.name, a!, WETH, weth("1"));
    d.start();
    try {
      const find = () => d.list().find((p) => p.srcEid === spoke1.eid && p.sentBlock === reorged.blockNumber);
      await until(() => find() !== undefined, "the first deposit's packet tracked");
      const tracked = { ...find()! };
      expect(tracked.status).toBe("sent");
      // The deposit's block leaves spoke1: back to before it, then empty blocks past its confirmations.
      await rpc("spoke1", "evm_revert", [snapshot]);
      await rpc("spoke1", "anvil_mine", ["0x6"]);
      expect(await net.deployment.clients(spoke1.name).public.getBlockNumber()).toBeGreaterThanOrEqual(tracked.sentBlock + 3n);
      // Confirmed by depth now: the deliverer decides, verify or forget.
      await until(() => events.some((e) => e.packet.guid === tracked.guid && e.type !== "sent"), "the deliverer deciding on the packet");
      await new Promise((r) => setTimeout(r, 600));
      expect(await hubCollateral(a!)).toBe(0n);
      expect(events.filter((e) => e.packet.guid === tracked.guid && e.packet.sentBlockHash === tracked.sentBlockHash).map((e) => e.type)).toEqual(["sent", "reorged"]);

      // The spoke's next packet on the path reuses the nonce (and so the guid): it is tracked from its own block and delivered.
      const replaced = await deposit(net.deployment, spoke1.name, a!, WETH, weth("2"));
      await rpc("spoke1", "anvil_mine", ["0x3"]);
      const ofReplaced = () => d.list().find((p) => p.srcEid === spoke1.eid && p.sentBlock === replaced.blockNumber);
      await until(() => ofReplaced()?.status === "delivered", "the canonical deposit delivered");
      expect(await hubCollateral(a!)).toBe(weth("2"));
      const delivered = ofReplaced()!;
      expect(delivered.nonce).toBe(tracked.nonce);
      expect(delivered.sentBlockHash).not.toBe(tracked.sentBlockHash);
      const verified = await net.deployment.hubClients.public.getLogs({ address: net.deployment.hub.contracts.endpoint, event: getAbiItem({ abi: endpointV2Abi, name: "PacketVerified" }), fromBlock: 0n });
      expect(verified.filter((l) => l.args.origin!.srcEid === spoke1.eid && l.args.origin!.nonce === tracked.nonce && l.args.origin!.sender === tracked.sender)).toHaveLength(1);
    } finally {
      await d.stop();
    }
  });

  it("never pays the collateral of a SEIZE whose take left the hub before its confirmations", async () => {
    // A position under water with its collateral on spoke1, kicked; then a take whose hub block is reorged out.
    const USDC = 1;
    const d0 = net.deployment;
    const account = await openPosition(net, { collateralAssetId: WETH, collateral: weth("1"), debtAssetId: USDC, debt: parseUnits("1500", 6) });
    await new MarketSimulator(d0, new Rng(5)).applyAnswers(new Map([[WETH, 1_000n * 10n ** 8n]]));
    await fundLiquidator(net, USDC, parseUnits("1500", 6));
    const { public: hubReader, wallet } = d0.hubClients;
    const liquidator = wallet(devnetAccounts.liquidator);
    await write(liquidator, hubReader, { address: hub, abi: hubAbi, functionName: "kick", args: [account] });

    const manifest = { ...net.network.manifest, chains: net.network.manifest.chains.map((c) => ({ ...c, lzConfirmations: c.role === "hub" ? 3 : 0 })) };
    const events: DeliveryEvent[] = [];
    const d = createDevnetDeliverer(manifest, { pollIntervalMs: 50, retryBaseMs: 20, onEvent: (e) => events.push({ ...e, packet: { ...e.packet } }) });
    deliverers.push(d);
    await rpc("hub", "anvil_mine", ["0x3"]);
    await d.drain();
    const receiver = await net.newAccount();
    const paid = () => d0.clients(spoke1.name).public.readContract({ address: spoke1.weth, abi: testTokenAbi, functionName: "balanceOf", args: [receiver] });
    const snapshot = await rpc("hub", "evm_snapshot");
    const fee = (await hubReader.readContract({ address: hub, abi: hubAbi, functionName: "quoteSpokeMessage", args: [spoke1.eid] })) as bigint;
    const take = await write(liquidator, hubReader, { address: hub, abi: hubAbi, functionName: "take", args: [account, USDC, 2n ** 255n, spoke1.eid, WETH, 0n, receiver], value: fee });
    d.start();
    try {
      const find = () => d.list().find((p) => p.srcEid === d0.hub.eid && p.sentBlock === take.blockNumber);
      await until(() => find() !== undefined, "the SEIZE tracked");
      const tracked = { ...find()! };
      expect([tracked.status, tracked.dstEid]).toEqual(["sent", spoke1.eid]);
      // The take's block leaves the hub: back to before it, then empty blocks past its confirmations.
      await rpc("hub", "evm_revert", [snapshot]);
      await rpc("hub", "anvil_mine", ["0x6"]);
      await until(() => events.some((e) => e.packet.guid === tracked.guid && e.type !== "sent"), "the deliverer deciding on the SEIZE");
      await new Promise((r) => setTimeout(r, 600));
      expect(events.filter((e) => e.packet.guid === tracked.guid && e.packet.sentBlockHash === tracked.sentBlockHash).map((e) => e.type)).toEqual(["sent", "reorged"]);
      expect(await paid()).toBe(0n);
      // The debt was never repaid, and the collateral is still the borrower's.
      expect(await hubReader.readContract({ address: hub, abi: hubAbi, functionName: "collateral", args: [account, spoke1.eid, WETH] })).toBe(weth("1"));
    } finally {
      await d.stop();
    }
  });
});

describe("a reverting lzReceive", () => {
  it("out of gas: alerts the endpoint with the reason, then succeeds with more gas, exactly once", async () => {
    const [account] = await depositors(1, weth("2"));
    const fromBlock = await net.deployment.hubClients.public.getBlockNumber();
    await deposit(net.deployment, spoke1.name, account!, WETH, weth("2"));
    const events: DeliveryEvent[] = [];
    // Enough for the transaction's intrinsic gas, not for the hub's lzReceive.
    const d = deliverer({ events, lzReceiveGas: 40_000n });
    await d.drain();

    const p = d.list().find((x) => x.srcEid === spoke1.eid && x.sentBlock > 0n && x.status === "delivered" && x.deliverTx && x.attempts > 0)!;
    expect(p).toBeDefined();
    expect(p.gas).toBe(40_000n * 2n ** BigInt(p.attempts));
    expect(await hubCollateral(account!)).toBe(weth("2"));
    expect(await deliveredCount(p.guid, fromBlock)).toBe(1);

    const alerts = (await lzReceiveAlerts(net.deployment.hubClients.public, net.deployment.hub.contracts.endpoint, fromBlock)).get(p.guid)!;
    expect(alerts).toHaveLength(p.attempts);
    expect(p.alertTxs).toHaveLength(p.attempts);
    expect(alerts[0]!.decoded.errorName).toBe("LzReceiveOutOfGas");
    expect(alerts[0]!.decoded.message).toBe("LzReceiveOutOfGas(40000)");
    expect(alerts[0]!.gas).toBe(40_000n);
    expect(alerts[0]!.receiver.toLowerCase()).toBe(hub.toLowerCase());
    expect(alerts.map((a) => a.gas)).toEqual(Array.from({ length: p.attempts }, (_, i) => 40_000n * 2n ** BigInt(i)));
    const failed = events.filter((e) => e.type === "failed" && e.packet.guid === p.guid);
    expect(failed).toHaveLength(p.attempts);
    expect(failed[0]!.packet.lastError).toBe("LzReceiveOutOfGas(40000)");
    await d.stop();
  });

  it("a permanent revert ends failed after the bound with the decoded reason, without holding back its path; retry() delivers it once it can", async () => {
    const [account] = await depositors(1, weth("2"));
    await deposit(net.deployment, spoke1.name, account!, WETH, weth("2"));
    await net.deliverer.drain();
    await borrow(net.deployment, account!, 1, 100_000_000n); // 100 USDC: its withdrawals need prices
    const hubReader = net.deployment.hubClients.public;
    // The hub cannot judge the withdrawal while the account's prices are stale: its lzReceive reverts for real.
    const answers = await staleExcept(net);
    const fromBlock = await hubReader.getBlockNumber();
    await requestWithdraw(net.deployment, spoke1.name, account!, WETH, weth("1"));

    const events: DeliveryEvent[] = [];
    const d = deliverer({ events, maxAttempts: 3, lzReceiveGas: 300_000n, maxLzReceiveGas: 1_000_000n });
    await expect(d.drain()).rejects.toThrow(/cannot be delivered/);
    const p = d.pending().find((x) => x.dstEid === net.deployment.hub.eid)!;
    expect(p).toMatchObject({ status: "failed", exhausted: true, attempts: 3 });
    expect(p.lastError).toMatch(/^StalePrice\(10, \d+, 86400\)$/);
    const alerts = (await lzReceiveAlerts(hubReader, net.deployment.hub.contracts.endpoint, fromBlock)).get(p.guid)!;
    expect(alerts.map((a) => a.gas)).toEqual([300_000n, 600_000n, 1_000_000n]);
    expect(alerts.every((a) => a.decoded.errorName === "StalePrice" && a.decoded.args[0] === 10)).toBe(true);
    const failed = events.filter((e) => e.type === "failed");
    expect(failed).toHaveLength(3);
    expect(failed.at(-1)!.packet.exhausted).toBe(true);
    expect(await hubCollateral(account!)).toBe(weth("2"));
    // Past the bound nothing is sent: another round leaves it as it is.
    await d.deliverDue();
    expect(p.attempts).toBe(3);
    // It is verified, so it does not hold back its path: a later deposit on the same path is delivered meanwhile.
    const [other] = await depositors(1, weth("1"));
    await deposit(net.deployment, spoke1.name, other!, WETH, weth("1"));
    await expect(d.drain()).rejects.toThrow(/cannot be delivered/);
    const later = d.list().find((x) => x.srcEid === p.srcEid && x.sender === p.sender && x.dstEid === p.dstEid && x.nonce === p.nonce + 1n)!;
    expect(later.status).toBe("delivered");
    expect(await hubCollateral(other!)).toBe(weth("1"));
    expect(p).toMatchObject({ status: "failed", exhausted: true, attempts: 3 });

    await refreshPrices(net, answers);
    expect(d.retry(p.guid)).toBe(true);
    await d.drain();
    expect(p.status).toBe("delivered");
    expect(await hubCollateral(account!)).toBe(weth("1"));
    await d.stop();
  });
});

describe("one deliverer per chain and verifier", () => {
  it("two deliverers with one verifier: exactly one delivers, none fails, the other takes over when it stops", async () => {
    const eventsA: DeliveryEvent[] = [];
    const eventsB: DeliveryEvent[] = [];
    const a = deliverer({ events: eventsA });
    const b = deliverer({ events: eventsB });
    a.start();
    await until(() => net.deployment.manifest.chains.every((c) => a.delivering(c.chainId)), "a holds every chain");
    b.start();
    const first = await depositors(3, weth("1"));
    for (const account of first) await deposit(net.deployment, spoke1.name, account, WETH, weth("1"));
    await until(async () => (await Promise.all(first.map(hubCollateral))).every((c) => c === weth("1")), "a delivers");
    expect(net.deployment.manifest.chains.some((c) => b.delivering(c.chainId))).toBe(false);
    expect(eventsB).toHaveLength(0); // standby: scans nothing, sends nothing

    await a.stop();
    await until(() => net.deployment.manifest.chains.every((c) => b.delivering(c.chainId)), "b takes over");
    const second = await depositors(2, weth("1"));
    for (const account of second) await deposit(net.deployment, spoke1.name, account, WETH, weth("1"));
    await until(async () => (await Promise.all(second.map(hubCollateral))).every((c) => c === weth("1")), "b delivers");
    await b.stop();

    expect([...eventsA, ...eventsB].filter((e) => e.type === "failed")).toHaveLength(0);
    const byA = new Set(eventsA.filter((e) => e.type === "delivered" && e.packet.deliverTx).map((e) => e.packet.guid));
    const byB = new Set(eventsB.filter((e) => e.type === "delivered" && e.packet.deliverTx).map((e) => e.packet.guid));
    expect(byA.size).toBe(3);
    expect(byB.size).toBe(2);
    expect([...byA].filter((g) => byB.has(g))).toHaveLength(0);
    for (const guid of [...byA, ...byB]) expect(await deliveredCount(guid)).toBe(1);
  });
});

describe("delivery without the lock", () => {
  it("two deliverers racing on one key (separate lock dirs): every packet once, nonce clashes and packets delivered by the other are no failures", async () => {
    const amount = weth("1");
    const accounts = await depositors(10, amount);
    const block = await depositInOneBlock(accounts, amount);
    const events: DeliveryEvent[] = [];
    const a = deliverer({ events, lockDir: mkdtempSync(join(tmpdir(), "salvage-lock-a-")) });
    // Other gas limits: b never signs a's bytes, so their transactions clash on nonces and packets.
    const b = deliverer({ events, lockDir: mkdtempSync(join(tmpdir(), "salvage-lock-b-")), validateGas: 260_000n, lzReceiveGas: 520_000n });
    await Promise.all([a.drain(), b.drain()]);

    expect(events.filter((e) => e.type === "failed")).toHaveLength(0);
    for (const account of accounts) expect(await hubCollateral(account)).toBe(amount);
    const batch = a.list().filter((p) => p.sentBlock === block);
    expect(batch).toHaveLength(10);
    for (const p of batch) {
      expect(await deliveredCount(p.guid)).toBe(1);
      expect(b.get(p.guid)!.status).toBe("delivered");
      // Exactly one of them executed it; the other found it delivered.
      expect([p.deliverTx, b.get(p.guid)!.deliverTx].filter(Boolean)).toHaveLength(1);
    }
  });
});

describe("the delivery lock", () => {
  const key = { chainId: 31_400, rpcUrl: "http://127.0.0.1:1", verifier: "0x0000000000000000000000000000000000000001" };

  it("is broken when its holder's process is gone, and kept while it lives", () => {
    const dir = mkdtempSync(join(tmpdir(), "salvage-lock-"));
    const lock = new DeliveryLock(key, dir);
    // A real process that has exited: its pid is free.
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    const holder = (pid: number) => JSON.stringify({ pid, token: "other", chainId: key.chainId, rpcUrl: key.rpcUrl, verifier: key.verifier, since: new Date().toISOString() });

    writeFileSync(lock.path, holder(process.ppid)); // alive (the test runner's parent)
    expect(lock.tryAcquire()).toBe(false);
    expect(lock.holder()?.pid).toBe(process.ppid);

    writeFileSync(lock.path, holder(Number(dead.stdout)));
    expect(lock.tryAcquire()).toBe(true);
    expect(lock.holder()?.pid).toBe(process.pid);
    const other = new DeliveryLock(key, dir);
    expect(other.tryAcquire()).toBe(false);
    lock.release();
    expect(other.tryAcquire()).toBe(true);
    expect(lock.held()).toBe(false);
    other.release();
    expect(lock.holder()).toBeUndefined();
  });
});
