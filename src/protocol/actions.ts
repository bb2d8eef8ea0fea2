/**
 * Account actions on a deployment, for the devnet's borrowers and the tests. Borrowers are plain
 * addresses acting through anvil's auto-impersonation; the deployer mints test tokens.
 */
import { type Address, type Hex, type TransactionReceipt, numberToHex, parseEther } from "viem";
import { hubAbi, spokeAbi, testTokenAbi } from "../../abis/index.js";
import { write } from "../chains/tx.js";
import { devnetAccounts } from "../devnet/accounts.js";
import type { Deployment } from "./deployment.js";

/** Gives `account` native gas on every chain of the deployment (anvil_setBalance). */
export async function fundGas(deployment: Deployment, account: Address, ether = "10"): Promise<void> {
  const balance: Hex = numberToHex(parseEther(ether));
  await Promise.all(
    deployment.manifest.chains.map((c) => deployment.clients(c).public.request({ method: "anvil_setBalance", params: [account, balance] } as never)),
  );
}

export async function mint(deployment: Deployment, chain: string, token: Address, to: Address, amount: bigint): Promise<TransactionReceipt> {
  const { public: reader, wallet } = deployment.clients(chain);
  return write(wallet(devnetAccounts.deployer), reader, { address: token, abi: testTokenAbi, functionName: "mint", args: [to, amount] });
}

export async function quoteHubMessage(deployment: Deployment, spoke: string): Promise<bigint> {
  const chain = deployment.manifest.chains.find((c) => c.name === spoke)!;
  return deployment.clients(spoke).public.readContract({ address: chain.contracts.spoke!, abi: spokeAbi, functionName: "quoteHubMessage" });
}

/** Approves and deposits `amount` of the account's tokens on a spoke; the hub credits it once the packet is delivered. */
export async function deposit(deployment: Deployment, spoke: string, account: Address, assetId: number, amount: bigint, fee?: bigint): Promise<TransactionReceipt> {
  const chain = deployment.manifest.chains.find((c) => c.name === spoke)!;
  const { public: reader, wallet } = deployment.clients(spoke);
  const w = wallet(account);
  await write(w, reader, { address: chain.tokens[String(assetId)]!, abi: testTokenAbi, functionName: "approve", args: [chain.contracts.spoke!, amount] });
  return write(w, reader, {
    address: chain.contracts.spoke!, abi: spokeAbi, functionName: "deposit", args: [assetId, amount],
    value: fee ?? (await quoteHubMessage(deployment, spoke)),
  });
}

/** Hub.quoteSpokeMessage: the hub's fee of one message to `spoke`, what a withdraw reply costs its requester. */
export async function quoteReply(deployment: Deployment, spoke: string): Promise<bigint> {
  const eid = deployment.manifest.chains.find((c) => c.name === spoke)!.eid;
  return deployment.hubClients.public.readContract({ address: deployment.hubAddress, abi: hubAbi, functionName: "quoteSpokeMessage", args: [eid] });
}

/**
 * Tops `account`'s reply credit on the hub up to `replies` replies to `spoke` (Hub.fundReplyCredit), paid by the
 * account on the hub chain; returns what it paid in (0 when the credit already covered them).
 */
export async function ensureReplyCredit(deployment: Deployment, account: Address, spoke: string, replies = 1n): Promise<bigint> {
  const { public: reader, wallet } = deployment.hubClients;
  const [fee, credit] = await Promise.all([
    quoteReply(deployment, spoke),
    reader.readContract({ address: deployment.hubAddress, abi: hubAbi, functionName: "replyCredit", args: [account] }),
  ]);
  const missing = fee * replies - credit;
  if (missing <= 0n) return 0n;
  await write(wallet(account), reader, { address: deployment.hubAddress, abi: hubAbi, functionName: "fundReplyCredit", args: [account], value: missing });
  return missing;
}

/**
 * Requests a withdrawal on a spoke. The hub's reply (release or reject) is paid by the requester: unless
 * `fundReply` is false, the account's reply credit on the hub is first topped up to one reply's fee.
 */
export async function requestWithdraw(
  deployment: Deployment,
  spoke: string,
  account: Address,
  assetId: number,
  amount: bigint,
  options: { fundReply?: boolean } = {},
): Promise<TransactionReceipt> {
  const chain = deployment.manifest.chains.find((c) => c.name === spoke)!;
  if (options.fundReply ?? true) await ensureReplyCredit(deployment, account, spoke);
  const { public: reader, wallet } = deployment.clients(spoke);
  return write(wallet(account), reader, {
    address: chain.contracts.spoke!, abi: spokeAbi, functionName: "requestWithdraw", args: [assetId, amount],
    value: await quoteHubMessage(deployment, spoke),
  });
}

export async function borrow(deployment: Deployment, account: Address, assetId: number, amount: bigint): Promise<TransactionReceipt> {
  const { public: reader, wallet } = deployment.hubClients;
  return write(wallet(account), reader, { address: deployment.hubAddress, abi: hubAbi, functionName: "borrow", args: [assetId, amount] });
}
