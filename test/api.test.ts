/**
 * The salvage GraphQL endpoint (/salvage/graphql) against real Ponder (`ponder start`, PGlite) indexing a real
 * devnet (hub + 2 spokes on anvil) after a crash: atRiskAccounts equals the hub's liquidatable set in HF order
 * (also paged), account(address) equals the hub's positions, every opportunity is liquidatable on chain and its
 * take equals the hub's previewTake at the indexed block, and abusive queries get errors while the server
 * keeps serving.
 * SALVAGE_API_TEST_ACCOUNTS sets the number of seeded borrowers (default 40). SALVAGE_API_EXAMPLES=FILE writes
 * the requests and responses it made (the README's examples come from there).
 */
import { writeFileSync } from "node:fs";
import type { Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubAbi, spokeAbi } from "../abis/index.js";
import { write } from "../src/chains/tx.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
import type { Network } from "../src/devnet/network.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { WAD } from "../src/health/wad.js";
import type { Deployment } from "../src/protocol/deployment.js";
import { mapLimit } from "../src/util/concurrency.js";
import { bestTake } from "../src/opportunity/index.js";
import { type LevelsTotals, liquidationLevels } from "../src/health/liquidation-levels.js";
import { type SeededNetwork, startSeededNetwork } from "./helpers/network.js";
import { dashboardGaps, readDashboard } from "./helpers/dashboard.js";
import { metricConventionViolations } from "./helpers/metric-conventions.js";
import { type GqlResult, type PonderApp, startPonder } from "./helpers/ponder.js";
import { revertOf } from "../src/chains/errors.js";
import { HEARTBEAT_SECONDS } from "../src/devnet/market.js";
import { setAnswer } from "./helpers/prices.js";
import { fundLiquidator } from "./helpers/bad-debt.js";

const ACCOUNTS = Number(process.env.SALVAGE_API_TEST_ACCOUNTS ?? 40);
const SEED = 23;

let net: SeededNetwork | undefined;
let network: Network;
let deployment: Deployment;
let accounts: Address[];
let ponder: PonderApp;
const examples: { request: unknown; response: unknown }[] = [];
const api = (path: string, init?: RequestInit) => ponder.api(path, init);

async function gql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, record = false): Promise<GqlResult<T>> {
  const r = await ponder.gql<T>(query, variables);
  if (record) examples.push({ request: { query, variables }, response: { data: r.data, errors: r.errors }, status: r.status } as never);
  return r;
}

/** Waits until Ponder has indexed the hub through its head; returns that block. */
async function caughtUp(): Promise<bigint> {
  const target = await deployment.hubClients.public.getBlockNumber({ cacheTime: 0 });
  await ponder.indexed(deployment.hub.name, target);
  return target;
}

const byHf = ([a, x]: [string, bigint], [b, y]: [string, bigint]) => (x < y ? -1 : x > y ? 1 : a < b ? -1 : a > b ? 1 : 0);

let block: bigint;
let onchain: Map<string, bigint>;
let liquidatable: string[];
let kicked: Address;
/** Hub blocks of the crash's price updates. */
let crashBlocks: { from: bigint; to: bigint };

beforeAll(async () => {
  net = await startSeededNetwork({ accounts: ACCOUNTS, seed: SEED });
  ({ network, deployment, accounts } = net);
  const rng = net.rng;

  // The crash and a kick happen before Ponder starts: the backfill indexes them, so the test waits once.
  const beforeCrash = await deployment.hubClients.public.getBlockNumber();
  const crash = await new MarketSimulator(deployment, rng).crash(accounts, 0.3);
  crashBlocks = { from: beforeCrash + 1n, to: await deployment.hubClients.public.getBlockNumber() };
  expect(crash.liquidatable.length).toBeGreaterThan(2);
  kicked = crash.liquidatable[0]!;
  const { public: reader, wallet } = deployment.hubClients;
  await write(wallet(devnetAccounts.liquidator), reader, { address: deployment.hubAddress, abi: hubAbi, functionName: "kick", args: [kicked] });

  ponder = await startPonder({ manifest: network.manifest });

  block = await caughtUp();
  onchain = new Map(await mapLimit(accounts, 16, async (a) => [a.toLowerCase(), await deployment.onchainHealthFactor(a, block)] as const));
  liquidatable = [...onchain.entries()].filter(([, hf]) => hf < WAD).sort(byHf).map(([a]) => a);
}, 400_000);

afterAll(async () => {
  await ponder?.stop();
  await net?.stop();
  if (process.env.SALVAGE_API_EXAMPLES) writeFileSync(process.env.SALVAGE_API_EXAMPLES, JSON.stringify(examples, null, 2));
}, 60_000);

interface AtRiskPage {
  items: { address: string; healthFactor: string }[];
  pageInfo: { endCursor: string | null; hasNextPage: boolean };
  totalCount: number;
}

describe("salvage GraphQL", () => {
  it("atRiskAccounts returns exactly the hub's liquidatable accounts in HF order, and pages to the same list", async () => {
    const r = await gql<{ atRiskAccounts: AtRiskPage }>(
      `{ atRiskAccounts(maxHealthFactor: "1", first: 500) { totalCount pageInfo { endCursor hasNextPage }
           items { address healthFactor debtValue liquidationPriceWad shockWad dominantCollateral { symbol } } } }`,
      undefined,
      true,
    );
    expect(r.errors).toBeUndefined();
    const expected = liquidatable.map((a) => ({ address: a, healthFactor: onchain.get(a)!.toString() }));
    expect(r.data!.atRiskAccounts.items.map((i) => ({ address: i.address.toLowerCase(), healthFactor: i.healthFactor }))).toEqual(expected);
    expect(r.data!.atRiskAccounts.totalCount).toBe(expected.length);
    expect(r.data!.atRiskAccounts.pageInfo.hasNextPage).toBe(false);
    for (const i of r.data!.atRiskAccounts.items as unknown as { dominantCollateral: { symbol: string | null } }[]) expect(i.dominantCollateral.symbol).toMatch(/^[A-Z]+$/);

    const paged: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const page: GqlResult<{ atRiskAccounts: AtRiskPage }> = await gql(
        `query($after: String) { atRiskAccounts(maxHealthFactor: "1", first: 4, after: $after) { totalCount pageInfo { endCursor hasNextPage } items { address healthFactor } } }`,
        { after },
        pages === 0,
      );
      expect(page.errors).toBeUndefined();
      expect(page.data!.atRiskAccounts.totalCount).toBe(expected.length);
      paged.push(...page.data!.atRiskAccounts.items.map((i) => i.address.toLowerCase()));
      after = page.data!.atRiskAccounts.pageInfo.hasNextPage ? page.data!.atRiskAccounts.pageInfo.endCursor : null;
      pages++;
    } while (after);
    expect(paged).toEqual(liquidatable);
    expect(pages).toBe(Math.ceil(liquidatable.length / 4));

    // The REST route shares the implementation.
    const rest = (await (await api("/at-risk?maxHealthFactor=1")).json()) as { accounts: { account: string }[] };
    expect(rest.accounts.map((a) => a.account.toLowerCase())).toEqual(liquidatable);

    // chainId: only accounts with collateral on that spoke, by the hub's own positions.
    const spoke = deployment.spokes[1]!;
    const onSpoke: string[] = [];
    for (const a of liquidatable) {
      const p = await deployment.positions(a as Address, block);
      if (p.collateral.some((c) => c.eid === spoke.eid && c.amount > 0n)) onSpoke.push(a);
    }
    const filtered = await gql<{ atRiskAccounts: AtRiskPage }>(`{ atRiskAccounts(chainId: ${spoke.chainId}, first: 500) { totalCount items { address } } }`);
    expect(filtered.data!.atRiskAccounts.items.map((i) => i.address.toLowerCase())).toEqual(onSpoke);
    // A looser bound is a superset, still in HF order.
    const loose = await gql<{ atRiskAccounts: AtRiskPage }>(`{ atRiskAccounts(maxHealthFactor: "1.5", first: 500) { items { address healthFactor } } }`);
    const looseExpected = [...onchain.entries()].filter(([, hf]) => hf < (3n * WAD) / 2n).sort(byHf).map(([a]) => a);
    expect(loose.data!.atRiskAccounts.items.map((i) => i.address.toLowerCase())).toEqual(looseExpected);
  });

  it("account(address) equals the hub's positions on every chain, with health and auctions", async () => {
    const healthy = [...onchain.entries()].find(([, hf]) => hf >= WAD)![0];
    const sample = [kicked.toLowerCase(), liquidatable[liquidatable.length - 1]!, healthy];
    const chainIdOfEid = new Map(deployment.manifest.chains.map((c) => [c.eid, c.chainId]));
    for (const [i, address] of sample.entries()) {
      const r = await gql<{
        account: {
          address: string;
          health: { healthFactor: string; collateralValue: string; debtValue: string };
          collateral: { chainId: number; eid: number; assetId: number; symbol: string; decimals: number; amount: string; valueUsd: string }[];
          debt: { assetId: number; amount: string }[];
          auctions: { active: boolean; startedBlock: string }[];
        };
      }>(
        `query($a: String!) { account(address: $a) { address
           health { healthFactor collateralValue debtValue borrowPower liquidationPriceWad shockWad dominantCollateral { assetId symbol } }
           collateral { chainId chainName eid assetId symbol decimals amount valueUsd }
           debt { assetId symbol amount valueUsd }
           auctions { auctionId active startedAt startedBlock takes } } }`,
        { a: address },
        i === 0,
      );
      expect(r.errors).toBeUndefined();
      const acc = r.data!.account;
      expect(acc.address.toLowerCase()).toBe(address);
      const hub = await deployment.positions(address as Address, block);
      const key = (c: { eid: number; assetId: number }) => `${c.eid}/${c.assetId}`;
      expect(acc.collateral.map((c) => [key(c), c.amount]).sort()).toEqual(hub.collateral.filter((c) => c.amount > 0n).map((c) => [key(c), c.amount.toString()]).sort());
      for (const c of acc.collateral) {
        expect(c.chainId).toBe(chainIdOfEid.get(c.eid));
        expect(c.symbol).toBe(deployment.asset(c.assetId).symbol);
        expect(c.decimals).toBe(deployment.asset(c.assetId).decimals);
      }
      expect(acc.debt.map((d) => [d.assetId, d.amount]).sort()).toEqual(hub.debt.filter((d) => d.amount > 0n).map((d) => [d.assetId, d.amount.toString()]).sort());
      expect(acc.health.healthFactor).toBe(onchain.get(address)!.toString());
      const data = deployment.health(hub, await deployment.pricesWad(block));
      expect(acc.health.collateralValue).toBe(data.collateralValue.toString());
      expect(acc.health.debtValue).toBe(data.debtValue.toString());
      // Per-position values add up to the account's collateral value (each is Hub.valueOf, summed as the hub does).
      expect(acc.collateral.reduce((s, c) => s + BigInt(c.valueUsd), 0n)).toBe(data.collateralValue);
      expect(acc.auctions.some((a) => a.active)).toBe(address === kicked.toLowerCase());
    }
    expect((await gql(`{ account(address: "0x000000000000000000000000000000000000dEaD") { address } }`)).data).toEqual({ account: null });
  });

  it("liquidationLevels equal the levels of the hub's own positions at the answer's block (per spoke too); REST the same; each account's price drop to liquidation", async () => {
    type Totals = { accounts: number; collateralUsd: string; debtUsd: string; assetAmount: string };
    type Levels = {
      assetId: number; symbol: string; priceWad: string; holders: number; unpriced: number; now: Totals; beyond: Totals; block: { number: string };
      bins: (Totals & { index: number; fromDropWad: string; toDropWad: string; priceWad: string; dangerZone: boolean; cumulative: Totals })[];
    };
    const fields = `assetId symbol priceWad holders unpriced block { number }
      now { accounts collateralUsd debtUsd assetAmount } beyond { accounts collateralUsd debtUsd assetAmount }
      bins { index fromDropWad toDropWad priceWad dangerZone accounts collateralUsd debtUsd assetAmount cumulative { accounts collateralUsd debtUsd assetAmount } }`;
    const totals = (t: LevelsTotals): Totals => ({ accounts: t.accounts, collateralUsd: t.collateralValue.toString(), debtUsd: t.debtValue.toString(), assetAmount: t.asset.toString() });
    const positions = await mapLimit(accounts, 16, async (a) => ({ address: a, ...(await deployment.positions(a, block)) }));
    const prices = await deployment.pricesWad(block);
    const assets = new Map(deployment.manifest.assets.map((a) => [a.id, deployment.asset(a.id)] as const));
    const spoke = deployment.spokes[0]!;
    let liquidatableSomewhere = 0;
    for (const asset of deployment.collateralAssets) {
      for (const chainId of [undefined, spoke.chainId]) {
        const r = await gql<{ liquidationLevels: Levels }>(
          `query($a: Int!, $c: Int) { liquidationLevels(assetId: $a, chainId: $c, bins: 20, maxDrop: "0.6") { ${fields} } }`,
          { a: asset.id, c: chainId ?? null },
          asset.id === deployment.collateralAssets[0]!.id && chainId === undefined,
        );
        expect(r.errors).toBeUndefined();
        const got = r.data!.liquidationLevels;
        expect(got.block.number).toBe(block.toString());
        const want = liquidationLevels(positions, assets, prices, { assetId: asset.id, bins: 20, maxDropWad: (6n * WAD) / 10n, eids: chainId === undefined ? undefined : new Set([spoke.eid]) });
        expect(got.priceWad).toBe(prices.get(asset.id)!.toString());
        expect(got.now).toEqual(totals(want.now));
        expect(got.beyond).toEqual(totals(want.beyond));
        expect(got.bins).toEqual(want.bins.map((b) => ({
          index: b.index, fromDropWad: b.fromDropWad.toString(), toDropWad: b.toDropWad.toString(), priceWad: b.priceWad.toString(),
          dangerZone: b.toDropWad <= WAD / 5n, ...totals(b), cumulative: totals(b.cumulative),
        })));
        const holders = positions.filter((p) => p.collateral.some((c) => c.assetId === asset.id && c.amount > 0n && (chainId === undefined || c.eid === spoke.eid))).length;
        expect(got.holders).toBe(holders);
        expect(got.bins.at(-1)!.cumulative.accounts + got.beyond.accounts).toBe(holders);
        expect(got.unpriced).toBe(0);
        liquidatableSomewhere += got.bins.at(-1)!.cumulative.accounts - got.now.accounts;
        if (chainId === undefined) {
          const rest = await (await api(`/liquidation-levels?assetId=${asset.id}&bins=20&maxDrop=0.6`)).json();
          expect((rest as { bins: unknown }).bins).toEqual((await gql<{ liquidationLevels: { bins: unknown } }>(`{ liquidationLevels(assetId: ${asset.id}, bins: 20, maxDrop: "0.6") { bins { index fromDropWad toDropWad priceWad dangerZone accounts collateralUsd debtUsd assetAmount cumulative { accounts collateralUsd debtUsd assetAmount } } } }`)).data!.liquidationLevels.bins);
        }
      }
    }
    expect(liquidatableSomewhere).toBeGreaterThan(0); // the grid holds accounts, not only `now` and `beyond`
    // Bad arguments are named.
    const bad = await gql(`{ liquidationLevels(assetId: 1, bins: 0) { holders } }`);
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", argument: "bins" });
    const badDrop = await api(`/liquidation-levels?assetId=1&maxDrop=1.5`);
    expect(badDrop.status).toBe(400);
    expect(await badDrop.text()).toMatch(/maxDrop/);
    expect((await api(`/liquidation-levels?assetId=999`)).status).toBe(400);

    // Each at-risk account's drop of its dominant collateral to its liquidation price, at the same prices.
    const risk = await gql<{ atRiskAccounts: { items: { liquidationPriceWad: string | null; priceDropToLiquidationWad: string | null; dominantCollateral: { assetId: number } | null }[] } }>(
      `{ atRiskAccounts(maxHealthFactor: "1.5", first: 500) { items { liquidationPriceWad priceDropToLiquidationWad dominantCollateral { assetId } } } }`,
    );
    expect(risk.errors).toBeUndefined();
    expect(risk.data!.atRiskAccounts.items.length).toBeGreaterThan(0);
    for (const i of risk.data!.atRiskAccounts.items) {
      const p = prices.get(i.dominantCollateral!.assetId)!;
      const l = BigInt(i.liquidationPriceWad!);
      expect(i.priceDropToLiquidationWad).toBe((l >= p ? 0n : ((p - l) * WAD) / p).toString());
    }
  });

  it("opportunities: every entry is liquidatable on chain, and the kicked account's take equals previewTake at the indexed block", async () => {
    const r = await gql<{
      opportunities: {
        block: { number: string; timestamp: string };
        items: {
          account: string; healthFactor: string; collateral: { eid: number; assetId: number; chainId: number; valueUsd: string; amount: string }; debt: { assetId: number; amount: string };
          maxRepay: string; repayAmount: string; seizeAmount: string; bonus: string; minBonus: string; auctionStatus: string; blockNumber: string; timestamp: string;
        }[];
      };
    }>(
      `{ opportunities(first: 500) { block { chainId number timestamp } pageInfo { hasNextPage endCursor }
           items { account healthFactor collateral { chainId eid assetId symbol amount valueUsd } debt { assetId symbol amount valueUsd }
                   maxRepay repayAmount seizeAmount profitUsd bonus minBonus maxBonus maxBonusAt auctionStatus auctionId blockNumber timestamp } } }`,
      undefined,
      true,
    );
    expect(r.errors).toBeUndefined();
    const { items, block: at } = r.data!.opportunities;
    expect(BigInt(at.number)).toBe(block);
    expect(items.map((o) => o.account.toLowerCase())).toEqual(liquidatable);
    const hubBlock = await deployment.hubClients.public.getBlock({ blockNumber: block });
    expect(at.timestamp).toBe(hubBlock.timestamp.toString());
    const params = await deployment.hubClients.public.readContract({ address: deployment.hubAddress, abi: hubAbi, functionName: "auctionParams", blockNumber: block });
    const closeFactor = (params as readonly bigint[])[0]!;

    let checkedActive = 0;
    for (const o of items) {
      expect(o.blockNumber).toBe(block.toString());
      expect(await deployment.onchainHealthFactor(o.account as Address, block)).toBeLessThan(WAD);
      const hub = await deployment.positions(o.account as Address, block);
      // The pair is the opportunity model's choice over the hub's own positions (the relayer's policy makes the same).
      const prices = await deployment.pricesWad(block);
      const priced = <P extends { assetId: number }>(p: P) => ({ ...p, priceWad: prices.get(p.assetId)!, decimals: deployment.asset(p.assetId).decimals });
      const { take } = bestTake({ debts: hub.debt.map(priced), collaterals: hub.collateral.map(priced), closeFactor, bonus: BigInt(o.bonus) });
      expect([o.debt.assetId, o.collateral.eid, o.collateral.assetId, o.collateral.amount]).toEqual([take!.debt.assetId, take!.collateral.eid, take!.collateral.assetId, take!.collateral.amount.toString()]);
      expect(o.collateral.amount).toBe(hub.collateral.find((c) => c.eid === o.collateral.eid && c.assetId === o.collateral.assetId)!.amount.toString());
      const debtAmount = hub.debt.find((d) => d.assetId === o.debt.assetId)!.amount;
      expect(o.maxRepay).toBe(((debtAmount * closeFactor) / WAD).toString());
      if (o.auctionStatus === "active") {
        const [repay, seize, bonus] = await deployment.hubClients.public.readContract({
          address: deployment.hubAddress, abi: hubAbi, functionName: "previewTake",
          args: [o.account as Address, o.debt.assetId, BigInt(o.maxRepay), o.collateral.eid, o.collateral.assetId], blockNumber: block,
        });
        expect({ repay: o.repayAmount, seize: o.seizeAmount, bonus: o.bonus }).toEqual({ repay: repay.toString(), seize: seize.toString(), bonus: bonus.toString() });
        checkedActive++;
      } else {
        expect(o.auctionStatus).toBe("none");
        expect(o.bonus).toBe(o.minBonus);
      }
    }
    expect(checkedActive).toBe(1);
    expect(items.find((o) => o.auctionStatus === "active")!.account.toLowerCase()).toBe(kicked.toLowerCase());

    // Paging and filters.
    const firstTwo = await gql<{ opportunities: { items: { account: string }[]; pageInfo: { endCursor: string; hasNextPage: boolean } } }>(
      `{ opportunities(first: 2) { items { account } pageInfo { endCursor hasNextPage } } }`,
    );
    expect(firstTwo.data!.opportunities.pageInfo.hasNextPage).toBe(true);
    const rest = await gql<{ opportunities: { items: { account: string }[] } }>(
      `query($after: String) { opportunities(first: 500, after: $after) { items { account } } }`,
      { after: firstTwo.data!.opportunities.pageInfo.endCursor },
    );
    expect([...firstTwo.data!.opportunities.items, ...rest.data!.opportunities.items].map((o) => o.account.toLowerCase())).toEqual(liquidatable);
    const none = await gql<{ opportunities: { items: unknown[] } }>(`{ opportunities(minProfitUsd: "1000000000") { items { account } } }`);
    expect(none.data!.opportunities.items).toEqual([]);
  });

  it("opportunityEvents logs each account the crash made liquidatable at the crash's blocks, and resumes from any event id", async () => {
    type Ev = { id: string; account: string; kind: string; healthFactor: string; blockNumber: string };
    type EvPage = { opportunityEvents: { items: Ev[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } } };
    const fields = "items { id account kind healthFactor blockNumber } pageInfo { endCursor hasNextPage }";
    const all = await gql<EvPage>(`{ opportunityEvents(first: 500) { ${fields} } }`, undefined, true);
    expect(all.errors).toBeUndefined();
    const events = all.data!.opportunityEvents.items;
    expect(all.data!.opportunityEvents.pageInfo.hasNextPage).toBe(false);
    expect(events.map((e) => e.id)).toEqual([...events.map((e) => e.id)].sort());
    // The latest event of every account agrees with the hub; every liquidatable account went liquidatable in the crash.
    const latest = new Map(events.map((e) => [e.account.toLowerCase(), e]));
    for (const account of liquidatable) {
      const e = latest.get(account)!;
      expect(e, account).toBeDefined();
      expect(["liquidatable", "updated", "kicked"]).toContain(e.kind);
      expect(BigInt(e.healthFactor)).toBe(onchain.get(account));
      const crossing = events.filter((x) => x.account.toLowerCase() === account && x.kind === "liquidatable").at(-1)!;
      expect(BigInt(crossing.blockNumber) >= crashBlocks.from && BigInt(crossing.blockNumber) <= crashBlocks.to).toBe(true);
    }
    for (const [account, hf] of onchain) if (hf >= WAD) expect(latest.get(account)?.kind ?? "healthy").toBe("healthy");
    // The kick is in the log, after the crash, with the HF the hub kicked at.
    const kick = events.filter((e) => e.kind === "kicked");
    expect(kick.map((e) => e.account.toLowerCase())).toEqual([kicked.toLowerCase()]);
    expect(BigInt(kick[0]!.blockNumber)).toBeGreaterThan(crashBlocks.to);
    expect(BigInt(kick[0]!.healthFactor)).toBe(onchain.get(kicked.toLowerCase()));
    // Resume: after any event id comes exactly the rest, page by page.
    const resumed: Ev[] = [];
    let since: string | null = events[2]!.id;
    for (;;) {
      const page: GqlResult<EvPage> = await gql<EvPage>(`query($s: String) { opportunityEvents(since: $s, first: 3) { ${fields} } }`, { s: since });
      resumed.push(...page.data!.opportunityEvents.items);
      since = page.data!.opportunityEvents.pageInfo.endCursor;
      if (!page.data!.opportunityEvents.pageInfo.hasNextPage) break;
    }
    expect(resumed).toEqual(events.slice(3));
    const bad = await gql(`{ opportunityEvents(since: "yesterday") { items { id } } }`);
    expect(bad.errors?.[0]?.message).toMatch(/opportunityEvents: since must be an event id/);
  });

  it("/salvage/metrics follows Prometheus naming: salvage_ prefix, _total on counters only, base units, no per-account labels; serves what the Grafana dashboard reads", async () => {
    const text = await (await api("/salvage/metrics")).text();
    expect(text).toContain("# TYPE salvage_pathway_delivery_seconds gauge");
    expect(metricConventionViolations(text)).toEqual([]);
    // The Grafana dashboard's indexer panels name only metrics and labels served here.
    expect(dashboardGaps(readDashboard().queries, "indexer", text)).toEqual([]);
  });

  it("rejects abuse with GraphQL errors and keeps serving", async () => {
    const expectErrors = (r: GqlResult<unknown>, pattern?: RegExp) => {
      expect(r.errors?.length, JSON.stringify(r).slice(0, 300)).toBeGreaterThan(0);
      expect([200, 400, 413], JSON.stringify(r).slice(0, 300)).toContain(r.status);
      if (pattern) expect(r.errors!.map((e) => e.message).join("\n")).toMatch(pattern);
    };
    // Depth 50 through the recursive AccountHealth.account -> Account.health edge.
    let nested = "address";
    for (let i = 0; i < 25; i++) nested = `health { account { ${nested} } }`;
    expectErrors(await gql(`{ account(address: "${kicked}") { ${nested} } }`, undefined, true), /depth/i);
    // 10k aliases (~300 kB): stopped by the token limit while parsing; 60 aliases: by the alias limit.
    const aliases = (n: number) => Array.from({ length: n }, (_, i) => `a${i}: indexedBlock { number }`).join(" ");
    expectErrors(await gql(`{ ${aliases(10_000)} }`), /token/i);
    expectErrors(await gql(`{ ${aliases(60)} }`, undefined, true), /alias/i);
    // Oversized document by tokens (under the body limit).
    expectErrors(await gql(`{ indexedBlock { ${"number ".repeat(3_000)} } }`), /token/i);
    expectErrors(await gql(`{ atRiskAccounts(first: 5) { items { address }`, undefined, true), /Syntax Error/);
    expectErrors(await gql(`{ atRiskAccounts(first: "ten") { totalCount } }`, undefined, true), /atRiskAccounts\(first:\) Int cannot represent/);
    expectErrors(await gql(`{ atRiskAccounts(first: 100000) { totalCount } }`, undefined, true), /atRiskAccounts: first must be an integer in \[1, 500\]/);
    expectErrors(await gql(`{ opportunities(first: 100000) { items { account } } }`), /opportunities: first/);
    expectErrors(await gql(`{ account(address: "0x123") { address } }`, undefined, true), /account: address must be a 20-byte hex address/);
    expectErrors(await gql(`{ atRiskAccounts(maxHealthFactor: "-1") { totalCount } }`), /maxHealthFactor/);
    expectErrors(await gql(`{ atRiskAccounts(after: "nonsense") { totalCount } }`), /after/);
    expectErrors(await gql(`{ nope }`), /nope/);
    const res = await api("/salvage/graphql", { method: "POST", headers: { "content-type": "application/json" }, body: "{not json" });
    expect(res.status).toBeLessThan(500);
    // Still serving, on every route.
    const ok = await gql<{ atRiskAccounts: AtRiskPage }>(`{ atRiskAccounts { totalCount } }`);
    expect(ok.data!.atRiskAccounts.totalCount).toBe(liquidatable.length);
    expect((await api("/ready")).status).toBe(200);
    const ponderGql = await (await api("/graphql", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ accountHealths { totalCount } }" }) })).json();
    expect(ponderGql).toEqual({ data: { accountHealths: { totalCount: accounts.length } } });
    expect((await api("/health")).status).toBe(200);
  });

  it("recoveries: what waits for a kick and the auctions open equal the hub's; a take shows as taken, then seized with the spoke's block once its SEIZE is delivered", async () => {
    type Recoveries = {
      block: { number: string }; liquidatable: number; auctionsOpen: number; takes: Record<"taken" | "verified" | "delivered" | "seized" | "failed", number>;
      badDebt: { writeOffs: number; writtenOffUsd: string }; relayer: null;
      recent: { takeId: string; account: string; state: string; take: { block: string; tx: string; repayAmount: string }; seize: { chainId: number; amount: string; block: string | null }; packet: { guid: string; status: string | null } }[];
    };
    const query = `{ recoveries(first: 5) { block { number } liquidatable auctionsOpen takes { taken verified delivered seized failed } badDebt { writeOffs writtenOffUsd }
      recent { takeId auctionId account state seconds take { block timestamp tx symbol decimals repayAmount bonus } seize { chainId chainName eid assetId symbol decimals amount block timestamp }
               packet { guid nonce status failures lastFailureReason deliveredTx } } relayer { error worker states { state count } } } }`;
    const read = async (record = false) => {
      const r = await gql<{ recoveries: Recoveries }>(query, undefined, record);
      expect(r.errors).toBeUndefined();
      return r.data!.recoveries;
    };
    const before = await read();
    expect(before).toMatchObject({ liquidatable: liquidatable.length - 1, auctionsOpen: 1, takes: { taken: 0, verified: 0, delivered: 0, seized: 0, failed: 0 }, recent: [], relayer: null });

    // The liquidator takes from the kicked account: its largest debt against its first collateral position.
    const { public: reader, wallet } = deployment.hubClients;
    const positions = await deployment.positions(kicked);
    const owed = positions.debt.filter((d) => d.amount > 0n).sort((a, b) => (a.amount > b.amount ? -1 : 1))[0]!;
    const c = positions.collateral.find((x) => x.amount > 0n)!;
    await fundLiquidator(net!, owed.assetId, owed.amount);
    const fee = await reader.readContract({ address: deployment.hubAddress, abi: hubAbi, functionName: "quoteSpokeMessage", args: [c.eid] });
    const receipt = await write(wallet(devnetAccounts.liquidator), reader, {
      address: deployment.hubAddress, abi: hubAbi, functionName: "take", args: [kicked, owed.assetId, 2n ** 255n, c.eid, c.assetId, 0n, devnetAccounts.liquidator.address], value: fee,
    });
    const [take] = await reader.getContractEvents({ address: deployment.hubAddress, abi: hubAbi, eventName: "Take", blockHash: receipt.blockHash });
    await caughtUp();
    const taken = await read();
    expect(taken.takes).toEqual({ taken: 1, verified: 0, delivered: 0, seized: 0, failed: 0 });
    expect(taken.recent).toHaveLength(1);
    expect(taken.recent[0]).toMatchObject({
      takeId: String(take!.args.takeId), account: kicked.toLowerCase(), state: "taken",
      take: { block: String(receipt.blockNumber), tx: receipt.transactionHash, repayAmount: String(take!.args.repayAmount) },
      seize: { amount: String(take!.args.seizeAmount), block: null }, packet: { guid: take!.args.guid },
    });

    await net!.deliverer.drain();
    const spoke = deployment.spokes.find((s) => s.eid === c.eid)!;
    const [seized] = await deployment.clients(spoke).public.getContractEvents({ address: spoke.contracts.spoke!, abi: spokeAbi, eventName: "Seized", args: { account: kicked }, fromBlock: 0n });
    expect(seized!.args.takeId).toBe(take!.args.takeId);
    await ponder.indexed(spoke.name, seized!.blockNumber);
    await caughtUp();
    const after = await read(true);
    expect(after.takes).toEqual({ taken: 0, verified: 0, delivered: 0, seized: 1, failed: 0 });
    expect(after.recent[0]).toMatchObject({ state: "seized", seize: { chainId: spoke.chainId, block: String(seized!.blockNumber) }, packet: { status: "delivered" } });
  });

  it("marks health and opportunities resting on a price the hub refuses (priceStale, unusablePrices): exactly the accounts whose healthFactor reverts on chain, by the same error", async () => {
    const WBTC = 11;
    interface Marked { priceStale: boolean; unusablePrices: { assetId: number; error: string; answer: string; updatedAt: string; heartbeat: string }[] }
    const hub = deployment.hubClients.public;
    /** Every marked answer against the hub at the indexed block; returns how many are marked. */
    const check = async (): Promise<number> => {
      const at = await caughtUp();
      const r = await gql<{
        atRiskAccounts: { items: ({ address: string } & Marked)[] };
        opportunities: { items: ({ account: string } & Marked)[] };
        opportunityEvents: { items: { account: string; opportunity: Marked | null }[] };
      }>(`{ atRiskAccounts(maxHealthFactor: "1000000", first: 500) { items { address priceStale unusablePrices { assetId error answer updatedAt heartbeat } } }
            opportunities(first: 500) { items { account priceStale unusablePrices { assetId error answer updatedAt heartbeat } } }
            opportunityEvents(first: 20) { items { account opportunity { priceStale unusablePrices { assetId error answer updatedAt heartbeat } } } } }`);
      expect(r.errors).toBeUndefined();
      const marked = [
        ...r.data!.atRiskAccounts.items.map((i) => ({ account: i.address, ...i })),
        ...r.data!.opportunities.items,
        ...r.data!.opportunityEvents.items.flatMap((e) => (e.opportunity ? [{ account: e.account, ...e.opportunity }] : [])),
      ];
      expect(marked.length).toBeGreaterThan(liquidatable.length);
      await mapLimit(marked, 16, async (m) => {
        const reverted = await hub.readContract({ address: deployment.hubAddress, abi: hubAbi, functionName: "healthFactor", args: [m.account as Address], blockNumber: at }).then(
          () => undefined,
          (error: unknown) => revertOf(error),
        );
        expect(m.priceStale, m.account).toBe(reverted !== undefined);
        expect(m.unusablePrices.length > 0).toBe(m.priceStale);
        // The hub names the first unusable price its loop meets; the API lists every one the account needs.
        if (reverted) expect(m.unusablePrices.some((u) => u.assetId === reverted.args[0] && u.error === reverted.errorName), m.account).toBe(true);
      });
      return new Set(marked.filter((m) => m.priceStale).map((m) => m.account.toLowerCase())).size;
    };
    expect(await check()).toBe(0);

    const answer = (await deployment.answers()).get(WBTC)!;
    await setAnswer(net!, WBTC, 0n);
    expect(await check()).toBeGreaterThan(0);
    const holder = (await gql<{ atRiskAccounts: { items: ({ address: string } & Marked)[] } }>(`{ atRiskAccounts(maxHealthFactor: "1000000", first: 500) { items { address priceStale unusablePrices { assetId error answer updatedAt heartbeat } } } }`))
      .data!.atRiskAccounts.items.find((i) => i.priceStale)!;
    expect(holder.unusablePrices).toEqual([{ assetId: WBTC, error: "InvalidPrice", answer: "0", updatedAt: expect.any(String), heartbeat: String(HEARTBEAT_SECONDS) }]);
    const account = await gql<{ account: { health: Marked } }>(`query($a: String!) { account(address: $a) { health { priceStale unusablePrices { assetId error } } } }`, { a: holder.address });
    expect(account.data!.account.health).toEqual({ priceStale: true, unusablePrices: [{ assetId: WBTC, error: "InvalidPrice" }] });

    // Past the heartbeat with every feed answering again but WBTC's: its holders rest on a stale price.
    await setAnswer(net!, WBTC, answer);
    expect(await check()).toBe(0);
    const answers = await deployment.answers();
    await net!.advanceTime(HEARTBEAT_SECONDS + 1);
    for (const [id, a] of answers) if (id !== WBTC) await setAnswer(net!, id, a);
    expect(await check()).toBeGreaterThan(0);
    const stale = await gql<{ account: { health: Marked } }>(`query($a: String!) { account(address: $a) { health { priceStale unusablePrices { assetId error } } } }`, { a: holder.address });
    expect(stale.data!.account.health).toEqual({ priceStale: true, unusablePrices: [{ assetId: WBTC, error: "StalePrice" }] });
    await setAnswer(net!, WBTC, answer);
    expect(await check()).toBe(0);
  });
});
