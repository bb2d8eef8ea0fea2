/**
 * Benchmark 3, indexing throughput: the salvage indexer against the plain Ponder app (bench/plain: the same
 * contracts, chains and manifest, each event inserted into one table), backfilling the same seeded devnet in
 * the same run, one after the other, each on its own PostgreSQL schema.
 *
 * Events come from Ponder's own counter (ponder_indexing_completed_events). Two times, both from Ponder:
 * - backfill: the duration Ponder logs with "Completed backfill indexing across all chains" (RPC extraction
 *   included, which costs the same for both apps and grows with blocks);
 * - transform: the sum of ponder_historical_transform_duration (prefetch, begin, index, load, finalize,
 *   commit): the indexing work itself, what the app's logic costs.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type BenchResult, type Figure, log, median, round } from "./lib/common.js";
import type { BenchNetwork } from "./lib/network.js";
import { dropSchema, uniqueSchema } from "./lib/pg.js";
import { REPO_ROOT, startIndexer, sumMetric } from "./lib/ponder.js";

export interface ThroughputRun {
  app: "salvage" | "plain";
  events: number;
  eventsByName: Record<string, number>;
  /** Time in each indexing function (ponder_indexing_function_duration_sum), by event name. */
  handlerMsByName: Record<string, number>;
  backfillMs: number;
  transformMs: number;
  /** The transform by Ponder's step (prefetch, begin, index, load = the flush of its row cache, finalize, commit). */
  transformMsByStep: Record<string, number>;
  /** Store calls (ponder_indexing_store_queries_total), by table and method. */
  storeQueries: Record<string, number>;
  /** Ponder's cache queries by table and method (ponder_indexing_cache_query_duration_sum: flushes, loads), ms. */
  cacheQueryMs: Record<string, number>;
  handlerMs: number;
  wallToReadyMs: number;
  peakRssMiB: number | null;
  /** context.client calls Ponder retried (its log's warnings), when any. */
  rpcRetries?: number;
}

async function runApp(net: BenchNetwork, app: "salvage" | "plain", appRoot: string): Promise<ThroughputRun> {
  const schema = uniqueSchema(`tp_${app}`);
  const started = Date.now();
  const p = await startIndexer({
    schema,
    manifestPath: net.manifestPath,
    databaseUrl: net.databaseUrl,
    root: app === "plain" ? join(REPO_ROOT, "bench/plain") : appRoot,
  }).catch(async (error: unknown) => {
    await dropSchema(net.databaseUrl, schema);
    throw error;
  });
  try {
    const wallToReadyMs = Date.now() - started;
    const m = await p.metrics();
    const eventsByName: Record<string, number> = {};
    for (const s of m.get("ponder_indexing_completed_events") ?? []) eventsByName[s.labels.event!] = (eventsByName[s.labels.event!] ?? 0) + s.value;
    const handlerMsByName: Record<string, number> = {};
    for (const s of m.get("ponder_indexing_function_duration_sum") ?? []) handlerMsByName[s.labels.event!] = round((handlerMsByName[s.labels.event!] ?? 0) + s.value, 1);
    const done = p.logLines("Completed backfill indexing across all chains")[0];
    const run: ThroughputRun = {
      app,
      events: sumMetric(m, "ponder_indexing_completed_events"),
      eventsByName,
      handlerMsByName,
      backfillMs: Number(done?.duration ?? NaN),
      transformMs: sumMetric(m, "ponder_historical_transform_duration"),
      transformMsByStep: Object.fromEntries((m.get("ponder_historical_transform_duration") ?? []).map((x) => [x.labels.step ?? "?", round(x.value, 0)])),
      storeQueries: Object.fromEntries((m.get("ponder_indexing_store_queries_total") ?? []).map((x) => [`${x.labels.table}.${x.labels.method}`, x.value])),
      cacheQueryMs: Object.fromEntries((m.get("ponder_indexing_cache_query_duration_sum") ?? []).map((x) => [`${x.labels.table}.${x.labels.method}`, round(x.value, 1)])),
      handlerMs: sumMetric(m, "ponder_indexing_function_duration_sum"),
      wallToReadyMs,
      peakRssMiB: p.memory()?.peakRssMiB ?? null,
    };
    // A context.client call Ponder retried (it backs off 125 ms, 250 ms, … in the handler's time).
    const retried = p.logLines("Failed 'context.client' action");
    if (retried.length > 0) run.rpcRetries = retried.length;
    // SALVAGE_BENCH_THROUGHPUT_LOG=dir keeps each app's log (JSON lines) as <dir>/<app>.log.
    if (process.env.SALVAGE_BENCH_THROUGHPUT_LOG) writeFileSync(join(process.env.SALVAGE_BENCH_THROUGHPUT_LOG, `${app}.log`), p.log());
    log(`throughput ${app}: ${run.events} events, backfill ${run.backfillMs} ms, transform ${round(run.transformMs, 0)} ms, peak RSS ${run.peakRssMiB} MiB${run.rpcRetries ? `, ${run.rpcRetries} context.client retries` : ""}`);
    return run;
  } finally {
    await p.stop();
    await dropSchema(net.databaseUrl, schema);
  }
}

export async function benchThroughput(net: BenchNetwork, options: { reps: number; setup: string; appRoot: string }): Promise<BenchResult> {
  const runs: ThroughputRun[] = [];
  for (let rep = 0; rep < options.reps; rep++) {
    // Alternate the order so neither app always runs on a warmer machine.
    const order: ("salvage" | "plain")[] = rep % 2 === 0 ? ["salvage", "plain"] : ["plain", "salvage"];
    for (const app of order) runs.push(await runApp(net, app, options.appRoot));
  }
  const of = (app: string) => runs.filter((r) => r.app === app);
  const rate = (r: ThroughputRun, ms: number) => r.events / (ms / 1000);
  const med = (app: string, f: (r: ThroughputRun) => number) => median(of(app).map(f))!;
  const backfillS = med("salvage", (r) => rate(r, r.backfillMs));
  const backfillP = med("plain", (r) => rate(r, r.backfillMs));
  const transformS = med("salvage", (r) => rate(r, r.transformMs));
  const transformP = med("plain", (r) => rate(r, r.transformMs));
  const salvageEvents = of("salvage")[0]!.eventsByName;
  const plainEvents = of("plain")[0]!.eventsByName;
  const mismatched = Object.keys({ ...salvageEvents, ...plainEvents }).filter((k) => (salvageEvents[k] ?? 0) !== (plainEvents[k] ?? 0));
  const setup = `${options.setup}; ${of("salvage")[0]!.events} events; median of ${options.reps} run(s) per app; PostgreSQL`;
  const figures: Figure[] = [
    { bench: "3 indexing", metric: "salvage backfill events/s (Ponder's backfill duration, RPC included)", value: round(backfillS, 0), unit: "events/s", setup },
    { bench: "3 indexing", metric: "plain backfill events/s", value: round(backfillP, 0), unit: "events/s", setup },
    { bench: "3 indexing", metric: "backfill ratio salvage/plain", value: round(backfillS / backfillP, 3), unit: "x", setup },
    { bench: "3 indexing", metric: "salvage transform events/s (ponder_historical_transform_duration)", value: round(transformS, 0), unit: "events/s", setup },
    { bench: "3 indexing", metric: "plain transform events/s", value: round(transformP, 0), unit: "events/s", setup },
    { bench: "3 indexing", metric: "transform ratio salvage/plain", value: round(transformS / transformP, 3), unit: "x", setup },
  ];
  return {
    name: "throughput",
    figures,
    details: { runs, eventCountsMatch: mismatched.length === 0, mismatchedEvents: mismatched },
    skipped: mismatched.length ? [`event counts differ between the apps for ${mismatched.join(", ")}`] : [],
  };
}
