/**
 * Deploys LayerZero V2 (EndpointV2 + SimpleMessageLib, LayerZero's own compiled artifacts) and the
 * reference protocol on a hub chain and N spoke chains, and wires them together.
 */
import { type Abi, type Address, type Hex, pad } from "viem";
import {
  endpointV2Abi,
  endpointV2Bytecode,
  hubAbi,
  hubBytecode,
  priceFeedAbi,
  priceFeedBytecode,
  simpleMessageLibAbi,
  simpleMessageLibBytecode,
  spokeAbi,
  spokeBytecode,
  testTokenAbi,
  testTokenBytecode,
} from "../../abis/index.js";
import { createChainClients } from "../chains/clients.js";
import { installMulticall3 } from "../chains/multicall.js";
import { type Reader, type Wallet, deployContract, write } from "../chains/tx.js";
import type { Manifest, ManifestChain } from "../deployment/manifest.js";
import { devnetAccounts } from "./accounts.js";
import { ASSETS, AUCTION_PARAMS, COLLATERAL_ASSETS, DEBT_ASSETS, FEED_DECIMALS, LAYERZERO_NATIVE_FEE } from "./market.js";

export interface ChainToDeploy {
  name: string;
  role: "hub" | "spoke";
  chainId: number;
  rpcUrl: string;
  eid: number;
}

/** Debt-asset liquidity the hub lends out, and the reserve that absorbs bad debt, in whole tokens. */
const HUB_LIQUIDITY_TOKENS = 1_000_000_000n;
const HUB_RESERVE_TOKENS = 1_000_000n;

const contract = <A extends Abi>(name: string, abi: A, bytecode: Hex) => ({ name, abi, bytecode });
const ENDPOINT = contract("EndpointV2", endpointV2Abi, endpointV2Bytecode);
const MESSAGE_LIB = contract("SimpleMessageLib", simpleMessageLibAbi, simpleMessageLibBytecode);
const HUB = contract("Hub", hubAbi, hubBytecode);
const SPOKE = contract("Spoke", spokeAbi, spokeBytecode);
const FEED = contract("PriceFeed", priceFeedAbi, priceFeedBytecode);
const TOKEN = contract("TestToken", testTokenAbi, testTokenBytecode);

interface ChainCtx {
  spec: ChainToDeploy;
  reader: Reader;
  wallet: Wallet;
  startBlock: number;
  endpoint: Address;
  messageLib: Address;
  tokens: Record<string, Address>;
  feeds: Record<string, Address>;
  app?: Address;
}

async function deployLayerZero(spec: ChainToDeploy, peers: ChainToDeploy[]): Promise<ChainCtx> {
  const clients = createChainClients(spec);
  const reader = clients.public;
  const wallet = clients.wallet(devnetAccounts.deployer);
  const deployer = devnetAccounts.deployer.address;
  const startBlock = Number(await reader.getBlockNumber());
  await installMulticall3(reader);

  const endpoint = await deployContract(wallet, reader, ENDPOINT, [spec.eid, deployer]);
  const messageLib = await deployContract(wallet, reader, MESSAGE_LIB, [endpoint, deployer]);
  await write(wallet, reader, { address: messageLib, abi: simpleMessageLibAbi, functionName: "setMessagingFee", args: [LAYERZERO_NATIVE_FEE, 0n] });
  // Only the relayer's verifier key may verify packets through the local message library.
  await write(wallet, reader, { address: messageLib, abi: simpleMessageLibAbi, functionName: "setWhitelistCaller", args: [devnetAccounts.relayer.address] });
  await write(wallet, reader, { address: endpoint, abi: endpointV2Abi, functionName: "registerLibrary", args: [messageLib] });
  for (const peer of peers) {
    await write(wallet, reader, { address: endpoint, abi: endpointV2Abi, functionName: "setDefaultSendLibrary", args: [peer.eid, messageLib] });
    await write(wallet, reader, { address: endpoint, abi: endpointV2Abi, functionName: "setDefaultReceiveLibrary", args: [peer.eid, messageLib, 0n] });
  }
  return { spec, reader, wallet, startBlock, endpoint, messageLib, tokens: {}, feeds: {} };
}

async function deployToken(ctx: ChainCtx, symbol: string, decimals: number): Promise<Address> {
  return deployContract(ctx.wallet, ctx.reader, TOKEN, [devnetAccounts.deployer.address, `Test ${symbol}`, symbol, decimals]);
}

async function deployHub(ctx: ChainCtx, spokes: ChainToDeploy[]): Promise<void> {
  const { wallet, reader } = ctx;
  const deployer = devnetAccounts.deployer.address;
  const hub = await deployContract(wallet, reader, HUB, [ctx.endpoint, deployer]);
  ctx.app = hub;
  for (const asset of ASSETS) {
    const feed = await deployContract(wallet, reader, FEED, [deployer, FEED_DECIMALS, `${asset.symbol} / USD`, asset.initialAnswer]);
    ctx.feeds[asset.id] = feed;
    let token: Address = "0x0000000000000000000000000000000000000000";
    if (asset.kind === "debt") {
      token = await deployToken(ctx, asset.symbol, asset.decimals);
      ctx.tokens[asset.id] = token;
    }
    await write(wallet, reader, {
      address: hub, abi: hubAbi, functionName: "listAsset",
      args: [asset.id, feed, asset.decimals, token, asset.ltv, asset.liquidationThreshold, asset.heartbeat],
    });
  }
  for (const spoke of spokes) {
    for (const asset of COLLATERAL_ASSETS) {
      await write(wallet, reader, { address: hub, abi: hubAbi, functionName: "listCollateralMarket", args: [spoke.eid, asset.id] });
    }
  }
  await write(wallet, reader, {
    address: hub, abi: hubAbi, functionName: "setAuctionParams",
    args: [{ ...AUCTION_PARAMS, auctionDuration: Number(AUCTION_PARAMS.auctionDuration), auctionTail: Number(AUCTION_PARAMS.auctionTail) }],
  });
  for (const asset of DEBT_ASSETS) {
    const token = ctx.tokens[asset.id]!;
    const unit = 10n ** BigInt(asset.decimals);
    const total = (HUB_LIQUIDITY_TOKENS + HUB_RESERVE_TOKENS) * unit;
    await write(wallet, reader, { address: token, abi: testTokenAbi, functionName: "mint", args: [deployer, total] });
    await write(wallet, reader, { address: token, abi: testTokenAbi, functionName: "approve", args: [hub, total] });
    await write(wallet, reader, { address: hub, abi: hubAbi, functionName: "supplyLiquidity", args: [asset.id, HUB_LIQUIDITY_TOKENS * unit] });
    await write(wallet, reader, { address: hub, abi: hubAbi, functionName: "fundReserve", args: [asset.id, HUB_RESERVE_TOKENS * unit] });
  }
  // No native fund: the hub pays no fee of its own (withdraw replies are paid by their requesters' reply credit).
}

async function deploySpoke(ctx: ChainCtx, hubEid: number): Promise<void> {
  const { wallet, reader } = ctx;
  const spoke = await deployContract(wallet, reader, SPOKE, [ctx.endpoint, devnetAccounts.deployer.address, hubEid]);
  ctx.app = spoke;
  for (const asset of COLLATERAL_ASSETS) {
    const token = await deployToken(ctx, asset.symbol, asset.decimals);
    ctx.tokens[asset.id] = token;
    await write(wallet, reader, { address: spoke, abi: spokeAbi, functionName: "listAsset", args: [asset.id, token] });
  }
}

async function setPeer(ctx: ChainCtx, abi: typeof hubAbi | typeof spokeAbi, peerEid: number, peer: Address): Promise<void> {
  await write(ctx.wallet, ctx.reader, { address: ctx.app!, abi: abi as typeof hubAbi, functionName: "setPeer", args: [peerEid, pad(peer, { size: 32 })] });
}

/** Deploys everything and returns the manifest's chain and asset sections. */
export async function deployProtocol(chains: ChainToDeploy[]): Promise<Pick<Manifest, "chains" | "assets" | "auction" | "roles">> {
  const hubSpec = chains.find((c) => c.role === "hub");
  if (!hubSpec) throw new Error("deployProtocol: no hub chain");
  const spokeSpecs = chains.filter((c) => c.role === "spoke");

  const ctxs = await Promise.all(chains.map((spec) => deployLayerZero(spec, chains.filter((c) => c !== spec))));
  const hubCtx = ctxs.find((c) => c.spec === hubSpec)!;
  const spokeCtxs = ctxs.filter((c) => c !== hubCtx);

  await Promise.all([deployHub(hubCtx, spokeSpecs), ...spokeCtxs.map((ctx) => deploySpoke(ctx, hubSpec.eid))]);
  for (const spoke of spokeCtxs) {
    await setPeer(hubCtx, hubAbi, spoke.spec.eid, spoke.app!);
    await setPeer(spoke, spokeAbi, hubSpec.eid, hubCtx.app!);
  }

  const manifestChains: ManifestChain[] = ctxs.map((ctx) => ({
    name: ctx.spec.name,
    role: ctx.spec.role,
    chainId: ctx.spec.chainId,
    rpcUrl: ctx.spec.rpcUrl,
    eid: ctx.spec.eid,
    startBlock: ctx.startBlock,
    lzConfirmations: 0,
    contracts: {
      endpoint: ctx.endpoint,
      messageLib: ctx.messageLib,
      ...(ctx.spec.role === "hub" ? { hub: ctx.app! } : { spoke: ctx.app! }),
    },
    tokens: ctx.tokens,
    feeds: ctx.feeds,
  }));
  return {
    chains: manifestChains,
    assets: ASSETS.map((a) => ({
      id: a.id, symbol: a.symbol, decimals: a.decimals, kind: a.kind, feedDecimals: FEED_DECIMALS,
      ltv: a.ltv, liquidationThreshold: a.liquidationThreshold, heartbeat: a.heartbeat,
    })),
    auction: { ...AUCTION_PARAMS },
    roles: {
      deployer: devnetAccounts.deployer.address,
      relayer: devnetAccounts.relayer.address,
      liquidator: devnetAccounts.liquidator.address,
    },
  };
}
