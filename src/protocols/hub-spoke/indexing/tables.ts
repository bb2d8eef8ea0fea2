/**
 * The SQL names of the tables the health statements (health-sql.ts) read and write, as Ponder's queries use them:
 * qualified with the schema `ponder start --schema` gave (Ponder's onchainTable carries it). Shared by the
 * indexer's price update and the API's reads.
 */
import { sql } from "ponder";
import { accountHealth, asset, collateral, debt, healthTrigger, price } from "ponder:schema";
import type { HealthTables } from "./health-sql.js";

/** A table's name as drizzle renders it, with its schema. */
export function qualifiedName(table: Parameters<typeof sql>[1]): string {
  const quote = (n: string) => `"${n.replace(/"/g, '""')}"`;
  return sql`${table}`.toQuery({ escapeName: quote, escapeParam: () => "?", escapeString: (v) => `'${v}'`, casing: undefined as never }).sql;
}

let tables: HealthTables | undefined;
/** Read once: the schema is fixed for the life of the process. */
export function healthTables(): HealthTables {
  return (tables ??= {
    collateral: qualifiedName(collateral),
    debt: qualifiedName(debt),
    asset: qualifiedName(asset),
    price: qualifiedName(price),
    accountHealth: qualifiedName(accountHealth),
    healthTrigger: qualifiedName(healthTrigger),
  });
}
