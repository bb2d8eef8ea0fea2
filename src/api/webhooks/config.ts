/**
 * Webhook settings, from the environment of the API (Ponder) process:
 *
 *   SALVAGE_ADMIN_TOKEN             enables webhooks: the bearer token of the /salvage/webhooks routes (unset: 503)
 *   SALVAGE_WEBHOOK_RETRY_MS        backoff base: attempt n fails → next attempt after base·2^(n-1) (default 1000)
 *   SALVAGE_WEBHOOK_MAX_ATTEMPTS    attempts before a delivery is marked failed (default 3)
 *   SALVAGE_WEBHOOK_TIMEOUT_MS      per request (default 5000)
 *   SALVAGE_WEBHOOK_CONCURRENCY     requests in flight per process (default 8); one hook gets at most half
 *   SALVAGE_WEBHOOK_POLL_MS         how often the sender looks for due deliveries it was not told about (default 1000)
 *   DATABASE_URL                    PostgreSQL (schema salvage_webhooks), else PGlite beside Ponder's own directory
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { isLoopbackUrl } from "../../deployment/manifest.js";
import { loadIndexerManifest } from "../../indexer/manifest.js";

export const WEBHOOK_SCHEMA = "salvage_webhooks";

export interface WebhookConfig {
  retryMs: number;
  maxAttempts: number;
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

/** The admin token, or undefined when webhooks are disabled. */
export function adminToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const token = env.SALVAGE_ADMIN_TOKEN?.trim();
  return token ? token : undefined;
}

export function webhookConfig(env: NodeJS.ProcessEnv = process.env): WebhookConfig {
  const timeoutMs = int(env, "SALVAGE_WEBHOOK_TIMEOUT_MS", 5_000, 100, 120_000);
  const concurrency = int(env, "SALVAGE_WEBHOOK_CONCURRENCY", 8, 1, 256);
  return {
    retryMs: int(env, "SALVAGE_WEBHOOK_RETRY_MS", 1_000, 1, 3_600_000),
    maxAttempts: int(env, "SALVAGE_WEBHOOK_MAX_ATTEMPTS", 3, 1, 50),
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
