/**
 * The relayer's configuration, validated with zod at the boundary. Money and prices are decimal strings
 * turned into WAD bigints (never floats); keys come from the environment and are never logged.
 */
import { hostname } from "node:os";
import { type Hex, parseUnits } from "viem";
import { z } from "zod";
import { formatIssues, type Manifest, manifestSchema, readManifest } from "../deployment/manifest.js";
import { DEFAULT_REDELIVERY_BUDGET } from "../layerzero/redeliver.js";
import { DEFAULT_STALL_RULE } from "../layerzero/stall.js";
import type { PolicyConfig } from "./policy.js";

const usd = z
  .string()
  .regex(/^\d+(\.\d{1,18})?$/, "must be a decimal USD amount like 25 or 0.5")
  .transform((s) => parseUnits(s, 18));
/** Like usd, but may be negative: a protocol's own keeper may accept a small loss to clear dust positions. */
const signedUsd = z
  .string()
  .regex(/^-?\d+(\.\d{1,18})?$/, "must be a decimal USD amount like 25, 0.5 or -10")
  .transform((s) => parseUnits(s, 18));
const privateKey = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "must be a 32-byte hex private key").transform((s) => s as Hex);

export const relayerConfigSchema = z.object({
  /** A manifest, or the path of one. */
  manifest: z.union([z.string().min(1), manifestSchema]),
  database: z
    .object({
      /** PostgreSQL connection string; PGlite when absent. */
      url: z.string().url().optional(),
      /** PGlite data directory; with neither url nor pgliteDir, `memory: true` must say that losing the state on exit is intended. */
      pgliteDir: z.string().optional(),
      /** Keep the relayer's state in memory only (tests, throwaway runs): a restart forgets every recovery. */
      memory: z.boolean().default(false),
      schema: z.string().regex(/^[a-z_][a-z0-9_]*$/, "must be a lower-case SQL identifier").default("salvage_relayer"),
    })
    .default({}),
  keys: z.object({
    /** Signs kicks and takes on the hub. */
    taker: privateKey,
    /** Verifies and executes packets on chains with a local message library (the devnet). */
    verifier: privateKey.optional(),
  }),
  /** Receives seized collateral on every spoke; the taker's address when absent. */
  receiver: z.string().regex(/^0x[0-9a-fA-F]{40}$/).optional(),
  /** An executor (contracts/SalvageExecutor.sol) owned by the taker; the relayer deploys one when absent. */
  executor: z.string().regex(/^0x[0-9a-fA-F]{40}$/, "must be a 20-byte hex address").optional(),
  /** The salvage indexer's API (its opportunity feed is the primary detection source); the hub scanner alone when absent. */
  indexerUrl: z.string().url().optional(),
  /** The feed is not trusted when the indexer is more than this many hub blocks behind the hub. */
  maxFeedLagBlocks: z.number().int().min(0).default(3),
  /**
   * Backrun feed updates: accounts that a price update still in the hub's pool puts under HF 1 are read at the
   * pending state and taken in the update's own block, by batches that offer no higher fees than the update
   * (src/recovery/detection/pending.ts). Needs a hub node that shows its pool (eth_newPendingTransactionFilter).
   */
  backrun: z.boolean().default(true),
  /**
   * When a pathway to a collateral chain is stalled (src/layerzero/stall.ts): its oldest SEIZE in flight is older
   * than factor × its p99 delivery time within [minSeconds, maxSeconds] (maxSeconds before minSamples deliveries).
   * The relayer takes nothing more whose collateral must cross a stalled pathway until it clears.
   */
  pathwayStall: z
    .object({
      factor: z.number().positive().max(1_000).default(DEFAULT_STALL_RULE.factor),
      minSeconds: z.number().int().positive().default(DEFAULT_STALL_RULE.minSeconds),
      maxSeconds: z.number().int().positive().default(DEFAULT_STALL_RULE.maxSeconds),
      minSamples: z.number().int().min(1).default(DEFAULT_STALL_RULE.minSamples),
    })
    .refine((r) => r.minSeconds <= r.maxSeconds, { message: "minSeconds exceeds maxSeconds", path: ["minSeconds"] })
    .default({}),
  /**
   * The guardian's retry of a SEIZE whose lzReceive failed on its spoke (LzReceiveAlert), paid by the taker on that
   * chain: on by default where salvage does not deliver itself (src/layerzero/redeliver.ts). Each retry gets the gas
   * the node estimates plus 25 %, never more than maxGas; at most maxAttempts transactions a packet.
   */
  redelivery: z
    .object({
      enabled: z.boolean().optional(),
      maxGas: z.coerce.bigint().positive().default(DEFAULT_REDELIVERY_BUDGET.maxGas),
      maxAttempts: z.number().int().min(1).max(100).default(DEFAULT_REDELIVERY_BUDGET.maxAttempts),
      intervalMs: z.number().int().positive().default(DEFAULT_REDELIVERY_BUDGET.intervalMs),
    })
    .default({}),
  workerId: z.string().min(1).default(`${hostname()}-${process.pid}`),
  policy: z
    .object({
      minProfitUsd: signedUsd.default("1"),
      maxExposureUsd: usd.default("10000000"),
      maxExposureUsdByEid: z.record(z.string().regex(/^\d+$/), usd).default({}),
      priceRiskBpsPerMinute: z.coerce.bigint().nonnegative().default(10n),
      expectedDeliverySeconds: z.coerce.bigint().nonnegative().default(30n),
      takeGas: z.coerce.bigint().positive().default(450_000n),
      minSeizeBps: z.coerce.bigint().min(0n).max(10_000n).default(9_900n),
    })
    .default({}),
  /** USD price of the hub's native token, for gas and LayerZero fees. */
  hubNativePriceUsd: usd.default("3000"),
  /** Deliver LayerZero packets ourselves; on by default where every chain has a local message library. */
  deliver: z.boolean().optional(),
  pollIntervalMs: z.number().int().positive().default(500),
  /** Largest share of the hub's block gas limit one batch of kicks and takes may use. */
  batchGasShare: z.number().gt(0).max(1).default(1 / 6),
  /** Most orders (accounts) in one batch transaction. */
  maxBatchOrders: z.number().int().min(1).max(500).default(128),
  /** The most any fee bump offers per gas (gwei); each batch's own cap follows its plan's profit below this. */
  maxFeePerGasGwei: z.coerce.bigint().positive().default(500n),
  /** A worker's hold on a recovery; it must exceed confirmTimeoutMs. */
  leaseMs: z.number().int().positive().default(60_000),
  confirmTimeoutMs: z.number().int().positive().default(20_000),
  bumpAfterMs: z.number().int().positive().default(15_000),
});

export type RelayerConfigInput = z.input<typeof relayerConfigSchema>;

export interface RelayerConfig extends Omit<z.output<typeof relayerConfigSchema>, "manifest" | "policy"> {
  manifest: Manifest;
  policy: PolicyConfig;
}

export function parseRelayerConfig(input: unknown): RelayerConfig {
  const result = relayerConfigSchema.safeParse(input);
  if (!result.success) throw new Error(`invalid relayer config:\n${formatIssues(result.error)}`);
  const c = result.data;
  if (c.leaseMs <= c.confirmTimeoutMs) throw new Error(`invalid relayer config:\nleaseMs: must exceed confirmTimeoutMs (${c.confirmTimeoutMs})`);
  if (!c.database.url && !c.database.pgliteDir && !c.database.memory) {
    throw new Error("invalid relayer config:\ndatabase: give url (PostgreSQL) or pgliteDir (a durable PGlite directory), or memory: true to keep the state in memory only");
  }
  const manifest = typeof c.manifest === "string" ? readManifest(c.manifest) : c.manifest;
  const byEid = Object.fromEntries(Object.entries(c.policy.maxExposureUsdByEid).map(([eid, v]) => [Number(eid), v]));
  return {
    ...c,
    manifest,
    policy: {
      minProfitUsd: c.policy.minProfitUsd,
      maxExposureUsd: { default: c.policy.maxExposureUsd, byEid },
      priceRiskBpsPerMinute: c.policy.priceRiskBpsPerMinute,
      expectedDeliverySeconds: c.policy.expectedDeliverySeconds,
      takeGas: c.policy.takeGas,
      minSeizeBps: c.policy.minSeizeBps,
    },
  };
}

/** Keys from the environment: SALVAGE_TAKER_KEY and, for local delivery, SALVAGE_VERIFIER_KEY. */
export function keysFromEnv(env: NodeJS.ProcessEnv = process.env): { taker?: string; verifier?: string } {
  return { taker: env.SALVAGE_TAKER_KEY, verifier: env.SALVAGE_VERIFIER_KEY };
}
