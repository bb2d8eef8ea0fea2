/** A crashed devnet book for relayer tests: seeded borrowers, a calibrated crash, a funded taker. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Address } from "viem";
import { hubAbi, spokeAbi, testTokenAbi } from "../../abis/index.js";
import { serializeManifest } from "../../src/deployment/manifest.js";
import { devnetAccounts } from "../../src/devnet/accounts.js";
import { Rng } from "../../src/devnet/rng.js";
import { seedBorrowers } from "../../src/devnet/seed.js";
import { type CrashReport, MarketSimulator } from "../../src/devnet/simulate.js";
import { mint } from "../../src/protocol/actions.js";
import { WAD } from "../../src/math/wad.js";
import { mapLimit } from "../../src/util/concurrency.js";
import { type TestNetwork, startTestNetwork } from "./network.js";

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export interface CrashScenario {
  net: TestNetwork;
  borrowers: Address[];
  crash: CrashReport;
  manifestPath: string;
}

export async function crashScenario(options: { accounts: number; seed: number; share?: number }): Promise<CrashScenario> {
  const net = await startTestNetwork(2);
  try {
    const rng = new Rng(options.seed);
    const borrowers = await seedBorrowers(net.deployment, net.deliverer, { count: options.accounts, seed: options.seed, rng });
    for (const asset of net.deployment.debtAssets) {
      await mint(net.deployment, "hub", net.deployment.hub.tokens[String(asset.id)]!, devnetAccounts.liquidator.address, 10n ** 30n);
    }
    const crash = await new MarketSimulator(net.deployment, rng).crash(borrowers, options.share ?? 0.25);
    const manifestPath = join(mkdtempSync(join(tmpdir(), "salvage-relay-")), "manifest.json");
    writeFileSync(manifestPath, serializeManifest({ ...net.deployment.manifest, accounts: borrowers }));
    return { net, borrowers, crash, manifestPath };
  } catch (error) {
    await net.stop();
    throw error;
  }
}

export async function liquidatableNow(s: CrashScenario): Promise<Address[]> {
  const hfs = await mapLimit(s.borrowers, 16, async (a) => [a, await s.net.deployment.onchainHealthFactor(a)] as const);
  return hfs.filter(([, hf]) => hf < WAD).map(([a]) => a);
}

/** Every take on the hub and every seizure on the spokes, for exactly-once checks. */
export async function onchainLiquidations(s: CrashScenario) {
  const d = s.net.deployment;
  const takes = await d.hubClients.public.getContractEvents({ address: d.hubAddress, abi: hubAbi, eventName: "Take", fromBlock: 0n });
  const kicks = await d.hubClients.public.getContractEvents({ address: d.hubAddress, abi: hubAbi, eventName: "AuctionKicked", fromBlock: 0n });
  const seizures = (
    await Promise.all(
      d.spokes.map(async (spoke) =>
        (await d.clients(spoke).public.getContractEvents({ address: spoke.contracts.spoke!, abi: spokeAbi, eventName: "Seized", fromBlock: 0n })).map((e) => ({ ...e, eid: spoke.eid })),
      ),
    )
  ).flat();
  return { takes, kicks, seizures };
}

export async function receiverBalance(s: CrashScenario, eid: number, assetId: number, receiver: Address): Promise<bigint> {
  const spoke = s.net.deployment.spokes.find((c) => c.eid === eid)!;
  return s.net.deployment.clients(spoke).public.readContract({ address: spoke.tokens[String(assetId)]!, abi: testTokenAbi, functionName: "balanceOf", args: [receiver] });
}
