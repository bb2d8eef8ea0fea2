/**
 * The feed wakes at each block the indexer commits (src/api/commit-signal.ts: Ponder's own NOTIFY on its checkpoint
 * table, PostgreSQL), not only at its poll: with the poll set to a minute, a crash's `liquidatable` events reach a
 * subscriber (the typed client, over SSE) within seconds of the crash's blocks, one per account the crash made
 * liquidatable. Without the signal the first of them would wait for the next poll, a minute away.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { createSalvageClient, type OpportunityEvent } from "../src/client/index.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { type SeededNetwork, startSeededNetwork } from "./helpers/network.js";
import { type PonderApp, startPonder } from "./helpers/ponder.js";
import { type TestDatabase, createTestDatabase } from "./helpers/database.js";

const POLL_MS = 60_000;
let net: SeededNetwork | undefined;
let ponder: PonderApp | undefined;
let database: TestDatabase | undefined;

beforeAll(async () => {
  database = createTestDatabase("commit_signal", { required: true });
  if (!database) return;
  net = await startSeededNetwork({ accounts: 20, seed: 53 });
  ponder = await startPonder({ manifest: net.network.manifest, databaseUrl: database.url, env: { SALVAGE_FEED_POLL_MS: String(POLL_MS) } });
  await ponder.indexed(net.deployment.hub.name, await net.deployment.hubClients.public.getBlockNumber({ cacheTime: 0 }));
}, 400_000);

afterAll(async () => {
  await ponder?.stop();
  await net?.stop();
  database?.drop();
}, 60_000);

it("delivers a crash's events at the blocks' commit, with the feed's poll a minute away", async () => {
  const client = createSalvageClient({ url: ponder!.url });
  const stop = new AbortController();
  const seen: { event: OpportunityEvent; at: number }[] = [];
  const reading = (async () => {
    for await (const event of client.opportunities({ signal: stop.signal, filter: { kinds: ["liquidatable"] } })) seen.push({ event, at: Date.now() });
  })().catch((error: Error) => {
    if (error.name !== "AbortError") throw error;
  });
  // Subscribed: the first poll (at subscription) has marked the log's end; the next one is a minute away.
  await ponder!.waitFor("the subscription", async () => ((await (await ponder!.api("/salvage/metrics")).text()).match(/^salvage_subscribers\{transport="sse",stream="opportunities"\} [1-9]/m) ? true : undefined), 30_000);
  const crash = await new MarketSimulator(net!.deployment, net!.rng).crash(net!.accounts, 0.3);
  const minedAt = Date.now();
  expect(crash.liquidatable.length).toBeGreaterThan(1);
  const want = new Set(crash.liquidatable.map((a) => a.toLowerCase()));
  await ponder!.waitFor("an event per account the crash made liquidatable", async () => (want.size > 0 && [...want].every((a) => seen.some((s) => s.event.account?.toLowerCase() === a)) ? true : undefined), 20_000);
  stop.abort();
  await reading;
  const last = Math.max(...seen.map((s) => s.at)) - minedAt;
  console.log(`[commit-signal] ${seen.length} liquidatable events, the last ${last} ms after the crash's last block was mined (poll: ${POLL_MS} ms)`);
});
