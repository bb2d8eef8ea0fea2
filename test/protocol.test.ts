/**
 * The reference protocol on real anvil chains with LayerZero's real EndpointV2 and SimpleMessageLib:
 * hub on one chain, two spokes, packets carried by the deliverer.
 */
import { PacketV1Codec } from "@layerzerolabs/lz-v2-utilities";
import { type Address, type Hex, decodeEventLog, encodeAbiParameters, pad, parseUnits, zeroAddress } from "viem";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { endpointV2Abi, hubAbi, priceFeedAbi, simpleMessageLibAbi, spokeAbi, spokeBytecode, testTokenAbi } from "../abis/index.js";
import { confirm, deployContract, write } from "../src/chains/tx.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
import { ASSETS, AUCTION_PARAMS, HEARTBEAT_SECONDS } from "../src/devnet/market.js";
import { bonusAt, quoteTake, priceToWad } from "../src/health/health.js";
import { WAD } from "../src/health/wad.js";
import { revertOf } from "../src/chains/errors.js";
import { borrow, deposit, ensureReplyCredit, mint, quoteReply, requestWithdraw } from "../src/protocol/actions.js";
import { type TestNetwork, startTestNetwork } from "./helpers/network.js";
import { refreshPrices, setAnswer, staleExcept } from "./helpers/prices.js";

const USDC = 1;
const WETH = 10;
const WBTC = 11;
const weth = (n: string) => parseUnits(n, 18);
const usdc = (n: string) => parseUnits(n, 6);
const usd8 = (n: string) => parseUnits(n, 8);

let net: TestNetwork;
let hub: Address;
let spoke1: { name: string; eid: number; spoke: Address; weth: Address };

const hubRead = <F extends "collateral" | "debt" | "reserve" | "auctions" | "healthFactor" | "quoteSpokeMessage" | "previewTake" | "replyCredit">(
  functionName: F,
  args: readonly unknown[],
) => net.deployment.hubClients.public.readContract({ address: hub, abi: hubAbi, functionName, args } as never) as Promise<never>;

async function setPrice(assetId: number, answer: bigint): Promise<void> {
  const { public: reader, wallet } = net.deployment.hubClients;
  await write(wallet(devnetAccounts.deployer), reader, { address: net.deployment.feed(assetId), abi: priceFeedAbi, functionName: "updateAnswer", args: [answer] });
}

async function hubEvents(receipt: { logs: { address: Address; data: Hex; topics: [Hex, ...Hex[]] | [] }[] }) {
  return receipt.logs
    .filter((l) => l.address.toLowerCase() === hub.toLowerCase())
    .map((l) => decodeEventLog({ abi: hubAbi, data: l.data, topics: l.topics }));
}

/** An account with `collateral` of `assetId` (WETH unless said) on spoke 1 credited on the hub and `debt` USDC borrowed. */
async function openPosition(collateral: bigint, debt: bigint, assetId = WETH): Promise<Address> {
  const account = await net.newAccount();
  await mint(net.deployment, spoke1.name, net.deployment.spokes[0]!.tokens[String(assetId)]!, account, collateral);
  await deposit(net.deployment, spoke1.name, account, assetId, collateral);
  await net.deliverer.drain();
  if (debt > 0n) await borrow(net.deployment, account, USDC, debt);
  return account;
}

async function fundLiquidator(amount: bigint): Promise<void> {
  const liquidator = devnetAccounts.liquidator.address;
  const token = net.deployment.hub.tokens[String(USDC)]!;
  await mint(net.deployment, "hub", token, liquidator, amount);
  const { public: reader, wallet } = net.deployment.hubClients;
  await write(wallet(devnetAccounts.liquidator), reader, { address: token, abi: testTokenAbi, functionName: "approve", args: [hub, amount] });
}

async function take(account: Address, receiver: Address, maxRepay = 2n ** 255n) {
  const { public: reader, wallet } = net.deployment.hubClients;
  const fee = (await hubRead("quoteSpokeMessage", [spoke1.eid])) as bigint;
  return write(wallet(devnetAccounts.liquidator), reader, {
    address: hub, abi: hubAbi, functionName: "take", args: [account, USDC, maxRepay, spoke1.eid, WETH, 0n, receiver], value: fee,
  });
}

async function kick(account: Address) {
  const { public: reader, wallet } = net.deployment.hubClients;
  return write(wallet(devnetAccounts.liquidator), reader, { address: hub, abi: hubAbi, functionName: "kick", args: [account] });
}

const spokeBalance = (token: Address, who: Address) =>
  net.deployment.clients(spoke1.name).public.readContract({ address: token, abi: testTokenAbi, functionName: "balanceOf", args: [who] });

beforeAll(async () => {
  net = await startTestNetwork(2);
  hub = net.deployment.hubAddress;
  const s = net.deployment.spokes[0]!;
  spoke1 = { name: s.name, eid: s.eid, spoke: s.contracts.spoke!, weth: s.tokens[String(WETH)]! };
});

afterAll(async () => {
  await net?.stop();
});

afterEach(async () => {
  for (const asset of ASSETS) await setPrice(asset.id, asset.initialAnswer);
  await net.deliverer.drain();
});

describe("deposits", () => {
  it("credit the hub's mirror only once the packet is delivered", async () => {
    const account = await net.newAccount();
    await mint(net.deployment, spoke1.name, spoke1.weth, account, weth("3"));
    await deposit(net.deployment, spoke1.name, account, WETH, weth("3"));

    expect(await hubRead("collateral", [account, spoke1.eid, WETH])).toBe(0n);
    expect(await net.deliverer.scan()).toBe(1);
    expect(net.deliverer.pending()).toHaveLength(1);
    expect(await hubRead("collateral", [account, spoke1.eid, WETH])).toBe(0n);

    await net.deliverer.drain();
    expect(await hubRead("collateral", [account, spoke1.eid, WETH])).toBe(weth("3"));
    expect(net.deliverer.pending()).toHaveLength(0);
  });
});

describe("borrowing", () => {
  it("reverts beyond the LTV limit and succeeds at it", async () => {
    const account = await openPosition(weth("10"), 0n); // $30,000 at 80% LTV: $24,000 of borrow power
    await expect(borrow(net.deployment, account, USDC, usdc("24000.000001"))).rejects.toThrow(/BorrowLimitExceeded/);
    await borrow(net.deployment, account, USDC, usdc("24000"));
    expect(await hubRead("debt", [account, USDC])).toBe(usdc("24000"));
  });
});

describe("withdrawals", () => {
  it("release collateral that is not needed", async () => {
    const account = await openPosition(weth("2"), 0n);
    await requestWithdraw(net.deployment, spoke1.name, account, WETH, weth("0.5"));
    await net.deliverer.drain();
    expect(await spokeBalance(spoke1.weth, account)).toBe(weth("0.5"));
    expect(await hubRead("collateral", [account, spoke1.eid, WETH])).toBe(weth("1.5"));
  });

  it("are refused by the hub when they would break health, and the collateral stays on the spoke", async () => {
    const account = await openPosition(weth("10"), usdc("20000")); // HF 1.275
    const spokeHeld = await spokeBalance(spoke1.weth, spoke1.spoke);
    const receipt = await requestWithdraw(net.deployment, spoke1.name, account, WETH, weth("3"));
    expect(receipt.status).toBe("success");
    await net.deliverer.drain();

    expect(await hubRead("collateral", [account, spoke1.eid, WETH])).toBe(weth("10"));
    expect(await spokeBalance(spoke1.weth, account)).toBe(0n);
    expect(await spokeBalance(spoke1.weth, spoke1.spoke)).toBe(spokeHeld);
    const reader = net.deployment.clients(spoke1.name).public;
    expect(await reader.readContract({ address: spoke1.spoke, abi: spokeAbi, functionName: "availableOf", args: [account, WETH] })).toBe(weth("10"));
    const refused = await net.deployment.hubClients.public.getContractEvents({ address: hub, abi: hubAbi, eventName: "WithdrawRefused", args: { account }, fromBlock: 0n });
    expect(refused).toHaveLength(1);
    expect(refused[0]!.args.amount).toBe(weth("3"));
  });
});

describe("liquidation", () => {
  let account: Address;
  let kickedAt: bigint;
  let kickBlock: bigint;
  const receiver = "0x000000000000000000000000000000000000bEEF" as Address;

  it("kick reverts while HF >= 1 and succeeds below", async () => {
    account = await openPosition(weth("10"), usdc("24000")); // HF = 25,500 / 24,000
    expect(await hubRead("healthFactor", [account])).toBe((25_500n * WAD) / 24_000n);
    await expect(kick(account)).rejects.toThrow(/AccountHealthy/);
    // Sent past simulation (its own gas limit), the kick reverts on chain: confirm replays it and names the reason.
    const { public: reader, wallet } = net.deployment.hubClients;
    const sent = await wallet(devnetAccounts.liquidator).writeContract({ address: hub, abi: hubAbi, functionName: "kick", args: [account], gas: 300_000n });
    await expect(confirm(reader, sent, "kick", undefined, hubAbi)).rejects.toThrow(/^kick reverted \(tx 0x[0-9a-f]{64}\): AccountHealthy\(\d+\); gas \d+ of 300000, block \d+$/);

    await setPrice(WETH, usd8("2800")); // threshold value 23,800 < debt 24,000
    const receipt = await kick(account);
    const kicked = (await hubEvents(receipt)).find((e) => e.eventName === "AuctionKicked");
    expect(kicked?.args).toMatchObject({ account, healthFactor: (23_800n * WAD) / 24_000n });
    const block = await net.deployment.hubClients.public.getBlock({ blockNumber: receipt.blockNumber });
    kickedAt = block.timestamp;
    kickBlock = receipt.blockNumber;
    await expect(kick(account)).rejects.toThrow(/AuctionActive/);
  });

  it("the take bonus grows linearly with time from minBonus and is capped at maxBonus", async () => {
    await setPrice(WETH, usd8("2800"));
    const reader = net.deployment.hubClients.public;
    const atKick = await reader.readContract({ address: hub, abi: hubAbi, functionName: "previewTake", args: [account, USDC, usdc("1000"), spoke1.eid, WETH], blockNumber: kickBlock });
    expect(atKick[2]).toBe(AUCTION_PARAMS.minBonus);
    const seen: bigint[] = [];
    for (const wait of [0, 150, 150, 300, 600]) {
      if (wait > 0) await net.advanceTime(wait);
      const now = (await reader.getBlock()).timestamp;
      const [, , bonus] = (await hubRead("previewTake", [account, USDC, usdc("1000"), spoke1.eid, WETH])) as [bigint, bigint, bigint];
      expect(bonus).toBe(bonusAt(AUCTION_PARAMS, kickedAt, now));
      seen.push(bonus);
    }
    expect(seen[0]! >= AUCTION_PARAMS.minBonus && seen[1]! > seen[0]! && seen[2]! > seen[1]!).toBe(true);
    expect(seen[3]).toBe(AUCTION_PARAMS.maxBonus);
    expect(seen[4]).toBe(AUCTION_PARAMS.maxBonus);
  });

  it("take repays debt on the hub; the spoke pays the collateral to the receiver after delivery", async () => {
    await setPrice(WETH, usd8("2800"));
    await fundLiquidator(usdc("100000"));
    const debtBefore = (await hubRead("debt", [account, USDC])) as bigint;
    const receipt = await take(account, receiver);
    const t = (await hubEvents(receipt)).find((e) => e.eventName === "Take")!;
    const args = t.args as { repayAmount: bigint; seizeAmount: bigint; bonus: bigint };

    const expected = quoteTake({
      debtAmount: debtBefore, debtPriceWad: priceToWad(usd8("1"), 8), debtDecimals: 6,
      collateralAmount: weth("10"), collateralPriceWad: priceToWad(usd8("2800"), 8), collateralDecimals: 18,
      closeFactor: AUCTION_PARAMS.closeFactor, bonus: AUCTION_PARAMS.maxBonus, maxRepay: 2n ** 255n,
    });
    expect(args.bonus).toBe(AUCTION_PARAMS.maxBonus);
    expect(args.repayAmount).toBe(usdc("12000")); // close factor 50%
    expect(args.seizeAmount).toBe(expected.seizeAmount);
    expect(args.seizeAmount).toBe(weth("4.8")); // $12,000 x 1.12 / $2,800
    expect(await hubRead("debt", [account, USDC])).toBe(debtBefore - usdc("12000"));
    expect(await hubRead("collateral", [account, spoke1.eid, WETH])).toBe(weth("5.2"));

    expect(await spokeBalance(spoke1.weth, receiver)).toBe(0n);
    await net.deliverer.drain();
    expect(await spokeBalance(spoke1.weth, receiver)).toBe(weth("4.8"));
    const spokeReader = net.deployment.clients(spoke1.name).public;
    expect(await spokeReader.readContract({ address: spoke1.spoke, abi: spokeAbi, functionName: "balances", args: [account, WETH] })).toBe(weth("5.2"));
    // HF after: 5.2 * 2800 * 0.85 / 12,000 > 1, so the auction ended.
    expect(((await hubRead("auctions", [account])) as [bigint, bigint, Address, boolean])[3]).toBe(false);
  });

  it("writes off bad debt against the reserve once the collateral is gone", async () => {
    const victim = await openPosition(weth("1"), usdc("2400"));
    await setPrice(WETH, usd8("1000")); // $1,000 of collateral against $2,400 of debt
    await kick(victim);
    await fundLiquidator(usdc("10000"));
    const reserveBefore = (await hubRead("reserve", [USDC])) as bigint;
    const receipt = await take(victim, receiver);
    const events = await hubEvents(receipt);
    const t = events.find((e) => e.eventName === "Take")!.args as { repayAmount: bigint; seizeAmount: bigint; bonus: bigint };
    expect(t.seizeAmount).toBe(weth("1"));
    // All of it, bought at the bonus of the take's block: $1,000 / (1 + bonus), rounded up to the next
    // micro-USDC so the protocol never gives collateral away (at the 2% of the kick block: 980.392157).
    expect(t.bonus >= AUCTION_PARAMS.minBonus && t.bonus < AUCTION_PARAMS.maxBonus).toBe(true);
    const expected = quoteTake({
      debtAmount: usdc("2400"), debtPriceWad: WAD, debtDecimals: 6, collateralAmount: weth("1"), collateralPriceWad: 1_000n * WAD,
      collateralDecimals: 18, closeFactor: AUCTION_PARAMS.closeFactor, bonus: t.bonus, maxRepay: 2n ** 255n,
    });
    expect(t.repayAmount).toBe(expected.repayAmount);
    expect((t.repayAmount * 10n ** 12n * (WAD + t.bonus)) / WAD >= 1_000n * WAD).toBe(true);
    if (t.bonus === AUCTION_PARAMS.minBonus) expect(t.repayAmount).toBe(980_392_157n);
    const writeOff = events.find((e) => e.eventName === "BadDebtWrittenOff")!.args as { amount: bigint; coveredByReserve: bigint; uncovered: bigint };
    expect(writeOff.amount).toBe(usdc("2400") - t.repayAmount);
    expect(writeOff.coveredByReserve).toBe(writeOff.amount);
    expect(writeOff.uncovered).toBe(0n);
    expect(events.find((e) => e.eventName === "AuctionEnded")?.args).toMatchObject({ account: victim, reason: 2 });
    expect(await hubRead("debt", [victim, USDC])).toBe(0n);
    expect(await hubRead("reserve", [USDC])).toBe(reserveBefore - writeOff.amount);
  });
});

describe("LayerZero message security", () => {
  it("a packet from a contract that is not the hub's peer is never delivered", async () => {
    const attacker = await net.newAccount();
    const { public: reader, wallet } = net.deployment.clients(spoke1.name);
    const spokeChain = net.deployment.spokes[0]!;
    const rogue = await deployContract(wallet(attacker), reader, { name: "Spoke", abi: spokeAbi, bytecode: spokeBytecode }, [spokeChain.contracts.endpoint, attacker, net.deployment.hub.eid]);
    await write(wallet(attacker), reader, { address: rogue, abi: spokeAbi, functionName: "setPeer", args: [net.deployment.hub.eid, pad(hub, { size: 32 })] });
    await write(wallet(attacker), reader, { address: rogue, abi: spokeAbi, functionName: "listAsset", args: [WETH, spoke1.weth] });
    await mint(net.deployment, spoke1.name, spoke1.weth, attacker, weth("1"));
    await write(wallet(attacker), reader, { address: spoke1.weth, abi: testTokenAbi, functionName: "approve", args: [rogue, weth("1")] });
    const sent = await write(wallet(attacker), reader, { address: rogue, abi: spokeAbi, functionName: "deposit", args: [WETH, weth("1")], value: 10n ** 15n });

    await net.deliverer.drain();
    const packetLog = sent.logs.find((l) => l.address.toLowerCase() === spokeChain.contracts.endpoint.toLowerCase())!;
    const { args } = decodeEventLog({ abi: endpointV2Abi, data: packetLog.data, topics: packetLog.topics, eventName: "PacketSent" });
    const guid = PacketV1Codec.from(args.encodedPayload).guid() as Hex;
    expect(net.deliverer.get(guid)).toMatchObject({ status: "rejected" });
    expect(await hubRead("collateral", [attacker, spoke1.eid, WETH])).toBe(0n);

    // The chain refuses it too: verifying it on the hub's endpoint reverts, the hub does not accept the path.
    const hubSide = net.deployment.hubClients;
    await expect(
      write(hubSide.wallet(devnetAccounts.relayer), hubSide.public, { address: net.deployment.hub.contracts.messageLib!, abi: simpleMessageLibAbi, functionName: "validatePacket", args: [args.encodedPayload] }),
    ).rejects.toThrow(/reverted|LZ_PathNotInitializable/);
  });

  it("a forged packet cannot be verified by anyone but the verifier, nor executed with a tampered message", async () => {
    const forger = await net.newAccount();
    const hubSide = net.deployment.hubClients;
    const spokeAsBytes32 = pad(spoke1.spoke, { size: 32 });
    const lazyNonce = await hubSide.public.readContract({ address: net.deployment.hub.contracts.endpoint, abi: endpointV2Abi, functionName: "lazyInboundNonce", args: [hub, spoke1.eid, spokeAsBytes32] });
    const fakeDeposit = encodeAbiParameters(
      [{ type: "uint8" }, { type: "address" }, { type: "uint16" }, { type: "uint256" }, { type: "address" }, { type: "uint256" }],
      [1, forger, WETH, weth("1000000"), zeroAddress, 0n],
    );
    const forged = PacketV1Codec.encode({
      version: 1, nonce: String(lazyNonce + 1n), srcEid: spoke1.eid, sender: spokeAsBytes32, dstEid: net.deployment.hub.eid,
      receiver: pad(hub, { size: 32 }), guid: pad("0x1234", { size: 32 }), message: fakeDeposit, payload: "",
    } as never) as Hex;
    await expect(
      write(hubSide.wallet(forger), hubSide.public, { address: net.deployment.hub.contracts.messageLib!, abi: simpleMessageLibAbi, functionName: "validatePacket", args: [forged] }),
    ).rejects.toThrow(/OnlyWhitelistCaller/);

    // A genuine packet, verified by the verifier, cannot be executed with a different message.
    const account = await net.newAccount();
    await mint(net.deployment, spoke1.name, spoke1.weth, account, weth("1"));
    await deposit(net.deployment, spoke1.name, account, WETH, weth("1"));
    await net.deliverer.scan();
    const genuine = net.deliverer.pending()[0]!;
    await write(hubSide.wallet(devnetAccounts.relayer), hubSide.public, { address: net.deployment.hub.contracts.messageLib!, abi: simpleMessageLibAbi, functionName: "validatePacket", args: [genuine.encoded] });
    await expect(
      write(hubSide.wallet(devnetAccounts.relayer), hubSide.public, {
        address: net.deployment.hub.contracts.endpoint, abi: endpointV2Abi, functionName: "lzReceive",
        args: [{ srcEid: genuine.srcEid, sender: genuine.sender, nonce: genuine.nonce }, hub, genuine.guid, fakeDeposit, "0x"],
      }),
    ).rejects.toThrow(/LZ_PayloadHashNotFound|reverted/);
    expect(await hubRead("collateral", [forger, spoke1.eid, WETH])).toBe(0n);

    await net.deliverer.drain();
    expect(await hubRead("collateral", [account, spoke1.eid, WETH])).toBe(weth("1"));
  });
});

describe("delivery", () => {
  it("retries a packet whose lzReceive reverts and delivers it exactly once when it can", async () => {
    const account = await openPosition(weth("2"), usdc("100"));
    // The hub cannot judge the withdrawal of an account that owes while its prices are stale: lzReceive reverts for real.
    const answers = await staleExcept(net);
    await requestWithdraw(net.deployment, spoke1.name, account, WETH, weth("1"));
    await net.deliverer.scan();
    const packet = net.deliverer.pending()[0]!;
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 450));
      await net.deliverer.deliverDue();
    }
    expect(packet.status).toBe("failed");
    expect(packet.attempts).toBeGreaterThanOrEqual(2);
    expect(packet.lastError).toMatch(/^StalePrice\(10, \d+, 86400\)$/);
    expect(await hubRead("collateral", [account, spoke1.eid, WETH])).toBe(weth("2"));

    await refreshPrices(net, answers);
    await net.deliverer.drain();
    expect(packet.status).toBe("delivered");
    expect(await spokeBalance(spoke1.weth, account)).toBe(weth("1"));
    const released = await net.deployment.clients(spoke1.name).public.getContractEvents({ address: spoke1.spoke, abi: spokeAbi, eventName: "WithdrawReleased", args: { account }, fromBlock: 0n });
    expect(released).toHaveLength(1);
  });
});

/** The decoded revert of a hub write or read that must fail: its custom error's name and arguments. */
async function reverted(call: Promise<unknown>): Promise<{ errorName?: string; args: readonly unknown[] }> {
  const error = await call.then(() => undefined, (e: unknown) => e);
  if (error === undefined) throw new Error("expected a revert, the call succeeded");
  const { errorName, args } = revertOf(error);
  return { errorName, args };
}

describe("prices the hub refuses", () => {
  it("a stale price blocks, by name, the borrows, kicks, takes and views that need it; an account without that asset is still liquidated", async () => {
    const withWbtc = await openPosition(parseUnits("1", 8), usdc("43000"), WBTC); // $60,000 × 78 % = $46,800 of threshold
    const withWeth = await openPosition(weth("10"), usdc("24000"));
    const borrower = await openPosition(weth("1"), 0n);
    await setPrice(WBTC, usd8("50000")); // threshold 39,000 < 43,000
    await setPrice(WETH, usd8("2800")); // threshold 23,800 < 24,000

    // Every price stale but USDC's and WETH's: WBTC's round is older than its heartbeat.
    const answers = await staleExcept(net, [USDC, WETH]);
    const wbtcUpdatedAt = (await net.deployment.hubClients.public.readContract({ address: net.deployment.feed(WBTC), abi: priceFeedAbi, functionName: "latestRoundData" }))[3];
    const stale = { errorName: "StalePrice", args: [WBTC, wbtcUpdatedAt, 86_400n] };
    expect(await reverted(kick(withWbtc))).toEqual(stale);
    expect(await reverted(hubRead("healthFactor", [withWbtc]))).toEqual(stale);
    const staleBorrower = await openPosition(parseUnits("1", 8), 0n, WBTC);
    expect(await reverted(borrow(net.deployment, staleBorrower, USDC, usdc("1")))).toEqual(stale);

    // Accounts that neither hold nor owe WBTC go on: a borrow, a kick, a take.
    await borrow(net.deployment, borrower, USDC, usdc("100"));
    await kick(withWeth);
    await fundLiquidator(usdc("100000"));
    const taken = (await hubEvents(await take(withWeth, "0x000000000000000000000000000000000000bEEF"))).find((e) => e.eventName === "Take");
    expect(taken?.args).toMatchObject({ account: withWeth, repayAmount: usdc("12000") });

    // Usable again: the WBTC account is kicked just before its prices' heartbeat runs out. Once they are stale,
    // its take is refused, and a repayment still goes through (the auction it might end stays open).
    await refreshPrices(net, answers);
    await net.advanceTime(HEARTBEAT_SECONDS - 100);
    await kick(withWbtc);
    await net.advanceTime(200);
    const token = net.deployment.hub.tokens[String(USDC)]!;
    const { public: reader, wallet } = net.deployment.hubClients;
    await write(wallet(withWbtc), reader, { address: token, abi: testTokenAbi, functionName: "approve", args: [hub, usdc("43000")] });
    await write(wallet(withWbtc), reader, { address: hub, abi: hubAbi, functionName: "repay", args: [USDC, usdc("40000"), withWbtc] });
    expect(await hubRead("debt", [withWbtc, USDC])).toBe(usdc("3000"));
    expect(((await hubRead("auctions", [withWbtc])) as [bigint, bigint, Address, boolean])[3]).toBe(true);
    const refused = await reverted(take(withWbtc, withWbtc));
    expect([refused.errorName, refused.args[0], refused.args[2]]).toEqual(["StalePrice", WBTC, 86_400n]);
    await refreshPrices(net, answers);
    await write(wallet(withWbtc), reader, { address: hub, abi: hubAbi, functionName: "repay", args: [USDC, 1n, withWbtc] });
    expect(((await hubRead("auctions", [withWbtc])) as [bigint, bigint, Address, boolean])[3]).toBe(false); // healthy: ended
  });

  it("an answer <= 0 blocks them by InvalidPrice(assetId, answer); an account without that asset is still liquidated", async () => {
    const withWbtc = await openPosition(parseUnits("1", 8), usdc("43000"), WBTC);
    const withWeth = await openPosition(weth("10"), usdc("24000"));
    await setPrice(WETH, usd8("2800"));
    for (const answer of [0n, -1n, -(10n ** 20n)]) {
      await setAnswer(net, WBTC, answer);
      expect(await reverted(kick(withWbtc))).toEqual({ errorName: "InvalidPrice", args: [WBTC, answer] });
      expect(await reverted(hubRead("healthFactor", [withWbtc]))).toEqual({ errorName: "InvalidPrice", args: [WBTC, answer] });
      expect(await reverted(borrow(net.deployment, withWbtc, USDC, 1n))).toEqual({ errorName: "InvalidPrice", args: [WBTC, answer] });
    }
    await kick(withWeth);
    await fundLiquidator(usdc("100000"));
    await take(withWeth, "0x000000000000000000000000000000000000bEEF");
    expect(await hubRead("debt", [withWeth, USDC])).toBe(usdc("12000"));
  });
});

describe("withdraw replies", () => {
  it("are paid by their requester: a spam of unpaid requests leaves the hub's native balance as it was, and the path keeps working", async () => {
    const hubSide = net.deployment.hubClients.public;
    const hubBalance = () => hubSide.getBalance({ address: hub });
    const before = await hubBalance();
    // The hub holds no native of its own: it takes none it is not owed (no receive()).
    await expect(net.deployment.hubClients.wallet(devnetAccounts.deployer).sendTransaction({ to: hub, value: 1n })).rejects.toThrow();

    const spammer = await openPosition(weth("1"), 0n);
    const requests = 12;
    for (let i = 0; i < requests; i++) await requestWithdraw(net.deployment, spoke1.name, spammer, WETH, weth("0.01"), { fundReply: false });
    const fromBlock = await hubSide.getBlockNumber();
    await net.deliverer.drain();
    const pending = await hubSide.getContractEvents({ address: hub, abi: hubAbi, eventName: "WithdrawReplyPending", args: { account: spammer }, fromBlock: 0n });
    expect(pending).toHaveLength(requests);
    expect(await hubBalance()).toBe(before);
    expect(await spokeBalance(spoke1.weth, spammer)).toBe(0n);
    expect(await hubSide.getContractEvents({ address: hub, abi: hubAbi, eventName: "WithdrawReplySent", fromBlock })).toHaveLength(0);

    // The path keeps working: a requester who paid up front gets the reply on arrival.
    const user = await openPosition(weth("2"), 0n);
    const fee = await quoteReply(net.deployment, spoke1.name);
    await requestWithdraw(net.deployment, spoke1.name, user, WETH, weth("0.5"));
    await net.deliverer.drain();
    expect(await spokeBalance(spoke1.weth, user)).toBe(weth("0.5"));
    expect(await hubRead("replyCredit", [user])).toBe(0n);
    expect(await hubBalance()).toBe(before);

    // A waiting reply is sent once someone pays it (here the spammer, for its first request).
    const first = pending[0]!.args;
    const { public: reader, wallet } = net.deployment.hubClients;
    await expect(write(wallet(spammer), reader, { address: hub, abi: hubAbi, functionName: "sendWithdrawReply", args: [spoke1.eid, first.requestId!], value: fee - 1n })).rejects.toThrow();
    await write(wallet(spammer), reader, { address: hub, abi: hubAbi, functionName: "sendWithdrawReply", args: [spoke1.eid, first.requestId!], value: fee });
    expect(await reverted(write(wallet(spammer), reader, { address: hub, abi: hubAbi, functionName: "sendWithdrawReply", args: [spoke1.eid, first.requestId!], value: fee }))).toEqual({ errorName: "NoPendingReply", args: [spoke1.eid, first.requestId] });
    await net.deliverer.drain();
    expect(await spokeBalance(spoke1.weth, spammer)).toBe(weth("0.01"));
    expect(await hubBalance()).toBe(before);

    // Unspent credit is the requester's to take back.
    expect(await ensureReplyCredit(net.deployment, user, spoke1.name, 3n)).toBe(3n * fee);
    expect(await hubBalance()).toBe(before + 3n * fee);
    expect(await reverted(write(wallet(user), reader, { address: hub, abi: hubAbi, functionName: "withdrawReplyCredit", args: [3n * fee + 1n] }))).toEqual({ errorName: "InsufficientReplyCredit", args: [3n * fee, 3n * fee + 1n] });
    await write(wallet(user), reader, { address: hub, abi: hubAbi, functionName: "withdrawReplyCredit", args: [3n * fee] });
    expect(await hubBalance()).toBe(before);
  });
});
