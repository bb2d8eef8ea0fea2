/**
 * `salvage/client`: a small typed client of the salvage API for liquidators.
 *
 *   const salvage = createSalvageClient({ url: "http://127.0.0.1:42069" });
 *   for await (const e of salvage.opportunities({ filter: { kinds: ["liquidatable"], minProfitUsd: "5" } })) {
 *     e.opportunity?.seizeAmount; // bigint, base units of e.opportunity.collateral
 *   }
 *
 * Subscriptions run over Server-Sent Events (GraphQL over SSE, /salvage/graphql) and never miss an event:
 * the client starts from the log's newest event id, remembers the id of every event it yields, and after a
 * dropped connection resubscribes with `since` = that id, so the server replays exactly what was missed.
 * Every event is validated (zod) and its amounts, ratios and values come out as bigint.
 *
 * Nothing here runs on import (Ponder loads every module under src/ except src/api/).
 */
import { createParser } from "eventsource-parser";
import { z } from "zod";

export { signWebhook, verifyWebhook } from "./webhook.js";
export type { SignWebhookInput, SignedWebhookHeaders, VerifyWebhookInput, VerifyWebhookResult, WebhookHeaderSource } from "./webhook.js";

const big = z.string().regex(/^-?\d+$/, "must be an integer string").transform((s) => BigInt(s));
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "must be an address") as unknown as z.ZodType<`0x${string}`>;

export const opportunitySchema = z.object({
  /** The lending protocol ("reference", or a name from the index's `protocols`). */
  protocol: z.string(),
  account: address,
  healthFactor: big,
  collateralValue: big,
  debtValue: big,
  collateral: z.object({ chainId: z.number().int(), eid: z.number().int(), assetId: z.number().int(), symbol: z.string().nullable(), decimals: z.number().int(), amount: big, valueUsd: big, priceWad: big }),
  debt: z.object({ assetId: z.number().int(), symbol: z.string().nullable(), decimals: z.number().int(), amount: big, valueUsd: big, priceWad: big }),
  maxRepay: big,
  /** The close factor applied (WAD). */
  closeFactor: big,
  repayAmount: big,
  seizeAmount: big,
  profitUsd: big,
  auctionStatus: z.enum(["none", "active", "expired", "instant"]),
  auctionId: big.nullable(),
  auctionStartedAt: big.nullable(),
  bonus: big,
  minBonus: big,
  maxBonus: big,
  auctionDuration: big,
  maxBonusAt: big.nullable(),
  expiresAt: big.nullable(),
  blockNumber: big,
  timestamp: big,
  chainId: z.number().int(),
});
export type Opportunity = z.output<typeof opportunitySchema>;

const eventPosition = {
  id: z.string(),
  chainId: z.number().int(),
  blockNumber: big,
  logIndex: z.number().int(),
  timestamp: big,
};

/** An event about an account: its health crossed, moved or recovered, or its auction was kicked. */
export const accountEventSchema = z.object({
  ...eventPosition,
  account: address,
  /** The lending protocol ("reference", or a name from the index's `protocols`). */
  protocol: z.string(),
  kind: z.enum(["liquidatable", "updated", "healthy", "kicked"]),
  healthFactor: big,
  previousHealthFactor: big.nullable(),
  debtValue: big,
  opportunity: opportunitySchema.nullable(),
  pathway: z.null().optional(),
});

/** A block the index has processed: what an answer is as of. */
export const blockSchema = z.object({ chainId: z.number().int(), number: big, timestamp: big });
export type IndexedBlock = z.output<typeof blockSchema>;

/** A LayerZero pathway that became stalled (with why) or cleared, judged at the destination's indexed block `asOf`. */
export const feedPathwaySchema = z.object({
  srcEid: z.number().int(),
  dstEid: z.number().int(),
  srcChainId: z.number().int(),
  dstChainId: z.number().int(),
  reason: z.enum(["nonce blocked", "oldest in flight past the bound"]).nullable(),
  asOf: blockSchema,
});
export type FeedPathway = z.output<typeof feedPathwaySchema>;

/** An event about a LayerZero pathway: `stalled` or `cleared`; no account. */
export const pathwayEventSchema = z.object({
  ...eventPosition,
  account: z.null(),
  protocol: z.null(),
  kind: z.enum(["stalled", "cleared"]),
  healthFactor: z.null(),
  previousHealthFactor: z.null(),
  debtValue: z.null(),
  opportunity: z.null(),
  pathway: feedPathwaySchema,
});

export const opportunityEventSchema = z.discriminatedUnion("kind", [accountEventSchema, pathwayEventSchema]);
/** One feed event: amounts in base units, ratios and USD values in WAD, all bigint. Narrow on `kind` (or `account`). */
export type OpportunityEvent = z.output<typeof opportunityEventSchema>;
export type AccountEvent = z.output<typeof accountEventSchema>;
export type PathwayEvent = z.output<typeof pathwayEventSchema>;

export const accountHealthSchema = z.object({
  /** The lending protocol ("reference", or a name from the index's `protocols`). */
  protocol: z.string(),
  address,
  healthFactor: big,
  collateralValue: big,
  thresholdValue: big,
  borrowPower: big,
  debtValue: big,
  liquidationPriceWad: big.nullable(),
  shockWad: big.nullable(),
  updatedBlock: big,
  updatedAt: big,
});
export type AccountHealth = z.output<typeof accountHealthSchema>;

/**
 * One page of `atRiskAccounts`, read in one database snapshot: every item is the hub's state at `block` (null only
 * before the index has a block); `chainBlocks` is every chain's indexed block in the same snapshot, hub first.
 */
export const atRiskPageSchema = z.object({
  items: z.array(accountHealthSchema),
  pageInfo: z.object({ endCursor: z.string().nullable(), hasNextPage: z.boolean() }),
  totalCount: z.number().int(),
  block: blockSchema.nullable(),
  chainBlocks: z.array(blockSchema),
});
export type AtRiskPage = z.output<typeof atRiskPageSchema>;

export interface AtRiskArgs {
  /** The lending protocol: "reference" (the default) or a name from the index's `protocols`. */
  protocol?: string;
  /** Decimal HF bound, exclusive (default "1"). */
  maxHealthFactor?: string;
  chainId?: number;
  asset?: number;
  /** Decimal USD. */
  minDebtUsd?: string;
  first?: number;
  after?: string;
  signal?: AbortSignal;
}

export type EventKind = OpportunityEvent["kind"];
/** The event type of kind(s) K: `AccountEvent` for account kinds, `PathwayEvent` for `stalled` / `cleared`. */
export type EventOf<K extends EventKind> = K extends AccountEvent["kind"] ? AccountEvent & { kind: K } : PathwayEvent & { kind: K };

/**
 * The filter of the `opportunities` subscription (decimals as strings, as on the wire). Pathway events (`stalled`,
 * `cleared`) pass `accounts`, `minProfitUsd` and `minDebtUsd`, and `chainId` when the pathway starts or ends on that
 * chain: select with `kinds`.
 */
export interface OpportunityFilter<K extends EventKind = EventKind> {
  kinds?: readonly K[];
  accounts?: string[];
  chainId?: number;
  minProfitUsd?: string;
  minDebtUsd?: string;
  /** Only account events of these protocols ("reference", or names from the index's `protocols`). */
  protocols?: string[];
}

const OPPORTUNITY_FIELDS = `protocol account healthFactor collateralValue debtValue
  collateral { chainId eid assetId symbol decimals amount valueUsd priceWad }
  debt { assetId symbol decimals amount valueUsd priceWad }
  maxRepay closeFactor repayAmount seizeAmount profitUsd auctionStatus auctionId auctionStartedAt
  bonus minBonus maxBonus auctionDuration maxBonusAt expiresAt blockNumber timestamp chainId`;
export const OPPORTUNITY_EVENT_FIELDS = `id account protocol kind healthFactor previousHealthFactor debtValue chainId blockNumber logIndex timestamp opportunity { ${OPPORTUNITY_FIELDS} }
  pathway { srcEid dstEid srcChainId dstChainId reason asOf { chainId number timestamp } }`;
const ACCOUNT_HEALTH_FIELDS = "protocol address healthFactor collateralValue thresholdValue borrowPower debtValue liquidationPriceWad shockWad updatedBlock updatedAt";
const BLOCK_FIELDS = "chainId number timestamp";

/** The server answered with GraphQL errors (bad argument, limit): not retried. */
export class SalvageGraphQLError extends Error {
  constructor(readonly errors: { message: string; extensions?: Record<string, unknown> }[]) {
    super(errors.map((e) => e.message).join("; "));
  }
}

export interface SalvageClientOptions {
  /** Base URL of the salvage API (Ponder's server), e.g. http://127.0.0.1:42069. */
  url: string;
  /** Extra request headers (an auth header of a proxy in front of the API). */
  headers?: Record<string, string>;
  /** Reconnect delays: from minMs doubling to maxMs (defaults 250 ms and 10 s). */
  retry?: { minMs?: number; maxMs?: number };
  fetch?: typeof fetch;
}

export interface SubscribeArgs<K extends EventKind = EventKind> {
  /** With `kinds`, the events yielded are typed as those kinds (account kinds only: `AccountEvent`). */
  filter?: OpportunityFilter<K>;
  /** Resume after this event id ("0": the whole log). Default: the log's newest event (only what follows). */
  since?: string;
  signal?: AbortSignal;
  /** Called before each reconnect with the error that ended the connection. */
  onReconnect?: (error: unknown, attempt: number) => void;
}

export function createSalvageClient(options: SalvageClientOptions) {
  const endpoint = new URL("/salvage/graphql", options.url).toString();
  const doFetch = options.fetch ?? fetch;
  const minMs = options.retry?.minMs ?? 250;
  const maxMs = options.retry?.maxMs ?? 10_000;

  async function query<T>(document: string, variables?: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
    const res = await doFetch(endpoint, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", ...options.headers },
      body: JSON.stringify({ query: document, variables }),
      signal,
    });
    const body = (await res.json()) as { data?: T; errors?: SalvageGraphQLError["errors"] };
    if (body.errors?.length) throw new SalvageGraphQLError(body.errors);
    if (!res.ok || body.data === undefined) throw new Error(`salvage API answered ${res.status}`);
    return body.data;
  }

  /** One SSE connection: yields each `next` payload's data until `complete`; throws on a dropped stream. */
  async function* stream(document: string, variables: Record<string, unknown>, signal?: AbortSignal): AsyncGenerator<Record<string, unknown>> {
    const res = await doFetch(endpoint, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", ...options.headers },
      body: JSON.stringify({ query: document, variables }),
      signal,
    });
    if (!res.ok || !res.body) throw new Error(`salvage API answered ${res.status} to a subscription`);
    const pending: { event?: string; data: string }[] = [];
    const parser = createParser({ onEvent: (e) => pending.push(e) });
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error("subscription stream ended without completing");
        parser.feed(decoder.decode(value, { stream: true }));
        while (pending.length > 0) {
          const e = pending.shift()!;
          if (e.event === "complete") return;
          if (e.event !== "next") continue;
          const payload = JSON.parse(e.data) as { data?: Record<string, unknown>; errors?: SalvageGraphQLError["errors"] };
          if (payload.errors?.length) throw new SalvageGraphQLError(payload.errors);
          if (payload.data) yield payload.data;
        }
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }

  async function latestEventId(signal?: AbortSignal): Promise<string | null> {
    return (await query<{ latestEventId: string | null }>("{ latestEventId }", undefined, signal)).latestEventId;
  }

  const pause = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
    });

  /**
   * A subscription that survives dropped connections: yields each payload parsed, and on a network error
   * waits (minMs doubling to maxMs) and subscribes again with `variables()` read anew. GraphQL and validation
   * errors are thrown, not retried; an aborted `signal` ends it.
   */
  async function* resilient<T>(
    document: string,
    variables: () => Record<string, unknown>,
    parse: (data: Record<string, unknown>) => T,
    { signal, onReconnect }: Pick<SubscribeArgs, "signal" | "onReconnect">,
  ): AsyncGenerator<T> {
    let attempt = 0;
    while (!signal?.aborted) {
      try {
        for await (const data of stream(document, variables(), signal)) {
          const item = parse(data);
          attempt = 0;
          yield item;
          if (signal?.aborted) return;
        }
        return;
      } catch (error) {
        if (signal?.aborted) return;
        if (error instanceof SalvageGraphQLError || error instanceof z.ZodError) throw error;
        onReconnect?.(error, ++attempt);
        await pause(Math.min(maxMs, minMs * 2 ** Math.min(attempt - 1, 16)), signal);
      }
    }
  }

  return {
    query,

    /** The id of the newest event in the feed's log (null when it is empty). */
    latestEventId,

    /** Accounts with HF below `maxHealthFactor`, by HF then address: one page at one block (`block`), typed. */
    async atRiskAccounts(args: AtRiskArgs = {}): Promise<AtRiskPage> {
      const { signal, ...vars } = args;
      const document = `query($maxHealthFactor: String, $chainId: Int, $asset: Int, $minDebtUsd: String, $first: Int, $after: String, $protocol: String) {
        atRiskAccounts(maxHealthFactor: $maxHealthFactor, chainId: $chainId, asset: $asset, minDebtUsd: $minDebtUsd, first: $first, after: $after, protocol: $protocol) {
          items { ${ACCOUNT_HEALTH_FIELDS} } pageInfo { endCursor hasNextPage } totalCount block { ${BLOCK_FIELDS} } chainBlocks { ${BLOCK_FIELDS} } } }`;
      const data = await query<{ atRiskAccounts: unknown }>(document, vars, signal);
      return atRiskPageSchema.parse(data.atRiskAccounts);
    },

    /** The opportunity feed, typed, gapless across reconnects; ends when `signal` aborts. */
    async *opportunities<K extends EventKind = EventKind>(args: SubscribeArgs<K> = {}): AsyncGenerator<EventOf<K>> {
      let since = args.since ?? (await latestEventId(args.signal)) ?? "0";
      const document = `subscription($filter: OpportunityFilter, $since: String) { opportunities(filter: $filter, since: $since) { ${OPPORTUNITY_EVENT_FIELDS} } }`;
      // Each reconnect asks for what followed the last event yielded.
      for await (const event of resilient(document, () => ({ filter: args.filter, since }), (data) => opportunityEventSchema.parse(data.opportunities) as EventOf<K>, args)) {
        since = event.id;
        yield event;
      }
    },

    /** One account's health now, then each change the indexer makes; reconnects on a dropped stream. */
    async *accountHealth(account: string, args: Pick<SubscribeArgs, "signal" | "onReconnect"> = {}): AsyncGenerator<AccountHealth> {
      const document = `subscription($a: String!) { accountHealth(address: $a) { ${ACCOUNT_HEALTH_FIELDS} } }`;
      yield* resilient(document, () => ({ a: account }), (data) => accountHealthSchema.parse(data.accountHealth), args);
    },
  };
}

export type SalvageClient = ReturnType<typeof createSalvageClient>;
