/**
 * One block per answer (issue 12): while the hub keeps producing blocks that move health (every collateral price
 * walks, borrowers borrow), a client keeps reading answers — the typed client's atRiskAccounts (GraphQL), GraphQL
 * account(address), a GraphQL request of several root fields, and REST /at-risk — from real Ponder over PostgreSQL
 * (a database of its own) indexing a real devnet. Afterwards every answer is checked against the hub at the block
 * it names (anvil serves historical state): each at-risk row equals Hub.accountData(account) at that block, the set
 * is exactly the accounts below the bound there, an account's health and positions equal the hub's there, the
 * named block's timestamp is the chain's, and every field of one request names the same block.
 * A block named beside rows read at another block fails it: the answers must come from one database snapshot.
 * SALVAGE_SNAPSHOT_TEST_SECONDS sets how long blocks are produced (default 25); SALVAGE_TEST_POSTGRES=0 skips it.
 */
import { type Address, getAddress, parseUnits } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubAbi } from "../abis/index.js";
import { createSalvageClient } from "../src/client/index.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { WAD } from "../src/health/wad.js";
import { borrow } from "../src/protocol/actions.js";
import { mapLimit } from "../src/util/concurrency.js";
import { type SeededNetwork, startSeededNetwork } from "./helpers/network.js";
import { type PonderApp, startPonder } from "./helpers/ponder.js";
import { type TestDatabase, createTestDatabase } from "./helpers/database.js";

const SECONDS = Number(process.env.SALVAGE_SNAPSHOT_TEST_SECONDS ?? 25);
const BOUND = "1.3";
const BOUND_WAD = parseUnits(BOUND, 18);
const USDC = 1;


interface BlockOut { chainId: number; number: string; timestamp: string }
interface HealthOut { address: string; healthFactor: string; collateralValue: string; thresholdValue: string; borrowPower: string; debtValue: string }
interface AccountOut {
  block: BlockOut | null;
  chainBlocks: BlockOut[];
  health: HealthOut | null;
  collateral: { eid: number; assetId: number; amount: string }[];
  debt: { assetId: number; amount: string }[];
}
type Answer =
  | {
      kind: "graphql atRiskAccounts" | "REST /at-risk" | "graphql request of several fields";
      block: BlockOut | null;
      chainBlocks: BlockOut[];
      items: HealthOut[];
      hasNextPage: boolean;
      /** Several fields in one request: the blocks the other fields name (one snapshot per request: all the same). */
      others?: (BlockOut | null)[];
    }
  | ({ kind: "graphql account"; address: Address } & AccountOut);

let net: SeededNetwork | undefined;
let ponder: PonderApp | undefined;
let database: TestDatabase | undefined;
let producedBlocks = 0;
const answers: Answer[] = [];

beforeAll(async () => {
  // No PGlite fallback: Ponder runs PGlite "transactions" as plain statements, so there is no snapshot to test.
  database = createTestDatabase("snapshot", { required: true });
  if (!database) return;
  net = await startSeededNetwork({ accounts: 40, seed: 37 });
  ponder = await startPonder({ manifest: net.network.manifest, databaseUrl: database.url });
  const head = await net.deployment.hubClients.public.getBlockNumber({ cacheTime: 0 });
  await ponder.indexed(net.deployment.hub.name, head);
}, 400_000);

afterAll(async () => {
  await ponder?.stop();
  await net?.stop();
  database?.drop();
}, 60_000);

/** Blocks that move health: every collateral price walks a step (a block each), and a borrower borrows 1 USDC. */
async function produce(until: number): Promise<void> {
  const { deployment, rng, accounts } = net!;
  const sim = new MarketSimulator(deployment, rng, 300);
  for (let round = 0; Date.now() < until; round++) {
    await sim.step();
    producedBlocks += deployment.collateralAssets.length;
    // A borrower far from liquidation borrows a little more: a DebtUpdated block that moves one account's health.
    const borrower = accounts[round % accounts.length]!;
    if ((await deployment.onchainHealthFactor(borrower)) > 2n * WAD) {
      await borrow(deployment, borrower, USDC, parseUnits("1", 6));
      producedBlocks++;
    }
  }
}

/** Reads answers back to back until `until`, keeping each as it came. */
async function read(until: number): Promise<void> {
  const client = createSalvageClient({ url: ponder!.url });
  const accounts = net!.accounts;
  for (let i = 0; Date.now() < until; i++) {
    switch (i % 4) {
      case 0: {
        const page = await client.atRiskAccounts({ maxHealthFactor: BOUND, first: 500 });
        answers.push({
          kind: "graphql atRiskAccounts",
          block: page.block && { chainId: page.block.chainId, number: page.block.number.toString(), timestamp: page.block.timestamp.toString() },
          chainBlocks: page.chainBlocks.map((b) => ({ chainId: b.chainId, number: b.number.toString(), timestamp: b.timestamp.toString() })),
          items: page.items.map((h) => ({
            address: h.address, healthFactor: h.healthFactor.toString(), collateralValue: h.collateralValue.toString(),
            thresholdValue: h.thresholdValue.toString(), borrowPower: h.borrowPower.toString(), debtValue: h.debtValue.toString(),
          })),
          hasNextPage: page.pageInfo.hasNextPage,
        });
        break;
      }
      case 1: {
        const address = accounts[i % accounts.length]!;
        const r = await ponder!.gql<{ account: AccountOut }>(
          `query($a: String!) { account(address: $a) { block { chainId number timestamp } chainBlocks { chainId number timestamp }
             health { address healthFactor collateralValue thresholdValue borrowPower debtValue }
             collateral { eid assetId amount } debt { assetId amount } } }`,
          { a: address },
        );
        expect(r.errors).toBeUndefined();
        answers.push({ kind: "graphql account", address, ...r.data!.account });
        break;
      }
      case 2: {
        const r = await ponder!.gql<{
          indexedBlock: BlockOut | null;
          atRiskAccounts: { block: BlockOut | null; chainBlocks: BlockOut[]; items: HealthOut[]; pageInfo: { hasNextPage: boolean } };
          opportunities: { block: BlockOut | null };
          solvency: { block: BlockOut | null };
          opportunityEvents: { block: BlockOut | null };
        }>(`{ indexedBlock { chainId number timestamp }
              atRiskAccounts(maxHealthFactor: "${BOUND}", first: 500) { block { chainId number timestamp } chainBlocks { chainId number timestamp }
                items { address healthFactor collateralValue thresholdValue borrowPower debtValue } pageInfo { hasNextPage } }
              opportunities(first: 500) { block { chainId number timestamp } }
              solvency { block { chainId number timestamp } }
              opportunityEvents(first: 1) { block { chainId number timestamp } } }`);
        expect(r.errors).toBeUndefined();
        const d = r.data!;
        answers.push({
          kind: "graphql request of several fields",
          block: d.atRiskAccounts.block,
          chainBlocks: d.atRiskAccounts.chainBlocks,
          items: d.atRiskAccounts.items,
          hasNextPage: d.atRiskAccounts.pageInfo.hasNextPage,
          others: [d.indexedBlock, d.opportunities.block, d.solvency.block, d.opportunityEvents.block],
        });
        break;
      }
      default: {
        const res = await ponder!.api(`/at-risk?maxHealthFactor=${BOUND}&first=500`);
        expect(res.status).toBe(200);
        const body = (await res.json()) as { block: BlockOut | null; chainBlocks: BlockOut[]; accounts: (HealthOut & { account: string })[]; pageInfo: { hasNextPage: boolean } };
        answers.push({
          kind: "REST /at-risk",
          block: body.block,
          chainBlocks: body.chainBlocks,
          items: body.accounts.map((h) => ({ ...h, address: h.account })),
          hasNextPage: body.pageInfo.hasNextPage,
        });
      }
    }
  }
}

describe.skipIf(process.env.SALVAGE_TEST_POSTGRES === "0")("one block per answer", () => {
  // retry: once in CI, under the full suite's load, a transaction produce() sent never got its receipt (viem's 60 s wait
  // timed out) and produce() sends nothing until it does. Likely anvil's automine leaving a transaction in its pool
  // until another arrives (as in foundry-rs/foundry#10122); not what this test checks. A retry starts over.
  it("every answer read while blocks are indexed equals the hub at the block it names", { timeout: 300_000, retry: 1 }, async () => {
    answers.length = 0;
    producedBlocks = 0;
    const until = Date.now() + SECONDS * 1000;
    await Promise.all([
      produce(until),
      read(until).catch((error: unknown) => {
        // What the API logged about a failed answer (the client only sees "Unexpected error.").
        const logged = ponder!.log().split("\n").filter((l) => l.includes("salvage API answer failed")).slice(-3).join("\n");
        throw new Error(`${error instanceof Error ? error.message : String(error)}${logged ? `\nthe API logged:\n${logged}` : ""}`, { cause: error });
      }),
    ]);

    const { deployment, accounts } = net!;
    const hub = deployment.hubClients.public;
    const hubChainId = deployment.hub.chainId;
    const chainIds = deployment.manifest.chains.map((c) => c.chainId);
    const data = new Map<string, Promise<Map<string, { collateralValue: bigint; thresholdValue: bigint; borrowPower: bigint; debtValue: bigint; healthFactor: bigint }>>>();
    /** Hub.accountData of every seeded account (and any other `extra`) at `block`, read once per block. */
    const accountDataAt = (block: bigint, extra: readonly string[] = []) => {
      const key = block.toString();
      if (!data.has(key)) {
        data.set(key, mapLimit([...new Set([...accounts.map((a) => a.toLowerCase()), ...extra.map((a) => a.toLowerCase())])], 16, async (a) => {
          const [collateralValue, thresholdValue, borrowPower, debtValue, healthFactor] = await hub.readContract({
            address: deployment.hubAddress, abi: hubAbi, functionName: "accountData", args: [getAddress(a)], blockNumber: block,
          });
          return [a, { collateralValue, thresholdValue, borrowPower, debtValue, healthFactor }] as const;
        }).then((rows) => new Map(rows)));
      }
      return data.get(key)!;
    };
    const timestamps = new Map<bigint, bigint>();
    const mismatches: string[] = [];
    const blocks = new Set<string>();

    for (const [n, answer] of answers.entries()) {
      const where = `answer ${n} (${answer.kind}${answer.kind === "graphql account" ? ` ${answer.address}` : ""}) at block ${answer.block?.number}`;
      expect(answer.block, where).not.toBeNull();
      const block = BigInt(answer.block!.number);
      blocks.add(answer.block!.number);
      expect(answer.block!.chainId).toBe(hubChainId);
      if (!timestamps.has(block)) timestamps.set(block, (await hub.getBlock({ blockNumber: block })).timestamp);
      expect(answer.block!.timestamp, where).toBe(timestamps.get(block)!.toString());
      // chainBlocks: every chain once, hub first, the hub's entry the block itself.
      expect(answer.chainBlocks.map((b) => b.chainId).sort(), where).toEqual([...chainIds].sort());
      expect(answer.chainBlocks[0], where).toEqual(answer.block);

      if (answer.kind === "graphql account") {
        const chain = (await accountDataAt(block)).get(answer.address.toLowerCase())!;
        const h = answer.health!;
        const got = { healthFactor: h.healthFactor, collateralValue: h.collateralValue, thresholdValue: h.thresholdValue, borrowPower: h.borrowPower, debtValue: h.debtValue };
        const want = {
          healthFactor: chain.healthFactor.toString(), collateralValue: chain.collateralValue.toString(), thresholdValue: chain.thresholdValue.toString(),
          borrowPower: chain.borrowPower.toString(), debtValue: chain.debtValue.toString(),
        };
        if (JSON.stringify(got) !== JSON.stringify(want)) mismatches.push(`${where}: health ${JSON.stringify(got)} != hub ${JSON.stringify(want)}`);
        const positions = await deployment.positions(answer.address, block);
        const key = (c: { eid: number; assetId: number }) => `${c.eid}/${c.assetId}`;
        const gotCollateral = answer.collateral.map((c) => `${key(c)}=${c.amount}`).sort();
        const wantCollateral = positions.collateral.filter((c) => c.amount > 0n).map((c) => `${key(c)}=${c.amount}`).sort();
        if (gotCollateral.join() !== wantCollateral.join()) mismatches.push(`${where}: collateral ${gotCollateral} != hub ${wantCollateral}`);
        const gotDebt = answer.debt.map((d) => `${d.assetId}=${d.amount}`).sort();
        const wantDebt = positions.debt.filter((d) => d.amount > 0n).map((d) => `${d.assetId}=${d.amount}`).sort();
        if (gotDebt.join() !== wantDebt.join()) mismatches.push(`${where}: debt ${gotDebt} != hub ${wantDebt}`);
        continue;
      }

      expect(answer.hasNextPage, where).toBe(false);
      for (const other of answer.others ?? []) if (JSON.stringify(other) !== JSON.stringify(answer.block)) mismatches.push(`${where}: another field of the request names block ${other?.number}`);
      const chain = await accountDataAt(block, answer.items.map((i) => i.address));
      for (const i of answer.items) {
        const c = chain.get(i.address.toLowerCase())!;
        const got = [i.healthFactor, i.collateralValue, i.thresholdValue, i.borrowPower, i.debtValue].join("/");
        const want = [c.healthFactor, c.collateralValue, c.thresholdValue, c.borrowPower, c.debtValue].join("/");
        if (got !== want) mismatches.push(`${where}: ${i.address} hf/collateral/threshold/borrowPower/debt ${got} != hub ${want}`);
      }
      // Exactly the accounts below the bound at that block, by HF then address.
      const expected = [...chain.entries()]
        .filter(([, d]) => d.healthFactor < BOUND_WAD)
        .sort(([a, x], [b, y]) => (x.healthFactor < y.healthFactor ? -1 : x.healthFactor > y.healthFactor ? 1 : a < b ? -1 : 1))
        .map(([a]) => a);
      const got = answer.items.map((i) => i.address.toLowerCase());
      if (got.join() !== expected.join()) mismatches.push(`${where}: accounts [${got.length}] != hub's below ${BOUND} [${expected.length}]`);
    }

    console.log(`one block per answer: ${answers.length} answers at ${blocks.size} hub blocks while ${producedBlocks} blocks were produced; ${mismatches.length} mismatches`);
    expect(mismatches.slice(0, 20)).toEqual([]);
    // The reads really raced the indexer: many answers, at many blocks, across kinds.
    expect(answers.length).toBeGreaterThanOrEqual(30);
    expect(blocks.size).toBeGreaterThanOrEqual(10);
    for (const kind of ["graphql atRiskAccounts", "graphql account", "graphql request of several fields", "REST /at-risk"]) expect(answers.some((a) => a.kind === kind), kind).toBe(true);
  });
});
