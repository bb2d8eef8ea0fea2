/**
 * Signed webhooks against real parts: a devnet (hub + 2 spokes on anvil) with seeded borrowers, real Ponder
 * (`ponder start`, PGlite) with webhooks enabled, and loopback HTTP receivers (node:http).
 *
 * (d) registrations are authenticated and validated, errors naming the field;
 * (a) after a crash, each receiver gets exactly one signed delivery per feed event matching its filter, whose
 *     body is the event of the log (/salvage/graphql opportunityEvents);
 * (b) a receiver answering 500 gets exactly 3 attempts per delivery with backoff, then the deliveries are
 *     failed with 3 recorded attempts, and salvage_webhook_failures_total counted them;
 * (c) with a receiver that never answers, price updates are still indexed to the chain head while its
 *     requests hang, other receivers still get theirs, and the timeout is recorded;
 * (e) events logged while the API is down are delivered after it restarts (the registration and the
 *     dispatcher's cursor survive in the PGlite directory beside Ponder's);
 * and, without Ponder, two dispatchers sharing one PostgreSQL (TEST_DATABASE_URL) over the same feed insert
 * each delivery once and never send the same attempt twice.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type IncomingHttpHeaders, type Server, createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import type { Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Counter, Gauge, Registry } from "prom-client";
import { verifyWebhook } from "../src/client/webhook.js";
import type { WebhookConfig } from "../src/api/webhooks/config.js";
import { WebhookDispatcher } from "../src/api/webhooks/dispatcher.js";
import type { WebhookMetrics } from "../src/api/webhooks/metrics.js";
import { WEBHOOK_MIGRATION, WebhookStore } from "../src/api/webhooks/store.js";
import { type Database, openDatabase } from "../src/recovery/db.js";
import type { Network } from "../src/devnet/network.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { WAD } from "../src/health/wad.js";
import type { Deployment } from "../src/protocol/deployment.js";
import { mapLimit } from "../src/util/concurrency.js";
import { type SeededNetwork, startSeededNetwork } from "./helpers/network.js";
import { type PonderApp, sleep, startPonder } from "./helpers/ponder.js";
import { TEST_DATABASE_URL } from "./helpers/scenario.js";

const ACCOUNTS = 24;
const SEED = 31;
const TOKEN = "test-admin-token-0123456789";
const RETRY_MS = 100;
const TIMEOUT_MS = 10_000;

let network: Network;
let deployment: Deployment;
let net: SeededNetwork | undefined;
let ponder: PonderApp | undefined;
let accounts: Address[];
let market: MarketSimulator;
const receivers: Receiver[] = [];
/** SALVAGE_WEBHOOKS_TEST_LOG=FILE: where to write the (last) Ponder process's log. */
let lastLog: string | undefined;
/** Ponder's PGlite directory (and the webhooks' beside it), kept across the restart of (e). */
const dataDir = mkdtempSync(join(tmpdir(), "salvage-webhooks-test-"));
const ponderEnv = {
  SALVAGE_ADMIN_TOKEN: TOKEN,
  SALVAGE_PGLITE_DIR: join(dataDir, "pglite"),
  SALVAGE_FEED_POLL_MS: "50",
  SALVAGE_WEBHOOK_RETRY_MS: String(RETRY_MS),
  SALVAGE_WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
  SALVAGE_WEBHOOK_POLL_MS: "200",
};

// ------------------------------------------------------------------ loopback receivers

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

interface Receiver {
  url: string;
  received: Received[];
  /** Requests not answered yet. */
  open: Set<Received>;
  close(): Promise<void>;
}

/** An HTTP server on loopback answering every POST with `status` (after `delayMs`), or never ("hang"). */
async function receiver(status: number | "hang" | ((r: Received) => number), delayMs = 0): Promise<Receiver> {
  const received: Received[] = [];
  const open = new Set<Received>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const r = { headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      received.push(r);
      if (status === "hang") {
        open.add(r);
        res.on("close", () => open.delete(r));
        return;
      }
      const code = typeof status === "function" ? status(r) : status;
      setTimeout(() => res.writeHead(code, { "content-type": "text/plain" }).end(code < 300 ? "ok" : "nope"), delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  let closed: Promise<void> | undefined;
  const r: Receiver = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    open,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      })),
  };
  receivers.push(r);
  return r;
}

// ------------------------------------------------------------------ API helpers

const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };

interface Registered {
  id: number;
  url: string;
  filter: Record<string, unknown>;
  description: string | null;
  secret: string;
  createdAt: string;
}

async function register(body: unknown, headers: Record<string, string> = auth): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await ponder!.api("/salvage/webhooks", { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function registerOk(body: { url: string; filter?: unknown; description?: string }): Promise<Registered> {
  const r = await register(body);
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json as unknown as Registered;
}

interface DeliveryJson {
  id: string;
  eventId: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  attemptLog: { attempt: number; startedAt: string; durationMs: number; statusCode: number | null; error: string | null }[];
}

async function deliveries(hookId: number, status?: string): Promise<DeliveryJson[]> {
  const items: DeliveryJson[] = [];
  let after: string | null = null;
  do {
    const q = new URLSearchParams({ first: "500", ...(status ? { status } : {}), ...(after ? { after } : {}) });
    const res = await ponder!.api(`/salvage/webhooks/${hookId}/deliveries?${q}`, { headers: auth });
    expect(res.status).toBe(200);
    const page = (await res.json()) as { items: DeliveryJson[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
    items.push(...page.items);
    after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
  } while (after);
  return items;
}

interface LogEvent {
  id: string;
  account: string;
  kind: string;
  healthFactor: string;
  previousHealthFactor: string | null;
  debtValue: string;
  chainId: number;
  blockNumber: string;
  logIndex: number;
  timestamp: string;
}
const LOG_FIELDS = ["id", "account", "kind", "healthFactor", "previousHealthFactor", "debtValue", "chainId", "blockNumber", "logIndex", "timestamp"] as const;

/** The feed's log after `since` from /salvage/graphql, every page. */
async function logAfter(since: string): Promise<LogEvent[]> {
  const events: LogEvent[] = [];
  let cursor = since;
  for (;;) {
    const r = await ponder!.gql<{ opportunityEvents: { items: LogEvent[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } } }>(
      `query($s: String) { opportunityEvents(since: $s, first: 500) { items { ${LOG_FIELDS.join(" ")} } pageInfo { endCursor hasNextPage } } }`,
      { s: cursor },
    );
    expect(r.errors).toBeUndefined();
    events.push(...r.data!.opportunityEvents.items);
    if (!r.data!.opportunityEvents.pageInfo.hasNextPage) return events;
    cursor = r.data!.opportunityEvents.pageInfo.endCursor!;
  }
}

const lastLogId = async () => (await logAfter("0")).at(-1)?.id ?? "0";

/** Waits until Ponder has indexed the hub through its current head. */
async function caughtUp(): Promise<bigint> {
  const head = await deployment.hubClients.public.getBlockNumber({ cacheTime: 0 });
  await ponder!.indexed(deployment.hub.name, head);
  return head;
}

async function metric(name: string, labels = ""): Promise<number> {
  const text = await (await ponder!.api("/salvage/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

/** Checks a delivery's signature and headers; returns its parsed body. */
function verified(r: Received, secret: string): Record<string, unknown> {
  const check = verifyWebhook({ secret, body: r.body, header: r.headers["salvage-signature"] });
  expect(check, r.body.slice(0, 120)).toMatchObject({ ok: true });
  expect(r.headers["content-type"]).toBe("application/json");
  const body = JSON.parse(r.body) as Record<string, unknown>;
  expect(r.headers["salvage-event-id"]).toBe(body.id);
  expect(r.headers["salvage-delivery-id"]).toMatch(/^\d+$/);
  expect(r.headers["salvage-attempt"]).toMatch(/^\d+$/);
  return body;
}

const pick = (e: object) => Object.fromEntries(LOG_FIELDS.map((f) => [f, (e as Record<string, unknown>)[f]]));

// ------------------------------------------------------------------ tests

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe("webhooks", () => {
  beforeAll(async () => {
    net = await startSeededNetwork({ accounts: ACCOUNTS, seed: SEED });
    ({ network, deployment, accounts } = net);
    market = new MarketSimulator(deployment, net.rng);
    ponder = await startPonder({ manifest: network.manifest, env: ponderEnv });
    await caughtUp();
  }, 400_000);

  afterAll(async () => {
    lastLog = ponder?.log();
    await Promise.all(receivers.map((r) => r.close()));
    await ponder?.stop();
    await net?.stop();
    if (process.env.SALVAGE_WEBHOOKS_TEST_LOG && lastLog) writeFileSync(process.env.SALVAGE_WEBHOOKS_TEST_LOG, lastLog);
  }, 60_000);

  it("(d) registration needs the admin token and names the field at fault", async () => {
    const url = "http://127.0.0.1:9/hook";
    const noToken = await register({ url }, { "content-type": "application/json" });
    expect(noToken.status).toBe(401);
    expect(noToken.json.error).toMatch(/^authorization: send Authorization: Bearer/);
    expect((await register({ url }, { ...auth, authorization: "Bearer wrong-token" })).status).toBe(401);
    expect((await ponder!.api("/salvage/webhooks")).status).toBe(401);

    const bad: [unknown, number, string, RegExp][] = [
      [{ url: "ftp://example.com/x" }, 400, "url", /^url: must be an http\(s\) URL$/],
      [{ url: "not a url" }, 400, "url", /^url: must be an http\(s\) URL$/],
      [{}, 400, "url", /^url: required$/],
      [{ url: "https://user:pw@example.com/hook" }, 400, "url", /^url: must not contain credentials/],
      [{ url, filter: { kinds: ["rekt"] } }, 400, "filter.kinds.0", /^filter\.kinds\.0: /],
      [{ url, filter: { minProfitUsd: "-1" } }, 400, "filter.minProfitUsd", /^filter\.minProfitUsd must be a non-negative decimal/],
      [{ url, filter: { accounts: ["0x123"] } }, 400, "filter.accounts.0", /^filter\.accounts\.0 must be a 20-byte hex address/],
      [{ url, filter: { colour: "red" } }, 400, "filter", /^filter: Unrecognized key.*colour/],
      [{ url, secret: "mine" }, 400, "secret", /^secret: unknown field/],
      ["{not json", 400, "body", /^body: must be a JSON object/],
      [[url], 400, "body", /^body: must be a JSON object/],
    ];
    for (const [body, status, field, message] of bad) {
      const r = await register(body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.json.field, JSON.stringify(body)).toBe(field);
      expect(r.json.error, JSON.stringify(body)).toMatch(message);
    }
    expect((await ponder!.api("/salvage/webhooks/abc", { headers: auth })).status).toBe(400);
    expect((await ponder!.api("/salvage/webhooks/99999", { headers: auth })).status).toBe(404);
    const list = (await (await ponder!.api("/salvage/webhooks", { headers: auth })).json()) as { hooks: unknown[] };
    expect(list.hooks).toEqual([]);
  });

  it("(a) after a crash, each receiver gets one signed delivery per matching feed event, equal to the log's event", async () => {
    const liquidations = await receiver(200);
    const watched = await receiver(200);
    // Three accounts closest to HF 1: the crash pushes some of them under.
    const hfs = await mapLimit(accounts, 16, async (a) => [a, await deployment.onchainHealthFactor(a)] as const);
    const closest = [...hfs].sort(([, x], [, y]) => (x < y ? -1 : x > y ? 1 : 0)).slice(0, 3).map(([a]) => a);

    const before = await lastLogId();
    const a = await registerOk({ url: liquidations.url, filter: { kinds: ["liquidatable"], minDebtUsd: "0.5" }, description: "liquidations" });
    expect(a.secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    expect(a.filter).toEqual({ kinds: ["liquidatable"], minDebtUsd: "0.5" });
    expect(a).toMatchObject({ url: liquidations.url, description: "liquidations" });
    const b = await registerOk({ url: watched.url, filter: { accounts: closest.map((x) => x.toLowerCase()) } });
    expect((b.filter.accounts as string[]).map((x) => x.toLowerCase())).toEqual(closest.map((x) => x.toLowerCase()));
    // Listing and reading never show the secret.
    const listed = await (await ponder!.api("/salvage/webhooks", { headers: auth })).text();
    expect(listed).not.toContain("whsec_");
    expect(listed).toContain(liquidations.url);

    const crash = await market.crash(accounts, 0.3);
    expect(crash.liquidatable.length).toBeGreaterThan(2);
    await caughtUp();
    const events = await logAfter(before);
    const expectedA = events.filter((e) => e.kind === "liquidatable" && BigInt(e.debtValue) >= WAD / 2n);
    const watchedSet = new Set(closest.map((x) => x.toLowerCase()));
    const expectedB = events.filter((e) => watchedSet.has(e.account.toLowerCase()));
    expect(expectedA.length).toBeGreaterThanOrEqual(crash.liquidatable.length);
    expect(expectedB.length).toBeGreaterThan(0);

    // Every delivery ends recorded as delivered; then nothing is left to send, so nothing more can arrive.
    const allDelivered = async (id: number, n: number) => {
      const all = await deliveries(id);
      return all.length >= n && all.every((d) => d.status === "delivered") ? all : undefined;
    };
    const recordedA = await ponder!.waitFor("hook a's deliveries", () => allDelivered(a.id, expectedA.length), 30_000);
    const recordedB = await ponder!.waitFor("hook b's deliveries", () => allDelivered(b.id, expectedB.length), 30_000);
    expect(recordedA.map((d) => d.eventId).sort()).toEqual(expectedA.map((e) => e.id));
    expect(recordedB.map((d) => d.eventId).sort()).toEqual(expectedB.map((e) => e.id));
    for (const d of [...recordedA, ...recordedB]) expect({ attempts: d.attempts, log: d.attemptLog.length, code: d.attemptLog[0]!.statusCode }).toEqual({ attempts: 1, log: 1, code: 200 });

    for (const [r, secret, expected] of [[liquidations, a.secret, expectedA], [watched, b.secret, expectedB]] as const) {
      const bodies = r.received.map((x) => verified(x, secret));
      // No duplicates: one request per event, one per delivery id, each a first attempt.
      expect(r.received.length).toBe(expected.length);
      expect(new Set(r.received.map((x) => x.headers["salvage-delivery-id"])).size).toBe(expected.length);
      expect(r.received.every((x) => x.headers["salvage-attempt"] === "1")).toBe(true);
      const sorted = [...bodies].sort((x, y) => (String(x.id) < String(y.id) ? -1 : 1));
      expect(sorted.map(pick)).toEqual(expected.map(pick));
      for (const body of sorted) if (body.kind === "liquidatable") expect((body.opportunity as { account: string } | null)?.account.toLowerCase()).toBe(String(body.account).toLowerCase());
    }
    // A signature made with another hook's secret does not verify.
    expect(verifyWebhook({ secret: b.secret, body: liquidations.received[0]!.body, header: liquidations.received[0]!.headers["salvage-signature"] }).ok).toBe(false);

    // Deleting disables (history kept): nothing more is sent to it.
    const deleted = await ponder!.api(`/salvage/webhooks/${a.id}`, { method: "DELETE", headers: auth });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toMatchObject({ id: a.id, disabled: true });
    const after = (await (await ponder!.api(`/salvage/webhooks/${a.id}`, { headers: auth })).json()) as Record<string, unknown>;
    expect(after).toMatchObject({ id: a.id, disabled: true, deliveries: { pending: 0, delivered: expectedA.length, failed: 0 } });
    expect(after.secret).toBeUndefined();
    await ponder!.api(`/salvage/webhooks/${b.id}`, { method: "DELETE", headers: auth });
  });

  it("(b) a receiver answering 500 gets exactly 3 attempts per delivery with backoff; then failed, recorded and counted", async () => {
    const failing = await receiver(500);
    const failuresBefore = await metric("salvage_webhook_failures_total");
    const failedBefore = await metric("salvage_webhook_deliveries_total", '{outcome="failed"}');
    const retriesBefore = await metric("salvage_webhook_deliveries_total", '{outcome="retry"}');
    // Accounts under HF 1 now: a price step moves their health, so each gets `updated` events.
    const under = (await mapLimit(accounts, 16, async (a) => [a, await deployment.onchainHealthFactor(a)] as const)).filter(([, hf]) => hf < WAD).map(([a]) => a);
    const watched = under.slice(0, 3);
    const before = await lastLogId();
    const c = await registerOk({ url: failing.url, filter: { accounts: watched } });

    await market.step();
    await caughtUp();
    const watchedSet = new Set(watched.map((x) => x.toLowerCase()));
    const expected = (await logAfter(before)).filter((e) => watchedSet.has(e.account.toLowerCase()));
    expect(expected.length).toBeGreaterThan(0);

    const failed = await ponder!.waitFor("failed deliveries", async () => {
      const all = await deliveries(c.id);
      return all.length === expected.length && all.every((d) => d.status === "failed") ? all : undefined;
    }, 30_000);
    expect(failed.map((d) => d.eventId).sort()).toEqual(expected.map((e) => e.id));
    for (const d of failed) {
      expect(d.attempts).toBe(3);
      expect(d.lastStatusCode).toBe(500);
      expect(d.lastError).toMatch(/^HTTP 500/);
      expect(d.attemptLog.map((x) => [x.attempt, x.statusCode])).toEqual([[1, 500], [2, 500], [3, 500]]);
      // Backoff: the next attempt starts no sooner than base·2^(n-1) after the previous one.
      const at = d.attemptLog.map((x) => Date.parse(x.startedAt));
      expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(RETRY_MS - 2);
      expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(2 * RETRY_MS - 2);
    }
    expect((await deliveries(c.id, "failed")).length).toBe(expected.length);
    expect(await deliveries(c.id, "pending")).toEqual([]);

    // The receiver saw exactly attempts 1, 2, 3 of each delivery, all signed, and nothing after the last
    // (ten backoff bases later there is still nothing more).
    await sleep(10 * RETRY_MS);
    const byDelivery = new Map<string, string[]>();
    for (const r of failing.received) {
      verified(r, c.secret);
      const id = String(r.headers["salvage-delivery-id"]);
      byDelivery.set(id, [...(byDelivery.get(id) ?? []), String(r.headers["salvage-attempt"])]);
    }
    expect(byDelivery.size).toBe(expected.length);
    for (const attempts of byDelivery.values()) expect(attempts).toEqual(["1", "2", "3"]);
    expect(failing.received.length).toBe(3 * expected.length);

    expect(await metric("salvage_webhook_failures_total")).toBe(failuresBefore + expected.length);
    expect(await metric("salvage_webhook_deliveries_total", '{outcome="failed"}')).toBe(failedBefore + expected.length);
    expect(await metric("salvage_webhook_deliveries_total", '{outcome="retry"}')).toBe(retriesBefore + 2 * expected.length);
    expect(await metric("salvage_webhook_pending")).toBe(0);
    await ponder!.api(`/salvage/webhooks/${c.id}`, { method: "DELETE", headers: auth });
  });

  it("(c) while a receiver hangs, price updates are indexed to the head and other receivers are served; the timeout is recorded", async () => {
    const hanging = await receiver("hang");
    const fast = await receiver(204);
    const before = await lastLogId();
    const d = await registerOk({ url: hanging.url });
    const e = await registerOk({ url: fast.url });

    await market.step();
    await ponder!.waitFor("requests hanging", async () => (hanging.open.size > 0 ? true : undefined), 30_000);
    const hangingBefore = new Set(hanging.open);

    // More price updates while those requests are in flight: the indexer reaches the chain head.
    for (let i = 0; i < 3; i++) await market.step();
    const head = await caughtUp();
    expect(await deployment.hubClients.public.getBlockNumber({ cacheTime: 0 })).toBeGreaterThanOrEqual(head);
    // The requests opened before the updates are still unanswered (the timeout is 10 s): indexing did not wait for them.
    expect([...hangingBefore].every((r) => hanging.open.has(r))).toBe(true);

    // The other receiver got every event of the updates meanwhile (one slow hook gets at most half the slots).
    const events = await logAfter(before);
    expect(events.length).toBeGreaterThan(0);
    await ponder!.waitFor("the fast receiver", async () => (fast.received.length >= events.length ? true : undefined), 30_000);
    expect(fast.received.map((r) => String(verified(r, e.secret).id)).sort()).toEqual(events.map((x) => x.id));

    // The hung attempts end as timeouts and are recorded for a retry.
    const timedOut = await ponder!.waitFor("a recorded timeout", async () => {
      const all = await deliveries(d.id);
      const t = all.find((x) => x.attemptLog.length > 0);
      return t ? t : undefined;
    }, 3 * TIMEOUT_MS);
    expect(timedOut.attemptLog[0]).toMatchObject({ attempt: 1, statusCode: null, error: expect.stringMatching(/^timeout: no response within 10000 ms/) });
    expect(timedOut.attemptLog[0]!.durationMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(["pending", "failed"]).toContain(timedOut.status);

    for (const id of [d.id, e.id]) expect((await ponder!.api(`/salvage/webhooks/${id}`, { method: "DELETE", headers: auth })).status).toBe(200);
    expect(await deliveries(d.id, "pending")).toEqual([]);
  });

  it("(e) events logged while the API is down are delivered after it restarts, once each", async () => {
    const r = await receiver(200);
    const before = await lastLogId();
    const f = await registerOk({ url: r.url, filter: { kinds: ["liquidatable", "updated"] } });
    await market.step();
    await caughtUp();
    const early = (await logAfter(before)).filter((e) => e.kind !== "healthy");
    expect(early.length).toBeGreaterThan(0);
    await ponder!.waitFor("deliveries before the stop", async () => {
      const all = await deliveries(f.id);
      return all.length >= early.length && all.every((d) => d.status === "delivered") ? true : undefined;
    }, 30_000);

    await ponder!.stop();
    ponder = undefined;
    // The API is down: these price updates are logged by nobody yet.
    await market.step();
    await market.step();
    ponder = await startPonder({ manifest: network!.manifest, env: ponderEnv });
    await caughtUp();

    const all = (await logAfter(before)).filter((e) => e.kind !== "healthy");
    expect(all.length).toBeGreaterThan(early.length);
    const recorded = await ponder.waitFor("deliveries after the restart", async () => {
      const list = await deliveries(f.id);
      return list.length >= all.length && list.every((d) => d.status === "delivered") ? list : undefined;
    }, 60_000);
    expect(recorded.map((d) => d.eventId).sort()).toEqual(all.map((e) => e.id));
    const ids = r.received.map((x) => String(verified(x, f.secret).id)).sort();
    expect(ids).toEqual(all.map((e) => e.id));
  });
});

describe("two dispatchers on one PostgreSQL", () => {
  const schema = `whk_${process.pid}_${Date.now() % 1_000_000}`;
  const dbs: Database[] = [];
  const dispatchers: WebhookDispatcher<FakeEvent>[] = [];

  afterAll(async () => {
    await Promise.all(dispatchers.map((d) => d.stop()));
    await Promise.all(receivers.map((r) => r.close()));
    await dbs[0]?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await Promise.all(dbs.map((d) => d.close()));
  }, 60_000);

  it("insert each delivery once and never send the same attempt twice, retries included", async () => {
    const N = 60;
    const events: FakeEvent[] = Array.from({ length: N }, (_, i) => ({ id: `${String(1_000 + i).padStart(20, "0")}:${"7".padStart(10, "0")}:0x${"ab".repeat(20)}`, n: i }));
    // Every third event's first attempt is refused; the receiver answers after 30 ms, so claims overlap.
    const flaky = (r: Received) => ((JSON.parse(r.body) as FakeEvent).n % 3 === 0 && r.headers["salvage-attempt"] === "1" ? 503 : 200);
    const target = await receiver(flaky, 30);
    for (let i = 0; i < 2; i++) dbs.push(await openDatabase({ databaseUrl: TEST_DATABASE_URL, schema, migration: WEBHOOK_MIGRATION }));
    const stores = dbs.map((db) => new WebhookStore(db));
    const secret = `whsec_${"5a".repeat(32)}`;
    const hook = await stores[0]!.createHook({ url: target.url, filter: {}, description: "pg", secret, afterEventId: "" });

    const registry = new Registry();
    const metrics = {
      deliveries: new Counter({ name: "d", help: "d", labelNames: ["outcome"], registers: [registry] }),
      failures: new Counter({ name: "f", help: "f", registers: [registry] }),
      pending: new Gauge({ name: "p", help: "p", registers: [registry] }),
      setPendingSource: () => undefined,
    } as WebhookMetrics;
    const config: WebhookConfig = { retryMs: 50, maxAttempts: 3, timeoutMs: 5_000, concurrency: 8, perHookConcurrency: 4, pollMs: 20, leaseMs: 20_000 };
    for (const store of stores) {
      // Each process subscribes to the same feed and turns every event into deliveries: the unique key keeps one.
      const d = new WebhookDispatcher<FakeEvent>({
        store, config, metrics, subscribe: fakeFeed(events), startAfter: async () => "0", body: (e) => JSON.stringify(e), compileFilter: () => () => true, log: () => undefined,
      });
      dispatchers.push(d);
      d.start();
    }

    const deadline = Date.now() + 30_000;
    for (;;) {
      const [row] = await dbs[0]!.query<{ n: string }>(`SELECT count(*) AS n FROM deliveries WHERE status = 'delivered'`);
      if (Number(row!.n) === N) break;
      if (Date.now() > deadline) throw new Error(`only ${row!.n} of ${N} delivered`);
      await sleep(50);
    }
    expect(await stores[0]!.hookStats(hook.id)).toEqual({ pending: 0, delivered: N, failed: 0 });
    expect(await stores[1]!.cursor()).toBe(events.at(-1)!.id);

    // Each (delivery, attempt) reached the receiver exactly once: attempts 1 and 2 for the refused ones, 1 for the others.
    const seen = new Map<string, string[]>();
    for (const r of target.received) {
      expect(verifyWebhook({ secret, body: r.body, header: r.headers["salvage-signature"] }).ok).toBe(true);
      const key = String((JSON.parse(r.body) as FakeEvent).n);
      seen.set(key, [...(seen.get(key) ?? []), String(r.headers["salvage-attempt"])]);
    }
    expect(seen.size).toBe(N);
    for (const [n, attempts] of seen) expect(attempts.sort(), `event ${n}`).toEqual(Number(n) % 3 === 0 ? ["1", "2"] : ["1"]);
    expect(target.received.length).toBe(N + N / 3);
    // Both processes sent some, and every attempt is recorded once.
    const workers = await dbs[0]!.query<{ worker: string; n: string }>(`SELECT worker, count(*) AS n FROM attempts GROUP BY worker`);
    expect(workers.length).toBe(2);
    const [dup] = await dbs[0]!.query<{ n: string }>(`SELECT count(*) AS n FROM (SELECT delivery_id, attempt FROM attempts GROUP BY 1, 2 HAVING count(*) > 1) x`);
    expect(Number(dup!.n)).toBe(0);

    // The admin reads on PostgreSQL: pages of deliveries with their attempts, disabling, counts.
    const page = await stores[1]!.deliveries(hook.id, { status: "delivered", first: 25 });
    expect(page.items.length).toBe(25);
    expect(page.hasNextPage).toBe(true);
    const rest = await stores[1]!.deliveries(hook.id, { first: 500, after: page.items.at(-1)!.id });
    expect(new Set([...page.items, ...rest.items].map((d) => d.eventId)).size).toBe(N);
    const refused = [...page.items, ...rest.items].find((d) => d.attempts === 2)!;
    expect(refused.attemptLog.map((a) => a.statusCode)).toEqual([503, 200]);
    expect(await stores[1]!.pendingCount()).toBe(0);
    expect((await stores[1]!.disableHook(hook.id))?.hook.disabled).toBe(true);
    expect((await stores[0]!.listHooks()).map((h) => h.disabled)).toEqual([true]);
  });
});

interface FakeEvent {
  id: string;
  n: number;
}

/** A feed that yields `events` after `since`, then waits until closed (as the feed hub does). */
function fakeFeed(events: readonly FakeEvent[]) {
  return (since: string): AsyncIterator<FakeEvent> => {
    let i = since === "0" ? 0 : events.findIndex((e) => e.id > since);
    if (i < 0) i = events.length;
    let closed = false;
    let release: (() => void) | undefined;
    return {
      async next() {
        if (!closed && i < events.length) return { value: events[i++]!, done: false };
        if (!closed) await new Promise<void>((resolve) => (release = resolve));
        return { value: undefined, done: true };
      },
      async return() {
        closed = true;
        release?.();
        return { value: undefined, done: true };
      },
    };
  };
}
