/**
 * Seeds borrowers of the hub-accounted money market: collateral deposited into random spokes' pools (credited on
 * the hub through LayerZero), then debt borrowed on the hub to a random target health factor between 1.08 and 2.5,
 * as the reference protocol's seed does (src/devnet/seed.ts), drawn from the seed. Sent concurrently across
 * borrowers with automine (each borrower's writes in order); the pipelined batches of seed.ts are not repeated here
 * (a few hundred borrowers take seconds; thousands belong to the benchmarks' own seeding).
 */
import type { Address } from "viem";
import { accountedHubAbi, accountedSpokeAbi, testTokenAbi } from "../../abis/index.js";
import { confirm, serialized, write } from "../chains/tx.js";
import { WAD, mulDiv, unit } from "../health/wad.js";
import type { PacketDeliverer } from "../layerzero/deliverer.js";
import { fundGas, mint } from "../protocol/actions.js";
import type { Deployment } from "../protocol/deployment.js";
import type { AccountedContracts } from "../protocols/hub-accounted/contracts.js";
import { mapLimit } from "../util/concurrency.js";
import { borrowerAddress } from "./accounts.js";
import type { Rng } from "./rng.js";

/** A seed's borrowers of this protocol are apart from the reference protocol's (another index range). */
const INDEX_OFFSET = 1_000_000;

/** Hub-accounted health of `account` now (or at `blockNumber`), as AccountedHub.healthFactor. */
export function accountedHealthFactor(d: Deployment, c: AccountedContracts, account: Address, blockNumber?: bigint): Promise<bigint> {
  return d.hubClients.public.readContract({ address: c.hub, abi: accountedHubAbi, functionName: "healthFactor", args: [account], blockNumber });
}

export async function seedAccountedBorrowers(d: Deployment, c: AccountedContracts, deliverer: PacketDeliverer, o: { count: number; seed: number; rng: Rng }): Promise<Address[]> {
  const prices = await d.pricesWad();
  const spokes = d.spokes.filter((s) => c.entry.contracts[s.name]);
  const markets = spokes.flatMap((s) => d.collateralAssets.map((a) => ({ spoke: s, asset: a })));
  const plans = Array.from({ length: o.count }, (_, i) => ({
    address: borrowerAddress(o.seed, INDEX_OFFSET + i),
    deposits: o.rng.sample(markets, o.rng.int(1, 3)).map(({ spoke, asset }) => ({
      spoke, assetId: asset.id, amount: mulDiv(BigInt(o.rng.int(1_000, 200_000)) * WAD, unit(asset.decimals), prices.get(asset.id)!),
    })),
    targetHfBps: BigInt(o.rng.int(10_800, 25_000)),
    debtAssetId: o.rng.pick(d.debtAssets).id,
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
    // The target HF, or just inside the borrow limit when the LTV allows less (LINK: 60 % LTV, 70 % threshold).
    const byHf = mulDiv(thresholdValue, 10_000n, p.targetHfBps);
    const byLtv = mulDiv(borrowPower, 999n, 1_000n);
    const value = byHf < byLtv ? byHf : byLtv;
    const amount = mulDiv(value, unit(debt.decimals), prices.get(debt.id)!);
    // A fixed gas limit: an estimate made before another borrower's block accrued the index is short by the
    // accrual's storage writes when this one lands first in a new second.
    if (amount > 0n) {
      const w = hubWallet(p.address);
      const hash = await serialized(w, () => w.writeContract({ address: c.hub, abi: accountedHubAbi, functionName: "borrow", args: [p.debtAssetId, amount], gas: 400_000n }));
      await confirm(hubReader, hash, `borrow by ${p.address}`, undefined, accountedHubAbi);
    }
  });
  return plans.map((p) => p.address);
}

/** Gives the liquidator debt tokens on the hub (devnet: the deployer mints them): a trillion of each, more than any devnet book owes. */
export async function fundLiquidator(d: Deployment, liquidator: Address, tokens = 1_000_000_000_000n): Promise<void> {
  await fundGas(d, liquidator, "100");
  for (const a of d.debtAssets) await mint(d, d.hub.name, d.hub.tokens[String(a.id)]!, liquidator, tokens * unit(a.decimals));
}
