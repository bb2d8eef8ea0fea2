/**
 * The deployment manifest: every chain of a deployment with its RPC URL, LayerZero endpoint id, contract
 * addresses and start block. The devnet writes one; ponder.config.ts and the relayer read it. Real
 * deployments write the same shape by hand. Parsing is strict and every error names its field.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { type Address, getAddress, isAddress } from "viem";
import { z } from "zod";

const address = z
  .string()
  .refine((s) => isAddress(s, { strict: false }), { message: "must be a 20-byte hex address" })
  .transform((s) => getAddress(s) as Address);
/** Integers that may exceed 2^53 travel as decimal strings. */
const bigintString = z
  .union([z.string().regex(/^\d+$/, "must be a non-negative integer string"), z.number().int().nonnegative(), z.bigint().nonnegative()])
  .transform((v) => BigInt(v));
const assetId = z.number().int().min(0).max(65_535);
/** Basis points of a price move (0 to 99.99 %). */
const bps = z.number().int().min(0).max(9_999);

export const assetSchema = z.object({
  id: assetId,
  symbol: z.string().min(1),
  decimals: z.number().int().min(0).max(36),
  kind: z.enum(["debt", "collateral"]),
  feedDecimals: z.number().int().min(0).max(18),
  ltv: bigintString,
  liquidationThreshold: bigintString,
  /** Hub.listAsset's heartbeat: the largest age (seconds) of a feed answer the hub accepts for this asset. */
  heartbeat: z.number().int().min(1, "must be at least 1 second").max(4_294_967_295, "must fit a uint32 (seconds)"),
});

export const chainSchema = z.object({
  name: z.string().regex(/^[a-z][a-zA-Z0-9]*$/, "must be an identifier like hub or spoke1"),
  role: z.enum(["hub", "spoke"]),
  chainId: z.number().int().positive(),
  rpcUrl: z.string().url(),
  eid: z.number().int().positive().max(4_294_967_295),
  startBlock: z.number().int().nonnegative(),
  /**
   * Source blocks a packet sent on this chain waits before it may be verified (LayerZero's DVNs wait for
   * confirmations: 15 on Ethereum). Every PacketDeliverer built from the manifest obeys it; default 0.
   */
  lzConfirmations: z.number().int().min(0).max(10_000).default(0),
  contracts: z.object({
    endpoint: address,
    /** The SimpleMessageLib on local chains; absent where LayerZero's own libraries, DVNs and executor run. */
    messageLib: address.optional(),
    hub: address.optional(),
    spoke: address.optional(),
  }),
  /** Token address per asset id held or lent on this chain. */
  tokens: z.record(z.string().regex(/^\d+$/), address),
  /** Chainlink-style feed per asset id on this chain (the hub reads the hub chain's). */
  feeds: z.record(z.string().regex(/^\d+$/), address),
});

/**
 * A deployment of the hub-accounted money market (contracts/hub-accounted/) on the manifest's chains: its
 * AccountedHub on the hub chain and an AccountedSpoke on each spoke chain, by chain name, beside the reference
 * protocol's contracts (the chains, endpoints, feeds and tokens are shared). Its liquidation terms as set on chain.
 */
export const hubAccountedSchema = z.object({
  protocol: z.literal("hub-accounted"),
  /** Names the deployment in logs and in the API (`protocol` on every row). */
  name: z.string().regex(/^[a-z][a-z0-9-]*$/, "must be lower case letters, digits and dashes"),
  contracts: z.record(z.string(), z.object({ address, startBlock: z.number().int().nonnegative() })),
  liquidation: z.object({ closeFactor: bigintString, fullCloseBelowHf: bigintString, bonus: bigintString }),
  /** Seeded borrowers (devnet only), as `accounts` for the reference protocol. */
  accounts: z.array(address).default([]),
  /** What the devnet's crash did to this protocol's book (devnet only, when it was the one crashed). */
  crash: z.object({ factorWad: bigintString, target: z.number().int(), block: z.number().int(), liquidatable: z.array(address) }).optional(),
});

/** The reference protocol's name where protocols are named (the API's `protocol`, `salvage relay --protocol`). */
export const REFERENCE_PROTOCOL = "reference";

export const manifestSchema = z
  .object({
    version: z.literal(1),
    createdAt: z.string(),
    assets: z.array(assetSchema).min(1),
    auction: z.object({
      closeFactor: bigintString,
      minBonus: bigintString,
      maxBonus: bigintString,
      auctionDuration: bigintString,
      auctionTail: bigintString,
    }),
    chains: z.array(chainSchema).min(2),
    roles: z.object({ deployer: address, relayer: address, liquidator: address }).partial(),
    /** Further lending protocols deployed on the same chains (the reference protocol is `contracts.hub`/`spoke`). */
    protocols: z.array(z.discriminatedUnion("protocol", [hubAccountedSchema])).default([]),
    /** Seeded borrowers (devnet only). */
    accounts: z.array(address).default([]),
    devnet: z
      .object({
        seed: z.number().int(),
        scenario: z.enum(["calm", "crash", "cascade"]),
        blockTime: z.number().nonnegative().optional(),
        /** What the crash did: the price factor and the accounts the hub reported below HF 1 right after. */
        crash: z
          .object({ factorWad: bigintString, target: z.number().int(), block: z.number().int(), liquidatable: z.array(address) })
          .optional(),
        /**
         * What the cascade did (src/devnet/cascade.ts; its step 0 is the crash above): its parameters, the hub block
         * of every step, the collateral answers before and after, and the accounts below HF 1 at its end.
         * `cascadePath` with the devnet's seed, these parameters, `startAnswers` and the crash's factor replays it.
         */
        cascade: z
          .object({
            params: z.object({
              declineBps: bps,
              blocks: z.number().int().nonnegative(),
              noiseBps: bps,
              secondLeg: z.object({ after: z.number().int().nonnegative(), crashBps: bps, blocks: z.number().int().nonnegative() }).optional(),
            }),
            steps: z.number().int().positive(),
            firstBlock: z.number().int().nonnegative(),
            lastBlock: z.number().int().nonnegative(),
            blocks: z.array(z.number().int().nonnegative()),
            phases: z.array(z.enum(["crash", "decline", "pause", "second-crash", "second-decline"])),
            startAnswers: z.record(z.string().regex(/^\d+$/), bigintString),
            endAnswers: z.record(z.string().regex(/^\d+$/), bigintString),
            liquidatable: z.array(address),
          })
          .superRefine((c, ctx) => {
            for (const key of ["blocks", "phases"] as const) {
              if (c[key].length !== c.steps) ctx.addIssue({ code: "custom", path: [key], message: `has ${c[key].length} entries for ${c.steps} steps` });
            }
          })
          .optional(),
      })
      .optional(),
  })
  .superRefine((m, ctx) => {
    const hubs = m.chains.filter((c) => c.role === "hub");
    if (hubs.length !== 1) ctx.addIssue({ code: "custom", path: ["chains"], message: `needs exactly one hub chain, found ${hubs.length}` });
    for (const [field, key] of [["chainId", "chainId"], ["eid", "eid"], ["name", "name"]] as const) {
      const seen = new Set<unknown>();
      m.chains.forEach((c, i) => {
        if (seen.has(c[key])) ctx.addIssue({ code: "custom", path: ["chains", i, field], message: `duplicate ${field} ${String(c[key])}` });
        seen.add(c[key]);
      });
    }
    m.chains.forEach((c, i) => {
      const needed = c.role === "hub" ? "hub" : "spoke";
      if (!c.contracts[needed]) ctx.addIssue({ code: "custom", path: ["chains", i, "contracts", needed], message: `a ${c.role} chain needs its ${needed} address` });
    });
    m.protocols.forEach((p, i) => {
      for (const name of Object.keys(p.contracts)) {
        if (!m.chains.some((c) => c.name === name)) ctx.addIssue({ code: "custom", path: ["protocols", i, "contracts", name], message: `no chain named ${name}` });
      }
      const hub = m.chains.find((c) => c.role === "hub");
      if (hub && !p.contracts[hub.name]) ctx.addIssue({ code: "custom", path: ["protocols", i, "contracts"], message: `needs its hub on chain ${hub.name}` });
      if (m.protocols.findIndex((q) => q.name === p.name) !== i) ctx.addIssue({ code: "custom", path: ["protocols", i, "name"], message: `duplicate protocol name ${p.name}` });
    });
  });

export type Manifest = z.output<typeof manifestSchema>;
export type ManifestInput = z.input<typeof manifestSchema>;
export type ManifestChain = Manifest["chains"][number];
export type ManifestAsset = Manifest["assets"][number];
export type HubAccountedManifest = z.output<typeof hubAccountedSchema>;

/** Renders zod issues as one line per bad field, e.g. `chains.1.rpcUrl: Invalid url`. */
export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("\n");
}

export function parseManifest(value: unknown, source = "manifest"): Manifest {
  const result = manifestSchema.safeParse(value);
  if (!result.success) throw new Error(`invalid ${source}:\n${formatIssues(result.error)}`);
  return result.data;
}

export function readManifest(path: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new Error(`cannot read deployment manifest ${path}: ${(error as Error).message}`);
  }
  return parseManifest(raw, `deployment manifest ${path}`);
}

export function serializeManifest(manifest: Manifest): string {
  return `${JSON.stringify(manifest, (_key, v) => (typeof v === "bigint" ? v.toString() : v), 2)}\n`;
}

export function writeManifest(path: string, manifest: Manifest): void {
  writeFileSync(path, serializeManifest(manifest));
}

/** Whether an RPC URL points at this machine (a devnet), where devnet keys and shortcuts are allowed. */
export function isLoopbackUrl(rpcUrl: string): boolean {
  return ["127.0.0.1", "localhost", "[::1]", "::1"].includes(new URL(rpcUrl).hostname);
}

export function hubChain(manifest: Manifest): ManifestChain {
  return manifest.chains.find((c) => c.role === "hub")!;
}

export function spokeChains(manifest: Manifest): ManifestChain[] {
  return manifest.chains.filter((c) => c.role === "spoke");
}

export function chainByEid(manifest: Manifest, eid: number): ManifestChain | undefined {
  return manifest.chains.find((c) => c.eid === eid);
}
