/**
 * Deploys the hub-accounted money market (contracts/hub-accounted/) beside the reference protocol on the same
 * chains: an AccountedHub on the hub chain reading the same price feeds and lending the same debt tokens, an
 * AccountedSpoke on every spoke pooling the same collateral tokens, wired as LayerZero peers over the same
 * endpoints. Returns its manifest entry (`protocols[]`).
 */
import { pad } from "viem";
import { accountedHubAbi, accountedHubBytecode, accountedSpokeAbi, accountedSpokeBytecode, testTokenAbi } from "../../abis/index.js";
import { createChainClients } from "../chains/clients.js";
import { deployContract, write } from "../chains/tx.js";
import type { HubAccountedManifest, ManifestChain } from "../deployment/manifest.js";
import { RAY, WAD } from "../health/wad.js";
import { devnetAccounts } from "./accounts.js";
import { ASSETS, COLLATERAL_ASSETS, DEBT_ASSETS, pct } from "./market.js";

const SECONDS_PER_YEAR = 31_536_000n;

/** The devnet's liquidation terms: Aave v3's close factor (50 %, all below HF 0.95) and a fixed 5 % bonus. */
export const HUB_ACCOUNTED_LIQUIDATION = { closeFactor: pct(50), fullCloseBelowHf: pct(95), bonus: pct(5) } as const;

/** Yearly borrow rate per debt asset (WAD), turned into RAY per second on chain (linear accrual). */
export const HUB_ACCOUNTED_RATES: Readonly<Record<number, bigint>> = { 1: pct(8), 2: pct(6) };

export function ratePerSecondRay(yearlyWad: bigint): bigint {
  return (yearlyWad * (RAY / WAD)) / SECONDS_PER_YEAR;
}

const LIQUIDITY_TOKENS = 1_000_000_000n;
const RESERVE_TOKENS = 1_000_000n;

export async function deployHubAccounted(chains: readonly ManifestChain[], name = "accounted"): Promise<HubAccountedManifest> {
  const hub = chains.find((c) => c.role === "hub")!;
  const spokes = chains.filter((c) => c.role === "spoke");
  const deployer = devnetAccounts.deployer.address;
  const open = (c: ManifestChain) => {
    const clients = createChainClients(c);
    return { reader: clients.public, wallet: clients.wallet(devnetAccounts.deployer) };
  };

  const h = open(hub);
  const startBlocks = new Map<string, number>();
  const deployHub = async () => {
    startBlocks.set(hub.name, Number(await h.reader.getBlockNumber()));
    const address = await deployContract(h.wallet, h.reader, { name: "AccountedHub", abi: accountedHubAbi, bytecode: accountedHubBytecode }, [hub.contracts.endpoint, deployer]);
    const call = <F extends "listAsset" | "listCollateralMarket" | "setLiquidationParams" | "setInterestRate" | "supplyLiquidity" | "fundReserve">(functionName: F, args: unknown[]) =>
      write(h.wallet, h.reader, { address, abi: accountedHubAbi, functionName, args } as never);
    for (const asset of ASSETS) {
      const token = asset.kind === "debt" ? hub.tokens[String(asset.id)]! : "0x0000000000000000000000000000000000000000";
      await call("listAsset", [asset.id, hub.feeds[String(asset.id)]!, asset.decimals, token, asset.ltv, asset.liquidationThreshold, asset.heartbeat]);
    }
    for (const spoke of spokes) for (const asset of COLLATERAL_ASSETS) await call("listCollateralMarket", [spoke.eid, asset.id]);
    await call("setLiquidationParams", [HUB_ACCOUNTED_LIQUIDATION]);
    for (const asset of DEBT_ASSETS) {
      await call("setInterestRate", [asset.id, ratePerSecondRay(HUB_ACCOUNTED_RATES[asset.id] ?? 0n)]);
      const token = hub.tokens[String(asset.id)]!;
      const unit = 10n ** BigInt(asset.decimals);
      const total = (LIQUIDITY_TOKENS + RESERVE_TOKENS) * unit;
      await write(h.wallet, h.reader, { address: token, abi: testTokenAbi, functionName: "mint", args: [deployer, total] });
      await write(h.wallet, h.reader, { address: token, abi: testTokenAbi, functionName: "approve", args: [address, total] });
      await call("supplyLiquidity", [asset.id, LIQUIDITY_TOKENS * unit]);
      await call("fundReserve", [asset.id, RESERVE_TOKENS * unit]);
    }
    return address;
  };
  const deploySpoke = async (spoke: ManifestChain) => {
    const s = open(spoke);
    startBlocks.set(spoke.name, Number(await s.reader.getBlockNumber()));
    const address = await deployContract(s.wallet, s.reader, { name: "AccountedSpoke", abi: accountedSpokeAbi, bytecode: accountedSpokeBytecode }, [spoke.contracts.endpoint, deployer, hub.eid]);
    for (const asset of COLLATERAL_ASSETS) {
      await write(s.wallet, s.reader, { address, abi: accountedSpokeAbi, functionName: "listAsset", args: [asset.id, spoke.tokens[String(asset.id)]!] });
    }
    return address;
  };
  const [hubAddress, ...spokeAddresses] = await Promise.all([deployHub(), ...spokes.map(deploySpoke)]);
  for (const [i, spoke] of spokes.entries()) {
    const s = open(spoke);
    await write(h.wallet, h.reader, { address: hubAddress!, abi: accountedHubAbi, functionName: "setPeer", args: [spoke.eid, pad(spokeAddresses[i]!, { size: 32 })] });
    await write(s.wallet, s.reader, { address: spokeAddresses[i]!, abi: accountedSpokeAbi, functionName: "setPeer", args: [hub.eid, pad(hubAddress!, { size: 32 })] });
  }
  return {
    protocol: "hub-accounted",
    name,
    contracts: Object.fromEntries([
      [hub.name, { address: hubAddress!, startBlock: startBlocks.get(hub.name)! }],
      ...spokes.map((s, i) => [s.name, { address: spokeAddresses[i]!, startBlock: startBlocks.get(s.name)! }] as const),
    ]),
    liquidation: { ...HUB_ACCOUNTED_LIQUIDATION },
    accounts: [],
  };
}
