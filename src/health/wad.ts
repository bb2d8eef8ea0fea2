/**
 * Fixed-point helpers that round exactly as OpenZeppelin's Math.mulDiv does on chain.
 * Every amount is a bigint in base units; every ratio is a WAD (1e18) bigint.
 */
export const WAD = 10n ** 18n;
/** 1e27: the unit of borrow indexes and per-second rates (Aave's and Compound's RAY). */
export const RAY = 10n ** 27n;
export const MAX_UINT256 = 2n ** 256n - 1n;

/** floor(a * b / d), as Math.mulDiv(a, b, d). */
export function mulDiv(a: bigint, b: bigint, d: bigint): bigint {
  if (d === 0n) throw new RangeError("mulDiv: division by zero");
  return (a * b) / d;
}

/** ceil(a * b / d), as Math.mulDiv(a, b, d, Math.Rounding.Ceil). */
export function mulDivUp(a: bigint, b: bigint, d: bigint): bigint {
  if (d === 0n) throw new RangeError("mulDiv: division by zero");
  const p = a * b;
  return p / d + (p % d === 0n ? 0n : 1n);
}

export function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/** 10^decimals as a bigint. */
export function unit(decimals: number): bigint {
  return 10n ** BigInt(decimals);
}

/** Renders a WAD as a decimal string with `digits` fractional digits (display only, never for money paths). */
export function formatWad(value: bigint, digits = 4): string {
  if (value === MAX_UINT256) return "∞";
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const whole = abs / WAD;
  const frac = (abs % WAD).toString().padStart(18, "0").slice(0, digits);
  return `${negative ? "-" : ""}${whole}${digits > 0 ? `.${frac}` : ""}`;
}
