/**
 * The API's side of the protocol seam: what the salvage API serves of one lending protocol deployment, in its
 * protocol-neutral types (AccountHealth, Opportunity, Recoveries, LiquidationLevels: src/api/salvage-graphql.ts), each
 * read in the request's snapshot and true at its hub block. The reference protocol (src/api/hub-spoke/) reads what
 * its handlers keep (health stored per account); the hub-accounted market (src/api/hub-accounted/) values its book at
 * the block, since its debt grows every second. A new protocol is one more folder here and one line in `protocols()`.
 *
 * The GraphQL's `protocol` arguments, the feed's per-event opportunity and the REST answers choose the
 * implementation by deployment name through `protocolAnswers`; what has no protocol (chains, pathways, the feed's
 * log) stays outside the seam.
 */
import type { Address } from "viem";
import { REFERENCE_PROTOCOL } from "../deployment/manifest.js";
import { loadIndexerManifest } from "../indexer/manifest.js";
import type { ProtocolKind } from "../indexer/protocol.js";
import { hubAccountedDeployments } from "../protocols/hub-accounted/indexing/contracts.js";
import { hubAccountedAnswers } from "./hub-accounted/answers.js";
import { hubSpokeAnswers } from "./hub-spoke/answers.js";
import type { OpportunityJson, PriceFields, healthOut } from "./json.js";
import type { LevelsArgs, LevelsJson } from "./liquidation-levels.js";
import { type AtRiskArgs, type Opportunity, type OpportunityArgs, QueryError } from "./queries.js";
import type { RecoveriesJson } from "./recoveries.js";
import type { SolvencyJson } from "./solvency.js";
import { type Snapshot, type asOf, atOneBlock } from "./snapshot.js";

type AsOf = ReturnType<typeof asOf>;
type PageInfo = { hasNextPage: boolean; endCursor: string | null };
/** GraphQL AccountHealth (the reference's health rows have the widest shape; others fill what they compute). */
export type AccountHealthJson = ReturnType<typeof healthOut> & { protocol: string };
export type AtRiskPageJson = { items: AccountHealthJson[]; pageInfo: PageInfo; totalCount: number } & AsOf;
export type OpportunityPageJson = { items: (OpportunityJson & PriceFields)[]; pageInfo: PageInfo } & AsOf;

/** One lending protocol deployment as the API serves it. Every answer reads in `snapshot` and is true at its hub block. */
export interface ProtocolAnswers {
  /** The deployment's name: "reference", or a name from the manifest's `protocols`. */
  readonly name: string;
  readonly kind: ProtocolKind;
  /** Accounts with health strictly under args.maxHealthFactor, by HF then address. */
  atRiskAccounts(args: AtRiskArgs, snapshot: Snapshot): Promise<AtRiskPageJson>;
  /** Accounts liquidatable now, each with the liquidation the protocol would make at the block. */
  opportunities(args: OpportunityArgs, snapshot: Snapshot): Promise<OpportunityPageJson>;
  /** That liquidation for each of `accounts` liquidatable at the block, by lower-case address (the feed's events). */
  liquidationsOf(accounts: readonly Address[], snapshot: Snapshot): Promise<Map<string, Opportunity>>;
  /** Its liquidations by where their collateral is, the latest `first` of them, and bad debt written off. */
  recoveries(first: number, snapshot: Snapshot): Promise<RecoveriesJson & { protocol: string }>;
  /** What becomes liquidatable per bin of one asset's price drop, other prices fixed. */
  liquidationLevels(args: LevelsArgs, snapshot: Snapshot): Promise<LevelsJson & { protocol: string }>;
  /** Bad debt written off and the reserve per debt asset, and the accounts under water at the block. */
  solvency(snapshot: Snapshot): Promise<SolvencyJson & { protocol: string }>;
  /** The assets its hub lists as collateral (liquidation threshold above zero), by id: what levels can be asked of. */
  collateralAssets(snapshot: Snapshot): Promise<AssetJson[]>;
}

export interface AssetJson {
  assetId: number;
  symbol: string | null;
  decimals: number;
}

/** Every protocol deployment the index serves: the reference, then the manifest's `protocols` in order. */
export function protocols(): ProtocolAnswers[] {
  return [hubSpokeAnswers, ...hubAccountedDeployments(loadIndexerManifest().manifest).map((p) => hubAccountedAnswers(p.name))];
}

/** GraphQL `protocols` (each one's collateral assets resolved by the Protocol type). */
export const protocolsJson = () => protocols().map((p) => ({ name: p.name, kind: p.kind }));

/** The deployment named `name` (the reference when absent); a QueryError naming `argument` for an unknown name. */
export function protocolAnswers(name: string | null | undefined, argument = "protocol"): ProtocolAnswers {
  const all = protocols();
  const found = all.find((p) => p.name === (name ?? REFERENCE_PROTOCOL));
  if (!found) throw new QueryError(`${argument} must be one of ${all.map((p) => p.name).join(", ")}, got ${JSON.stringify(String(name).slice(0, 40))}`, argument);
  return found;
}

/**
 * One answer of the deployment named `name` (the reference when absent; a QueryError for an unknown name), read in
 * one snapshot: the request's when one is open.
 */
export function answerOf<T>(name: string | null | undefined, answer: (p: ProtocolAnswers, snapshot: Snapshot) => Promise<T>): Promise<T> {
  const p = protocolAnswers(name);
  return atOneBlock((snapshot) => answer(p, snapshot));
}
