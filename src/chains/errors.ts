/**
 * Reverts read the way viem types them: the decoded custom error's name and arguments
 * (ContractFunctionRevertedError.data), never a regex over a message. Raw revert data (a batch item's
 * `reason` bytes) is decoded against the ABIs that can produce it.
 */
import { type Abi, type Address, type Hex, BaseError, ContractFunctionRevertedError, RawContractError, decodeErrorResult, isHex } from "viem";
import type { Reader } from "./tx.js";

export interface DecodedRevert {
  /** The custom error's name (`AccountHealthy`), `Error` for a require string, `Panic` for a panic; undefined when undecodable. */
  errorName?: string;
  args: readonly unknown[];
  /** One line for logs and the database: `AccountHealthy(998…)`, or viem's short message. */
  message: string;
}

/** Text safe to store in PostgreSQL TEXT: no NUL bytes (a raw revert reason may hold them), bounded length. */
export function storableText(text: string, max = 1_000): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/\u0000/g, "\\0");
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

function format(errorName: string, args: readonly unknown[]): string {
  return storableText(`${errorName}(${args.map((a) => String(a)).join(", ")})`);
}

/** The revert inside any viem error (simulate, estimateGas, call, write), decoded by the ABI viem was given. */
export function revertOf(error: unknown): DecodedRevert {
  if (error instanceof BaseError) {
    const revert = error.walk((e) => e instanceof ContractFunctionRevertedError);
    if (revert instanceof ContractFunctionRevertedError && revert.data?.errorName) {
      const args = revert.data.args ?? [];
      return { errorName: revert.data.errorName, args, message: format(revert.data.errorName, args) };
    }
    return { args: [], message: storableText(error.shortMessage) };
  }
  return { args: [], message: storableText(error instanceof Error ? error.message : String(error)) };
}

/** Raw revert data decoded against `abi` (plus Error(string) and Panic(uint256), which viem knows). */
export function decodeRevertData(abi: Abi, data: Hex): DecodedRevert {
  if (data === "0x") return { args: [], message: "reverted without data" };
  try {
    const decoded = decodeErrorResult({ abi, data });
    const args = decoded.args ?? [];
    return { errorName: decoded.errorName, args, message: format(decoded.errorName, args) };
  } catch {
    return { args: [], message: storableText(`unknown revert ${data.slice(0, 74)}`) };
  }
}

/** The revert's error name and arguments when the ABI knows it, else viem's short message. */
export function describeError(error: unknown): string {
  return revertOf(error).message;
}

/** The revert bytes inside a viem call error, read as viem's own getRevertErrorData does (the innermost cause's data). */
export function revertData(error: unknown): Hex | undefined {
  if (!(error instanceof BaseError)) return undefined;
  const raw = error.walk((e) => e instanceof RawContractError) ?? error.walk();
  const data = (raw as { data?: unknown } | null)?.data;
  const hex = typeof data === "object" && data !== null ? (data as { data?: unknown }).data : data;
  return typeof hex === "string" && isHex(hex) ? hex : undefined;
}

/**
 * The revert bytes of a call replayed with eth_call on the state at the end of `blockNumber` (the
 * failing transaction's block: its other transactions included, the reverted one changed nothing).
 * "passed" when the replay does not revert; undefined when it fails without revert bytes (out of gas).
 */
export async function replayRevert(
  reader: Reader,
  call: { from: Address; to: Address; data: Hex; value?: bigint; gas: bigint; blockNumber: bigint },
): Promise<Hex | "passed" | undefined> {
  try {
    await reader.call({ account: call.from, to: call.to, data: call.data, value: call.value, gas: call.gas, blockNumber: call.blockNumber });
    return "passed";
  } catch (error) {
    const data = revertData(error);
    return data && data !== "0x" ? data : undefined;
  }
}
