/**
 * What both hubs' batched reads share: one Multicall3 of many calls (`allowFailure`, so one bad read never sinks the
 * rest; chunked to stay far under a node's eth_call gas cap), a cursor over its results, and the asset terms both
 * hubs expose alike (`priceWad(asset)`, refused by name when unusable; `assets(asset)`: decimals, LTV, threshold).
 */
import type { ContractFunctionParameters } from "viem";
import { MULTICALL3_ADDRESS } from "../chains/multicall.js";
import { revertOf } from "../chains/errors.js";
import type { Reader } from "../chains/tx.js";

/** Calls per eth_call (plain storage reads): chunks run side by side. */
const CALLS_PER_CHUNK = 400;

export type Call = ContractFunctionParameters;
export interface CallResult {
  status: "success" | "failure";
  result?: unknown;
  error?: Error;
}

export async function multicallAt(reader: Reader, calls: Call[], blockTag: "latest" | "pending"): Promise<CallResult[]> {
  const chunks: Call[][] = [];
  for (let i = 0; i < calls.length; i += CALLS_PER_CHUNK) chunks.push(calls.slice(i, i + CALLS_PER_CHUNK));
  const results = await Promise.all(
    chunks.map((chunk) => reader.multicall({ contracts: chunk, allowFailure: true, multicallAddress: MULTICALL3_ADDRESS, batchSize: 0, blockTag })),
  );
  return results.flat() as CallResult[];
}

/** Reads results in call order: `need` one that must have succeeded (else throws naming it), `take` one as it is. */
export class Results {
  index = 0;
  constructor(readonly all: readonly CallResult[]) {}

  need<T>(what: string): T {
    const r = this.take();
    if (r.status !== "success") throw new Error(`hub read failed: ${what}: ${r.error?.message ?? "reverted"}`);
    return r.result as T;
  }

  take(): CallResult {
    return this.all[this.index++]!;
  }
}

/** The calls `assetTerms` reads back, in its order: every asset's priceWad, then every asset's config. */
export function assetTermCalls(hub: `0x${string}`, abi: Call["abi"], assetIds: readonly number[]): Call[] {
  return [
    ...assetIds.map((id): Call => ({ address: hub, abi, functionName: "priceWad", args: [id] })),
    ...assetIds.map((id): Call => ({ address: hub, abi, functionName: "assets", args: [id] })),
  ];
}

/**
 * Prices and terms of every asset. A price the hub refuses (StalePrice, InvalidPrice: priceWad reverts by name) or a
 * feed that reverts leaves its asset without a price, with the reason: its holders cannot be valued and wait.
 */
export function assetTerms(r: Results, assetIds: readonly number[]) {
  const pricesWad = new Map<number, bigint>();
  const unusablePrices = new Map<number, string>();
  for (const id of assetIds) {
    const x = r.take();
    if (x.status === "success") pricesWad.set(id, x.result as bigint);
    else unusablePrices.set(id, revertOf(x.error).message);
  }
  const decimals = new Map<number, number>();
  const thresholds = new Map<number, { ltv: bigint; liquidationThreshold: bigint }>();
  for (const id of assetIds) {
    const config = r.need<readonly unknown[]>(`assets(${id})`);
    decimals.set(id, config[2] as number);
    thresholds.set(id, { ltv: config[4] as bigint, liquidationThreshold: config[5] as bigint });
  }
  return { pricesWad, unusablePrices, decimals, thresholds };
}
