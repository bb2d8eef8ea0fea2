/**
 * The HTTP API: Ponder's GraphQL at / and /graphql, and GET /at-risk for risk desks.
 *
 *   GET /at-risk?maxHealthFactor=1&first=100   (see the route below for every parameter)
 *     accounts with health factor strictly below `maxHealthFactor`, sorted by health factor then
 *     address, bigints as strings, paginated by cursor.
 */
import { db } from "ponder:api";
import schema, { accountHealth, collateral, debt } from "ponder:schema";
import { Hono } from "hono";
import { and, asc, eq, exists, graphql, gt, gte, lt, or, replaceBigInts, sql } from "ponder";
import { parseUnits } from "viem";

const app = new Hono();

app.use("/graphql", graphql({ db, schema }));
app.use("/", graphql({ db, schema }));

const MAX_PAGE = 1_000;
const MAX_UINT256 = 2n ** 256n - 1n;

export class QueryError extends Error {}

export function parseMaxHealthFactor(query: { maxHealthFactor?: string; maxHealthFactorWad?: string }): bigint {
  if (query.maxHealthFactorWad !== undefined) {
    if (!/^\d{1,78}$/.test(query.maxHealthFactorWad) || BigInt(query.maxHealthFactorWad) > MAX_UINT256) {
      throw new QueryError("maxHealthFactorWad must be an integer WAD in [0, 2^256)");
    }
    return BigInt(query.maxHealthFactorWad);
  }
  const value = query.maxHealthFactor ?? "1";
  if (!/^\d{1,30}(\.\d{1,18})?$/.test(value)) throw new QueryError("maxHealthFactor must be a non-negative decimal with at most 18 fractional digits");
  return parseUnits(value, 18);
}

const smallInt = (name: string, raw: string | undefined, min: number, max: number): number | undefined => {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) throw new QueryError(`${name} must be an integer in [${min}, ${max}]`);
  return n;
};

/** Cursor of the last row of a page: `<healthFactor>:<account>`. */
const encodeCursor = (row: { healthFactor: bigint; account: string }) => `${row.healthFactor}:${row.account}`;
function decodeCursor(raw: string): { healthFactor: bigint; account: `0x${string}` } {
  const match = /^(\d{1,78}):(0x[0-9a-f]{40})$/.exec(raw);
  if (!match) throw new QueryError("after must be a cursor returned as endCursor");
  return { healthFactor: BigInt(match[1]!), account: match[2] as `0x${string}` };
}

/**
 * GET /at-risk: accounts with health factor below a bound, across all chains, sorted by HF then address.
 *   maxHealthFactor   decimal HF bound, exclusive (default 1); or maxHealthFactorWad, an integer WAD
 *   chainId           only accounts with collateral on that chain
 *   assetId           only accounts holding that asset (as collateral or debt)
 *   minDebtUsd        only accounts owing at least this many USD (decimal)
 *   first, after      page size (1..1000, default 100) and the endCursor of the previous page
 */
app.get("/at-risk", async (c) => {
  try {
    const q = (name: string) => c.req.query(name);
    const max = parseMaxHealthFactor({ maxHealthFactor: q("maxHealthFactor"), maxHealthFactorWad: q("maxHealthFactorWad") });
    const first = smallInt("first", q("first"), 1, MAX_PAGE) ?? 100;
    const chainId = smallInt("chainId", q("chainId"), 1, 2 ** 31 - 1);
    const assetId = smallInt("assetId", q("assetId"), 0, 65_535);
    const minDebtRaw = q("minDebtUsd");
    if (minDebtRaw !== undefined && !/^\d{1,30}(\.\d{1,18})?$/.test(minDebtRaw)) throw new QueryError("minDebtUsd must be a non-negative decimal");
    const after = q("after") === undefined ? undefined : decodeCursor(q("after")!);

    const conditions = [lt(accountHealth.healthFactor, max)];
    if (minDebtRaw !== undefined) conditions.push(gte(accountHealth.debtValue, parseUnits(minDebtRaw, 18)));
    if (after) {
      conditions.push(
        or(
          gt(accountHealth.healthFactor, after.healthFactor),
          and(eq(accountHealth.healthFactor, after.healthFactor), gt(accountHealth.account, after.account)),
        )!,
      );
    }
    if (chainId !== undefined) {
      conditions.push(
        exists(
          db.select({ one: sql`1` }).from(collateral)
            .where(and(eq(collateral.account, accountHealth.account), eq(collateral.chainId, chainId), gt(collateral.amount, 0n))),
        ),
      );
    }
    if (assetId !== undefined) {
      conditions.push(
        or(
          exists(db.select({ one: sql`1` }).from(collateral)
            .where(and(eq(collateral.account, accountHealth.account), eq(collateral.assetId, assetId), gt(collateral.amount, 0n)))),
          exists(db.select({ one: sql`1` }).from(debt)
            .where(and(eq(debt.account, accountHealth.account), eq(debt.assetId, assetId), gt(debt.amount, 0n)))),
        )!,
      );
    }
    const rows = await db
      .select()
      .from(accountHealth)
      .where(and(...conditions))
      .orderBy(asc(accountHealth.healthFactor), asc(accountHealth.account))
      .limit(first + 1);
    const page = rows.slice(0, first);
    const last = page[page.length - 1];
    return c.json({
      maxHealthFactorWad: max.toString(),
      count: page.length,
      accounts: replaceBigInts(page, (v) => String(v)),
      pageInfo: { hasNextPage: rows.length > first, endCursor: last ? encodeCursor(last) : null },
    });
  } catch (error) {
    if (error instanceof QueryError) return c.json({ error: error.message }, 400);
    throw error;
  }
});

export default app;
