/** The plain app's one table: every event as a row (id, chain, name, block, log index, args as JSON). */
import { onchainTable } from "ponder";

export const rawEvent = onchainTable("raw_event", (t) => ({
  id: t.text().primaryKey(),
  chainId: t.integer().notNull(),
  name: t.text().notNull(),
  blockNumber: t.bigint().notNull(),
  logIndex: t.integer().notNull(),
  args: t.json().notNull(),
}));
