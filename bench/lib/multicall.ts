/**
 * Many view calls at one block through Multicall3, for the benchmarks' own reads of the hub (books, health):
 * light on the chain while a benchmark measures what happens on it.
 */
import type { Abi, Address, PublicClient } from "viem";
import { MULTICALL3_ADDRESS } from "../../src/chains/multicall.js";
import { mapLimit } from "../../src/util/concurrency.js";

export interface Call {
  address: Address;
  abi: Abi;
  functionName: string;
  args: readonly unknown[];
}

/**
 * Many view calls at one block through Multicall3, `perRequest` per eth_call (its gas is capped by the block's
 * gas limit: heavy calls such as Hub.accountData go fewer at a time); a failed call throws.
 */
export async function readMany(reader: PublicClient, calls: Call[], blockNumber: bigint, perRequest = 500): Promise<unknown[]> {
  const chunks: Call[][] = [];
  for (let i = 0; i < calls.length; i += perRequest) chunks.push(calls.slice(i, i + perRequest));
  const results = await mapLimit(chunks, 4, (chunk) =>
    reader.multicall({ contracts: chunk as never, allowFailure: false, blockNumber, multicallAddress: MULTICALL3_ADDRESS, batchSize: 0 }) as Promise<unknown[]>,
  );
  return results.flat();
}
