/**
 * The HTTP API (Ponder serves it, with its own /health, /ready, /status, /metrics):
 *
 *   GET  /                    the page: chains, sync status, at-risk accounts, the live feed (src/api/page.ts)
 *   POST /, /graphql          Ponder's generated GraphQL over every table (GraphiQL at GET /graphql)
 *   POST /salvage/graphql     salvage's GraphQL: atRiskAccounts, account, opportunities (src/api/salvage-graphql.ts)
 *   GET  /at-risk             the at-risk query over REST (same implementation as atRiskAccounts)
 *   GET  /solvency            ?protocol=: bad debt written off, reserve and accounts under water (same as the GraphQL `solvency`)
 *   GET  /pathways            LayerZero pathways: in flight, delivery times, failures, stalled (the GraphQL `pathways`)
 *   GET  /liquidation-levels  ?assetId=&chainId=&bins=&maxDrop=&protocol=: the GraphQL `liquidationLevels`
 *   GET  /recoveries          ?first=&protocol=: takes by state, the latest, bad debt, the relayer's view (the GraphQL `recoveries`)
 *   GET  /salvage/graphql     subscriptions over SSE (Accept: text/event-stream), WebSocket upgrades (graphql-ws)
 *   GET  /salvage/status, /salvage/ready, /salvage/metrics   per-chain sync status and lag, salvage's metrics
 *   *    /salvage/webhooks     webhook registrations and deliveries (admin token; src/api/webhooks/)
 *
 * GET /at-risk?maxHealthFactor=1&first=100
 *   maxHealthFactor   decimal HF bound, exclusive (default 1); or maxHealthFactorWad, an integer WAD
 *   chainId           only accounts with collateral on that chain
 *   assetId           only accounts holding that asset (as collateral or debt)
 *   minDebtUsd        only accounts owing at least this many USD (decimal)
 *   first, after      page size (1..500, default 100) and the endCursor of the previous page
 * Accounts with health factor strictly below the bound, sorted by health factor then address, bigints as strings.
 *
 * One block per answer: /at-risk and /solvency read in one database snapshot (src/api/snapshot.ts) and say the
 * block it is as of: `block` {chainId, number, timestamp} (the hub's indexed block: every row is the hub's state
 * at it) and `chainBlocks` (every chain's indexed block in the same snapshot, hub first).
 */
import { db } from "ponder:api";
import schema from "ponder:schema";
import { type Context, Hono } from "hono";
import { z } from "zod";
import { bodyLimit } from "hono/body-limit";
import { rateLimiter } from "hono-rate-limiter";
import { graphql, replaceBigInts } from "ponder";
import { MAX_PAGE, QueryError, atRiskAccounts, checkInt, decodeCursor, parseDecimalWad, parseMaxHealthFactor } from "./queries.js";
import { StatementTimeoutError, asOf } from "./snapshot.js";
import { apiLimits, clientOf } from "./limits.js";
import { LIMITS, createSalvageYoga } from "./salvage-graphql.js";
import { page } from "./page.js";
import "./solvency-metrics.js";
import "./pathway-metrics.js";
import { pathwayJson, pathways } from "./pathways.js";
import { parseLevelsArgs } from "./liquidation-levels.js";
import { answerOf } from "./protocols.js";
import { recentCount, withRelayer } from "./recoveries.js";
import { relayerUrl } from "./relayer-report.js";
import { statusRoutes } from "./status.js";
import { acceptWebSocketsOnPonderServer } from "./websocket.js";
import { startWebhooks, webhookRoutes } from "./webhooks/routes.js";

export { QueryError, parseMaxHealthFactor } from "./queries.js";

/** SALVAGE_API: "on" (default) serves everything; "off" only /salvage/status, /salvage/ready and /salvage/metrics. */
export function apiMode(env: NodeJS.ProcessEnv): "on" | "off" {
  const parsed = z.enum(["on", "off"]).default("on").safeParse(env.SALVAGE_API || undefined);
  if (!parsed.success) throw new Error(`SALVAGE_API must be "on" or "off", got ${JSON.stringify(env.SALVAGE_API)}`);
  return parsed.data;
}

const app = new Hono();
app.route("/salvage", statusRoutes);
// SALVAGE_API=off: the indexer serves only its status, readiness and metrics; `ponder serve` replicas on the same
// PostgreSQL schema serve the rest (README: "Serving from replicas").
if (apiMode(process.env) === "on") mountPublicApi(app);
export default app;

function mountPublicApi(app: Hono): void {
  relayerUrl(); // a malformed SALVAGE_RELAYER_URL stops the API at start, naming the variable
  const salvage = createSalvageYoga("/salvage/graphql");
  const limits = apiLimits();
  // Every query route: a request rate per client (429 with Retry-After past it) and, on the GraphQL routes, a body
  // limit. Status, readiness and metrics (mounted before) are not limited: a proxy's health checks must get through.
  const perClient = rateLimiter({
    windowMs: 60_000,
    limit: limits.ratePerMinute,
    standardHeaders: "draft-6",
    keyGenerator: (c) => clientOf(c),
    handler: (c) =>
      c.json(
        { errors: [{ message: `rate limit: at most ${limits.ratePerMinute} requests a minute per client (SALVAGE_RATE_LIMIT_PER_MINUTE); retry after the Retry-After header's seconds`, extensions: { code: "RATE_LIMITED", limit: limits.ratePerMinute, variable: "SALVAGE_RATE_LIMIT_PER_MINUTE" } }] },
        429,
      ),
  });
  const bodyLimited = bodyLimit({
    maxSize: LIMITS.maxBodyBytes,
    onError: (c) => c.json({ errors: [{ message: `request body larger than ${LIMITS.maxBodyBytes} bytes`, extensions: { code: "PAYLOAD_TOO_LARGE" } }] }, 413),
  });
  for (const path of ["/salvage/graphql", "/graphql", "/at-risk", "/solvency", "/pathways", "/liquidation-levels", "/recoveries"]) app.use(path, perClient);
  app.post("/", perClient);
  for (const path of ["/salvage/graphql", "/graphql"]) app.use(path, bodyLimited);
  app.post("/", bodyLimited);
  app.on(["GET", "POST"], "/salvage/graphql", (c) => salvage.fetch(c.req.raw, { client: clientOf(c) }));
  acceptWebSocketsOnPonderServer(salvage, "/salvage/graphql");

  app.use("/graphql", graphql({ db, schema }));

  app.route("/", page);
  app.post("/", graphql({ db, schema }));
  app.route("/salvage/webhooks", webhookRoutes); // signed webhooks: admin routes here, deliveries in the background
  startWebhooks();

  app.get("/at-risk", (c) =>
    restAnswer(c, async () => {
      const q = (name: string) => c.req.query(name);
      const max = parseMaxHealthFactor({ maxHealthFactor: q("maxHealthFactor"), maxHealthFactorWad: q("maxHealthFactorWad") });
      const minDebt = q("minDebtUsd");
      const after = q("after");
      if (after !== undefined) decodeCursor(after);
      const first = checkInt("first", q("first"), 1, MAX_PAGE) ?? 100;
      const page = await atRiskAccounts({
        maxHealthFactor: max,
        chainId: checkInt("chainId", q("chainId"), 1, 2 ** 31 - 1),
        assetId: checkInt("assetId", q("assetId"), 0, 65_535),
        minDebtUsd: minDebt === undefined ? undefined : parseDecimalWad("minDebtUsd", minDebt),
        first,
        after,
      });
      return {
        maxHealthFactorWad: max.toString(),
        count: page.items.length,
        accounts: replaceBigInts(page.items, (v) => String(v)),
        pageInfo: page.pageInfo,
        ...asOf(page.snapshot),
      };
    }),
  );

  app.get("/solvency", (c) => restAnswer(c, () => answerOf(c.req.query("protocol"), (p, snapshot) => p.solvency(snapshot))));
  app.get("/pathways", (c) => restAnswer(c, async () => ({ pathways: (await pathways()).map(pathwayJson) })));
  app.get("/recoveries", (c) =>
    restAnswer(c, () => {
      const first = recentCount(c.req.query("first"));
      return withRelayer(() => answerOf(c.req.query("protocol"), (p, snapshot) => p.recoveries(first, snapshot)));
    }),
  );
  app.get("/liquidation-levels", (c) =>
    restAnswer(c, () => {
      const args = parseLevelsArgs({ assetId: c.req.query("assetId"), chainId: c.req.query("chainId"), bins: c.req.query("bins"), maxDrop: c.req.query("maxDrop") });
      return answerOf(c.req.query("protocol"), (p, snapshot) => p.liquidationLevels(args, snapshot));
    }),
  );
}

/** A REST answer as JSON; a bad parameter is a 400 naming it, an answer past the statement timeout a 503 naming it. */
async function restAnswer(c: Context, answer: () => Promise<unknown>): Promise<Response> {
  try {
    return c.json(await answer());
  } catch (error) {
    if (error instanceof QueryError) return c.json({ error: error.message }, 400);
    if (error instanceof StatementTimeoutError) return c.json({ error: error.message }, 503);
    throw error;
  }
}
