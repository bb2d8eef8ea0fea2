/**
 * Seeds borrowers of the hub-accounted money market: collateral deposited into random spokes' pools (credited on
 * the hub through LayerZero), then debt borrowed on the hub to a random target health factor between 1.08 and 2.5,
 * as the reference protocol's seed does and with its plan (src/devnet/seed.ts `planBorrowers`, `targetDebtValue`; the
 * borrowers' indexes start at INDEX_OFFSET, so the two books never share an address), drawn from the seed. Sent concurrently across
 * borrowers with automine (each borrower's writes in order); the pipelined batches of seed.ts are not repeated here
 * (a few hundred borrowers take seconds; thousands belong to the benchmarks' own seeding).
 */
import type { Address } from "viem";
import { accountedHubAbi, accountedSpokeAbi, testTokenAbi } from "../../abis/index.js";
import { write } from "../chains/tx.js";
import { mulDiv, unit } from "../health/wad.js";
import type { PacketDeliverer } from "../layerzero/deliverer.js";
import { fundGas, mint } from "../protocol/actions.js";
import type { Deployment } from "../protocol/deployment.js";
import type { AccountedContracts } from "../protocols/hub-accounted/contracts.js";
import { mapLimit } from "../util/concurrency.js";
import type { Rng } from "./rng.js";
import { planBorrowers, targetDebtValue } from "./seed.js";

/** A seed's borrowers of this protocol are apart from the reference protocol's (another index range). */
const INDEX_OFFSET = 1_000_000;

/** Hub-accounted health of `account` now (or at `blockNumber`), as AccountedHub.healthFactor. */
export function accountedHealthFactor(d: Deployment, c: AccountedContracts, account: Address, blockNumber?: bigint): Promise<bigint> {
  return d.hubClients.public.readContract({ address: c.hub, abi: accountedHubAbi, functionName: "healthFactor", args: [account], blockNumber });
}

export async function seedAccountedBorrowers(d: Deployment, c: AccountedContracts, deliverer: PacketDeliverer, o: { count: number; seed: number; rng: Rng }): Promise<Address[]> {
  const prices = await d.pricesWad();
  const spokes = d.spokes.filter((s) => c.entry.contracts[s.name]);
  const plans = planBorrowers(d, o.rng, o.seed, INDEX_OFFSET, o.count, prices, spokes).map((p) => ({
    ...p,
    deposits: p.deposits.map((dep) => ({ ...dep, spoke: spokes.find((s) => s.name === dep.spoke)! })),
  }));
  const fees = new Map(await Promise.all(spokes.map(async (s) => [s.name, await d.clients(s).public.readContract({ address: c.spoke(s.eid), abi: accountedSpokeAbi, functionName: "quoteDeposit" })] as const)));
  await mapLimit(plans, 16, async (p) => {
    await fundGas(d, p.address, "10");
    for (const dep of p.deposits) {
      const token = dep.spoke.tokens[String(dep.assetId)]!;
      const { public: reader, wallet } = d.clients(dep.spoke);
      await mint(d, dep.spoke.name, token, p.address, dep.amount);
      await write(wallet(p.address), reader, { address: token, abi: testTokenAbi, functionName: "approve", args: [c.spoke(dep.spoke.eid), dep.amount] });
      await write(wallet(p.address), reader, { address: c.spoke(dep.spoke.eid), abi: accountedSpokeAbi, functionName: "deposit", args: [dep.assetId, dep.amount], value: fees.get(dep.spoke.name)! });
    }
  });
  await deliverer.drain();
  // Borrow to the target: debt value = threshold value / target HF, in the debt asset at its price (1 USD).
  const { public: hubReader, wallet: hubWallet } = d.hubClients;
  await mapLimit(plans, 16, async (p) => {
    const [, thresholdValue, borrowPower] = await hubReader.readContract({ address: c.hub, abi: accountedHubAbi, functionName: "accountData", args: [p.address] });
    const debt = d.asset(p.debtAssetId);
    const value = targetDebtValue({ thresholdValue, borrowPower }, p.targetHfBps);
    const amount = mulDiv(value, unit(debt.decimals), prices.get(debt.id)!);
    if (amount > 0n) await write(hubWallet(p.address), hubReader, { address: c.hub, abi: accountedHubAbi, functionName: "borrow", args: [p.debtAssetId, amount] });
  });
  return plans.map((p) => p.address);
}

/** Gives the liquidator debt tokens on the hub (devnet: the deployer mints them): a trillion of each, more than any devnet book owes. */
export async function fundLiquidator(d: Deployment, liquidator: Address, tokens = 1_000_000_000_000n): Promise<void> {
  await fundGas(d, liquidator, "100");
  for (const a of d.debtAssets) await mint(d, d.hub.name, d.hub.tokens[String(a.id)]!, liquidator, tokens * unit(a.decimals));
}
