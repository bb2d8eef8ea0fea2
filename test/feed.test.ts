/**
 * The opportunity feed end to end: a real devnet (hub + 2 spokes on anvil), real Ponder indexing it (PGlite),
 * subscribers over SSE (the typed client `salvage/client`, and raw SSE with Last-Event-ID) and over WebSocket
 * (graphql-ws's own client). A crash made after they subscribed must reach each of them as one `liquidatable`
 * event per account it made liquidatable, stamped with the hub block where that account's on-chain health
 * first fell below 1, without duplicates; a subscriber that drops and resumes gets exactly what it missed;
 * 1,000 concurrent SSE subscribers all get the same events (the server's memory is printed, not asserted).
 */
import { readFileSync } from "node:fs";
import { createParser } from "eventsource-parser";
import { createClient as createWsClient } from "graphql-ws";
import type { Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { hubAbi } from "../abis/index.js";
import { write } from "../src/chains/tx.js";
import { type AccountEvent, type OpportunityEvent, createSalvageClient } from "../src/client/index.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
import type { Rng } from "../src/devnet/rng.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { WAD } from "../src/health/wad.js";
import { mapLimit } from "../src/util/concurrency.js";
import { type SeededNetwork, startSeededNetwork } from "./helpers/network.js";
import { type PonderApp, sleep, startPonder } from "./helpers/ponder.js";

const ACCOUNTS = 40;
const SEED = 31;

let net: SeededNetwork;
let ponder: PonderApp;
let accounts: Address[];
let rng: Rng;

beforeAll(async () => {
  net = await startSeededNetwork({ accounts: ACCOUNTS, seed: SEED });
  ({ accounts, rng } = net);
  // 1,000 SSE subscribers from one client below: past the default per-client cap (src/api/limits.ts).
  ponder = await startPonder({ manifest: net.network.manifest, env: { SALVAGE_FEED_POLL_MS: "50", SALVAGE_MAX_SUBSCRIBERS_PER_CLIENT: "2000" } });
  await caughtUp();
}, 400_000);

afterAll(async () => {
  await ponder?.stop();
  await net?.stop();
}, 60_000);

async function caughtUp(): Promise<bigint> {
  const head = await net.deployment.hubClients.public.getBlockNumber({ cacheTime: 0 });
  await ponder.indexed(net.deployment.hub.name, head);
  return head;
}

/** salvage_subscribers{transport,stream} from /salvage/metrics. */
async function subscribers(transport: string, stream = "opportunities"): Promise<number> {
  const text = await (await ponder.api("/salvage/metrics")).text();
  const m = new RegExp(`^salvage_subscribers\\{transport="${transport}",stream="${stream}"\\} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  await ponder.waitFor(what, async () => ((await fn()) ? true : undefined), timeoutMs);
}

/** The first hub block in (from, to] at which the account's on-chain health factor is below 1. */
async function firstBlockBelowOne(account: Address, from: bigint, to: bigint): Promise<bigint> {
  for (let b = from + 1n; b <= to; b++) if ((await net.deployment.onchainHealthFactor(account, b)) < WAD) return b;
  throw new Error(`${account} never fell below 1 in (${from}, ${to}]`);
}

/** A raw SSE subscription (fetch + eventsource-parser), recording ids and payloads. */
function rawSse(query: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const events: { id?: string; data: { data?: { opportunities?: { id: string; kind: string; account: string } }; errors?: { message: string }[] } }[] = [];
  let markOpened!: () => void;
  const opened = new Promise<void>((resolve) => (markOpened = resolve));
  const done = (async () => {
    const res = await fetch(`${ponder.url}/salvage/graphql?query=${encodeURIComponent(query)}`, {
      headers: { accept: "text/event-stream", ...headers },
      signal: controller.signal,
    });
    markOpened();
    const parser = createParser({ onEvent: (e) => e.event === "next" && events.push({ id: e.id, data: JSON.parse(e.data) }) });
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
  })().catch((error: unknown) => {
    if (!controller.signal.aborted) throw error;
  });
  // `opened` settles with the response's headers, or with the stream's end or failure before them.
  return { events, close: () => controller.abort(), done, opened: Promise.race([opened, done]) };
}

describe("opportunity feed", () => {
  it("SSE and WebSocket subscribers get one event per account the crash makes liquidatable, at the block that did it; a resumed subscriber gets what it missed", async () => {
    const client = createSalvageClient({ url: ponder.url, retry: { minMs: 50 } });
    const viaClient: OpportunityEvent[] = [];
    const stopClient = new AbortController();
    const clientDone = (async () => {
      for await (const e of client.opportunities({ signal: stopClient.signal })) viaClient.push(e);
    })();

    const ws = createWsClient({ url: `ws://127.0.0.1:${ponder.port}/salvage/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
    const viaWs: { id: string; kind: string; account: string; blockNumber: string; opportunity: { seizeAmount: string } | null }[] = [];
    const wsErrors: unknown[] = [];
    const startId = await client.latestEventId();
    const unsubscribeWs = ws.subscribe(
      { query: "subscription($s: String) { opportunities(since: $s) { id kind account blockNumber opportunity { seizeAmount } } }", variables: { s: startId ?? "0" } },
      { next: (r) => viaWs.push((r.data as { opportunities: (typeof viaWs)[number] }).opportunities), error: (e) => wsErrors.push(e), complete: () => undefined },
    );

    // A subscriber that will drop after its first event and resume from the last id it saw.
    const dropper = createSalvageClient({ url: ponder.url });
    const beforeDrop: OpportunityEvent[] = [];
    const stopDropper = new AbortController();
    const dropperDone = (async () => {
      for await (const e of dropper.opportunities({ signal: stopDropper.signal })) {
        beforeDrop.push(e);
        stopDropper.abort();
      }
    })();

    await until("3 SSE + 1 WebSocket subscribers", async () => (await subscribers("sse")) >= 2 && (await subscribers("ws")) >= 1);

    const from = await net.deployment.hubClients.public.getBlockNumber({ cacheTime: 0 });
    const crash = await new MarketSimulator(net.deployment, rng).crash(accounts, 0.3);
    const to = await net.deployment.hubClients.public.getBlockNumber({ cacheTime: 0 });
    const liquidatable = crash.liquidatable.map((a) => a.toLowerCase()).sort();
    expect(liquidatable.length).toBeGreaterThan(3);

    const liquidatableIn = (list: { kind: string; account: string | null }[]) => list.filter((e) => e.kind === "liquidatable").map((e) => e.account!.toLowerCase()).sort();
    await until("every liquidatable event over SSE and WebSocket", () => liquidatableIn(viaClient).length >= liquidatable.length && liquidatableIn(viaWs).length >= liquidatable.length);
    await dropperDone;
    await caughtUp();
    await sleep(300); // any duplicate would arrive within a few polls

    expect(wsErrors).toEqual([]);
    expect(liquidatableIn(viaClient)).toEqual(liquidatable);
    expect(liquidatableIn(viaWs)).toEqual(liquidatable);
    // No duplicates, and both transports carried the same events in the same order.
    expect(new Set(viaClient.map((e) => e.id)).size).toBe(viaClient.length);
    expect(viaWs.map((e) => e.id)).toEqual(viaClient.map((e) => e.id));

    // Each liquidatable event comes from the hub block where that account's health first fell below 1,
    // and carries a take at that block (collateral on a spoke, something to seize).
    const spokeChainIds = new Set(net.network.manifest.chains.filter((c) => c.role === "spoke").map((c) => c.chainId));
    for (const e of viaClient.filter((x): x is AccountEvent => x.kind === "liquidatable")) {
      expect(e.blockNumber, e.account).toBe(await firstBlockBelowOne(e.account, from, to));
      expect(e.chainId).toBe(net.deployment.hub.chainId);
      expect(e.healthFactor).toBeLessThan(WAD);
      expect(e.opportunity).not.toBeNull();
      expect(spokeChainIds.has(e.opportunity!.collateral.chainId)).toBe(true);
      expect(e.opportunity!.seizeAmount).toBeGreaterThan(0n);
      expect(e.opportunity!.bonus).toBe(e.opportunity!.minBonus);
    }

    // The events are the log: the same ids as opportunityEvents after the start id.
    const log = await ponder.gql<{ opportunityEvents: { items: { id: string }[] } }>(`query($s: String) { opportunityEvents(since: $s, first: 500) { items { id } } }`, { s: startId ?? "0" });
    expect(viaClient.map((e) => e.id)).toEqual(log.data!.opportunityEvents.items.map((e) => e.id));

    // The dropped subscriber resumes from the one event it saw and gets exactly the rest.
    expect(beforeDrop).toHaveLength(1);
    const resumed: OpportunityEvent[] = [];
    const stopResumed = new AbortController();
    const resumedDone = (async () => {
      for await (const e of dropper.opportunities({ since: beforeDrop[0]!.id, signal: stopResumed.signal })) {
        resumed.push(e);
        if (beforeDrop.length + resumed.length === viaClient.length) stopResumed.abort();
      }
    })();
    await until("the resumed subscriber to catch up", () => beforeDrop.length + resumed.length >= viaClient.length, 30_000);
    stopResumed.abort();
    await resumedDone;
    expect([...beforeDrop, ...resumed].map((e) => e.id)).toEqual(viaClient.map((e) => e.id));

    stopClient.abort();
    await clientDone;
    unsubscribeWs();
    await ws.dispose();
    await until("subscribers to be released", async () => (await subscribers("sse")) === 0 && (await subscribers("ws")) === 0, 20_000);
  }, 240_000);

  it("a kick reaches subscribers as a kicked event whose take carries the auction's bonus schedule", async () => {
    const client = createSalvageClient({ url: ponder.url });
    const stop = new AbortController();
    const got: AccountEvent[] = [];
    const done = (async () => {
      for await (const e of client.opportunities({ filter: { kinds: ["kicked"] }, signal: stop.signal })) {
        got.push(e);
        stop.abort();
      }
    })();
    await until("the subscriber", async () => (await subscribers("sse")) >= 1);
    const open = await ponder.gql<{ opportunities: { items: { account: Address; auctionStatus: string }[] } }>(`{ opportunities(first: 500) { items { account auctionStatus } } }`);
    const target = open.data!.opportunities.items.find((o) => o.auctionStatus === "none")!.account;
    const { public: reader, wallet } = net.deployment.hubClients;
    const receipt = await write(wallet(devnetAccounts.liquidator), reader, { address: net.deployment.hubAddress, abi: hubAbi, functionName: "kick", args: [target] });
    await until("the kicked event", () => got.length === 1);
    await done;
    const e = got[0]!;
    expect(e.account.toLowerCase()).toBe(target.toLowerCase());
    expect(e.blockNumber).toBe(receipt.blockNumber);
    expect(e.healthFactor).toBe(await net.deployment.onchainHealthFactor(target, receipt.blockNumber));
    const o = e.opportunity!;
    expect(o.auctionStatus).toBe("active");
    expect(o.auctionStartedAt).toBe(e.timestamp);
    expect(o.bonus).toBe(o.minBonus);
    expect(o.maxBonusAt).toBe(o.auctionStartedAt! + o.auctionDuration);
    expect(o.maxBonus).toBeGreaterThan(o.minBonus);
  }, 60_000);

  it("raw SSE carries event ids, and a reconnect with Last-Event-ID replays exactly what followed", async () => {
    const all = rawSse(`subscription { opportunities(since: "0") { id kind account } }`);
    const log = await ponder.gql<{ opportunityEvents: { items: { id: string }[] } }>(`{ opportunityEvents(since: "0", first: 500) { items { id } } }`);
    const ids = log.data!.opportunityEvents.items.map((e) => e.id);
    expect(ids.length).toBeGreaterThan(3);
    await until("the whole log over SSE", () => all.events.length >= ids.length, 30_000);
    all.close();
    expect(all.events.map((e) => e.id)).toEqual(ids);
    expect(all.events.map((e) => e.data.data!.opportunities!.id)).toEqual(ids);

    // What a browser EventSource does after a drop: the same URL, with the last id it got.
    const middle = ids[Math.floor(ids.length / 2)]!;
    const resumed = rawSse(`subscription { opportunities(since: "0") { id kind account } }`, { "last-event-id": middle });
    const rest = ids.filter((id) => id > middle);
    await until("the replay after Last-Event-ID", () => resumed.events.length >= rest.length, 30_000);
    await sleep(300);
    resumed.close();
    expect(resumed.events.map((e) => e.id)).toEqual(rest);
  }, 120_000);

  it("accountHealth over WebSocket: the indexed health now, then the new health after a price move, equal to the hub's", async () => {
    const target = accounts[0]!;
    const ws = createWsClient({ url: `ws://127.0.0.1:${ponder.port}/salvage/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
    const seen: { healthFactor: string; updatedBlock: string }[] = [];
    const unsubscribe = ws.subscribe(
      { query: `subscription($a: String!) { accountHealth(address: $a) { healthFactor updatedBlock } }`, variables: { a: target } },
      { next: (r) => seen.push((r.data as { accountHealth: (typeof seen)[number] }).accountHealth), error: () => undefined, complete: () => undefined },
    );
    await until("the current health", () => seen.length >= 1);
    expect(BigInt(seen[0]!.healthFactor)).toBe(await net.deployment.onchainHealthFactor(target));

    await new MarketSimulator(net.deployment, rng).crash(accounts, 0.6);
    const head = await caughtUp();
    const expected = await net.deployment.onchainHealthFactor(target, head);
    await until("the health after the move", () => seen.some((s) => BigInt(s.healthFactor) === expected));
    unsubscribe();
    await ws.dispose();
  }, 120_000);

  it("rejects a bad filter or since with an error naming the argument", async () => {
    const client = createSalvageClient({ url: ponder.url });
    const drain = async (it: AsyncIterable<unknown>) => {
      for await (const _ of it) void _;
    };
    await expect(drain(client.opportunities({ since: "0", filter: { minProfitUsd: "lots" } }))).rejects.toThrow(/filter\.minProfitUsd/);
    await expect(drain(client.opportunities({ since: "yesterday" }))).rejects.toThrow(/since must be an event id/);
    await expect(drain(client.opportunities({ since: "0", filter: { accounts: ["0x12"] } }))).rejects.toThrow(/filter\.accounts\.0/);
    await expect(drain(client.opportunities({ since: "0", filter: { kinds: ["maybe" as "healthy"] } }))).rejects.toThrow(/filter\.kinds\.0/);
  }, 60_000);

  it("1,000 concurrent SSE subscribers all receive the same events", async () => {
    const N = 1_000;
    const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${ponder.pid}/status`, "utf8"))![1]) * 1024;
    // Every earlier subscription has been released (a leak would show here).
    await until("no SSE subscriber left", async () => (await subscribers("sse")) === 0, 60_000);
    const before = rss();
    const startId = (await createSalvageClient({ url: ponder.url }).latestEventId()) ?? "0";
    const subs: ReturnType<typeof rawSse>[] = [];
    try {
      // 50 connects at a time, as a pool of clients would reconnect: all 1,000 at once overran a 2-core machine.
      await mapLimit(Array.from({ length: N }, (_, i) => i), 50, async () => {
        const sub = rawSse(`subscription { opportunities(since: "${startId}") { id kind account } }`);
        subs.push(sub);
        await sub.opened;
      });
      await until(`${N} SSE subscribers`, async () => (await subscribers("sse")) === N, 120_000);
      const withSubscribers = rss();

      // A deeper crash: more accounts become liquidatable and the rest move; every subscriber hears all of it.
      const from = await net.deployment.hubClients.public.getBlockNumber({ cacheTime: 0 });
      await new MarketSimulator(net.deployment, rng).crash(accounts, 0.85);
      await caughtUp();
      const log = await ponder.gql<{ opportunityEvents: { items: { id: string; blockNumber: string }[] } }>(`query($s: String) { opportunityEvents(since: $s, first: 500) { items { id blockNumber } } }`, { s: startId });
      const ids = log.data!.opportunityEvents.items.map((e) => e.id);
      expect(ids.length).toBeGreaterThan(0);
      expect(log.data!.opportunityEvents.items.every((e) => BigInt(e.blockNumber) > from)).toBe(true);
      await until(`all ${N} subscribers to get ${ids.length} events`, () => subs.every((s) => s.events.length >= ids.length), 120_000);
      const peak = rss();
      for (const s of subs) expect(s.events.map((e) => e.id)).toEqual(ids);

      for (const s of subs) s.close();
      await Promise.all(subs.map((s) => s.done));
      await until("subscribers to be released", async () => (await subscribers("sse")) === 0, 60_000);
      const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
      console.log(`[feed] ponder RSS: ${mb(before)} before, ${mb(withSubscribers)} with ${subs.length} SSE subscribers, ${mb(peak)} after ${ids.length} events to each (${ids.length * subs.length} deliveries), ${mb(rss())} after they closed`);
    } finally {
      for (const s of subs) s.close();
      await Promise.all(subs.map((s) => s.done));
    }
  }, 400_000);
});
