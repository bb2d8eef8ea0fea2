/**
 * The take policy: whether, when and how to take in a Dutch auction. The take itself (which pair, how much,
 * costs and profit) is the opportunity model's `bestTake` (src/opportunity/take.ts), under the relayer's
 * constraints (debt-token inventory, per-spoke exposure cap) and costs (hub gas, LayerZero fee, price risk
 * while in flight). The policy adds its own decisions: skip without debt or inventory, wait while nothing
 * clears `minProfitUsd` (the bonus grows), and the least seizure accepted on chain.
 */
import { NO_TAKE_MESSAGES, bestTake } from "../opportunity/take.js";
import { WAD, mulDiv } from "../health/wad.js";

export interface PolicyConfig {
  /** Least profit worth a take (WAD USD). */
  minProfitUsd: bigint;
  /** Most collateral value (WAD USD) in flight to one spoke eid at once; `default` for eids not listed. */
  maxExposureUsd: { default: bigint; byEid?: Record<number, bigint> };
  /** Expected adverse move of collateral while in flight, in bps per minute. */
  priceRiskBpsPerMinute: bigint;
  /** Expected seconds from take to collateral delivered on the spoke. */
  expectedDeliverySeconds: bigint;
  /** Gas a take uses on the hub (estimated per take when possible; this is the planning figure). */
  takeGas: bigint;
  /** Least share of the quoted seizure accepted on chain (minSeize), in bps. */
  minSeizeBps: bigint;
}

export interface PlanInput {
  debts: { assetId: number; amount: bigint; priceWad: bigint; decimals: number; inventory: bigint }[];
  collaterals: { eid: number; assetId: number; amount: bigint; priceWad: bigint; decimals: number }[];
  closeFactor: bigint;
  bonus: bigint;
  /** Hub gas price and the hub's native token price (WAD USD). */
  gasPriceWei: bigint;
  hubNativePriceWad: bigint;
  /** LayerZero fee (wei on the hub) of a SEIZE to each eid. */
  lzFeeWei: Record<number, bigint>;
  /** Collateral value already in flight per eid (WAD USD). */
  exposure: Record<number, bigint>;
  /** Measured seconds from take to collateral delivered, per eid (the configured expectedDeliverySeconds elsewhere). */
  deliverySeconds?: Record<number, bigint>;
}

export interface TakePlan {
  action: "take";
  debtAssetId: number;
  collateralEid: number;
  collateralAssetId: number;
  maxRepay: bigint;
  repayAmount: bigint;
  seizeAmount: bigint;
  minSeize: bigint;
  seizeValue: bigint;
  repayValue: bigint;
  costs: { gas: bigint; lzFee: bigint; priceRisk: bigint };
  profit: bigint;
}

export type Plan = TakePlan | { action: "wait"; reason: string; bestProfit?: bigint } | { action: "skip"; reason: string };

export function planTake(config: PolicyConfig, input: PlanInput): Plan {
  const choice = bestTake({
    debts: input.debts,
    collaterals: input.collaterals,
    closeFactor: input.closeFactor,
    bonus: input.bonus,
    constraints: {
      inventory: Object.fromEntries(input.debts.map((d) => [d.assetId, d.inventory])),
      exposure: { cap: config.maxExposureUsd, current: input.exposure },
    },
    costs: {
      nativePriceWad: input.hubNativePriceWad,
      gasWei: config.takeGas * input.gasPriceWei,
      lzFeeWei: input.lzFeeWei,
      priceRiskBpsPerMinute: config.priceRiskBpsPerMinute,
      expectedDeliverySeconds: config.expectedDeliverySeconds,
      deliverySecondsByEid: input.deliverySeconds,
    },
  });
  if (!choice.take) {
    const reason = NO_TAKE_MESSAGES[choice.reason];
    return choice.reason === "no-debt" || choice.reason === "no-inventory" ? { action: "skip", reason } : { action: "wait", reason };
  }
  const t = choice.take;
  if (t.profit < config.minProfitUsd) return { action: "wait", reason: `profit ${t.profit} below minimum ${config.minProfitUsd}`, bestProfit: t.profit };
  return {
    action: "take",
    debtAssetId: t.debt.assetId, collateralEid: t.collateral.eid, collateralAssetId: t.collateral.assetId,
    maxRepay: t.maxRepay, repayAmount: t.repayAmount, seizeAmount: t.seizeAmount,
    minSeize: mulDiv(t.seizeAmount, config.minSeizeBps, 10_000n),
    seizeValue: t.seizeValue, repayValue: t.repayValue, costs: t.costs, profit: t.profit,
  };
}

/**
 * The most a batch's transaction may offer per gas, through every fee bump: the gas price at which the
 * batch's takes, together, would fall to the policy's minimum profit. Each plan's profit already paid its
 * gas at today's price; that is added back, the minimum taken off, and what is left, in the hub's native
 * token, is spread over the batch's gas limit. Never below today's price (the batch must be sendable).
 */
export function batchMaxFeePerGas(
  plans: readonly Pick<TakePlan, "profit" | "costs">[],
  o: { gasLimit: bigint; gasPriceWei: bigint; hubNativePriceWad: bigint; minProfitUsd: bigint },
): bigint {
  let budgetUsd = 0n;
  for (const p of plans) budgetUsd += p.profit + p.costs.gas - o.minProfitUsd;
  if (budgetUsd <= 0n || o.gasLimit === 0n) return o.gasPriceWei;
  const cap = mulDiv(budgetUsd, WAD, o.hubNativePriceWad) / o.gasLimit;
  return cap > o.gasPriceWei ? cap : o.gasPriceWei;
}

/** An account's collateral value over its debt (WAD); undefined without debt. */
export type Coverage = bigint | undefined;

export function coverage(v: { collateralValue: bigint; debtValue: bigint }): Coverage {
  return v.debtValue === 0n ? undefined : mulDiv(v.collateralValue, WAD, v.debtValue);
}

/**
 * The order in which liquidatable accounts are worked when they do not all fit in the next block: those nearest
 * to going under water first (collateral / debt lowest, from 1 up: a small further fall turns them into bad
 * debt), then those already under water, closest to 1 first (a take there no longer reduces the shortfall, it
 * only stops it from growing), then accounts without debt. A comparator: negative when `a` goes first.
 */
export function nearestUnderWaterFirst(a: Coverage, b: Coverage): number {
  const rank = (c: Coverage) => (c === undefined ? 2 : c >= WAD ? 0 : 1);
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (a === undefined || b === undefined || a === b) return 0;
  // Above water: lower coverage first; under water: higher coverage (closer to 1) first.
  return (ra === 0 ? a < b : a > b) ? -1 : 1;
}
