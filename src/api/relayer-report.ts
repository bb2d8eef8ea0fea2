/**
 * What only the relayer knows, for the recoveries answer: its recoveries by state (detected, the intents before a
 * transaction, skipped by policy, abandoned…) and its latest ones, read from the relayer's own HTTP server
 * (`salvage relayer --metrics-port`, GET /recoveries: src/recovery/report.ts) when `SALVAGE_RELAYER_URL` names it.
 *
 * The API reads the relayer over HTTP, never its code or its database: the indexer and the relayer stay apart.
 * One read serves every caller for a second; an unreachable or malformed relayer is said in `error`, never fatal.
 */
import { z } from "zod";

const RELAYER_TIMEOUT_MS = 1_000;
const FRESH_MS = 1_000;

const reportSchema = z.object({
  worker: z.string(),
  states: z.record(z.string(), z.number().int().nonnegative()),
  recent: z.array(
    z.object({
      id: z.number().int(),
      account: z.string(),
      state: z.string(),
      reason: z.string().nullable(),
      takeId: z.string().nullable(),
      guid: z.string().nullable(),
      takeTx: z.string().nullable(),
      deliverTx: z.string().nullable(),
      updatedAt: z.string(),
    }),
  ),
});

export type RelayerReport = z.infer<typeof reportSchema>;

export interface RelayerRecoveries {
  /** The report, or null when it could not be read. */
  report: RelayerReport | null;
  /** Why not (unreachable, timed out, not a report), naming the field at fault. */
  error: string | null;
}

/** SALVAGE_RELAYER_URL, checked: an http(s) URL, or undefined when unset. */
export function relayerUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = env.SALVAGE_RELAYER_URL;
  if (!raw) return undefined;
  const parsed = z.string().url().refine((u) => /^https?:/.test(u), "must be http(s)").safeParse(raw);
  if (!parsed.success) throw new Error(`SALVAGE_RELAYER_URL must be an http(s) URL (the relayer's --metrics-port server), got ${JSON.stringify(raw)}`);
  return parsed.data.replace(/\/+$/, "");
}

let last: { url: string; at: number; answer: Promise<RelayerRecoveries> } | undefined;

/** The relayer's recoveries, or null when no relayer is configured. */
export function relayerRecoveries(env: NodeJS.ProcessEnv = process.env): Promise<RelayerRecoveries> | null {
  const url = relayerUrl(env);
  if (!url) return null;
  if (last && last.url === url && Date.now() - last.at < FRESH_MS) return last.answer;
  last = { url, at: Date.now(), answer: read(`${url}/recoveries?recent=10`) };
  return last.answer;
}

async function read(url: string): Promise<RelayerRecoveries> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(RELAYER_TIMEOUT_MS) });
    if (!res.ok) return { report: null, error: `the relayer answered HTTP ${res.status}` };
    const parsed = reportSchema.safeParse(await res.json());
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return { report: null, error: `the relayer's report is malformed at ${issue.path.join(".") || "(root)"}: ${issue.message}` };
    }
    return { report: parsed.data, error: null };
  } catch (error) {
    const e = error as Error;
    return { report: null, error: e.name === "TimeoutError" ? `the relayer did not answer within ${RELAYER_TIMEOUT_MS} ms` : `the relayer is unreachable: ${e.message}` };
  }
}
