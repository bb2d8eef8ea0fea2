/**
 * Standard Webhooks against real parts: a devnet (hub + 2 spokes on anvil) with seeded borrowers, real Ponder
 * (`ponder start`, PGlite) with webhooks enabled, and loopback HTTP receivers (node:http). Every delivery is
 * verified twice: by salvage/client's verifyWebhook and by the reference implementation (`standardwebhooks`).
 * Ponder runs with SALVAGE_WEBHOOK_ALLOW_CIDRS=127.0.0.1/32 (the receivers) and a short retry schedule.
 *
 * (d) registrations are authenticated and validated, errors naming the field; refused destinations are a 400;
 * (a) after a crash, each receiver gets exactly one signed delivery per feed event matching its filter, whose
 *     body is the event of the log (/salvage/graphql opportunityEvents);
 * (b) a receiver answering 500 gets one attempt per entry of the schedule plus one, with the same webhook-id,
 *     then the deliveries are failed with every attempt recorded, and salvage_webhook_failures_total counted them;
 * (f) resending one failed delivery delivers it once; resending all failed of the hook delivers each once;
 * (g) a receiver answering 410 Gone disables its hook: no further deliveries, the reason shown by GET;
 * (h) after a secret rotation both secrets verify during the overlap, only the new one after it;
 * (c) with a receiver that never answers, price updates are still indexed to the chain head while its
 *     requests hang, other receivers still get theirs, and the timeout is recorded;
 * (e) events logged while the API is down are delivered after it restarts (the registration and the
 *     dispatcher's cursor survive in the PGlite directory beside Ponder's);
 * without Ponder: the destination policy (addresses refused or allowed, refused before any connection, the
 * connection made to the checked address), and two dispatchers sharing one PostgreSQL (TEST_DATABASE_URL)
 * over the same feed insert each delivery once and never send the same attempt twice.
 */
import { promises as dns } from "node:dns";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type IncomingHttpHeaders, type Server, createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import type { Address } from "viem";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Counter, Gauge, Registry } from "prom-client";
import { createWebhookSecret, verifyWebhook } from "../src/client/webhook.js";
import { type WebhookConfig, webhookConfig } from "../src/api/webhooks/config.js";
import { DestinationPolicy, type Resolver, refusedRange } from "../src/api/webhooks/destination.js";
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
/** The waits before retries 1 and 2: three attempts in all. */
const RETRY_SCHEDULE_MS = [100, 200];
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
  SALVAGE_WEBHOOK_RETRY_SCHEDULE: RETRY_SCHEDULE_MS.map((ms) => `${ms}ms`).join(","),
  // The receivers listen on 127.0.0.1: allowed explicitly, every other refused address stays refused.
  SALVAGE_WEBHOOK_ALLOW_CIDRS: "127.0.0.1/32",
  SALVAGE_WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
  SALVAGE_WEBHOOK_POLL_MS: "200",
};

// ------------------------------------------------------------------ loopback receivers

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** When it arrived (the verifiers' clock: a signature is checked as of its arrival). */
  at: number;
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
      const r = { headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), at: Date.now() };
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

/** Whether the reference implementation (`standardwebhooks`) accepts `r` under `secret`, as of its arrival. */
function standardAccepts(r: Received, secret: string): boolean {
  // Only Date is faked (the reference verifier reads the clock); timers are untouched.
  vi.useFakeTimers({ toFake: ["Date"], now: r.at });
  try {
    new Webhook(secret).verify(r.body, r.headers as Record<string, string>);
    return true;
  } catch {
    return false;
  } finally {
    vi.useRealTimers();
  }
}

/** Whether salvage/client's verifyWebhook accepts `r` under `secret`, as of its arrival. */
const salvageAccepts = (r: Received, secret: string) => verifyWebhook({ secret, body: r.body, headers: r.headers, now: r.at }).ok;

/** Checks a delivery's signature (both verifiers) and headers; returns its parsed body. */
function verified(r: Received, secret: string): Record<string, unknown> {
  const check = verifyWebhook({ secret, body: r.body, headers: r.headers, now: r.at });
  expect(check, r.body.slice(0, 120)).toMatchObject({ ok: true });
  expect(standardAccepts(r, secret), r.body.slice(0, 120)).toBe(true);
  expect(r.headers["content-type"]).toBe("application/json");
  const body = JSON.parse(r.body) as Record<string, unknown>;
  // webhook-id is the event id; the timestamp is the attempt's, within a second or so of its arrival.
  expect(r.headers["webhook-id"]).toBe(body.id);
  expect(Math.abs(Number(r.headers["webhook-timestamp"]) - r.at / 1000)).toBeLessThan(5);
  expect(r.headers["salvage-delivery-id"]).toMatch(/^\d+$/);
  expect(r.headers["salvage-attempt"]).toMatch(/^\d+$/);
  expect(r.headers["salvage-signature"]).toBeUndefined();
  return body;
}

/** The v1 signatures of a delivery. */
const signaturesOf = (r: Received) => String(r.headers["webhook-signature"]).split(" ");

async function getHook(id: number): Promise<Record<string, unknown>> {
  const res = await ponder!.api(`/salvage/webhooks/${id}`, { headers: auth });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

async function post(path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await ponder!.api(path, { method: "POST", headers: auth, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Price steps until the log has events after `since` (a step may move nobody); returns them. */
async function stepUntilEvents(since: string): Promise<LogEvent[]> {
  for (let i = 0; i < 5; i++) {
    await market.step();
    await caughtUp();
    const events = await logAfter(since);
    if (events.length > 0) return events;
  }
  throw new Error("five price steps logged no event");
}

/** Waits until hook `id` has at least `n` deliveries, all delivered. */
const allDelivered = (id: number, n: number, what: string) =>
  ponder!.waitFor(what, async () => {
    const all = await deliveries(id);
    return all.length >= n && all.every((d) => d.status === "delivered") ? all : undefined;
  }, 30_000);

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
      // Refused destinations (nothing is connected to: the address is checked, not tried).
      [{ url: "http://[::1]:9/hook" }, 400, "url", /^url: refused destination: ::1 is loopback; allow it with SALVAGE_WEBHOOK_ALLOW_PRIVATE=true or SALVAGE_WEBHOOK_ALLOW_CIDRS$/],
      [{ url: "http://127.0.0.2:9/hook" }, 400, "url", /^url: refused destination: 127\.0\.0\.2 is loopback/],
      [{ url: "http://169.254.169.254/latest/meta-data/" }, 400, "url", /^url: refused destination: 169\.254\.169\.254 is a cloud metadata address/],
      [{ url: "http://[fd00:ec2::254]/latest/meta-data/" }, 400, "url", /^url: refused destination: fd00:ec2::254 is a cloud metadata address/],
      [{ url: "http://10.0.0.1/hook" }, 400, "url", /^url: refused destination: 10\.0\.0\.1 is private \(RFC 1918\)/],
      [{ url: "http://100.64.0.1/hook" }, 400, "url", /^url: refused destination: 100\.64\.0\.1 is carrier-grade NAT/],
      [{ url: "http://0.0.0.0:9/hook" }, 400, "url", /^url: refused destination: 0\.0\.0\.0 is unspecified/],
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
    expect(a.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(a.filter).toEqual({ kinds: ["liquidatable"], minDebtUsd: "0.5" });
    expect(a).toMatchObject({ url: liquidations.url, description: "liquidations" });
    const b = await registerOk({ url: watched.url, filter: { accounts: closest.map((x) => x.toLowerCase()) } });
    expect((b.filter.accounts as string[]).map((x) => x.toLowerCase())).toEqual(closest.map((x) => x.toLowerCase()));
    // Listing and reading never show the secret.
    const listed = await (await ponder!.api("/salvage/webhooks", { headers: auth })).text();
    expect(listed).not.toContain("whsec_");
    expect(listed).not.toContain(a.secret.slice(6));
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
    const recordedA = await allDelivered(a.id, expectedA.length, "hook a's deliveries");
    const recordedB = await allDelivered(b.id, expectedB.length, "hook b's deliveries");
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
    // One signature (no rotation), and it does not verify under another hook's secret.
    expect(signaturesOf(liquidations.received[0]!)).toHaveLength(1);
    expect(salvageAccepts(liquidations.received[0]!, b.secret)).toBe(false);
    expect(standardAccepts(liquidations.received[0]!, b.secret)).toBe(false);

    // Deleting disables (history kept): nothing more is sent to it.
    const deleted = await ponder!.api(`/salvage/webhooks/${a.id}`, { method: "DELETE", headers: auth });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toMatchObject({ id: a.id, disabled: true });
    const after = (await (await ponder!.api(`/salvage/webhooks/${a.id}`, { headers: auth })).json()) as Record<string, unknown>;
    expect(after).toMatchObject({ id: a.id, disabled: true, disabledReason: "deleted", deliveries: { pending: 0, delivered: expectedA.length, failed: 0 } });
    expect(after.secret).toBeUndefined();
    await ponder!.api(`/salvage/webhooks/${b.id}`, { method: "DELETE", headers: auth });
  });

  /** (b)'s hook and receiver, answered 500 until (f) resends. */
  let failing: { receiver: Receiver; hook: Registered; state: { answer: number }; events: LogEvent[] } | undefined;

  it("(b) a receiver answering 500 gets one attempt per schedule entry plus one, same webhook-id; then failed, recorded and counted", async () => {
    const state = { answer: 500 };
    const target = await receiver(() => state.answer);
    const attempts = RETRY_SCHEDULE_MS.length + 1;
    const failuresBefore = await metric("salvage_webhook_failures_total");
    const failedBefore = await metric("salvage_webhook_deliveries_total", '{outcome="failed"}');
    const retriesBefore = await metric("salvage_webhook_deliveries_total", '{outcome="retry"}');
    // Accounts under HF 1 now: a price step moves their health, so each gets `updated` events.
    const under = (await mapLimit(accounts, 16, async (a) => [a, await deployment.onchainHealthFactor(a)] as const)).filter(([, hf]) => hf < WAD).map(([a]) => a);
    const watched = under.slice(0, 3);
    const before = await lastLogId();
    const c = await registerOk({ url: target.url, filter: { accounts: watched } });

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
      expect(d.attempts).toBe(attempts);
      expect(d.lastStatusCode).toBe(500);
      expect(d.lastError).toMatch(/^HTTP 500/);
      expect(d.attemptLog.map((x) => [x.attempt, x.statusCode])).toEqual(Array.from({ length: attempts }, (_, i) => [i + 1, 500]));
      // The schedule: attempt n+1 starts no sooner than its wait after attempt n.
      const at = d.attemptLog.map((x) => Date.parse(x.startedAt));
      for (let i = 1; i < attempts; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(RETRY_SCHEDULE_MS[i - 1]! - 2);
    }
    expect((await deliveries(c.id, "failed")).length).toBe(expected.length);
    expect(await deliveries(c.id, "pending")).toEqual([]);

    // The receiver saw exactly attempts 1..n of each delivery, all signed with the same webhook-id (the
    // event's), and nothing after the last (ten schedule lengths later there is still nothing more).
    await sleep(10 * RETRY_SCHEDULE_MS.reduce((x, y) => x + y, 0));
    const byDelivery = new Map<string, { attempts: string[]; ids: Set<string> }>();
    for (const r of target.received) {
      verified(r, c.secret);
      const id = String(r.headers["salvage-delivery-id"]);
      const entry = byDelivery.get(id) ?? { attempts: [], ids: new Set<string>() };
      entry.attempts.push(String(r.headers["salvage-attempt"]));
      entry.ids.add(String(r.headers["webhook-id"]));
      byDelivery.set(id, entry);
    }
    expect(byDelivery.size).toBe(expected.length);
    for (const { attempts: seen, ids } of byDelivery.values()) {
      expect(seen).toEqual(Array.from({ length: attempts }, (_, i) => String(i + 1)));
      expect(ids.size).toBe(1);
    }
    expect(target.received.length).toBe(attempts * expected.length);

    expect(await metric("salvage_webhook_failures_total")).toBe(failuresBefore + expected.length);
    expect(await metric("salvage_webhook_deliveries_total", '{outcome="failed"}')).toBe(failedBefore + expected.length);
    expect(await metric("salvage_webhook_deliveries_total", '{outcome="retry"}')).toBe(retriesBefore + (attempts - 1) * expected.length);
    expect(await metric("salvage_webhook_pending")).toBe(0);
    failing = { receiver: target, hook: c, state, events: expected };
  });

  it("(f) resending a failed delivery delivers it once; resending all failed of the hook delivers each once", async () => {
    const { receiver: target, hook: c, events } = failing!;
    const attempts = RETRY_SCHEDULE_MS.length + 1;
    const sent = (deliveryId: string) => target.received.filter((r) => r.headers["salvage-delivery-id"] === deliveryId);
    failing!.state.answer = 200;
    const failed = await deliveries(c.id, "failed");
    const [one, ...rest] = failed;

    // Bad requests name the field; only failed deliveries of an active hook are resent.
    expect(await post(`/salvage/webhooks/${c.id}/deliveries/abc/resend`)).toMatchObject({ status: 400, json: { field: "deliveryId", error: expect.stringMatching(/^deliveryId: must be a delivery id/) } });
    const missing = await post(`/salvage/webhooks/${c.id}/deliveries/999999999/resend`);
    expect(missing).toMatchObject({ status: 404, json: { field: "deliveryId" } });
    expect((await ponder!.api(`/salvage/webhooks/${c.id}/deliveries/resend`, { method: "POST" })).status).toBe(401);

    const resent = await post(`/salvage/webhooks/${c.id}/deliveries/${one!.id}/resend`);
    expect(resent).toEqual({ status: 202, json: { resent: 1, deliveries: [one!.id] } });
    const delivered = await ponder!.waitFor("the resent delivery", async () => {
      const d = (await deliveries(c.id)).find((x) => x.id === one!.id)!;
      return d.status === "delivered" ? d : undefined;
    }, 30_000);
    expect(delivered.attempts).toBe(attempts + 1);
    expect(delivered.attemptLog.at(-1)).toMatchObject({ attempt: attempts + 1, statusCode: 200, error: null });
    // Exactly one more request, with the same webhook-id as the failed attempts; the others were not resent.
    const requests = sent(one!.id);
    expect(requests.map((r) => r.headers["salvage-attempt"])).toEqual(Array.from({ length: attempts + 1 }, (_, i) => String(i + 1)));
    expect(new Set(requests.map((r) => r.headers["webhook-id"]))).toEqual(new Set([one!.eventId]));
    verified(requests.at(-1)!, c.secret);
    expect((await deliveries(c.id, "failed")).map((d) => d.id).sort()).toEqual(rest.map((d) => d.id).sort());
    // A delivered delivery is not resent.
    expect(await post(`/salvage/webhooks/${c.id}/deliveries/${one!.id}/resend`)).toMatchObject({ status: 409, json: { field: "deliveryId", error: expect.stringMatching(/is delivered; only failed deliveries are resent/) } });

    const all = await post(`/salvage/webhooks/${c.id}/deliveries/resend`);
    expect(all.status).toBe(202);
    expect(all.json.resent).toBe(rest.length);
    expect((all.json.deliveries as string[]).sort()).toEqual(rest.map((d) => d.id).sort());
    await allDelivered(c.id, events.length, "every resent delivery");
    for (const d of rest) expect(sent(d.id).map((r) => r.headers["salvage-attempt"])).toEqual(Array.from({ length: attempts + 1 }, (_, i) => String(i + 1)));
    expect(target.received.length).toBe((attempts + 1) * events.length);
    // Nothing failed is left: resending all again resends nothing.
    expect(await post(`/salvage/webhooks/${c.id}/deliveries/resend`)).toEqual({ status: 202, json: { resent: 0, deliveries: [] } });

    expect((await ponder!.api(`/salvage/webhooks/${c.id}`, { method: "DELETE", headers: auth })).status).toBe(200);
    expect(await post(`/salvage/webhooks/${c.id}/deliveries/resend`)).toMatchObject({ status: 409, json: { field: "id", error: expect.stringMatching(/is disabled \(deleted\)/) } });
  });

  it("(g) a receiver answering 410 Gone disables its hook: no further deliveries, the reason visible", async () => {
    const gone = await receiver(410);
    const control = await receiver(200);
    const before = await lastLogId();
    const g = await registerOk({ url: gone.url });
    const h = await registerOk({ url: control.url });
    const first = await stepUntilEvents(before);

    const disabled = await ponder!.waitFor("the hook disabled", async () => {
      const hook = await getHook(g.id);
      return hook.disabled ? hook : undefined;
    }, 30_000);
    expect(disabled).toMatchObject({ disabled: true, disabledReason: "gone", deliveries: { pending: 0 } });
    // 410 is not retried: every attempt made got 410 and was the only one of its delivery (requests already
    // in flight when the first 410 came back may have been answered 410 too); the rest were closed unsent.
    const closed = await deliveries(g.id);
    expect(closed.every((d) => d.status === "failed")).toBe(true);
    const answered = closed.filter((d) => d.attemptLog.length > 0);
    expect(answered.length).toBeGreaterThan(0);
    for (const d of answered) {
      expect(d.attemptLog.map((x) => [x.attempt, x.statusCode])).toEqual([[1, 410]]);
      expect(d.attemptLog[0]!.error).toMatch(/^HTTP 410 Gone: the receiver asked for no more deliveries; hook disabled$/);
    }
    for (const d of closed.filter((x) => x.attemptLog.length === 0)) expect(d.lastError).toBe("hook disabled: its receiver answered 410 Gone");
    expect(gone.received.length).toBe(answered.length);
    for (const r of gone.received) verified(r, g.secret);

    // More events: the control hook gets them; the disabled one gets no delivery and no request.
    await allDelivered(h.id, first.length, "the control hook's first deliveries");
    const since = await lastLogId();
    const second = await stepUntilEvents(since);
    await allDelivered(h.id, first.length + second.length, "the control hook's later deliveries");
    const goneAfter = new Set((await deliveries(g.id)).map((d) => d.eventId));
    expect(second.filter((e) => goneAfter.has(e.id))).toEqual([]);
    expect(gone.received.length).toBe(answered.length);
    expect(await post(`/salvage/webhooks/${g.id}/deliveries/resend`)).toMatchObject({ status: 409, json: { error: expect.stringMatching(/its receiver answered 410 Gone/) } });
    for (const id of [g.id, h.id]) expect((await ponder!.api(`/salvage/webhooks/${id}`, { method: "DELETE", headers: auth })).status).toBe(200);
    expect(await getHook(g.id)).toMatchObject({ disabledReason: "gone" });
  });

  it("(h) after a secret rotation both secrets verify during the overlap, only the new one after it", async () => {
    const target = await receiver(200);
    const before = await lastLogId();
    const k = await registerOk({ url: target.url });
    const s1 = k.secret;

    // Bad rotations name the field.
    expect(await post(`/salvage/webhooks/${k.id}/rotate-secret`, { overlapSeconds: -1 })).toMatchObject({ status: 400, json: { field: "overlapSeconds" } });
    expect(await post(`/salvage/webhooks/${k.id}/rotate-secret`, { overlapSeconds: 1.5 })).toMatchObject({ status: 400, json: { field: "overlapSeconds" } });
    expect(await post(`/salvage/webhooks/${k.id}/rotate-secret`, { overlap: 5 })).toMatchObject({ status: 400, json: { field: "overlap", error: "overlap: unknown field (expected overlapSeconds)" } });
    expect(await post(`/salvage/webhooks/99999/rotate-secret`)).toMatchObject({ status: 404, json: { field: "id" } });

    // The default overlap (SALVAGE_WEBHOOK_SECRET_OVERLAP, 24 h): the old secret keeps signing.
    const rotated = await post(`/salvage/webhooks/${k.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    const s2 = String(rotated.json.secret);
    expect(s2).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(s2).not.toBe(s1);
    const shown = await getHook(k.id);
    expect(shown.secret).toBeUndefined();
    expect(JSON.stringify(shown)).not.toContain(s2.slice(6));
    expect(Date.parse(String(shown.previousSecretExpiresAt)) - Date.parse(String(shown.secretRotatedAt))).toBe(24 * 3_600_000);

    const during = await stepUntilEvents(before);
    await allDelivered(k.id, during.length, "deliveries during the overlap");
    expect(target.received.length).toBe(during.length);
    for (const r of target.received) {
      expect(signaturesOf(r)).toHaveLength(2);
      verified(r, s2);
      verified(r, s1);
    }

    // Rotate again with a 1 s overlap: s1 stops signing at once, s2 when the overlap ends.
    const again = await post(`/salvage/webhooks/${k.id}/rotate-secret`, { overlapSeconds: 1 });
    expect(again.status).toBe(200);
    const s3 = String(again.json.secret);
    await ponder!.waitFor("the end of the overlap", async () => ((await getHook(k.id)).previousSecretExpiresAt === null ? true : undefined), 30_000);
    const seen = target.received.length;
    const since = await lastLogId();
    const after = await stepUntilEvents(since);
    await allDelivered(k.id, during.length + after.length, "deliveries after the overlap");
    const later = target.received.slice(seen);
    expect(later.length).toBe(after.length);
    for (const r of later) {
      expect(signaturesOf(r)).toHaveLength(1);
      verified(r, s3);
      for (const old of [s1, s2]) {
        expect(salvageAccepts(r, old)).toBe(false);
        expect(standardAccepts(r, old)).toBe(false);
      }
    }

    expect((await ponder!.api(`/salvage/webhooks/${k.id}`, { method: "DELETE", headers: auth })).status).toBe(200);
    expect(await post(`/salvage/webhooks/${k.id}/rotate-secret`)).toMatchObject({ status: 409, json: { field: "id" } });
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

describe("destination policy", () => {
  const refuse = new DestinationPolicy({ allowPrivate: false, allowCidrs: [] });

  it("refuses loopback, private, link-local, unspecified, CGNAT and metadata addresses; public ones pass", () => {
    const cases: [string, string | null][] = [
      ["127.0.0.1", "loopback"],
      ["127.9.9.9", "loopback"],
      ["::1", "loopback"],
      ["::ffff:127.0.0.1", "loopback"],
      ["10.0.0.1", "private (RFC 1918)"],
      ["172.16.5.4", "private (RFC 1918)"],
      ["192.168.1.1", "private (RFC 1918)"],
      ["::ffff:10.0.0.1", "private (RFC 1918)"],
      ["fd12:3456::1", "private (unique local fc00::/7)"],
      ["169.254.169.254", "a cloud metadata address"],
      ["fd00:ec2::254", "a cloud metadata address"],
      ["169.254.1.1", "link-local"],
      ["fe80::1", "link-local"],
      ["0.0.0.0", "unspecified"],
      ["::", "unspecified"],
      ["100.64.0.1", "carrier-grade NAT (100.64.0.0/10)"],
      ["93.184.216.34", null],
      ["172.32.0.1", null],
      ["100.128.0.1", null],
      ["2606:2800:220:1:248:1893:25c8:1946", null],
    ];
    for (const [ip, range] of cases) {
      expect(refusedRange(ip), ip).toBe(range);
      expect(refuse.refusal(ip), ip).toBe(range === null ? null : `${ip} is ${range}; allow it with SALVAGE_WEBHOOK_ALLOW_PRIVATE=true or SALVAGE_WEBHOOK_ALLOW_CIDRS`);
    }
    const allowList = new DestinationPolicy({ allowPrivate: false, allowCidrs: [["127.0.0.1", 32, "ipv4"], ["10.1.0.0", 16, "ipv4"]] });
    expect([allowList.refusal("127.0.0.1"), allowList.refusal("10.1.2.3"), allowList.refusal("93.184.216.34")]).toEqual([null, null, null]);
    expect(allowList.refusal("127.0.0.2")).toMatch(/^127\.0\.0\.2 is loopback/);
    expect(allowList.refusal("10.2.0.1")).toMatch(/^10\.2\.0\.1 is private/);
    const open = new DestinationPolicy({ allowPrivate: true, allowCidrs: [] });
    for (const ip of ["127.0.0.1", "::1", "169.254.169.254", "10.0.0.1"]) expect(open.refusal(ip)).toBeNull();
  });

  it("checks a registration's host by resolving it (no connection): names that resolve to refused addresses are refused", async () => {
    const resolver: Resolver = async (host) => {
      if (host === "public.test") return [{ address: "93.184.216.34", family: 4 }];
      if (host === "mixed.test") return [{ address: "93.184.216.34", family: 4 }, { address: "10.0.0.1", family: 4 }];
      if (host === "metadata.test") return [{ address: "169.254.169.254", family: 4 }];
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    };
    const policy = new DestinationPolicy({ allowPrivate: false, allowCidrs: [] }, resolver);
    expect(await policy.checkUrl("https://public.test/hook")).toEqual({ ok: true });
    expect(await policy.checkUrl("http://93.184.216.34/hook")).toEqual({ ok: true });
    expect(await policy.checkUrl("https://mixed.test/hook")).toEqual({ ok: false, reason: expect.stringMatching(/^refused destination: mixed\.test resolves to 10\.0\.0\.1 is private/) });
    expect(await policy.checkUrl("https://metadata.test/")).toEqual({ ok: false, reason: expect.stringMatching(/metadata\.test resolves to 169\.254\.169\.254 is a cloud metadata address/) });
    expect(await policy.checkUrl("http://[::1]:8080/")).toEqual({ ok: false, reason: expect.stringMatching(/^refused destination: ::1 is loopback/) });
    // Not resolvable (yet): accepted at registration, checked again on every attempt.
    expect(await policy.checkUrl("https://nowhere.test/")).toEqual({ ok: true });
    // The real resolver: localhost is loopback.
    expect(await refuse.checkUrl("http://localhost:9/")).toEqual({ ok: false, reason: expect.stringMatching(/^refused destination: localhost resolves to 127\.0\.0\.1 is loopback/) });
  });

  it("reads its settings from the environment, a bad value naming its variable", () => {
    const env = { DATABASE_URL: "postgres://unused" };
    const defaults = webhookConfig(env);
    // The Standard Webhooks schedule: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
    expect(defaults.retrySchedule).toEqual([5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400].map((sec) => sec * 1_000));
    expect(defaults.maxAttempts).toBe(10);
    expect(defaults.secretOverlapMs).toBe(24 * 3_600_000);
    expect(defaults.destinations).toEqual({ allowPrivate: false, allowCidrs: [] });
    const set = webhookConfig({ ...env, SALVAGE_WEBHOOK_RETRY_SCHEDULE: "250ms, 2s,1m", SALVAGE_WEBHOOK_SECRET_OVERLAP: "90m", SALVAGE_WEBHOOK_ALLOW_PRIVATE: "true", SALVAGE_WEBHOOK_ALLOW_CIDRS: "127.0.0.1,10.1.0.0/16,fd12::/64" });
    expect(set).toMatchObject({ retrySchedule: [250, 2_000, 60_000], maxAttempts: 4, secretOverlapMs: 90 * 60_000, destinations: { allowPrivate: true, allowCidrs: [["127.0.0.1", 32, "ipv4"], ["10.1.0.0", 16, "ipv4"], ["fd12::", 64, "ipv6"]] } });
    expect(webhookConfig({ ...env, SALVAGE_WEBHOOK_RETRY_SCHEDULE: "none" })).toMatchObject({ retrySchedule: [], maxAttempts: 1 });
    const bad: [Record<string, string>, RegExp][] = [
      [{ SALVAGE_WEBHOOK_RETRY_SCHEDULE: "5s,soon" }, /^SALVAGE_WEBHOOK_RETRY_SCHEDULE: entry 2 \("soon"\) must be a duration/],
      [{ SALVAGE_WEBHOOK_RETRY_SCHEDULE: "5s,8d" }, /^SALVAGE_WEBHOOK_RETRY_SCHEDULE: entry 2 \("8d"\)/],
      [{ SALVAGE_WEBHOOK_SECRET_OVERLAP: "forever" }, /^SALVAGE_WEBHOOK_SECRET_OVERLAP must be a duration/],
      [{ SALVAGE_WEBHOOK_ALLOW_PRIVATE: "yes" }, /^SALVAGE_WEBHOOK_ALLOW_PRIVATE must be true or false/],
      [{ SALVAGE_WEBHOOK_ALLOW_CIDRS: "10.0.0.0/33" }, /^SALVAGE_WEBHOOK_ALLOW_CIDRS: "10\.0\.0\.0\/33" is not an IP address or CIDR/],
      [{ SALVAGE_WEBHOOK_ALLOW_CIDRS: "intranet" }, /^SALVAGE_WEBHOOK_ALLOW_CIDRS: "intranet"/],
      [{ SALVAGE_WEBHOOK_RETRY_MS: "100" }, /^SALVAGE_WEBHOOK_RETRY_MS is no longer read: set SALVAGE_WEBHOOK_RETRY_SCHEDULE/],
    ];
    for (const [vars, message] of bad) expect(() => webhookConfig({ ...env, ...vars }), JSON.stringify(vars)).toThrow(message);
  });

  describe("on every attempt, before any connection", () => {
    const dbs: Database[] = [];
    const dispatchers: WebhookDispatcher<FakeEvent>[] = [];
    afterAll(async () => {
      await Promise.all(dispatchers.map((d) => d.stop()));
      await Promise.all(dbs.map((d) => d.close()));
    });

    /** A dispatcher over an in-memory store with `urls` registered, fed one event; resolves when each delivery ended. */
    async function deliverOnce(urls: string[], config: WebhookConfig, destinations: DestinationPolicy) {
      const db = await openDatabase({ schema: "webhook_destinations", migration: WEBHOOK_MIGRATION });
      dbs.push(db);
      const store = new WebhookStore(db);
      const secret = createWebhookSecret();
      const hooks = [];
      for (const url of urls) hooks.push(await store.createHook({ url, filter: {}, description: null, secret, afterEventId: "" }));
      const event: FakeEvent = { id: `${"1".padStart(20, "0")}:${"1".padStart(10, "0")}:0x${"cd".repeat(20)}`, n: 1 };
      const dispatcher = new WebhookDispatcher<FakeEvent>({
        store, config, metrics: testMetrics(), destinations, subscribe: fakeFeed([event]), startAfter: async () => "0", body: (e) => JSON.stringify(e), compileFilter: () => () => true, log: () => undefined,
      });
      dispatchers.push(dispatcher);
      dispatcher.start();
      const deadline = Date.now() + 30_000;
      for (;;) {
        const stats = await Promise.all(hooks.map((h) => store.hookStats(h.id)));
        if (stats.every((x) => x.delivered + x.failed === 1)) break;
        if (Date.now() > deadline) throw new Error(`deliveries did not end: ${JSON.stringify(stats)}`);
        await sleep(20);
      }
      return { secret, results: await Promise.all(hooks.map(async (h) => (await store.deliveries(h.id, { first: 10 })).items[0]!)) };
    }

    it("a host that resolves to a refused address, or an IP literal, is a failed attempt and the receiver sees no request", async () => {
      const target = await receiver(200);
      const port = new URL(target.url).port;
      // rebind.test resolves to a public address at registration, then to 127.0.0.1 (DNS rebinding).
      let rebindLookups = 0;
      const resolver: Resolver = async (host) => {
        if (host === "rebind.test") return [{ address: rebindLookups++ === 0 ? "93.184.216.34" : "127.0.0.1", family: 4 }];
        return dns.lookup(host, { all: true });
      };
      const destinations = new DestinationPolicy({ allowPrivate: false, allowCidrs: [] }, resolver);
      expect(await destinations.checkUrl(`http://rebind.test:${port}/hook`)).toEqual({ ok: true });
      const urls = [`http://localhost:${port}/hook`, `http://127.0.0.1:${port}/hook`, `http://rebind.test:${port}/hook`, `http://[::ffff:127.0.0.1]:${port}/hook`];
      const { results } = await deliverOnce(urls, testConfig({ destinations: { allowPrivate: false, allowCidrs: [] } }), destinations);
      const reasons = [
        /^refused destination: localhost resolves to 127\.0\.0\.1 is loopback/,
        /^refused destination: 127\.0\.0\.1 is loopback/,
        /^refused destination: rebind\.test resolves to 127\.0\.0\.1 is loopback/,
        /^refused destination: ::ffff:7f00:1 is loopback/, // the URL parser writes it in hex
      ];
      results.forEach((d, i) => {
        expect(d, urls[i]).toMatchObject({ status: "failed", attempts: 1, lastStatusCode: null });
        expect(d.attemptLog.map((a) => a.error)[0], urls[i]).toMatch(reasons[i]!);
      });
      expect(target.received).toEqual([]);
    });

    it("an allowed name is connected to at the address that was checked (the Host header keeps the name)", async () => {
      const target = await receiver(200);
      const port = new URL(target.url).port;
      // receiver.test exists only in this resolver: a delivery can reach it only through the checked address.
      const resolver: Resolver = async (host) => (host === "receiver.test" ? [{ address: "127.0.0.1", family: 4 }] : Promise.reject(new Error(`unexpected lookup of ${host}`)));
      const config = testConfig();
      const { secret, results } = await deliverOnce([`http://receiver.test:${port}/hook`], config, new DestinationPolicy(config.destinations, resolver));
      expect(results[0]).toMatchObject({ status: "delivered", attempts: 1, lastStatusCode: 200 });
      expect(target.received).toHaveLength(1);
      expect(target.received[0]!.headers.host).toBe(`receiver.test:${port}`);
      expect(salvageAccepts(target.received[0]!, secret)).toBe(true);
      expect(standardAccepts(target.received[0]!, secret)).toBe(true);
    });
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
    const secret = createWebhookSecret();
    const hook = await stores[0]!.createHook({ url: target.url, filter: {}, description: "pg", secret, afterEventId: "" });

    const metrics = testMetrics();
    const config = testConfig({ retrySchedule: [50, 50] });
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
      expect(salvageAccepts(r, secret)).toBe(true);
      expect(standardAccepts(r, secret)).toBe(true);
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

function testMetrics(): WebhookMetrics {
  const registry = new Registry();
  return {
    deliveries: new Counter({ name: "d", help: "d", labelNames: ["outcome"], registers: [registry] }),
    failures: new Counter({ name: "f", help: "f", registers: [registry] }),
    pending: new Gauge({ name: "p", help: "p", registers: [registry] }),
    setPendingSource: () => undefined,
  } as WebhookMetrics;
}

/** A dispatcher's config; the receivers' 127.0.0.1 allowed explicitly unless `destinations` says otherwise. */
function testConfig(overrides: Partial<WebhookConfig> = {}): WebhookConfig {
  const retrySchedule = overrides.retrySchedule ?? [];
  return {
    secretOverlapMs: 86_400_000,
    destinations: { allowPrivate: false, allowCidrs: [["127.0.0.1", 32, "ipv4"]] },
    timeoutMs: 5_000,
    concurrency: 8,
    perHookConcurrency: 4,
    pollMs: 20,
    leaseMs: 20_000,
    ...overrides,
    retrySchedule,
    maxAttempts: retrySchedule.length + 1,
  };
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
