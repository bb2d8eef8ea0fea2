/**
 * Webhook settings, from the environment of the API (Ponder) process:
 *
 *   SALVAGE_ADMIN_TOKEN               enables webhooks: the bearer token of the /salvage/webhooks routes (unset: 503)
 *   SALVAGE_WEBHOOK_RETRY_SCHEDULE    waits before each retry, comma-separated durations (ms, s, m, h, d), or "none";
 *                                     the first attempt is immediate; attempts = entries + 1
 *                                     (default: the Standard Webhooks schedule 5s,5m,30m,2h,5h,10h,14h,20h,24h)
 *   SALVAGE_WEBHOOK_SECRET_OVERLAP    how long a rotated-out secret keeps signing beside the new one (default 24h)
 *   SALVAGE_WEBHOOK_ALLOW_PRIVATE     true: deliver to any address (default false: loopback, private, link-local,
 *                                     unspecified, CGNAT and metadata addresses are refused)
 *   SALVAGE_WEBHOOK_ALLOW_CIDRS       comma-separated addresses or CIDRs allowed even so (e.g. 127.0.0.1/32,10.1.0.0/16)
 *   SALVAGE_WEBHOOK_TIMEOUT_MS        per request (default 5000)
 *   SALVAGE_WEBHOOK_CONCURRENCY       requests in flight per process (default 8); one hook gets at most half
 *   SALVAGE_WEBHOOK_POLL_MS           how often the sender looks for due deliveries it was not told about (default 1000)
 *   DATABASE_URL                      PostgreSQL (schema salvage_webhooks), else PGlite beside Ponder's own directory
 *
 * A malformed value throws an error naming its variable.
 */
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { resolve } from "node:path";
import { isLoopbackUrl } from "../../deployment/manifest.js";
import { loadIndexerManifest } from "../../indexer/manifest.js";

export const WEBHOOK_SCHEMA = "salvage_webhooks";

/** The Standard Webhooks example schedule: after the immediate attempt, retries 5 s, 5 min, … 24 h apart (~3 days). */
export const DEFAULT_RETRY_SCHEDULE = "5s,5m,30m,2h,5h,10h,14h,20h,24h";
export const DEFAULT_SECRET_OVERLAP = "24h";

/** Which destination addresses deliveries may reach besides public ones. */
export interface DestinationSettings {
  allowPrivate: boolean;
  /** Addresses or CIDRs allowed although refused by default, as [address, prefix, family]. */
  allowCidrs: readonly (readonly [string, number, "ipv4" | "ipv6"])[];
}

export interface WebhookConfig {
  /** Milliseconds to wait after failed attempt n before attempt n+1 (index n-1). */
  retrySchedule: readonly number[];
  /** retrySchedule.length + 1. */
  maxAttempts: number;
  /** How long a rotated-out secret keeps signing beside the new one, by default. */
  secretOverlapMs: number;
  destinations: DestinationSettings;
  timeoutMs: number;
  concurrency: number;
  /** Requests in flight to one hook, so one dead receiver cannot take every slot. */
  perHookConcurrency: number;
  pollMs: number;
  /** A claimed delivery is someone else's to retry after this long (longer than any request). */
  leaseMs: number;
  databaseUrl?: string;
  pgliteDir?: string;
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  return n;
}

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DAY_MS = UNIT_MS.d;

/** "500ms", "5s", "30m", "2h", "1d" → milliseconds; undefined if malformed. */
export function parseDuration(raw: string): number | undefined {
  const m = /^(\d{1,9})(ms|s|m|h|d)$/.exec(raw.trim());
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : undefined;
}

function duration(env: NodeJS.ProcessEnv, name: string, fallback: string, maxMs: number): number {
  const raw = env[name] === undefined || env[name] === "" ? fallback : env[name]!;
  const ms = parseDuration(raw);
  if (ms === undefined || ms > maxMs) throw new Error(`${name} must be a duration such as 30s, 15m or 24h (at most ${maxMs / DAY_MS} days), got ${JSON.stringify(raw)}`);
  return ms;
}

function schedule(env: NodeJS.ProcessEnv, name: string): number[] {
  const raw = env[name] === undefined || env[name]!.trim() === "" ? DEFAULT_RETRY_SCHEDULE : env[name]!.trim();
  if (raw === "none") return [];
  const parts = raw.split(",");
  if (parts.length > 30) throw new Error(`${name} lists at most 30 retries, got ${parts.length}`);
  return parts.map((part, i) => {
    const ms = parseDuration(part);
    if (ms === undefined || ms > 7 * DAY_MS) {
      throw new Error(`${name}: entry ${i + 1} (${JSON.stringify(part.trim())}) must be a duration such as 500ms, 5s, 5m or 2h (at most 7d); e.g. ${DEFAULT_RETRY_SCHEDULE}, or "none"`);
    }
    return ms;
  });
}

function bool(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === "" || raw === "false" || raw === "0") return false;
  if (raw === "true" || raw === "1") return true;
  throw new Error(`${name} must be true or false, got ${JSON.stringify(env[name])}`);
}

function cidrs(env: NodeJS.ProcessEnv, name: string): DestinationSettings["allowCidrs"] {
  const raw = env[name]?.trim();
  if (!raw) return [];
  return raw.split(",").map((part) => {
    const [address = "", prefix, extra] = part.trim().split("/");
    const version = isIP(address);
    const bits = version === 4 ? 32 : 128;
    const n = prefix === undefined ? bits : /^\d{1,3}$/.test(prefix) ? Number(prefix) : Number.NaN;
    if (version === 0 || extra !== undefined || !(n >= 0 && n <= bits)) {
      throw new Error(`${name}: ${JSON.stringify(part.trim())} is not an IP address or CIDR (e.g. 127.0.0.1/32, 10.1.0.0/16, fd12::/64)`);
    }
    return [address, n, version === 4 ? "ipv4" : "ipv6"] as const;
  });
}

/** The admin token, or undefined when webhooks are disabled. */
export function adminToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const token = env.SALVAGE_ADMIN_TOKEN?.trim();
  return token ? token : undefined;
}

export function webhookConfig(env: NodeJS.ProcessEnv = process.env): WebhookConfig {
  const timeoutMs = int(env, "SALVAGE_WEBHOOK_TIMEOUT_MS", 5_000, 100, 120_000);
  const concurrency = int(env, "SALVAGE_WEBHOOK_CONCURRENCY", 8, 1, 256);
  for (const replaced of ["SALVAGE_WEBHOOK_RETRY_MS", "SALVAGE_WEBHOOK_MAX_ATTEMPTS"]) {
    if (env[replaced]) throw new Error(`${replaced} is no longer read: set SALVAGE_WEBHOOK_RETRY_SCHEDULE (the waits before each retry, e.g. ${DEFAULT_RETRY_SCHEDULE})`);
  }
  const retrySchedule = schedule(env, "SALVAGE_WEBHOOK_RETRY_SCHEDULE");
  return {
    retrySchedule,
    maxAttempts: retrySchedule.length + 1,
    secretOverlapMs: duration(env, "SALVAGE_WEBHOOK_SECRET_OVERLAP", DEFAULT_SECRET_OVERLAP, 30 * DAY_MS),
    destinations: { allowPrivate: bool(env, "SALVAGE_WEBHOOK_ALLOW_PRIVATE"), allowCidrs: cidrs(env, "SALVAGE_WEBHOOK_ALLOW_CIDRS") },
    timeoutMs,
    concurrency,
    perHookConcurrency: Math.max(1, Math.floor(concurrency / 2)),
    pollMs: int(env, "SALVAGE_WEBHOOK_POLL_MS", 1_000, 10, 60_000),
    leaseMs: 2 * timeoutMs + 10_000,
    ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : { pgliteDir: webhookPgliteDir(env) }),
  };
}

/**
 * PGlite directory of the webhook store: a sibling of Ponder's own PGlite directory (chosen as in
 * ponder.config.ts: SALVAGE_PGLITE_DIR, else one directory per devnet deployment, else Ponder's default
 * .ponder/pglite), suffixed `-webhooks`. Ponder's directory cannot be shared: PGlite is single-process.
 */
export function webhookPgliteDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SALVAGE_PGLITE_DIR) return `${resolve(env.SALVAGE_PGLITE_DIR)}-webhooks`;
  const { manifest } = loadIndexerManifest();
  if (!manifest.chains.every((c) => isLoopbackUrl(c.rpcUrl))) return resolve(".ponder/pglite-webhooks");
  // Same id as ponder.config.ts: a redeployed devnet reuses chain ids with new contents.
  const id = createHash("sha256")
    .update(JSON.stringify(manifest.chains.map((c) => [c.chainId, c.contracts.endpoint, c.contracts.hub ?? c.contracts.spoke, c.startBlock])))
    .update(manifest.createdAt)
    .digest("hex")
    .slice(0, 12);
  return resolve(`.ponder/pglite-devnet-${id}-webhooks`);
}
