/**
 * Serving from replicas, on PostgreSQL: one indexer (`ponder start`, SALVAGE_API=off: only its status, readiness and
 * metrics) and two `ponder serve` replicas over its schema. Both answer the same feed log; a subscriber that reads
 * from one replica, drops, and resumes on the other with the last event id it got misses nothing and gets nothing
 * twice, with new events indexed while it was away; a webhook registered on one replica gets every event once, though
 * both replicas run the sender. The indexer itself answers no query.
 */
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createParser } from "eventsource-parser";
import type { Address } from "viem";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Rng } from "../src/devnet/rng.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { type TestDatabase, createTestDatabase } from "./helpers/database.js";
import { type SeededNetwork, startSeededNetwork } from "./helpers/network.js";
import { type PonderApp, sleep, startPonder } from "./helpers/ponder.js";

let net: SeededNetwork;
let database: TestDatabase;
let indexer: PonderApp;
const replicas: PonderApp[] = [];
let accounts: Address[];
let rng: Rng;
const TOKEN = "replicas-test-admin-token";
/** webhook-id of every delivery the receiver got, in arrival order. */
const delivered: string[] = [];
let receiver: Server;

beforeAll(async () => {
  net = await startSeededNetwork({ accounts: 30, seed: 41 });
  ({ accounts, rng } = net);
  database = createTestDatabase("replicas", { required: true })!;
  const schema = `replicas_${process.pid}`;
  const env = { SALVAGE_FEED_POLL_MS: "50", SALVAGE_ADMIN_TOKEN: TOKEN, SALVAGE_WEBHOOK_ALLOW_CIDRS: "127.0.0.1/32", SALVAGE_WEBHOOK_POLL_MS: "100" };
  indexer = await startPonder({ manifest: net.network.manifest, databaseUrl: database.url, schema, env: { ...env, SALVAGE_API: "off" } });
  await caughtUp();
  for (let i = 0; i < 2; i++) replicas.push(await startPonder({ manifest: net.network.manifest, databaseUrl: database.url, schema, env, command: "serve" }));
}, 400_000);

afterAll(async () => {
  receiver?.closeAllConnections();
  receiver?.close();
  for (const r of replicas) await r.stop();
  await indexer?.stop();
  await net?.stop();
  database?.drop();
}, 60_000);

async function caughtUp(): Promise<void> {
  const head = await net.deployment.hubClients.public.getBlockNumber({ cacheTime: 0 });
  await indexer.indexed(net.deployment.hub.name, head);
}

/** The whole feed log as a replica reads it (`opportunityEvents`, paged). */
async function log(app: PonderApp): Promise<string[]> {
  const ids: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await app.gql<{ opportunityEvents: { items: { id: string }[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } } }>(
      `query($s: String) { opportunityEvents(since: $s, first: 500) { items { id } pageInfo { endCursor hasNextPage } } }`,
      { s: after ?? "0" },
    );
    expect(page.errors).toBeUndefined();
    ids.push(...page.data!.opportunityEvents.items.map((e) => e.id));
    if (!page.data!.opportunityEvents.pageInfo.hasNextPage) return ids;
    after = page.data!.opportunityEvents.pageInfo.endCursor!;
  }
}

/** An SSE subscription to `app` from `since`, collecting event ids. */
function subscribe(app: PonderApp, since: string) {
  const controller = new AbortController();
  const ids: string[] = [];
  const query = `subscription { opportunities(since: "${since}") { id kind account } }`;
  const done = (async () => {
    const res = await fetch(`${app.url}/salvage/graphql?query=${encodeURIComponent(query)}`, { headers: { accept: "text/event-stream" }, signal: controller.signal });
    const parser = createParser({ onEvent: (e) => e.event === "next" && ids.push(e.id!) });
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
  })().catch((error: unknown) => {
    if (!controller.signal.aborted) throw error;
  });
  return { ids, close: () => controller.abort(), done };
}

async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

it("the indexer with its API off answers only status; both replicas serve one feed, and a subscriber moving between them with its last id misses nothing and gets nothing twice", async () => {
  // The indexer: status, readiness and metrics; no query, no feed, no page.
  expect((await indexer.api("/salvage/status")).status).toBe(200);
  expect((await indexer.api("/salvage/metrics")).status).toBe(200);
  for (const path of ["/salvage/graphql", "/at-risk", "/"]) expect((await indexer.api(path)).status, path).toBe(404);

  // A webhook registered on replica B; both replicas' senders share its deliveries.
  receiver = createServer((req, res) => {
    delivered.push(String(req.headers["webhook-id"]));
    req.resume().on("end", () => res.writeHead(204).end());
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const registered = await replicas[1]!.api("/salvage/webhooks", {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` }),
  });
  expect(registered.status, await registered.clone().text()).toBe(201);

  // A first crash, indexed; a subscriber on replica A reads the whole log so far, live.
  await new MarketSimulator(net.deployment, rng).crash(accounts, 0.3);
  await caughtUp();
  const first = await log(replicas[0]!);
  expect(first.length).toBeGreaterThan(0);
  expect(await log(replicas[1]!)).toEqual(first);
  const onA = subscribe(replicas[0]!, "0");
  await until("replica A's subscriber has the log", () => onA.ids.length >= first.length);
  onA.close();
  await onA.done;
  expect(onA.ids).toEqual(first);

  // While it is away, prices fall further (new events), then it resumes on replica B from the last id it got.
  await new MarketSimulator(net.deployment, rng).crash(accounts, 0.6);
  await caughtUp();
  const all = await log(replicas[1]!);
  expect(all.length).toBeGreaterThan(first.length);
  expect(await log(replicas[0]!)).toEqual(all);
  const onB = subscribe(replicas[1]!, onA.ids.at(-1)!);
  await until("replica B's subscriber has the rest", () => onB.ids.length >= all.length - first.length);
  await sleep(500); // nothing more arrives: no duplicate
  onB.close();
  await onB.done;
  expect([...onA.ids, ...onB.ids]).toEqual(all);

  // Every event of the log once at the webhook (the first crash's too: they came after the registration).
  await until("every event delivered to the webhook", () => new Set(delivered).size >= all.length);
  await sleep(1_000); // a second sender would deliver its copy by now
  expect([...delivered].sort()).toEqual([...all].sort());
}, 300_000);
