/**
 * The reference market the devnet deploys: which assets exist, their decimals, risk parameters and
 * opening prices. Risk parameters are WAD bigints, as on chain.
 */
import { WAD } from "../health/wad.js";

export type AssetKind = "debt" | "collateral";

export interface AssetSpec {
  id: number;
  symbol: string;
  decimals: number;
  kind: AssetKind;
  /** Opening price as a feed answer with FEED_DECIMALS. */
  initialAnswer: bigint;
  ltv: bigint;
  liquidationThreshold: bigint;
  /** Largest age (seconds) of a feed answer the hub accepts (Hub.listAsset's heartbeat). */
  heartbeat: number;
}

export const FEED_DECIMALS = 8;
const usd = (dollars: number) => BigInt(Math.round(dollars * 100)) * 10n ** BigInt(FEED_DECIMALS - 2);
/** A whole percentage as a WAD share. */
export const pct = (p: number) => (BigInt(p) * WAD) / 100n;

/**
 * The devnet's heartbeat for every asset: a day, Chainlink's for its USD stablecoin feeds. The devnet's prices
 * move only when the simulation or a test pushes them; a test makes one stale with `evm_increaseTime` past it.
 */
export const HEARTBEAT_SECONDS = 86_400;

export const ASSETS: readonly AssetSpec[] = [
  { id: 1, symbol: "USDC", decimals: 6, kind: "debt", initialAnswer: usd(1), ltv: 0n, liquidationThreshold: 0n, heartbeat: HEARTBEAT_SECONDS },
  { id: 2, symbol: "DAI", decimals: 18, kind: "debt", initialAnswer: usd(1), ltv: 0n, liquidationThreshold: 0n, heartbeat: HEARTBEAT_SECONDS },
  { id: 10, symbol: "WETH", decimals: 18, kind: "collateral", initialAnswer: usd(3_000), ltv: pct(80), liquidationThreshold: pct(85), heartbeat: HEARTBEAT_SECONDS },
  { id: 11, symbol: "WBTC", decimals: 8, kind: "collateral", initialAnswer: usd(60_000), ltv: pct(73), liquidationThreshold: pct(78), heartbeat: HEARTBEAT_SECONDS },
  { id: 12, symbol: "LINK", decimals: 18, kind: "collateral", initialAnswer: usd(15), ltv: pct(60), liquidationThreshold: pct(70), heartbeat: HEARTBEAT_SECONDS },
];

export const DEBT_ASSETS = ASSETS.filter((a) => a.kind === "debt");
export const COLLATERAL_ASSETS = ASSETS.filter((a) => a.kind === "collateral");

export function assetById(id: number): AssetSpec {
  const asset = ASSETS.find((a) => a.id === id);
  if (!asset) throw new Error(`unknown asset id ${id}`);
  return asset;
}

export const AUCTION_PARAMS = {
  closeFactor: pct(50),
  minBonus: pct(2),
  maxBonus: pct(12),
  auctionDuration: 600n,
  auctionTail: 3_600n,
} as const;

/** Native fee the local SimpleMessageLib charges per message (wei). */
export const LAYERZERO_NATIVE_FEE = 10n ** 12n;
