/** Shared pieces of the benchmarks: statistics, machine description, logging, a result record. */
import { readFileSync } from "node:fs";
import { cpus, freemem, totalmem, loadavg, release } from "node:os";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** Nearest-rank percentile of `values` (p in [0, 100]); undefined for an empty list. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

export const median = (values: readonly number[]) => percentile(values, 50);

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  freeMemoryGiBAtStart: number;
  loadAverage1mAtStart: number;
  node: string;
  kernel: string;
}

export function machine(): Machine {
  const c = cpus();
  return {
    cpus: c.length,
    cpuModel: c[0]?.model.trim() ?? "unknown",
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeMemoryGiBAtStart: Math.round((freemem() / 2 ** 30) * 10) / 10,
    loadAverage1mAtStart: Math.round(loadavg()[0]! * 100) / 100,
    node: process.version,
    kernel: release(),
  };
}

/** One line of the results table. `value` is what was measured; nothing here is derived from another run. */
export interface Figure {
  bench: string;
  metric: string;
  value: number | string;
  unit: string;
  /** Chain setup, sizes and how it was measured. */
  setup: string;
}

export interface BenchResult {
  name: string;
  figures: Figure[];
  /** Raw samples and details for results.json. */
  details: Record<string, unknown>;
  /** Sizes or parts not run, and why. */
  skipped: string[];
}

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Client-side latency of one request, sent to body read (ms); a non-200 answer or a GraphQL error throws. */
export async function timed(fn: () => Promise<Response>): Promise<number> {
  const t = performance.now();
  const res = await fn();
  const body = await res.text();
  const ms = performance.now() - t;
  if (res.status !== 200 || body.includes('"errors"')) throw new Error(`query failed (${res.status}): ${body.slice(0, 300)}`);
  return ms;
}

/** Peak resident set size (VmHWM) and current RSS of a process, in MiB, from /proc. */
export function memoryOf(pid: number): { peakRssMiB: number; rssMiB: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
    return { peakRssMiB: round(kb("VmHWM") / 1024, 1), rssMiB: round(kb("VmRSS") / 1024, 1) };
  } catch {
    return undefined;
  }
}

