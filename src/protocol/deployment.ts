/**
 * A deployment opened for reading and writing: viem clients per chain of a manifest, and the reads the
 * devnet, the tests and the relayer share (prices, positions, health).
 */
import type { Address } from "viem";
import { hubAbi, priceFeedAbi } from "../../abis/index.js";
import { type ChainClients, createChainClients } from "../chains/clients.js";
import { type Manifest, type ManifestChain, hubChain, spokeChains } from "../deployment/manifest.js";
import { type AccountData, type CollateralPosition, type DebtPosition, accountData, priceToWad } from "../health/health.js";

export class Deployment {
  readonly hub: ManifestChain;
  readonly spokes: ManifestChain[];
  private readonly clientsByName = new Map<string, ChainClients>();

  constructor(readonly manifest: Manifest) {
    this.hub = hubChain(manifest);
    this.spokes = spokeChains(manifest);
    for (const chain of manifest.chains) this.clientsByName.set(chain.name, createChainClients(chain));
  }

  get hubAddress(): Address {
    return this.hub.contracts.hub!;
  }

  clients(chain: ManifestChain | string): ChainClients {
    const name = typeof chain === "string" ? chain : chain.name;
    const clients = this.clientsByName.get(name);
    if (!clients) throw new Error(`no chain named ${name} in the deployment`);
    return clients;
  }

  get hubClients(): ChainClients {
    return this.clients(this.hub);
  }

  asset(id: number) {
    const asset = this.manifest.assets.find((a) => a.id === id);
    if (!asset) throw new Error(`asset ${id} is not in the deployment`);
    return asset;
  }

  get collateralAssets() {
    return this.manifest.assets.filter((a) => a.kind === "collateral");
  }

  get debtAssets() {
    return this.manifest.assets.filter((a) => a.kind === "debt");
  }

  feed(assetId: number): Address {
    const feed = this.hub.feeds[String(assetId)];
    if (!feed) throw new Error(`no feed for asset ${assetId} on the hub chain`);
    return feed;
  }

  /** Latest feed answers on the hub chain, by asset id. */
  async answers(blockNumber?: bigint): Promise<Map<number, bigint>> {
    const reader = this.hubClients.public;
    const entries = await Promise.all(
      this.manifest.assets.map(async (a) => {
        const [, answer] = await reader.readContract({ address: this.feed(a.id), abi: priceFeedAbi, functionName: "latestRoundData", blockNumber });
        return [a.id, answer] as const;
      }),
    );
    return new Map(entries);
  }

  /** WAD prices by asset id, as Hub.priceWad computes them. */
  async pricesWad(blockNumber?: bigint): Promise<Map<number, bigint>> {
    const answers = await this.answers(blockNumber);
    return new Map(this.manifest.assets.map((a) => [a.id, priceToWad(answers.get(a.id)!, a.feedDecimals)]));
  }

  /** An account's hub positions (collateral per spoke and asset, debt per asset). */
  async positions(account: Address, blockNumber?: bigint): Promise<{ collateral: { eid: number; assetId: number; amount: bigint }[]; debt: { assetId: number; amount: bigint }[] }> {
    const reader = this.hubClients.public;
    const hub = this.hubAddress;
    const collateral = await Promise.all(
      this.spokes.flatMap((s) =>
        this.collateralAssets.map(async (a) => ({
          eid: s.eid,
          assetId: a.id,
          amount: await reader.readContract({ address: hub, abi: hubAbi, functionName: "collateral", args: [account, s.eid, a.id], blockNumber }),
        })),
      ),
    );
    const debt = await Promise.all(
      this.debtAssets.map(async (a) => ({
        assetId: a.id,
        amount: await reader.readContract({ address: hub, abi: hubAbi, functionName: "debt", args: [account, a.id], blockNumber }),
      })),
    );
    return { collateral, debt };
  }

  /** The TypeScript health of positions at the given prices (src/health/health.ts). */
  health(
    positions: { collateral: { assetId: number; amount: bigint }[]; debt: { assetId: number; amount: bigint }[] },
    prices: Map<number, bigint>,
  ): AccountData {
    const collateral: CollateralPosition[] = positions.collateral.map((p) => {
      const a = this.asset(p.assetId);
      return { amount: p.amount, priceWad: prices.get(a.id)!, decimals: a.decimals, ltv: a.ltv, liquidationThreshold: a.liquidationThreshold };
    });
    const debt: DebtPosition[] = positions.debt.map((p) => {
      const a = this.asset(p.assetId);
      return { amount: p.amount, priceWad: prices.get(a.id)!, decimals: a.decimals };
    });
    return accountData(collateral, debt);
  }

  async onchainHealthFactor(account: Address, blockNumber?: bigint): Promise<bigint> {
    return this.hubClients.public.readContract({ address: this.hubAddress, abi: hubAbi, functionName: "healthFactor", args: [account], blockNumber });
  }
}
