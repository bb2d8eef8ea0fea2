/**
 * The one definition of "the best take of an account at a bonus", used by the API's `opportunities`, the
 * opportunity feed and the relayer's policy. Pure bigint arithmetic in WAD USD; the quote is the hub's own
 * (`quoteTake` = Hub._quoteTake), so repayAmount/seizeAmount equal `previewTake` for the chosen pair.
 *
 * For every (debt asset × collateral position) pair:
 *
 *   maxRepay   = debt × closeFactor, capped by the taker's inventory of the debt token (when given)
 *   repay/seize = quoteTake(maxRepay, bonus)              (the collateral cap applied, as on chain)
 *   bonusValue = seizeValue − repayValue
 *   profit     = bonusValue − gas − LayerZero fee to the collateral's eid − price risk while in flight
 *
 * A pair is feasible when it repays and seizes something, the taker holds some of the debt token and the
 * seized value fits under the exposure cap of the collateral's eid. The choice: the most profitable feasible
 * pair; ties go to the larger collateral position, then the larger debt, then the lowest (debt asset, eid,
 * collateral asset). Without constraints and costs, profit is the bonus value, and every caller picks the
 * same pair for the same state.
 */
import { type AuctionParams, bonusAt, quoteTake, valueOf } from "../health/health.js";
import { WAD, minBig, mulDiv } from "../health/wad.js";

/** A debt position of the account, priced (WAD) as the hub prices it. */
export interface DebtInput {
  assetId: number;
  amount: bigint;
  priceWad: bigint;
  decimals: number;
}

/** A collateral position of the account on spoke `eid`, priced (WAD) as the hub prices it. */
export interface CollateralInput {
  eid: number;
  assetId: number;
  amount: bigint;
  priceWad: bigint;
  decimals: number;
}

/** What limits the taker (the relayer); absent for a view of the account alone (the API). */
export interface TakeConstraints {
  /** Balance of each debt token the taker holds (base units, by asset id); an asset not listed has none. */
  inventory?: Readonly<Record<number, bigint>>;
  /** Most collateral value (WAD USD) in flight to one eid: `default` for eids not in `byEid`, with what is already in flight. */
  exposure?: {
    cap: { default: bigint; byEid?: Readonly<Record<number, bigint>> };
    current: Readonly<Record<number, bigint>>;
  };
}

/** What a take costs the taker; every part optional (zero when absent). */
export interface TakeCosts {
  /** Price (WAD USD) of the hub's native token, which pays gas and LayerZero fees. */
  nativePriceWad: bigint;
  /** Gas of one take on the hub, in wei (gas used × gas price). */
  gasWei?: bigint;
  /** LayerZero fee (wei on the hub) of the SEIZE message to each eid. */
  lzFeeWei?: Readonly<Record<number, bigint>>;
  /** Expected adverse move of the collateral while the packet is in flight, in bps per minute… */
  priceRiskBpsPerMinute?: bigint;
  /** …over the expected seconds from take to collateral delivered… */
  expectedDeliverySeconds?: bigint;
  /** …or, for the eids listed, that pathway's own (measured) seconds. */
  deliverySecondsByEid?: Readonly<Record<number, bigint>>;
}

export interface TakeInput<D extends DebtInput = DebtInput, C extends CollateralInput = CollateralInput> {
  debts: readonly D[];
  collaterals: readonly C[];
  closeFactor: bigint;
  /** The auction bonus (WAD) the take would get. */
  bonus: bigint;
  constraints?: TakeConstraints;
  costs?: TakeCosts;
}

export interface TakeCostBreakdown {
  gas: bigint;
  lzFee: bigint;
  priceRisk: bigint;
}

export interface Take<D extends DebtInput = DebtInput, C extends CollateralInput = CollateralInput> {
  /** The chosen positions, as given. */
  debt: D;
  collateral: C;
  /** Value (WAD USD) of each chosen position. */
  debtValue: bigint;
  collateralValue: bigint;
  /** What the take asks to repay: debt × closeFactor, capped by inventory when given. */
  maxRepay: bigint;
  /** quoteTake(maxRepay, bonus): what `take(maxRepay)` repays and seizes, i.e. the hub's previewTake. */
  repayAmount: bigint;
  seizeAmount: bigint;
  repayValue: bigint;
  seizeValue: bigint;
  /** seizeValue − repayValue. */
  bonusValue: bigint;
  costs: TakeCostBreakdown;
  /** bonusValue − gas − lzFee − priceRisk. */
  profit: bigint;
}

/** Why an account has no take: no debt; no inventory of any owed token; every pair over its exposure cap; nothing to seize. */
export type NoTakeReason = "no-debt" | "no-inventory" | "exposure-cap" | "nothing-to-seize";

export const NO_TAKE_MESSAGES: Readonly<Record<NoTakeReason, string>> = {
  "no-debt": "no debt",
  "no-inventory": "insufficient inventory: no balance of any owed debt token",
  "exposure-cap": "exposure cap reached on every spoke holding collateral",
  "nothing-to-seize": "nothing to seize",
};

export type TakeChoice<D extends DebtInput = DebtInput, C extends CollateralInput = CollateralInput> =
  | { take: Take<D, C>; reason?: undefined }
  | { take?: undefined; reason: NoTakeReason };

const ZERO_COSTS: TakeCostBreakdown = { gas: 0n, lzFee: 0n, priceRisk: 0n };

/** Native wei on the hub to WAD USD. */
export const nativeToUsd = (wei: bigint, nativePriceWad: bigint): bigint => mulDiv(wei, nativePriceWad, WAD);

/** The best take of an account at `bonus` (see the module comment for the rule). */
export function bestTake<D extends DebtInput, C extends CollateralInput>(input: TakeInput<D, C>): TakeChoice<D, C> {
  const owed = input.debts.filter((d) => d.amount > 0n);
  if (owed.length === 0) return { reason: "no-debt" };
  const inventory = input.constraints?.inventory;
  const funded = inventory ? owed.filter((d) => (inventory[d.assetId] ?? 0n) > 0n) : owed;
  if (funded.length === 0) return { reason: "no-inventory" };
  const held = input.collaterals.filter((c) => c.amount > 0n);

  let best: Take<D, C> | undefined;
  let blockedByExposure = false;
  for (const d of funded) {
    const debtValue = valueOf(d.amount, d.priceWad, d.decimals);
    const byCloseFactor = mulDiv(d.amount, input.closeFactor, WAD);
    const maxRepay = inventory ? minBig(byCloseFactor, inventory[d.assetId]!) : byCloseFactor;
    for (const c of held) {
      const quote = quoteTake({
        debtAmount: d.amount, debtPriceWad: d.priceWad, debtDecimals: d.decimals,
        collateralAmount: c.amount, collateralPriceWad: c.priceWad, collateralDecimals: c.decimals,
        closeFactor: input.closeFactor, bonus: input.bonus, maxRepay,
      });
      if (quote.repayAmount === 0n || quote.seizeAmount === 0n) continue;
      const repayValue = valueOf(quote.repayAmount, d.priceWad, d.decimals);
      const seizeValue = valueOf(quote.seizeAmount, c.priceWad, c.decimals);
      const exposure = input.constraints?.exposure;
      if (exposure && (exposure.current[c.eid] ?? 0n) + seizeValue > (exposure.cap.byEid?.[c.eid] ?? exposure.cap.default)) {
        blockedByExposure = true;
        continue;
      }
      const costs = input.costs ? costsOf(input.costs, c.eid, seizeValue) : ZERO_COSTS;
      const bonusValue = seizeValue - repayValue;
      const take: Take<D, C> = {
        debt: d, collateral: c, debtValue, collateralValue: valueOf(c.amount, c.priceWad, c.decimals),
        maxRepay, repayAmount: quote.repayAmount, seizeAmount: quote.seizeAmount, repayValue, seizeValue, bonusValue,
        costs, profit: bonusValue - costs.gas - costs.lzFee - costs.priceRisk,
      };
      if (!best || better(take, best)) best = take;
    }
  }
  if (best) return { take: best };
  return { reason: blockedByExposure ? "exposure-cap" : "nothing-to-seize" };
}

function costsOf(k: TakeCosts, eid: number, seizeValue: bigint): TakeCostBreakdown {
  return {
    gas: nativeToUsd(k.gasWei ?? 0n, k.nativePriceWad),
    lzFee: nativeToUsd(k.lzFeeWei?.[eid] ?? 0n, k.nativePriceWad),
    priceRisk: mulDiv(seizeValue, (k.priceRiskBpsPerMinute ?? 0n) * (k.deliverySecondsByEid?.[eid] ?? k.expectedDeliverySeconds ?? 0n), 60n * 10_000n),
  };
}

/** The choice rule: more profit; then the larger collateral position, the larger debt; then the lowest ids. */
function better(a: Take, b: Take): boolean {
  if (a.profit !== b.profit) return a.profit > b.profit;
  if (a.collateralValue !== b.collateralValue) return a.collateralValue > b.collateralValue;
  if (a.debtValue !== b.debtValue) return a.debtValue > b.debtValue;
  if (a.debt.assetId !== b.debt.assetId) return a.debt.assetId < b.debt.assetId;
  if (a.collateral.eid !== b.collateral.eid) return a.collateral.eid < b.collateral.eid;
  return a.collateral.assetId < b.collateral.assetId;
}

// ------------------------------------------------------------------ the auction a take would land in

/** "none": never kicked (or ended), a kick starts at minBonus; "active": takeable now; "expired": past the tail, needs a re-kick. */
export type AuctionStatus = "none" | "active" | "expired";

export interface AuctionAt {
  status: AuctionStatus;
  /** The bonus a take gets at `now`: bonusAt(startedAt, now) when active, else minBonus (where a kick starts). */
  bonus: bigint;
  /** When an active auction's bonus reaches maxBonus, and when it expires (unix seconds). */
  maxBonusAt: bigint | null;
  expiresAt: bigint | null;
}

/** The account's auction at `now`, from the start of its active auction (undefined when it has none), as the hub's `take` sees it. */
export function auctionAt(params: AuctionParams, startedAt: bigint | undefined, now: bigint): AuctionAt {
  if (startedAt === undefined) return { status: "none", bonus: params.minBonus, maxBonusAt: null, expiresAt: null };
  if (now > startedAt + params.auctionTail) return { status: "expired", bonus: params.minBonus, maxBonusAt: null, expiresAt: null };
  return { status: "active", bonus: bonusAt(params, startedAt, now), maxBonusAt: startedAt + params.auctionDuration, expiresAt: startedAt + params.auctionTail };
}
