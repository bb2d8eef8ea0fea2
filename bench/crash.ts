/**
 * Benchmarks 2 and 1 on one crash of the shared seeded devnet.
 *
 * 2, end-to-end recovery: the relayer CLI (`salvage relay --devnet-keys`, its own process, PostgreSQL; with
 * `--indexer-url` when feed detection is asked for and the detection benchmark's indexer runs) runs while
 * every collateral price drops in one hub block (the devnet's crash: `share` of the book under HF 1), blocks
 * every `blockTime` s after it. Measured from the chains themselves:
 * - the hub's gas floor: the gas of every transaction from the crash block on whose receipt holds a hub
 *   AuctionKicked or Take log (per transaction, so a batch counts once), divided by the hub's block gas limit:
 *   the fewest hub blocks that could hold the recovery's kicks and takes;
 * - hub blocks from the crash block to each account's first Take (p50/p95, and the last account's);
 * - per spoke: crash → each account's first Seized (on any spoke; counted on the spoke it happened on), in ms (block clocks: each chain's head polled,
 *   a block stamped when first seen) and in spoke blocks; the delivery time of the hub's packets to it
 *   (PacketSent on the hub endpoint → PacketDelivered on the spoke endpoint, matched by (srcEid, sender,
 *   receiver, nonce)); its gas floor (gas of the transactions holding its endpoint's PacketVerified or PacketDelivered
 *   logs / its block gas limit);
 * - from the relayer's log: crash → "recovered" (collateral seized) in ms, and recoveries per minute.
 * Before the crash, the idle relayer's hub RPC requests per block (idle.ts) at the full book size.
 *
 * 1, detection latency: the salvage indexer runs live and a subscriber holds
 * `subscription { opportunities { … } }` over SSE (POST /salvage/graphql, Accept: text/event-stream). Per
 * `liquidatable` event of the crash block: hub blocks mined between the crash block and the event's arrival,
 * and ms from the crash block being mined to the event. HOOK: when the app does not serve the subscription
 * (the feed of issue 5 is not in the build under test), the benchmark is reported as not measured.
 */
import { writeFileSync } from "node:fs";
import { createParser } from "eventsource-parser";
import { type AbiEvent, type Address, type Hex, getAbiItem, numberToHex } from "viem";
import { endpointV2Abi, hubAbi, spokeAbi } from "../abis/index.js";
import type { Reader } from "../src/chains/tx.js";
import { decodePacket } from "../src/layerzero/packet.js";
import { WAD } from "../src/health/wad.js";
import { mapLimit } from "../src/util/concurrency.js";
import { deposit, mint } from "../src/protocol/actions.js";
import { type IdleRpc, measureIdleRpc } from "./idle.js";
import { BlockClock } from "./lib/clock.js";
import { type BenchResult, type Figure, log, percentile, round, sleep } from "./lib/common.js";
import { type BenchNetwork, crashInOneBlock, heads, setMining } from "./lib/network.js";
import { dropSchema, uniqueSchema } from "./lib/pg.js";
import type { Deployment } from "../src/protocol/deployment.js";
import { type PonderProcess, startIndexer } from "./lib/ponder.js";
import { RELAYER_MAX_EXPOSURE_USD, type RelayerProcess, startDelivererProcess, startRelayer } from "./lib/relayer.js";

interface Subscriber {
  events: { id?: string; kind: string; account: string; blockNumber: string; at: number; head: bigint }[];
  error?: string;
  close(): void;
}

const SUBSCRIPTION = `subscription { opportunities { id kind account blockNumber timestamp } }`;

/** Opens the SSE subscription; resolves once the response headers say it is an event stream (else records why not). */
async function subscribe(url: string, head: () => bigint): Promise<Subscriber> {
  const controller = new AbortController();
  const sub: Subscriber = { events: [], close: () => controller.abort() };
  let res: Response;
  try {
    res = await fetch(`${url}/salvage/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ query: SUBSCRIPTION }),
      signal: controller.signal,
    });
  } catch (error) {
    sub.error = `subscription request failed: ${(error as Error).message}`;
    return sub;
  }
  if (res.status !== 200 || !(res.headers.get("content-type") ?? "").includes("text/event-stream")) {
    sub.error = `no SSE subscription at /salvage/graphql (status ${res.status}, ${res.headers.get("content-type")}): ${(await res.text()).slice(0, 300)}`;
    return sub;
  }
  const parser = createParser({
    onEvent(e) {
      if (e.event !== undefined && e.event !== "next") return;
      const at = Date.now();
      try {
        const payload = JSON.parse(e.data) as { data?: { opportunities?: { kind: string; account: string; blockNumber: string } }; errors?: { message: string }[] };
        if (payload.errors?.length) sub.error = `subscription error: ${payload.errors[0]!.message}`;
        const o = payload.data?.opportunities;
        if (o) sub.events.push({ id: e.id, kind: o.kind, account: o.account.toLowerCase(), blockNumber: String(o.blockNumber), at, head: head() });
      } catch {}
    },
  });
  void (async () => {
    try {
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
    } catch {}
  })();
  return sub;
}

const stats = (values: number[]) => ({ p50: percentile(values, 50), p95: percentile(values, 95), p99: percentile(values, 99), n: values.length });
const pair = (values: number[]) => {
  const s = stats(values);
  return `${s.p50 ?? "–"} / ${s.p95 ?? "–"}`;
};
const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

const kickOrTake = [getAbiItem({ abi: hubAbi, name: "AuctionKicked" }), getAbiItem({ abi: hubAbi, name: "Take" })] as AbiEvent[];
const verifiedOrDelivered = [getAbiItem({ abi: endpointV2Abi, name: "PacketVerified" }), getAbiItem({ abi: endpointV2Abi, name: "PacketDelivered" })] as AbiEvent[];

/**
 * Gas of the transactions (each once) holding any of `events` emitted by `address` from `fromBlock` on; with
 * `keep`, only the logs it accepts count.
 */
async function gasOfTransactions(
  reader: Reader, address: Address, events: AbiEvent[], fromBlock: bigint,
  keep: (log: { eventName?: string; args?: unknown; blockNumber: bigint | null; transactionHash: Hex | null; logIndex: number | null }) => boolean = () => true,
): Promise<{ gas: bigint; transactions: number; blocks: number }> {
  const logs = (await reader.getLogs({ address, events, fromBlock, toBlock: "latest" })).filter((l) => keep(l as never));
  const hashes = new Set(logs.map((l) => l.transactionHash!.toLowerCase()));
  const blocks = [...new Set(logs.map((l) => l.blockNumber!))];
  const receipts = (await mapLimit(blocks, 8, (b) => reader.request({ method: "eth_getBlockReceipts", params: [numberToHex(b)] } as never) as Promise<{ transactionHash: Hex; gasUsed: Hex }[]>)).flat();
  const gas = receipts.filter((r) => hashes.has(r.transactionHash.toLowerCase())).reduce((a, r) => a + BigInt(r.gasUsed), 0n);
  return { gas, transactions: hashes.size, blocks: blocks.length };
}

export interface CrashOptions {
  share: number;
  blockTime: number;
  recovery: boolean;
  detection: boolean;
  appRoot: string;
  setup: string;
  /** How the recovery relayer detects: from the detection benchmark's indexer feed (--indexer-url) or its hub scanner. */
  relayerDetection: "feed" | "scanner";
  /** Idle-RPC measurement at the full book size before the crash (with the recovery benchmark). */
  idle?: { warmupBlocks: number; blocks: number };
  /** Idle-RPC measurements made at smaller sizes while seeding (reported with this one, and their ratio). */
  idleEarlier?: IdleRpc[];
  timeoutMs?: number;
  /**
   * Who delivers the LayerZero packets during the crash: "process", the devnet's deliverer in a process of its
   * own, as LayerZero's DVNs and executor are other parties on a real network (the relayer runs --no-deliver);
   * "relayer", the relayer itself, as `salvage relay` does on local chains by default.
   */
  delivery: "process" | "relayer";
}

export async function benchCrash(net: BenchNetwork, options: CrashOptions): Promise<BenchResult[]> {
  const d = net.deployment;
  const figures2: Figure[] = [];
  const figures1: Figure[] = [];
  const skipped1: string[] = [];
  const skipped2: string[] = [];
  const details2: Record<string, unknown> = {};
  const details1: Record<string, unknown> = {};
  const relaySchema = uniqueSchema("relay");
  const indexSchema = uniqueSchema("detect");
  let indexer: PonderProcess | undefined;
  let relayer: RelayerProcess | undefined;
  let deliverer: Awaited<ReturnType<typeof startDelivererProcess>> | undefined;
  let sub: Subscriber | undefined;
  const hubClock = new BlockClock(d.hubClients.public, 25);
  const spokeClocks = new Map(d.spokes.map((s) => [s.name, new BlockClock(d.clients(s).public, 50)] as const));
  const gasLimits: Record<string, bigint> = {};
  for (const c of d.manifest.chains) gasLimits[c.name] = (await d.clients(c).public.getBlock()).gasLimit;
  const gasSetup = `hub block gas limit ${gasLimits[d.hub.name]!.toLocaleString("en-US")}, spokes ${d.spokes.map((s) => gasLimits[s.name]!.toLocaleString("en-US")).join(" / ")}`;
  try {
    await hubClock.start();
    for (const c of spokeClocks.values()) await c.start();
    if (options.detection) {
      indexer = await startIndexer({ schema: indexSchema, manifestPath: net.manifestPath, databaseUrl: net.databaseUrl, root: options.appRoot });
      // Ponder answers /ready when its backfill is done, up to the chains' finalized blocks; it then fetches the
      // unfinalized blocks again (30 a chain here) before it indexes a new one. A crash in those seconds measured
      // that catch-up (4.4 s to index a crash block whose handlers took 0.5 s): the crash waits for it, as a
      // liquidator's indexer that has been running would have.
      const liveMs = await caughtUpLive(indexer.url, d);
      log(`indexer live at every chain's head ${liveMs} ms after /ready`);
      details1.liveAfterReadyMs = liveMs;
      // That catch-up is a burst of JSON-RPC requests (a block and its logs, 30 blocks a chain), and Ponder's own
      // rate limiter (node_modules/ponder/src/rpc/index.ts: 20 requests a second a chain to start with, counted over
      // 10 s) then holds its head polls back: a crash in those seconds waited up to 0.7 s before Ponder even asked
      // for the block. An indexer that has been running is past that window: the crash waits it out too.
      await sleep(PONDER_RPC_WINDOW_MS);
      details1.waitedForRpcWindowMs = PONDER_RPC_WINDOW_MS;
      sub = await subscribe(indexer.url, () => hubClock.head);
      if (sub.error) {
        skipped1.push(`detection latency not measured: ${sub.error}`);
        log(`detection: ${sub.error}`);
      }
    }
    const feedUrl = options.relayerDetection === "feed" ? indexer?.url : undefined;
    if (options.recovery && options.relayerDetection === "feed" && !indexer) skipped2.push("feed detection needs the detection benchmark's indexer (--only recovery,detection): the relayer ran with its hub scanner");
    const idlePoints = [...(options.idleEarlier ?? [])];
    if (options.recovery && options.idle) {
      idlePoints.push(
        await measureIdleRpc(
          { deployment: d, manifest: net.manifest, databaseUrl: net.databaseUrl, accounts: net.borrowers },
          { appRoot: options.appRoot, blockTime: options.blockTime > 0 ? options.blockTime : 1, ...options.idle, indexerUrl: feedUrl },
        ),
      );
    }
    if (options.recovery && idlePoints.length > 0) {
      const points = idlePoints;
      const idle = points[points.length - 1]!;
      details2.idleRpc = points;
      for (const p of points) {
        figures2.push({
          bench: "2 recovery",
          metric: `relayer hub RPC requests per hub block, idle, ${p.accounts.toLocaleString("en-US")} borrowers`,
          value: p.perBlock,
          unit: "requests/block",
          setup: `${options.setup.replace(/\d+ seeded borrowers/, `${p.accounts} seeded borrowers`)}; ${gasSetup}; relayer CLI (${p.detection} detection, poll 200 ms) behind a counting JSON-RPC proxy on the hub (batch elements counted one by one); no price moves, blocks every ${options.blockTime > 0 ? options.blockTime : 1} s; ${p.requests} requests over ${p.blocks} hub blocks after ${p.warmupBlocks} warm-up blocks`,
        });
      }
      if (points.length >= 2) {
        const small = points[0]!;
        const ratio = idle.perBlock / small.perBlock;
        figures2.push({ bench: "2 recovery", metric: `idle RPC per block, ${idle.accounts.toLocaleString("en-US")} / ${small.accounts.toLocaleString("en-US")} borrowers`, value: round(ratio, 2), unit: "ratio", setup: `the two figures above (${small.detection} / ${idle.detection} detection), ${small.accounts} borrowers measured after seeding them, then ${idle.accounts - small.accounts} more seeded on the same devnet (same seed and rng: the book of a single seeding)` });
      }
      for (const p of points) if (p.note && !skipped2.includes(p.note)) skipped2.push(p.note);
    }
    if (options.recovery) {
      if (options.delivery === "process") deliverer = await startDelivererProcess(net.manifestPath);
      relayer = await startRelayer({ appRoot: options.appRoot, manifestPath: net.manifestPath, databaseUrl: net.databaseUrl, schema: relaySchema, indexerUrl: feedUrl, noDeliver: options.delivery === "process" });
      if (relayer.note && !skipped2.includes(relayer.note)) skipped2.push(relayer.note);
    }
    const spokeHeads = await heads(d);
    // The indexer's handler time before the crash, to split the crash block's indexing into its handlers and the rest.
    const handlersBefore = indexer ? await indexerHandlerMs(indexer) : undefined;
    const crash = await crashInOneBlock(d, net.borrowers, options.share, true);
    // When the indexer has the crash block (its /status), apart from when its events reach a subscriber.
    const indexedAt = indexer ? watchIndexedBlock(indexer.url, crash.block, crash.minedAt) : undefined;
    if (options.blockTime > 0) await setMining(d, { intervalSeconds: options.blockTime });
    else await setMining(d, { automine: true });
    const liquidatable = new Set(crash.liquidatable.map((a) => a.toLowerCase()));
    // Detection is about the accounts the crash *made* liquidatable: those under 1 already (from the walk) get an
    // `updated` event in the crash block instead.
    const madeLiquidatable = new Set(crash.liquidatable.filter((a) => crash.healthBefore.get(a)! >= WAD).map((a) => a.toLowerCase()));
    log(`crash at hub block ${crash.block}: ${liquidatable.size}/${net.borrowers.length} accounts under HF 1, ${madeLiquidatable.size} of them made so by the crash`);
    const crashSetup = `${options.setup}; ${gasSetup}; crash in one hub block puts ${liquidatable.size} of ${net.borrowers.length} under HF 1; blocks every ${options.blockTime} s after the crash`;

    // Wait for recoveries (and subscription events) to come in; stop when complete or stalled.
    const deadline = Date.now() + (options.timeoutMs ?? 900_000 + 1_500 * liquidatable.size);
    let lastProgress = Date.now();
    let lastCount = -1;
    for (;;) {
      const recoveredAccounts = new Set(relayer?.recovered.map((r) => r.account));
      const detected = new Set(sub?.events.filter((e) => e.kind === "liquidatable").map((e) => e.account));
      const count = recoveredAccounts.size + detected.size;
      if (count !== lastCount) {
        lastCount = count;
        lastProgress = Date.now();
      }
      const recDone = !relayer || [...liquidatable].every((a) => recoveredAccounts.has(a));
      const detDone = !sub || sub.error !== undefined || [...madeLiquidatable].every((a) => detected.has(a));
      if (recDone && detDone) break;
      if (Date.now() > deadline || Date.now() - lastProgress > 180_000) {
        if (!recDone) skipped2.push(`only ${recoveredAccounts.size}/${liquidatable.size} accounts recovered before the bench stopped waiting`);
        if (!detDone) skipped1.push(`only ${[...madeLiquidatable].filter((a) => detected.has(a)).length}/${madeLiquidatable.size} liquidatable events received before the bench stopped waiting`);
        break;
      }
      await sleep(250);
    }

    if (sub?.error && !skipped1.some((x) => x.includes(sub!.error!))) skipped1.push(`detection latency not measured: ${sub.error}`);
    if (sub && !sub.error) {
      const own = sub.events.filter((e) => e.kind === "liquidatable" && BigInt(e.blockNumber) === crash.block && madeLiquidatable.has(e.account));
      const firstByAccount = new Map<string, (typeof own)[number]>();
      for (const e of own) if (!firstByAccount.has(e.account)) firstByAccount.set(e.account, e);
      const ms = [...firstByAccount.values()].map((e) => e.at - crash.minedAt);
      const blocks = [...firstByAccount.values()].map((e) => Number(e.head - crash.block));
      const dup = own.length - firstByAccount.size;
      const s = stats(ms);
      const b = stats(blocks);
      const setup = `${crashSetup}; ${firstByAccount.size} events over SSE; ms from the crash block mined (bench clock) to the event received`;
      for (const p of ["p50", "p95", "p99"] as const) {
        figures1.push({ bench: "1 detection", metric: `crash block → subscription event ${p}`, value: round(s[p] ?? NaN, 0), unit: "ms", setup });
        figures1.push({ bench: "1 detection", metric: `crash block → subscription event ${p}`, value: b[p] ?? NaN, unit: "hub blocks", setup });
      }
      const indexedMs = indexedAt ? await indexedAt : undefined;
      if (indexedMs !== undefined) {
        figures1.push({ bench: "1 detection", metric: "crash block → indexed (the indexer's /status at the crash block)", value: indexedMs, unit: "ms", setup: `${crashSetup}; /status polled every 20 ms from the crash; the rest of the event's latency is the feed (poll, best take of each event, SSE)` });
      }
      details1.indexedMs = indexedMs ?? null;
      // Epoch ms of the crash block's evm_mine returning, and of the first and median events: to line up with the
      // indexer's own log (SALVAGE_BENCH_INDEXER_LOG, SALVAGE_BENCH_PONDER_LOG_LEVEL=trace).
      details1.crashMinedAtEpochMs = crash.minedAt;
      const arrivals = [...firstByAccount.values()].map((e) => e.at).sort((a, b) => a - b);
      details1.eventsEpochMs = { first: arrivals[0] ?? null, p50: arrivals[Math.floor(arrivals.length / 2)] ?? null, last: arrivals.at(-1) ?? null };
      if (indexer && handlersBefore !== undefined && indexedMs !== undefined) {
        // Read once the crash block is indexed; later blocks' handlers (few events) may be counted too.
        const after = await indexerHandlerMs(indexer);
        details1.crashBlockHandlerMs = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, round(v - (handlersBefore[k] ?? 0), 1)]).filter(([, v]) => (v as number) > 0));
      }
      details1.events = sub.events.length;
      details1.duplicates = dup;
      details1.madeLiquidatable = madeLiquidatable.size;
      details1.alreadyLiquidatable = liquidatable.size - madeLiquidatable.size;
      details1.missing = [...madeLiquidatable].filter((a) => !firstByAccount.has(a));
    }

    if (relayer) {
      const hubReader = d.hubClients.public;
      const firstRecovery = new Map<string, number>();
      for (const r of relayer.recovered) if (liquidatable.has(r.account) && !firstRecovery.has(r.account)) firstRecovery.set(r.account, r.at);
      const setup = `${crashSetup}; relayer CLI (${relayer.detection} detection, poll 200 ms, PostgreSQL, --max-exposure-usd ${RELAYER_MAX_EXPOSURE_USD}, other settings default) ${options.delivery === "relayer" ? "delivering LayerZero packets itself" : "--no-deliver: the devnet's LayerZero deliverer (DVN and executor stand-in) in a process of its own"}`;

      // Hub: first Take per account, and the gas floor of the kicks and takes.
      const takes = await hubReader.getContractEvents({ address: d.hubAddress, abi: hubAbi, eventName: "Take", fromBlock: crash.block });
      const firstTake = new Map<string, bigint>();
      const firstTakeLogs = new Set<string>();
      for (const t of takes) {
        const account = (t.args.account as Address).toLowerCase();
        if (liquidatable.has(account) && !firstTake.has(account)) {
          firstTake.set(account, t.blockNumber);
          firstTakeLogs.add(`${t.transactionHash}:${t.logIndex}`);
        }
      }
      const hubBlocks = [...firstTake.values()].map((b) => Number(b - crash.block));
      // The yardstick of the first takes: the transactions that hold one (with their kicks), and kicks mined by the
      // last of them. Takes of an account taken again (still under 1 after its first take) come after and are not
      // part of it; `details.recovery.hubGasAll` counts them too.
      const lastFirstTake = hubBlocks.length ? crash.block + BigInt(Math.max(...hubBlocks)) : crash.block;
      const hubGas = await gasOfTransactions(hubReader, d.hubAddress, kickOrTake, crash.block, (l) =>
        l.eventName === "Take" ? firstTakeLogs.has(`${l.transactionHash}:${l.logIndex}`) : (l.blockNumber ?? 0n) <= lastFirstTake,
      );
      details2.hubGasAll = await gasOfTransactions(hubReader, d.hubAddress, kickOrTake, crash.block);
      const hubLimit = gasLimits[d.hub.name]!;
      const hubFloorExact = Number(hubGas.gas) / Number(hubLimit);
      const hubFloor = ceilDiv(hubGas.gas, hubLimit);
      figures2.push({ bench: "2 recovery", metric: "hub gas floor: kick + take gas of the first takes / hub block gas limit", value: round(hubFloorExact, 2), unit: "hub blocks", setup: `${setup}; ${hubGas.gas.toLocaleString("en-US")} gas in ${hubGas.transactions} transactions holding an account's first Take (and their kicks), from the crash block on; rounded up: ${hubFloor}` });
      figures2.push({ bench: "2 recovery", metric: `crash block → last account's first Take (${firstTake.size} accounts)`, value: hubBlocks.length ? Math.max(...hubBlocks) : NaN, unit: "hub blocks", setup });
      figures2.push({ bench: "2 recovery", metric: "crash block → first Take p50 / p95", value: pair(hubBlocks), unit: "hub blocks", setup });

      // Relayer's own clock: crash → "recovered".
      const ms = [...firstRecovery.values()].map((at) => at - crash.minedAt);
      const ms2 = stats(ms);
      figures2.push({ bench: "2 recovery", metric: "crash → collateral seized p50", value: round(ms2.p50 ?? NaN, 0), unit: "ms", setup: `${setup}; to the relayer's "recovered" log line` });
      figures2.push({ bench: "2 recovery", metric: "crash → collateral seized p95", value: round(ms2.p95 ?? NaN, 0), unit: "ms", setup: `${setup}; to the relayer's "recovered" log line` });

      // Spokes: Seized per account, deliveries of the hub's packets, gas floors.
      const hubEndpoint = d.hub.contracts.endpoint;
      const sent = await hubReader.getContractEvents({ address: hubEndpoint, abi: endpointV2Abi, eventName: "PacketSent", fromBlock: crash.block });
      const sentAt = new Map<string, { block: bigint; dstEid: number }>();
      for (const e of sent) {
        const p = decodePacket(e.args.encodedPayload as Hex);
        // LayerZero numbers packets per path: (srcEid, sender, dstEid, receiver).
        sentAt.set(`${p.srcEid}:${p.sender.toLowerCase()}:${p.dstEid}:${p.receiverAddress.toLowerCase()}:${p.nonce}`, { block: e.blockNumber, dstEid: p.dstEid });
      }
      // Each account's first seizure on any spoke: an account with collateral on two spokes may be seized on the
      // second only by a later take, which says nothing about how fast its first take's collateral arrived.
      const firstSeizure = new Map<string, { spoke: string; block: bigint; at: number }>();
      for (const spoke of d.spokes) {
        const clock = spokeClocks.get(spoke.name)!;
        const seized = await d.clients(spoke).public.getContractEvents({ address: spoke.contracts.spoke!, abi: spokeAbi, eventName: "Seized", fromBlock: spokeHeads[spoke.name]! + 1n });
        for (const e of seized) {
          const account = (e.args.account as Address).toLowerCase();
          const at = clock.at(e.blockNumber) ?? Number.POSITIVE_INFINITY;
          const known = firstSeizure.get(account);
          if (liquidatable.has(account) && (!known || at < known.at)) firstSeizure.set(account, { spoke: spoke.name, block: e.blockNumber, at });
        }
      }
      const perSpoke: Record<string, unknown> = {};
      for (const spoke of d.spokes) {
        const reader = d.clients(spoke).public;
        const clock = spokeClocks.get(spoke.name)!;
        const from = spokeHeads[spoke.name]!;
        const firstSeized = new Map([...firstSeizure].filter(([, s]) => s.spoke === spoke.name).map(([account, s]) => [account, s.block] as const));
        const seizedBlocks = [...firstSeized.values()].map((b) => Number(b - from));
        const seizedMs = [...firstSeized.values()].map((b) => clock.at(b)).filter((t): t is number => t !== undefined).map((t) => t - crash.minedAt);
        const delivered = await reader.getContractEvents({ address: spoke.contracts.endpoint, abi: endpointV2Abi, eventName: "PacketDelivered", fromBlock: from + 1n });
        const deliveryMs: number[] = [];
        const deliveryBlocks: number[] = [];
        let unstamped = 0;
        for (const e of delivered) {
          const o = e.args.origin as { srcEid: number; sender: Hex; nonce: bigint };
          const s = sentAt.get(`${o.srcEid}:${o.sender.toLowerCase()}:${spoke.eid}:${(e.args.receiver as Address).toLowerCase()}:${o.nonce}`);
          if (!s || s.dstEid !== spoke.eid) continue;
          const sentTime = hubClock.at(s.block) ?? (s.block === crash.block ? crash.minedAt : undefined);
          const deliveredTime = clock.at(e.blockNumber);
          if (sentTime === undefined || deliveredTime === undefined) {
            unstamped++;
            continue;
          }
          deliveryMs.push(deliveredTime - sentTime);
          deliveryBlocks.push(Number(e.blockNumber - clock.headAt(sentTime)));
        }
        // The relayer's part after the hub: each account's first Take (its hub block, as the spoke's head then) → its first Seized.
        const takeToSeized: number[] = [];
        for (const [account, block] of firstSeized) {
          const take = firstTake.get(account);
          const takeTime = take === undefined ? undefined : hubClock.at(take);
          if (takeTime !== undefined) takeToSeized.push(Number(block - clock.headAt(takeTime)));
        }
        const gas = await gasOfTransactions(reader, spoke.contracts.endpoint, verifiedOrDelivered, from + 1n);
        const limit = gasLimits[spoke.name]!;
        const floor = Number(ceilDiv(gas.gas, limit));
        const spokeSetup = `${setup}; ${spoke.name} blocks counted from its head when the crash was mined`;
        figures2.push({ bench: "2 recovery", metric: `crash → first Seized p50 / p95 on ${spoke.name} (${firstSeized.size} accounts first seized there)`, value: pair(seizedBlocks), unit: `${spoke.name} blocks`, setup: spokeSetup });
        figures2.push({ bench: "2 recovery", metric: `crash → first Seized p50 / p95 on ${spoke.name}`, value: pair(seizedMs), unit: "ms", setup: `${spokeSetup}; ms to the poll (50 ms) that first saw the block` });
        figures2.push({ bench: "2 recovery", metric: `first Take → Seized p50 / p95 on ${spoke.name}`, value: pair(takeToSeized), unit: `${spoke.name} blocks`, setup: `${spokeSetup}; per account, from ${spoke.name}'s head when its first Take's hub block was seen to its first Seized` });
        figures2.push({ bench: "2 recovery", metric: `delivery hub → ${spoke.name} p50 / p95 (${deliveryMs.length} packets)`, value: pair(deliveryMs), unit: "ms", setup: `${spokeSetup}; PacketSent on the hub endpoint → PacketDelivered on ${spoke.name}'s, both blocks stamped when first seen` });
        figures2.push({ bench: "2 recovery", metric: `delivery hub → ${spoke.name} p99`, value: stats(deliveryMs).p99 ?? "–", unit: "ms", setup: `${spokeSetup}; as the line above` });
        figures2.push({ bench: "2 recovery", metric: `delivery hub → ${spoke.name} p50 / p95`, value: pair(deliveryBlocks), unit: `${spoke.name} blocks`, setup: `${spokeSetup}; from ${spoke.name}'s head when the PacketSent block was seen` });
        figures2.push({ bench: "2 recovery", metric: `${spoke.name} gas floor: delivery gas / block gas limit`, value: floor, unit: `${spoke.name} blocks`, setup: `${spokeSetup}; ${gas.gas.toLocaleString("en-US")} gas in ${gas.transactions} transactions holding its endpoint's PacketVerified or PacketDelivered logs; block gas limit ${limit.toLocaleString("en-US")}` });
        const seizedP95 = stats(seizedBlocks).p95;
        const deliveryP95 = stats(deliveryBlocks).p95;
        const bound = deliveryP95 === undefined ? undefined : deliveryP95 + floor + 3;
        figures2.push({ bench: "2 recovery", metric: `crash → first Seized p95 on ${spoke.name} vs delivery p95 + gas floor + 3`, value: `${seizedP95 ?? "–"} vs ${bound ?? "–"}`, unit: `${spoke.name} blocks`, setup: spokeSetup });
        perSpoke[spoke.name] = { seizedBlocks, seizedMs, takeToSeized, deliveryMs, deliveryBlocks, deliveriesUnstamped: unstamped, deliveryGas: gas.gas, deliveryTransactions: gas.transactions, blockGasLimit: limit, gasFloorBlocks: floor, seizedP95Blocks: seizedP95, boundBlocks: bound };
      }

      const last = Math.max(...firstRecovery.values());
      const perMinute = firstRecovery.size / ((last - crash.minedAt) / 60_000);
      figures2.push({ bench: "2 recovery", metric: "recoveries per minute (recovered accounts / (last recovery − crash))", value: round(perMinute, 1), unit: "/min", setup });
      details2.recovered = firstRecovery.size;
      details2.liquidatable = liquidatable.size;
      details2.relayerDetection = relayer.detection;
      details2.relayerPeakRssMiB = relayer.memory()?.peakRssMiB ?? null;
      details2.hubGas = { gas: hubGas.gas, transactions: hubGas.transactions, blocks: hubGas.blocks, blockGasLimit: hubLimit, floorBlocks: hubFloor };
      details2.hubBlocksToFirstTake = hubBlocks;
      // When each hub block after the crash was first seen (ms after the crash block): a loaded node mines late.
      details2.hubBlockSeenMs = Array.from({ length: 25 }, (_, i) => hubClock.at(crash.block + BigInt(i + 1))).map((t) => (t === undefined ? null : t - crash.minedAt));
      details2.spokes = perSpoke;
      // Each hub block from the crash to the last first take: gas used and base fee (a crash's full blocks raise it).
      details2.hubBlocks = await mapLimit(Array.from({ length: Math.max(0, ...hubBlocks) + 1 }, (_, i) => crash.block + BigInt(i)), 8, async (n) => {
        const b = await hubReader.getBlock({ blockNumber: n });
        return { block: Number(n - crash.block), gasUsed: Number(b.gasUsed), transactions: b.transactions.length, baseFeeGwei: Number(b.baseFeePerGas ?? 0n) / 1e9 };
      });
      details2.msSamples = ms;

      // The other direction, spoke → hub, once the crash is recovered: deposits from healthy borrowers on each spoke
      // (two a borrower, sent at once), delivered by the same deliverer while 1 s blocks go on.
      const depositors = net.borrowers.filter((a) => !liquidatable.has(a.toLowerCase())).slice(0, SPOKE_TO_HUB_DEPOSITORS);
      const spokeToHubDetails: Record<string, unknown> = {};
      details2.spokeToHub = spokeToHubDetails;
      for (const spoke of d.spokes) {
        const r = await spokeToHub(d, spoke, depositors, hubClock, spokeClocks.get(spoke.name)!);
        const dirSetup = `${setup}; after the recovery: ${r.packets} deposits on ${spoke.name} from ${depositors.length} healthy borrowers sent at once, 1 s blocks on every chain; PacketSent on ${spoke.name}'s endpoint → PacketDelivered on the hub's, both blocks stamped when first seen`;
        figures2.push({ bench: "2 recovery", metric: `delivery ${spoke.name} → hub p50 / p95 (${r.ms.length} packets)`, value: pair(r.ms), unit: "ms", setup: dirSetup });
        figures2.push({ bench: "2 recovery", metric: `delivery ${spoke.name} → hub p50 / p95`, value: pair(r.blocks), unit: "hub blocks", setup: `${dirSetup}; from the hub's head when the PacketSent block was seen` });
        spokeToHubDetails[spoke.name] = r;
      }
    }
    if (indexer) details1.indexerPeakRssMiB = indexer.memory()?.peakRssMiB ?? null;
  } finally {
    await hubClock.stop();
    for (const c of spokeClocks.values()) await c.stop();
    sub?.close();
    await relayer?.stop();
    await deliverer?.stop();
    // SALVAGE_BENCH_INDEXER_LOG=path keeps the indexer's log (JSON lines; the last ~200 KB).
    if (indexer && process.env.SALVAGE_BENCH_INDEXER_LOG) writeFileSync(process.env.SALVAGE_BENCH_INDEXER_LOG, indexer.log());
    await indexer?.stop();
    await dropSchema(net.databaseUrl, relaySchema);
    await dropSchema(net.databaseUrl, indexSchema);
  }
  const out: BenchResult[] = [];
  if (options.recovery) out.push({ name: "recovery", figures: figures2, details: details2, skipped: skipped2 });
  if (options.detection) out.push({ name: "detection", figures: figures1, details: details1, skipped: skipped1 });
  return out;
}

const SPOKE_TO_HUB_DEPOSITORS = 25;

/**
 * Deposits (mint, approve, deposit: two per account, all accounts at once) on `spoke`, then each packet's delivery
 * to the hub: PacketSent block (first seen on the spoke) → PacketDelivered block (first seen on the hub), in ms and
 * in hub blocks. Waits for every packet (at most 120 s); those not delivered by then are counted apart.
 */
async function spokeToHub(d: Deployment, spoke: Deployment["spokes"][number], accounts: readonly Address[], hubClock: BlockClock, spokeClock: BlockClock) {
  const reader = d.clients(spoke).public;
  const from = await reader.getBlockNumber();
  const hubFrom = await d.hubClients.public.getBlockNumber();
  const asset = d.collateralAssets[0]!.id;
  await mapLimit(accounts, 8, (a) => mint(d, spoke.name, spoke.tokens[String(asset)]!, a, 2n * 10n ** 15n));
  await mapLimit(accounts, 25, async (a) => {
    for (let i = 0; i < 2; i++) await deposit(d, spoke.name, a, asset, 10n ** 15n);
  });
  const sent = await reader.getContractEvents({ address: spoke.contracts.endpoint, abi: endpointV2Abi, eventName: "PacketSent", fromBlock: from + 1n });
  const keys = new Map<string, bigint>(sent.map((e) => {
    const p = decodePacket(e.args.encodedPayload as Hex);
    return [`${p.srcEid}:${p.sender.toLowerCase()}:${p.receiverAddress.toLowerCase()}:${p.nonce}`, e.blockNumber] as const;
  }));
  const delivered = new Map<string, bigint>();
  const deadline = Date.now() + 120_000;
  while (delivered.size < keys.size && Date.now() < deadline) {
    await sleep(250);
    for (const e of await d.hubClients.public.getContractEvents({ address: d.hub.contracts.endpoint, abi: endpointV2Abi, eventName: "PacketDelivered", fromBlock: hubFrom + 1n })) {
      const o = e.args.origin as { srcEid: number; sender: Hex; nonce: bigint };
      const key = `${o.srcEid}:${o.sender.toLowerCase()}:${(e.args.receiver as Address).toLowerCase()}:${o.nonce}`;
      if (keys.has(key)) delivered.set(key, e.blockNumber);
    }
  }
  const ms: number[] = [];
  const blocks: number[] = [];
  for (const [key, sentBlock] of keys) {
    const at = delivered.get(key);
    const sentTime = spokeClock.at(sentBlock);
    const deliveredTime = at === undefined ? undefined : hubClock.at(at);
    if (at === undefined || sentTime === undefined || deliveredTime === undefined) continue;
    ms.push(deliveredTime - sentTime);
    blocks.push(Number(at - hubClock.headAt(sentTime)));
  }
  return { packets: keys.size, delivered: delivered.size, ms, blocks };
}

/** Ms until the indexer's /status reports every chain at the head it had when the wait began (polled every 50 ms). */
/** Ponder's JSON-RPC rate limiter counts each chain's requests over this window (its `rps` buckets: 10 s). */
const PONDER_RPC_WINDOW_MS = 11_000;

async function caughtUpLive(url: string, d: Deployment): Promise<number> {
  const started = Date.now();
  const heads = new Map(await Promise.all(d.manifest.chains.map(async (c) => [c.name, await d.clients(c).public.getBlockNumber()] as const)));
  while (Date.now() - started < 120_000) {
    try {
      const status = (await (await fetch(`${url}/status`)).json()) as Record<string, { block?: { number: number } }>;
      if ([...heads].every(([name, head]) => BigInt(status[name]?.block?.number ?? 0) >= head)) return Date.now() - started;
    } catch {}
    await sleep(50);
  }
  throw new Error(`the indexer did not reach the chains' heads within 120 s of /ready`);
}

/** Ms from `since` until the indexer's /status reports `block` on the hub (polled every 20 ms, for at most 120 s). */
async function watchIndexedBlock(url: string, block: bigint, since: number): Promise<number | undefined> {
  const started = since;
  while (Date.now() - started < 120_000) {
    try {
      const status = (await (await fetch(`${url}/status`)).json()) as Record<string, { block?: { number: number } }>;
      if (BigInt(status.hub?.block?.number ?? 0) >= block) return Date.now() - started;
    } catch {}
    await sleep(20);
  }
  return undefined;
}

/** The indexer's time in each indexing function so far (ponder_indexing_function_duration_sum), ms by event. */
async function indexerHandlerMs(p: PonderProcess): Promise<Record<string, number>> {
  const m = await p.metrics();
  const out: Record<string, number> = {};
  for (const s of m.get("ponder_indexing_function_duration_sum") ?? []) out[s.labels.event!] = (out[s.labels.event!] ?? 0) + s.value;
  return out;
}
