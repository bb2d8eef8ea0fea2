/**
 * The relayer's configuration, validated with zod at the boundary. Money and prices are decimal strings
 * turned into WAD bigints (never floats); keys come from the environment and are never logged.
 */
import { hostname } from "node:os";
import { type Hex, parseUnits } from "viem";
import { z } from "zod";
import { formatIssues, type Manifest, manifestSchema, readManifest } from "../deployment/manifest.js";
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
      /** PGlite data directory (in memory when absent). */
      pgliteDir: z.string().optional(),
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
  /** Recoveries driven at once by this process. */
  concurrency: z.number().int().min(1).max(64).default(4),
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
