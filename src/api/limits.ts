/**
 * What bounds the API's load, so that a client cannot stall detection, the feed or the webhooks of the process
 * (and, on PGlite, of the indexer beside it). From the environment of the API process, validated at start (a bad
 * value stops it with an error naming the variable):
 *
 *   SALVAGE_RATE_LIMIT_PER_MINUTE          requests a client may make a minute on the query routes (default 1200);
 *                                          past it: 429 with Retry-After (status, readiness and metrics are not limited)
 *   SALVAGE_MAX_SUBSCRIBERS                subscriptions open at once in the process, every transport (default 10000)
 *   SALVAGE_MAX_SUBSCRIBERS_PER_CLIENT     of them from one client address (default 200)
 *   SALVAGE_MAX_SUBSCRIPTIONS_PER_SOCKET   on one WebSocket (default 20)
 *   SALVAGE_MAX_SUBSCRIBER_BUFFER_BYTES    feed events (their JSON) waiting for one subscriber before it is ended as too
 *                                          slow, told where to resume (default 8388608: 8 MiB; also at most 10,000 events)
 *   SALVAGE_STATEMENT_TIMEOUT_MS           longest database statement of an answer (default 5000; 0: none)
 *   SALVAGE_MAX_QUERY_COST                 largest cost of one GraphQL document (default 25000; src/api/query-cost.ts)
 *   SALVAGE_TRUST_PROXY                    true behind a reverse proxy: the client is X-Forwarded-For's first address
 *                                          (default false: the TCP peer)
 *
 * A refusal is an error that names the limit and its variable.
 */
import type { IncomingMessage } from "node:http";
import { GraphQLError } from "graphql";
import type { Context } from "hono";
import { z } from "zod";

const count = (fallback: number) => z.coerce.number().int().min(1).max(10_000_000).default(fallback);
const envSchema = z.object({
  SALVAGE_RATE_LIMIT_PER_MINUTE: count(1_200),
  SALVAGE_MAX_SUBSCRIBERS: count(10_000),
  SALVAGE_MAX_SUBSCRIBERS_PER_CLIENT: count(200),
  SALVAGE_MAX_SUBSCRIPTIONS_PER_SOCKET: count(20),
  SALVAGE_MAX_SUBSCRIBER_BUFFER_BYTES: z.coerce.number().int().min(1_024).max(1_073_741_824).default(8 * 1024 * 1024),
  SALVAGE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).max(3_600_000).default(5_000),
  SALVAGE_MAX_QUERY_COST: count(25_000),
  SALVAGE_TRUST_PROXY: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
});

export interface ApiLimits {
  ratePerMinute: number;
  maxSubscribers: number;
  maxSubscribersPerClient: number;
  maxSubscriptionsPerSocket: number;
  maxSubscriberBufferBytes: number;
  statementTimeoutMs: number;
  maxQueryCost: number;
  trustProxy: boolean;
}

/** The limits from `env` (empty values count as unset). */
export function parseApiLimits(env: NodeJS.ProcessEnv): ApiLimits {
  const raw = Object.fromEntries(Object.keys(envSchema.shape).map((k) => [k, env[k] === "" ? undefined : env[k]]));
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`API limits: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const e = parsed.data;
  return {
    ratePerMinute: e.SALVAGE_RATE_LIMIT_PER_MINUTE,
    maxSubscribers: e.SALVAGE_MAX_SUBSCRIBERS,
    maxSubscribersPerClient: e.SALVAGE_MAX_SUBSCRIBERS_PER_CLIENT,
    maxSubscriptionsPerSocket: e.SALVAGE_MAX_SUBSCRIPTIONS_PER_SOCKET,
    maxSubscriberBufferBytes: e.SALVAGE_MAX_SUBSCRIBER_BUFFER_BYTES,
    statementTimeoutMs: e.SALVAGE_STATEMENT_TIMEOUT_MS,
    maxQueryCost: e.SALVAGE_MAX_QUERY_COST,
    trustProxy: e.SALVAGE_TRUST_PROXY,
  };
}

let current: ApiLimits | undefined;
/** The process's limits (read once). */
export function apiLimits(): ApiLimits {
  return (current ??= parseApiLimits(process.env));
}

function forwardedFor(header: string | null | undefined): string | undefined {
  const first = header?.split(",")[0]?.trim();
  return first ? first : undefined;
}

/** The client of an HTTP request served by Ponder's node server (the TCP peer, or the proxy's X-Forwarded-For). */
export function clientOf(c: Context): string {
  if (apiLimits().trustProxy) {
    const forwarded = forwardedFor(c.req.header("x-forwarded-for"));
    if (forwarded) return forwarded;
  }
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming?.socket.remoteAddress ?? "unknown";
}

/** The client of a WebSocket's upgrade request. */
export function clientOfUpgrade(request: IncomingMessage): string {
  if (apiLimits().trustProxy) {
    const forwarded = forwardedFor(request.headers["x-forwarded-for"] as string | undefined);
    if (forwarded) return forwarded;
  }
  return request.socket.remoteAddress ?? "unknown";
}

/** A refusal of a subscription past a cap: a GraphQL error naming the limit (code TOO_MANY_SUBSCRIPTIONS). */
export function tooManySubscriptions(what: string, limit: number, variable: string): GraphQLError {
  return new GraphQLError(`too many subscriptions: at most ${limit} ${what} (${variable})`, { extensions: { code: "TOO_MANY_SUBSCRIPTIONS", limit, variable } });
}

/**
 * Subscriptions open in the process, overall and per client. `admit` counts one in, or throws the refusal;
 * the release it returns counts it out (once, however often it is called).
 */
export class SubscriberGate {
  private total = 0;
  private readonly byClient = new Map<string, number>();

  constructor(private readonly limits: () => Pick<ApiLimits, "maxSubscribers" | "maxSubscribersPerClient">) {}

  admit(client: string): () => void {
    const { maxSubscribers, maxSubscribersPerClient } = this.limits();
    if (this.total >= maxSubscribers) throw tooManySubscriptions("open at once on this server", maxSubscribers, "SALVAGE_MAX_SUBSCRIBERS");
    const mine = this.byClient.get(client) ?? 0;
    if (mine >= maxSubscribersPerClient) throw tooManySubscriptions("open at once from one client", maxSubscribersPerClient, "SALVAGE_MAX_SUBSCRIBERS_PER_CLIENT");
    this.total++;
    this.byClient.set(client, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.byClient.get(client) ?? 1) - 1;
      if (left > 0) this.byClient.set(client, left);
      else this.byClient.delete(client);
    };
  }

  get open(): number {
    return this.total;
  }
}

export const subscriberGate = new SubscriberGate(apiLimits);
