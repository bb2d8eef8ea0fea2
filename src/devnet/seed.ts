/**
 * Seeds the devnet's borrowers: collateral deposited on random spokes (and credited on the hub through
 * LayerZero), then debt borrowed on the hub to a random target health factor between 1.08 and 2.5.
 * Everything is drawn from the seed, so the same seed seeds the same book.
 */
import type { Address, Hex } from "viem";
import { testTokenAbi } from "../../abis/index.js";
import { confirm, serialized } from "../chain/tx.js";
import { mulDiv, WAD, unit } from "../math/wad.js";
import { borrow, deposit, fundGas, quoteHubMessage } from "../protocol/actions.js";
import type { Deployment } from "../protocol/deployment.js";
import type { PacketDeliverer } from "../relayer/deliverer.js";
import { borrowerAddress, devnetAccounts } from "./accounts.js";
import type { Rng } from "./rng.js";
import { mapLimit } from "../util/concurrency.js";

interface PlannedDeposit {
  spoke: string;
  assetId: number;
  amount: bigint;
}

interface PlannedBorrower {
  address: Address;
  deposits: PlannedDeposit[];
  /** Target health factor in basis points (10_800 = 1.08). */
  targetHfBps: bigint;
  debtAssetId: number;
}

function plan(deployment: Deployment, rng: Rng, seed: number, count: number, prices: Map<number, bigint>): PlannedBorrower[] {
  const markets = deployment.spokes.flatMap((s) => deployment.collateralAssets.map((a) => ({ spoke: s.name, asset: a })));
  return Array.from({ length: count }, (_, i) => {
    const deposits = rng.sample(markets, rng.int(1, 3)).map(({ spoke, asset }) => {
      const usd = BigInt(rng.int(1_000, 200_000));
      return { spoke, assetId: asset.id, amount: mulDiv(usd * WAD, unit(asset.decimals), prices.get(asset.id)!) };
    });
    return {
      address: borrowerAddress(seed, i),
      deposits,
      targetHfBps: BigInt(rng.int(10_800, 25_000)),
      debtAssetId: rng.pick(deployment.debtAssets).id,
    };
  });
}

/** Mints from the deployer without waiting for each receipt, then waits for them all. */
async function mintAll(deployment: Deployment, chain: string, calls: { address: Address; args: readonly [Address, bigint] }[]): Promise<void> {
  const { public: reader, wallet } = deployment.clients(chain);
  const deployer = wallet(devnetAccounts.deployer);
  const hashes: Hex[] = [];
  for (const call of calls) {
    hashes.push(await serialized(deployer, () => deployer.writeContract({ address: call.address, abi: testTokenAbi, functionName: "mint", args: call.args, gas: 100_000n })));
  }
  for (const hash of hashes) await confirm(reader, hash, "mint");
}

export async function seedBorrowers(
  deployment: Deployment,
  deliverer: PacketDeliverer,
  options: { count: number; seed: number; rng: Rng },
): Promise<Address[]> {
  const prices = await deployment.pricesWad();
  const borrowers = plan(deployment, options.rng, options.seed, options.count, prices);
  await mapLimit(borrowers, 16, (b) => fundGas(deployment, b.address));
  for (const spoke of deployment.spokes) {
    const mints = borrowers.flatMap((b) =>
      b.deposits.filter((d) => d.spoke === spoke.name).map((d) => ({ address: spoke.tokens[String(d.assetId)]!, args: [b.address, d.amount] as const })),
    );
    await mintAll(deployment, spoke.name, mints);
  }

  const fees = new Map<string, bigint>();
  for (const spoke of deployment.spokes) fees.set(spoke.name, await quoteHubMessage(deployment, spoke.name));
  await mapLimit(borrowers, 16, async (b) => {
    for (const d of b.deposits) await deposit(deployment, d.spoke, b.address, d.assetId, d.amount, fees.get(d.spoke));
  });
  await deliverer.drain(120_000);

  await mapLimit(borrowers, 16, async (b) => {
    const positions = await deployment.positions(b.address);
    const data = deployment.health(positions, prices);
    const byHf = mulDiv(data.thresholdValue, 10_000n, b.targetHfBps);
    const byLtv = mulDiv(data.borrowPower, 999n, 1_000n);
    const debtValue = byHf < byLtv ? byHf : byLtv;
    const asset = deployment.asset(b.debtAssetId);
    const amount = mulDiv(debtValue, unit(asset.decimals), prices.get(asset.id)!);
    if (amount === 0n) return;
    await borrow(deployment, b.address, asset.id, amount);
  });
  return borrowers.map((b) => b.address);
}
