/**
 * The plain app's handlers: the events the salvage indexer handles (src/indexer/*.ts), each inserted into
 * one table, no other logic. The bench compares the per-event counts of both apps.
 *
 * Type note: tsc resolves "ponder:registry" and "ponder:schema" through the repository's ponder-env.d.ts
 * (the salvage app); this app's schema is typed from ../ponder.schema.ts instead.
 */
import { ponder } from "ponder:registry";
import * as virtualSchema from "ponder:schema";
import type * as plainSchema from "../ponder.schema.js";

export const PLAIN_EVENTS = [
  "Hub:AssetListed",
  "Hub:CollateralMarketListed",
  "Hub:AuctionParamsSet",
  "Hub:CollateralUpdated",
  "Hub:DebtUpdated",
  "Hub:AuctionKicked",
  "Hub:Take",
  "Hub:AuctionEnded",
  "Hub:BadDebtWrittenOff",
  "Hub:ReserveFunded",
  "Spoke:Seized",
  "PriceFeed:AnswerUpdated",
  "EndpointV2:PacketSent",
  "EndpointV2:PacketVerified",
  "EndpointV2:PacketDelivered",
] as const;

const { rawEvent } = virtualSchema as unknown as typeof plainSchema;

interface PlainEvent {
  id: string;
  name: string;
  args: Record<string, unknown>;
  block: { number: bigint };
  log: { logIndex: number };
}
interface PlainContext {
  chain: { id: number };
  db: { insert(table: typeof rawEvent): { values(row: typeof rawEvent.$inferInsert): Promise<unknown> } };
}
const on = ponder.on.bind(ponder) as unknown as (name: string, fn: (args: { event: PlainEvent; context: PlainContext }) => Promise<void>) => void;

const plain = (value: unknown): unknown =>
  typeof value === "bigint" ? value.toString() : Array.isArray(value) ? value.map(plain) : value && typeof value === "object" ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)])) : value;

for (const name of PLAIN_EVENTS) {
  on(name, async ({ event, context }) => {
    await context.db.insert(rawEvent).values({
      id: event.id,
      chainId: context.chain.id,
      name,
      blockNumber: event.block.number,
      logIndex: event.log.logIndex,
      args: plain(event.args),
    });
  });
}
